"""Running the next item's work in a thread while the caller handles this one."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")  # the items and results of `one_ahead`
R = TypeVar("R")


def one_ahead(items: Iterable[T], work: Callable[[T], R]) -> Iterator[tuple[T, R]]:
    """Yield (item, work(item)) in order, the next item's work running in a thread while the caller handles this one.

    The next item is taken from `items` only after the caller is done with
    the current one, so at most two items' work is held at once. Used for
    the tiles of a frame (the network runs one while the previous is
    decided) and for the frames of a run (one is segmented while the
    previous one's outputs are written).
    """
    with ThreadPoolExecutor(max_workers=1) as thread:
        pending = None
        for item in items:
            running = (item, thread.submit(work, item))
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = running
        if pending is not None:
            yield pending[0], pending[1].result()
