"""What every long job (scan, cluster, train...) takes: a cancel token and a progress callback."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import Cancelled


class CancelToken:
    """Set from any thread (Ctrl-C handler, GUI button); the job checks it between units of
    work, commits what it has and raises Cancelled (see `stop_if_cancelled`)."""

    def __init__(self, event=None) -> None:  # noqa: ANN001 - any Event (threading or multiprocessing)
        self._event = event if event is not None else threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def stop_if_cancelled(self, partial: object | None = None) -> None:
        """Raise Cancelled (carrying `partial`, the job's summary so far) if cancelled."""
        if self.cancelled:
            raise Cancelled(partial)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled (or `timeout` seconds); whether it was cancelled."""
        return self._event.wait(timeout)


@dataclass(frozen=True)
class Progress:
    phase: str  # a word for the user: "finding photos", "analyzing", ...
    done: int
    total: int | None  # None while unknown
    item: str = ""  # what is being worked on (a path)
    eta_seconds: float | None = None


ProgressCallback = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """The default callback."""
