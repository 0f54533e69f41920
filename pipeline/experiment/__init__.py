"""The experiments: the rules every layer applies (`assignment`: who is in Treatment, by a
salted MD5 parity; `rules`: its Polars form and the demo's injected uplift) and the team's list
of experiments (`config`: experiments.yml, pydantic-validated).

Importing the package loads the rules only (standard library at import time; the scoring
service imports `assignment` alone); `pipeline.experiment.config` reads experiments.yml on
demand.
"""

from pipeline.experiment.assignment import (
    CONTROL,
    GROUPS,
    TREATMENT,
    TREATMENT_HEX_DIGITS,
    assign_group,
    assignment_text,
)
from pipeline.experiment.rules import (
    LEGACY,
    Experiment,
    group_expr,
    in_experiment,
    in_experiment_expr,
    injection_draw,
    injection_draw_expr,
    injection_key,
    is_injected,
    is_injected_expr,
)

__all__ = [
    "CONTROL",
    "GROUPS",
    "LEGACY",
    "TREATMENT",
    "TREATMENT_HEX_DIGITS",
    "Experiment",
    "assign_group",
    "assignment_text",
    "group_expr",
    "in_experiment",
    "in_experiment_expr",
    "injection_draw",
    "injection_draw_expr",
    "injection_key",
    "is_injected",
    "is_injected_expr",
]
