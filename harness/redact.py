"""Secrets in scenarios: ``${VAR}`` from the environment, and never a secret in what is written.

A scenario may take a value from the environment with ``${VAR}`` (``$${`` writes a literal
``${``) in ``load.request.headers``, ``sut.env`` and ``sut.command``; the loader substitutes it.
Every value that came from ``${VAR}``, and every header or environment value whose *name*
looks secret (``authorization``, ``cookie``, anything containing ``key``, ``token``,
``secret``, ``password``, ``credential``, ``session`` or ``auth``), is a secret for the run:
``Redactor`` replaces it with ``[redacted]`` in every file brownout writes (the resolved
scenario, ``run.json``, ``events.jsonl``, the children's logs, the reports).

The load generator needs the real header values, so ``load_config.json`` holds references
(``${BROWNOUT_SECRET_0}``) instead and the values travel in Locust's environment, which no file
records; ``resolve_references`` turns them back into values inside the Locust process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "REDACTED",
    "SECRET_ENV_PREFIX",
    "Redactor",
    "interpolate",
    "is_secret_name",
    "resolve_references",
]

REDACTED = "[redacted]"
SECRET_ENV_PREFIX = "BROWNOUT_SECRET_"
_SECRET_NAME = re.compile(
    r"authorization|cookie|key|token|secret|passw|credential|session|auth|signature",
    re.IGNORECASE,
)
_REFERENCE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Shorter values would redact ordinary words and numbers all over the reports.
_MIN_SECRET_LEN = 4


def is_secret_name(name: str) -> bool:
    """Whether a header or environment variable called ``name`` holds a secret."""
    return bool(_SECRET_NAME.search(name))


def interpolate(text: str, environ: Mapping[str, str]) -> tuple[str, list[str], list[str]]:
    """``text`` with each ``${VAR}`` replaced from ``environ``; also the values substituted
    (secrets from now on) and the names that are not set."""
    used: list[str] = []
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(1):  # $${VAR}: a literal ${VAR}
            return match.group(0)[1:]
        name = match.group(2)
        value = environ.get(name)
        if value is None:
            missing.append(name)
            return match.group(0)
        used.append(value)
        return value

    return _REFERENCE.sub(replace, text), used, missing


class Redactor:
    """Replaces every known secret value in text and in JSON-like data."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        fresh = {s for s in secrets if len(s) >= _MIN_SECRET_LEN} - self._secrets
        if not fresh:
            return
        self._secrets |= fresh
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def text(self, value: str) -> str:
        return value if self._pattern is None else self._pattern.sub(REDACTED, value)

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    def secret_values_of(self, mapping: Mapping[str, str]) -> list[str]:
        """The values of ``mapping`` that are secrets: by name, or already known."""
        return [v for k, v in mapping.items() if is_secret_name(k) or v in self._secrets]

    def is_secret(self, value: str) -> bool:
        return value in self._secrets


def resolve_references(
    headers: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Header values with ``${BROWNOUT_SECRET_n}`` references replaced from the environment
    (in the Locust process)."""
    env = os.environ if environ is None else environ

    def resolve(value: str) -> str:
        match = _REFERENCE.fullmatch(value)
        if match and not match.group(1) and match.group(2).startswith(SECRET_ENV_PREFIX):
            return env.get(match.group(2), value)
        return value

    return {name: resolve(value) for name, value in headers.items()}


def header_references(
    headers: Mapping[str, str], secrets: Iterable[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Headers for ``load_config.json``: each secret value (secret name, or a known secret)
    replaced by ``${BROWNOUT_SECRET_<hash>}``, and the environment that resolves them."""
    known = set(secrets)
    out: dict[str, str] = {}
    env: dict[str, str] = {}
    for name, value in headers.items():
        if is_secret_name(name) or value in known:
            import hashlib

            key = SECRET_ENV_PREFIX + hashlib.sha256(value.encode()).hexdigest()[:16].upper()
            env[key] = value
            value = "${" + key + "}"
        out[name] = value
    return out, env
