"""All photos: every photo of the library by when it was taken, months and folders beside
it; a photo with no face found opens like any other (to draw the face the scan missed).
Thumbnails are cut only for the photos scrolled into view (the grid asks for those)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.library.reading.timeline import Month, TimelinePhoto, date_in_words, months
from engine.user_files import printable_path
from engine.wording import counted
from facenet_desktop.models import RECORD_ROLE, ThumbnailListModel
from facenet_desktop.grid import grid_view
from facenet_desktop.thumbnails import photo_key

FILTER_ROLE = Qt.ItemDataRole.UserRole + 10  # a tree item's folder (or None: everything)
MONTH_ROLE = Qt.ItemDataRole.UserRole + 11  # a tree item's month key


class TimelineModel(ThumbnailListModel):
    def face_of(self, item: TimelinePhoto) -> int | None:
        return photo_key(item.photo_id)

    def text_of(self, item: TimelinePhoto) -> str:
        day = date_in_words(item.taken).split(",")[0]
        return day if item.faces else f"{day} · no face"

    def tooltip_of(self, item: TimelinePhoto) -> str:
        dated = "taken" if item.by_camera else "file dated"
        return (f"{printable_path(item.path)}\n{dated} {date_in_words(item.taken)}; "
                f"{counted(item.faces, 'face') if item.faces else 'no face found: open it to draw one'}")


class TimelinePage(QWidget):
    open_photo = Signal(int)
    folder_chosen = Signal(object)  # a folder to show (str), or None for every photo
    order_chosen = Signal(bool)  # newest first

    def __init__(self, model: TimelineModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.folder: str | None = None
        self.tree = QTreeWidget(self)
        self.tree.setHeaderHidden(True)
        self.tree.itemClicked.connect(self._tree_clicked)
        self.summary = QLabel(self)
        self.order = QComboBox(self)
        self.order.addItems(["Newest first", "Oldest first"])
        self.order.currentIndexChanged.connect(lambda row: self.order_chosen.emit(row == 0))
        self.view = grid_view(self, tile=128, text_lines=1)
        self.view.setModel(model)
        self.view.activated.connect(lambda index: self.open_photo.emit(index.data(RECORD_ROLE).photo_id))
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.order)
        right = QWidget(self)
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(top)
        column.addWidget(self.view)
        splitter = QSplitter(self)
        splitter.addWidget(self.tree)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([220, 800])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    @property
    def newest_first(self) -> bool:
        return self.order.currentIndex() == 0

    def show_photos(self, photos: list[TimelinePhoto], folders: dict[str, list[str]]) -> None:
        """The photos (of the folder chosen, in the order chosen) and the tree beside them."""
        self.model.set_items(photos)
        found = months(photos)
        faceless = sum(1 for p in photos if not p.faces)
        where = f" in {printable_path(self.folder)}" if self.folder else ""
        self.summary.setText(f"{counted(len(photos), 'photo')}{where}, {'newest' if self.newest_first else 'oldest'} "
                             f"first" + (f"; {faceless} with no face found" if faceless else ""))
        self._fill_tree(found, folders)

    def photo_ids(self) -> list[int]:
        return [p.photo_id for p in self.model.items]

    def _fill_tree(self, found: list[Month], folders: dict[str, list[str]]) -> None:
        chosen = self.tree.currentItem().data(0, MONTH_ROLE) if self.tree.currentItem() else None
        self.tree.clear()
        dates = QTreeWidgetItem(self.tree, ["All photos"])
        dates.setData(0, FILTER_ROLE, None)
        years: dict[str, QTreeWidgetItem] = {}
        for month in found:
            year = month.key[:4]
            if year not in years:
                years[year] = QTreeWidgetItem(dates, [year])
                years[year].setData(0, MONTH_ROLE, f"{year}-")
            item = QTreeWidgetItem(years[year], [f"{month.title} ({month.photos})"])
            item.setData(0, MONTH_ROLE, month.key)
            if month.key == chosen:
                self.tree.setCurrentItem(item)
        dates.setExpanded(True)
        places = QTreeWidgetItem(self.tree, ["Folders"])
        for root, below in folders.items():
            top = QTreeWidgetItem(places, [printable_path(root)])
            top.setData(0, FILTER_ROLE, root)
            for folder in below:
                item = QTreeWidgetItem(top, [printable_path(folder)[len(printable_path(root)) + 1:]])
                item.setData(0, FILTER_ROLE, folder)
        places.setExpanded(True)

    def _tree_clicked(self, item: QTreeWidgetItem) -> None:
        month = item.data(0, MONTH_ROLE)
        if month:
            self.scroll_to_month(month)
            return
        if item.text(0) == "Folders":
            return
        folder = item.data(0, FILTER_ROLE)
        if folder != self.folder:
            self.folder = folder
            self.folder_chosen.emit(folder)

    def scroll_to_month(self, key: str) -> None:
        """The first photo of that month (or year, for "2024-") at the top of the grid."""
        for row, photo in enumerate(self.model.items):
            if photo.taken.startswith(key):
                index = self.model.index(row, 0)
                self.view.setCurrentIndex(index)
                self.view.scrollTo(index, self.view.ScrollHint.PositionAtTop)
                return
