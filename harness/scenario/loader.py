"""Scenario file → validated ``Scenario``, or a ``ScenarioError`` listing every problem.

Three passes, each adding to one problem list so the author sees everything at once:
YAML syntax and duplicate keys, the pydantic model (types, unknown keys with "did you mean"),
then cross-field rules (targets exist, windows fit the run, loopback-only targets).
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import ScenarioError
from harness.scenario.durations import parse_duration
from harness.scenario.load_checks import load_problems
from harness.scenario.model import (
    NETWORK_FAULT_TYPES,
    PHASES,
    PROVIDER_FAULT_TYPES,
    SLO,
    SLO_METRICS,
    Fault,
    Provider,
    Proxy,
    Scenario,
    is_loopback_host,
    url_host,
)
from harness.scenario.provider_checks import provider_problems
from harness.scenario.source import Located, Position, parse_yaml
from harness.scenario.yaml_hints import describe_yaml_error

__all__ = ["load_scenario", "locate_problem", "parse_scenario"]

PathT = tuple[str | int, ...]
_M = TypeVar("_M", bound=BaseModel)


def load_scenario(path: str | Path, *, time_scale: float = 1.0) -> Scenario:
    """Read, validate and (optionally) time-scale the scenario at ``path``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([f"{file}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{file}: cannot read: {exc}"]) from None
    return parse_scenario(text, str(file)).scaled(time_scale)


def parse_scenario(text: str, filename: str = "<scenario>") -> Scenario:
    try:
        located = parse_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        raise ScenarioError([f"{where}: {describe_yaml_error(exc, text)}"]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{filename}: invalid YAML: {exc}"]) from None

    problems: list[tuple[Position, str]] = [
        (p.position, f"{_dotted(p.path)}: {p.message}") for p in located.problems
    ]
    if not isinstance(located.data, dict):
        problems.append((Position(1, 1), "the scenario must be a mapping of keys to values"))
        raise ScenarioError(_format(problems, filename))

    scenario: Scenario | None = None
    try:
        scenario = Scenario.model_validate(located.data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, located))
        # Still check the cross-field rules on every part that is valid on its own, so one typo
        # does not hide the other mistakes.
        problems.extend(_semantic_problems(_Parts.salvage(located.data), located))
    else:
        problems.extend(_semantic_problems(_Parts.of(scenario), located))
    for path, message in load_problems(located.data.get("load"), Path(filename).parent):
        problems.append((located.position_of(path), f"{_dotted(path)}: {message}"))
    if problems:
        raise ScenarioError(_format(problems, filename))
    assert scenario is not None
    return scenario


def locate_problem(source: Path, path: PathT, message: str) -> str:
    """``file:line:col: path: message`` for a problem found after loading (for example by a
    component that checks fault parameters when it starts)."""
    try:
        position = parse_yaml(source.read_text(encoding="utf-8")).position_of(path)
    except (OSError, yaml.YAMLError):
        position = Position(1, 1)
    return f"{source}:{position.line}:{position.column}: {_dotted(path)}: {message}"


def _format(problems: list[tuple[Position, str]], filename: str) -> list[str]:
    ordered = sorted(problems, key=lambda item: (item[0].line, item[0].column))
    return [f"{filename}:{pos.line}:{pos.column}: {message}" for pos, message in ordered]


def _dotted(path: PathT) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def _pydantic_problems(exc: ValidationError, located: Located) -> list[tuple[Position, str]]:
    out: list[tuple[Position, str]] = []
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
            out.append((located.position_of(loc, prefer_key=True), f"{_dotted(loc)}: {message}"))
            continue
        if kind == "missing":
            message = "required key is missing"
            out.append((located.position_of(loc[:-1]), f"{_dotted(loc)}: {message}"))
            continue
        found = error.get("input")
        message = str(error["msg"]).removeprefix("Value error, ")
        container = isinstance(found, dict | list)
        if kind not in ("value_error", "assertion_error") and not container:
            message = f"{message}, found {found!r}"
        # An error about a whole mapping or list points at the key that names it.
        position = located.position_of(loc, prefer_key=container)
        out.append((position, f"{_dotted(loc)}: {message}"))
    return out


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


@dataclass
class _Parts:
    """The pieces the cross-field rules look at; any of them may be missing in a broken file."""

    providers: dict[str, Provider]
    proxies: dict[str, Proxy]
    sut_url: str | None
    faults: list[tuple[int, Fault]]
    slos: list[tuple[int, SLO]]
    duration_s: float | None
    warmup_s: float
    allow_non_loopback: bool

    @classmethod
    def of(cls, scenario: Scenario) -> _Parts:
        return cls(
            providers=dict(scenario.providers),
            proxies=dict(scenario.proxies),
            sut_url=scenario.sut.url,
            faults=list(enumerate(scenario.faults)),
            slos=list(enumerate(scenario.slos)),
            duration_s=scenario.duration_s,
            warmup_s=scenario.warmup_s,
            allow_non_loopback=scenario.allow_non_loopback,
        )

    @classmethod
    def salvage(cls, data: dict[str, Any]) -> _Parts:
        def valid(model: type[_M], raw: Any) -> _M | None:
            try:
                return model.model_validate(raw)
            except ValidationError:
                return None

        def mapping(model: type[_M], raw: Any) -> dict[str, _M]:
            items = raw.items() if isinstance(raw, dict) else ()
            return {str(k): v for k, raw_v in items if (v := valid(model, raw_v)) is not None}

        def sequence(model: type[_M], raw: Any) -> list[tuple[int, _M]]:
            items = enumerate(raw) if isinstance(raw, list) else ()
            return [(i, v) for i, raw_v in items if (v := valid(model, raw_v)) is not None]

        def seconds(raw: Any) -> float | None:
            try:
                return parse_duration(raw)
            except ValueError:
                return None

        return cls(
            providers=mapping(Provider, data.get("providers")),
            proxies=mapping(Proxy, data.get("proxies")),
            sut_url=_get_str(data.get("sut"), "url"),
            faults=sequence(Fault, data.get("faults")),
            slos=sequence(SLO, data.get("slos")),
            duration_s=seconds(data.get("duration")),
            warmup_s=seconds(data.get("warmup", 0)) or 0.0,
            allow_non_loopback=data.get("allow_non_loopback") is True,
        )


