"""The one progress renderer of the command line, and Ctrl-C as the core's cancel event.

Every long command hands its job a ``ProgressRenderer`` as the ``progress`` callback: on a
terminal it redraws one line in place (a bar, counts, rate and ETA, the current item); anywhere
else (logs, CI, a pipe) it writes a plain line when the phase changes, a phase ends, or every few
seconds, and never a carriage return. It writes to stderr only, so ``--json`` output on stdout
stays clean.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

from simdesk.core.progress import Progress
from simdesk.core.units import format_bytes, format_duration

from simdesk.cli.common import print_err


class ProgressRenderer:
    """Draws ``Progress`` values; use it as a context manager so the line is ended on exit."""

    def __init__(self, stream=None, width: int = 28, interval: float = 5.0):
        self.stream = stream or sys.stderr
        self.width = width
        self.interval = interval
        self.is_tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()
        self._drawn = False
        self._last_plain = float("-inf")
        self._phase: str | None = None
        self._phase_start = (0.0, 0)  # (time, done) when the phase was first seen, for the rate

    def __enter__(self) -> "ProgressRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.finish()

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        new_phase = p.phase != self._phase
        if new_phase:
            self._phase, self._phase_start = p.phase, (now, p.done)
        line = self.line(p, now)
        if self.is_tty:
            columns = 100
            try:
                columns = os.get_terminal_size(self.stream.fileno()).columns
            except (OSError, ValueError):
                pass
            self.stream.write("\r" + line[: columns - 1].ljust(columns - 1))
            self._drawn = True
        elif new_phase or (p.total and p.done >= p.total) or now - self._last_plain >= self.interval:
            self._last_plain = now
            self.stream.write(line + "\n")
        self.stream.flush()

    def line(self, p: Progress, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        count = format_bytes if p.unit == "bytes" else str
        unit = "" if p.unit == "bytes" else f" {p.unit}"
        if p.total:
            filled = int(self.width * min(max(p.overall or 0.0, 0.0), 1.0))
            text = f"{p.phase} [{'#' * filled}{'-' * (self.width - filled)}] {count(p.done)}/{count(p.total)}{unit}"
        else:
            text = f"{p.phase}… {count(p.done)}{unit}"
        if p.fraction is not None:  # one phase of several: the time so far says more than a rate
            text += f"  {format_duration(now - self.started)}"
        else:
            rate, eta = p.rate, p.eta_seconds
            since, first = self._phase_start
            if not rate and p.phase == self._phase and now - since > 0.5:  # measure it here
                rate = (p.done - first) / (now - since)
                eta = (p.total - p.done) / rate if p.total and rate > 0 else None
            if rate:
                shown = f"{format_bytes(rate)}/s" if p.unit == "bytes" else f"{rate:.1f}{unit}/s"
                text += f"  {shown}" + (f"  ETA {format_duration(eta)}" if p.total else "")
        if p.label:
            text += f"  {os.path.basename(p.label.rstrip(os.sep)) or p.label}"
        return text

    def finish(self) -> None:
        """End the line drawn in place (before anything else is printed)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


@contextmanager
def cancel_on_interrupt():
    """The job's cancel event: the first Ctrl-C sets it (the job stops cleanly), a second aborts."""
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print_err("\nStopping after the current batch… (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)
