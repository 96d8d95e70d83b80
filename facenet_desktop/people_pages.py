"""The people pages: the welcome page (add a folder), the grid of people, and one person's faces.
Thin: they show models and emit what the user asked for; the window turns requests into engine calls."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.library.reading.browse import UNSORTED, FaceTile
from engine.wording import counted
from facenet_desktop.grid import add_context_menu, grid_view, page_keys, right_clicked, selected_ids
from facenet_desktop.models import (
    ID_ROLE,
    PEOPLE_ORDERS,
    RECORD_ROLE,
    FacesModel,
    PeopleModel,
)


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
