"""Scenario file → validated ``Scenario``, or a ``ScenarioError`` listing every problem.

Three passes, each adding to one problem list so the author sees everything at once:
YAML syntax, limits and duplicate keys, the pydantic model (types, unknown keys with "did you
mean"), then cross-field rules (targets exist, names usable in file names, URLs and environment
variables, commands and placeholders, windows that fit the run and do not fight, SLOs on phases
that exist, loopback-only addresses). A value already reported by an earlier pass is not
reported again by a later one, so each mistake appears once, at its place.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import ScenarioError
from harness.redact import interpolate
from harness.scenario.commands import CommandError, CommandValues, expand_command
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
)
from harness.scenario.provider_checks import provider_problems
from harness.scenario.source import (
    Located,
    Position,
    SourceLimitError,
    SourceProblem,
    parse_yaml,
    read_source,
)
from harness.scenario.yaml_hints import describe_yaml_error

__all__ = ["load_scenario", "locate_problem", "parse_scenario"]

PathT = tuple[str | int, ...]
_M = TypeVar("_M", bound=BaseModel)

#: Provider and proxy names become placeholders, ``--name`` arguments, URL path segments and
#: parts of environment variable names (``BROWNOUT_PROXY_<NAME>_URL``).
_TARGET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")


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
        (p.position, f"{_dotted(p.path)}: {p.message}") for p in located.problems
    ]
    if not isinstance(located.data, dict):
        problems.append((Position(1, 1), "the scenario must be a mapping of keys to values"))
        raise ScenarioError(_format(problems, filename))
    secrets = _interpolate(located, os.environ if environ is None else environ)
    problems += [
        (p.position, f"{_dotted(p.path)}: {p.message}") for p in located.problems[len(problems) :]
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
        later.extend(_pydantic_problems(exc, located))
        # Still check the cross-field rules on every part that is valid on its own, so one typo
        # does not hide the other mistakes.
        later.extend(_semantic_problems(_Parts.salvage(located.data), located))
    else:
        later.extend(_semantic_problems(_Parts.of(scenario), located))
    for path, message in load_problems(located.data.get("load"), Path(filename).parent):
        later.append((located.position_of(path), f"{_dotted(path)}: {message}", path))
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
    return f"{source}:{position.line}:{position.column}: {_dotted(path)}: {message}"


def _format(problems: list[tuple[Position, str]], filename: str) -> list[str]:
    ordered = sorted(problems, key=lambda item: (item[0].line, item[0].column))
    return [f"{filename}:{pos.line}:{pos.column}: {message}" for pos, message in ordered]


def _dotted(path: PathT) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def _pydantic_problems(exc: ValidationError, located: Located) -> list[tuple[Position, str, PathT]]:
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
            out.append((position, f"{_dotted(loc)}: {message}", loc))
            continue
        if kind == "missing":
            message = "required key is missing"
            out.append((located.position_of(loc[:-1]), f"{_dotted(loc)}: {message}", loc))
            continue
        found = error.get("input")
        message = str(error["msg"]).removeprefix("Value error, ")
        container = isinstance(found, dict | list)
        if kind not in ("value_error", "assertion_error") and not container:
            message = f"{message}, found {_shown(found)}"
        # An error about a whole mapping or list points at the key that names it.
        position = located.position_of(loc, prefer_key=container)
        out.append((position, f"{_dotted(loc)}: {message}", loc))
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


@dataclass
class _Parts:
    """The pieces the cross-field rules look at; any of them may be missing in a broken file."""

    providers: dict[str, Provider]
    proxies: dict[str, Proxy]
    provider_names: list[Any]
    proxy_names: list[Any]
    sut_url: str | None
    sut_command: str | list[str] | None
    sut_env: list[Any]
    sut_paths: dict[str, str]
    headers: dict[str, str]
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
            provider_names=list(scenario.providers),
            proxy_names=list(scenario.proxies),
            sut_url=scenario.sut.url,
            sut_command=scenario.sut.command,
            sut_env=list(scenario.sut.env),
            sut_paths=_sut_paths(scenario.sut.model_dump()),
            headers=dict(scenario.load.request.headers),
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

        def keys(raw: Any) -> list[Any]:
            return list(raw) if isinstance(raw, dict) else []

        sut = data.get("sut")
        load = data.get("load")
        request = load.get("request") if isinstance(load, dict) else None
        raw_headers = request.get("headers") if isinstance(request, dict) else None
        headers = {
            k: v
            for k, v in (raw_headers.items() if isinstance(raw_headers, dict) else ())
            if isinstance(k, str) and isinstance(v, str)
        }
        return cls(
            providers=mapping(Provider, data.get("providers")),
            proxies=mapping(Proxy, data.get("proxies")),
            provider_names=keys(data.get("providers")),
            proxy_names=keys(data.get("proxies")),
            sut_url=_get_str(sut, "url"),
            sut_command=_command(sut.get("command") if isinstance(sut, dict) else None),
            sut_env=keys(sut.get("env") if isinstance(sut, dict) else None),
            sut_paths=_sut_paths(sut),
            headers=headers,
            faults=sequence(Fault, data.get("faults")),
            slos=sequence(SLO, data.get("slos")),
            duration_s=seconds(data.get("duration")),
            warmup_s=seconds(data.get("warmup", 0)) or 0.0,
            allow_non_loopback=data.get("allow_non_loopback") is True,
        )


class _Checker:
    """The cross-field rules; each adds ``(position, message, path)`` to ``out``."""

    def __init__(self, parts: _Parts, located: Located) -> None:
        self.parts = parts
        self.located = located
        self.out: list[tuple[Position, str, PathT]] = []

    def problem(self, path: PathT, message: str, *, at_key: bool = False) -> None:
        position = self.located.position_of(path, prefer_key=at_key)
        self.out.append((position, f"{_dotted(path)}: {message}", path))

    def run(self) -> list[tuple[Position, str, PathT]]:
        self.names()
        self.proxies()
        self.provider_checks()
        self.sut()
        self.headers()
        self.timing()
        self.faults()
        self.fights()
        self.slos()
        return self.out

    def loopback(self, path: PathT, host: str, what: str) -> None:
        if not self.parts.allow_non_loopback and not is_loopback_host(host):
            self.problem(
                path, f"{host!r} is not a loopback address; set allow_non_loopback: true to {what}"
            )

    def names(self) -> None:
        for layer, names in (
            ("providers", self.parts.provider_names),
            ("proxies", self.parts.proxy_names),
        ):
            env_keys: dict[str, Any] = {}
            for name in names:
                path: PathT = (layer, name)
                if not isinstance(name, str) or not _TARGET_NAME.fullmatch(name):
                    self.problem(
                        path,
                        "a provider or proxy name is 1 to 32 letters, digits, '_' or '-', "
                        "starting with a letter (it becomes part of URLs and environment "
                        f"variable names), found {name!r}",
                        at_key=True,
                    )
                    continue
                key = name.upper().replace("-", "_")
                if key in env_keys:
                    self.problem(
                        path,
                        f"{name!r} and {env_keys[key]!r} give the same environment variable "
                        f"name ({key}); rename one",
                        at_key=True,
                    )
                env_keys[key] = name

    def proxies(self) -> None:
        for name, proxy in self.parts.proxies.items():
            path: PathT = ("proxies", name)
            upstream = proxy.upstream
            if upstream not in self.parts.providers:
                host, port = _host_port(upstream)
                if host is None:
                    hint = _did_you_mean(upstream, list(self.parts.providers))
                    self.problem(
                        (*path, "upstream"),
                        f"{upstream!r} is neither a provider of this scenario nor host:port{hint}",
                    )
                elif port is None or not 1 <= port <= 65535:
                    self.problem(
                        (*path, "upstream"), f"port must be 1 to 65535, found {upstream!r}"
                    )
                else:
                    self.loopback((*path, "upstream"), host, "target it")
            host, port = _host_port(proxy.listen)
            if host is None or port is None or not 0 <= port <= 65535:
                self.problem(
                    (*path, "listen"),
                    f"expected host:port with a port from 0 to 65535, found {proxy.listen!r}",
                )
            else:
                self.loopback((*path, "listen"), host, "listen there")

    def provider_checks(self) -> None:
        for path, message in provider_problems(self.parts.providers, self.parts.faults):
            # At the key: most of these name a key (a misspelt param, a capacity key).
            self.problem(path, message, at_key=True)

    def sut(self) -> None:
        parts = self.parts
        if parts.sut_url is not None:
            self.url(("sut", "url"), parts.sut_url)
        if parts.sut_command is not None:
            values = CommandValues(
                python=sys.executable,
                port=1,
                scenario_dir=".",
                provider_urls={n: "http://127.0.0.1:1" for n in self.parts.provider_names},
                proxy_urls={n: "http://127.0.0.1:1" for n in self.parts.proxy_names},
            )
            try:
                expand_command(parts.sut_command, values)
            except CommandError as exc:
                path: PathT = ("sut", "command")
                self.problem(path if exc.index is None else (*path, exc.index), str(exc))
        for key in parts.sut_env:
            if not isinstance(key, str) or not _ENV_KEY.fullmatch(key):
                self.problem(
                    ("sut", "env", key),
                    "an environment variable name is letters, digits and '_', not starting "
                    f"with a digit, found {key!r}",
                    at_key=True,
                )
        for field, value in parts.sut_paths.items():
            if not value.startswith("/"):
                self.problem(("sut", field), f"expected a path starting with '/', found {value!r}")

    def url(self, path: PathT, url: str) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            self.problem(path, f"expected an http:// URL, found {url!r} ({exc})")
            return
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.problem(path, f"expected an http:// URL, found {url!r}")
        elif port == 0:
            self.problem(path, f"port must be 1 to 65535, found {url!r}")
        else:
            self.loopback(path, parts.hostname, "load it")

    def headers(self) -> None:
        for name, value in self.parts.headers.items():
            path: PathT = ("load", "request", "headers", name)
            if not _HEADER_NAME.fullmatch(name):
                self.problem(path, f"not a valid HTTP header name: {name!r}", at_key=True)
            if "\r" in value or "\n" in value:
                self.problem(path, "a header value cannot contain a line break")

    def timing(self) -> None:
        duration_s = self.parts.duration_s
        if duration_s and self.parts.warmup_s >= duration_s:
            self.problem(
                ("warmup",), "the warm-up must end before the run does (warmup < duration)"
            )

    def faults(self) -> None:
        seen: set[str] = set()
        for index, fault in self.parts.faults:
            path: PathT = ("faults", index)
            if fault.name in seen:
                self.problem((*path, "name"), f"fault name {fault.name!r} is used twice")
            seen.add(fault.name)
            layer, _, target = fault.target.partition("/")
            if layer == "provider":
                self.provider_fault(path, fault, target)
            elif layer == "proxy":
                self.network_fault(path, fault, target)
            else:
                self.problem(
                    (*path, "target"),
                    f"expected 'provider/NAME' or 'proxy/NAME', found {fault.target!r}",
                )
            if fault.at_s < self.parts.warmup_s:
                self.problem(
                    (*path, "at"), "the fault starts during the warm-up; start it at or after it"
                )
            duration_s = self.parts.duration_s
            if duration_s is not None and fault.end_s > duration_s:
                self.problem(
                    (*path, "for"),
                    f"the window ends at {fault.end_s:g}s, after the run ({duration_s:g}s)",
                )

    def provider_fault(self, path: PathT, fault: Fault, target: str) -> None:
        providers = list(self.parts.providers)
        if target not in self.parts.providers:
            hint = _did_you_mean(target, providers)
            self.problem((*path, "target"), f"no provider named {target!r}{hint}")
        if fault.type not in PROVIDER_FAULT_TYPES:
            hint = _did_you_mean(fault.type, list(PROVIDER_FAULT_TYPES))
            self.problem((*path, "type"), f"unknown provider fault type {fault.type!r}{hint}")
        if fault.attributes:
            self.problem((*path, "attributes"), "attributes are for proxy faults; use params")
        for key in ("toxicity", "stream"):
            if key in fault.model_fields_set:
                self.problem(
                    (*path, key),
                    f"{key} is for proxy faults (a provider fault takes probability)",
                    at_key=True,
                )

    def network_fault(self, path: PathT, fault: Fault, target: str) -> None:
        if target not in self.parts.proxies:
            hint = _did_you_mean(target, list(self.parts.proxies))
            self.problem((*path, "target"), f"no proxy named {target!r}{hint}")
        known = NETWORK_FAULT_TYPES.get(fault.type)
        if known is None:
            hint = _did_you_mean(fault.type, list(NETWORK_FAULT_TYPES))
            self.problem((*path, "type"), f"unknown network fault type {fault.type!r}{hint}")
        else:
            for attribute, value in fault.attributes.items():
                if attribute not in known:
                    hint = _did_you_mean(attribute, list(known))
                    self.problem(
                        (*path, "attributes", attribute),
                        f"{fault.type} takes no attribute {attribute!r}{hint}",
                    )
                elif not 0 <= value <= 2**31 - 1:
                    self.problem(
                        (*path, "attributes", attribute),
                        f"expected 0 to 2147483647, found {value}",
                    )
        if fault.params:
            self.problem((*path, "params"), "params are for provider faults; use attributes")
        if "probability" in fault.model_fields_set:
            self.problem(
                (*path, "probability"),
                "probability is for provider faults; a proxy fault takes toxicity",
                at_key=True,
            )
        if fault.type == "down":
            for key in ("toxicity", "stream"):
                if key in fault.model_fields_set:
                    self.problem(
                        (*path, key), f"'down' disables the proxy; it takes no {key}", at_key=True
                    )

    def fights(self) -> None:
        """Two ``down`` windows on one proxy that overlap would fight: the first to end
        re-enables the proxy while the second is still meant to hold it down."""
        downs: dict[str, list[tuple[int, Fault]]] = {}
        for index, fault in self.parts.faults:
            if fault.type == "down" and fault.layer == "proxy":
                downs.setdefault(fault.target, []).append((index, fault))
        for windows in downs.values():
            windows.sort(key=lambda item: item[1].at_s)
            first = windows[0][1]
            for index, second in windows[1:]:
                if second.at_s < first.end_s:
                    self.problem(
                        ("faults", index, "at"),
                        f"this 'down' window overlaps {first.name!r} on {first.target} "
                        f"({first.at_s:g}s to {first.end_s:g}s); the first to end would bring "
                        "the proxy back up: merge them or make them consecutive",
                    )
                if second.end_s > first.end_s:
                    first = second

    def slos(self) -> None:
        has_faults = bool(self.parts.faults)
        for index, slo in self.parts.slos:
            path: PathT = ("slos", index)
            if slo.metric not in SLO_METRICS:
                hint = _did_you_mean(slo.metric, list(SLO_METRICS))
                self.problem((*path, "metric"), f"unknown metric {slo.metric!r}{hint}")
            if slo.phase not in PHASES:
                hint = _did_you_mean(slo.phase, list(PHASES))
                self.problem((*path, "phase"), f"unknown phase {slo.phase!r}{hint}")
            elif slo.phase in ("fault", "recovery") and not has_faults:
                self.problem(
                    (*path, "phase"),
                    f"this scenario has no faults, so it has no {slo.phase} phase",
                )


def _semantic_problems(scenario: _Parts, located: Located) -> list[tuple[Position, str, PathT]]:
    return _Checker(scenario, located).run()


def _host_port(address: str) -> tuple[str | None, int | None]:
    """``host:port`` split (IPv6 in brackets); (None, None) when it is not of that form."""
    host, sep, port = address.rpartition(":")
    if not sep or not host:
        return None, None
    if not port.isascii() or not port.isdigit() or len(port) > 5:
        return host, None
    return host, int(port)


def _sut_paths(sut: Any) -> dict[str, str]:
    return {k: v for k in ("health", "metrics") if (v := _get_str(sut, k)) is not None}


def _command(raw: Any) -> str | list[str] | None:
    if isinstance(raw, str) or (isinstance(raw, list) and all(isinstance(a, str) for a in raw)):
        return raw
    return None


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
