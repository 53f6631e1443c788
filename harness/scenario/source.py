"""YAML text → plain data, remembering where every value and key stood; with limits.

pydantic reports errors by path (``faults.0.at``); users need ``file:line:col``. We compose the
YAML node graph ourselves so each path maps to the node's start mark, and duplicate keys (which
PyYAML silently overwrites) become errors instead of lost settings.

A scenario file is hostile input as far as this module knows: before anything is built it is
read with a size cap (never opening a FIFO or a device, which would block or never end), its
event stream is scanned for nesting depth and length (PyYAML's composer recurses, so a
5,000-deep file would raise ``RecursionError``), and building the data counts every value it
produces, so aliases that expand to millions of values (the "billion laughs") or refer to
themselves stop at a clear error instead of eating the machine. Tags other than plain data
(``!!python/object``…), non-finite numbers and NUL characters are problems at their place.
"""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "Located",
    "Position",
    "SourceLimitError",
    "SourceProblem",
    "dotted",
    "parse_yaml",
    "read_source",
]

Path_ = tuple[str | int, ...]

#: Real scenarios are a few kilobytes; a megabyte leaves room for large request bodies.
MAX_FILE_BYTES = 1 << 20
#: Mapping/sequence nesting, in the file and after alias expansion.
MAX_DEPTH = 64
#: Values built, counting every expansion of an alias; also caps the YAML event stream.
MAX_VALUES = 50_000

_CORE = "tag:yaml.org,2002:"
_PLAIN_TAGS = frozenset(
    _CORE + name for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
)
_MERGE_TAG = _CORE + "merge"


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True)
class SourceProblem:
    position: Position
    path: Path_
    message: str


