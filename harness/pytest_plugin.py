"""The pytest plugin, registered as ``brownout`` through the ``pytest11`` entry point (the
objects behind the fixtures are in ``harness.testing``, usable without pytest).

Fixtures (``pytest --fixtures`` shows these docstrings): ``brownout_mock``, a mock OpenAI
provider whose faults a test switches on for a ``with`` block; ``brownout_mock_factory`` for
other flavours; ``brownout_proxy``, the embedded Toxiproxy-compatible fault proxy;
``brownout_service``, your own service as a child process pointed at them; and
``brownout_run``, which runs a scenario (against your own service if you like) and returns its
outcome for ``assert_slos`` / ``assert_metric``. The marker ``@pytest.mark.brownout`` tags
resilience tests so ``-m 'not brownout'`` can leave them out. Only pytest loads this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    # Imported where a fixture is first used: every pytest session of a project that has
    # brownout installed loads this module, and most of its tests never need a component.
    from harness.testing.components import FaultProxy, MockProvider, ServiceProcess
    from harness.testing.outcome import RunOutcome

__all__ = [
    "brownout_mock",
    "brownout_mock_factory",
    "brownout_proxy",
    "brownout_run",
    "brownout_service",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("brownout", "brownout resilience tests")
    group.addoption(
        "--brownout-reports",
        metavar="DIR",
        default=None,
        help="keep brownout_run's run directories under DIR (default: the test's tmp_path)",
    )
    group.addoption(
        "--brownout-time-scale",
        metavar="F",
        type=float,
        default=None,
        help="multiply every brownout_run scenario's timeline by F (e.g. 0.25 in CI)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "brownout: a resilience test that starts brownout components "
        "(deselect with -m 'not brownout')",
    )


@pytest.fixture(scope="session")
def _brownout_session_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockProvider]:
    from harness.testing.components import MockProvider

    with MockProvider("openai", log_dir=tmp_path_factory.mktemp("brownout-mock")) as mock:
        yield mock


@pytest.fixture
def brownout_mock(_brownout_session_mock: MockProvider) -> Iterator[MockProvider]:
    """A mock OpenAI-compatible provider on 127.0.0.1 (one process per test session).

    Point the code under test at ``brownout_mock.base_url`` (``http://127.0.0.1:PORT/v1``) and
    switch faults on for a block::

        with brownout_mock.fault("error", status=500):
            ...

    ``brownout_mock.calls()`` lists the calls received during this test (retries included);
    faults are cleared before and after each test.
    """
    mock = _brownout_session_mock
    mock.clear_faults()
    mock.forget_calls()
    yield mock
    mock.clear_faults()


@pytest.fixture
def brownout_mock_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., MockProvider]]:
    """Start further mock providers: ``brownout_mock_factory("anthropic", seed=7)``; each is
    stopped when the test ends."""
    from harness.testing.components import MockProvider

    started: list[MockProvider] = []

    def make(flavour: str = "openai", **kwargs: Any) -> MockProvider:
        kwargs.setdefault("log_dir", tmp_path_factory.mktemp(f"brownout-mock-{flavour}"))
        mock = MockProvider(flavour, **kwargs).start()
        started.append(mock)
        return mock

    yield make
    for mock in reversed(started):
        mock.stop()


@pytest.fixture
def brownout_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ServiceProcess]]:
    """Start your own service for this test: ``url = brownout_service(["python", "app.py",
    "--port", "{port}"], env={"OPENAI_BASE_URL": brownout_mock.base_url}).url``.

    ``{port}`` becomes a free port (then ``health``, default ``/healthz``, must answer 2xx), or
    the service prints ``BROWNOUT_READY <url>``. Stopped (SIGTERM) when the test ends; its
    output is in ``.log_path``.
    """
    from harness.testing.components import ServiceProcess

    started: list[ServiceProcess] = []

    def start(argv: list[str], **kwargs: Any) -> ServiceProcess:
        kwargs.setdefault("log_dir", tmp_path_factory.mktemp("brownout-service"))
        service = ServiceProcess(argv, **kwargs).start()
        started.append(service)
        return service

    yield start
    for service in reversed(started):
        service.stop()


@pytest.fixture(scope="session")
def _brownout_session_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultProxy]:
    from harness.testing.components import FaultProxy

    with FaultProxy(log_dir=tmp_path_factory.mktemp("brownout-proxy")) as proxy:
        yield proxy


@pytest.fixture
def brownout_proxy(_brownout_session_proxy: FaultProxy) -> Iterator[FaultProxy]:
    """The embedded Toxiproxy-compatible fault proxy (one process per test session).

    ``proxy = brownout_proxy.create("llm", upstream=brownout_mock.address)`` makes a proxy; the
    code under test connects to ``proxy.url``; ``with proxy.toxic("latency", latency=300):`` or
    ``with proxy.down():`` injects network faults. Proxies are deleted after each test.
    """
    proxy = _brownout_session_proxy
    proxy.reset()
    yield proxy
    proxy.reset()


@pytest.fixture
def brownout_run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., RunOutcome]:
    """Run a scenario like ``brownout run`` and return its ``RunOutcome``.

    ``brownout_run("scenarios/mine.yaml", sut_url="http://127.0.0.1:8000")`` runs the scenario
    (a path or a mapping) against a service the test started, or lets brownout start the one in
    ``sut.command``. Check it with ``assert_slos(outcome)`` or
    ``assert_metric(outcome, "retry_amplification", phase="fault", max=1.5)``; both name the
    broken SLO, the figures and ``outcome.report``. ``--brownout-time-scale`` and
    ``--brownout-reports`` apply.
    """
    option_dir = request.config.getoption("--brownout-reports")
    reports = Path(option_dir) if option_dir else tmp_path / "reports"
    scale_option = request.config.getoption("--brownout-time-scale")

    def run(
        scenario: str | Path | Mapping[str, Any],
        *,
        time_scale: float | None = None,
        sut_url: str | None = None,
        toxiproxy_url: str | None = None,
    ) -> RunOutcome:
        from harness.testing.outcome import run_scenario_file

        scale = time_scale if time_scale is not None else (scale_option or 1.0)
        return run_scenario_file(
            scenario,
            reports_dir=reports,
            time_scale=scale,
            sut_url=sut_url,
            toxiproxy_url=toxiproxy_url,
        )

    return run
