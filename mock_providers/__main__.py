"""`python -m mock_providers` → `mock_providers.cli.main`."""

from mock_providers.cli import main

raise SystemExit(main())
