"""Functions the engine-host tests run in the child process (importable there by name)."""

from __future__ import annotations

import os
import time

from engine.jobs import Progress

_remembered: list[object] = []


def whoami(progress, cancel) -> int:  # noqa: ANN001
    return os.getpid()


def remember(value: object, progress, cancel) -> int:  # noqa: ANN001
    _remembered.append(value)
    return len(_remembered)


def recall(progress, cancel) -> list[object]:  # noqa: ANN001
    return list(_remembered)


def fail(message: str, progress, cancel) -> None:  # noqa: ANN001
    raise ValueError(message)


def until_cancelled(progress, cancel) -> str:  # noqa: ANN001
    for step in range(1000):
        if cancel.cancelled:
            return f"cancelled after {step} steps"
        progress(Progress("waiting", step, 1000))
        time.sleep(0.01)
    return "never cancelled"


def scheduling(progress, cancel) -> tuple[int, int]:  # noqa: ANN001
    """This process's scheduling class and nice value."""
    return os.sched_getscheduler(0), os.nice(0)


def burn_cpu(seconds: float, progress=None, cancel=None) -> tuple[float, float]:  # noqa: ANN001
    """Spin until this process has had `seconds` of CPU time: (cpu seconds, wall seconds)."""
    import time

    start_cpu, start_wall = time.process_time(), time.monotonic()
    while time.process_time() - start_cpu < seconds and not (cancel is not None and cancel.cancelled):
        sum(range(10_000))
    return time.process_time() - start_cpu, time.monotonic() - start_wall


def ignore_cancel(progress=None, cancel=None) -> str:  # noqa: ANN001
    """Work that never looks at its cancel token (a model load, a stuck read): it blocks on
    an event nobody sets, until the process is killed."""
    import threading

    threading.Event().wait()
    return "finished"
