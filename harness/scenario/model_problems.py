"""pydantic's validation errors → problems at the author's line, in the author's words.

pydantic reports locations with union-member and validator tags and messages written for
Python programmers; this turns each error into ``(position, message, path)`` with the path as
the YAML has it, "did you mean" for unknown keys and the value found.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from harness.scenario.model import Scenario
from harness.scenario.source import Located, Path_, Position, dotted

__all__ = ["model_problems"]

PathT = Path_


def model_problems(exc: ValidationError, located: Located) -> list[tuple[Position, str, PathT]]:
    """Each of pydantic's errors as a problem at its place."""
    out: list[tuple[Position, str, PathT]] = []
    for error in exc.errors():
        loc = _clean_loc(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            key = loc[-1]
            allowed = _allowed_keys(loc[:-1])
            hint = ""
            close = difflib.get_close_matches(str(key), allowed, n=1)
            if close:
                hint = f"; did you mean {close[0]!r}?"
            elif allowed:
                hint = f"; expected one of: {', '.join(sorted(allowed))}"
            message = f"unknown key {key!r}{hint}"
            position = located.position_of(loc, prefer_key=True)
            out.append((position, f"{dotted(loc)}: {message}", loc))
            continue
        if kind == "missing":
            message = "required key is missing"
            out.append((located.position_of(loc[:-1]), f"{dotted(loc)}: {message}", loc))
            continue
        found = error.get("input")
        message = str(error["msg"]).removeprefix("Value error, ")
        container = isinstance(found, dict | list)
        if kind not in ("value_error", "assertion_error") and not container:
            message = f"{message}, found {_shown(found)}"
        # An error about a whole mapping or list points at the key that names it.
        position = located.position_of(loc, prefer_key=container)
        out.append((position, f"{dotted(loc)}: {message}", loc))
    return out


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _clean_loc(loc: tuple[str | int, ...]) -> PathT:
    # pydantic inserts union-member names ("str", "list[str]") and validator tags into locations.
    return tuple(
        part
        for part in loc
        if not (
            isinstance(part, str)
            and (
                part.startswith(("function-", "list["))
                or part in ("str", "int", "float", "bool", "dict[str,str]", "none")
            )
        )
    )


def _allowed_keys(loc: PathT) -> list[str]:
    """The keys the model accepts at ``loc`` (aliases, as authors write them)."""
    current: Any = Scenario
    for part in loc:
        current = _descend(current, part)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [field.alias or name for name, field in current.model_fields.items()]
    return []


def _descend(annotation: Any, part: str | int) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            if part in (name, field.alias):
                return _unwrap(field.annotation)
        return None
    origin = get_origin(annotation)
    if origin is list and isinstance(part, int):
        return _unwrap(get_args(annotation)[0])
    if origin is dict:
        return _unwrap(get_args(annotation)[1])
    return None


def _unwrap(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        models = [a for a in members if isinstance(a, type) and issubclass(a, BaseModel)]
        return _unwrap(models[0] if models else members[0])
    return annotation
