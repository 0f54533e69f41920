"""Drift monitoring: Evidently reports, the project's verdicts, the `ecom drift` command."""
