"""Work off the GUI thread: a task pool that hands results back on the GUI thread, and jobs.

Why Python threads and not ``QThreadPool``: the core keeps one SQLite connection per thread in a
``threading.local`` (``Library.store``). PySide6 runs each ``QRunnable`` under a fresh Python thread
state, so thread-locals are lost between tasks and every task would reopen the database. A pool of
long-lived Python threads keeps each thread's connection, and closes it when the thread ends
(``on_thread_exit``). Results and exceptions still come back through a queued Qt signal, so every
callback runs on the GUI thread.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal


class Task:
    """One call queued on a :class:`TaskPool`. ``cancel()`` drops it if it has not started, and
    drops its result if it has (the function itself runs to the end)."""

    __slots__ = ("fn", "args", "kwargs", "on_result", "on_error", "cancelled", "done")

    def __init__(self, fn, args, kwargs, on_result, on_error):
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.on_result, self.on_error = on_result, on_error
        self.cancelled = False
        self.done = False

    def cancel(self) -> None:
        self.cancelled = True


class TaskPool(QObject):
    """Runs functions on ``threads`` Python worker threads; callbacks run on the GUI thread.

    ``lifo=True`` runs the newest task first (what the user looks at now). With ``threads=1`` the
    tasks run one after the other, in order: the app's writes go through such a pool so they
    never race each other.
    """

    _delivered = Signal(object)

    def __init__(
        self,
        name: str,
        threads: int = 1,
        *,
        on_thread_exit: Callable[[], None] | None = None,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.name = name
        self._max_threads = max(1, threads)
        self._on_thread_exit = on_thread_exit
        self._queue: deque[Task] = deque()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._running = 0
        self._closed = False
        self._delivered.connect(self._deliver)  # emitted by workers: a queued connection

    def run(
        self,
        fn: Callable[..., Any],
        *args,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        **kwargs,
    ) -> Task:
        """Queue ``fn(*args, **kwargs)``. ``on_result(value)`` or ``on_error(exception)`` is then
        called on the GUI thread; without ``on_error`` the exception is raised there, like any
        exception in a slot (printed by Qt, fatal in tests)."""
        task = Task(fn, args, kwargs, on_result, on_error)
        with self._cond:
            if self._closed:
                task.cancelled = True
                return task
            self._queue.append(task)
            if self._idle == 0 and len(self._threads) < self._max_threads:
                thread = threading.Thread(
                    target=self._work, name=f"simdesk-{self.name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            else:
                self._cond.notify()
        return task

    def busy(self) -> bool:
        """True while a task is queued or running."""
        with self._cond:
            return bool(self._queue) or self._running > 0

    def _work(self) -> None:
        try:
            while True:
                with self._cond:
                    self._idle += 1
                    while not self._queue and not self._closed:
                        self._cond.wait()
                    self._idle -= 1
                    if self._closed:
                        return
                    task = self._queue.popleft()
                    if task.cancelled:
                        continue
                    self._running += 1
                try:
                    value, ok = task.fn(*task.args, **task.kwargs), True
                except BaseException as exc:  # delivered to on_error on the GUI thread
                    value, ok = exc, False
                finally:
                    with self._cond:
                        self._running -= 1
                try:
                    self._delivered.emit((task, ok, value))
                except RuntimeError:  # the pool's Qt object is gone (app shutting down)
                    return
        finally:
            if self._on_thread_exit is not None:
                self._on_thread_exit()

    def _deliver(self, payload) -> None:
        task, ok, value = payload
        task.done = True
        if task.cancelled or self._closed:
            return
        if ok:
            if task.on_result is not None:
                task.on_result(value)
        elif task.on_error is not None:
            task.on_error(value)
        else:
            raise value

    def shutdown(self, timeout: float = 10.0) -> None:
        """Drop queued tasks, let running ones finish (up to ``timeout``), stop the threads."""
        with self._cond:
            self._closed = True
            for task in self._queue:
                task.cancelled = True
            self._queue.clear()
            self._cond.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)


class Job(QObject):
    """A long piece of work on its own thread, with progress, a result, and cancel.

    Subclasses implement :meth:`work`. Signals arrive on the GUI thread, in order: any number of
    ``progress(object)``, then exactly one of ``succeeded(result)`` or ``failed(exception)``;
    ``ended`` follows either. A cancelled job still ends with ``succeeded`` (its result says how
    far it got) unless ``work`` raised.
    """

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    ended = Signal()
    _done = Signal(object)  # (ok, result)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.running = False
        self._done.connect(self._on_done)

    def work(self, cancel: threading.Event, progress: Callable[[Any], None]) -> Any:
        raise NotImplementedError

    def thread_exit(self) -> None:
        """Called on the job's thread when it ends (close per-thread resources here)."""

    def start(self) -> None:
        if self.running:
            raise RuntimeError("job already running")
        self.running = True
        self._cancel.clear()
        self._thread = threading.Thread(target=self._main, name=f"simdesk-{type(self).__name__}",
                                        daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the thread ends (for shutdown only); True if it did."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _emit_progress(self, value: Any) -> None:
        try:
            self.progress.emit(value)
        except RuntimeError:  # the Qt object is gone: the app is closing
            pass

    def _main(self) -> None:
        try:
            try:
                result, ok = self.work(self._cancel, self._emit_progress), True
            except BaseException as exc:
                result, ok = exc, False
            try:
                self._done.emit((ok, result))
            except RuntimeError:
                pass
        finally:
            self.thread_exit()

    def _on_done(self, outcome: tuple[bool, Any]) -> None:
        ok, result = outcome
        self.running = False
        if ok:
            self.succeeded.emit(result)
        else:
            self.failed.emit(result)
        self.ended.emit()
