"""Start the desktop app.

A placeholder window until the GUI issue lands: it opens, names the library location and
says what is coming, so `facenet-desktop`, `python main.py` and the .desktop entry work.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QVBoxLayout, QWidget

from engine.paths import data_dir
from facenet_desktop.resources import icon_path

WINDOW_TITLE = "FaceNet Desktop"


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(WINDOW_TITLE)
        self.resize(960, 640)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        self.message = QLabel(
            "<h2>FaceNet Desktop</h2>"
            "<p>Your photo library, organised by people, entirely offline.</p>"
            f"<p>Library location: <code>{data_dir()}</code></p>"
            "<p>Scanning folders and the people view arrive with the next release; "
            "the face engine is available now as the <code>facenet</code> command.</p>",
            central,
        )
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message)
        self.setCentralWidget(central)


def create_app(argv: Sequence[str]) -> QApplication:
    app = QApplication.instance() or QApplication(list(argv))
    app.setApplicationName("facenet-desktop")
    app.setApplicationDisplayName(WINDOW_TITLE)
    app.setWindowIcon(QIcon(str(icon_path())))
    return app  # type: ignore[return-value]


def main(argv: Sequence[str] | None = None) -> int:
    app = create_app(sys.argv if argv is None else argv)
    window = MainWindow()
    window.show()
    return app.exec()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
