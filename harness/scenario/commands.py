"""``sut.command`` → argv: shell-style splitting and the placeholders brownout fills in.

One function does both for the loader (which checks a command offline, with stand-in URLs, so a
typo in a placeholder is an invalid scenario at its line before anything starts) and for the
orchestrator (which fills in the real URLs), so the two can never disagree.
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace

__all__ = [
    "PLACEHOLDERS",
    "CommandError",
    "CommandValues",
    "expand_command",
    "split_command",
    "uses_port",
]

#: What ``sut.command`` may refer to, for error messages.
PLACEHOLDERS = (
    "{python}",
    "{port}",
    "{scenario_dir}",
    "{provider.NAME.url}",
    "{proxy.NAME.url}",
)
_SIMPLE = frozenset({"python", "port", "scenario_dir"})


class CommandError(ValueError):
    """The command cannot be split or a placeholder cannot be filled; ``index`` is the list
    item at fault when the command was given as a list."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class CommandValues:
    python: str
    port: int | None
    scenario_dir: str
    provider_urls: Mapping[str, str]
    proxy_urls: Mapping[str, str]


def split_command(command: str | list[str]) -> list[str]:
    """argv before placeholders are filled; ``CommandError`` for an empty or unsplittable one."""
    if isinstance(command, str):
        try:
            args = shlex.split(command)
        except ValueError as exc:
            raise CommandError(f"cannot split the command like a shell would: {exc}") from None
    else:
        args = list(command)
    if not args or not args[0].strip():
        raise CommandError("the command is empty; give the program to start and its arguments")
    return args


def uses_port(args: list[str]) -> bool:
    return any("{port}" in arg for arg in args)


def expand_command(command: str | list[str], values: CommandValues) -> list[str]:
    """The argv to start, every placeholder filled; ``CommandError`` names the bad one."""
    args = split_command(command)
    namespace = {
        "python": values.python,
        "port": values.port,
        "scenario_dir": values.scenario_dir,
        "provider": SimpleNamespace(
            **{n: SimpleNamespace(url=u) for n, u in values.provider_urls.items()}
        ),
        "proxy": SimpleNamespace(
            **{n: SimpleNamespace(url=u) for n, u in values.proxy_urls.items()}
        ),
    }
    out: list[str] = []
    for index, arg in enumerate(args):
        where = index if isinstance(command, list) else None
        _check_fields(arg, values, where)
        try:
            out.append(arg.format(**namespace))
        except (KeyError, AttributeError, IndexError, ValueError, TypeError) as exc:
            raise CommandError(f"cannot fill in {arg!r}: {exc}", where) from None
    return out


def expand_value(text: str, values: CommandValues) -> str:
    """One string (an ``sut.env`` value) with its placeholders filled."""
    return expand_command([text], values)[0] if text.strip() else text


def _check_fields(arg: str, values: CommandValues, index: int | None) -> None:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(arg) if name is not None]
    except ValueError as exc:
        raise CommandError(
            f"{exc} in {arg!r} (write '{{{{' and '}}}}' for literal braces)", index
        ) from None
    for name in fields:
        if name in _SIMPLE:
            continue
        layer, _, rest = name.partition(".")
        target, _, attribute = rest.partition(".")
        known = values.provider_urls if layer == "provider" else values.proxy_urls
        if layer in ("provider", "proxy") and attribute == "url":
            if target in known:
                continue
            choices = ", ".join(sorted(known)) or "none"
            raise CommandError(
                f"{{{name}}} names no {layer} of this scenario (it has: {choices})", index
            )
        raise CommandError(
            f"unknown placeholder {{{name}}}; expected one of {', '.join(PLACEHOLDERS)}", index
        )
