"""The engine host: one child process that serves quick engine calls one after another."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

import host_calls

from engine.jobs import CancelToken
from facenet_desktop.engine_process import BACKGROUND_NICE, ChildCall, ChildProcess, EngineHost

HANG_CEILING_S = 120  # only to catch a starved child, never a speed budget


def _call(host: EngineHost, function: str, *args, progress=None, cancel=None):  # noqa: ANN001, ANN202
    return host.job(getattr(host_calls, function), *args)(progress or (lambda p: None), cancel or CancelToken())


@pytest.fixture
def host():  # noqa: ANN201
    host = EngineHost("test calls")
    yield host
    host.close()


def test_calls_share_one_child_that_keeps_its_state(host) -> None:
    first = _call(host, "whoami")
    assert first != os.getpid()
    assert _call(host, "remember", "a") == 1
    assert _call(host, "remember", "b") == 2
    assert _call(host, "recall") == ["a", "b"]
    assert _call(host, "whoami") == first == host.pid


def test_an_error_reaches_the_caller_and_the_host_serves_on(host) -> None:
    pid = _call(host, "whoami")
    with pytest.raises(RuntimeError, match="ValueError: broken on purpose"):
        _call(host, "fail", "broken on purpose")
    assert _call(host, "whoami") == pid


def test_a_killed_child_is_replaced_by_the_next_call(host) -> None:
    _call(host, "remember", "lost")
    pid = host.pid
    os.kill(pid, 9)
    time.sleep(0.2)
    assert _call(host, "whoami") not in (pid, None)
    assert _call(host, "recall") == []  # a fresh child


def test_an_idle_child_leaves_and_a_new_one_starts_on_demand() -> None:
    host = EngineHost("idle test", idle_s=1.0)
    try:
        first = _call(host, "whoami")
        process = host._process
        process.join(timeout=5)
        assert not process.is_alive()  # it left by itself after idle_s
        second = _call(host, "whoami")
        assert second != first
    finally:
        host.close()


def test_cancel_reaches_the_call_in_the_child(host) -> None:
    cancel = CancelToken()
    seen: list[object] = []
    results: list[str] = []
    thread = threading.Thread(target=lambda: results.append(_call(host, "until_cancelled", progress=seen.append,
                                                                   cancel=cancel)))
    thread.start()
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    cancel.cancel()
    thread.join(timeout=30)
    assert seen and results and results[0].startswith("cancelled after")
    assert _call(host, "recall") == []  # the next call runs normally, uncancelled


def test_close_ends_the_child() -> None:
    host = EngineHost("close test")
    _call(host, "whoami")
    process = host._process
    host.close()
    assert not process.is_alive()
    assert host.pid is None


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux only")
def test_background_children_run_niced_in_the_batch_class() -> None:
    """A scan's child is niced and in the batch class (it never preempts the window's
    thread when that wakes up), not in the idle class.  A plain child keeps the normal class."""
    background = ChildProcess(ChildCall(host_calls.scheduling, background=True), "test")
    policy, nice = background.run(lambda p: None, CancelToken())
    assert policy == os.SCHED_BATCH and nice == min(19, os.nice(0) + BACKGROUND_NICE)
    plain = ChildProcess(ChildCall(host_calls.scheduling), "test")
    assert plain.run(lambda p: None, CancelToken())[0] == os.sched_getscheduler(0) == os.SCHED_OTHER


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling classes")
def test_a_background_child_progresses_while_other_programs_hold_every_core() -> None:
    """With every core busy (a browser, a build), a scan still gets its share of the cores.
    In the idle class it got almost none: one CPU-second of work took minutes."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        work = ChildProcess(ChildCall(host_calls.burn_cpu, (1.0,), background=True), "test")
        result, stop = [], CancelToken()
        runner = threading.Thread(target=lambda: result.append(work.run(lambda p: None, stop)), daemon=True)
        runner.start()
        runner.join(timeout=HANG_CEILING_S)
        stop.cancel()  # a starved child stops at its next check
        runner.join(timeout=HANG_CEILING_S)
        assert result and result[0][0] >= 1.0, f"the background child got too little CPU to do 1 s of work in {HANG_CEILING_S} s"
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_an_error_names_the_work_that_failed_not_the_host(host) -> None:
    """The host runs recognition and faces drawn by hand alike: a recognition crash was
    reported as a failure to add a face."""
    with pytest.raises(RuntimeError, match=r"^the recognition failed:"):
        host.job(host_calls.fail, "broken on purpose", what="recognition")(lambda p: None, CancelToken())
    with pytest.raises(RuntimeError, match=r"^the fail failed:"):  # unnamed: the function's name
        _call(host, "fail", "broken on purpose")
