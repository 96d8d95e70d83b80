"""Engine work that loads torch runs in a child process.  In a thread it shares the GIL with
the window: importing torch and loading the models (C code that holds the GIL for hundreds
of milliseconds) froze the GUI (measured: 0.3 s during a scan, 0.69 s for the first face
drawn by hand).  The child has its own interpreter; SQLite in WAL mode lets the window read
while it writes, and a killed child loses at most the batch in flight.

The parent side is an ordinary Job function: it relays the child's progress, forwards cancel
and pause, and returns what the child's function returned (plain data: unpickling must not
import torch into the window's process)."""

from __future__ import annotations

import importlib
import multiprocessing
import queue
import traceback
from dataclasses import dataclass

from engine.jobs import CancelToken, ProgressCallback

POLL_S = 0.05


@dataclass(frozen=True)
class ChildCall:
    """`function` is "package.module:name", imported in the child and called as
    function(*args, progress=..., cancel=...)."""

    function: str
    args: tuple = ()
    nice: int = 0  # > 0: the window's threads get the cores first


def context() -> multiprocessing.context.SpawnContext:
    return multiprocessing.get_context("spawn")  # never fork a process that runs Qt


def _child_main(call: ChildCall, messages, cancel_event, running_event) -> None:  # noqa: ANN001
    try:
        import os

        if call.nice and hasattr(os, "nice"):
            os.nice(call.nice)
        module, name = call.function.split(":")
        function = getattr(importlib.import_module(module), name)

        def report(progress) -> None:  # noqa: ANN001
            running_event.wait()  # paused: stop at this report until resumed (or cancelled)
            messages.put(("progress", progress))

        result = function(*call.args, progress=report, cancel=CancelToken(cancel_event))
        messages.put(("result", result))
    except BaseException:  # noqa: BLE001 - everything reaches the parent as text
        messages.put(("error", traceback.format_exc()))


class ChildProcess:
    """Create on the GUI thread; `run` is the Job function; `set_paused` follows the Job."""

    def __init__(self, call: ChildCall, what: str) -> None:
        ctx = context()
        self.what = what
        self.messages = ctx.Queue()
        self.cancel_event = ctx.Event()
        self.running_event = ctx.Event()
        self.running_event.set()
        self.process = ctx.Process(target=_child_main, args=(call, self.messages, self.cancel_event, self.running_event),
                                   name=f"facenet-{what}", daemon=True)

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.running_event.clear()
        else:
            self.running_event.set()

    def run(self, progress: ProgressCallback, cancel: CancelToken):  # noqa: ANN201 - the child's result
        self.process.start()
        try:
            while True:
                if cancel.cancelled:
                    self.cancel_event.set()
                    self.running_event.set()
                try:
                    kind, payload = self.messages.get(timeout=POLL_S)
                except queue.Empty:
                    if not self.process.is_alive():
                        raise RuntimeError(f"the {self.what} process ended unexpectedly (exit code {self.process.exitcode}); "
                                           "the library keeps everything committed") from None
                    continue
                if kind == "progress":
                    progress(payload)
                elif kind == "result":
                    return payload
                else:
                    raise RuntimeError(f"the {self.what} failed:\n{payload}")
        finally:
            self.process.join(timeout=30)
            if self.process.is_alive():
                self.process.kill()
