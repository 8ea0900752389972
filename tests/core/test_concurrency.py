"""The next item's work in a thread (ccdseg/core/concurrency.py): results in order, at most two items at once."""
import threading

import pytest

from ccdseg.core.concurrency import one_ahead


def test_results_come_in_order_each_with_its_item():
    assert list(one_ahead(range(5), lambda k: k * k)) == [(k, k * k) for k in range(5)]
    assert list(one_ahead([], lambda k: k)) == []


def test_the_next_item_runs_while_the_caller_handles_this_one_and_no_further():
    taken, started = [], {}

    def items():
        for k in range(4):
            taken.append(k)
            yield k

    def work(k):
        started[k] = threading.current_thread().name
        return k

    for item, result in one_ahead(items(), work):
        assert result == item and started[item] != threading.current_thread().name  # done in the worker thread
        assert taken == list(range(min(item + 2, 4)))  # this item and the next are taken, no more


def test_an_error_of_the_work_reaches_the_caller_at_its_item():
    def work(k):
        if k == 2:
            raise ValueError("frame 2 is bad")
        return k

    got = []
    with pytest.raises(ValueError, match="frame 2"):
        for item, _ in one_ahead(range(4), work):
            got.append(item)
    assert got == [0, 1]
