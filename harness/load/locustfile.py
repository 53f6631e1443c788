"""The locustfile: runs ONLY inside Locust processes (``python -m locust -f <this file>``).

This is the one module of brownout, with ``harness.load.sending`` and ``harness.load.lean`` (and
the locustfile-only custom.py and relay.py), allowed to import Locust
(and so gevent, which Locust monkey-patches into the interpreter); nothing in the harness
imports it. It reads the LoadConfig named by ``BROWNOUT_LOAD_CONFIG`` and drives one of two
traffic models on Locust's own extension points:

- closed: ``ClosedUser`` users, each sending and waiting; ``stages`` become a
  ``LoadTestShape`` whose ``tick`` returns the users wanted now (master or single process);
- open: one ``ArrivalDispatcher`` user per process that sends each arrival of the seeded
  schedule (harness.load.schedule) when it is due, in its own greenlet, up to
  ``max_in_flight``; an arrival over the cap is written to ``dropped.jsonl``, never delayed.

Distributed (``--master``/``--worker``): the master runs the shape and tells the workers, over
Locust's messaging, when the schedule starts; each worker sends its share of the arrivals. A
local worker writes its own ``requests.w<N>.jsonl``; a remote one (``brownout worker``) ships
its lines to the master, which writes the same file (harness.load.relay).

The config comes from the generated run locustfile (harness.load.runfile, which a remote worker
downloads from the master) or, when this file is run directly, from ``BROWNOUT_LOAD_CONFIG``.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import gevent.pool
import psutil
from locust import FastHttpUser, LoadTestShape, constant, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from harness.bodies import BodyLog, redactor_from_env
from harness.load import embedded
from harness.load.config import (
    CONFIG_ENV_VAR,
    LoadConfig,
    LoadConfigError,
    read_load_config,
    shard_path,
)
from harness.load.health import LoadHealthSample
from harness.load.records import (
    FLUSH_INTERVAL_S,
    DroppedArrival,
    RequestLogWriter,
    RequestRecord,
)
from harness.load.relay import Receiver, Shipper, is_remote_worker
from harness.load.schedule import arrival_offsets, share
from harness.load.sending import Rows, Sender
from harness.scenario.dataset import DatasetError, read_dataset

#: Custom message: the master tells every worker the epoch second the schedule starts at.
ORIGIN_MESSAGE = "brownout_origin"
#: How far ahead of now the schedule starts, so every worker has it before the first arrival.
#: 0.3 s was too short on a busy machine (or for a remote worker): the first half second of a
#: two-worker run was sent 40-60 ms late. The run's zero is its first recorded request, so the
#: lead shifts nothing in the timeline.
_ORIGIN_LEAD_S = 1.0


def _load_config() -> LoadConfig:
    if embedded.CONFIG_JSON is not None:
        try:
            return LoadConfig.from_json(embedded.CONFIG_JSON)
        except LoadConfigError as exc:
            sys.exit(f"brownout locustfile: {exc}")
    path = os.environ.get(CONFIG_ENV_VAR)
    if not path:
        sys.exit(f"brownout locustfile: {CONFIG_ENV_VAR} must name a LoadConfig file; it is unset")
    try:
        return read_load_config(Path(path))
    except LoadConfigError as exc:
        sys.exit(f"brownout locustfile: {exc}")


def _load_rows(config: LoadConfig) -> Rows:
    if embedded.ROWS_JSON is not None:
        return Rows(json.loads(embedded.ROWS_JSON), config.dataset_order)
    if config.dataset_file is None:
        return Rows((), config.dataset_order)
    try:
        return Rows(read_dataset(Path(config.dataset_file)), config.dataset_order)
    except DatasetError as exc:
        sys.exit(f"brownout locustfile: {exc}")


CONFIG = _load_config()
_ROWS = _load_rows(CONFIG)
_origin = gevent.event.AsyncResult()
_user_numbers = itertools.count()
_request_numbers = itertools.count()
_health_greenlet: gevent.Greenlet | None = None
#: Lines a record file holds in memory before writing them (the flush timer writes sooner).
_BATCH_LINES = 256


class _Output:
    """This process's record files, opened on first use: a worker learns its index (and so
    its file names) only once the master has acknowledged it."""

    def __init__(self) -> None:
        self.environment: Environment | None = None
        self._requests: RequestLogWriter | None = None
        self._dropped: RequestLogWriter | None = None
        self._bodies: BodyLog | None = None
        #: A remote worker's link to the master (None: this process writes its own files).
        self.shipper: Shipper | None = None
        #: The master's end of that link.
        self.receiver: Receiver | None = None
        self._flusher: gevent.Greenlet | None = None
        self._batch_lines = _BATCH_LINES
        #: The test is stopping (Locust's test_stopping, or quitting): no new arrival is sent.
        self.ending = False
        atexit.register(self.flush)

    def _writer(self, path: Path) -> RequestLogWriter:
        if self._flusher is None:
            self._flusher = gevent.spawn(self._flush_every, FLUSH_INTERVAL_S)
        return RequestLogWriter(path, batch_lines=self._batch_lines)

    def _flush_every(self, interval_s: float) -> None:
        while True:
            gevent.sleep(interval_s)
            self.flush()

    def flush(self) -> None:
        """Write out every record line held in memory."""
        for writer in (self._requests, self._dropped):
            if writer is not None:
                writer.flush()

    def stopping_test(self) -> None:
        """The test is ending: write what is held, and each line as it comes from now on
        (requests in flight finish during shutdown, and the process may then exit at once)."""
        for writer in (self._requests, self._dropped):
            if writer is not None:
                writer.unbuffered()
        self._batch_lines = 1
        self.ending = True

    def stopping(self) -> bool:
        """The master asked this remote worker for its last records: send nothing new."""
        return self.shipper is not None and self.shipper.stopping.is_set()

    def identity(self) -> tuple[int, int]:
        """(index, count) of this process among the load's workers."""
        runner = self.environment.runner if self.environment is not None else None
        if isinstance(runner, WorkerRunner):
            return int(runner.worker_index), CONFIG.workers
        return 0, 1

    def _shard(self) -> int | None:
        runner = self.environment.runner if self.environment is not None else None
        return int(runner.worker_index) if isinstance(runner, WorkerRunner) else None

    def request(self, record: RequestRecord) -> None:
        if self.shipper is not None:
            self.shipper.add("requests", record.to_json())
            return
        if self._requests is None:
            self._requests = self._writer(shard_path(Path(CONFIG.requests_file), self._shard()))
        self._requests.write(record)

    def body(self, request_id: str, t: float, sent: Any, status: int, received: bytes) -> None:
        if self._bodies is None:
            assert CONFIG.bodies_file is not None
            path = shard_path(Path(CONFIG.bodies_file), self._shard())
            self._bodies = BodyLog(path, redactor_from_env())
        self._bodies.exchange(request_id, t, sent, status, received)

    def dropped(self, record: DroppedArrival) -> None:
        if self.shipper is not None:
            self.shipper.add("dropped", record.to_json())
            return
        if self._dropped is None:
            default = Path(CONFIG.requests_file).with_name("dropped.jsonl")
            base = Path(CONFIG.dropped_file) if CONFIG.dropped_file else default
            self._dropped = self._writer(shard_path(base, self._shard()))
        self._dropped.write(record)


