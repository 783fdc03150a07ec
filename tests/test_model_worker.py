"""The model thread's placement next to the audio thread (Linux scheduler calls)."""

from __future__ import annotations

import os
import threading

import pytest

from unsing.realtime.model_worker import current_cpu, share_core

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or not os.path.exists("/proc/thread-self/stat"),
    reason="Linux only",
)


def test_current_cpu_is_one_the_thread_may_run_on() -> None:
    assert current_cpu() in os.sched_getaffinity(0)


def test_share_core_keeps_the_caller_and_the_model_thread_on_the_callers_core() -> None:
    """Run from a thread of its own (the audio thread's part), so that the test process keeps
    its cores; the other thread stands for the model thread."""
    before = os.sched_getaffinity(0)
    release = threading.Event()
    model = threading.Thread(target=release.wait)
    model.start()
    seen: dict[str, object] = {}

    def audio() -> None:
        seen["core"] = share_core(model.native_id)
        seen["audio"] = os.sched_getaffinity(0)
        seen["model"] = os.sched_getaffinity(model.native_id)

    caller = threading.Thread(target=audio)
    caller.start()
    caller.join()
    release.set()
    model.join()
    core = seen["core"]
    assert core in os.sched_getaffinity(0)
    assert seen["audio"] == seen["model"] == {core}
    assert os.sched_getaffinity(0) == before  # this thread: untouched
