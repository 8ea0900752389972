"""Stopping a run on Ctrl-C or SIGTERM (what batch systems send), even where Python swallows the exception.

A signal handler raises its exception wherever the main thread happens to
be, which may be a garbage-collection callback, where Python prints
"Exception ignored" and goes on. So the handlers below also remember the
signal, and long loops call `check()` at safe points (between frames), which
raises it again: a run then stops within one frame.
"""
from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager


class Terminated(BaseException):
    """SIGTERM received: the run stops as after Ctrl-C (exit status 143 at the command line)."""


_received: list[int] = []  # signals received while `stop_on_signals` is active, not yet raised at a safe point


def _raise_for(signum: int) -> None:
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def _handler(signum, frame) -> None:
    _received.append(signum)
    _raise_for(signum)


def check() -> None:
    """Raise `Terminated` or `KeyboardInterrupt` when a signal came that was not raised yet (or was swallowed)."""
    if _received:
        _raise_for(_received.pop())


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """While inside, SIGTERM raises `Terminated` and Ctrl-C `KeyboardInterrupt` in the main thread; `check` sees both.

    Such an exception swallowed by a callback is not printed ("Exception
    ignored"): `check` raises it again. Outside the main thread it does
    nothing (signals can only be handled there).
    """
    try:
        previous = {signum: signal.signal(signum, _handler) for signum in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not the main thread
        yield
        return
    _received.clear()
    printing = sys.unraisablehook

    def quiet(unraisable) -> None:  # a stop swallowed by a callback: raised again at the next `check`, not printed
        if not isinstance(unraisable.exc_value, (Terminated, KeyboardInterrupt)):
            printing(unraisable)

    sys.unraisablehook = quiet
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = printing
        _received.clear()
