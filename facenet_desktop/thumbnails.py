"""Face and photo thumbnails for the views: cut by the engine on worker threads (disk-cached JPEGs),
handed to the GUI thread through a queue, kept in memory as QPixmaps (LRU), and announced
with a signal so a model repaints just that item.

Plain Python threads and a queue, not QRunnables emitting a signal per thumbnail: thousands
of those in a fast scroll crashed PySide6 (a refcount error in its signal marshalling).  A
worker wakes the GUI thread with one queued signal when the queue was empty, and the GUI
thread drains whatever has arrived by then: one signal per batch, and no timer polling."""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPixmap

from engine.library.browse import face_thumbnail, photo_thumbnail
from engine.library.store import Library

log = logging.getLogger(__name__)

MEMORY_ITEMS = 3000
MAX_DELIVERED_PER_TICK = 200  # a tiny 128-px JPEG decodes in well under a millisecond


def photo_key(photo_id: int) -> int:
    """A whole photo's thumbnail key: negative, so it never meets a face id."""
    return -photo_id


class ThumbnailLoader(QObject):
    """Keys are face ids, or photo_key(photo id) for a whole photo."""

    ready = Signal(int)  # the key whose pixmap is now available
    _wake = Signal()  # from a worker: something arrived in the queue (queued to the GUI thread)

    def __init__(self, library: Library, size: int = 128, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.size = size
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="thumbnails")
        self._done: queue.SimpleQueue[tuple[int, str | None]] = queue.SimpleQueue()
        self._cache: OrderedDict[int, QPixmap] = OrderedDict()
        self._pending: set[int] = set()
        self.placeholder = QPixmap(size, size)
        self.placeholder.fill(QColor("#d9dde3"))
        self._wake_pending = threading.Lock()  # held from a wake-up signal until its drain starts
        self._wake.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def pixmap(self, face_id: int | None) -> QPixmap:
        """The thumbnail if loaded, else the placeholder (and a load is queued)."""
        if face_id is None:
            return self.placeholder
        cached = self._cache.get(face_id)
        if cached is not None:
            self._cache.move_to_end(face_id)
            return cached
        if face_id not in self._pending:
            self._pending.add(face_id)
            self.pool.submit(self._cut, face_id)
        return self.placeholder

    def _cut(self, face_id: int) -> None:  # worker thread: no Qt objects here
        try:
            if face_id < 0:
                path = photo_thumbnail(self.library, -face_id, self.size)
            else:
                path = face_thumbnail(self.library, face_id, self.size)
        except Exception:  # noqa: BLE001 - a face without a thumbnail shows the placeholder
            log.warning("thumbnail %s failed", face_id, exc_info=True)
            path = None
        self._done.put((face_id, None if path is None else str(path)))
        if self._wake_pending.acquire(blocking=False):  # else a wake-up is on its way already
            try:
                self._wake.emit()
            except RuntimeError:  # the loader went away (window closed)
                self._wake_pending.release()

    def _deliver(self) -> None:
        if self._wake_pending.locked():
            self._wake_pending.release()  # what arrives from now on wakes the next drain
        for _ in range(MAX_DELIVERED_PER_TICK):
            try:
                face_id, path = self._done.get_nowait()
            except queue.Empty:
                break
            self._pending.discard(face_id)
            # Sizes, not isNull(): PySide6 6.12 on Python 3.11 loses a reference to True or
            # False per call of some bool-returning methods; thousands of calls crash.
            pixmap = QPixmap(path) if path else None
            self._cache[face_id] = pixmap if pixmap is not None and pixmap.width() > 0 else self.placeholder
            while len(self._cache) > MEMORY_ITEMS:
                self._cache.popitem(last=False)
            self.ready.emit(face_id)
        if not self._done.empty():  # more than one drain's worth: go on after other events
            QTimer.singleShot(0, self._deliver)

    def forget(self) -> None:
        """Drop the pixmaps in memory (they are keyed by id): after faces were added, an id
        may now be another face's.  The disk cache is keyed by what a thumbnail shows."""
        self._cache.clear()

    def wait(self) -> None:
        """Finish queued work (tests, shutdown)."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="thumbnails")
        self._deliver()
