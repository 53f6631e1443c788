"""YAML text → plain data, remembering where every value and key stood.

pydantic reports errors by path (``faults.0.at``); users need ``file:line:col``. We compose the
YAML node graph ourselves so each path maps to the node's start mark, and duplicate keys (which
PyYAML silently overwrites) become errors instead of lost settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["Located", "Position", "SourceProblem", "parse_yaml"]

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True)
class SourceProblem:
    position: Position
    path: Path
    message: str


@dataclass
class Located:
    """Parsed data plus positions: ``values[path]`` is where the value starts, ``keys[path]``
    where the mapping key naming it starts (better for "unknown key" errors)."""

    data: Any
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    problems: list[SourceProblem] = field(default_factory=list)

    def position_of(self, path: Path, *, prefer_key: bool = False) -> Position:
        """The position of ``path`` or of its nearest ancestor that has one."""
        probe = tuple(path)
        while True:
            if prefer_key and probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            if probe in self.keys:
                return self.keys[probe]
            if not probe:
                return Position(1, 1)
            probe = probe[:-1]


def _mark(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def parse_yaml(text: str) -> Located:
    """Parse one YAML document; raise ``yaml.MarkedYAMLError`` on syntax errors."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    located = Located(data=None)
    if root is None:
        located.data = {}
        return located
    constructor = yaml.SafeLoader("")

    def build(node: yaml.Node, path: Path) -> Any:
        located.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            constructor.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str | int):
                    key = str(key)
                child = (*path, key)
                if key in result:
                    located.problems.append(
                        SourceProblem(_mark(key_node), child, f"duplicate key {key!r}")
                    )
                located.keys[child] = _mark(key_node)
                result[key] = build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [build(item, (*path, index)) for index, item in enumerate(node.value)]
        return constructor.construct_object(node, deep=True)

    located.data = build(root, ())
    return located
