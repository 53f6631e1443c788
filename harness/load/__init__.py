"""Load driver: Locust integration and the requests.jsonl record format.

The harness side (this package minus ``locustfile.py``) never imports Locust or gevent:
``import locust`` monkey-patches the interpreter, so Locust runs only in a subprocess started
with ``build_locust_command`` / ``build_locust_env``, configured by a ``LoadConfig`` JSON file.
"""

from harness.load.command import (
    LOCUSTFILE,
    build_locust_command,
    build_locust_env,
    build_worker_command,
)
from harness.load.config import (
    CONFIG_ENV_VAR,
    LoadConfig,
    LoadConfigError,
    RequestSpec,
    StageSpec,
    read_load_config,
    shard_path,
)
from harness.load.health import LoadHealthSample, read_health, saturation
from harness.load.records import (
    DroppedArrival,
    RecordFormatError,
    RequestLogWriter,
    RequestRecord,
    error_class_for_status,
    read_records,
)
from harness.load.validators import ContainsValidator, JsonFieldValidator, check_body

__all__ = [
    "CONFIG_ENV_VAR",
    "LOCUSTFILE",
    "ContainsValidator",
    "DroppedArrival",
    "JsonFieldValidator",
    "LoadConfig",
    "LoadConfigError",
    "LoadHealthSample",
    "RecordFormatError",
    "RequestLogWriter",
    "RequestRecord",
    "RequestSpec",
    "StageSpec",
    "build_locust_command",
    "build_locust_env",
    "build_worker_command",
    "check_body",
    "error_class_for_status",
    "read_health",
    "read_load_config",
    "read_records",
    "saturation",
    "shard_path",
]
