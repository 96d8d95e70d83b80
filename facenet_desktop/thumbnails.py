"""Face thumbnails for the views: cut by the engine on a thread pool (disk-cached), kept
in memory as QPixmaps (LRU), and announced with a signal so a model repaints one item."""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QColor, QImage, QPixmap

from engine.library.browse import face_thumbnail
from engine.library.store import Library

MEMORY_ITEMS = 3000


class _Signals(QObject):
    loaded = Signal(int, QImage)


class _Load(QRunnable):
    def __init__(self, library: Library, face_id: int, size: int, signals: _Signals) -> None:
        super().__init__()
        self.library, self.face_id, self.size, self.signals = library, face_id, size, signals

    def run(self) -> None:
        path = face_thumbnail(self.library, self.face_id, self.size)
        image = QImage(str(path)) if path is not None else QImage()
        self.signals.loaded.emit(self.face_id, image)


class ThumbnailLoader(QObject):
    ready = Signal(int)  # face id whose pixmap is now available

    def __init__(self, library: Library, size: int = 128, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.size = size
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self._signals = _Signals()
        self._signals.loaded.connect(self._store)
        self._cache: OrderedDict[int, QPixmap] = OrderedDict()
        self._pending: set[int] = set()
        self.placeholder = QPixmap(size, size)
        self.placeholder.fill(QColor("#d9dde3"))

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
            self.pool.start(_Load(self.library, face_id, self.size, self._signals))
        return self.placeholder

    def _store(self, face_id: int, image: QImage) -> None:
        self._pending.discard(face_id)
        self._cache[face_id] = QPixmap.fromImage(image) if not image.isNull() else self.placeholder
        while len(self._cache) > MEMORY_ITEMS:
            self._cache.popitem(last=False)
        self.ready.emit(face_id)

    def forget(self, face_id: int) -> None:
        self._cache.pop(face_id, None)

    def wait(self) -> None:
        self.pool.waitForDone()
