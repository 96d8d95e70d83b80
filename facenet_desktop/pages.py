"""The main window's pages.  Thin: they show models and emit what the user asked for; the
window turns requests into engine calls."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, QSortFilterProxyModel, QStringListModel, Qt, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QGuiApplication, QKeySequence, QPen, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QCompleter,
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.library.storage.assignments import Assignment
from engine.library.reading.browse import UNSORTED, FaceTile
from engine.library.questions.group_suggestions import GroupSuggestion
from engine.user_files import printable_path
from engine.wording import counted
from facenet_desktop.models import (
    ID_ROLE,
    PEOPLE_ORDERS,
    RECORD_ROLE,
    FacesModel,
    PeopleModel,
    PhotosModel,
    SuggestionsModel,
)


def grid_view(parent: QWidget, tile: int = 128, text_lines: int = 2) -> QListView:
    """An icon grid that stays fast with many items: uniform sizes, batched layout."""
    view = QListView(parent)
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setMovement(QListView.Movement.Static)
    view.setUniformItemSizes(True)
    view.setLayoutMode(QListView.LayoutMode.Batched)
    view.setBatchSize(200)
    view.setIconSize(QSize(tile, tile))
    view.setGridSize(QSize(tile + 24, tile + 18 * text_lines + 12))
    view.setWordWrap(True)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    return view


def right_clicked(view: QListView, pos: QPoint):  # noqa: ANN201 - QModelIndex or None
    """The item under a right-click; it joins the selection (alone, if it was not selected)."""
    index = view.indexAt(pos)
    if not index.isValid():
        return None
    if not view.selectionModel().isSelected(index):
        view.setCurrentIndex(index)
    return index


def add_context_menu(view: QListView, menu_at: Callable[[QPoint], QMenu]) -> None:
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    view.customContextMenuRequested.connect(lambda pos: menu_at(pos).exec(view.mapToGlobal(pos)))


def selected_ids(view: QListView) -> list[int]:
    return [index.data(ID_ROLE) for index in view.selectionModel().selectedIndexes()]


def page_keys(page: QWidget, keys: list[tuple[Qt.Key | QKeySequence.StandardKey, Callable[[], object]]]) -> None:
    """Shortcuts that work while the page is on screen, wherever the focus is on it."""
    for key, slot in keys:
        shortcut = QShortcut(QKeySequence(key), page)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)


def home_relative(folder: str) -> str:
    """~/Pictures rather than /home/anna/Pictures."""
    home = str(Path.home())
    return "~" + folder[len(home):] if folder == home or folder.startswith(home + "/") else folder


class EmptyPage(QWidget):
    add_folder = Signal(str)  # "" means: let the user choose

    def __init__(self, suggested: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.suggested = suggested
        title = QLabel("<h1>Welcome to FaceNet Desktop</h1>"
                       "<p>It finds the faces in your photos and groups them by person; you name the people, "
                       "and it recognises them in every photo.<br>Everything stays on this computer.</p>", self)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title.setWordWrap(True)
        self.use_suggested = QPushButton(f"Find the people in {home_relative(suggested)}", self)
        self.use_suggested.clicked.connect(lambda: self.add_folder.emit(self.suggested))
        self.choose = QPushButton("Choose another folder…", self)
        self.choose.clicked.connect(lambda: self.add_folder.emit(""))
        layout = QVBoxLayout(self)
        layout.addStretch()
        layout.addWidget(title)
        for button in (self.use_suggested, self.choose):
            row = QHBoxLayout()
            row.addStretch()
            row.addWidget(button)
            row.addStretch()
            layout.addLayout(row)
        layout.addStretch()


class PeoplePage(QWidget):
    open_person = Signal(int)
    merge_requested = Signal(list)  # person ids, biggest first
    set_hidden = Signal(int, bool)  # person id, hidden
    show_hidden_changed = Signal(bool)
    told = Signal(str)  # a sentence for the status bar: why nothing happened

    def __init__(self, model: PeopleModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Filter people by name")
        self.filter.setClearButtonEnabled(True)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.order = QComboBox(self)
        self.order.addItems(list(PEOPLE_ORDERS))
        self.order.setToolTip("Order of the people")
        self.order.currentTextChanged.connect(model.set_order)
        self.show_hidden = QCheckBox("Show hidden people", self)
        self.show_hidden.toggled.connect(self.show_hidden_changed)
        self.view = grid_view(self)
        self.view.setModel(self.proxy)
        self.view.activated.connect(lambda index: self.open_person.emit(index.data(ID_ROLE)))
        add_context_menu(self.view, self.menu_at)
        self.merge = QPushButton("Merge selected", self)
        self.merge.clicked.connect(self._merge)
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.order)
        top.addWidget(self.show_hidden)
        top.addWidget(self.merge)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.view)

    def _people_selected(self) -> list[int]:
        return [i for i in selected_ids(self.view) if i != UNSORTED]

    def _merge(self) -> None:
        ids = self._people_selected()
        if len(ids) >= 2:
            self.merge_requested.emit(ids)
        else:
            self.told.emit("To merge, select two or more people (Ctrl+click adds one to the selection).")

    def menu_at(self, pos: QPoint) -> QMenu:
        """The right-click menu for the tile under `pos` (it joins the selection)."""
        menu = QMenu(self)
        index = right_clicked(self.view, pos)
        if index is None:
            return menu
        person = index.data(ID_ROLE)
        menu.addAction("Open", lambda: self.open_person.emit(person))
        if person == UNSORTED:
            return menu
        selected = self._people_selected()
        if len(selected) >= 2:
            menu.addAction(f"Merge {len(selected)} people", self._merge)
        tile = index.data(RECORD_ROLE)
        if tile.hidden:
            menu.addAction("Show this person again", lambda: self.set_hidden.emit(person, False))
        else:
            menu.addAction("Hide this person", lambda: self.set_hidden.emit(person, True))
        return menu


# A person page's orders: None keeps the library's (faces you named first); True: newest first.
FACE_ORDERS = {"Named by you first": None, "Newest first": True, "Oldest first": False}


class PersonPage(QWidget):
    rename = Signal(int, str)
    reject_faces = Signal(list)
    move_faces = Signal(list)
    confirm_faces = Signal(list)
    not_a_face = Signal(list)
    set_cover = Signal(int, int)
    hide_person = Signal(int, bool)  # person id, hidden
    open_photo = Signal(int)  # photo id
    back = Signal()

    def __init__(self, model: FacesModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.person_id: int | None = None
        self.shown_name = ""
        self.hidden = False
        self.back_button = QPushButton("← People", self)
        self.back_button.clicked.connect(self.back)
        self.name = QLineEdit(self)
        self.name.setPlaceholderText("Unnamed — type a name and press Enter")
        self.name.returnPressed.connect(self._rename)
        self.count = QLabel(self)
        self.faces: list[FaceTile] = []
        self.order = QComboBox(self)
        self.order.addItems(list(FACE_ORDERS))
        self.order.setToolTip("Show the faces named by you first, or by when their photo was taken")
        self.order.currentTextChanged.connect(lambda _text: self.model.set_items(self._ordered(self.faces)))
        self.view = grid_view(self, text_lines=0)
        self.view.setModel(model)
        self.view.activated.connect(lambda index: self.open_photo.emit(index.data(RECORD_ROLE).photo_id))
        add_context_menu(self.view, self.menu_at)
        self.not_this = QPushButton("Not this person", self)
        self.not_this.clicked.connect(lambda: self._with_faces(self.reject_faces))
        self.move_to = QPushButton("Move to…", self)
        self.move_to.clicked.connect(lambda: self._with_faces(self.move_faces))
        self.cover = QPushButton("Set as cover", self)
        self.cover.clicked.connect(self._cover)
        self.hide_button = QPushButton("Hide person", self)
        self.hide_button.clicked.connect(
            lambda: self.person_id is not None and self.hide_person.emit(self.person_id, not self.hidden))
        # Keys a photo app answers to: Esc, Alt+Left or Backspace go back, Delete says "Not
        # this person" about the selected faces, F2 renames.  Esc in the name box first
        # undoes the typing; Backspace and Delete there edit the text.
        self.back_button.setToolTip("Back to people (Esc)")
        self.not_this.setToolTip("Take the selected faces away from this person (Delete)")
        self.name.setToolTip("Type a name and press Enter (F2)")
        page_keys(self, [(Qt.Key.Key_Escape, self._escape), (QKeySequence.StandardKey.Back, self.back.emit),
                         (Qt.Key.Key_Backspace, self.back.emit), (Qt.Key.Key_F2, self._start_renaming),
                         (QKeySequence.StandardKey.Delete, self._delete_pressed)])
        top = QHBoxLayout()
        top.addWidget(self.back_button)
        top.addWidget(self.name, 1)
        top.addWidget(self.count)
        actions = QHBoxLayout()
        for button in (self.not_this, self.move_to, self.cover, self.hide_button):
            actions.addWidget(button)
        actions.addStretch()
        actions.addWidget(self.order)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(actions)
        layout.addWidget(self.view)

    def show_person(self, person_id: int, name: str | None, faces: list[FaceTile], hidden: bool = False) -> None:
        self.person_id = person_id
        self.hidden = hidden
        unsorted = person_id == UNSORTED
        self.shown_name = "Unsorted faces" if unsorted else (name or "")
        self.name.setText(self.shown_name)
        self.name.setModified(False)
        self.name.setReadOnly(unsorted)
        for button in (self.not_this, self.cover, self.hide_button):
            button.setEnabled(not unsorted)
        self.hide_button.setText("Show person again" if hidden else "Hide person")
        self.count.setText(counted(len(faces), "face") + (" (hidden)" if hidden else ""))
        self.faces = list(faces)
        self.model.set_items(self._ordered(self.faces))

    def _ordered(self, faces: list[FaceTile]) -> list[FaceTile]:
        order = FACE_ORDERS[self.order.currentText()]
        return faces if order is None else sorted(faces, key=lambda f: (f.taken or "", f.id), reverse=order)

    def _escape(self) -> None:
        if self.name.hasFocus() and self.name.isModified():
            self.name.setText(self.shown_name)  # a name half typed is dropped, not saved
            self.name.setModified(False)
            self.view.setFocus()
            return
        self.back.emit()

    def _start_renaming(self) -> None:
        if not self.name.isReadOnly():
            self.name.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.name.selectAll()

    def _delete_pressed(self) -> None:
        if self.not_this.isEnabled():
            self._with_faces(self.reject_faces)

    def _rename(self) -> None:
        text = self.name.text().strip()
        if self.person_id is not None and self.person_id != UNSORTED and text:
            self.rename.emit(self.person_id, text)

    def _with_faces(self, signal: Signal) -> None:
        ids = selected_ids(self.view)
        if ids:
            signal.emit(ids)

    def _cover(self) -> None:
        ids = selected_ids(self.view)
        if len(ids) == 1 and self.person_id is not None:
            self.set_cover.emit(self.person_id, ids[0])

    def menu_at(self, pos: QPoint) -> QMenu:
        """The right-click menu for the selected faces (the face under `pos` joins them)."""
        menu = QMenu(self)
        index = right_clicked(self.view, pos)
        if index is None:
            return menu
        faces = [self.model.index(i.row(), 0).data(RECORD_ROLE) for i in self.view.selectionModel().selectedIndexes()]
        ids = [face.id for face in faces]
        menu.addAction("Open photo", lambda: self.open_photo.emit(index.data(RECORD_ROLE).photo_id))
        not_faces = "Not a face" if len(ids) == 1 else "Not faces"
        if self.person_id == UNSORTED:
            menu.addAction(f"Name {'this face' if len(ids) == 1 else f'these {len(ids)} faces'}…",
                           lambda: self.move_faces.emit(ids))
            menu.addAction(not_faces, lambda: self.not_a_face.emit(ids))
            return menu
        name = self.name.text() or "this person"
        unconfirmed = [face.id for face in faces if not face.confirmed]
        if unconfirmed:
            menu.addAction(f"Yes, {'this is' if len(ids) == 1 else 'these are'} {name}",
                           lambda: self.confirm_faces.emit(unconfirmed))
        menu.addAction(f"Not {name}", lambda: self.reject_faces.emit(ids))
        menu.addAction("Move to…", lambda: self.move_faces.emit(ids))
        if len(ids) == 1 and self.person_id is not None:
            menu.addAction("Set as cover", lambda: self.set_cover.emit(self.person_id, ids[0]))
        menu.addAction(not_faces, lambda: self.not_a_face.emit(ids))
        return menu


class SuggestionsPage(QWidget):
    """Questions about whole groups first (they settle the most faces), then single faces,
    each beside faces of the person asked about: Yes (Y), No (N), Skip (S)."""

    answer = Signal(int, bool)  # face id, yes
    answer_group = Signal(object, bool)  # GroupSuggestion, yes
    learn = Signal()  # "Learn from your corrections"
    EMPTY = "Nothing to review: name a few more people to get suggestions."

    def __init__(self, model: SuggestionsModel, references: FacesModel,
                 reference_faces: Callable[[int], list[FaceTile]], group_model: FacesModel,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.references = references
        self.reference_faces = reference_faces  # a person's faces, hand-labelled first
        self.group_model = group_model
        self.groups: list[GroupSuggestion] = []
        self.group_tiles: dict[int, FaceTile] = {}  # the faces the group questions show
        self.group_index = 0
        self.on_faces = False  # the user skipped past the group questions to the single faces
        self.question = QLabel(self)
        self.question.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.question.setWordWrap(True)
        self.reference_label = QLabel(self)
        self.reference_view = grid_view(self, tile=96, text_lines=0)
        self.reference_view.setModel(references)
        self.reference_view.setMaximumHeight(96 + 40)
        self.reference_view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.group_label = QLabel(self)
        self.group_view = grid_view(self, tile=160, text_lines=0)
        self.group_view.setModel(group_model)
        self.group_view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view = grid_view(self, tile=160, text_lines=1)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setModel(model)
        self.yes = QPushButton("Yes (Y)", self)
        self.no = QPushButton("No (N)", self)
        self.skip = QPushButton("Skip (S)", self)
        self.yes.clicked.connect(lambda: self._answer(True))
        self.no.clicked.connect(lambda: self._answer(False))
        self.skip.clicked.connect(self._skip)
        QShortcut(QKeySequence("Y"), self, lambda: self._answer(True))
        QShortcut(QKeySequence("N"), self, lambda: self._answer(False))
        QShortcut(QKeySequence("S"), self, self._skip)
        buttons = QHBoxLayout()
        buttons.addStretch()
        for button in (self.yes, self.no, self.skip):
            buttons.addWidget(button)
        buttons.addStretch()
        # The offer to learn from the user's corrections, above the questions while it stands.
        self.offer = QLabel(self)
        self.offer.setWordWrap(True)
        self.learn_button = QPushButton("Learn from your corrections", self)
        self.learn_button.clicked.connect(self.learn.emit)
        offer_row = QHBoxLayout()
        offer_row.addWidget(self.offer, 1)
        offer_row.addWidget(self.learn_button)
        self.set_offer(None)
        layout = QVBoxLayout(self)
        layout.addLayout(offer_row)
        layout.addWidget(self.question)
        layout.addLayout(buttons)
        layout.addWidget(self.reference_label)
        layout.addWidget(self.reference_view)
        layout.addWidget(self.group_label)
        layout.addWidget(self.group_view)
        layout.addWidget(self.view)
        self.review: QWidget | None = None  # the pages of faces, once questions run out (attach_review)
        model.modelReset.connect(self._select_first)
        self.view.selectionModel().currentChanged.connect(lambda *_: self._update_question())
        self._update_question()

    def set_offer(self, sentence: str | None) -> None:
        self.offer.setText(sentence or "")
        self.offer.setVisible(bool(sentence))
        self.learn_button.setVisible(bool(sentence))

    def attach_review(self, review: QWidget) -> None:
        """The pages of faces ("More of NAME", "Is this really NAME?") shown once no group or
        face question is left: questions never run dry while work is left."""
        self.review = review
        self.layout().addWidget(review)
        self._update_question()

    def has_review_page(self) -> bool:
        return self.review is not None and self.review.current() is not None

    def set_groups(self, groups: list[GroupSuggestion], tiles: dict[int, FaceTile]) -> None:
        """New group questions; the one on screen stays if it is still asked, else the one
        that took its place."""
        shown = self.current_group()
        self.groups, self.group_tiles = list(groups), dict(tiles)
        keys = [g.key for g in self.groups]
        if shown is not None and shown.key in keys:
            self.group_index = keys.index(shown.key)
        self.group_index = min(self.group_index, max(len(self.groups) - 1, 0))
        self._update_question()

    def _select_first(self) -> None:
        if self.model.rowCount():
            self.view.setCurrentIndex(self.model.index(0, 0))
        self._update_question()

    def current_group(self) -> GroupSuggestion | None:
        if not self.groups or (self.on_faces and self.model.rowCount()):
            return None
        return self.groups[self.group_index]

    def current(self) -> FaceTile | None:
        """The face asked about (None while a group question is shown)."""
        if self.current_group() is not None:
            return None
        index = self.view.currentIndex()
        return index.data(RECORD_ROLE) if index.isValid() else None

    def _waiting(self) -> str:
        parts = [counted(len(self.groups), "group")] if self.groups else []
        if self.model.rowCount():
            parts.append(counted(self.model.rowCount(), "face"))
        return " and ".join(parts) + " to review"

    def _update_question(self) -> None:
        group, face = self.current_group(), self.current()
        if group is not None:
            asked = group.question()
            shown = sum(1 for f in group.group_sample if f in self.group_tiles)
            size = (f"{counted(group.group_faces, 'face')} in this group" if shown >= group.group_faces
                    else f"{shown} of the {group.group_faces:,} faces in this group")  # never more than it shows
            self.question.setText(f"<h2>{asked}</h2>{size}; {self._waiting()}")
            if group.other_name is None:
                self.reference_label.setText(f"The other group ({counted(group.other_faces, 'face')}):")
            else:
                self.reference_label.setText(f"Faces of {group.other_name}:")
            self.references.set_items([self.group_tiles[f] for f in group.other_sample if f in self.group_tiles])
            self.group_label.setText("This group:")
            self.group_model.set_items([self.group_tiles[f] for f in group.group_sample if f in self.group_tiles])
        elif face is None:
            self.question.setText("" if self.has_review_page() else f"<h2>{self.EMPTY}</h2>")
            self.reference_label.setText("")
            self.references.set_items([])
        else:
            self.question.setText(f"<h2>Is this {face.person_name}?</h2>{self._waiting()}")
            shown = self.reference_faces(face.person_id)[:REFERENCE_FACES] if face.person_id is not None else []
            self.reference_label.setText(f"Faces of {face.person_name}:")
            self.references.set_items(shown)
        asking = group is not None or face is not None
        if self.review is not None:
            self.review.setVisible(not asking and self.has_review_page())
        for button in (self.yes, self.no, self.skip):
            button.setVisible(asking or not self.has_review_page())
        self.question.setVisible(asking or not self.has_review_page())
        for view in (self.reference_label, self.reference_view):
            view.setVisible(asking)  # the empty state is one sentence, no empty boxes
        for view in (self.group_label, self.group_view):
            view.setVisible(group is not None)
        self.view.setVisible(group is None and face is not None)
        for button in (self.yes, self.no, self.skip):
            button.setEnabled(asking)
        self.skip.setEnabled(len(self.groups) + self.model.rowCount() > 1)

    def _answer(self, yes: bool) -> None:
        group = self.current_group()
        if group is not None:
            self.answer_group.emit(group, yes)
            return
        face = self.current()
        if face is not None:
            self.answer.emit(face.id, yes)

    def _skip(self) -> None:
        """Leave this one for later: the next question, groups first, round to the first."""
        faces = self.model.rowCount()
        if len(self.groups) + faces <= 1:
            return
        if self.current_group() is not None:
            if self.group_index + 1 < len(self.groups):
                self.group_index += 1
            elif faces:
                self.on_faces = True
                self.view.setCurrentIndex(self.model.index(0, 0))
            else:
                self.group_index = 0
        else:
            row = self.view.currentIndex().row()
            if row + 1 < faces:
                self.view.setCurrentIndex(self.model.index(row + 1, 0))
            elif self.groups:
                self.on_faces, self.group_index = False, 0
            else:
                self.view.setCurrentIndex(self.model.index(0, 0))
        self._update_question()


REFERENCE_FACES = 6


def label_position(box: tuple[float, float, float, float], label: tuple[float, float],
                   image: tuple[float, float]) -> tuple[float, float]:
    """Where a face's name goes: under its box, left-aligned, but moved inside the photo where
    the box touches the right or bottom edge (the scene shows only the photo)."""
    x1, _, _, y2 = box
    width, height = label
    x = max(4.0, min(x1 + 4, image[0] - width - 4))
    y = max(1.0, min(y2 + 2, image[1] - height - 1))
    return x, y


BOX_COLOURS = {Assignment.MANUAL: "#2e9e44", Assignment.AUTO: "#e0a020", Assignment.SUGGESTED: "#e0a020", None: "#9ca3af"}
LEGEND = ("Boxes: <span style='color:#2e9e44'>■</span> named by you &nbsp; "
          "<span style='color:#e0a020'>■</span> grouped or suggested by the app &nbsp; "
          "<span style='color:#9ca3af'>■</span> in no group yet")
ZOOM_STEP = 1.25


class PhotoView(QGraphicsView):
    """The photo with its face boxes; click a box to act on it, drag to draw a new one.  Names
    keep their size on screen whatever the photo's size and zoom (Ctrl+wheel, + and -, 0 fits)."""

    face_clicked = Signal(int)
    box_drawn = Signal(tuple)  # (x1, y1, x2, y2) in photo pixels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.scale_factor = 1.0
        self.zoom = 1.0  # times the fitted size
        self._start: QPointF | None = None
        self._rubber: QGraphicsRectItem | None = None
        self.boxes: dict[int, QGraphicsRectItem] = {}
        self.labels: list[tuple[QGraphicsRectItem, tuple[float, float, float, float]]] = []  # backdrop, box

    def show_photo(self, pixmap: QPixmap, scale: float, faces: list[FaceTile]) -> None:
        """`scale`: pixmap pixels per photo pixel."""
        scene = self.scene()
        scene.clear()
        self.boxes, self.labels = {}, []
        self.scale_factor = scale
        self.zoom = 1.0
        scene.addPixmap(pixmap)
        scene.setSceneRect(QRectF(pixmap.rect()))
        for face in faces:
            x1, y1, x2, y2 = (v * scale for v in face.box)
            colour = QColor(BOX_COLOURS.get(face.assignment if face.person_id is not None else None, "#e0a020"))
            pen = QPen(colour, 2)
            pen.setCosmetic(True)  # the same width on screen at any zoom
            item = scene.addRect(QRectF(x1, y1, x2 - x1, y2 - y1), pen)
            item.setData(0, face.id)
            self.boxes[face.id] = item
            text = face.person_name or ("Unnamed" if face.person_id is not None else "Unknown")
            label = QGraphicsSimpleTextItem(text)
            label.setBrush(QBrush(QColor("white")))
            size = label.boundingRect()
            backdrop = QGraphicsRectItem(size.adjusted(-4, -1, 4, 1))
            backdrop.setPen(QPen(Qt.PenStyle.NoPen))
            backdrop.setBrush(QBrush(QColor(0, 0, 0, 160)))
            backdrop.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            backdrop.setZValue(1)
            label.setParentItem(backdrop)
            scene.addItem(backdrop)
            self.labels.append((backdrop, (x1, y1, x2, y2)))
        self._fit()

    def _fit(self) -> None:
        self.resetTransform()
        self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom != 1.0:
            self.scale(self.zoom, self.zoom)
        self._place_labels()

    def _place_labels(self) -> None:
        """Under each box, inside the photo: the label's screen size in scene units at this zoom."""
        pixels_per_unit = self.transform().m11() or 1.0
        photo = self.scene().sceneRect()
        for backdrop, box in self.labels:
            size = backdrop.rect()
            x, y = label_position(box, (size.width() / pixels_per_unit, size.height() / pixels_per_unit),
                                  (photo.width(), photo.height()))
            backdrop.setPos(x, y)

    def set_zoom(self, zoom: float) -> None:
        self.zoom = min(max(zoom, 1.0), 16.0)
        self._fit()

    def label_rects(self) -> list[QRectF]:
        """Where the names are, in photo (scene) units at this zoom: they ignore the view's scale."""
        pixels_per_unit = self.transform().m11() or 1.0
        return [QRectF(backdrop.pos() + backdrop.rect().topLeft() / pixels_per_unit, backdrop.rect().size() / pixels_per_unit)
                for backdrop, _ in self.labels]

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802
        super().resizeEvent(event)
        self._fit()

    def wheelEvent(self, event) -> None:  # noqa: ANN001, N802
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.set_zoom(self.zoom * (ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP))
        else:
            super().wheelEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: ANN001, N802
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.set_zoom(self.zoom * ZOOM_STEP)
        elif key == Qt.Key.Key_Minus:
            self.set_zoom(self.zoom / ZOOM_STEP)
        elif key == Qt.Key.Key_0:
            self.set_zoom(1.0)
        else:
            super().keyPressEvent(event)  # arrows go to the page (next / previous photo)
            event.ignore()

    def mousePressEvent(self, event) -> None:  # noqa: ANN001, N802
        point = self.mapToScene(event.position().toPoint())
        for face_id, item in self.boxes.items():
            if item.rect().contains(point):
                self.face_clicked.emit(face_id)
                return
        self._start = point
        self._rubber = self.scene().addRect(QRectF(point, point), QPen(QColor("#3b82f6"), 2, Qt.PenStyle.DashLine))

    def mouseMoveEvent(self, event) -> None:  # noqa: ANN001, N802
        if self._start is not None and self._rubber is not None:
            self._rubber.setRect(QRectF(self._start, self.mapToScene(event.position().toPoint())).normalized())

    def mouseReleaseEvent(self, event) -> None:  # noqa: ANN001, N802
        if self._start is None or self._rubber is None:
            return
        rect = self._rubber.rect()
        self.scene().removeItem(self._rubber)
        self._start, self._rubber = None, None
        if rect.width() >= 8 and rect.height() >= 8:
            s = self.scale_factor
            self.box_drawn.emit((rect.left() / s, rect.top() / s, rect.right() / s, rect.bottom() / s))


