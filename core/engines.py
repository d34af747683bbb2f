"""Where the clips of a batch run: local processes (the default, standard library only) or Ray tasks on a
local instance or an existing cluster (the optional extra `parascale[ray]`, imported only here and only
when asked for).

Both engines take a module-level worker (picklable by reference) and its tasks, keep a bounded number of
tasks in flight, and hand each result to `on_result` in the calling process as soon as it is collected,
so the caller can log it before the next one. When `stop()` turns true (the caller's Ctrl-C handler) they
submit nothing more, let the clips already running finish, hand those in too, and return: an
interrupted batch leaves no partial file and loses no finished clip. A KeyboardInterrupt (a second
Ctrl-C) stops at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from .errors import ParaScaleError, one_line

Worker = Callable[[Any], Any]
OnResult = Callable[[Any], None]
Stop = Callable[[], bool]


def _never() -> bool:
    return False
ENGINES = ("local", "ray")
RAY_MISSING = "--engine ray needs Ray, an optional dependency: pip install 'parascale[ray]'"


def _ignore_interrupts() -> None:
    """Pool workers leave Ctrl-C to the parent, which lets them finish their clip (no half-written file)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalEngine:
    """`processes` spawned worker processes (1: in this process)."""

    name = "local"

    def __init__(self, processes: int = 1):
        self.processes = max(1, int(processes))

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def workers(self) -> int:
        return self.processes

    def run(self, worker: Worker, tasks: Iterable[Any], on_result: OnResult, stop: Stop = _never) -> None:
        if self.processes == 1:
            for task in tasks:
                if stop():
                    return
                on_result(worker(task))
            return
        context = multiprocessing.get_context("spawn")
        window = 2 * self.processes  # enough to keep every worker busy while one result is collected
        pool = context.Pool(processes=self.processes, initializer=_ignore_interrupts)
        pending: deque = deque()
        try:
            for task in tasks:
                if stop():
                    break
                pending.append(pool.apply_async(worker, (task,)))
                while len(pending) >= window or (pending and pending[0].ready()):
                    on_result(pending.popleft().get())
            while pending:  # after a stop too: the clips already running finish and are handed in
                on_result(pending.popleft().get())
            pool.close()
            pool.join()
        finally:
            pool.terminate()


def require_ray() -> ModuleType:
    """The ray module, or one clear error line when the optional extra is not installed."""
    try:
        import ray
    except ImportError:
        raise ParaScaleError(RAY_MISSING) from None
    return ray


class RayEngine:
    """Ray tasks (one clip each, one CPU each) on the cluster at `address` (or RAY_ADDRESS), else on a
    local instance started here. An instance already initialized by the caller is used as it is. The
    cluster's workers need parascale installed and must see the input and output paths (a shared file
    system)."""

    name = "ray"

    def __init__(self, address: str | None = None):
        self.address = address
        self.ray: ModuleType | None = None
        self._started = False

    def __enter__(self) -> RayEngine:
        ray = require_ray()
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, include_dashboard=False, logging_level=logging.WARNING)
            except Exception as error:  # noqa: BLE001 - Ray raises many kinds (ConnectionError, ValueError, ...)
                where = self.address or "a local instance"
                raise ParaScaleError(one_line(f"--engine ray: cannot start or reach {where}: "
                                              f"{type(error).__name__}: {error}")) from None
            self._started = True
        self.ray = ray
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started and self.ray is not None:
            self.ray.shutdown()
        self._started = False

    def workers(self) -> int:
        assert self.ray is not None, "use RayEngine as a context manager"
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def run(self, worker: Worker, tasks: Iterable[Any], on_result: OnResult, stop: Stop = _never) -> None:
        ray = self.ray
        assert ray is not None, "use RayEngine as a context manager"
        remote = ray.remote(num_cpus=1)(worker)
        window = 2 * self.workers()  # bounded: 80k clips never become 80k object references at once
        pending: list = []
        try:
            for task in tasks:
                if stop():
                    break
                pending.append(remote.remote(task))
                while len(pending) >= window:
                    done, pending = ray.wait(pending, num_returns=1)
                    on_result(ray.get(done[0]))
            while pending:  # after a stop too: the clips already running finish and are handed in
                done, pending = ray.wait(pending, num_returns=1)
                on_result(ray.get(done[0]))
        finally:
            for ref in pending:  # only after a KeyboardInterrupt or an error of our own
                ray.cancel(ref)


def make_engine(name: str, processes: int = 1, ray_address: str | None = None) -> LocalEngine | RayEngine:
    if name == "local":
        return LocalEngine(processes)
    if name == "ray":
        return RayEngine(ray_address)
    raise ParaScaleError(f"--engine must be one of {', '.join(ENGINES)}, got {name!r}")


__all__ = ["ENGINES", "LocalEngine", "RayEngine", "make_engine", "require_ray", "RAY_MISSING"]
