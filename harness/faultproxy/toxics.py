"""Toxic definitions: the eight Toxiproxy 2.x types, their attributes, and one toxic's settings.

A :class:`Toxic` is the API-level object (what ``GET .../toxics`` shows). How a toxic acts on
the bytes of one link lives in :mod:`harness.faultproxy.stages`; this module only knows names,
attribute order and defaults, so the API and the data path agree on them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal

from harness.faultproxy.gojson import dumps, format_float32

__all__ = ["TOXIC_ATTRIBUTES", "Direction", "Toxic", "parse_direction"]

Direction = Literal["upstream", "downstream"]

#: Attribute names of each toxic type, in the order Toxiproxy prints them. All are integers
#: defaulting to 0 (``delay`` of slicer is in microseconds, every other duration in ms).
TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "noop": (),
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
}

_GO_STRUCT_NAMES = {
    "noop": "NoopToxic",
    "latency": "LatencyToxic",
    "bandwidth": "BandwidthToxic",
    "slow_close": "SlowCloseToxic",
    "timeout": "TimeoutToxic",
    "reset_peer": "ResetToxic",
    "slicer": "SlicerToxic",
    "limit_data": "LimitDataToxic",
}


def go_int_type(toxic_type: str) -> str:
    """The Go type of this toxic's attributes: ``int`` for slicer, ``int64`` elsewhere."""
    return "int" if toxic_type == "slicer" else "int64"


_revisions = itertools.count(1)
_creations = itertools.count(1)


def parse_direction(stream: str) -> Direction | None:
    """Toxiproxy accepts the stream name in any case and echoes it as sent."""
    lowered = stream.lower()
    if lowered == "upstream":
        return "upstream"
    if lowered == "downstream":
        return "downstream"
    return None


def go_struct_name(toxic_type: str) -> str:
    """The Go type name used in ``cannot unmarshal`` messages for this toxic's attributes."""
    return "toxics." + _GO_STRUCT_NAMES.get(toxic_type, "Toxic")


@dataclass
class Toxic:
    """One toxic of a proxy. ``revision`` changes on every update so live links restart it."""

    name: str
    type: str
    stream: str
    direction: Direction
    toxicity: float
    attributes: dict[str, int]
    revision: int = field(default_factory=lambda: next(_revisions))
    seq: int = field(default_factory=lambda: next(_creations))
    """Creation order: the order toxics of one direction are chained in."""

    def touch(self) -> None:
        self.revision = next(_revisions)

    def attribute(self, name: str) -> int:
        return self.attributes.get(name, 0)

    def to_json(self) -> str:
        """Toxiproxy's member order: attributes, name, type, stream, toxicity."""
        ordered = {key: self.attributes.get(key, 0) for key in TOXIC_ATTRIBUTES[self.type]}
        return (
            '{"attributes":'
            + dumps(ordered)
            + ',"name":'
            + dumps(self.name)
            + ',"type":'
            + dumps(self.type)
            + ',"stream":'
            + dumps(self.stream)
            + ',"toxicity":'
            + format_float32(self.toxicity)
            + "}"
        )