OUTPUT = _Output()
SENDER = Sender(CONFIG, _ROWS, OUTPUT.request, OUTPUT.body if CONFIG.bodies_file else None)


def _sample_health(environment: Environment, path: Path, interval_s: float) -> None:
    """Every interval: this process's CPU, users, requests so far and the loop's wake-up lag."""
    process = psutil.Process()
    process.cpu_percent(None)  # the first reading only starts the measurement
    with path.open("a", encoding="utf-8") as handle:
        while True:
            asleep = time.perf_counter()
            gevent.sleep(interval_s)
            lag_ms = max(0.0, (time.perf_counter() - asleep - interval_s) * 1000.0)
            runner = environment.runner
            sample = LoadHealthSample(
                t=time.time(),
                cpu_percent=float(process.cpu_percent(None)),
                users=int(runner.user_count) if runner is not None else 0,
                requests=SENDER.sent,
                lag_ms=round(lag_ms, 3),
            )
            handle.write(sample.to_json() + "\n")
            handle.flush()


def _on_init(environment: Environment, **_kwargs: Any) -> None:
    # gevent's loop caches "now" from when it was created; on a busy machine importing Locust
    # can take seconds, and timers set from the stale time (--run-time, the first sleeps) then
    # fire that much early: a 3 s run stopped after 0.1 s. Refresh it before anything is timed.
    gevent.get_hub().loop.update_now()
    OUTPUT.environment = environment
    if environment.shape_class is not None and not isinstance(environment.runner, WorkerRunner):
        # Locust installs its SIGTERM handler only once a shape-driven headless test is over
        # (main.py joins the shape greenlet first), so until then SIGTERM killed the process
        # outright: no stop, no quit message to the workers, in-flight requests unrecorded.
        gevent.signal_handler(signal.SIGTERM, lambda: gevent.spawn(_end_shaped_test))
    if isinstance(environment.runner, MasterRunner):
        requests_file = Path(CONFIG.requests_file)
        dropped = Path(CONFIG.dropped_file or requests_file.with_name("dropped.jsonl"))
        OUTPUT.receiver = Receiver(environment, requests_file, dropped)
    if isinstance(environment.runner, WorkerRunner):
        if is_remote_worker():
            OUTPUT.shipper = Shipper(environment, lambda: SENDER.in_flight)

        def on_origin(msg: Any, **_kw: Any) -> None:
            if not _origin.ready():
                _origin.set(float(msg.data["origin"]))

        environment.runner.register_message(ORIGIN_MESSAGE, on_origin)


