"""``python -m harness.faultproxy``: run the embedded Toxiproxy-compatible server."""

from harness.faultproxy.cli import main

raise SystemExit(main())
