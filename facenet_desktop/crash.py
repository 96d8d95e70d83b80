"""Unexpected exceptions reach the user as a dialog (and the log); a library the disk will
not serve is not a bug and is said in plain words."""

from __future__ import annotations

import logging
import sys
import time
import traceback

from engine.errors import LibraryUnavailable
from engine.paths import data_dir
from facenet_desktop.dialogs import TextDialog


def install_crash_dialog(window_getter) -> None:  # noqa: ANN001
    """Unexpected exceptions: logged to the data folder and shown; the library is safe
    because every change is committed as it happens.  A library the disk will not serve
    (LibraryUnavailable: an unplugged drive, a full disk) is not a bug: it is said in plain
    words, wherever it surfaced (a background read, a refresh)."""

    def hook(kind, value, tb) -> None:  # noqa: ANN001
        window = window_getter()
        if issubclass(kind, LibraryUnavailable) and window is not None:
            logging.getLogger(__name__).warning("library unavailable: %s", value)
            window.report_error(str(value))
            return
        text = "".join(traceback.format_exception(kind, value, tb))
        logging.getLogger(__name__).error("unexpected error", exc_info=(kind, value, tb))
        log = data_dir() / "crash.log"
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as handle:
                handle.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n{text}\n")
        except OSError:
            pass
        sys.stderr.write(text)
        dialog = TextDialog("Something went wrong",
                            "FaceNet Desktop hit an unexpected error. Your library is safe: every change is saved "
                            f"as it happens. The details below were also written to {log}.", text, window)
        dialog.setObjectName("crash-dialog")
        dialog.show()

    sys.excepthook = hook