def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    global _health_greenlet
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return  # the health of the whole load is sampled where it is run: master or local
    if CONFIG.health_file is not None and _health_greenlet is None:
        path = Path(CONFIG.health_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        _health_greenlet = gevent.spawn(_sample_health, environment, path, CONFIG.health_interval_s)


def _on_spawning_complete(user_count: int, **_kwargs: Any) -> None:
    # Every worker now runs its dispatcher: start the schedule a moment from now, the same
    # instant for all of them (a single process starts it in its dispatcher).
    environment = OUTPUT.environment
    runner = environment.runner if environment is not None else None
    if isinstance(runner, MasterRunner) and not _origin.ready():
        origin = time.time() + _ORIGIN_LEAD_S
        _origin.set(origin)
        runner.send_message(ORIGIN_MESSAGE, {"origin": origin})


def _end_shaped_test() -> None:
    """SIGTERM during a shaped test: collect the remote workers' last records, then end the
    shape, after which Locust quits the way it does at the end of a test (workers included)."""
    if OUTPUT.receiver is not None:
        OUTPUT.receiver.drain(CONFIG.stop_timeout_s + 3.0)
    runner = OUTPUT.environment.runner if OUTPUT.environment is not None else None
    shape = getattr(runner, "shape_greenlet", None)
    if shape is not None:
        shape.kill(block=False)


def _test_stopping(**_kwargs: Any) -> None:
    OUTPUT.stopping_test()
    # Workers leaving from now on are the end of the test, not a lost share of the load.
    if OUTPUT.receiver is not None:
        OUTPUT.receiver.closing = True


def _stop(**_kwargs: Any) -> None:
    OUTPUT.stopping_test()
    if OUTPUT.receiver is not None:
        # Before Locust tells the workers to quit: remote workers' last records, bounded.
        OUTPUT.receiver.drain(CONFIG.stop_timeout_s + 3.0)
    # The request logs stay open: on SIGTERM Locust fires `quitting` while users may still be
    # finishing requests (--stop-timeout), and those must be recorded too. From here every
    # line is written as it comes, so process exit loses nothing.
    if _health_greenlet is not None:
        _health_greenlet.kill(block=False)


# Locust's EventHook.add_listener is unannotated.
events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_on_test_start)  # type: ignore[no-untyped-call]
events.spawning_complete.add_listener(_on_spawning_complete)  # type: ignore[no-untyped-call]
events.test_stopping.add_listener(_test_stopping)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_stop)  # type: ignore[no-untyped-call]


class _BrownoutUser(FastHttpUser):
    abstract = True
    host = CONFIG.host
    network_timeout = CONFIG.request.timeout_s
    connection_timeout = CONFIG.request.timeout_s
    # Retrying is the SUT's business; the load generator must count each attempt once.
    max_retries = 0

    def on_start(self) -> None:
        # Accept every status as a response: by default geventhttpclient turns 4xx/5xx into an
        # exception and drops the body, and the error body is part of what we record.
        # (A per-user override of a ClassVar, hence the ignore.)
        self.client.client.valid_response_codes = frozenset(range(100, 600))  # type: ignore[misc]


