"""The experiments: the rules every layer applies (`rules`: assignment by a salted MD5 parity,
the demo's injected uplift) and the team's list of experiments (`config`: experiments.yml,
pydantic-validated).

Importing the package loads the rules only (standard library at import time: the API reaches
it through pipeline.settings); `pipeline.experiment.config` reads experiments.yml on demand.
"""

from pipeline.experiment.rules import (
    CONTROL,
    GROUPS,
    LEGACY,
    TREATMENT,
    TREATMENT_HEX_DIGITS,
    Experiment,
    assign_group,
    assignment_text,
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
