"""The load generator of a run: Locust as one process, or a master and N local workers.

The orchestrator owns the run's order (load first to stop, faults removed next); this module
owns what the load needs on the way: the LoadConfig written from the scenario, the Locust
processes started and watched, stage changes written to ``events.jsonl`` as they happen, and,
once the load has stopped, the checks that say whether the generator itself kept up:

- schedule lag (open model): the p99 of how late requests were sent after they were due; over
  ``load.max_schedule_lag`` the latencies include the generator's own queueing, so the run is
  invalid (a ``warning`` event with ``invalidates: true``, as for a saturated CPU);
- dropped arrivals: counted and reported (they mean the SUT held ``max_in_flight`` requests);
- a worker that exits mid-run: the load it was sending is missing, so the run is invalid. A
  local worker is watched by its pid; a remote one (``brownout worker --master``) through the
  master's ``load_workers.jsonl`` (harness.load.relay), which says when it missed Locust's
  heartbeats or quit.

With remote workers the master binds ``master_bind`` and waits at most ``remote_timeout_s``
for them; the load starts only once every worker, local and remote, has joined.
"""

from __future__ import annotations

import json
import math
import socket
import time
from collections.abc import Callable
from pathlib import Path

from harness.bodies import BODIES_FILE, scenario_secret_env
from harness.errors import InfrastructureError
from harness.load import LoadConfig, build_locust_command, build_locust_env, build_worker_command
from harness.load.command import locustfile_argument
from harness.load.runfile import write_run_locustfile
from harness.redact import header_references
from harness.run.events import EventLog
from harness.run.rundir import RunDirectory
from harness.run.supervisor import Child, Supervisor
from harness.scenario import Request, RequestTemplate, Scenario
from harness.scenario.dataset import DatasetError, read_dataset

__all__ = ["DEFAULT_MASTER_PORT", "LoadProcess", "build_load_config", "schedule_lag_p99_ms"]

READY_TIMEOUT_S = 30.0
#: Locust's own default, so ``brownout worker --master HOST`` needs no port.
DEFAULT_MASTER_PORT = 5557


def _request_specs(scenario: Scenario) -> list[Request]:
    load = scenario.load
    specs: list[Request] = [load.request]
    for name in ("requests", "templates", "mix"):
        extra = getattr(load, name, None)
        if isinstance(extra, list):
            specs += [item for item in extra if hasattr(item, "headers")]
    return specs


def build_load_config(
    scenario: Scenario, source: Path, run_dir: RunDirectory, sut_url: str, *, workers: int = 1
) -> LoadConfig:
    """The LoadConfig of ``scenario``'s load against the SUT at ``sut_url``."""
    load = scenario.load

    def request(spec: Request) -> dict[str, object]:
        out: dict[str, object] = {
            "method": spec.method,
            "path": spec.path,
            "json": spec.json_body,
            "bodies": list(spec.bodies),
            "stream": spec.stream,
            # Secrets reach Locust through its environment; the file holds references.
            "headers": header_references(spec.headers, scenario.secrets)[0],
            "timeout_s": load.timeout_s,
        }
        if isinstance(spec, RequestTemplate):
            out.update(name=spec.name, weight=spec.weight, validators=list(spec.validators))
        return out

    open_model = load.model == "open"
    stages = [
        {
            "duration_s": stage.for_s,
            "value": float((stage.rate if open_model else stage.users) or 1),
            "ramp": stage.ramp,
        }
        for stage in load.stages
    ]
    users = load.closed_users
    dataset = None
    if load.dataset is not None:
        dataset = str((source.resolve().parent / load.dataset.path).resolve())
    locustfile = None
    if load.locustfile is not None:
        locustfile = str((source.resolve().parent / load.locustfile).resolve())
    return LoadConfig.from_dict(
        {
            "host": sut_url,
            "model": load.model,
            "users": users,
            "spawn_rate": load.spawn_rate or float(users),
            "rate": load.rate if open_model else None,
            "arrivals": load.arrivals,
            "max_in_flight": load.max_in_flight,
            "stages": stages,
            "workers": workers,
            # Locust's own clock is a safety net; the orchestrator stops it on time.
            "run_time_s": scenario.duration_s + 30,
            "requests_file": str(run_dir.file("requests.jsonl")),
            "dropped_file": str(run_dir.file("dropped.jsonl")),
            # CPU and schedule lag of the generator: a saturated one invalidates the run.
            "health_file": str(run_dir.file("load_health.jsonl")),
            "bodies_file": str(run_dir.file(BODIES_FILE)) if scenario.record_bodies else None,
            "request": request(load.request),
            "requests": [request(template) for template in load.requests],
            "dataset_file": dataset,
            "dataset_order": load.dataset.order if load.dataset is not None else "sequential",
            "wait_s": load.wait_s,
            "validators": list(load.validators),
            "seed": scenario.seed,
            "locustfile": locustfile,
        }
    )


