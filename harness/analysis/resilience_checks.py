"""The client-resilience checks: one function per verdict, each over the chain-ordered calls.

Each check takes the calls (harness.analysis.resilience_calls), the rows of the phase being
judged and the rows of chains that began in it, and returns its verdicts with example request
hashes; a check that cannot judge says why, and that reason is also why its metric is null.
The thresholds below are the ones docs/metrics.md gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from harness.analysis.resilience_calls import (
    BoolArray,
    ChainCalls,
    FloatArray,
    IntArray,
    last_call_rows,
    request_groups,
)
from harness.analysis.verdict_models import Verdict

__all__ = ["CHECKS", "Check", "Judged"]

#: Measuring slack for retry-after: the mock timestamps the end of the reply and the arrival of
#: the retry, so a client that waited exactly as asked shows a gap a little over the wait.
RETRY_AFTER_TOLERANCE: Final = 0.05
RETRY_AFTER_SLACK_S: Final = 0.005
BACKOFF_MIN_GROWTH: Final = 1.5
SYNCHRONIZED_BELOW: Final = 0.1
#: First retries this soon after the failure (median) are immediate: no delay to spread them.
IMMEDIATE_BELOW_S: Final = 0.05
DISPERSION_MEDIAN_FLOOR_S: Final = 0.1
MAX_ATTEMPTS: Final = 3
MAX_RETRY_RATIO: Final = 0.1
#: Fewer retries than this and a distribution-based verdict is not judged.
MIN_SAMPLES: Final = 5
#: A client deadline shows as cut streams of nearly the same length.
DEADLINE_SPREAD: Final = 0.1
EXAMPLES: Final = 3


@dataclass(frozen=True)
class Judged:
    """One verdict of a check, with example request hashes."""

    verdict: Verdict
    hashes: list[int]
    #: why the metric has no value (when ``verdict.value`` is None)
    reason: str | None = None


def _not_judged(
    name: str,
    title: str,
    metric: str,
    reason: str,
    *,
    evidence: dict[str, Any] | None = None,
    hashes: list[int] | None = None,
) -> list[Judged]:
    """A verdict that could not be given, with the reason (also why its metric is null)."""
    verdict = Verdict(
        name=name,
        title=title,
        status="not_judged",
        metric=metric,
        summary=reason,
        evidence=evidence or {},
    )
    return [Judged(verdict, hashes or [], reason)]


def _given(
    name: str,
    title: str,
    metric: str,
    value: float,
    summary: str,
    *,
    failed: bool,
    evidence: dict[str, Any],
    hashes: list[int],
) -> list[Judged]:
    """A verdict given (pass or fail) with its number, its evidence and example requests."""
    verdict = Verdict(
        name=name,
        title=title,
        status="fail" if failed else "pass",
        metric=metric,
        value=value,
        summary=summary,
        evidence=evidence,
    )
    return [Judged(verdict, hashes)]


def _examples(c: ChainCalls, rows: npt.NDArray[np.bool_] | IntArray) -> list[int]:
    indices = np.flatnonzero(rows) if rows.dtype == np.bool_ else rows
    seen: list[int] = []
    for index in indices:
        h = int(c.rid[index])
        if h not in seen:
            seen.append(h)
        if len(seen) >= EXAMPLES:
            break
    return seen


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.3g} s"


def _median(values: FloatArray) -> float:
    return float(np.median(values))


def _iqr(values: FloatArray) -> float:
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 - q1)


def _retry_after(c: ChainCalls, in_phase: BoolArray, chain_in: BoolArray) -> list[Judged]:
    prev_asked = c.prev_asked
    judged = c.retry & in_phase & ~np.isnan(prev_asked)
    n = int(judged.sum())
    title = "retry-after honoured"
    if n == 0:
        reason = "no retry followed a reply that carried retry-after"
        return _not_judged("retry_after", title, "retry_after_violation_rate", reason)
    asked = prev_asked[judged]
    gaps = c.gap[judged]
    early = gaps < asked * (1 - RETRY_AFTER_TOLERANCE) - RETRY_AFTER_SLACK_S
    violations = int(early.sum())
    rate = violations / n
    rows = np.flatnonzero(judged)
    shown = rows[early] if violations else rows
    evidence: dict[str, Any] = {
        "retries_after_retry_after": n,
        "violations": violations,
        "asked_median_s": round(_median(asked), 4),
        "gap_median_s": round(_median(gaps), 4),
        "gap_min_s": round(float(gaps.min()), 4),
        "gap_max_s": round(float(gaps.max()), 4),
    }
    if violations:
        summary = (
            f"{violations} of {n} retries after a retry-after reply came early "
            f"(asked {_ms(evidence['asked_median_s'])}, waited {_ms(evidence['gap_median_s'])} "
            "median)"
        )
    else:
        summary = (
            f"all {n} retries after a retry-after reply waited as asked "
            f"(asked {_ms(evidence['asked_median_s'])}; gaps {evidence['gap_min_s']:.3f} to "
            f"{evidence['gap_max_s']:.3f} s)"
        )
    return _given(
        "retry_after",
        title,
        "retry_after_violation_rate",
        rate,
        summary,
        failed=violations > 0,
        evidence=evidence,
        hashes=_examples(c, shown),
    )


def _backoff(c: ChainCalls, in_phase: BoolArray, chain_in: BoolArray) -> list[Judged]:
    own = c.self_timed & in_phase
    first = own & (c.retry_no == 1)
    second = own & (c.retry_no == 2)
    n1, n2 = int(first.sum()), int(second.sum())
    title = "backoff: gaps grow between attempts"
    by_retry: dict[str, float] = {}
    own_rows = np.flatnonzero(own)
    own_no = c.retry_no[own_rows]
    for k in range(1, 6):
        gaps = c.gap[own_rows[own_no == k]]
        if gaps.size:
            by_retry[str(k)] = round(_median(gaps), 4)
    evidence: dict[str, Any] = {
        "first_retries": n1,
        "second_retries": n2,
        "median_gap_s_by_retry": by_retry,
    }
    if n1 < MIN_SAMPLES or n2 < MIN_SAMPLES:
        reason = (
            f"too few retries timed by the client to see growth ({n1} first and {n2} second "
            f"retries; {MIN_SAMPLES} of each needed)"
        )
        hashes = _examples(c, first)
        return _not_judged(
            "backoff", title, "backoff_growth", reason, evidence=evidence, hashes=hashes
        )
    g1 = max(_median(c.gap[first]), 0.001)
    g2 = _median(c.gap[second])
    growth = g2 / g1
    backs_off = growth >= BACKOFF_MIN_GROWTH
    summary = (
        f"median gap {_ms(g1)} before the first retry, {_ms(g2)} before the second "
        f"(x{growth:.2f}): " + ("backs off" if backs_off else "no backoff")
    )
    return _given(
        "backoff",
        title,
        "backoff_growth",
        growth,
        summary,
        failed=not backs_off,
        evidence=evidence,
        hashes=_examples(c, second),
    )


def _dispersion(c: ChainCalls, in_phase: BoolArray, chain_in: BoolArray) -> list[Judged]:
    first = c.self_timed & in_phase & (c.retry_no == 1)
    n = int(first.sum())
    title = "jittered retries (no synchronized waves)"
    if n < MIN_SAMPLES:
        reason = f"only {n} first retries timed by the client ({MIN_SAMPLES} needed)"
        evidence = {"first_retries": n}
        return _not_judged("jitter", title, "retry_dispersion", reason, evidence=evidence)
    delays = c.gap[first]
    median = _median(delays)
    iqr = _iqr(delays)
    dispersion = iqr / max(median, DISPERSION_MEDIAN_FLOOR_S)
    immediate = median < IMMEDIATE_BELOW_S
    synchronized = immediate or dispersion < SYNCHRONIZED_BELOW
    q1, q3 = np.percentile(delays, [25, 75])
    if immediate:
        verdict_words = "retries are immediate, so requests that fail together retry together"
    elif synchronized:
        verdict_words = "requests that fail together retry together (synchronized waves)"
    else:
        verdict_words = "retries are spread out"
    summary = (
        f"first retries came {_ms(median)} after the failure, middle half within "
        f"{_ms(float(q1))} to {_ms(float(q3))} (dispersion {dispersion:.3f}): {verdict_words}"
    )
    return _given(
        "jitter",
        title,
        "retry_dispersion",
        dispersion,
        summary,
        failed=synchronized,
        evidence={
            "first_retries": n,
            "delay_median_s": round(median, 4),
            "delay_p25_s": round(float(q1), 4),
            "delay_p75_s": round(float(q3), 4),
        },
        hashes=_examples(c, first),
    )


def _attempts(c: ChainCalls, in_phase: BoolArray, chain_in: BoolArray) -> list[Judged]:
    rows = chain_in
    chains = c.chain[rows]
    title = f"attempts capped (<= {MAX_ATTEMPTS} per call, retries <= {MAX_RETRY_RATIO:.0%})"
    if chains.size == 0:
        reason = "no joined provider call in this phase"
        out = []
        for metric in ("max_attempts_per_call", "retries_per_call"):
            name = "attempts" if metric == "max_attempts_per_call" else "retries_per_call"
            out.extend(_not_judged(name, title, metric, reason))
        return out
    sizes = np.bincount(chains - chains.min())
    sizes = sizes[sizes > 0]
    attempts = int(sizes.size)
    retries = int(sizes.sum() - attempts)
    ratio = retries / attempts
    largest = int(sizes.max())
    hist = np.bincount(sizes)
    distribution = {str(k): int(v) for k, v in enumerate(hist) if k and v}
    capped = largest <= MAX_ATTEMPTS
    worst_chain = int(chains.min() + np.argmax(np.bincount(chains - chains.min())))
    example_rows = np.flatnonzero(c.chain == worst_chain)[:1]
    retry_rows = np.flatnonzero(rows & c.retry)
    evidence = {"calls": attempts, "retries": retries, "attempts_distribution": distribution}
    return [
        Judged(
            Verdict(
                name="attempts",
                title=f"attempts per call capped at {MAX_ATTEMPTS}",
                status="pass" if capped else "fail",
                metric="max_attempts_per_call",
                value=float(largest),
                summary=(f"at most {largest} attempts of one call; distribution {distribution}"),
                evidence=evidence,
            ),
            _examples(c, example_rows),
        ),
        Judged(
            Verdict(
                name="retries_per_call",
                title=f"retries <= {MAX_RETRY_RATIO:.0%} of calls",
                status="pass" if ratio <= MAX_RETRY_RATIO else "fail",
                metric="retries_per_call",
                value=ratio,
                summary=f"{retries} retries for {attempts} calls ({ratio:.1%})",
                evidence=evidence,
            ),
            _examples(c, retry_rows),
        ),
    ]


def _abandoned(c: ChainCalls, in_phase: BoolArray, chain_in: BoolArray) -> list[Judged]:
    n = int(in_phase.sum())
    title = "no work for requests the user gave up on"
    after = in_phase & (c.t > c.req_t_end)
    count = int(after.sum())
    after_timeout = int((after & c.req_timeout).sum())
    # Calls still running when their user timed out: the SUT's deadline outlives the user's.
    overran = in_phase & c.req_timeout & (c.t <= c.req_t_end) & (c.t_end > c.req_t_end)
    if n == 0:
        reason = "no joined provider call in this phase"
        return _not_judged("abandoned_work", title, "abandoned_work_rate", reason)
    rate = count / n
    tokens = int(c.tokens[after].sum())
    summary = (
        f"{count} of {n} calls ({rate:.1%}) started after their user request had ended "
        f"({after_timeout} after the user timed out; {tokens} tokens)"
        if count
        else f"no call started after its user request had ended ({n} calls)"
    )
    return [
        Judged(
            Verdict(
                name="abandoned_work",
                title=title,
                status="fail" if count else "pass",
                metric="abandoned_work_rate",
                value=rate,
                summary=summary,
                evidence={
                    "calls": n,
                    "calls_after_request_ended": count,
                    "after_user_timeout": after_timeout,
                    "tokens": tokens,
                    "calls_running_past_user_timeout": int(overran.sum()),
                },
            ),
            _examples(c, after),
        )
    ]


def _multi_layer(c: ChainCalls, in_phase: BoolArray, chain_in: BoolArray) -> list[Judged]:
    rows = chain_in
    title = "retries at one layer only"
    if not rows.any():
        reason = "no joined provider call in this phase"
        return _not_judged("multi_layer_retries", title, "multi_layer_retry_rate", reason)
    # Per request (its rows are contiguous): any SDK retry, any fresh application retry.
    picked = np.flatnonzero(rows)
    starts = request_groups(c, picked)
    sdk_call = c.retry_count[picked] >= 1
    per_sdk = np.logical_or.reduceat(sdk_call, starts)
    per_fresh = np.logical_or.reduceat(c.retry[picked] & ~sdk_call, starts)
    both = per_sdk & per_fresh
    requests = int(starts.size)
    multi = int(both.sum())
    sdk = int(per_sdk.sum())
    app = int(per_fresh.sum())
    hashes = [int(h) for h in c.rid[picked[starts[both]]][:EXAMPLES]]
    rate = multi / requests
    summary = (
        f"{multi} of {requests} requests were retried both by the SDK and by the application "
        f"(SDK retried {sdk}, the application {app})"
    )
    return _given(
        "multi_layer_retries",
        title,
        "multi_layer_retry_rate",
        rate,
        summary,
        failed=multi > 0,
        evidence={
            "requests": requests,
            "both_layers": multi,
            "sdk_retried": sdk,
            "application_retried": app,
        },
        hashes=hashes,
    )


def _duplicates(c: ChainCalls, in_phase: BoolArray, chain_in: BoolArray) -> list[Judged]:
    n = int(in_phase.sum())
    title = "no duplicate of a call that had succeeded"
    if n == 0:
        reason = "no joined provider call in this phase"
        return _not_judged("duplicates", title, "duplicate_call_rate", reason)
    prev_ok = np.zeros(c.t.size, dtype=bool)
    prev_ok[1:] = c.ok[:-1]
    dup = c.retry & prev_ok & in_phase
    count = int(dup.sum())
    tokens = int(c.tokens[dup].sum())
    summary = (
        f"{count} calls repeated one the provider had already answered in full "
        f"({tokens} tokens paid twice)"
        if count
        else "no call repeated one the provider had already answered in full"
    )
    return _given(
        "duplicates",
        title,
        "duplicate_call_rate",
        count / n,
        summary,
        failed=count > 0,
        evidence={"calls": n, "duplicates": count, "tokens": tokens},
        hashes=_examples(c, dup),
    )


def _truncated(c: ChainCalls, in_phase: BoolArray, chain_in: BoolArray) -> list[Judged]:
    last = last_call_rows(c, chain_in)
    title = "cut streams not passed off as complete"
    if last.size == 0:
        reason = "no joined provider call in this phase"
        return _not_judged("truncated_accepted", title, "truncated_accepted_rate", reason)
    cut_last = last[c.cut[last]]
    accepted = cut_last[c.req_status[cut_last] == 200]
    # Examples in arrival order of those last calls (ties by row; no arrival time last).
    accepted = accepted[np.lexsort((accepted, c.t[accepted]))]
    n = int(last.size)
    count = int(accepted.size)
    summary = (
        f"{count} requests ended on a cut stream yet the SUT answered 200 "
        f"({cut_last.size} ended on a cut stream)"
        if count
        else f"no request that ended on a cut stream was answered 200 ({cut_last.size} ended so)"
    )
    return _given(
        "truncated_accepted",
        title,
        "truncated_accepted_rate",
        count / n,
        summary,
        failed=count > 0,
        evidence={"requests": n, "ended_on_cut_stream": int(cut_last.size), "answered_200": count},
        hashes=_examples(c, accepted),
    )


def _stream_deadlines(c: ChainCalls, in_phase: BoolArray, chain_in: BoolArray) -> list[Judged]:
    streams = in_phase & c.stream
    n = int(streams.sum())
    title = "stream deadlines fit the stream"
    if n == 0:
        reason = "no streamed provider call in this phase"
        return _not_judged("stream_deadlines", title, "client_cut_stream_rate", reason)
    paused = c.paused
    client_cut = streams & c.cut & (c.status == 200) & ~c.provider_cut
    count = int(client_cut.sum())
    durations = (c.t_end - c.t)[client_cut]
    during_pause = int((client_cut & paused).sum())
    overran = streams & c.req_timeout & (c.t <= c.req_t_end) & (c.t_end > c.req_t_end)
    findings: list[str] = []
    evidence: dict[str, Any] = {
        "streams": n,
        "client_cut": count,
        "cut_during_provider_pause": during_pause,
        "running_past_user_timeout": int(overran.sum()),
    }
    if count >= MIN_SAMPLES:
        median = _median(durations)
        spread = _iqr(durations) / max(median, 1e-3)
        evidence["cut_after_median_s"] = round(median, 4)
        evidence["cut_after_spread"] = round(spread, 4)
        if spread < DEADLINE_SPREAD:
            findings.append(
                f"{count} streams were cut by the client {median:.3g} s after they started, "
                "mid-body: a deadline (e.g. a first-byte timeout) also cuts the body"
            )
    if during_pause:
        findings.append(
            f"{during_pause} streams were cut during a provider pause: the idle timeout is "
            "shorter than the provider's pauses"
        )
    if overran.any():
        findings.append(
            f"{int(overran.sum())} streams ran on after their user had timed out: the total "
            "deadline is longer than the user waits"
        )
    flagged = bool(findings)
    if not flagged:
        findings.append(
            f"{count} of {n} streams were cut by the client, with no deadline pattern"
            if count
            else f"the client cut none of {n} streams"
        )
    verdict = Verdict(
        name="stream_deadlines",
        title=title,
        status="fail" if flagged else "pass",
        metric="client_cut_stream_rate",
        value=count / n,
        summary="; ".join(findings),
        evidence=evidence,
    )
    return [Judged(verdict, _examples(c, client_cut | overran))]


#: A check: (calls, rows in the phase, rows of chains begun in it) → its verdicts.
Check = Callable[[ChainCalls, BoolArray, BoolArray], list[Judged]]

#: Every check, in the order the report lists their verdicts.
CHECKS: Final[tuple[Check, ...]] = (
    _retry_after,
    _backoff,
    _dispersion,
    _attempts,
    _abandoned,
    _multi_layer,
    _duplicates,
    _truncated,
    _stream_deadlines,
)
