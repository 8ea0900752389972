"""The one exception type for mistakes a user can fix, and the command-line guard around it."""
from __future__ import annotations

import sys
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