class LoadProcess:
    """Starts, watches and stops the Locust process(es) of one run."""

    def __init__(
        self,
        scenario: Scenario,
        source: Path,
        run_dir: RunDirectory,
        supervisor: Supervisor,
        events: EventLog,
        *,
        workers: int = 1,
        remote_workers: int = 0,
        master_bind: tuple[str, int] | None = None,
        remote_timeout_s: float = 120.0,
        progress: Callable[[str], None] = lambda line: None,
        invalidate: Callable[[str, str], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.source = source
        self.run_dir = run_dir
        self.supervisor = supervisor
        self.events = events
        self.workers = workers
        self.remote_workers = remote_workers
        self.master_bind = master_bind
        self.remote_timeout_s = remote_timeout_s
        self._workers_seen = 0  # lines of load_workers.jsonl already read
        self.progress = progress
        self.invalidate = invalidate or self._warn
        self.children: list[Child] = []
        self.worker_children: list[Child] = []
        self.t0: float | None = None
        self._stage_starts: list[float] = []
        self._stages_emitted = 0
        self._lost_workers: list[str] = []

    @property
    def started(self) -> bool:
        return bool(self.children)

    def start(self, sut_url: str) -> float:
        """Start Locust and return the wall-clock time of the first request (the run's zero)."""
        total = self.workers + self.remote_workers
        distributed = total > 1 or self.remote_workers > 0
        config = build_load_config(
            self.scenario,
            self.source,
            self.run_dir,
            sut_url,
            workers=total if distributed else 1,
        )
        config_path = self.run_dir.file("load_config.json")
        config.write(config_path)
        locustfile = write_run_locustfile(self.run_dir.path, config, _dataset_rows(config))
        env = build_locust_env(config_path)
        for spec in _request_specs(self.scenario):
            env.update(header_references(spec.headers, self.scenario.secrets)[1])
        if self.scenario.record_bodies:  # bodies are redacted with every secret of the run
            env.update(scenario_secret_env(self.scenario))
        ready_timeout_s = READY_TIMEOUT_S
        if not distributed:
            master = self.supervisor.start(
                "locust", build_locust_command(config_path, config, locustfile=locustfile), env=env
            )
            self.children.append(master)
        else:
            host, port = self.master_bind or ("127.0.0.1", _free_port())
            wait = None
            if self.remote_workers:
                wait = self.remote_timeout_s
                ready_timeout_s += self.remote_timeout_s
            master = self.supervisor.start(
                "locust",
                build_locust_command(
                    config_path,
                    config,
                    master_port=port,
                    master_host=host,
                    locustfile=locustfile,
                    expect_workers_max_wait_s=wait,
                ),
                env=env,
            )
            self.children.append(master)
            for index in range(self.workers):
                worker = self.supervisor.start(
                    f"locust-worker-{index}",
                    build_worker_command(
                        "127.0.0.1", port, locustfile=locustfile_argument(locustfile, config)
                    ),
                    env=env,
                )
                self.children.append(worker)
                self.worker_children.append(worker)
            if self.remote_workers:
                self.progress(
                    f"load: waiting up to {self.remote_timeout_s:g}s for "
                    f"{self.remote_workers} remote worker(s): run "
                    f"'brownout worker --master HOST:{port}' on each (master bound to {host})"
                )
        t0 = _wait_first_request(
            self.run_dir.path, lambda: all(c.alive() for c in self.children), ready_timeout_s
        )
        if t0 is None:
            dead = next((c for c in self.children if not c.alive()), master)
            # The master gives up on missing workers; the local workers it then releases may
            # be seen to exit first, so its own log is the one that says why.
            if self.remote_workers and "Gave up waiting for workers" in master.tail():
                joined = [line for line in self._read_workers() if line["event"] == "joined"]
                raise InfrastructureError(
                    f"only {len(joined)} of {self.remote_workers} remote load worker(s) joined "
                    f"within {self.remote_timeout_s:g}s (--remote-timeout)"
                )
            raise InfrastructureError(
                f"the load generator sent no request within {ready_timeout_s:g}s; "
                f"its output ({dead.log_path}):\n{dead.tail()}"
            )
        self.t0 = t0
        load = self.scenario.load
        self.events.emit(
            "load_started",
            t=t0,
            model=load.model,
            users=load.closed_users if load.model == "closed" else None,
            rate=load.rate,
            workers=self.workers,
            remote_workers=self.remote_workers,
        )
        self._stage_starts = [t0 + offset for offset in _stage_offsets(self.scenario)]
        self.poll(time.time())
        return t0

    def poll(self, now: float) -> None:
        """Emit stage changes that are due; a worker that died makes the run invalid."""
        load = self.scenario.load
        while self._stages_emitted < len(self._stage_starts):
            at = self._stage_starts[self._stages_emitted]
            if at > now:
                break
            stage = load.stages[self._stages_emitted]
            self.events.emit(
                "load_stage",
                t=at,
                index=self._stages_emitted,
                users=stage.users,
                rate=stage.rate,
                ramp=stage.ramp,
                duration_s=stage.for_s,
            )
            self._stages_emitted += 1
        for worker in list(self.worker_children):
            if worker.alive():
                continue
            code = worker.process.returncode
            self.worker_children.remove(worker)
            self.children.remove(worker)
            self.supervisor.stop(worker)  # reaps it and records process_exited
            self._lost_workers.append(worker.name)
            message = (
                f"load worker {worker.name} exited with code {code} during the run: "
                f"its share of the load was not sent; last output:\n{worker.tail()}"
            )
            self.invalidate("load", message)
            self.progress(f"warning: {worker.name} exited (code {code}); the run is invalid")
        for line in self._read_workers():
            name = f"remote load worker {line['index']} ({line['host']} pid {line['pid']})"
            if line["event"] == "joined":
                self.progress(f"load: {name} joined")
            elif line["event"] == "lost":
                self._lost_workers.append(name)
                self.invalidate(
                    "load",
                    f"{name} stopped answering the master's heartbeats during the run: its "
                    "share of the load was not sent",
                )
                self.progress(f"warning: {name} was lost; the run is invalid")

    def _read_workers(self) -> list[dict[str, object]]:
        """The lines of the master's load_workers.jsonl not read before."""
        path = self.run_dir.path / "load_workers.jsonl"
        if not path.exists():
            return []
        with path.open(encoding="utf-8") as handle:
            lines = [line for line in handle if line.endswith("\n")]
        new = lines[self._workers_seen :]
        self._workers_seen = len(lines)
        out: list[dict[str, object]] = []
        for line in new:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def _warn(self, source: str, message: str) -> None:
        self.events.emit("warning", message=message, invalidates=True, source=source)

    def stop(self) -> None:
        """Stop the master (it stops its workers), then any worker left, then check the run."""
        if not self.children:
            return
        load = self.scenario.load
        self.events.emit("load_stopped", model=load.model, users=load.closed_users)
        for child in list(self.children):
            self.supervisor.stop(child, timeout_s=15)
        self.children.clear()
        self.worker_children.clear()
        self._check_generator()

    def _check_generator(self) -> None:
        if self.t0 is None:
            return
        start = self.t0 + self.scenario.warmup_s
        end = self.t0 + self.scenario.duration_s
        if self.scenario.load.model == "open":
            bound_ms = self.scenario.load.max_schedule_lag_s * 1000.0
            p99 = schedule_lag_p99_ms(self.run_dir.path, start, end)
            if p99 is not None and p99 > bound_ms:
                self.invalidate(
                    "load",
                    f"load generator fell behind its schedule: schedule lag p99 "
                    f"{p99:.1f} ms (limit {bound_ms:g} ms, load.max_schedule_lag); "
                    "latencies include the generator's own delay",
                )
        dropped = _count_lines(self.run_dir.path, "dropped*.jsonl", start, end)
        if dropped:
            self.events.emit(
                "load_dropped",
                count=dropped,
                max_in_flight=self.scenario.load.max_in_flight,
                message=(
                    f"{dropped} arrival(s) not sent: {self.scenario.load.max_in_flight} "
                    "requests were already in flight (load.max_in_flight)"
                ),
            )


def _dataset_rows(config: LoadConfig) -> list[dict[str, object]] | None:
    """The dataset's rows, embedded in the run locustfile (a remote worker has no file)."""
    if config.dataset_file is None:
        return None
    try:
        return read_dataset(Path(config.dataset_file))
    except DatasetError as exc:  # validated before the run; changed since
        raise InfrastructureError(f"load dataset: {exc}") from exc


def _stage_offsets(scenario: Scenario) -> list[float]:
    out, at = [], 0.0
    for stage in scenario.load.stages:
        out.append(at)
        at += stage.for_s
    return out


def schedule_lag_p99_ms(run_dir: Path, start: float, end: float) -> float | None:
    """The p99 of ``schedule_lag_ms`` over the requests due in [start, end), or None."""
    lags: list[float] = []
    for path in sorted(run_dir.glob("requests*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                lag = row.get("schedule_lag_ms")
                if lag is not None and start <= float(row.get("t_start", 0.0)) < end:
                    lags.append(float(lag))
    if not lags:
        return None
    lags.sort()
    return lags[min(len(lags) - 1, math.ceil(0.99 * len(lags)) - 1)]


def _count_lines(run_dir: Path, pattern: str, start: float, end: float) -> int:
    count = 0
    for path in run_dir.glob(pattern):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    if start <= float(json.loads(line)["t"]) < end:
                        count += 1
                except (ValueError, KeyError, TypeError):
                    continue
    return count


def _wait_first_request(
    run_dir: Path, alive: Callable[[], bool], deadline_s: float
) -> float | None:
    """Wall-clock start of the earliest first request of any request file, or None."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and alive():
        firsts: list[float] = []
        for path in run_dir.glob("requests*.jsonl"):
            with path.open("rb") as file:
                line = file.readline()
            if line.endswith(b"\n"):
                try:
                    firsts.append(float(json.loads(line)["t_start"]))
                except (ValueError, KeyError, TypeError):
                    firsts.append(time.time())
        if firsts:
            return min(firsts)
        time.sleep(0.05)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