class SourceLimitError(Exception):
    """The file cannot be parsed safely at all; ``position`` is where that became clear."""

    def __init__(self, message: str, position: Position | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass
class Located:
    """Parsed data plus positions: ``values[path]`` is where the value starts, ``keys[path]``
    where the mapping key naming it starts (better for "unknown key" errors)."""

    data: Any
    values: dict[Path_, Position] = field(default_factory=dict)
    keys: dict[Path_, Position] = field(default_factory=dict)
    problems: list[SourceProblem] = field(default_factory=list)

    def position_of(self, path: Path_, *, prefer_key: bool = False) -> Position:
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


def read_source(path: Path) -> str:
    """The text of the scenario file at ``path``; ``SourceLimitError`` for anything that is not
    a readable regular UTF-8 file of at most ``MAX_FILE_BYTES``."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SourceLimitError("no such file") from None
    except OSError as exc:
        raise SourceLimitError(f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise SourceLimitError("is a directory; expected a scenario file")
    if not stat.S_ISREG(info.st_mode):
        raise SourceLimitError("is not a regular file (a FIFO, device or socket); expected a file")
    if info.st_size > MAX_FILE_BYTES:
        raise SourceLimitError(_too_big(info.st_size))
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the stat, open must not block.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise SourceLimitError("is not a regular file; expected a scenario file")
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SourceLimitError(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SourceLimitError(_too_big(len(data)))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceLimitError(
            f"is not UTF-8 text (found byte {data[exc.start]:#04x})",
            _position_of_offset(data[: exc.start].decode("utf-8", "replace"), exc.start),
        ) from None
    return text.removeprefix("\ufeff")


def _too_big(size: int) -> str:
    return f"is {size:,} bytes; a scenario file may have at most {MAX_FILE_BYTES:,} bytes"


def _position_of_offset(text: str, offset: int) -> Position:
    before = text[:offset]
    line = before.count("\n") + 1
    return Position(line, offset - (before.rfind("\n") + 1) + 1)


def _mark(node: yaml.Node | yaml.Event) -> Position:
    mark = node.start_mark
    return Position(mark.line + 1, mark.column + 1) if mark is not None else Position(1, 1)


#: libyaml's parser, when PyYAML was built with it: it scans ahead in linear time where the
#: pure-Python scanner is quadratic in flow nesting (5,000 ``[`` take seconds, a megabyte hours).
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPENERS = re.compile(r"(?:[\[{][\s,]*){" + str(MAX_DEPTH + 1) + "}")


def _scan(text: str) -> None:
    """Walk the event stream (the parser is iterative) to bound depth and length before the
    recursive composer sees the file. Syntax errors are left to the composer, whose messages
    do not depend on whether libyaml is installed."""
    if _FAST_LOADER is yaml.SafeLoader:
        # Without libyaml, refuse the obvious quadratic case (a long run of flow openers)
        # before the slow scanner meets it.
        run = _OPENERS.search(text)
        if run is not None:
            raise SourceLimitError(
                f"is nested more than {MAX_DEPTH} levels deep",
                _position_of_offset(text, run.start()),
            )
    try:
        _scan_events(yaml.parse(text, Loader=_FAST_LOADER))
    except yaml.MarkedYAMLError as exc:
        # libyaml looks ahead to its own nesting limit (1,000) before the first event.
        if "nesting depth" in str(exc.problem):
            mark = exc.problem_mark
            position = Position(mark.line + 1, mark.column + 1) if mark else None
            raise SourceLimitError(
                f"is nested more than {MAX_DEPTH} levels deep", position
            ) from None
    except yaml.YAMLError:
        return


def _scan_events(events: Any) -> None:
    depth = 0
    documents = 0
    for count, event in enumerate(events, start=1):
        if count > MAX_VALUES:
            raise SourceLimitError(f"has more than {MAX_VALUES:,} YAML values", _mark(event))
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise SourceLimitError(
                    "holds more than one YAML document; a scenario is one document", _mark(event)
                )
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise SourceLimitError(f"is nested more than {MAX_DEPTH} levels deep", _mark(event))
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


def parse_yaml(text: str) -> Located:
    """Parse one YAML document; raise ``yaml.YAMLError`` on syntax errors and
    ``SourceLimitError`` when the file is too large, deep or alias-expanding to be built."""
    _scan(text)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    located = Located(data=None)
    if root is None:
        located.data = {}
        return located
    _Builder(located).run(root)
    return located


class _Builder:
    """Nodes → plain data with positions, counting values and depth as it goes."""

    def __init__(self, located: Located) -> None:
        self.located = located
        self.constructor = yaml.SafeLoader("")
        self.built = 0

    def run(self, root: yaml.Node) -> None:
        self.located.data = self.build(root, (), 0)

    def problem(self, node: yaml.Node, path: Path_, message: str) -> None:
        self.located.problems.append(SourceProblem(_mark(node), path, message))

    def count(self, node: yaml.Node, depth: int) -> None:
        self.built += 1
        if self.built > MAX_VALUES:
            raise SourceLimitError(
                f"aliases expand to more than {MAX_VALUES:,} values", _mark(node)
            )
        if depth > MAX_DEPTH:
            raise SourceLimitError(
                f"is nested more than {MAX_DEPTH} levels deep (counting aliases, which may "
                "refer to themselves)",
                _mark(node),
            )

    def build(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        self.count(node, depth)
        self.located.values[path] = _mark(node)
        if node.tag not in _PLAIN_TAGS:
            shown = node.tag.replace(_CORE, "!!")
            self.problem(node, path, f"unsupported YAML tag {shown!r}; a scenario is plain data")
            return None
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        return self.scalar(node, path)

    def scalar(self, node: yaml.Node, path: Path_) -> Any:
        try:
            value = self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            # e.g. an integer of more than 4,300 digits, or an impossible timestamp.
            reason = getattr(exc, "problem", None) or str(exc)
            if "integer string conversion" in reason:
                reason = "a number of more than 4,300 digits"
            self.problem(node, path, f"cannot read this value: {reason}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(node, path, f"expected a finite number, found {node.value!r}")
        elif isinstance(value, str) and "\x00" in value:
            self.problem(node, path, "text contains a NUL character")
        return value

    def mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict[Any, Any]:
        self.count(node, depth)
        merged: dict[Any, Any] = {}
        own: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.update(self.merge(value_node, path, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, path, "a key must be plain text, not a mapping or list")
                continue
            key = self.scalar(key_node, path)
            if not isinstance(key, str | int):
                key = str(key)
            child = (*path, key)
            if key in own:
                self.problem(key_node, child, f"duplicate key {key!r}")
            self.located.keys[child] = _mark(key_node)
            own[key] = self.build(value_node, child, depth + 1)
        self.located.values[path] = _mark(node)
        return {**merged, **own}

    def merge(self, value_node: yaml.Node, path: Path_, depth: int) -> dict[Any, Any]:
        """``<<: *base`` or ``<<: [*a, *b]``: earlier mappings win, as YAML specifies."""
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        merged: dict[Any, Any] = {}
        for source in reversed(sources):
            if not isinstance(source, yaml.MappingNode):
                self.problem(source, path, "'<<' merges mappings only")
                continue
            merged.update(self.mapping(source, path, depth + 1))
        return merged


def dotted(path: Path_) -> str:
    """A key path as authors read it: ``faults.0.params``; the top level has no path."""
    return ".".join(str(part) for part in path) or "(top level)"
