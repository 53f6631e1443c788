"""Attribution: which fault the bad requests met, and through which path.

"62 % of the fault phase's bad requests met a 500 from provider openai (fault provider-500s)
after 2 retries" is what a team needs to act on. A request is **bad** when it failed or missed
the SLO latency (not a good request, ``metrics``); the path it took is read from its provider
calls (joined by ``X-Request-Id``): the faults the mock marked on them, the network faults
(proxy toxics) active while they ran, the status of its last call, and how many retries it made.
Vectorised over the frames; a million requests is one groupby.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis.loading import RunData
from harness.analysis.metrics import PreparedRun
from harness.analysis.phases import PHASE_ORDER
from harness.analysis.request_ids import resolve_request_ids
from harness.analysis.traces import toxic_windows
from harness.analysis.verdict_models import ImpactLine

__all__ = ["compute_impact"]

#: Paths shown per phase, largest first.
TOP_PATHS: Final = 4
EXAMPLES: Final = 3
#: Distinct fault (or toxic) names that fit the bitmask of ``_names_met``.
_MAX_NAME_BITS: Final = 62
PHASES: Final = ("baseline", "fault", "recovery")


def compute_impact(data: RunData, prepared: PreparedRun) -> list[ImpactLine]:
    req_ids = data.requests["request_id"].to_numpy(dtype=np.uint64)
    bad = ~prepared.req_good
    calls = data.provider_calls
    call_ids = calls["request_id"].to_numpy(dtype=np.uint64)
    t = calls["t"].to_numpy(dtype=np.float64)
    t_end = calls["t_end"].to_numpy(dtype=np.float64)
    t_end = np.where(np.isnan(t_end), t, t_end)

    # Only the calls of bad requests matter: pick them first (a hash lookup), then build their
    # columns, rather than text columns for every call of the run.
    bad_ids = req_ids[bad & (req_ids != 0)]
    wanted = np.flatnonzero(
        pd.Series(call_ids).isin(bad_ids).to_numpy(dtype=bool) & (call_ids != 0)
    )
    t, t_end = t[wanted], t_end[wanted]
    toxics = np.full(wanted.size, "", dtype=object)
    for name, start, stop in toxic_windows(data.events):
        hit = (t <= stop) & (t_end >= start)
        toxics[hit] = np.where(toxics[hit] == "", name, toxics[hit] + "," + name)

    frame = pd.DataFrame(
        {
            "rid": call_ids[wanted],
            "t": t,
            "status": calls["status"].to_numpy(dtype=np.float64)[wanted],
            "fault": calls["fault"].take(wanted).astype(object).fillna("").to_numpy(),
            "toxics": toxics,
            "provider": calls["name"].take(wanted).astype(object).fillna("?").to_numpy(),
            "repeated": prepared.call_repeated[wanted],
        }
    )
    frame = frame.sort_values("t", kind="stable")
    per = frame.groupby("rid", sort=False).agg(
        last_status=("status", "last"),
        provider=("provider", "last"),
        retries=("repeated", "sum"),
    )
    rids = frame["rid"].to_numpy(dtype=np.uint64)
    per["faults"] = _names_met(rids, frame["fault"].to_numpy(), per.index)
    per["toxics"] = _names_met(rids, frame["toxics"].to_numpy(), per.index)

    lines: list[ImpactLine] = []
    for phase in PHASES:
        in_phase = (prepared.req_phase == PHASE_ORDER.index(phase)) & bad
        total = int(in_phase.sum())
        if total == 0:
            continue
        ids = pd.Series(req_ids[in_phase])
        joined = per.reindex(ids.to_numpy())
        # A run has few distinct paths: each is worded once (NaN keys differ, so they are
        # worded every time, which is rare).
        worded: dict[tuple[object, ...], str] = {}
        paths = []
        for key in zip(
            joined["faults"].tolist(),
            joined["toxics"].tolist(),
            joined["last_status"].tolist(),
            joined["provider"].tolist(),
            joined["retries"].tolist(),
            strict=True,
        ):
            text = worded.get(key)
            if text is None:
                text = worded[key] = _path(*key)
            paths.append(text)
        table = pd.DataFrame({"path": paths, "rid": ids.to_numpy()})
        counts = table["path"].value_counts()
        for path, count in counts.head(TOP_PATHS).items():
            example_hashes = table.loc[table["path"] == path, "rid"].head(EXAMPLES).tolist()
            lines.append(
                ImpactLine(
                    phase=phase,
                    path=str(path),
                    requests=int(count),
                    share=int(count) / total,
                    examples=[str(h) for h in example_hashes],
                )
            )
    wanted_hashes = {int(h) for line in lines for h in line.examples}
    names = resolve_request_ids(data.run_dir, wanted_hashes)
    for line in lines:
        line.examples = [names[int(h)] for h in line.examples if int(h) in names]
    return lines


def _names_met(
    rids: npt.NDArray[np.uint64], values: npt.NDArray[np.object_], index: pd.Index
) -> npt.NDArray[np.object_]:
    """Per request of ``index``: the sorted, comma-joined set of the names in its calls'
    ``values`` (each a comma-separated list, "" for none).

    A run has a handful of distinct fault names, so each becomes one bit: a request's set is
    the bitwise OR of its calls' masks, one vectorised pass instead of a Python set per request.
    """
    codes, uniques = pd.factorize(values)
    part_sets = [frozenset(p for p in str(u).split(",") if p) for u in uniques]
    names = sorted(frozenset().union(*part_sets))
    if len(names) > _MAX_NAME_BITS:
        table = pd.DataFrame({"rid": rids, "v": values}).groupby("rid", sort=False)["v"]
        joined = table.agg(lambda s: ",".join(sorted({p for v in s for p in v.split(",") if p})))
        return np.asarray(joined.reindex(index).to_numpy(), dtype=object)
    bit = {name: 1 << i for i, name in enumerate(names)}
    masks = np.array([sum(bit[p] for p in parts) for parts in part_sets] or [0], dtype=np.int64)
    per_request = np.zeros(len(index), dtype=np.int64)
    np.bitwise_or.at(per_request, index.get_indexer(pd.Index(rids)), masks[codes])
    labels = {
        int(m): ",".join(n for i, n in enumerate(names) if int(m) >> i & 1)
        for m in np.unique(per_request)
    }
    return np.array([labels[int(m)] for m in per_request], dtype=object)


def _path(faults: object, toxics: object, status: object, provider: object, retries: object) -> str:
    if not isinstance(faults, str):  # no joined call at all
        return "made no provider call that could be joined (no X-Request-Id on its calls)"
    parts = []
    code = int(status) if isinstance(status, float) and not np.isnan(status) else 0
    last = "no response" if code == 0 else f"a {code}"
    if faults:
        parts.append(f"met fault {faults}")
    if toxics:
        parts.append(f"met network fault {toxics}")
    if not parts:
        parts.append("met no injected fault")
    n = int(retries) if isinstance(retries, int | float) else 0
    tail = f", last call {last} from provider {provider}"
    if n:
        tail += f" after {n} retr{'y' if n == 1 else 'ies'}"
    return " and ".join(parts) + tail
