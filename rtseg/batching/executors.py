"""Where batch items run: local worker processes, or Ray actors (one machine or a cluster).

Both read alike: N workers, each holding an :class:`~rtseg.batching.worker.ItemRunner` (models
loaded once), are handed one item at a time; a worker that dies mid-item has the item run again on
another worker (locally a fresh process; on Ray, Ray restarts the actor and retries the call), and
the dead worker's partial outputs are removed. :class:`Control` says when to stop handing out items
(the first Ctrl-C) and when to abort the running ones (the second).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol

from rtseg.batching.items import ItemTask
from rtseg.batching.worker import FAILED, ItemRunner, ReportRow, worker_name
from rtseg.segment.providers import usable_cores

log = logging.getLogger("rtseg")

RETRIES = 2
"""Times an item is run again after its worker died under it (a crash, the OOM killer, a lost node)."""
POLL_S = 0.2


@dataclass
class Control:
    """Set from the signal handler (or the API's caller): stop handing out items; abort running ones."""

    stopping: threading.Event = field(default_factory=threading.Event)
    aborting: threading.Event = field(default_factory=threading.Event)


class ItemEvents(Protocol):
    """What an executor reports of each item, from the driver's thread: started on a worker, frames
    done so far, and its report row when it ended."""

    def started(self, task: ItemTask, worker: str) -> None: ...
    def frames(self, task: ItemTask, frames: int) -> None: ...
    def done(self, row: ReportRow) -> None: ...


def default_workers() -> int:
    """Local workers: one per CPU this process may use (each runs its pipeline's stages in threads,
    so two workers on two cores keep both busy while one waits on decoding or encoding)."""
    return usable_cores()


def failed_row(task: ItemTask, error: str, worker: str = "", status: str = FAILED) -> ReportRow:
    return ReportRow(task.input, task.output, status, worker=worker, error=error, index=task.index,
                     outputs=list(task.outputs))


def remove_partials(tasks: list[ItemTask]) -> None:
    """Remove partial outputs left by workers that are gone (killed, aborted) beside these items' outputs."""
    from rtseg.sinks.atomic import remove_stale_partials

    for folder in sorted({Path(p).parent for t in tasks for p in t.outputs}):
        remove_stale_partials(folder)


# -- local processes -------------------------------------------------------------------------------------


def _local_worker(conn: Connection, number: int) -> None:
    """A worker process: items in, rows out; frames done reported as it goes."""
    from rtseg.graph.memory import tune_malloc

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C is the batch's to handle

    def abort(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, abort)  # the batch's abort: the running item removes its partial outputs
    tune_malloc()
    runner = ItemRunner(worker_name("local", number))
    try:
        conn.send(("ready", runner.name))
        while True:
            task: ItemTask | None = conn.recv()
            if task is None:
                break
            last = 0.0

            def on_frames(n: int, task: ItemTask = task) -> None:
                nonlocal last
                now = time.monotonic()
                if now - last >= POLL_S:
                    last = now
                    conn.send(("frames", task.index, n))

            conn.send(("done", runner.run(task, on_frames)))
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        pass
    finally:
        runner.close()


@dataclass
class _Proc:
    process: Any
    conn: Connection
    number: int
    name: str = ""
    task: ItemTask | None = None
    aborted: bool = False


class LocalExecutor:
    """N worker processes on this machine (spawned: no state inherited but the arguments)."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self.timings: dict[str, float] = {}
        """``start_s``: until every worker process is up (imports done, ready for items)."""

    def _start(self, number: int) -> _Proc:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_local_worker, args=(child, number), name=f"rtseg-batch-{number}", daemon=True)
        process.start()
        child.close()
        return _Proc(process, parent, number)

    def run(self, tasks: list[ItemTask], control: Control, events: ItemEvents) -> list[ReportRow]:
        pending = collections.deque(tasks)
        attempts: dict[int, int] = collections.Counter()
        rows: list[ReportRow] = []
        t0 = time.perf_counter()
        procs = [self._start(i) for i in range(min(self.workers, len(tasks)))]
        numbers = len(procs)
        aborted = False
        try:
            while procs and (any(p.task for p in procs) or (pending and not control.stopping.is_set())):
                if control.aborting.is_set() and not aborted:
                    aborted = True
                    for p in procs:
                        if p.task is not None:
                            p.aborted = True
                            with contextlib.suppress(OSError):
                                p.process.terminate()  # SIGTERM: the item stops and removes its partial output
                for p in procs:
                    if p.task is None and p.name and pending and not control.stopping.is_set():
                        p.task = pending.popleft()
                        p.conn.send(p.task)
                        events.started(p.task, p.name)
                ready = wait([p.conn for p in procs] + [p.process.sentinel for p in procs], timeout=POLL_S)
                for p in list(procs):
                    for msg in self._messages(p) if p.conn in ready else ():
                        if msg[0] == "ready":
                            p.name = msg[1]
                            if "start_s" not in self.timings and all(q.name for q in procs):
                                self.timings["start_s"] = round(time.perf_counter() - t0, 3)
                        elif msg[0] == "frames" and p.task is not None:
                            events.frames(p.task, msg[2])
                        elif msg[0] == "done":
                            p.task = None
                            rows.append(msg[1])
                            events.done(msg[1])
                    if p.process.sentinel in ready or not p.process.is_alive():
                        p.process.join(timeout=5)
                        procs.remove(p)
                        task = p.task
                        if task is not None:
                            remove_partials([task])
                            code = p.process.exitcode
                            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                            if p.aborted:
                                row = failed_row(task, "aborted (second Ctrl-C): partial outputs removed", p.name)
                            elif attempts[task.index] < RETRIES and not control.stopping.is_set():
                                attempts[task.index] += 1
                                log.warning("worker %s died (%s) during %s: running it again", p.name, how, task.input)
                                pending.appendleft(task)
                                row = None
                            else:
                                row = failed_row(task, f"the worker process died ({how}) while running this item",
                                                 p.name)
                            if row is not None:
                                rows.append(row)
                                events.done(row)
                        if pending and not control.stopping.is_set() and not aborted:
                            procs.append(self._start(numbers))
                            numbers += 1
        finally:
            for p in procs:
                with contextlib.suppress(OSError):
                    p.conn.send(None)
            deadline = time.monotonic() + 10
            for p in procs:
                p.process.join(timeout=max(0.1, deadline - time.monotonic()))
                if p.process.is_alive():
                    p.process.kill()
                    p.process.join(timeout=5)
        return rows

    @staticmethod
    def _messages(p: _Proc) -> list[Any]:
        """What the worker has sent so far (nothing more once its end of the pipe is closed)."""
        out = []
        try:
            while p.conn.poll():
                out.append(p.conn.recv())
        except (OSError, EOFError):
            pass  # the worker is gone; its sentinel says how
        return out


# -- Ray -------------------------------------------------------------------------------------------------


class RayWorker:
    """A Ray actor's body: one :class:`ItemRunner` (models loaded once) per actor process."""

    def __init__(self, number: int) -> None:
        from rtseg.graph.memory import tune_malloc

        tune_malloc()
        self.runner = ItemRunner(worker_name("ray", number))

    def run(self, task: ItemTask) -> ReportRow:
        return self.runner.run(task)

    def pid(self) -> int:
        return os.getpid()


def probe_ray_address(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once, in one line, when nothing listens at ``ray://HOST:PORT`` or ``HOST:PORT`` (Ray itself
    retries an unreachable head for minutes). ``auto`` and ``local`` are left to Ray."""
    import socket
    from urllib.parse import urlsplit

    from rtseg.errors import ConfigError, ExecutorError

    if address in ("auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise ConfigError(f"--ray-address {address!r}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExecutorError(f"cannot reach the Ray cluster at {address}: {reason}") from exc


class RayExecutor:
    """The items on Ray: actors holding a loaded model, fed one item at a time.

    ``address`` None starts a local Ray (``num_cpus`` = ``workers``); ``auto`` or ``ray://host:10001``
    joins a cluster, whose nodes must see the inputs and the output folder at the same paths (a
    shared filesystem, or object storage mounted on every node) and have rtseg installed. An actor
    that dies is restarted by Ray, which runs its item again (``max_restarts`` / ``max_task_retries``).
    """

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        self.workers = workers
        self.address = address
        self.timings: dict[str, float] = {}
        """``init_s`` (starting or joining Ray), ``start_s`` (until every actor is up), ``shutdown_s``."""

    def run(self, tasks: list[ItemTask], control: Control, events: ItemEvents) -> list[ReportRow]:
        try:
            import ray
        except ImportError:
            from rtseg.errors import ConfigError

            raise ConfigError('the Ray executor needs Ray: pip install "rtseg[ray]"') from None
        started = False
        t0 = time.perf_counter()
        if not ray.is_initialized():
            local = self.address is None
            if self.address is not None:
                probe_ray_address(self.address)
            try:
                with warnings.catch_warnings():  # Ray's own "connection timed out" warning: the error below says it
                    warnings.simplefilter("ignore")
                    ray.init(address=self.address, num_cpus=(self.workers or default_workers()) if local else None,
                             include_dashboard=False if local else None, logging_level=logging.WARNING,
                             log_to_driver=False, configure_logging=True)
            except Exception as exc:  # ConnectionError, a timeout, a missing Ray Client, a version mismatch
                from rtseg.errors import ExecutorError

                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
                first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
                raise ExecutorError(f"cannot start or reach {where}: {first[:300]}") from exc
            started = True
        self.timings["init_s"] = round(time.perf_counter() - t0, 3)
        try:
            return self._run(ray, tasks, control, events)
        finally:
            if started:
                t1 = time.perf_counter()
                ray.shutdown()
                self.timings["shutdown_s"] = round(time.perf_counter() - t1, 3)

    def _run(self, ray: Any, tasks: list[ItemTask], control: Control, events: ItemEvents) -> list[ReportRow]:
        n = self.workers or max(1, int(ray.available_resources().get("CPU", 1)))
        n = min(n, len(tasks)) or 1
        actor_cls = ray.remote(num_cpus=1, max_restarts=RETRIES, max_task_retries=RETRIES)(RayWorker)
        t0 = time.perf_counter()
        actors = [actor_cls.remote(i) for i in range(n)]
        ray.get([a.pid.remote() for a in actors])  # every actor up (imports done) before the clock starts
        self.timings["start_s"] = round(time.perf_counter() - t0, 3)
        names = {id(a): f"ray-{i}" for i, a in enumerate(actors)}
        free = list(actors)
        pending = collections.deque(tasks)
        inflight: dict[Any, tuple[Any, ItemTask]] = {}
        rows: list[ReportRow] = []
        try:
            while inflight or (pending and not control.stopping.is_set()):
                if control.aborting.is_set():
                    for actor, task in inflight.values():
                        ray.kill(actor, no_restart=True)
                        row = failed_row(task, "aborted (second Ctrl-C): partial outputs removed", names[id(actor)])
                        rows.append(row)
                        events.done(row)
                    # The killed actors' processes may take a moment to go; their partials go with them.
                    time.sleep(0.5)
                    remove_partials([t for _, t in inflight.values()])
                    inflight.clear()
                    break
                while free and pending and not control.stopping.is_set():
                    actor, task = free.pop(), pending.popleft()
                    inflight[actor.run.remote(task)] = (actor, task)
                    events.started(task, names[id(actor)])
                done, _ = ray.wait(list(inflight), num_returns=1, timeout=POLL_S)
                for ref in done:
                    actor, task = inflight.pop(ref)
                    try:
                        row = ray.get(ref)
                    except Exception as exc:  # the actor died more often than Ray retries, or Ray failed
                        row = failed_row(task, f"Ray could not run this item: {type(exc).__name__}: "
                                               f"{' '.join(str(exc).split())[:300]}", names[id(actor)])
                    remove_partials([task])
                    rows.append(row)
                    events.done(row)
                    free.append(actor)
        finally:
            for actor in actors:
                with contextlib.suppress(Exception):
                    ray.kill(actor, no_restart=True)
        return rows


Executor = LocalExecutor | RayExecutor
ExecutorFactory = Callable[[], Executor]
