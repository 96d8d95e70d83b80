"""The window's status bar: one route for everything it says, so it is always true.

Four kinds of line, each owning what goes with it:
- a notice ("Face added; click it to name it."), gone after a while;
- an edit's message with its Undo or Redo button, the button gone with the message;
- a job's progress, with the progress bar, cleared when its job ends ("Fine-tuning: 404 of
  404" is not true any more) unless something else was said since;
- what the library holds, shown whenever nothing else is."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar, QWidget

NOTICE_MS = 8000
EDIT_MS = 15000


class StatusLine(QStatusBar):
    def __init__(self, parent: QWidget | None = None, undo: Callable[[], None] | None = None,
                 redo: Callable[[], None] | None = None) -> None:
        super().__init__(parent)
        self.library_summary = QLabel(self)
        self.addWidget(self.library_summary)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setMaximumWidth(240)
        self.progress_bar.hide()
        self.addPermanentWidget(self.progress_bar)
        # "Moved 3 faces to Unsorted.  [Undo]": the button belongs to the message beside it.
        self.undo_button = self.add_button("Undo this edit (Ctrl+Z)", undo or (lambda: None))
        self.undo_button.setText("Undo")
        self.redo_button = self.add_button("Make this edit again (Ctrl+Shift+Z)", redo or (lambda: None))
        self.redo_button.setText("Redo")
        self._edit_message = ""
        self._progress_text = ""
        self.messageChanged.connect(self._message_changed)

    def add_button(self, tooltip: str, action: Callable[[], None]) -> QPushButton:
        """A flat button at the right, hidden until there is something to see behind it."""
        button = QPushButton(self)
        button.setFlat(True)
        button.setToolTip(tooltip)
        button.clicked.connect(action)
        button.hide()
        self.addPermanentWidget(button)
        return button

    def say(self, message: str, milliseconds: int | None = NOTICE_MS) -> None:
        """A notice; None keeps it until something else is said."""
        self.showMessage(message, milliseconds or 0)

    def say_edit(self, message: str, button: str | None) -> None:
        """An edit's message, with the "undo" or "redo" button beside it (or none)."""
        self._edit_message = message
        self.undo_button.setVisible(button == "undo")
        self.redo_button.setVisible(button == "redo")
        self.showMessage(message, EDIT_MS)

    def show_progress(self, text: str, done: int, total: int | None) -> None:
        self.progress_bar.show()
        if total:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)
        else:
            self.progress_bar.setRange(0, 0)  # busy, with no count
        self._progress_text = text
        self.showMessage(text)

    def progress_stopped(self) -> None:
        """A job is stopping: its last progress line is no longer the one to clear."""
        self._progress_text = ""

    def progress_ended(self, message: str | None = None, any_left: bool = False) -> None:
        """A job ended: `message` if it has one to leave, else its progress line goes."""
        if message:
            self.showMessage(message, EDIT_MS)
        elif self._progress_text and self.currentMessage() == self._progress_text:
            self.clearMessage()
        self._progress_text = ""
        if not any_left:
            self.progress_bar.hide()

    def _message_changed(self, message: str) -> None:
        if message != self._edit_message:  # replaced or timed out: the button goes with it
            self._edit_message = ""
            self.undo_button.hide()
            self.redo_button.hide()
