"""A pause point for fault tests: the real process stops at a named step until told to go on.

Tests of the commit protocol kill the real ingest process (SIGKILL) at each step, or change its
input while it runs. They set ECOM_FAULT_PAUSE_AT=<step> and ECOM_FAULT_PAUSE_FILE=<path>; when
the run reaches that step it writes its pid to the file and waits while the file exists. The
test then does its damage and deletes the file (or kills the process). Unset, a step costs one
environment lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_AT = "ECOM_FAULT_PAUSE_AT"
PAUSE_FILE = "ECOM_FAULT_PAUSE_FILE"


def checkpoint(step: str) -> None:
    """Pause here when ECOM_FAULT_PAUSE_AT names this step (see the module docstring)."""
    if os.environ.get(PAUSE_AT) != step:
        return
    marker = Path(os.environ[PAUSE_FILE])
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(f"{os.getpid()} {step}\n")
    tmp.replace(marker)  # appears whole: the test reads the pid as soon as it sees the file
    while marker.exists():
        time.sleep(0.01)