def _semantic_problems(scenario: _Parts, located: Located) -> list[tuple[Position, str]]:
    out: list[tuple[Position, str]] = []

    def problem(path: PathT, message: str) -> None:
        out.append((located.position_of(path), f"{_dotted(path)}: {message}"))

    for name, proxy in scenario.proxies.items():
        upstream = proxy.upstream
        if upstream in scenario.providers:
            continue
        host, sep, port = upstream.rpartition(":")
        if not sep or not port.isdigit():
            hint = _did_you_mean(upstream, list(scenario.providers))
            problem(
                ("proxies", name, "upstream"),
                f"{upstream!r} is neither a provider of this scenario nor host:port{hint}",
            )
        elif not scenario.allow_non_loopback and not is_loopback_host(host):
            problem(
                ("proxies", name, "upstream"),
                f"{host!r} is not a loopback address; set allow_non_loopback: true to target it",
            )

    if scenario.sut_url is not None:
        host = url_host(scenario.sut_url)
        if not host:
            problem(("sut", "url"), f"expected an http:// URL, found {scenario.sut_url!r}")
        elif not scenario.allow_non_loopback and not is_loopback_host(host):
            problem(
                ("sut", "url"),
                f"{host!r} is not a loopback address; set allow_non_loopback: true to load it",
            )

    for path_, message in provider_problems(scenario.providers, scenario.faults):
        # At the key: most of these name a key (a misspelt param, a capacity key).
        out.append((located.position_of(path_, prefer_key=True), f"{_dotted(path_)}: {message}"))

    duration_s = scenario.duration_s
    if duration_s is not None and scenario.warmup_s >= duration_s:
        problem(("warmup",), "the warm-up must end before the run does (warmup < duration)")

    seen: set[str] = set()
    for index, fault in scenario.faults:
        path: PathT = ("faults", index)
        if fault.name in seen:
            problem((*path, "name"), f"fault name {fault.name!r} is used twice")
        seen.add(fault.name)
        layer, _, target = fault.target.partition("/")
        if layer == "provider":
            if target not in scenario.providers:
                hint = _did_you_mean(target, list(scenario.providers))
                problem((*path, "target"), f"no provider named {target!r}{hint}")
            if fault.type not in PROVIDER_FAULT_TYPES:
                hint = _did_you_mean(fault.type, list(PROVIDER_FAULT_TYPES))
                problem((*path, "type"), f"unknown provider fault type {fault.type!r}{hint}")
            if fault.attributes:
                problem((*path, "attributes"), "attributes are for proxy faults; use params")
        elif layer == "proxy":
            if target not in scenario.proxies:
                hint = _did_you_mean(target, list(scenario.proxies))
                problem((*path, "target"), f"no proxy named {target!r}{hint}")
            known = NETWORK_FAULT_TYPES.get(fault.type)
            if known is None:
                hint = _did_you_mean(fault.type, list(NETWORK_FAULT_TYPES))
                problem((*path, "type"), f"unknown network fault type {fault.type!r}{hint}")
            else:
                for attribute in fault.attributes:
                    if attribute not in known:
                        hint = _did_you_mean(attribute, list(known))
                        problem(
                            (*path, "attributes", attribute),
                            f"{fault.type} takes no attribute {attribute!r}{hint}",
                        )
            if fault.params:
                problem((*path, "params"), "params are for provider faults; use attributes")
        else:
            problem(
                (*path, "target"),
                f"expected 'provider/NAME' or 'proxy/NAME', found {fault.target!r}",
            )
        if fault.at_s < scenario.warmup_s:
            problem((*path, "at"), "the fault starts during the warm-up; start it at or after it")
        if duration_s is not None and fault.end_s > duration_s:
            problem(
                (*path, "for"),
                f"the window ends at {fault.end_s:g}s, after the run ({duration_s:g}s)",
            )

    for index, slo in scenario.slos:
        path = ("slos", index)
        if slo.metric not in SLO_METRICS:
            hint = _did_you_mean(slo.metric, list(SLO_METRICS))
            problem((*path, "metric"), f"unknown metric {slo.metric!r}{hint}")
        if slo.phase not in PHASES:
            hint = _did_you_mean(slo.phase, list(PHASES))
            problem((*path, "phase"), f"unknown phase {slo.phase!r}{hint}")
        if slo.max is None and slo.min is None:
            problem(path, "an SLO needs 'max' or 'min'")
    return out


def _get_str(mapping: Any, key: str) -> str | None:
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, str) else None


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    if choices:
        return f"; expected one of: {', '.join(choices)}"
    return ""
