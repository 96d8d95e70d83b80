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


def start_logging(folder: Path | None = None, level: int = logging.INFO) -> Path:
    """Log to <data folder>/facenet.log (rotated); the log file's path.  Calling it again
    changes nothing."""
    path = (folder or data_dir()) / LOG_NAME
    root = logging.getLogger()
    if not any(isinstance(h, logging.handlers.RotatingFileHandler) and Path(h.baseFilename) == path.resolve()
               for h in root.handlers):
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return path
