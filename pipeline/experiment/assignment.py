"""Who is in Treatment: the salted MD5 parity, in the standard library only.

Its own module so that the scoring service (POST /sessions/score derives a shopper's group from
the user id) imports the rule without the batch stack: pipeline.experiment.rules re-exports it
beside the Polars and SQL forms of the same rule, which the tests hold equal to it.
"""

from __future__ import annotations

import hashlib

CONTROL = "control"
TREATMENT = "treatment"
GROUPS: tuple[str, str] = (CONTROL, TREATMENT)

_ODD_HEX = ("1", "3", "5", "7", "9", "b", "d", "f")
# Public name of the last md5 hex digits that put a user in Treatment (dbt receives them as a var).
TREATMENT_HEX_DIGITS: tuple[str, ...] = _ODD_HEX


def assignment_text(user_id: int | str, salt: str = "") -> str:
    """What the assignment hashes: the salt, then the user id as decimal text."""
    return f"{salt}{user_id}"


def assign_group(user_id: int | str, salt: str = "") -> str:
    """Treatment when int(md5(salt + str(user_id)), 16) is odd, i.e. the last hex digit is odd.

    With no salt this is the seed's rule, md5 of the user id alone."""
    digest = hashlib.md5(assignment_text(user_id, salt).encode()).hexdigest()
    return TREATMENT if digest[-1] in _ODD_HEX else CONTROL
