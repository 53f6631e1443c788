"""The scenario language: YAML files → validated, typed ``Scenario`` models.

Everything past ``load_scenario`` works on the typed model; invalid files raise one
``ScenarioError`` that lists every problem as ``file:line:col: path: message``.
"""

from harness.scenario.dataset import DatasetError, read_dataset
from harness.scenario.durations import format_duration, parse_duration
from harness.scenario.load_model import Dataset, RequestTemplate, Stage
from harness.scenario.loader import load_scenario, locate_problem, parse_scenario
from harness.scenario.model import (
    NETWORK_FAULT_TYPES,
    PHASES,
    PROVIDER_FAULT_TYPES,
    SLO,
    SLO_METRICS,
    SUT,
    ContainsValidator,
    Fault,
    JsonFieldValidator,
    Load,
    Provider,
    Proxy,
    Request,
    Scenario,
    Validator,
    is_loopback_host,
)

__all__ = [
    "NETWORK_FAULT_TYPES",
    "PHASES",
    "PROVIDER_FAULT_TYPES",
    "SLO",
    "SLO_METRICS",
    "SUT",
    "ContainsValidator",
    "Dataset",
    "DatasetError",
    "Fault",
    "JsonFieldValidator",
    "Load",
    "Provider",
    "Proxy",
    "Request",
    "RequestTemplate",
    "Scenario",
    "Stage",
    "Validator",
    "format_duration",
    "is_loopback_host",
    "load_scenario",
    "locate_problem",
    "parse_duration",
    "parse_scenario",
    "read_dataset",
]
