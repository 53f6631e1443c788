"""The report's per-worker table for a distributed run (``brownout run --workers N``, remote
workers too): what each Locust worker sent, from its own ``requests.w<i>.jsonl``, and, for a
remote one, where it ran and whether the master lost it (``load_workers.jsonl``).

A worker that sent less than its share, failed more than the others or was lost mid-run is how
a distributed run goes wrong; the summary's totals hide it. Read from the run directory (the
summary keeps no per-worker figures); lines are counted, not parsed, except each file's first
and last record for its span.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["WorkerRow", "read_worker_rows"]

_SHARD = re.compile(r"^requests\.w(\d+)\.jsonl$")
#: How a failed request's line reads (records are compact JSON, written by one serialiser; a
#: quote inside a string is escaped, so this cannot occur inside an error text).
_FAILED = b'"ok":false'


@dataclass(frozen=True)
class WorkerRow:
    index: int
    #: "this machine", or the remote worker's "host (pid N)"
    where: str
    requests: int
    failed: int
    #: requests per second over the span from the worker's first to its last request
    rate: float | None
    #: "joined at +1.0 s", "lost at +12.5 s", or "" for a local worker
    state: str


def _t_start(line: bytes) -> float | None:
    try:
        value = json.loads(line).get("t_start")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def _count(path: Path) -> tuple[int, int, float | None]:
    requests = failed = 0
    first: float | None = None
    last_line = b""
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break  # a killed writer's torn last line, as the analysis skips it
            requests += 1
            failed += _FAILED in line
            if first is None:
                first = _t_start(line)
            last_line = line
    last = _t_start(last_line) if last_line else None
    rate = None
    if first is not None and last is not None and last > first and requests > 1:
        rate = (requests - 1) / (last - first)
    return requests, failed, rate


def _remote_facts(run_dir: Path) -> dict[int, list[dict[str, Any]]]:
    facts: dict[int, list[dict[str, Any]]] = {}
    try:
        lines = (run_dir / "load_workers.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return facts
    for text in lines:
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and isinstance(line.get("index"), int):
            facts.setdefault(line["index"], []).append(line)
    return facts


def read_worker_rows(run_dir: Path, t0: float | None) -> list[WorkerRow]:
    """One row per worker of a distributed run (sorted by index); [] for a single process.
    ``t0`` (the load's start) makes the joined/lost times relative."""
    shards = {
        int(m.group(1)): p for p in run_dir.glob("requests.w*.jsonl") if (m := _SHARD.match(p.name))
    }
    remote = _remote_facts(run_dir)
    rows = []
    for index in sorted(shards.keys() | remote.keys()):
        requests, failed, rate = _count(shards[index]) if index in shards else (0, 0, None)
        events = remote.get(index, [])
        where, state = "this machine", ""
        if events:
            joined = events[0]
            where = f"{joined.get('host', '?')} (pid {joined.get('pid', '?')})"
            lost = next((e for e in events if e.get("event") == "lost"), None)
            shown = lost or joined
            at = shown.get("t")
            when = f" at {at - t0:+.1f} s" if isinstance(at, int | float) and t0 else ""
            state = f"{shown.get('event', '?')}{when}"
        rows.append(WorkerRow(index, where, requests, failed, rate, state))
    return rows