if CONFIG.model == "closed" and CONFIG.locustfile is not None:
    # load.locustfile: the user's User classes (loaded by Locust from the next -f file) send
    # the load; brownout only stamps and records their requests (harness.load.custom).
    from harness.load.custom import install

    install(OUTPUT.request)

if CONFIG.model == "closed":

    class ClosedUser(_BrownoutUser):
        """A closed-loop user: send a request, wait ``wait_s``, repeat."""

        # With a custom locustfile the user's classes send the load instead.
        abstract = CONFIG.locustfile is not None
        wait_time = constant(CONFIG.wait_s)

        def on_start(self) -> None:
            super().on_start()
            # One random stream per user, numbered in spawn order (and by worker), so a seeded
            # run draws the same requests in the same order for each user.
            index, workers = self.identity = OUTPUT.identity()
            self.number = next(_user_numbers) * workers + index
            seed = None if CONFIG.seed is None else f"{CONFIG.seed}/{self.number}"
            self.rng = random.Random(seed)

        @task
        def send_request(self) -> None:
            if OUTPUT.stopping():
                raise StopUser
            # Dataset rows in order across the whole load: this process takes every
            # workers-th request number, starting at its index.
            index, workers = self.identity
            SENDER.send(self.client, self.rng, next(_request_numbers) * workers + index)

    if CONFIG.stages:

        class StagedUsers(LoadTestShape):
            """Closed-model stages: the users wanted now, recomputed about once a second."""

            def tick(self) -> tuple[int, float] | None:
                elapsed = float(self.get_run_time())  # type: ignore[no-untyped-call]
                if elapsed >= CONFIG.run_time_s:
                    return None  # a shape replaces --run-time: it ends the test itself
                users = round(CONFIG.profile().value_at(elapsed))
                return max(users, 1), max(float(users), CONFIG.spawn_rate)

else:

    class ArrivalDispatcher(_BrownoutUser):
        """Sends this process's share of the open-model arrivals, each when it is due."""

        # One connection per request in flight: the cap is this process's share of it.
        concurrency = max(1, share(CONFIG.max_in_flight, 0, CONFIG.workers))
        wait_time = constant(0)

        @task
        def dispatch(self) -> None:
            index, workers = OUTPUT.identity()
            cap = max(1, share(CONFIG.max_in_flight, index, workers))
            if workers == 1 and not _origin.ready():
                _origin.set(time.time() + 0.01)  # a single process starts the schedule now
            origin = _origin.get()
            in_flight = gevent.pool.Pool()
            for number, offset in arrival_offsets(
                CONFIG.profile(),
                CONFIG.arrivals,
                seed=CONFIG.seed,
                worker_index=index,
                workers=workers,
            ):
                due = origin + offset
                if OUTPUT.stopping():
                    raise StopUser  # requests in flight go on in their own greenlets
                if OUTPUT.ending:
                    # The test is stopping: send nothing new, and end once the requests in
                    # flight are recorded. Sending on (as this loop did) until Locust killed
                    # it after --stop-timeout lost the last arrivals: sent, answered, never
                    # recorded, as the process exited (a SUT's provider call then joined no
                    # user request).
                    in_flight.join()
                    raise StopUser
                # gevent times sleeps from the loop's cached clock, so a wake-up can come
                # early after a busy loop iteration: sleep again rather than send before due.
                while (delay := due - time.time()) > 0:
                    gevent.sleep(delay)
                rng = random.Random(None if CONFIG.seed is None else f"{CONFIG.seed}/{number}")
                if len(in_flight) >= cap:
                    name = SENDER.choose(rng).label
                    OUTPUT.dropped(DroppedArrival(t=due, name=name, in_flight=cap))
                    continue
                in_flight.spawn(SENDER.send, self.client, rng, number, due)

    class OneDispatcherPerWorker(LoadTestShape):
        """The open model runs one dispatcher user per process; the schedule sets the rate."""

        def tick(self) -> tuple[int, float] | None:
            elapsed = float(self.get_run_time())  # type: ignore[no-untyped-call]
            if elapsed >= CONFIG.run_time_s:
                return None  # a shape replaces --run-time: it ends the test itself
            return CONFIG.workers, float(CONFIG.workers)


# What the generated run locustfile (harness.load.runfile) re-exports: Locust looks for User
# and shape classes in the module it loaded.
__all__ = [
    name
    for name in ("ClosedUser", "StagedUsers", "ArrivalDispatcher", "OneDispatcherPerWorker")
    if name in globals()
]
