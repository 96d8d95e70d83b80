"""Engine work that loads torch runs in a child process.  In a thread it shares the GIL with
the window: importing torch and loading the models (C code that holds the GIL for hundreds
of milliseconds) froze the GUI (measured: 0.3 s during a scan, 0.69 s for the first face
drawn by hand).  The child has its own interpreter; SQLite in WAL mode lets the window read
while it writes, and a killed child loses at most the batch in flight.

One kind of child runs everything (`_child_main`: the calls that come, one at a time):
`ChildProcess` gives it one call and lets it end (scans, fine-tune, regrouping, each in a fresh
process that gives its memory back), `EngineHost` keeps it for the next quick call (models
load once).  The parent side is an ordinary Job function: it relays the child's progress,
forwards cancel and pause, and returns what the child's function returned (plain data:
unpickling must not import torch into the window's process)."""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from engine.jobs import CancelToken, ProgressCallback

POLL_S = 0.05


@dataclass(frozen=True)
class ChildCall:
    """`function` is a module-level function (facenet_desktop.child_work holds the app's),
    sent to the child by reference and called there as function(*args, progress=..., cancel=...).
    Its module must not import torch at import time: the window imports it too."""

    function: Callable[..., object]
    args: tuple = ()
    nice: int = 0  # > 0: the window's threads get the cores first
    background: bool = False  # long CPU-bound work: BACKGROUND_NICE and the batch class (Linux)


def context() -> multiprocessing.context.SpawnContext:
    return multiprocessing.get_context("spawn")  # never fork a process that runs Qt


def _run_call(call: ChildCall, messages, cancel_event, running_event) -> None:  # noqa: ANN001
    """One call in this (child) process; its result or traceback goes to `messages`."""
    try:
        def report(progress) -> None:  # noqa: ANN001
            running_event.wait()  # paused: stop at this report until resumed (or cancelled)
            messages.put(("progress", progress))

        result = call.function(*call.args, progress=report, cancel=CancelToken(cancel_event))
        messages.put(("result", result))
    except BaseException:  # noqa: BLE001 - everything reaches the parent as text
        messages.put(("error", traceback.format_exc()))


BACKGROUND_NICE = 2


def _be_nice(nice: int, background: bool = False) -> None:
    """Lower this process's priority before it starts any thread (threads inherit it).

    `background` is for scans and regrouping: nice BACKGROUND_NICE in Linux's SCHED_BATCH
    class, which does not preempt a thread that wakes up (the window's), yet keeps a fair
    share of the cores.  SCHED_IDLE with nice 10, used before, starved the scan outright
    while other programs kept the cores busy (a browser, a build: about 20 s of CPU in 6.5
    minutes at load 7 on 2 cores).  Measured with benchmarks/gui_responsiveness.py
    --load-only beside two CPU-bound programs: nice 5 kept 19% of the scan's idle speed,
    nice 2 keeps 33-34% (target 30%); on an idle machine the window's longest stall during
    the scan stays under 40 ms at nice 2 (26 ms at nice 5).  Where the class does not exist,
    nice is all there is."""
    nice = max(nice, BACKGROUND_NICE) if background else nice
    if nice and hasattr(os, "nice"):
        os.nice(nice)
    if background and hasattr(os, "SCHED_BATCH"):
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError:
            pass  # not allowed here (some containers): nice still applies


@dataclass
class _Channels:
    """Between the window's process and one child: calls in, progress and results out, and
    the cancel and run (not paused) flags the child's progress reports look at."""

    calls: object
    messages: object
    cancel_event: object
    running_event: object


PARENT_CHECK_S = 1.0


def end_with_parent(parent: int | None = None) -> None:
    """In a child: end this process once the window's process is gone, however it ended
    (SIGTERM and SIGKILL give it no chance to stop its children; two were left running).
    A daemon thread watches for the parent to change; what the child committed stays."""
    parent = parent if parent is not None else os.getppid()

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def _child_main(channels: _Channels, nice: int, background: bool, idle_s: float) -> None:
    """Every child: run the calls that come, one at a time, until None or `idle_s` without one."""
    end_with_parent()
    _be_nice(nice, background)
    while True:
        try:
            call = channels.calls.get(timeout=idle_s)
        except queue.Empty:
            return  # idle: give the memory back; the parent starts a new child when needed
        if call is None:
            return
        _run_call(call, channels.messages, channels.cancel_event, channels.running_event)


