"""The library database: schema migrations, connections, transactions.

SQLite in WAL mode so the GUI can read while a scan writes; foreign keys on; one connection
per thread (sqlite3 connections must not be shared across threads).  Every write that must
be all-or-nothing runs inside `Library.atomic()`: a killed process loses at most the batch
in flight, never leaves half of one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import sqlite_utils

from engine.errors import LibraryError, LibraryUnavailable
from engine.paths import data_dir
from engine.settings import current_settings

DB_FILENAME = "library.db"
MIGRATIONS = sqlite_utils.Migrations("facenet-library")

# SQLite's words -> the user's.  Matched against the start of the error text.
_UNAVAILABLE = {
    "database is locked": "the library is busy (another program is writing to it); try again in a moment",
    "database or disk is full": "the disk is full; free some space and try again",
    "attempt to write a readonly database": "the library is read-only here (a read-only disk or folder)",
    "disk i/o error": "the disk reported an error while reading or writing the library",
    "unable to open database file": "the library's folder cannot be reached (an unplugged drive?)",
}


def unavailable(exc: sqlite3.Error, path: Path) -> LibraryUnavailable | None:
    """The plain-words error for SQLite failures that are about the disk, not about us."""
    text = str(exc).lower()
    for start, words in _UNAVAILABLE.items():
        if text.startswith(start):
            return LibraryUnavailable(f"Nothing was changed: {words} ({path}).")
    return None


class _LibraryConnection(sqlite3.Connection):
    """A connection whose statements report SQLite's disk errors as LibraryUnavailable
    wherever they happen: reads and writes, in or out of a transaction."""

    library_path: Path = Path()

    def cursor(self, factory: type | None = None) -> sqlite3.Cursor:  # sqlite3's own signature
        return super().cursor(factory or _LibraryCursor)

    def execute(self, *args, **kwargs) -> sqlite3.Cursor:  # noqa: ANN002, ANN003 - sqlite3's own signature
        return self.cursor().execute(*args, **kwargs)

    def executemany(self, *args, **kwargs) -> sqlite3.Cursor:  # noqa: ANN002, ANN003
        return self.cursor().executemany(*args, **kwargs)

    def executescript(self, *args, **kwargs) -> sqlite3.Cursor:  # noqa: ANN002, ANN003
        try:
            return super().executescript(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            raise _translated(exc, self.library_path) from exc


class _LibraryCursor(sqlite3.Cursor):
    """Statements and every row fetched after them: a read can meet the disk's trouble at
    its hundredth row as well as at its first."""

    def _translate(self, call, *args):  # noqa: ANN001, ANN002, ANN202 - any sqlite3 cursor method
        try:
            return call(*args)
        except sqlite3.OperationalError as exc:
            raise _translated(exc, self.connection.library_path) from exc

    def execute(self, *args, **kwargs) -> sqlite3.Cursor:  # noqa: ANN002, ANN003
        return self._translate(lambda: super(_LibraryCursor, self).execute(*args, **kwargs))

    def executemany(self, *args, **kwargs) -> sqlite3.Cursor:  # noqa: ANN002, ANN003
        return self._translate(lambda: super(_LibraryCursor, self).executemany(*args, **kwargs))

    def fetchone(self):  # noqa: ANN202 - a row or None
        return self._translate(super().fetchone)

    def fetchmany(self, *args) -> list:  # noqa: ANN002
        return self._translate(super().fetchmany, *args)

    def fetchall(self) -> list:
        return self._translate(super().fetchall)

    def __next__(self):  # noqa: ANN204
        return self._translate(super().__next__)


def _translated(exc: sqlite3.OperationalError, path: Path) -> Exception:
    return unavailable(exc, path) or exc


def needs_converting(path: str | Path) -> bool:
    """An existing library that an older version of the app made: opening it converts it
    first (a few seconds for a large one), which the window says before it starts."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            db = sqlite_utils.Database(connection)
            return db[MIGRATIONS.migrations_table].exists() and bool(MIGRATIONS.pending(db))
        finally:
            connection.close()
    except sqlite3.Error:
        return False  # opening it will say what is wrong


