"""The scenario's cross-field rules: what no single key's type can say.

Targets exist, names are usable in file names, URLs and environment variables, commands and
placeholders expand, windows fit the run and do not fight, SLOs name phases that exist, and
every address is loopback unless the scenario allows otherwise. They run on the validated
scenario, or, when the model refused it, on every part that is valid on its own (``salvage``),
so one typo does not hide the other mistakes.
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from harness.scenario.commands import CommandError, CommandValues, expand_command
from harness.scenario.durations import parse_duration
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
from harness.scenario.source import Located, Path_, Position, dotted

__all__ = ["ScenarioParts", "cross_field_problems"]

PathT = Path_
_M = TypeVar("_M", bound=BaseModel)

#: Provider and proxy names become placeholders, ``--name`` arguments, URL path segments and
#: parts of environment variable names (``BROWNOUT_PROXY_<NAME>_URL``).
_TARGET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")


@dataclass
class ScenarioParts:
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
    def of(cls, scenario: Scenario) -> ScenarioParts:
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
    def salvage(cls, data: dict[str, Any]) -> ScenarioParts:
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

    def __init__(self, parts: ScenarioParts, located: Located) -> None:
        self.parts = parts
        self.located = located
        self.out: list[tuple[Position, str, PathT]] = []

    def problem(self, path: PathT, message: str, *, at_key: bool = False) -> None:
        position = self.located.position_of(path, prefer_key=at_key)
        self.out.append((position, f"{dotted(path)}: {message}", path))

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


def cross_field_problems(
    scenario: ScenarioParts, located: Located
) -> list[tuple[Position, str, PathT]]:
    """Every cross-field problem of ``scenario`` as ``(position, message, path)``."""
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
