"""Scenario file → validated ``Scenario``, or a ``ScenarioError`` listing every problem.

Three passes, each adding to one problem list so the author sees everything at once:
YAML syntax, limits and duplicate keys, the pydantic model (types, unknown keys with "did you
mean"), then cross-field rules (targets exist, names usable in file names, URLs and environment
variables, commands and placeholders, windows that fit the run and do not fight, SLOs on phases
that exist, loopback-only addresses). A value already reported by an earlier pass is not
reported again by a later one, so each mistake appears once, at its place. The passes live
in harness.scenario.source (YAML and limits), .model_problems (pydantic's errors in the
author's words), .cross_checks and .load_checks (cross-field rules).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.errors import ScenarioError
from harness.redact import interpolate
from harness.scenario.cross_checks import ScenarioParts, cross_field_problems
from harness.scenario.load_checks import bodies_problems, load_problems
from harness.scenario.model import Scenario
from harness.scenario.model_problems import model_problems
from harness.scenario.source import (
    Located,
    Path_,
    Position,
    SourceLimitError,
    SourceProblem,
    dotted,
    parse_yaml,
    read_source,
)
from harness.scenario.yaml_hints import describe_yaml_error

__all__ = ["load_scenario", "locate_problem", "parse_scenario"]

PathT = Path_


def load_scenario(path: str | Path, *, time_scale: float = 1.0) -> Scenario:
    """Read, validate and (optionally) time-scale the scenario at ``path``."""
    file = Path(path)
    try:
        text = read_source(file)
    except SourceLimitError as exc:
        raise ScenarioError([_where(str(file), exc.position) + exc.message]) from None
    return parse_scenario(text, str(file)).scaled(time_scale)


def parse_scenario(
    text: str, filename: str = "<scenario>", *, environ: Mapping[str, str] | None = None
) -> Scenario:
    """Validate scenario ``text``; ``${VAR}`` references are filled from ``environ``
    (default: this process's environment)."""
    located = _parse_located(text, filename)
    problems: list[tuple[Position, str]] = [
        (p.position, f"{dotted(p.path)}: {p.message}") for p in located.problems
    ]
    if not isinstance(located.data, dict):
        problems.append((Position(1, 1), "the scenario must be a mapping of keys to values"))
        raise ScenarioError(_format(problems, filename))
    secrets = _interpolate(located, os.environ if environ is None else environ)
    problems += [
        (p.position, f"{dotted(p.path)}: {p.message}") for p in located.problems[len(problems) :]
    ]
    # A value the source pass already found wrong (a NaN, an unsupported tag) is not reported
    # again by the model: one mistake, one line.
    reported = [p.path for p in located.problems]

    def fresh(item: tuple[Position, str, PathT]) -> bool:
        return not any(item[2][: len(path)] == path for path in reported)

    later: list[tuple[Position, str, PathT]] = []

    scenario: Scenario | None = None
    try:
        scenario = Scenario.model_validate(located.data)
    except ValidationError as exc:
        later.extend(model_problems(exc, located))
        # Still check the cross-field rules on every part that is valid on its own, so one typo
        # does not hide the other mistakes.
        later.extend(cross_field_problems(ScenarioParts.salvage(located.data), located))
    else:
        later.extend(cross_field_problems(ScenarioParts.of(scenario), located))
    for path, message in [
        *load_problems(located.data.get("load"), Path(filename).parent),
        *bodies_problems(located.data),
    ]:
        later.append((located.position_of(path), f"{dotted(path)}: {message}", path))
    problems.extend((position, message) for position, message, _ in filter(fresh, later))
    if problems:
        raise ScenarioError(_format(problems, filename))
    assert scenario is not None
    scenario._secrets = tuple(secrets)
    return scenario


def _interpolate(located: Located, environ: Mapping[str, str]) -> list[str]:
    """Fill ``${VAR}`` in the places that take it (see harness.redact); an unset variable is a
    problem at its place. Returns the values substituted."""
    data = located.data
    secrets: list[str] = []

    def fill(container: Any, key: Any, path: PathT) -> None:
        value = container[key]
        if not isinstance(value, str) or "${" not in value:
            return
        filled, used, missing = interpolate(value, environ)
        container[key] = filled
        secrets.extend(used)
        for name in missing:
            located.problems.append(
                SourceProblem(
                    located.position_of(path),
                    path,
                    f"environment variable {name} is not set (it is referenced as ${{{name}}})",
                )
            )

    sut = data.get("sut")
    if isinstance(sut, dict):
        env = sut.get("env")
        if isinstance(env, dict):
            for key in env:
                fill(env, key, ("sut", "env", key))
        if "command" in sut:
            command = sut["command"]
            if isinstance(command, list):
                for index in range(len(command)):
                    fill(command, index, ("sut", "command", index))
            else:
                fill(sut, "command", ("sut", "command"))
    load = data.get("load")
    request = load.get("request") if isinstance(load, dict) else None
    headers = request.get("headers") if isinstance(request, dict) else None
    if isinstance(headers, dict):
        for key in headers:
            fill(headers, key, ("load", "request", "headers", key))
    return secrets


def _parse_located(text: str, filename: str) -> Located:
    try:
        return parse_yaml(text)
    except SourceLimitError as exc:
        raise ScenarioError([_where(filename, exc.position) + exc.message]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        raise ScenarioError([f"{where}: {describe_yaml_error(exc, text)}"]) from None
    except yaml.reader.ReaderError as exc:
        position = _offset_position(text, exc.position)
        code = (
            exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
        )
        raise ScenarioError(
            [f"{_where(filename, position)}invalid YAML: character U+{code:04X} is not allowed"]
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{filename}: invalid YAML: {exc}"]) from None
    except RecursionError:  # the limits above should make this unreachable; never a traceback
        raise ScenarioError([f"{filename}: the YAML is nested too deeply to read"]) from None


def _where(filename: str, position: Position | None) -> str:
    if position is None:
        return f"{filename}: "
    return f"{filename}:{position.line}:{position.column}: "


def _offset_position(text: str, offset: int) -> Position:
    before = text[:offset]
    return Position(before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1)


def locate_problem(source: Path, path: PathT, message: str) -> str:
    """``file:line:col: path: message`` for a problem found after loading (for example by a
    component that checks fault parameters when it starts)."""
    try:
        position = parse_yaml(read_source(source)).position_of(path)
    except (SourceLimitError, yaml.YAMLError):
        position = Position(1, 1)
    return f"{source}:{position.line}:{position.column}: {dotted(path)}: {message}"


def _format(problems: list[tuple[Position, str]], filename: str) -> list[str]:
    ordered = sorted(problems, key=lambda item: (item[0].line, item[0].column))
    return [f"{filename}:{pos.line}:{pos.column}: {message}" for pos, message in ordered]
