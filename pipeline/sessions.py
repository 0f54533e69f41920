"""The sessionization rule, defined once: a new session starts after more than this much idle time.

dbt receives it as the `session_timeout_minutes` var (pipeline.warehouse passes it on every run);
the default in dbt/dbt_project.yml is checked against it by a test.
"""

SESSION_TIMEOUT_MINUTES = 30
