"""Request mixes and datasets: weighted templates, rows filling ``{row.FIELD}``, and answers
judged against the row's known answer (``equals: "{row.answer}"``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from load_groundtruth_sut import KnowsSomeAnswers, serving
from load_support import RunLocust

from harness.load import LoadConfig, read_records

ROWS = {
    "What is backoff?": "waiting longer between retries",
    "What is a breaker?": "a switch that stops calls",
    "What is a budget?": "a cap on retries",
}


def test_mix_of_templates_filled_from_the_dataset(run_locust: RunLocust, tmp_path: Path) -> None:
    dataset = tmp_path / "questions.csv"
    dataset.write_text(
        "question,answer\n" + "".join(f"{q},{a}\n" for q, a in ROWS.items()), encoding="utf-8"
    )
    sut = KnowsSomeAnswers(ROWS, wrong={"What is a breaker?"})
    requests_file = tmp_path / "requests.jsonl"
    with serving(sut) as url:
        config = LoadConfig.from_dict(
            {
                "host": url,
                "model": "open",
                "rate": 40,
                "arrivals": "constant",
                "run_time_s": 3,
                "requests_file": str(requests_file),
                "stop_timeout_s": 1,
                "seed": 5,
                "dataset_file": str(dataset),
                "requests": [
                    {
                        "name": "ask",
                        "weight": 3,
                        "json": {"question": "{row.question}"},
                        "validators": [
                            {"type": "json_field", "field": "answer", "equals": "{row.answer}"}
                        ],
                    },
                    {"name": "status", "weight": 1, "method": "GET", "path": "/status"},
                ],
            }
        )
        result = run_locust(config)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(read_records(requests_file))
    names = Counter(r.name for r in rows)
    assert set(names) == {"ask", "status"}
    assert 0.6 <= names["ask"] / len(rows) <= 0.9, names  # weight 3 of 4
    asks = [r for r in rows if r.name == "ask"]
    # One question in three gets a wrong answer with 200 OK: judged against the row, it fails.
    wrong = [r for r in asks if r.error_class == "validation"]
    assert all(r.status == 200 and r.valid is False for r in wrong)
    assert all(r.valid is True and r.ok for r in asks if r.error_class is None)
    assert 0.15 <= len(wrong) / len(asks) <= 0.5, (len(wrong), len(asks))
    assert all("forty-two" in (r.error or "") for r in wrong)
    assert all(r.valid is None and r.ok for r in rows if r.name == "status")
