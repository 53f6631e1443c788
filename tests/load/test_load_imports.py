"""The harness side of the load driver must never import Locust or gevent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_importing_harness_load_loads_neither_locust_nor_gevent() -> None:
    code = (
        "import sys\n"
        "import harness.load, harness.load.command, harness.load.config\n"
        "import harness.load.records, harness.load.validators\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_public_api_names_exist() -> None:
    import harness.load

    assert len(set(harness.load.__all__)) == len(harness.load.__all__)  # (ruff keeps it sorted)
    for name in harness.load.__all__:
        assert hasattr(harness.load, name), name
