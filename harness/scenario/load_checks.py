"""Cross-field rules of the ``load`` section, each reported at the key that breaks it.

The model checks each key alone (a rate must be > 0); these rules need several keys or the
file system: a rate given to a closed model, users given to an open one, a stage that sets
neither, a dataset that cannot be read, a ``{row.FIELD}`` the rows lack. A load that cannot be
met is an invalid scenario (exit 2) rather than a run that silently sends something else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.scenario.dataset import DatasetError, placeholders, read_dataset
from harness.scenario.load_model import CLOSED_ONLY_KEYS, OPEN_ONLY_KEYS, Load
from harness.scenario.locustfile_checks import locustfile_problems

__all__ = ["bodies_problems", "load_problems"]

PathT = tuple[str | int, ...]


def bodies_problems(document: Any) -> list[tuple[PathT, str]]:
    """``record_bodies`` with ``load.locustfile``: the user's requests are recorded from
    Locust's request event, which carries neither body reliably (a streamed answer is not read
    by then, and reading it there would take it from the user's code), so the combination is
    refused rather than run with an empty bodies.jsonl."""
    if not isinstance(document, dict) or document.get("record_bodies") is not True:
        return []
    load = document.get("load")
    if not isinstance(load, dict) or load.get("locustfile") is None:
        return []
    return [
        (
            ("record_bodies",),
            "bodies are recorded for brownout's own requests, not a load.locustfile's; "
            "drop record_bodies (or load.locustfile)",
        )
    ]


def load_problems(raw: Any, base_dir: Path) -> list[tuple[PathT, str]]:
    """Problems of the raw ``load`` mapping; [] when it is absent or invalid on its own (the
    model's own errors are reported by the loader)."""
    if not isinstance(raw, dict):
        return []
    salvaged = _salvage(raw)
    if salvaged is None:
        return []
    load, invalid = salvaged
    out: list[tuple[PathT, str]] = []

    def problem(path: PathT, message: str) -> None:
        out.append((("load", *path), message))

    given = load.model_fields_set
    alias = {name: field.alias or name for name, field in Load.model_fields.items()}
    if load.model == "closed":
        for name in OPEN_ONLY_KEYS:
            if name in given:
                problem(
                    (alias[name],),
                    f"{alias[name]} is for model: open; a closed model sets users "
                    "(or set model: open)",
                )
        if "users" in given and load.stages:
            problem(("users",), "give users or stages, not both")
        for index, stage in enumerate(load.stages):
            if stage.rate is not None:
                problem(("stages", index, "rate"), "a closed model's stages set users, not rate")
            elif stage.users is None:
                problem(("stages", index), "a closed model's stage needs users")
    else:
        for name in CLOSED_ONLY_KEYS:
            if name in given:
                problem(
                    (alias[name],),
                    f"{alias[name]} is for model: closed; an open model sets rate "
                    "(requests per second)",
                )
        if load.rate is None and not load.stages and not {"rate", "stages"} & invalid:
            problem(("model",), "model: open needs rate (requests per second) or stages")
        if load.rate is not None and load.stages:
            problem(("rate",), "give rate or stages, not both")
        for index, stage in enumerate(load.stages):
            if stage.users is not None:
                problem(("stages", index, "users"), "an open model's stages set rate, not users")
            elif stage.rate is None:
                problem(("stages", index), "an open model's stage needs rate (requests per second)")

    if load.locustfile is not None:
        for message in locustfile_problems(load.locustfile, base_dir):
            problem(("locustfile",), message)
        if load.model == "open":
            problem(("locustfile",), "a locustfile's users set their own pace: model: closed only")
        for name in ("request", "requests", "dataset", "validators"):
            if name in given:
                problem((name,), f"the locustfile's users send their own requests; drop {name}")

    if "request" in given and load.requests:
        problem(("requests",), "give request (one) or requests (a mix), not both")
    names = [template.name for template in load.requests]
    for index, name in enumerate(names):
        if name in names[:index]:
            problem(("requests", index, "name"), f"request name {name!r} is used twice")

    used: list[tuple[PathT, str]] = []
    if not load.requests:
        used += [(("request", *at), name) for at, name in placeholders(raw.get("request"))]
    for index, template in enumerate(raw.get("requests") or []):
        used += [(("requests", index, *at), name) for at, name in placeholders(template)]
    used += [(("validators", *at), name) for at, name in placeholders(raw.get("validators"))]
    if load.dataset is None:
        for path, field in used:
            problem(path, f"{{row.{field}}} needs a dataset; add load.dataset")
        return out
    try:
        rows = read_dataset(base_dir / load.dataset.path)
    except DatasetError as exc:
        problem(("dataset", "path"), f"unreadable dataset: {exc}")
        return out
    for path, field in used:
        missing = next((n for n, row in enumerate(rows, start=1) if field not in row), None)
        if missing is not None:
            fields = ", ".join(sorted(rows[missing - 1])) or "none"
            problem(
                path,
                f"{{row.{field}}}: row {missing} of {load.dataset.path} has no field "
                f"{field!r} (its fields: {fields})",
            )
    return out


def _salvage(raw: dict[str, Any]) -> tuple[Load, set[str]] | None:
    """The load with its invalid keys left out (and those keys), so the rules run on everything
    else and the author sees every problem at once (the loader reports the invalid keys)."""
    data = dict(raw)
    for _ in range(len(raw) + 1):
        try:
            return Load.model_validate(data), set(raw) - set(data)
        except ValidationError as exc:
            bad = {error["loc"][0] for error in exc.errors() if error["loc"]}
            if not bad & data.keys():
                return None
            for key in bad:
                data.pop(str(key), None)
    return None
