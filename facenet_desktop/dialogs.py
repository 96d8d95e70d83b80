"""Dialogs: person picker, settings, fine-tune report, crash."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QStringListModel, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.library.storage.preferences import STRICTNESS, Preferences


class PersonPicker(QDialog):
    """Pick a person with a search box.  Typing filters the list and highlights its first
    match; Up and Down move the highlight; Enter takes the highlighted row.  A new person is
    a row of its own ("New person: …"), highlighted only when nobody matches what was typed,
    so partial text never becomes a new person by accident (typing "mad" meant "Madonna")."""

    NEW = "New person: "

    def __init__(self, names: list[str], parent: QWidget | None = None, title: str = "Move to…") -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search, or type a new name")
        self.known = {name.casefold(): name for name in names}
        self.all_names = sorted(names, key=str.casefold)
        self.rows = QStringListModel(self.all_names, self)
        self.list = QListView(self)
        self.list.setModel(self.rows)
        self.hint = QLabel(self)
        self.search.textChanged.connect(self._typed)
        self.search.returnPressed.connect(self._enter)
        self.search.installEventFilter(self)
        self.list.doubleClicked.connect(self._enter)
        self.list.clicked.connect(lambda _: self._show_hint())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self._enter)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        layout.addWidget(self.hint)
        layout.addWidget(buttons)
        self._show_hint()

    def _typed(self, text: str) -> None:
        typed = " ".join(text.split())
        matches = [n for n in self.all_names if typed.casefold() in n.casefold()]
        exact = typed.casefold() in self.known
        rows = matches + ([f"{self.NEW}{typed}"] if typed and not exact else [])
        self.rows.setStringList(rows)
        if typed and rows:  # the first match (a known name typed in full first of all), else the new person
            first = next((i for i, n in enumerate(rows) if n.casefold() == typed.casefold()), 0)
            self.list.setCurrentIndex(self.rows.index(first, 0))
        self._show_hint()

    def eventFilter(self, watched, event) -> bool:  # noqa: ANN001, N802 - Qt's name
        if watched is self.search and event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Down,
                                                                                                Qt.Key.Key_Up):
            row = self.list.currentIndex().row() + (1 if event.key() == Qt.Key.Key_Down else -1)
            if 0 <= row < self.rows.rowCount():
                self.list.setCurrentIndex(self.rows.index(row, 0))
                self._show_hint()
            return True
        return super().eventFilter(watched, event)

    def _enter(self) -> None:
        if self.chosen() is not None:
            self.accept()

    def _show_hint(self) -> None:
        chosen = self.chosen()
        if chosen is None:
            self.hint.setText("Type a name or pick a person.")
        elif chosen.casefold() in self.known:
            self.hint.setText(f"Enter: {chosen}")
        else:
            self.hint.setText(f"Enter: a new person, {chosen}")

    def chosen(self) -> str | None:
        """The highlighted person, or the new name on the "New person" row."""
        index = self.list.currentIndex()
        if not index.isValid():
            return None
        text = index.data()
        return text[len(self.NEW):] if text.startswith(self.NEW) else text


class SettingsDialog(QDialog):
    def __init__(self, prefs: Preferences, folders: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.strictness = QComboBox(self)
        for key in STRICTNESS:
            self.strictness.addItem(key.capitalize(), key)
        self.strictness.setCurrentIndex(list(STRICTNESS).index(prefs.strictness))
        self.min_face = QSpinBox(self)
        self.min_face.setRange(20, 400)
        self.min_face.setSuffix(" px")
        self.min_face.setValue(int(prefs.min_face_px))
        self.folders = QListWidget(self)
        self.folders.addItems(folders)
        self.excluded = QListWidget(self)
        self.excluded.addItems(list(prefs.excluded_folders))
        add_folder = QPushButton("Add…", self)
        add_folder.clicked.connect(lambda: self._add(self.folders))
        self.remove_folder = QPushButton("Remove", self)
        self.remove_folder.setToolTip("Its photos leave the library (the files stay on disk); people and names stay")
        self.remove_folder.clicked.connect(
            lambda: [self.folders.takeItem(self.folders.row(i)) for i in self.folders.selectedItems()])
        add_excluded = QPushButton("Add…", self)
        add_excluded.clicked.connect(lambda: self._add(self.excluded))
        remove_excluded = QPushButton("Remove", self)
        remove_excluded.clicked.connect(lambda: [self.excluded.takeItem(self.excluded.row(i)) for i in self.excluded.selectedItems()])
        form = QFormLayout()
        form.addRow("Clustering strictness", self.strictness)
        form.addRow("Smallest face", self.min_face)
        form.addRow("Photo folders", self._with_buttons(self.folders, add_folder, self.remove_folder))
        form.addRow("Excluded folders", self._with_buttons(self.excluded, add_excluded, remove_excluded))
        note = QLabel("Stricter clustering splits more and merges less. Excluded folders are not scanned; "
                      "faces already found there keep their names.", self)
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def _with_buttons(self, widget: QWidget, *buttons: QPushButton) -> QWidget:
        box = QWidget(self)
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(widget)
        column = QVBoxLayout()
        for button in buttons:
            column.addWidget(button)
        column.addStretch()
        row.addLayout(column)
        return box

    def _add(self, target: QListWidget) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder")
        if folder:
            target.addItem(folder)

    def preferences(self) -> Preferences:
        excluded = tuple(self.excluded.item(i).text() for i in range(self.excluded.count()))
        return Preferences(self.strictness.currentData(), self.min_face.value(), excluded)

    def folder_list(self) -> list[str]:
        return [self.folders.item(i).text() for i in range(self.folders.count())]


class TextDialog(QDialog):
    """A message with details (fine-tune report, crash): the message is what a person reads;
    the figures wait behind "Show details"."""

    def __init__(self, title: str, message: str, details: str, parent: QWidget | None = None,
                 buttons: QDialogButtonBox.StandardButton = QDialogButtonBox.StandardButton.Close,
                 details_shown: bool = True) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(640, 420)
        label = QLabel(message, self)
        self.message = label
        label.setWordWrap(True)
        self.details = QPlainTextEdit(details, self)
        self.details.setReadOnly(True)
        self.details.setVisible(False)
        self.details_button = QToolButton(self)
        self.details_button.setText("Show details")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self._show_details)
        box = QDialogButtonBox(buttons, self)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        for button in box.buttons():
            if box.buttonRole(button) == QDialogButtonBox.ButtonRole.RejectRole:
                button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.details_button)
        layout.addWidget(self.details, 1)
        layout.addStretch(0)
        layout.addWidget(box)
        self.details_button.setChecked(details_shown)
        self._show_details(details_shown)

    def _show_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_button.setText("Hide details" if shown else "Show details")
        if shown:
            self.resize(max(self.width(), 640), max(self.height(), 420))
        else:
            self.resize(640, self.minimumSizeHint().height())  # no empty space where the details were
