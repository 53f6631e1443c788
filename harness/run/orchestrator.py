"""``brownout run``: start every component, drive load, apply the fault timeline, stop everything.

The order matters and is the same on every exit path: load stops first (no new work), then every
fault that is still active is removed, then the SUT, the mock providers and the fault proxy stop.
Each step runs even when an earlier one failed; failures are collected and reported.
Data already written stays in the run directory; ``run.json`` says whether the run completed.
Analysis and reports are not done here (dependencies point one way): the CLI calls them next.

Signals: the first SIGINT, SIGTERM or SIGHUP unwinds the run into that clean-up; any further one
only makes process stops hurry (SIGKILL after 1 s), never skips the removal of a fault. A run
started with SIGINT ignored (a background job of a script) keeps ignoring it and stops on
SIGTERM. Everything created is in ``ledger.jsonl`` as it happens, and every child dies with the
orchestrator (harness.run.childguard), so even a SIGKILL leaves nothing that ``brownout cleanup``
(or the next ``brownout run``) cannot find and remove.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from harness.bodies import PROVIDER_BODIES_FILE, provider_body_args, scenario_secret_env
from harness.errors import BrownoutError, InfrastructureError, ScenarioError, UsageError
from harness.redact import Redactor
from harness.run.events import EventLog
from harness.run.ledger import LEDGER_FILE, Ledger
from harness.run.leftovers import clean_dead_runs
from harness.run.load_process import LoadProcess
from harness.run.observers import MetricScraper
from harness.run.otlp import OTLPReceiver
from harness.run.provider_control import ProviderControl
from harness.run.provider_health import ProviderHealthMonitor
from harness.run.rundir import RunDirectory, host_load_avg
from harness.run.stop_signals import RunAborted, StopSignals
from harness.run.supervisor import Supervisor, signals_held, wait_http_ok
from harness.run.timeline import (
    FaultLayer,
    FaultTimeline,
    NetworkFaults,
    ProviderFaults,
    planned_phases,
)
from harness.run.validity import RunValidity
from harness.scenario import Fault, Scenario, is_loopback_host, load_scenario, locate_problem
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
#: Beyond the scenario's duration, how long start-up and shutdown may take before the run is
#: stopped as if by SIGTERM: no run of brownout lasts forever, whatever hangs.
MAX_OVERHEAD_S = 600.0


@dataclass
class RunOptions:
    time_scale: float = 1.0
    reports_dir: Path = Path("reports")
    #: A real (or already running) Toxiproxy; None starts the embedded one.
    toxiproxy_url: str | None = None
    #: Locust worker processes for the load (1: one process, no master).
    workers: int = 1
    #: ``brownout worker`` processes the run waits for (see harness.run.load_process).
    remote_workers: int = 0
    #: Where the Locust master listens when workers join it; None: 127.0.0.1, a free port.
    master_bind: tuple[str, int] | None = None
    #: How long the run waits for its remote workers to join.
    remote_timeout_s: float = 120.0
    progress: Callable[[str], None] = field(default=lambda line: None)
    #: Called once the run directory exists (the CLI's live view tails its files).
    on_run_dir: Callable[[Path, Scenario], None] = field(default=lambda path, scenario: None)
    #: Hard limit on the whole run; None: the scenario's duration plus MAX_OVERHEAD_S.
    max_run_time_s: float | None = None


@dataclass
class RunResult:
    run_dir: Path
    scenario: Scenario
    aborted: bool = False
    error: BrownoutError | None = None


def run_scenario(path: str | Path, options: RunOptions) -> RunResult:
    """Run the scenario at ``path``; an invalid scenario raises ScenarioError before any start."""
    # Stop signals are taken over first: until the run is armed they are only recorded, so
    # none can land between creating something and recording it.
    stops = StopSignals(threading.Event())
    stops.install()
    try:
        return _run_scenario(Path(path), options, stops)
    finally:
        stops.restore()


def _run_scenario(source: Path, options: RunOptions, stops: StopSignals) -> RunResult:
    scenario = load_scenario(source, time_scale=options.time_scale)
    # The run directory's scenario.yaml must still find the load's files (analysis reloads it).
    scenario = scenario.model_copy(update={"load": scenario.load.with_files_from(source.parent)})
    _check_blast_radius(scenario, options)
    say = options.progress
    reach = "any address" if scenario.allow_non_loopback else "loopback addresses only"
    say(f"allow_non_loopback: {str(scenario.allow_non_loopback).lower()} ({reach})")
    clean_dead_runs(options.reports_dir, say)
    max_run_s = options.max_run_time_s or scenario.duration_s + MAX_OVERHEAD_S
    redactor = _redactor_for(scenario)
    run_dir = RunDirectory.create(options.reports_dir, scenario)
    run_dir.redact = redactor.data
    ledger = Ledger(run_dir.file(LEDGER_FILE))
    ledger.run_started()
    run_dir.write_scenario(scenario)
    run_dir.start(scenario, time_scale=options.time_scale, source=source)
    run_dir.update(allow_non_loopback=scenario.allow_non_loopback, max_run_time_s=max_run_s)
    events = EventLog(run_dir.file("events.jsonl"), redact=redactor.data if redactor else None)
    events.emit("run_started", run_id=run_dir.run_id, scenario=scenario.name)
    options.on_run_dir(run_dir.path, scenario)
    result = RunResult(run_dir=run_dir.path, scenario=scenario)
    validity = RunValidity(events)
    run = _Run(scenario, source, run_dir, events, options, ledger, redactor, validity)
    run.supervisor.hurry = stops.hurry
    limit = threading.Timer(max_run_s, _time_is_up, args=(run,))
    limit.daemon = True
    status = "ok"
    try:
        limit.start()
        stops.arm()
        run.execute()
    except RunAborted as exc:
        stops.disarm()
        status = "aborted"
        result.aborted = True
        reason = "hard maximum run time reached" if run.timed_out else f"{exc} received"
        events.emit("aborted", reason=reason)
        say(f"aborted ({reason}): stopping load, removing faults, stopping processes")
    except BrownoutError as exc:
        stops.disarm()
        status = "error"
        result.error = exc
        if not isinstance(exc, ScenarioError):
            validity.invalidate("run", f"the run failed: {str(exc).splitlines()[0]}")
    except Exception as exc:  # a bug must still clean up and say so
        stops.disarm()
        status = "error"
        validity.invalidate("run", f"the run failed: {type(exc).__name__}: {exc}")
        result.error = InfrastructureError(f"internal error: {type(exc).__name__}: {exc}")
    finally:
        stops.disarm()
        limit.cancel()
        cleanup_errors = run.cleanup()
        for problem in cleanup_errors:
            validity.invalidate("cleanup", f"cleanup failed: {problem}")
        if cleanup_errors:
            say("clean-up could not undo everything:\n  " + "\n  ".join(cleanup_errors))
            if result.error is None:
                result.error = InfrastructureError("cleanup failed:\n" + "\n".join(cleanup_errors))
                status = "error"
            ledger.record("cleanup_failed", problems=cleanup_errors)
        else:
            ledger.close(status)
        events.emit("run_ended", status=status, signals=stops.received)
        events.close()
        run_dir.update(
            ended_at=time.time(),
            host={**run_dir.info.get("host", {}), "load_avg_end": host_load_avg()},
            exit_status=status,
            complete=status == "ok",
            aborted=result.aborted,
            error=str(result.error) if result.error else None,
            cleanup_errors=cleanup_errors,
            signals=stops.received,
            valid=validity.valid,
            validity_problems=validity.problems,
        )
    if stops.received and not result.aborted:
        result.aborted = True  # a signal during clean-up of a failed run: still interrupted
    return result


def _redactor_for(scenario: Scenario) -> Redactor:
    """Secrets of this run: ``${VAR}`` values and values under secret-looking names."""
    redactor = Redactor(scenario.secrets)
    redactor.add(redactor.secret_values_of(scenario.load.request.headers))
    redactor.add(redactor.secret_values_of(scenario.sut.env))
    return redactor


def _time_is_up(run: _Run) -> None:
    run.timed_out = True
    os.kill(os.getpid(), signal.SIGTERM)


def _check_blast_radius(scenario: Scenario, options: RunOptions) -> None:
    """The Toxiproxy URL and the Locust master's address are command-line options, so the
    loader cannot check them: both stay on loopback unless the scenario allows otherwise."""
    bind = options.master_bind
    if bind is not None and not scenario.allow_non_loopback and not is_loopback_host(bind[0]):
        raise UsageError(
            f"--master-bind {bind[0]!r} is not a loopback address; the scenario must set "
            "allow_non_loopback: true for the Locust master to accept other machines"
        )
    url = options.toxiproxy_url
    if url is None:
        return
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port
    except ValueError as exc:
        raise UsageError(f"--toxiproxy-url {url!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise UsageError(f"--toxiproxy-url must be an http:// URL, found {url!r}")
    if not scenario.allow_non_loopback and not is_loopback_host(host):
        raise UsageError(
            f"--toxiproxy-url {url!r}: {host!r} is not a loopback address; the scenario must "
            "set allow_non_loopback: true for brownout to use it"
        )


class _LedgeredFaults:
    """A fault layer that writes each fault to the ledger before applying it and after
    removing it, so a dead run's faults can be found and removed by another process."""

    def __init__(self, layer: FaultLayer, ledger: Ledger, where: Callable[[Fault], dict[str, str]]):
        self.layer = layer
        self.ledger = ledger
        self.where = where

    def _op(self, fault: Fault) -> str:
        if fault.layer == "provider":
            return "provider_fault"
        return "proxy_disabled" if fault.type == "down" else "toxic"

    def apply(self, fault: Fault) -> None:
        self.ledger.record(self._op(fault), **self.where(fault))
        self.layer.apply(fault)

    def remove(self, fault: Fault) -> None:
        self.layer.remove(fault)
        op = self._op(fault)
        gone = "proxy_enabled" if op == "proxy_disabled" else f"{op}_gone"
        self.ledger.record(gone, **self.where(fault))


