"""Test oracles: independent statements of the project's rules, used only to check the real
code (and as benchmark baselines), never by the pipeline."""
