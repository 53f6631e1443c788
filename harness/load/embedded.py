"""Where the generated run locustfile (harness.load.runfile) leaves its embedded literals.

The generated file sets these before it imports ``harness.load.locustfile``, which reads them
in preference to the ``BROWNOUT_LOAD_CONFIG`` file: a remote worker has only what the master
sent it. None means "not embedded" (a locustfile started directly, as the tests do).
"""

from __future__ import annotations

__all__ = ["CONFIG_JSON", "ROWS_JSON"]

#: The LoadConfig as JSON.
CONFIG_JSON: str | None = None
#: The dataset's rows as a JSON list (None: no dataset, or read it from ``dataset_file``).
ROWS_JSON: str | None = None
