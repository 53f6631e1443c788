"""``brownout run``: start every component, drive load, apply the fault timeline, stop everything.

The order matters and is the same on every exit path: load stops first (no new work), then every
fault that is still active is removed, then the SUT, the mock providers and the fault proxy stop.
Data already written stays in the run directory; ``run.json`` says whether the run completed.
Analysis and reports are not done here (dependencies point one way): the CLI calls them next.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from harness.errors import BrownoutError, InfrastructureError, ScenarioError
from harness.run.events import EventLog
from harness.run.load_process import LoadProcess
from harness.run.observers import MetricScraper
from harness.run.otlp import OTLPReceiver
from harness.run.provider_control import ProviderControl
from harness.run.rundir import RunDirectory
from harness.run.supervisor import Supervisor, wait_http_ok
from harness.run.timeline import (
    FaultLayer,
    FaultTimeline,
    NetworkFaults,
    ProviderFaults,
    planned_phases,
)
from harness.run.validity import RunValidity
from harness.scenario import Scenario, load_scenario, locate_problem
from harness.scenario.commands import (
    CommandError,
    CommandValues,
    expand_command,
    expand_value,
    split_command,
    uses_port,
)
from harness.scenario.provider_model import provider_file
from harness.toxiproxy import ToxiproxyClient, ToxiproxyError

__all__ = ["RunOptions", "RunResult", "run_scenario"]

READY_TIMEOUT_S = 30.0


@dataclass
class RunOptions:
    time_scale: float = 1.0
    reports_dir: Path = Path("reports")
    #: A real (or already running) Toxiproxy; None starts the embedded one.
    toxiproxy_url: str | None = None
    #: Locust worker processes for the load (1: one process, no master).
    workers: int = 1
    progress: Callable[[str], None] = field(default=lambda line: None)
    #: Called once the run directory exists (the CLI's live view tails its files).
    on_run_dir: Callable[[Path, Scenario], None] = field(default=lambda path, scenario: None)


@dataclass
class RunResult:
    run_dir: Path
    scenario: Scenario
    aborted: bool = False
    error: BrownoutError | None = None


class _Aborted(Exception):
    """SIGTERM arrived; unwinds the run like Ctrl-C does."""


def run_scenario(path: str | Path, options: RunOptions) -> RunResult:
    """Run the scenario at ``path``; an invalid scenario raises ScenarioError before any start."""
    source = Path(path)
    scenario = load_scenario(source, time_scale=options.time_scale)
    run_dir = RunDirectory.create(options.reports_dir, scenario)
    run_dir.write_scenario(scenario)
    run_dir.start(scenario, time_scale=options.time_scale, source=source)
    events = EventLog(run_dir.file("events.jsonl"))
    events.emit("run_started", run_id=run_dir.run_id, scenario=scenario.name)
    options.on_run_dir(run_dir.path, scenario)
    result = RunResult(run_dir=run_dir.path, scenario=scenario)
    validity = RunValidity(events)
    run = _Run(scenario, source, run_dir, events, options, validity)
    status = "ok"
    try:
        with _sigterm_aborts():
            run.execute()
    except (KeyboardInterrupt, _Aborted):
        status = "aborted"
        result.aborted = True
        options.progress("aborted: stopping load, removing faults, stopping processes")
    except BrownoutError as exc:
        status = "error"
        result.error = exc
        if not isinstance(exc, ScenarioError):
            validity.invalidate("run", f"the run failed: {str(exc).splitlines()[0]}")
    except Exception as exc:  # a bug: still one verdict (invalid), then the traceback
        status = "error"
        validity.invalidate("run", f"the run failed: {type(exc).__name__}: {exc}")
        raise
    finally:
        cleanup_errors = run.cleanup()
        for problem in cleanup_errors:
            validity.invalidate("cleanup", f"cleanup failed: {problem}")
        if cleanup_errors and result.error is None:
            result.error = InfrastructureError("cleanup failed:\n" + "\n".join(cleanup_errors))
            status = "error"
        events.emit("run_ended", status=status)
        events.close()
        run_dir.update(
            ended_at=time.time(),
            exit_status=status,
            complete=status == "ok",
            aborted=result.aborted,
            error=str(result.error) if result.error else None,
            valid=validity.valid,
            validity_problems=validity.problems,
        )
    return result


@contextmanager
def _sigterm_aborts() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while the run is live (only possible on the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Aborted()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Run:
    """The state of one live run; ``cleanup`` undoes whatever ``execute`` got to."""

    def __init__(
        self,
        scenario: Scenario,
        source: Path,
        run_dir: RunDirectory,
        events: EventLog,
        options: RunOptions,
        validity: RunValidity,
    ) -> None:
        self.validity = validity
        self.scenario = scenario
        self.source = source
        self.run_dir = run_dir
        self.events = events
        self.options = options
        self.supervisor = Supervisor(run_dir.file("logs"), events)
        self.components: dict[str, str] = {}
        self.toxiproxy: ToxiproxyClient | None = None
        self.created_proxies: list[str] = []
        self.controls: dict[str, ProviderControl] = {}
        self.timeline: FaultTimeline | None = None
        self.scraper: MetricScraper | None = None
        #: receives the SUT's OpenTelemetry spans (spans.jsonl), opened with the SUT
        self.otlp: OTLPReceiver | None = None
        self.load: LoadProcess | None = None

    # -- start-up ---------------------------------------------------------------------------

    def execute(self) -> None:
        say = self.options.progress
        provider_urls = self._start_providers()
        self._check_provider_faults()
        proxy_urls = self._start_proxies(provider_urls)
        sut_url = self._start_sut(provider_urls, proxy_urls)
        self.run_dir.update(components=self.components)
        layers: dict[str, FaultLayer] = {"provider": ProviderFaults(self.controls)}
        if self.toxiproxy is not None:
            names = {name: name for name in self.scenario.proxies}
            layers["proxy"] = NetworkFaults(self.toxiproxy, names)
        self.timeline = FaultTimeline(self.scenario, layers, self.events, self.validity)
        if self.scenario.sut.metrics:
            self.scraper = MetricScraper(
                _join(sut_url, self.scenario.sut.metrics),
                self.run_dir.file("sut_metrics.jsonl"),
                self.events,
                validity=self.validity,
            )
            self.scraper.start()
        load, duration = self.scenario.load, self.scenario.duration_s
        workers = f" on {self.options.workers} workers" if self.options.workers > 1 else ""
        say(f"load: {load.describe()}{workers} for {duration:g}s on {sut_url}")
        self._drive_load(sut_url)

    def _start_providers(self) -> dict[str, str]:
        urls: dict[str, str] = {}
        journal = self.run_dir.file("provider_calls.jsonl")
        for name, provider in self.scenario.providers.items():
            argv = [
                sys.executable,
                "-m",
                "mock_providers",
                provider.flavour,
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--journal",
                str(journal),
                "--seed",
                str(self.scenario.seed),
                "--name",
                name,
                "--ttft-ms",
                f"{provider.ttft_s * 1000:g}",
                "--tokens-per-s",
                f"{provider.tokens_per_s:g}",
                "--jitter-ms",
                f"{provider.jitter_s * 1000:g}",
            ]
            if provider.knowledge:
                knowledge = self.run_dir.file(f"knowledge-{name}.json")
                knowledge.write_text(json.dumps(provider.knowledge), encoding="utf-8")
                argv += ["--knowledge", str(knowledge)]
            config = self.run_dir.file(f"provider-{name}.json")
            config.write_text(
                json.dumps(
                    provider_file(provider.models, provider.strict_models, provider.capacity)
                ),
                encoding="utf-8",
            )
            argv += ["--config", str(config)]
            child = self.supervisor.start(f"provider-{name}", argv)
            url = self.supervisor.wait_ready(child, READY_TIMEOUT_S)
            wait_http_ok(_join(url, "/_brownout/health"), READY_TIMEOUT_S, child=child)
            urls[name] = url
            self.controls[name] = ProviderControl(url)
            self.components[f"provider-{name}"] = url
            self.options.progress(f"provider {name} ({provider.flavour}) at {url}")
        return urls

    def _check_provider_faults(self) -> None:
        """Every provider fault's parameters, checked by the mock that will apply it, before any
        load: a typo in ``params`` is an invalid scenario (exit 2), not a failure mid-run."""
        problems: list[str] = []
        for index, fault in enumerate(self.scenario.faults):
            if fault.layer != "provider":
                continue
            control = self.controls[fault.target_name]
            problem = control.check_fault(
                fault.name,
                fault.type,
                probability=fault.probability,
                params=dict(fault.params),
                schedule=fault.schedule(),
            )
            if problem is not None:
                problems.append(locate_problem(self.source, ("faults", index, "params"), problem))
        if problems:
            raise ScenarioError(problems)

    def _start_proxies(self, provider_urls: dict[str, str]) -> dict[str, str]:
        if not self.scenario.proxies:
            return {}
        api_url = self.options.toxiproxy_url
        if api_url is None:
            argv = [sys.executable, "-m", "harness.faultproxy", "-host", "127.0.0.1", "-port", "0"]
            argv += ["-seed", str(self.scenario.seed)]  # toxicity and jitter repeat run to run
            child = self.supervisor.start("faultproxy", argv)
            api_url = self.supervisor.wait_ready(child, READY_TIMEOUT_S)
            wait_http_ok(_join(api_url, "/version"), READY_TIMEOUT_S, child=child)
            self.options.progress(f"fault proxy (embedded Toxiproxy) at {api_url}")
        else:
            self.options.progress(f"fault proxy: Toxiproxy at {api_url}")
        self.toxiproxy = ToxiproxyClient(api_url)
        try:
            version = self.toxiproxy.version()
        except ToxiproxyError as exc:
            raise InfrastructureError(f"no Toxiproxy answers at {api_url}: {exc}") from None
        self.events.emit("component_ready", name="toxiproxy", url=api_url, version=version)
        self.components["toxiproxy"] = api_url
        urls: dict[str, str] = {}
        for name, proxy in self.scenario.proxies.items():
            upstream = proxy.upstream
            if upstream in provider_urls:
                parts = urlsplit(provider_urls[upstream])
                upstream = f"{parts.hostname}:{parts.port}"
            try:
                created = self.toxiproxy.create_proxy(name, listen=proxy.listen, upstream=upstream)
            except ToxiproxyError as exc:
                hint = ""
                if exc.status == 409:
                    hint = f"; a proxy named {name!r} already exists there: delete it or rename"
                raise InfrastructureError(f"could not create proxy {name!r}: {exc}{hint}") from None
            self.created_proxies.append(name)
            urls[name] = f"http://{created.listen}"
            self.components[f"proxy-{name}"] = urls[name]
            self.options.progress(f"proxy {name}: {urls[name]} -> {upstream}")
        return urls

    def _start_sut(self, provider_urls: dict[str, str], proxy_urls: dict[str, str]) -> str:
        sut = self.scenario.sut
        if sut.url is not None:
            wait_http_ok(_join(sut.url, sut.health), sut.ready_timeout_s)
            self.components["sut"] = sut.url
            return sut.url
        assert sut.command is not None
        port = _free_port() if uses_port(split_command(sut.command)) else None
        values = CommandValues(
            python=sys.executable,
            port=port,
            scenario_dir=str(self.source.resolve().parent),
            provider_urls=provider_urls,
            proxy_urls=proxy_urls,
        )
        try:
            argv = expand_command(sut.command, values)
        except CommandError as exc:  # the loader checked it offline; kept for the error's place
            path: tuple[str | int, ...] = ("sut", "command")
            where = path if exc.index is None else (*path, exc.index)
            raise ScenarioError([locate_problem(self.source, where, str(exc))]) from None
        # The same placeholders in env values: OPENAI_BASE_URL: "{proxy.openai.url}/v1".
        sut_env: dict[str, str] = {}
        for key, value in sut.env.items():
            try:
                sut_env[key] = expand_value(value, values)
            except CommandError as exc:
                raise ScenarioError(
                    [locate_problem(self.source, ("sut", "env", key), str(exc))]
                ) from None
        cwd = self.source.resolve().parent / sut.cwd if sut.cwd else None
        env = {"BROWNOUT_RUN_DIR": str(self.run_dir.path), **sut_env}
        # A SUT's own timers (cache TTLs, leases) can follow --time-scale like the timeline does.
        env.setdefault("BROWNOUT_TIME_SCALE", repr(self.options.time_scale))
        # The SUT's OpenTelemetry SDK exports its spans here, unless the scenario points it
        # elsewhere; analysis joins them to requests by trace id (harness.analysis.traces).
        self.otlp = OTLPReceiver(self.run_dir.path)
        env.setdefault("OTEL_EXPORTER_OTLP_ENDPOINT", self.otlp.endpoint)
        for name, url in proxy_urls.items():
            env[f"BROWNOUT_PROXY_{_env_part(name)}_URL"] = url
        for name, url in provider_urls.items():
            env[f"BROWNOUT_PROVIDER_{_env_part(name)}_URL"] = url
        child = self.supervisor.start("sut", argv, env=env, cwd=cwd)
        if port is not None:
            url = f"http://127.0.0.1:{port}"
        else:
            url = self.supervisor.wait_ready(child, sut.ready_timeout_s)
        wait_http_ok(_join(url, sut.health), sut.ready_timeout_s, child=child)
        self.components["sut"] = url
        self.options.progress(f"SUT at {url}")
        return url

    # -- the run itself ---------------------------------------------------------------------

    def _drive_load(self, sut_url: str) -> None:
        scenario = self.scenario
        self.load = LoadProcess(
            scenario,
            self.source,
            self.run_dir,
            self.supervisor,
            self.events,
            workers=self.options.workers,
            progress=self.options.progress,
            invalidate=self.validity.invalidate,
        )
        t0 = self.load.start(sut_url)
        assert self.timeline is not None
        self.timeline.start(t0)
        end = t0 + scenario.duration_s
        next_report = time.time()
        while (now := time.time()) < end:
            self.load.poll(now)
            dead = self.supervisor.check_alive()
            if dead is not None:
                raise InfrastructureError(
                    f"{dead.name} exited with code {dead.process.returncode} during the run; "
                    f"its last output ({dead.log_path}):\n{dead.tail()}"
                )
            if now >= next_report:
                self.options.progress(f"t={now - t0:5.1f}s  {self._phase_at(now - t0)}")
                next_report += max(5.0, scenario.duration_s / 12)
            time.sleep(min(0.2, max(0.0, end - now)))
        self.load.stop()
        health = self.run_dir.file("load_health.jsonl")
        self.validity.check_load_health(health, t0 + scenario.warmup_s, time.time())

    def _phase_at(self, offset: float) -> str:
        current = "warmup"
        for at, name in planned_phases(self.scenario):
            if offset >= at:
                current = name
        return current

    # -- clean-up ---------------------------------------------------------------------------

    def cleanup(self) -> list[str]:
        """Undo everything, in order; never raises, returns what could not be undone."""
        errors: list[str] = []
        try:
            if self.load is not None:
                self.load.stop()
        except Exception as exc:  # cleanup must go on whatever broke
            errors.append(f"stopping load: {exc}")
        if self.timeline is not None:
            try:
                self.timeline.remove_all()
            except BrownoutError as exc:
                errors.append(str(exc))
        for control in self.controls.values():
            # The provider may already be gone; its faults went with it.
            with contextlib.suppress(BrownoutError):
                control.clear_all()
            control.close()
        if self.scraper is not None:
            self.scraper.stop()
        if self.toxiproxy is not None:
            for name in self.created_proxies:
                try:
                    self.toxiproxy.delete_proxy(name)
                except ToxiproxyError as exc:
                    errors.append(f"deleting proxy {name!r}: {exc}")
            self.toxiproxy.close()
        self.supervisor.stop_all()
        if self.otlp is not None:
            self.otlp.close()  # after the SUT, so its last spans still arrive
        return errors


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env_part(name: str) -> str:
    # The loader allows letters, digits, '_' and '-' in names and refuses two that collide here.
    return name.upper().replace("-", "_")


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")
