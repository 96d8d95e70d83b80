"""Every error the user can cause, in one place: the CLI and the window catch these (and
say them in plain words); anything else is a bug and reaches the crash report.

A photo we cannot read (skip it, record why, go on), a model file we cannot trust (stop:
every result would be garbage), a library request that cannot be done or a library the
disk will not serve, training data that cannot train, and a job the user stopped.
"""

from __future__ import annotations

from pathlib import Path


class EngineError(Exception):
    """Base class for errors the engine reports to its callers on purpose."""


class ImageLoadError(EngineError):
    """A photo could not be decoded; carries the path and a human-readable reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class Cancelled(EngineError):
    """The user stopped a long job.  Every job commits in batches and resumes, so what it
    committed stays; `partial` is its summary so far (a scan's counts, a switch's embedded
    faces, a training run's epochs), for the report.  The one way a job says it stopped."""

    def __init__(self, partial: object | None = None) -> None:
        self.partial = partial
        super().__init__("stopped; what was done so far is kept")


class SettingError(EngineError, ValueError):
    """A FACENET_* setting holds a value the engine cannot use (engine.settings lists them)."""


class LibraryError(EngineError):
    """A library operation the user asked for cannot be done (unknown person, bad name...)."""


class LibraryUnavailable(LibraryError):
    """The database cannot be read or written now: busy past the timeout, disk full,
    read-only, an I/O error, the drive gone.  Nothing was changed (a transaction rolls
    back); the user can try again."""


class NoLibrary(LibraryError):
    """No library exists at the path given (no file, or an empty one) and the command only
    reads or edits one: a typo in --db must not silently become a new, empty library."""


class LibraryDamaged(LibraryUnavailable):
    """The library file fails SQLite's checks (a page overwritten, a bad sector): writes are
    refused so the damage cannot spread, and what can still be read can be exported."""


class TrainingDataError(EngineError, ValueError):
    """The photos given for training cannot train a model (none found, too few people)."""


class ModelFileError(EngineError):
    """A model file is missing, truncated, corrupted or not the model we expected."""

    def __init__(self, path: str | Path | None, reason: str) -> None:
        self.path = Path(path) if path is not None else None
        self.reason = reason
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{reason}")
