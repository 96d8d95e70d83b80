"""A page of faces to tick ("More of Anna?", "Is this really Anna?") beside a few of the
person's own faces, or "Who are these?" with each face's proposed name under it beside one
face of each person: the app ticks the faces it is fairly sure of, the user clicks the tiles
that are wrong and confirms the page in one action (Enter).  Double-click opens a face's photo."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engine.library.reading.browse import FaceTile
from engine.library.questions.review_pages import ReviewPage
from engine.wording import counted
from facenet_desktop.models import RECORD_ROLE, FacesModel
from facenet_desktop.grid import grid_view

Index = QModelIndex | QPersistentModelIndex


class NamedFacesModel(FacesModel):
    """Faces with a name under each where the page gives one (Who are these?)."""

    def __init__(self, thumbnails, parent=None) -> None:  # noqa: ANN001
        super().__init__(thumbnails, parent)
        self.labels: dict[int, str] = {}

    def text_of(self, item: FaceTile) -> str:
        return self.labels.get(item.id, "")


class TickedFacesModel(NamedFacesModel):
    """Faces with a tick each (Qt's check state), toggled by a click."""

    def __init__(self, thumbnails, parent=None) -> None:  # noqa: ANN001
        super().__init__(thumbnails, parent)
        self.ticked: set[int] = set()

    def set_page(self, tiles: list[FaceTile], ticked: set[int], labels: dict[int, str] | None = None) -> None:
        self.ticked = set(ticked)
        self.labels = dict(labels or {})
        self.items = []  # a new page is always shown anew, even with the same faces
        self.set_items(tiles)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: ANN201 - any item data
        if role == Qt.ItemDataRole.CheckStateRole and index.isValid():
            item = self.items[index.row()]
            return Qt.CheckState.Checked if item.id in self.ticked else Qt.CheckState.Unchecked
        return super().data(index, role)

    def flags(self, index: Index) -> Qt.ItemFlag:
        return super().flags(index) | Qt.ItemFlag.ItemIsUserCheckable

    def toggle(self, index: Index) -> None:
        face = self.items[index.row()].id
        self.ticked ^= {face}
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])


class ReviewPanel(QWidget):
    answered = Signal(object, list, list)  # the ReviewPage, faces that are the person, faces that are not
    open_photo = Signal(int)  # photo id

    def __init__(self, thumbnails, parent: QWidget | None = None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.pages: list[ReviewPage] = []
        self.tiles: dict[int, FaceTile] = {}
        self.index = 0
        self.question = QLabel(self)
        self.question.setWordWrap(True)
        self.question.setObjectName("review-question")
        self.examples_label = QLabel(self)
        self.examples = NamedFacesModel(thumbnails, self)
        self.examples_view = grid_view(self, tile=128, text_lines=1)  # Who are these?: each person's name
        self.examples_view.setModel(self.examples)
        self.examples_view.setMaximumHeight(128 + 18 + 12 + 16)
        self.examples_view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.faces = TickedFacesModel(thumbnails, self)
        self.view = grid_view(self, tile=128, text_lines=1)  # Who are these?: the name proposed
        self.view.setModel(self.faces)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view.clicked.connect(self.faces.toggle)
        self.view.doubleClicked.connect(lambda index: self.open_photo.emit(index.data(RECORD_ROLE).photo_id))
        self.confirm = QPushButton("Confirm page (Enter)", self)
        self.confirm.setToolTip("The ticked faces are this person; the others are not")
        self.skip = QPushButton("Next page", self)
        self.confirm.clicked.connect(self._confirm)
        self.skip.clicked.connect(self._next)
        for key in ("Return", "Enter"):
            QShortcut(QKeySequence(key), self, self._confirm, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        buttons = QHBoxLayout()
        buttons.addStretch()
        buttons.addWidget(self.confirm)
        buttons.addWidget(self.skip)
        buttons.addStretch()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.question)
        layout.addLayout(buttons)
        layout.addWidget(self.examples_label)
        layout.addWidget(self.examples_view)
        layout.addWidget(self.view)

    def set_pages(self, pages: list[ReviewPage], tiles: dict[int, FaceTile]) -> None:
        """New pages; the one on screen stays if it is still offered with the same faces."""
        shown = self.current()
        self.pages, self.tiles = list(pages), dict(tiles)
        same = [k for k, p in enumerate(self.pages) if shown is not None and p == shown]
        self.index = same[0] if same else min(self.index, max(len(self.pages) - 1, 0))
        if not same:
            self._show()

    def current(self) -> ReviewPage | None:
        return self.pages[self.index] if self.pages else None

    def _show(self) -> None:
        page = self.current()
        if page is None:
            self.faces.set_page([], set())
            self.examples.set_items([])
            return
        where = f"{counted(len(page.faces), 'face')}; page {self.index + 1} of {len(self.pages)}"
        labels: dict[int, str] = {}
        if page.kind == "who":
            self.question.setText(f"<h2>{page.question()}</h2>Tick the faces that are the person named under them, "
                                  f"untick the others, then confirm: {where}")
            self.examples_label.setText(f"One face of each of the {counted(len(page.people), 'person', 'people')}:")
            labels = {face: page.name_of(person) for face, person in page.proposed.items()}
            self.examples.labels = {face: name for face, (_, name) in zip(page.examples, page.people, strict=False)}
        else:
            hint = "Tick the faces that are " if page.kind == "more" else "Untick the faces that are not "
            self.question.setText(f"<h2>{page.question()}</h2>{hint}{page.person_name}, then confirm: {where}")
            self.examples_label.setText(f"Faces of {page.person_name}:")
            self.examples.labels = {}
        self.examples.set_items([self.tiles[f] for f in page.examples if f in self.tiles])
        self.faces.set_page([self.tiles[f.face_id] for f in page.faces if f.face_id in self.tiles], set(page.ticked),
                            labels)
        self.skip.setEnabled(len(self.pages) > 1)

    def _confirm(self) -> None:
        page = self.current()
        if page is None:
            return
        shown = [item.id for item in self.faces.items]
        yes = [face for face in shown if face in self.faces.ticked]
        self.answered.emit(page, yes, [face for face in shown if face not in self.faces.ticked])

    def _next(self) -> None:
        if len(self.pages) > 1:
            self.index = (self.index + 1) % len(self.pages)
            self._show()
