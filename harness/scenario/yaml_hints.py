"""Plain-language hints for YAML syntax errors whose usual cause is known.

PyYAML says *what* the parser met (``expected ',' or '}', but got '?'``), not why: the usual
why is an unquoted ``?``, ``:`` or ``#`` in a flow mapping, a value that starts with ``{``, a
tab. The loader appends the hint to its ``file:line:col`` message, so the author learns how to
fix the line, not only where it is.
"""

from __future__ import annotations

import re

import yaml

__all__ = ["describe_yaml_error"]

_KEY_THEN_FLOW = re.compile(r"^\s*(?:-\s+)?[^\s:#][^:#]*:\s+[{\[]")


def describe_yaml_error(exc: yaml.MarkedYAMLError, text: str) -> str:
    """``invalid YAML: <problem>`` plus ``; hint: …`` when a common cause matches."""
    problem = exc.problem or exc.context or "syntax error"
    message = f"invalid YAML: {problem}"
    if exc.context and exc.problem and exc.context_mark is not None:
        start = exc.context_mark
        message += f" ({exc.context} started at {start.line + 1}:{start.column + 1})"
    hint = _hint(exc, text.splitlines())
    return f"{message}; hint: {hint}" if hint else message


def _hint(exc: yaml.MarkedYAMLError, lines: list[str]) -> str | None:
    mark = exc.problem_mark
    problem = exc.problem or ""
    context = exc.context or ""
    line = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    column = mark.column if mark is not None else 0
    if "flow mapping" in context or "flow sequence" in context:
        got = problem.rpartition("but got ")[2].strip("'")
        start = exc.context_mark
        opened = f"{start.line + 1}:{start.column + 1}" if start is not None else "?"
        if start is not None and mark is not None and start.line != mark.line:
            tail = "; a ' #' inside it starts a comment" if got == "<stream end>" else ""
            return f"the {{ or [ opened at {opened} is never closed on its line{tail}"
        if got in ("?", ":"):
            return _quote_hint(line, column, got)
        if got == "<stream end>":
            return (
                f"the {{ or [ opened at {opened} is never closed; a ' #' inside it starts a "
                "comment, so quote values that contain '#'"
            )
    if "mapping values are not allowed" in problem:
        return (
            "a plain value cannot contain ': '; quote the value, "
            'e.g. description: "retries: none"'
        )
    if "'\\t'" in problem or "\t" in problem:
        return "YAML indents with spaces, not tabs"
    if "cannot start any token" in problem:
        found = problem.partition("character ")[2].split(" ")[0]
        return f"{found} is reserved in YAML at the start of a value; quote the value"
    if "quoted scalar" in context and exc.context_mark is not None:
        start = exc.context_mark
        return f"the quote opened at {start.line + 1}:{start.column + 1} is never closed"
    if "<block end>" in problem and mark is not None:
        context_mark = exc.context_mark
        for index in sorted({mark.line, context_mark.line if context_mark else mark.line}):
            candidate = lines[index] if index < len(lines) else ""
            if _KEY_THEN_FLOW.match(candidate):
                key, _, value = candidate.strip().removeprefix("- ").partition(":")
                return (
                    f"a value that starts with {{ or [ is read as a mapping or list; "
                    f"to mean text, quote it: {key}: {_quoted(value.strip())}"
                )
        return "check the indentation of this line against the lines above it"
    return None


def _quote_hint(line: str, column: int, got: str) -> str:
    """Suggest the quoted form of the plain value that holds the ``?`` or ``:`` at ``column``."""
    before = line[:column]
    start = max(before.rfind(": "), before.rfind("{"), before.rfind(","))
    key_start = max(before.rfind("{", 0, max(start, 0)), before.rfind(",", 0, max(start, 0)))
    after = line[column:]
    ends = [i for i in (after.find(","), after.find("}"), after.find("]")) if i >= 0]
    end = column + min(ends) if ends else len(line)
    reason = f"an unquoted {got!r} inside {{...}} or [...] ends the value early"
    if start < 0 or not before[start:].startswith(": "):
        return f"{reason}; quote the value"
    key = line[key_start + 1 : start].strip()
    value = line[start + 2 : end].strip()
    return f"{reason}; quote the value: {key}: {_quoted(value)}"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
