"""Starting the app: a clear message instead of Qt's abort where no display can work, the
library opened (a notice while an older one is converted), checked and tidied, the window
shown where it was last closed, and SIGTERM closing it as its close button does."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMessageBox

from engine.library.storage.model_registry import remove_orphan_candidates
from engine.library.storage.store import Library, LibraryError, default_db_path, needs_converting
from engine.logs import start_logging
from engine.paths import data_dir
from engine.settings import session_environment
from facenet_desktop.crash import install_crash_dialog
from facenet_desktop.display_check import display_problem, tell_without_qt
from facenet_desktop.resources import WINDOW_TITLE, icon_path


def close_on_termination(window: QMainWindow) -> None:
    """SIGTERM or SIGHUP (a logout, `kill`) close the window as its close button does: jobs
    stop, children end, the library is closed.  Python runs signal handlers only between Qt
    events, so a timer keeps events coming."""
    def close(_signum: int, _frame: object) -> None:
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, close)
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(250)


def create_app(argv: Sequence[str]) -> QApplication:
    app = QApplication.instance() or QApplication(list(argv))
    app.setApplicationName("facenet-desktop")
    app.setApplicationDisplayName(WINDOW_TITLE)
    app.setWindowIcon(QIcon(str(icon_path())))
    return app  # type: ignore[return-value]


def open_library_saying_so(path: Path) -> Library:
    """Open the library; one made by an older version is converted first (about 1.5 s per
    100,000 faces), and a notice says so meanwhile instead of a start that seems to hang."""
    if not needs_converting(path):
        return Library(path)
    notice = QLabel("Updating your library for this version of FaceNet Desktop…\nYour names and labels are kept.")
    notice.setObjectName("library-update-notice")
    notice.setWindowTitle(WINDOW_TITLE)
    notice.setMargin(24)
    notice.show()
    QApplication.processEvents()
    try:
        return Library(path)
    finally:
        notice.close()


def run(make_window: Callable[[Library], QMainWindow], argv: Sequence[str] | None = None) -> int:
    """The app from start to exit: its exit status."""
    start_logging()
    session = session_environment()
    problem = display_problem(session)
    if problem:  # Qt would abort the process with a misleading message
        logging.getLogger(__name__).error("%s", problem)
        print(problem, file=sys.stderr)
        tell_without_qt(problem, session)
        return 1
    app = create_app(sys.argv if argv is None else argv)
    try:
        library = open_library_saying_so(default_db_path())
    except LibraryError as exc:
        QMessageBox.critical(None, WINDOW_TITLE, str(exc))
        return 1
    try:
        library.check_integrity()
        remove_orphan_candidates(library)
    except LibraryError as exc:  # damaged: the window would fail at every step
        QMessageBox.critical(None, WINDOW_TITLE, str(exc))
        return 1
    except OSError:  # a read-only models folder: the orphans wait
        logging.getLogger(__name__).info("unfinished model files not removed", exc_info=True)
    window = make_window(library)
    install_crash_dialog(lambda: window)
    close_on_termination(window)
    window.remember_geometry(data_dir() / "window.ini")
    window.show()
    return app.exec()
