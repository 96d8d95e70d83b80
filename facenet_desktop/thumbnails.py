"""Face and photo thumbnails for the views: looked up in the engine's disk cache on worker
threads, cut in a child process when missing, handed to the GUI thread through a queue, kept
in memory as QPixmaps (LRU), and announced with a signal so a model repaints just that item.

Cutting decodes a whole photo.  On threads of the window's process that held the GIL in
bursts: beside two busy programs the window stalled 20-60 ms during a scan, 9-12 ms with
thumbnails off (benchmarks/gui_responsiveness.py --load-only).  A child process also keeps a
decoder that crashes on a strange photo away from the window.

Plain Python threads and a queue, not QRunnables emitting a signal per thumbnail: thousands
of those in a fast scroll crashed PySide6 (a refcount error in its signal marshalling).  A
worker wakes the GUI thread with one queued signal when the queue was empty, and the GUI
thread drains whatever has arrived by then: one signal per batch, and no timer polling."""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPixmap

from engine.library.storage.store import Library
from engine.library.storage.thumbnails import ThumbnailSource, cut, face_source, photo_source
from facenet_desktop.engine_process import context, end_with_parent

log = logging.getLogger(__name__)

MEMORY_ITEMS = 3000
MAX_DELIVERED_PER_TICK = 200  # a tiny 128-px JPEG decodes in well under a millisecond
CUTTING_PROCESSES = 2
CUTTER_IDLE_MS = 60_000  # the cutting processes (about 46 MB each) end after this long with nothing to cut


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
        self.pool = ThreadPoolExecutor(max_workers=CUTTING_PROCESSES, thread_name_prefix="thumbnails")
        self._cutter: ProcessPoolExecutor | None = None  # started at the first thumbnail not cut yet
        self._cutter_lock = threading.Lock()
        self._idle_release = QTimer(self)  # one shot, restarted whenever the loader falls idle: not a poll
        self._idle_release.setSingleShot(True)
        self._idle_release.setInterval(CUTTER_IDLE_MS)
        self._idle_release.timeout.connect(self._release_cutter)
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
                source = photo_source(self.library, -face_id, self.size)
            else:
                source = face_source(self.library, face_id, self.size)
            path = None if source is None else source.cached if source.is_cut() else self._cut_elsewhere(source)
        except Exception:  # noqa: BLE001 - a face without a thumbnail shows the placeholder
            log.warning("thumbnail %s failed", face_id, exc_info=True)
            path = None
        self._done.put((face_id, None if path is None else str(path)))
        if self._wake_pending.acquire(blocking=False):  # else a wake-up is on its way already
            try:
                self._wake.emit()
            except RuntimeError:  # the loader went away (window closed)
                self._wake_pending.release()

    def _cut_elsewhere(self, source: ThumbnailSource) -> Path | None:
        """Cut in the child process.  If it dies (a decoder crashing on some photo) every cut
        in flight fails: each is tried once more in a new child, so only the photo that
        kills it twice goes without a thumbnail."""
        for attempt in range(2):
            cutter = self._running_cutter()
            try:
                return cutter.submit(cut, source).result()
            except BrokenProcessPool:
                with self._cutter_lock:
                    if self._cutter is cutter:
                        self._cutter = None  # the next cut starts a new child
                log.warning("the thumbnail process ended while cutting %s (attempt %d)", source.photo_path, attempt + 1)
        return None

    def _running_cutter(self) -> ProcessPoolExecutor:
        with self._cutter_lock:
            if self._cutter is None:
                self._cutter = ProcessPoolExecutor(max_workers=CUTTING_PROCESSES, mp_context=context(),
                                                   initializer=end_with_parent)
            return self._cutter

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
        elif not self._pending and self._cutter is not None:
            self._idle_release.start()

    def _release_cutter(self) -> None:
        """Let the cutting processes end; the next missing thumbnail starts new ones.  Only
        when nothing is pending: a pending key is a worker thread that may be using them."""
        if self._pending:
            return
        cutter = self._take_cutter()
        if cutter is not None:
            cutter.shutdown(wait=False)  # they exit on their own; the window does not wait for it

    def _take_cutter(self) -> ProcessPoolExecutor | None:
        """The running cutter, if any, no longer the loader's (the next cut starts another)."""
        with self._cutter_lock:
            cutter, self._cutter = self._cutter, None
        return cutter

    def forget(self) -> None:
        """Drop the pixmaps in memory (they are keyed by id): after faces were added, an id
        may now be another face's.  The disk cache is keyed by what a thumbnail shows."""
        self._cache.clear()

    def wait(self) -> None:
        """Finish the work begun, drop the rest, and let the child process go (tests, shutdown)."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = ThreadPoolExecutor(max_workers=CUTTING_PROCESSES, thread_name_prefix="thumbnails")
        cutter = self._take_cutter()
        if cutter is not None:
            cutter.shutdown(wait=True, cancel_futures=True)
        self._idle_release.stop()
        self._deliver()
        self._pending.clear()  # keys cancelled above are asked again when next shown
