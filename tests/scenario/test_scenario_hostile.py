"""Input that is not a file of text at all, or too big to be one, and random input: always a
ScenarioError with a place, within seconds, never a traceback, a hang or a memory blow-up."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import ScenarioError
from harness.scenario import load_scenario, parse_scenario
from harness.scenario.source import MAX_FILE_BYTES

VALID = """\
name: fuzz
duration: 10s
warmup: 2s
providers:
  openai: {flavour: openai}
proxies:
  api: {upstream: openai}
sut:
  command: "{python} app.py --port {port} --url {proxy.api.url}"
  env: {MODE: fast}
load:
  users: 2
  request: {path: /ask, json: {q: hi}, headers: {X-Trace: "on"}}
faults:
  - {name: errs, target: provider/openai, type: error, at: 3s, for: 2s, probability: 0.5}
  - {name: slow, target: proxy/api, type: latency, at: 6s, for: 2s, attributes: {latency: 50}}
slos:
  - {metric: error_rate, phase: fault, max: 0.5}
"""


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return caught.value.problems


def test_the_fuzz_seed_is_valid() -> None:
    assert parse_scenario(VALID).name == "fuzz"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    done = threading.Event()
    result: list[list[str]] = []

    def load() -> None:
        result.append(problems_of(fifo))
        done.set()

    threading.Thread(target=load, daemon=True).start()
    # No writer ever opens the FIFO: a loader that opened it would block forever.
    assert done.wait(20), "loading a FIFO blocked"
    assert result[0] == [
        f"{fifo}: is not a regular file (a FIFO, device or socket); expected a file"
    ]


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_refused(device: str) -> None:
    if not Path(device).exists():
        pytest.skip(f"no {device}")
    message = "is not a regular file (a FIFO, device or socket); expected a file"
    assert problems_of(Path(device)) == [f"{device}: {message}"]


def test_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "scenario.yaml"
    link.symlink_to("/dev/zero")
    assert "is not a regular file" in problems_of(link)[0]


def test_directory_is_refused(tmp_path: Path) -> None:
    assert problems_of(tmp_path) == [f"{tmp_path}: is a directory; expected a scenario file"]


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    # 50 MB: parsed, a file of 5 M keys took minutes and gigabytes; refused, it takes no time.
    with big.open("w", encoding="utf-8") as file:
        file.write(VALID)
        file.truncate(50_000_000)
    size = big.stat().st_size
    assert problems_of(big) == [
        f"{big}: is {size:,} bytes; a scenario file may have at most {MAX_FILE_BYTES:,} bytes"
    ]


def test_legal_file_near_the_limit_loads(tmp_path: Path) -> None:
    path = tmp_path / "large.yaml"
    description = "x" * (MAX_FILE_BYTES - len(VALID) - 100)
    path.write_text(VALID + f"description: {description}\n", encoding="utf-8")
    assert len(load_scenario(path).description) == len(description)


def test_cli_validate_exits_2_on_hostile_input_without_traceback(tmp_path: Path) -> None:
    corpus = Path(__file__).parent / "invalid"
    paths = [corpus / f"{name}.yaml" for name in ("billion_laughs", "recursive_alias")]
    result = subprocess.run(
        [sys.executable, "-m", "harness", "validate", *map(str, paths), "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "aliases expand to more than" in result.stderr
    assert "/dev/zero: is not a regular file" in result.stderr


# -- fuzzing: bounded so CI stays fast; every outcome is a Scenario or a ScenarioError --------
# BROWNOUT_FUZZ_EXAMPLES raises the bound for a longer local hunt.

EXAMPLES = int(os.environ.get("BROWNOUT_FUZZ_EXAMPLES", "100"))

_LINES = VALID.splitlines(keepends=True)
_NASTY = [
    "",
    "\x00",
    ".nan",
    "-.inf",
    "&a",
    "*a",
    "!!python/object:os.system",
    "[",
    "]",
    "{",
    "}",
    ":",
    "- ",
    "<<: *a",
    "'",
    '"',
    "\t",
    "9" * 5000,
    "{port",
    "{provider.x.url}",
    "0.0.0.0:0",
    "http://10.0.0.5:1",
    "a/b",
    "?",
    "#",
    "é",
    "\u202e",
    "---",
    "%YAML 1.1",
]


def _must_not_crash(text: str) -> None:
    try:
        parse_scenario(text, "fuzz.yaml")
    except ScenarioError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.startswith("fuzz.yaml"), problem


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(_LINES) - 1),
            st.integers(0, 80),
            st.one_of(st.sampled_from(_NASTY), st.text(max_size=12)),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_scenarios_never_crash(edits: list[tuple[int, int, str]]) -> None:
    lines = list(_LINES)
    for index, column, insert in edits:
        line = lines[index]
        lines[index] = line[:column] + insert + line[column:]
    _must_not_crash("".join(lines))


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["1s", "0", "-1", "provider/openai", "proxy/api", "down", "latency"]),
)
_KEYS = st.sampled_from(
    [
        "name",
        "duration",
        "warmup",
        "sut",
        "url",
        "command",
        "faults",
        "slos",
        "load",
        "users",
        "providers",
        "proxies",
        "upstream",
        "listen",
        "target",
        "type",
        "at",
        "for",
        "max",
        "min",
        "metric",
        "phase",
        "env",
        "headers",
        "request",
        "attributes",
        "params",
        "x",
    ]
)
_DATA = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=5)),
    max_leaves=25,
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _DATA, max_size=8))
def test_random_documents_never_crash(data: dict[str, object]) -> None:
    _must_not_crash(yaml.safe_dump(data, allow_unicode=True))


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(max_size=300))
def test_random_text_never_crashes(text: str) -> None:
    _must_not_crash(text)
