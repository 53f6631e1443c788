"""A distributed run's report has a per-worker table: each worker's requests, failures and
rate from its own requests.w<i>.jsonl, and a remote worker's host, pid and fate from the
master's load_workers.jsonl. A single-process run has none."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.analysis import analyze_run
from harness.analysis.synthetic import write_demo_run
from harness.report import render_report


def _table_rows(html: str) -> list[list[str]]:
    match = re.search(r'<table id="load-worker-table">(.*?)</table>', html, re.S)
    assert match, "no per-worker table in the report"
    body = match.group(1).split("<tbody>")[1]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_each_worker_of_a_distributed_run_gets_a_row(tmp_path: Path) -> None:
    run_dir = write_demo_run(tmp_path / "20251126T120000Z-demo")
    lines = (run_dir / "requests.jsonl").read_text().splitlines(keepends=True)
    (run_dir / "requests.jsonl").unlink()
    shards = {0: lines[0::3], 1: lines[1::3] + lines[2::3]}  # w1 sent twice w0's share
    for index, shard in shards.items():
        (run_dir / f"requests.w{index}.jsonl").write_text("".join(sorted(shard, key=_start)))
    t0 = min(_start(line) for line in lines)
    (run_dir / "load_workers.jsonl").write_text(
        json.dumps({"t": t0 - 0.5, "event": "joined", "node": "n1", "index": 1,
                    "host": "box-2", "pid": 4242, "remote": True}) + "\n"
        + json.dumps({"t": t0 + 12.25, "event": "lost", "node": "n1", "index": 1,
                      "host": "box-2", "pid": 4242, "remote": True}) + "\n"
    )  # fmt: skip

    summary = analyze_run(run_dir)
    render_report(run_dir, summary)
    rows = _table_rows((run_dir / "report.html").read_text())

    assert [row[0] for row in rows] == ["w0", "w1"]
    for row, index in zip(rows, (0, 1), strict=True):
        records = [json.loads(line) for line in shards[index]]
        starts = sorted(r["t_start"] for r in records)
        assert row[2] == str(len(records))
        assert row[3] == str(sum(1 for r in records if not r["ok"]))
        assert float(row[4]) == round((len(starts) - 1) / (starts[-1] - starts[0]), 1)
    assert rows[0][1] == "this machine" and rows[0][5] == ""
    assert rows[1][1] == "box-2 (pid 4242)"
    lost_at = 12.25 + t0 - summary.load_started if summary.load_started else 0.0
    assert rows[1][5] == f"lost at {lost_at:+.1f} s"


def test_a_single_process_run_has_no_worker_table(tmp_path: Path) -> None:
    run_dir = write_demo_run(tmp_path / "20251126T120000Z-demo")
    render_report(run_dir, analyze_run(run_dir))
    assert 'id="load-worker-table"' not in (run_dir / "report.html").read_text()


def _start(line: str) -> float:
    return float(json.loads(line)["t_start"])
