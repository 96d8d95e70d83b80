"""Work on a thread, its result on the GUI thread: a queued signal carries each outcome back
the moment it is ready (no timer polling futures).  One worker per Delivery, so the reads
of one kind run in the order asked."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor

from PySide6.QtCore import QObject, Qt, Signal, Slot

# (the result, or None) and (the exception it raised, or None); called on the GUI thread
Arrival = Callable[[object, BaseException | None], None]


class Delivery(QObject):
    _arrived = Signal(object, object, object)  # callback, result, error: queued to this object's thread

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        # Always queued, even when the work was done before its callback was added (then the
        # callback runs on the submitting thread): an outcome never arrives inside submit().
        self._arrived.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._closed = False

    def submit(self, work: Callable[[], object], arrival: Arrival) -> Future:
        future = self._pool.submit(work)
        future.add_done_callback(lambda done: self._send(arrival, done))
        return future

    def _send(self, arrival: Arrival, done: Future) -> None:  # the worker's thread
        if self._closed:
            return
        try:
            error = done.exception()
        except CancelledError as cancelled:
            error = cancelled
        try:
            self._arrived.emit(arrival, None if error else done.result(), error)
        except RuntimeError:  # the window went away while the work ran
            pass

    @Slot(object, object, object)
    def _deliver(self, arrival: Arrival, result: object, error: BaseException | None) -> None:
        if not self._closed:
            arrival(result, error)

    def close(self) -> None:
        """Wait for the work under way; nothing arrives after this."""
        self._closed = True
        self._pool.shutdown(wait=True)