class PhotoPage(QWidget):
    back = Signal()
    step = Signal(int)  # -1: the previous photo, +1: the next one (arrow keys)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.photo_id: int | None = None
        self.back_button = QPushButton("← Back", self)
        self.back_button.clicked.connect(self.back)
        self.previous_button = QPushButton("◀", self)
        self.previous_button.setToolTip("Previous photo (Left arrow)")
        self.previous_button.clicked.connect(lambda: self.step.emit(-1))
        self.next_button = QPushButton("▶", self)
        self.next_button.setToolTip("Next photo (Right arrow)")
        self.next_button.clicked.connect(lambda: self.step.emit(1))
        self.title = QLabel(self)
        self.position = QLabel(self)
        self.path = ""
        self.taken = QLabel(self)
        self.open_folder_button = QPushButton("Open folder", self)
        self.open_folder_button.setToolTip("Show this photo's folder in the file manager")
        self.open_folder_button.clicked.connect(self.open_folder)
        self.copy_path_button = QPushButton("Copy path", self)
        self.copy_path_button.setToolTip("Copy where this photo is, to paste it elsewhere")
        self.copy_path_button.clicked.connect(self.copy_path)
        self.told = QLabel(self)
        self.hint = QLabel("Click a face to name or move it; drag a box around a face the scan missed; "
                           "Ctrl+wheel or + and - zoom.", self)
        self.legend = QLabel(LEGEND, self)
        self.view = PhotoView(self)
        QShortcut(QKeySequence(Qt.Key.Key_Left), self, lambda: self.step.emit(-1))
        QShortcut(QKeySequence(Qt.Key.Key_Right), self, lambda: self.step.emit(1))
        self.back_button.setToolTip("Back (Esc)")
        page_keys(self, [(Qt.Key.Key_Escape, self.back.emit), (QKeySequence.StandardKey.Back, self.back.emit),
                         (Qt.Key.Key_Backspace, self.back.emit)])
        top = QHBoxLayout()
        top.addWidget(self.back_button)
        top.addWidget(self.previous_button)
        top.addWidget(self.next_button)
        top.addWidget(self.title, 1)
        top.addWidget(self.position)
        about = QHBoxLayout()
        about.addWidget(self.taken)
        about.addWidget(self.told, 1)
        about.addWidget(self.open_folder_button)
        about.addWidget(self.copy_path_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(about)
        layout.addWidget(self.hint)
        layout.addWidget(self.view)
        layout.addWidget(self.legend)

    def set_file(self, path: str, taken: str | None) -> None:
        """The photo's file and when it was taken, for the line under the title."""
        self.path = path
        self.taken.setText(taken or "")
        self.told.setText("")

    def open_folder(self) -> None:
        folder = str(Path(self.path).parent)
        opened = QDesktopServices.openUrl(QUrl.fromLocalFile(folder))
        self.told.setText(f"Opened {printable_path(folder)}" if opened else
                          f"No file manager answered; the folder is {printable_path(folder)}")

    def copy_path(self) -> None:
        QGuiApplication.clipboard().setText(printable_path(self.path))
        self.told.setText("Path copied")

    def set_position(self, index: int | None, total: int) -> None:
        """Where this photo is in the list it was opened from ("3 of 12"), if any."""
        self.position.setText(f"{index + 1} of {total}" if index is not None and total > 1 else "")
        self.previous_button.setEnabled(index is not None and index > 0)
        self.next_button.setEnabled(index is not None and index + 1 < total)


class SearchPage(QWidget):
    """Photos with several people: each name typed (any case, a first name will do, the
    list completes it) becomes a chip; the photos shown have everyone chosen in them."""

    find = Signal(str)  # text typed, for the window to match against the people
    search_people = Signal(list)  # the chosen people's ids
    open_photo = Signal(int)

    def __init__(self, model: PhotosModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.chosen: list[tuple[int, str]] = []
        self.query = QLineEdit(self)
        self.query.setPlaceholderText("Type a name and press Enter; add more people to find photos with all of them")
        self.names = QStringListModel(self)
        self.completer = QCompleter(self.names, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.query.setCompleter(self.completer)
        self.query.returnPressed.connect(lambda: self.find.emit(self.query.text()))
        self.problem_shown = False  # the result line says what a name typed could not find
        self.query.textChanged.connect(self._typed)
        self.chips = QHBoxLayout()
        self.chips.addStretch()
        self.result = QLabel(self)
        self.view = grid_view(self, text_lines=1)
        self.view.setModel(model)
        self.view.activated.connect(lambda index: self.open_photo.emit(index.data(RECORD_ROLE).photo_id))
        layout = QVBoxLayout(self)
        layout.addWidget(self.query)
        layout.addLayout(self.chips)
        layout.addWidget(self.result)
        layout.addWidget(self.view)

    def _typed(self, text: str) -> None:
        """A cleared box takes its complaint with it ("could be …" stayed after clearing)."""
        if not text.strip() and self.problem_shown:
            self.search_people.emit([p for p, _ in self.chosen])

    def set_names(self, names: list[str]) -> None:
        if names != self.names.stringList():
            self.names.setStringList(names)

    def add_person(self, person_id: int, name: str) -> None:
        if person_id not in [p for p, _ in self.chosen]:
            self.chosen.append((person_id, name))
            self._show_chips()

    def remove_person(self, person_id: int) -> None:
        self.chosen = [(p, n) for p, n in self.chosen if p != person_id]
        self._show_chips()
        self.search_people.emit([p for p, _ in self.chosen])

    def chip_names(self) -> list[str]:
        return [n for _, n in self.chosen]

    def _show_chips(self) -> None:
        while self.chips.count() > 1:  # the stretch stays last
            widget = self.chips.takeAt(0).widget()
            widget.deleteLater()
        for person_id, name in self.chosen:
            chip = QPushButton(f"{name}  ✕", self)
            chip.setToolTip(f"Remove {name} from the search")
            chip.clicked.connect(lambda _=False, p=person_id: self.remove_person(p))
            self.chips.insertWidget(self.chips.count() - 1, chip)