class _Run:
    """The state of one live run; ``cleanup`` undoes whatever ``execute`` got to."""

    def __init__(
        self,
        scenario: Scenario,
        source: Path,
        run_dir: RunDirectory,
        events: EventLog,
        options: RunOptions,
        ledger: Ledger,
        redactor: Redactor,
        validity: RunValidity,
    ) -> None:
        self.redactor = redactor
        self.validity = validity
        self.scenario = scenario
        self.source = source
        self.run_dir = run_dir
        self.events = events
        self.options = options
        self.ledger = ledger
        self.timed_out = False
        self.supervisor = Supervisor(
            run_dir.file("logs"),
            events,
            ledger=ledger,
            allow_non_loopback=scenario.allow_non_loopback,
            redact=redactor.text if redactor else None,
        )
        self.components: dict[str, str] = {}
        self.toxiproxy: ToxiproxyClient | None = None
        self.created_proxies: list[str] = []
        self.controls: dict[str, ProviderControl] = {}
        self.timeline: FaultTimeline | None = None
        self.scraper: MetricScraper | None = None
        #: each mock's /_brownout/metrics → provider_metrics.jsonl, and its processes' CPU
        self.provider_scrapers: list[MetricScraper] = []
        self.provider_pids: dict[str, int] = {}
        self.provider_health: ProviderHealthMonitor | None = None
        #: receives the SUT's OpenTelemetry spans (spans.jsonl), opened with the SUT
        self.otlp: OTLPReceiver | None = None
        self.load: LoadProcess | None = None

    # -- start-up ---------------------------------------------------------------------------

    def execute(self) -> None:
        say = self.options.progress
        provider_urls = self._start_providers()
        self._check_provider_faults()
        self._watch_providers()
        proxy_urls = self._start_proxies(provider_urls)
        sut_url = self._start_sut(provider_urls, proxy_urls)
        self.run_dir.update(components=self.components)
        controls = self.controls
        layers: dict[str, FaultLayer] = {
            "provider": _LedgeredFaults(
                ProviderFaults(controls),
                self.ledger,
                lambda f: {"url": controls[f.target_name].base_url, "name": f.name},
            )
        }
        if self.toxiproxy is not None:
            names = {name: name for name in self.scenario.proxies}
            api = self.toxiproxy.url
            layers["proxy"] = _LedgeredFaults(
                NetworkFaults(self.toxiproxy, names),
                self.ledger,
                lambda f: {"api": api, "proxy": f.target_name, "name": f.name},
            )
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
            if provider.workers > 1:
                argv += ["--workers", str(provider.workers)]
            argv += provider_body_args(self.scenario, self.run_dir.file(PROVIDER_BODIES_FILE))
            child = self.supervisor.start(
                f"provider-{name}", argv, env=scenario_secret_env(self.scenario)
            )
            url = self.supervisor.wait_ready(child, READY_TIMEOUT_S)
            wait_http_ok(_join(url, "/_brownout/health"), READY_TIMEOUT_S, child=child)
            urls[name] = url
            self.provider_pids[name] = child.pid
            self.controls[name] = ProviderControl(url)
            self.components[f"provider-{name}"] = url
            self.options.progress(f"provider {name} ({provider.flavour}) at {url}")
        return urls

    def _watch_providers(self) -> None:
        """Scrape each mock's own metrics (queue, in flight, loop lag) and sample the CPU of
        its processes for the whole run: the provider's queue is charted beside the SUT's, and
        a saturated mock invalidates the run (``RunValidity.check_provider_health``)."""
        if not self.controls:
            return
        out = self.run_dir.file("provider_metrics.jsonl")
        for name, control in self.controls.items():
            scraper = MetricScraper(
                _join(control.base_url, "/_brownout/metrics"),
                out,
                self.events,
                validity=self.validity,
                queue_gauge=None,
                name=f"provider {name} metrics scraper",
            )
            scraper.start()
            self.provider_scrapers.append(scraper)
        self.provider_health = ProviderHealthMonitor(
            dict(self.provider_pids), self.run_dir.file("provider_health.jsonl")
        )
        self.provider_health.start()

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
            embedded = self.options.toxiproxy_url is None
            self.ledger.record("proxy", api=api_url, name=name, embedded=embedded)
            with signals_held():  # created and recorded as ours, or neither
                try:
                    created = self.toxiproxy.create_proxy(
                        name, listen=proxy.listen, upstream=upstream
                    )
                except ToxiproxyError as exc:
                    hint = ""
                    if exc.status == 409:
                        hint = f"; a proxy named {name!r} already exists there: delete it or rename"
                    raise InfrastructureError(
                        f"could not create proxy {name!r}: {exc}{hint}"
                    ) from None
                self.created_proxies.append(name)
            if not (self.scenario.allow_non_loopback or is_loopback_host(created.listen_host)):
                raise InfrastructureError(
                    f"proxy {name!r} listens on {created.listen}, not on a loopback address"
                )
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
            remote_workers=self.options.remote_workers,
            master_bind=self.options.master_bind,
            remote_timeout_s=self.options.remote_timeout_s,
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
        stopped = time.time()
        health = self.run_dir.file("load_health.jsonl")
        self.validity.check_load_health(health, t0 + scenario.warmup_s, stopped)
        self.validity.check_provider_health(
            self.run_dir.file("provider_health.jsonl"),
            self.run_dir.file("provider_metrics.jsonl"),
            t0 + scenario.warmup_s,
            stopped,
        )

    def _phase_at(self, offset: float) -> str:
        current = "warmup"
        for at, name in planned_phases(self.scenario):
            if offset >= at:
                current = name
        return current

    # -- clean-up ---------------------------------------------------------------------------

    def cleanup(self) -> list[str]:
        """Undo everything, in order; never raises, returns what could not be undone. Each step
        runs whatever happened in the ones before it."""
        errors: list[str] = []

        def step(what: str, action: Callable[[], object]) -> None:
            try:
                action()
            except Exception as exc:  # clean-up must go on whatever broke
                errors.append(f"{what}: {exc}")

        if self.timeline is not None:
            # First, so that no fault is applied while the rest of the clean-up runs.
            step("stopping the fault timeline", self.timeline.stop)
        if self.load is not None:
            step("stopping load", self.load.stop)
        if self.timeline is not None:
            step("removing faults", self.timeline.remove_all)
        for name, control in self.controls.items():
            if self._alive(f"provider-{name}"):
                step(f"clearing the faults of provider {name!r}", control.clear_all)
            # else: the provider is gone, and its faults went with it
            step(f"closing the control client of {name!r}", control.close)
        if self.scraper is not None:
            step("stopping the metric scraper", self.scraper.stop)
        for scraper in self.provider_scrapers:
            step(f"stopping the {scraper.name}", scraper.stop)
        if self.provider_health is not None:
            step("stopping the provider health monitor", self.provider_health.stop)
        if self.toxiproxy is not None:
            client = self.toxiproxy
            embedded_gone = self.options.toxiproxy_url is None and not self._alive("faultproxy")
            for name in self.created_proxies:
                if embedded_gone:
                    self.ledger.record("proxy_gone", api=client.url, name=name)
                    continue  # the embedded proxy died, and its proxies with it
                step(
                    f"deleting proxy {name!r}", functools.partial(self._delete_proxy, client, name)
                )
            step("closing the Toxiproxy client", client.close)
        errors.extend(self.supervisor.stop_all())
        if self.otlp is not None:
            step("closing the OTLP receiver", self.otlp.close)  # after the SUT: its last spans
        return errors

    def _alive(self, child_name: str) -> bool:
        return any(c.name == child_name and c.alive() for c in self.supervisor.children)

    def _delete_proxy(self, client: ToxiproxyClient, name: str) -> None:
        # A 404 is an error: something else removed a proxy brownout created.
        client.delete_proxy(name)
        self.ledger.record("proxy_gone", api=client.url, name=name)


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
