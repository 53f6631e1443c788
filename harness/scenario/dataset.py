"""Datasets for the load: rows of a CSV or JSONL file, and the ``{row.FIELD}`` placeholders.

One module reads the rows and fills the placeholders for both ends: the scenario loader (to
report an unreadable file or a field the rows lack before anything starts) and the locustfile
(to build each request). A dataset pairs questions with their known answers, so a validator
``equals: "{row.answer}"`` measures "200 OK but wrong" against the truth.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

__all__ = ["DatasetError", "fill", "placeholders", "read_dataset"]

_PLACEHOLDER: Final = re.compile(r"\{row\.([A-Za-z_][A-Za-z0-9_]*)\}")
_SUFFIXES: Final = (".csv", ".jsonl")


class DatasetError(ValueError):
    """The dataset cannot be read or is not a list of rows; the message says where."""


def read_dataset(path: Path) -> list[dict[str, Any]]:
    """Every row of a ``.csv`` (header line names the fields) or ``.jsonl`` (one object a line)."""
    if path.suffix not in _SUFFIXES:
        raise DatasetError(f"{path}: expected a .csv or .jsonl file, found {path.suffix or 'none'}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from None
    rows: list[dict[str, Any]] = []
    if path.suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        for number, row in enumerate(reader, start=2):
            if None in row or any(value is None for value in row.values()):
                raise DatasetError(f"{path}:{number}: the row does not have one value per column")
            rows.append(dict(row))
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not JSON: {exc.msg}") from None
            if not isinstance(value, dict):
                raise DatasetError(f"{path}:{number}: expected a JSON object per line")
            rows.append(value)
    if not rows:
        raise DatasetError(f"{path}: the dataset has no rows")
    return rows


def placeholders(
    value: Any, at: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(where, field name) of every ``{row.FIELD}`` in ``value``, strings in lists/dicts too."""
    if isinstance(value, str):
        for name in _PLACEHOLDER.findall(value):
            yield at, name
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from placeholders(key, at)
            yield from placeholders(item, (*at, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from placeholders(item, (*at, index))


def fill(value: Any, row: Mapping[str, Any]) -> Any:
    """``value`` with every placeholder replaced by the row's field.

    A string that is exactly one placeholder becomes the field's value with its JSON type;
    placeholders inside longer strings are replaced by the value's text."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole is not None:
            return row[whole.group(1)]
        return _PLACEHOLDER.sub(lambda match: _text(row[match.group(1)]), value)
    if isinstance(value, Mapping):
        return {fill(key, row): fill(item, row) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [fill(item, row) for item in value]
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