def default_db_path() -> Path:
    """`FACENET_DB` if set, else library.db in the platform's user data folder."""
    return current_settings().database or data_dir() / DB_FILENAME


@MIGRATIONS()
def m001_initial_schema(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE folders (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            added_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE TABLE photos (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            folder_id INTEGER REFERENCES folders(id) ON DELETE SET NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            content_hash TEXT,
            width INTEGER,
            height INTEGER,
            taken_at TEXT,
            status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'error')),
            error TEXT,
            scanned_at TEXT
        );
        CREATE INDEX photos_by_hash ON photos(content_hash);
        CREATE INDEX photos_by_folder ON photos(folder_id);
        CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT UNIQUE COLLATE NOCASE CHECK (name IS NULL OR length(trim(name)) > 0),
            hidden INTEGER NOT NULL DEFAULT 0,
            cover_face_id INTEGER REFERENCES faces(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE TABLE faces (
            id INTEGER PRIMARY KEY,
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
            score REAL NOT NULL,
            landmarks BLOB,
            embedding BLOB NOT NULL,
            model_version TEXT NOT NULL,
            person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
            assignment TEXT CHECK (assignment IN ('auto', 'manual', 'suggested')),
            distance REAL,
            CHECK ((person_id IS NULL) = (assignment IS NULL))
        );
        CREATE INDEX faces_by_photo ON faces(photo_id);
        CREATE INDEX faces_by_person ON faces(person_id);
        CREATE TABLE rejections (
            face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            PRIMARY KEY (face_id, person_id)
        );
        CREATE TABLE edits (
            id INTEGER PRIMARY KEY,
            description TEXT NOT NULL,
            snapshot TEXT NOT NULL,
            created_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        """
    )


@MIGRATIONS()
def m002_model_versions(db: sqlite_utils.Database) -> None:
    """Fine-tuned model versions, the active one, and each face's embedding under versions
    other than its current one (kept so switching back needs no recomputation)."""
    db.executescript(
        """
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE model_versions (
            name TEXT PRIMARY KEY,
            parent TEXT,
            file TEXT,
            version TEXT NOT NULL,
            report TEXT,
            created_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE TABLE face_embeddings (
            face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            model_version TEXT NOT NULL,
            embedding BLOB NOT NULL,
            PRIMARY KEY (face_id, model_version)
        );
        CREATE INDEX face_embeddings_by_version ON face_embeddings(model_version);
        """
    )


@MIGRATIONS()
def m003_people_view_indexes(db: sqlite_utils.Database) -> None:
    """The GUI's people grid and suggestions list on 100k faces: 280 ms and 21 ms without
    these, 10 ms and <1 ms with them (benchmarks/gui_responsiveness.py's library)."""
    db.executescript(
        """
        CREATE INDEX faces_by_person_assignment ON faces(person_id, assignment);
        CREATE INDEX faces_suggested ON faces(distance) WHERE assignment = 'suggested';
        """
    )


@MIGRATIONS()
def m004_missing_photos(db: sqlite_utils.Database) -> None:
    """A photo gone from disk is kept, with its faces and names, until the user forgets it:
    an unplugged drive or an empty mount point must not undo hours of naming."""
    db.executescript("ALTER TABLE photos ADD COLUMN missing_since TEXT;")


@MIGRATIONS()
def m005_redo(db: sqlite_utils.Database) -> None:
    """Edits the user undid, to make again (Ctrl+Shift+Z): the rows as the edit left them and
    as the undo put them back.  The next edit clears it."""
    db.executescript(
        """
        CREATE TABLE redo (
            id INTEGER PRIMARY KEY,
            description TEXT NOT NULL,
            snapshot TEXT NOT NULL,
            undone TEXT NOT NULL
        );
        """
    )


@MIGRATIONS()
def m006_confirmed_faces(db: sqlite_utils.Database) -> None:
    """Faces the user confirmed one by one (answered, moved, drew, confirmed) apart from faces
    named with their group, which may hold faces the user never looked at.  Labels made before
    the distinction existed count as confirmed: nothing the user did becomes movable."""
    db.executescript(
        """
        ALTER TABLE faces ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0;
        UPDATE faces SET confirmed = 1 WHERE assignment = 'manual';
        """
    )


@MIGRATIONS()
def m007_label_source(db: sqlite_utils.Database) -> None:
    """Where a name came from when it did not come from the user here ('XMP': a face region
    named in another app), so the app can say so."""
    db.executescript("ALTER TABLE faces ADD COLUMN named_from TEXT;")


@MIGRATIONS()
def m008_doubtful_questions(db: sqlite_utils.Database) -> None:
    """A face named with its group that a regroup turned into a question keeps the person it
    was named as: the question survives later regroups, and No gives the face back to them."""
    db.executescript("ALTER TABLE faces ADD COLUMN asked_from INTEGER REFERENCES people(id) ON DELETE SET NULL;")


@MIGRATIONS()
def m009_embeddings_in_their_own_table(db: sqlite_utils.Database) -> None:
    """Every embedding in face_embeddings, the active version a setting.  Face rows held the
    active version's 512-byte vector, so every edit that moved faces rewrote their vectors
    too (merging the two largest people of a 100k library: about 7 MB), and switching models
    swapped vectors between tables; now a switch embeds what is missing and flips the
    setting.  The active version is written down as it was (the faces' own version)."""
    if sqlite3.sqlite_version_info < (3, 35, 0):
        raise LibraryError(f"this library needs SQLite 3.35 or newer (found {sqlite3.sqlite_version})")
    # One statement at a time, inside the migration's transaction (executescript would commit
    # first): a failure leaves the library exactly as it was.
    for statement in (
        "INSERT OR REPLACE INTO face_embeddings(face_id, model_version, embedding) "
        "SELECT id, model_version, embedding FROM faces",
        "INSERT OR IGNORE INTO settings(key, value) SELECT 'active_model', model_version FROM faces "
        "GROUP BY model_version ORDER BY count(*) DESC, model_version LIMIT 1",
        "ALTER TABLE faces DROP COLUMN embedding",
        "ALTER TABLE faces DROP COLUMN model_version",
    ):
        db.execute(statement)


def ids_where(db, sql: str, ids: list[int], chunk: int = 500) -> list[int]:  # noqa: ANN001 - a sqlite-utils Database
    """Run `sql` (its `{}` is the IN list) over `ids` a chunk at a time; the ids it returns."""
    out = []
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        out += [r[0] for r in db.execute(sql.format(",".join("?" * len(part))), part).fetchall()]
    return out


def embedding_to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def blob_to_embedding(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


class Library:
    """A library database file.  `db` is this thread's connection (sqlite-utils Database)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            MIGRATIONS.apply(self.db)
        except sqlite3.DatabaseError as exc:
            raise LibraryError(f"cannot open the library database {self.path}: {exc}") from exc

    @property
    def db(self) -> sqlite_utils.Database:
        database = getattr(self._local, "db", None)
        if database is None:
            database = self._connect()
            self._local.db = database
        return database

    def _connect(self) -> sqlite_utils.Database:
        try:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=True,
                                   factory=_LibraryConnection)
        except sqlite3.OperationalError as exc:  # the folder is gone: an unplugged drive
            raise _translated(exc, self.path) from exc
        conn.library_path = self.path
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")  # durable at WAL checkpoints; safe against crashes
        with self._lock:
            self._connections.append(conn)
        return sqlite_utils.Database(conn)

    @contextmanager
    def atomic(self) -> Iterator[sqlite_utils.Database]:
        """One transaction (BEGIN IMMEDIATE: writers queue instead of failing mid-way)."""
        db = self.db
        if db.conn.in_transaction:
            with db.atomic():
                yield db
            return
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.conn.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except (sqlite3.OperationalError, LibraryUnavailable):
            if db.conn.in_transaction:
                db.execute("ROLLBACK")  # a COMMIT that failed leaves the transaction open
            raise

    def query(self, sql: str, params: tuple | list | dict = ()) -> list[sqlite3.Row]:
        cursor = self.db.execute(sql, params)
        names = [c[0] for c in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def scalar(self, sql: str, params: tuple | list | dict = ()):  # noqa: ANN201 - any SQL value
        row = self.db.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:  # created in another thread; closed there
                    pass
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
