"""The provider checks `brownout validate` runs offline: capacities, fault params, schedules.

One hook from the loader; every problem comes back with its path in the file, so it is
reported at its line and column like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from harness.scenario.model import Fault, Provider
from harness.scenario.provider_faults import capacity_problems, fault_param_problems

__all__ = ["provider_problems"]

PathT = tuple[str | int, ...]

_SCHEDULE_KEYS = ("first", "every", "burst", "ramp", "header_only")


def provider_problems(
    providers: Mapping[str, Provider], faults: Iterable[tuple[int, Fault]]
) -> list[tuple[PathT, str]]:
    out: list[tuple[PathT, str]] = []
    for name, provider in providers.items():
        base: PathT = ("providers", name, "capacity")
        for sub, message in capacity_problems(dict(provider.capacity), provider.flavour):
            out.append(((*base, *sub), message))
    for index, fault in faults:
        path: PathT = ("faults", index)
        scheduled = [k for k in _SCHEDULE_KEYS if getattr(fault, k) not in (None, False)]
        if fault.layer != "provider":
            out.extend(((*path, k), f"{k} is for provider faults") for k in scheduled)
            continue
        target = providers.get(fault.target_name)
        flavour = target.flavour if target is not None else None
        for sub, message in fault_param_problems(fault.type, dict(fault.params), flavour):
            out.append(((*path, "params", *sub), message))
        if fault.type == "capacity":
            if fault.probability != 1.0:
                out.append(((*path, "probability"), "a capacity fault takes no probability"))
            out.extend(((*path, k), "a capacity fault takes no schedule") for k in scheduled)
            for key in ("endpoints", "models"):
                if fault.params.get(key):
                    out.append(
                        ((*path, "params", key), "a capacity fault applies to the whole provider")
                    )
        ramp = fault.ramp
        if ramp is not None:
            if ramp.of == "probability" and max(ramp.from_, ramp.to) > 1:
                out.append(((*path, "ramp"), "a probability ramp goes from and to values in 0..1"))
            if ramp.of == "magnitude" and fault.type not in _MAGNITUDE_TYPES:
                out.append(
                    (
                        (*path, "ramp", "of"),
                        f"{fault.type} has no magnitude to ramp; "
                        f"one of: {', '.join(_MAGNITUDE_TYPES)}",
                    )
                )
    return out


_MAGNITUDE_TYPES = ("latency", "slow_drift", "slow_first_token", "slow_cadence", "stream_stall")
