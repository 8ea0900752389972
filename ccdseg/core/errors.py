"""The one exception type for mistakes a user can fix, the command-line guard around it, a quiet stderr."""
from __future__ import annotations

import atexit
import os
import re
import sys
import threading
from collections.abc import Callable


class UserInputError(Exception):
    """A problem the user can fix: a missing file, a bad shape, a bad option.

    Command-line entry points catch it (`run_command`), print its one-line
    message and exit with a non-zero status instead of a traceback.
    """


def run_command(body: Callable[[], int | None], interrupted: str = "interrupted") -> int:
    """Run a script's work; turn user errors and Ctrl-C into one `error:` line and an exit status.

    Returns `body()`'s status (None counts as 0), 1 after a `UserInputError`,
    130 after Ctrl-C (with `interrupted` as the message).
    """
    try:
        status = body()
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"error: {interrupted}", file=sys.stderr)
        return 130
    return 0 if status is None else int(status)


# %% Keeping stderr for messages that matter
_NATIVE_LOG = re.compile(rb"^\s*(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] |WARNING: All log messages before absl|"
                         rb"To enable the following instructions: )")
_MAYBE_NATIVE = re.compile(rb"^\s*(?:[IWEF]\d|WARNING: All|To enable)")
_quiet = False


def quiet_native_logs() -> None:
    """Drop the TensorFlow runtime's C++ log lines ('I0000 ... cudart_stub.cc', 'E0000 ... cuInit') from stderr.

    TensorFlow writes them from C++, where no environment variable of this
    release silences them, and they look like failures. Standard error is
    passed through a pipe that forwards every other line unchanged. Call it
    once, first thing, when a script runs as a command (not under pytest,
    which captures stderr itself).
    """
    global _quiet
    if _quiet:
        return
    _quiet = True
    sys.stderr.flush()
    original = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)

    def pump() -> None:
        pending = b""
        while chunk := os.read(read_fd, 65536):
            pending += chunk
            *complete, pending = re.split(rb"(?<=[\n\r])", pending)
            for part in complete:
                if not _NATIVE_LOG.match(part):
                    os.write(original, part)
            if pending and not _MAYBE_NATIVE.match(pending):
                os.write(original, pending)
                pending = b""
        if pending and not _NATIVE_LOG.match(pending):
            os.write(original, pending)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(original, 2)
        thread.join(timeout=5)

    atexit.register(restore)
