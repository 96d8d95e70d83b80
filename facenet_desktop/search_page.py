"""Search: the names typed become chips, the photos with all of them are shown."""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import (
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from facenet_desktop.grid import grid_view
from facenet_desktop.models import (
    RECORD_ROLE,
    PhotosModel,
)


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
