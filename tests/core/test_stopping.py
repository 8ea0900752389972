"""Stopping on Ctrl-C or SIGTERM (ccdseg/core/stopping.py): raised where it comes, or at the next check if swallowed."""
import gc
import os
import signal
import weakref

import pytest

from ccdseg.core import stopping


def test_sigterm_raises_terminated_and_the_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(stopping.Terminated):
        with stopping.stop_on_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10**6):
                pass
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_a_stop_swallowed_by_a_collection_callback_is_raised_at_the_next_check(capsys):
    class Frame:
        pass

    def callback(_):
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs inside this callback: Python ignores what it raises

    with stopping.stop_on_signals():
        frame = Frame()
        frame.cycle = frame
        keep = weakref.ref(frame, callback)
        del frame
        gc.collect()
        assert keep() is None
        with pytest.raises(stopping.Terminated):
            stopping.check()
        stopping.check()  # raised once
    assert "Exception ignored" not in capsys.readouterr().err
