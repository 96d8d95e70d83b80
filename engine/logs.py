"""The app's log: a rotating file in the data folder, so what went wrong on a user's machine
(a photo skipped, a cache rebuilt, a crash) can be read afterwards.  Modules log with
`logging.getLogger(__name__)`; the CLI and the window call `start_logging` once."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from engine.paths import data_dir

LOG_NAME = "facenet.log"
MAX_BYTES = 1_000_000
BACKUPS = 3  # facenet.log.1 ... .3: at most 4 MB on disk


class _QuietFileHandler(logging.handlers.RotatingFileHandler):
    """A log that cannot be written (a full disk) is not worth a traceback on the user's
    terminal in front of the one line that says what happened: its records are dropped."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass


def start_logging(folder: Path | None = None, level: int = logging.INFO) -> Path | None:
    """Log to <data folder>/facenet.log (rotated); the log file's path.  Calling it again
    changes nothing.  A folder that cannot be written (a read-only disk) leaves the app
    working: warnings then go to the terminal and the path is None."""
    path = (folder or data_dir()) / LOG_NAME
    root = logging.getLogger()
    if not any(isinstance(h, logging.handlers.RotatingFileHandler) and Path(h.baseFilename) == path.resolve()
               for h in root.handlers):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = _QuietFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
        except OSError as exc:
            if not any(getattr(h, "facenet_fallback", False) for h in root.handlers):
                fallback = logging.StreamHandler()
                fallback.setLevel(logging.WARNING)
                fallback.facenet_fallback = True
                fallback.setFormatter(logging.Formatter("facenet: %(levelname)s: %(message)s"))
                root.addHandler(fallback)
                # Said only in the log's stead: a read-only disk is the library's to report, in one line.
                root.info("no log file (%s: %s); warnings go to the terminal", path, exc.strerror or exc)
            return None
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return path
