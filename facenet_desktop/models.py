"""Qt list models over the engine's read views.  One model per view, items are plain
records; thumbnails come from the shared ThumbnailLoader and arrive as dataChanged."""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication

from engine.library.storage.assignments import Assignment
from engine.library.reading.browse import UNSORTED, FaceTile, PersonTile
from engine.library.reading.timeline import date_in_words
from engine.wording import counted
from facenet_desktop.thumbnails import ThumbnailLoader, photo_key

NAME_WIDTH_PX = 116  # one line of a people tile (icons 128 px wide; Qt wraps a longer line and hides the count)
ID_ROLE = Qt.ItemDataRole.UserRole + 1
RECORD_ROLE = Qt.ItemDataRole.UserRole + 2
Index = QModelIndex | QPersistentModelIndex


class ThumbnailListModel(QAbstractListModel):
    """Items with a face thumbnail; subclasses say what each item shows."""

    def __init__(self, thumbnails: ThumbnailLoader, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.items: list = []
        self._rows_of_face: dict[int, list[int]] = {}
        thumbnails.ready.connect(self._thumbnail_ready)

    def set_items(self, items: list) -> None:
        if items == self.items:
            return  # the periodic refresh during a scan mostly finds nothing new: no relayout
        self.beginResetModel()
        self.items = list(items)
        self._rows_of_face = {}
        for row, item in enumerate(self.items):
            face = self.face_of(item)
            if face is not None:
                self._rows_of_face.setdefault(face, []).append(row)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's name
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: ANN201, ANN202 - any item data
        if not index.isValid() or not 0 <= index.row() < len(self.items):
            return None
        item = self.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text_of(item)
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnails.pixmap(self.face_of(item))
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltip_of(item)
        if role == ID_ROLE:
            return item.id
        if role == RECORD_ROLE:
            return item
        return None

    def _thumbnail_ready(self, face_id: int) -> None:
        for row in self._rows_of_face.get(face_id, ()):
            index = self.index(row, 0)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def face_of(self, item) -> int | None:  # noqa: ANN001
        raise NotImplementedError

    def text_of(self, item) -> str:  # noqa: ANN001
        raise NotImplementedError

    def tooltip_of(self, item) -> str:  # noqa: ANN001
        return self.text_of(item)


PEOPLE_ORDERS = {  # what the sort box offers -> (key over PersonTile, newest first)
    "Most faces": (lambda p: (-p.faces, p.name is None, (p.name or "").casefold(), p.id), False),
    "Name": (lambda p: (p.name is None, (p.name or "").casefold(), -p.faces, p.id), False),
    "Recently added": (lambda p: (p.added, p.id), True),
}


class PeopleModel(ThumbnailListModel):
    """The people grid: an "Unsorted faces" entry, then people in the chosen order.  While
    `keep_order` is set (a scan is adding faces) the tiles already shown keep their places and
    new people come after them, so nothing jumps under the user's pointer."""

    def __init__(self, thumbnails: ThumbnailLoader, parent=None) -> None:  # noqa: ANN001
        super().__init__(thumbnails, parent)
        self.order = "Most faces"
        self.keep_order = False
        self._metrics: QFontMetrics | None = None
        self._shown: tuple[list[PersonTile], int, int | None] = ([], 0, None)

    def set_people(self, people: list[PersonTile], unsorted: int, unsorted_cover: int | None) -> None:
        self._shown = (list(people), unsorted, unsorted_cover)
        key, newest_first = PEOPLE_ORDERS[self.order]
        ordered = sorted(people, key=key, reverse=newest_first)
        if self.keep_order and self.items:
            place = {item.id: row for row, item in enumerate(self.items)}
            ordered = (sorted((p for p in ordered if p.id in place), key=lambda p: place[p.id])
                       + [p for p in ordered if p.id not in place])
        entry = PersonTile(UNSORTED, None, unsorted, unsorted_cover, False)
        self.set_items(([entry] if unsorted else []) + ordered)

    def set_order(self, order: str) -> None:
        self.order = order
        self.set_people(*self._shown)

    def set_keep_order(self, keep: bool) -> None:
        self.keep_order = keep
        if not keep:
            self.set_people(*self._shown)  # back in the chosen order

    def face_of(self, item: PersonTile) -> int | None:
        return item.cover_face_id

    def text_of(self, item: PersonTile) -> str:
        if item.id == UNSORTED:
            return f"Unsorted faces\n{counted(item.faces, 'face')}"
        # "hidden" goes on the count's line: beside the name it cut names short ("Ian Malc… (hidden)").
        name = self.fit(item.name or "Unnamed", "")
        return f"{name}\n{counted(item.faces, 'face')}{', hidden' if item.hidden else ''}"

    def fit(self, name: str, suffix: str) -> str:
        """A long name elided to one line of the tile, so the count below it always shows."""
        if self._metrics is None:  # made once: text_of runs for every tile painted
            self._metrics = QFontMetrics(QApplication.font())
        room = NAME_WIDTH_PX - self._metrics.horizontalAdvance(suffix)
        return self._metrics.elidedText(name, Qt.TextElideMode.ElideRight, room)

    def tooltip_of(self, item: PersonTile) -> str:
        if item.id == UNSORTED:
            return self.text_of(item).replace("\n", ", ")
        return f"{item.name or 'Unnamed'}{' (hidden)' if item.hidden else ''}, {counted(item.faces, 'face')}"


class FacesModel(ThumbnailListModel):
    def face_of(self, item: FaceTile) -> int | None:
        return item.id

    def text_of(self, item: FaceTile) -> str:
        return ""

    def tooltip_of(self, item: FaceTile) -> str:
        how = {Assignment.MANUAL: "confirmed by you" if item.confirmed else "named with its group",
               Assignment.AUTO: "grouped automatically", Assignment.SUGGESTED: "suggested"}.get(item.assignment or "", "unsorted")
        if item.assignment == Assignment.MANUAL and item.named_from == "XMP":
            how = "named in another app: read from the photo's XMP metadata"
        return f"{item.path}\n{item.person_name or 'Unnamed'} ({how})"


class SuggestionsModel(ThumbnailListModel):
    def face_of(self, item: FaceTile) -> int | None:
        return item.id

    def text_of(self, item: FaceTile) -> str:
        return item.person_name or ""  # the question is above the grid; a long name elides here

    def tooltip_of(self, item: FaceTile) -> str:
        return f"Is this {item.person_name}?\n{item.path}"


class PhotosModel(ThumbnailListModel):
    """Search results: one item per photo, shown whole, with when it was taken."""

    def face_of(self, item: FaceTile) -> int | None:
        return photo_key(item.photo_id)

    def text_of(self, item: FaceTile) -> str:
        return date_in_words(item.taken).split(",")[0] if item.taken else item.path.rsplit("/", 1)[-1]

    def tooltip_of(self, item: FaceTile) -> str:
        return f"{item.path}\n{date_in_words(item.taken)}" if item.taken else item.path
