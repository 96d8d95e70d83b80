"""Suggestions: group and face questions one at a time with their keys, and the pages of
faces (review_panel.py) when the questions run out.  Thin, like every page."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.library.questions.group_suggestions import GroupSuggestion
from engine.library.reading.browse import FaceTile
from engine.wording import counted
from facenet_desktop.grid import grid_view
from facenet_desktop.models import (
    RECORD_ROLE,
    FacesModel,
    SuggestionsModel,
)


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
