"""The fault catalogue's parameters as JSON Schema fragments, for the harness's offline checks.

harness never imports mock_providers, yet `brownout validate` must reject `retry_aftr_s` at its
line before any mock starts. So the catalogue is rendered to a plain-data module in harness
(`python -m mock_providers.paramschema harness/scenario/provider_fault_params.py`), and a test
keeps the committed file equal to this rendering.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mock_providers.core.drift import profile_names
from mock_providers.core.faults import (
    CAPACITY_PARAMS,
    CATALOGUE,
    COMMON_PARAMS,
    OVERLOAD_STATUSES,
    ParamSpec,
)
from mock_providers.core.models import FLAVOURS
from mock_providers.flavours import flavour_spec

_TYPES = {
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "str": "string",
    "int_or_null": ["integer", "null"],
    "float_or_null": ["number", "null"],
}


def param_schema(p: ParamSpec) -> dict[str, Any]:
    """One parameter as a JSON Schema fragment (with its default and meaning)."""
    out: dict[str, Any]
    if p.kind == "str_list":
        out = {"type": "array", "items": {"type": "string"}}
    else:
        out = {"type": _TYPES[p.kind]}
    if p.choices:
        out["enum"] = list(p.choices)
    if p.minimum is not None:
        out["minimum"] = p.minimum
    if p.maximum is not None:
        out["maximum"] = p.maximum
    out["default"] = p.default
    out["description"] = p.doc
    return out


def catalogue_data() -> dict[str, Any]:
    """Everything the harness needs to check provider faults and capacities offline."""
    return {
        "common": {p.name: param_schema(p) for p in COMMON_PARAMS},
        "types": {
            t.name: {
                "params": {p.name: param_schema(p) for p in t.params},
                "streams_only": t.streams_only,
            }
            for t in CATALOGUE.values()
        },
        "capacity": {p.name: param_schema(p) for p in CAPACITY_PARAMS},
        "overload_statuses": {f: list(OVERLOAD_STATUSES[f]) for f in FLAVOURS},
        "drift_profiles": {
            f: list(profile_names(flavour_spec(f).format.provider)) for f in FLAVOURS
        },
    }


_MODULE = '''"""The mock providers' fault catalogue as data: generated, do not edit.

Rendered by `python -m mock_providers.paramschema harness/scenario/provider_fault_params.py`
from mock_providers' catalogue (harness never imports mock_providers); a test keeps the two
equal. Read it through `harness.scenario.provider_faults`.
"""

import json
from typing import Any

CATALOGUE: dict[str, Any] = json.loads(
    r"""
{data}
"""
)
'''


def render() -> str:
    return _MODULE.replace("{data}", json.dumps(catalogue_data(), indent=1, ensure_ascii=True))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
