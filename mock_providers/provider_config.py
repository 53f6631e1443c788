"""The provider file a mock can start with (`--config FILE`): model cards, strictness, capacity.

One JSON object, the shape of a scenario's `providers.NAME` beyond flavour and speed:

    {"models": [{"id": "house-model", "context_window": 64000, "max_output_tokens": 512}],
     "strict_models": false,
     "capacity": {"max_concurrency": 8, "queue": 32, "ttft_slowdown": 1.0}}

Validated here in full (the mock never trusts its caller), with messages naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from mock_providers.core.capacity import CapacitySpec, parse_capacity
from mock_providers.core.faults import FaultSpecError
from mock_providers.core.models import Flavour, ModelSpec

__all__ = ["ProviderFile", "parse_provider_file"]

_CARD_KEYS = {
    "id": str,
    "context_window": int,
    "max_output_tokens": int,
    "kind": str,
    "display_name": str,
    "embedding_dims": int,
    "ttft_ms": float,
    "tokens_per_s": float,
    "jitter_ms": float,
}


@dataclass(frozen=True)
class ProviderFile:
    models: tuple[ModelSpec, ...] = ()
    strict_models: bool = False
    capacity: CapacitySpec = field(default_factory=CapacitySpec)


def parse_card(raw: Any, index: int, base: ModelSpec | None) -> ModelSpec:
    """One model card; keys it leaves out come from `base` (the listed card it overrides, or
    the flavour's default card)."""
    where = f"models[{index}]"
    if not isinstance(raw, dict):
        raise FaultSpecError(f"{where} must be an object with at least `id`")
    unknown = sorted(set(raw) - set(_CARD_KEYS))
    if unknown:
        raise FaultSpecError(
            f"{where}: unknown keys {', '.join(unknown)}; known: {', '.join(_CARD_KEYS)}"
        )
    values: dict[str, Any] = {}
    for key, kind in _CARD_KEYS.items():
        if key not in raw:
            continue
        value = raw[key]
        ok = (
            isinstance(value, str)
            if kind is str
            else not isinstance(value, bool)
            and isinstance(value, int if kind is int else int | float)
        )
        if not ok:
            raise FaultSpecError(f"{where}.{key} must be a {kind.__name__}, got {value!r}")
        if kind is not str and value < 0:
            raise FaultSpecError(f"{where}.{key} must be >= 0, got {value!r}")
        values[key] = float(value) if kind is float else value
    if not values.get("id"):
        raise FaultSpecError(f"{where}.id must be a non-empty string")
    if values.get("kind", "chat") not in ("chat", "embedding"):
        raise FaultSpecError(f"{where}.kind must be chat or embedding")
    if values.get("context_window") == 0:
        raise FaultSpecError(f"{where}.context_window must be >= 1")
    if base is None:
        return ModelSpec(
            values.pop("id"),
            values.pop("context_window", 128_000),
            values.pop("max_output_tokens", 16_384),
            **values,
        )
    return replace(base, **values)


def parse_provider_file(raw: Any, flavour: Flavour, listed: tuple[ModelSpec, ...]) -> ProviderFile:
    """Validate a provider file; `listed` are the cards its `models` add to or override."""
    if not isinstance(raw, dict):
        raise FaultSpecError("the provider file must be a JSON object")
    unknown = sorted(set(raw) - {"models", "strict_models", "capacity"})
    if unknown:
        raise FaultSpecError(
            f"unknown keys {', '.join(unknown)}; known: models, strict_models, capacity"
        )
    cards = raw.get("models", [])
    if not isinstance(cards, list):
        raise FaultSpecError("`models` must be a list of model cards")
    by_id = {m.id: m for m in listed}
    for index, card in enumerate(cards):
        base = by_id.get(str(card.get("id"))) if isinstance(card, dict) else None
        spec = parse_card(card, index, base)
        by_id[spec.id] = spec
    strict = raw.get("strict_models", False)
    if not isinstance(strict, bool):
        raise FaultSpecError(f"`strict_models` must be true or false, got {strict!r}")
    return ProviderFile(tuple(by_id.values()), strict, parse_capacity(raw.get("capacity"), flavour))
