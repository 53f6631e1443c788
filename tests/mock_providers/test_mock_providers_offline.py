"""The harness's offline view of the mock providers: the generated catalogue copy, `brownout
validate` on provider keys and fault params, and what the harness sends the mock."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import httpx
import orjson
import pytest
from mockprov_support import REPO, Mock

from harness.errors import ScenarioError
from harness.run.provider_control import ProviderControl
from harness.scenario import PROVIDER_FAULT_TYPES, parse_scenario
from harness.scenario.provider_faults import provider_fault_params_schema
from harness.scenario.provider_model import provider_file
from mock_providers import CATALOGUE
from mock_providers.core.models import default_models
from mock_providers.paramschema import render
from mock_providers.provider_config import parse_provider_file

HEAD = """name: t
duration: 30s
sut:
  url: http://127.0.0.1:9
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(HEAD + text, "s.yaml")
    return info.value.problems


def test_generated_catalogue_copy_is_current() -> None:
    committed = (REPO / "harness/scenario/provider_fault_params.py").read_text(encoding="utf-8")
    assert committed == render(), (
        "regenerate: python -m mock_providers.paramschema harness/scenario/provider_fault_params.py"
    )
    assert sorted(PROVIDER_FAULT_TYPES) == sorted(CATALOGUE)
    schema = provider_fault_params_schema("rate_limit")
    assert schema["additionalProperties"] is False
    assert schema["properties"]["retry_after_s"]["type"] == ["number", "null"]


def test_misspelt_param_fails_validate_at_its_line() -> None:
    found = problems(
        """providers:
  llm: {}
faults:
  - name: rl
    target: provider/llm
    type: rate_limit
    at: 1s
    for: 5s
    params: {retry_aftr_s: 1}
"""
    )
    assert found == [
        "s.yaml:13:14: faults.0.params.retry_aftr_s: a 'rate_limit' fault takes no param "
        "'retry_aftr_s'; did you mean 'retry_after_s'?"
    ]


def test_capacity_and_schedule_mistakes() -> None:
    found = problems(
        """providers:
  llm:
    flavour: anthropic
    capacity: {max_concurency: 2, queue: -5, overload_status: 429}
faults:
  - name: a
    target: provider/llm
    type: latency
    at: 1s
    for: 5s
    every: 0
  - name: b
    target: provider/llm
    type: error
    at: 1s
    for: 5s
    ramp: {of: magnitude}
    params: {status: 777}
"""
    )
    text = "\n".join(found)
    assert "providers.llm.capacity.max_concurency: unknown capacity key 'max_concurency'; " in text
    assert "did you mean 'max_concurrency'?" in text
    assert "providers.llm.capacity.queue: queue must be >= 0, found -5" in text
    assert "overload_status for anthropic must be 529 or 503" in text
    assert "faults.0.every: Input should be greater than or equal to 1" in text
    assert "faults.1.ramp.of: error has no magnitude to ramp" in text
    assert "faults.1.params.status: status must be one of 400" in text
    assert all(line.startswith("s.yaml:") and line.split(":")[1].isdigit() for line in found)


GOOD = """providers:
  llm:
    models:
      - {id: house-model, context_window: 64000}
    strict_models: true
    capacity: {max_concurrency: 4, queue: 8, ttft_slowdown: 1, rpm: 600}
faults:
  - name: drop
    target: provider/llm
    type: capacity
    at: 1s
    for: 5s
    params: {max_concurrency: 1}
  - name: flaky
    target: provider/llm
    type: latency
    at: 2s
    for: 10s
    first: 5
    burst: {on: 1s, off: 2s}
    ramp: {of: magnitude, from: 1, to: 3}
    params: {ms: 200}
"""


def test_what_validates_offline_is_what_the_mock_accepts(openai_mock: Mock, tmp_path: Path) -> None:
    scenario = parse_scenario(HEAD + GOOD, "s.yaml")
    provider = scenario.providers["llm"]
    raw = provider_file(provider.models, provider.strict_models, provider.capacity)
    parsed = parse_provider_file(
        orjson.loads(orjson.dumps(raw)), "openai", default_models("openai")
    )
    assert parsed.strict_models and parsed.capacity.max_concurrency == 4
    assert any(m.id == "house-model" and m.context_window == 64_000 for m in parsed.models)
    control = ProviderControl(openai_mock.url)
    try:
        for fault in scenario.faults:
            schedule = fault.schedule()
            assert (
                control.check_fault(
                    fault.name,
                    fault.type,
                    probability=fault.probability,
                    params=dict(fault.params),
                    schedule=schedule,
                )
                is None
            )
        assert scenario.faults[1].schedule() == {
            "first": 5,
            "burst": {"on_s": 1.0, "off_s": 2.0},
            "ramp": {"over_s": 10.0, "from": 1.0, "to": 3.0, "of": "magnitude"},
        }
    finally:
        control.close()


def test_mock_cli_takes_the_provider_file_and_refuses_a_bad_one(tmp_path: Path) -> None:
    scenario = parse_scenario(HEAD + GOOD, "s.yaml")
    provider = scenario.providers["llm"]
    good = tmp_path / "good.json"
    good.write_bytes(
        orjson.dumps(provider_file(provider.models, provider.strict_models, provider.capacity))
    )
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps({"capacity": {"queue": -5}}))
    proc = subprocess.run(
        [sys.executable, "-m", "mock_providers", "openai", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "capacity.queue must be >= 0" in proc.stderr
    with subprocess.Popen(
        [sys.executable, "-m", "mock_providers", "openai", "--config", str(good)],
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            url = child.stdout.readline().split()[1]
            capacity = httpx.get(url + "/_brownout/capacity", timeout=10).json()
            assert capacity["max_concurrency"] == 4 and capacity["rpm"] == 600
            r = httpx.post(
                url + "/v1/chat/completions",
                json={"model": "gpt-nope", "messages": [{"role": "user", "content": "hi"}]},
                timeout=10,
            )
            assert r.status_code == 404  # strict_models
        finally:
            child.terminate()
            child.wait(10)


def test_the_scenario_language_knows_every_flavour() -> None:
    # harness may not import mock_providers: this keeps its `flavour` enum equal to the mock's.
    from harness.scenario.model import Provider
    from mock_providers.core.models import FLAVOURS
    from mock_providers.flavours import SPECS

    field = Provider.model_fields["flavour"].annotation
    assert set(typing.get_args(field)) == set(FLAVOURS) == set(SPECS)