def _start_child(what: str, nice: int = 0, background: bool = False,
                 idle_s: float = 300.0) -> tuple[multiprocessing.process.BaseProcess, _Channels]:
    """A child process and its channels, not yet started (one-shot and kept-alive alike)."""
    ctx = context()
    channels = _Channels(ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Event())
    channels.running_event.set()
    process = ctx.Process(target=_child_main, args=(channels, nice, background, idle_s), name=f"facenet-{what}",
                          daemon=True)
    return process, channels


def _relay(what: str, process, channels: _Channels, progress: ProgressCallback,  # noqa: ANN001
           cancel: CancelToken) -> object:  # the child's result
    """Parent side of one call: progress relayed, cancel forwarded, result or error returned."""
    while True:
        if cancel.cancelled:
            channels.cancel_event.set()
            channels.running_event.set()
        try:
            kind, payload = channels.messages.get(timeout=POLL_S)
        except queue.Empty:
            if not process.is_alive():
                raise RuntimeError(f"the {what} process ended unexpectedly (exit code {process.exitcode}); "
                                   "the library keeps everything committed") from None
            continue
        if kind == "progress":
            progress(payload)
        elif kind == "result":
            return payload
        else:
            raise RuntimeError(f"the {what} failed:\n{payload}")


_LIVE_CHILDREN: weakref.WeakSet = weakref.WeakSet()


def kill_all_children() -> int:
    """Kill every one-shot child still running (a window closing whose jobs did not stop
    when asked); their relays then end with an error and their threads finish.  Each
    child committed its work in batches, so at most the batch in flight is lost."""
    killed = 0
    for child in list(_LIVE_CHILDREN):
        if child.process.is_alive():
            child.process.kill()
            killed += 1
    return killed


class ChildProcess:
    """Create on the GUI thread; `run` is the Job function; `set_paused` follows the Job."""

    def __init__(self, call: ChildCall, what: str) -> None:
        self.what = what
        self.process, self.channels = _start_child(what, call.nice, call.background)
        self.channels.calls.put(call)
        self.channels.calls.put(None)  # one call, then the child ends

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.channels.running_event.clear()
        else:
            self.channels.running_event.set()

    def run(self, progress: ProgressCallback, cancel: CancelToken):  # noqa: ANN201 - the child's result
        self.process.start()
        _LIVE_CHILDREN.add(self)
        try:
            return _relay(self.what, self.process, self.channels, progress, cancel)
        finally:
            self.process.join(timeout=30)
            if self.process.is_alive():
                self.process.kill()


class EngineHost:
    """A child that stays up between quick calls, so the models they need load once: a face
    drawn by hand took about 3 s in a fresh child (torch and the three models loading each
    time).  Calls run one at a time, in the order they come.  The child exits after `idle_s`
    without a call (its memory goes back); the parent retires it a little earlier than that,
    so a call never reaches a child that is just leaving, and starts a new one when needed."""

    def __init__(self, what: str, nice: int = 0, idle_s: float = 300.0) -> None:
        self.what, self.nice, self.idle_s = what, nice, idle_s
        self._lock = threading.Lock()
        self._process = None
        self._last_used = 0.0

    def job(self, function: Callable[..., object], *args: object, what: str | None = None):  # noqa: ANN201 - a Job function
        """A Job function that runs `function(*args, progress=, cancel=)` in the host; `what`
        names the work in its errors (the host runs several kinds: a recognition crash was
        reported as a failure to add a face)."""
        call = ChildCall(function, tuple(args))
        what = what or function.__name__.replace("_", " ")

        def run(progress: ProgressCallback, cancel: CancelToken):  # noqa: ANN202
            with self._lock:
                self._ensure_started()
                self._channels.cancel_event.clear()
                self._channels.running_event.set()
                self._channels.calls.put(call)
                try:
                    return _relay(what, self._process, self._channels, progress, cancel)
                finally:
                    self._last_used = time.monotonic()
        return run

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    def _ensure_started(self) -> None:
        fresh_enough = time.monotonic() - self._last_used < self.idle_s / 2
        if self._process is not None and self._process.is_alive() and fresh_enough:
            return
        self._stop()
        self._process, self._channels = _start_child(self.what, self.nice, idle_s=self.idle_s)
        self._process.start()
        self._last_used = time.monotonic()

    def _stop(self) -> None:
        if self._process is None:
            return
        if self._process.is_alive():
            self._channels.calls.put(None)
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(timeout=5)
        self._process = None

    def close(self) -> None:
        """End the child (a call in flight is stopped: what it committed stays)."""
        if self._process is not None and self._process.is_alive():
            self._channels.cancel_event.set()
            self._channels.running_event.set()
        if self._lock.acquire(timeout=10):
            try:
                self._stop()
            finally:
                self._lock.release()
        elif self._process is not None:
            self._process.kill()
