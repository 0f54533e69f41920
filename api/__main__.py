"""`python -m api`: the scoring service (api.supervisor)."""

from api.supervisor import main

raise SystemExit(main())
