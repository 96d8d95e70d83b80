"""The library database: schema migrations, connections, transactions.

SQLite in WAL mode so the GUI can read while a scan writes; foreign keys on; one connection
per thread (sqlite3 connections must not be shared across threads).  Every write that must
be all-or-nothing runs inside `Library.atomic()`: a killed process loses at most the batch
in flight, never leaves half of one.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import sqlite_utils

from engine.errors import LibraryDamaged, LibraryError, LibraryUnavailable, NoLibrary
from engine.library.storage.schema import MIGRATIONS
from engine.paths import data_dir
from engine.settings import current_settings

DB_FILENAME = "library.db"

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
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, self.library_path) from exc


class _LibraryCursor(sqlite3.Cursor):
    """Statements and every row fetched after them: a read can meet the disk's trouble at
    its hundredth row as well as at its first."""

    def _translate(self, call, *args):  # noqa: ANN001, ANN002, ANN202 - any sqlite3 cursor method
        try:
            return call(*args)
        except sqlite3.DatabaseError as exc:  # OperationalError (the disk) and damage alike
            translated = _translated(exc, self.connection.library_path)
            if translated is exc:
                raise
            raise translated from exc

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


def _translated(exc: sqlite3.DatabaseError, path: Path) -> Exception:
    return unavailable(exc, path) or damaged(exc, path) or exc


SQLITE_HEADER = b"SQLite format 3\x00"


def inspect_library_file(path: Path) -> str:
    """'absent', 'empty' (no bytes, or a database with no tables) or 'library', found without
    writing a byte.  LibraryError for anything else: another program's database, a file that
    is not a database, a library made by a newer version of the app."""
    try:
        if path.is_dir():
            raise LibraryError(f"{path} is a folder, not a library file; nothing was changed")
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return "absent"
    except OSError as exc:
        raise LibraryUnavailable(f"the library {path} cannot be read ({exc.strerror or exc}); nothing was changed") from exc
    if not header:
        return "empty"
    if header != SQLITE_HEADER:
        raise LibraryError(f"{path} is not a FaceNet Desktop library (it is not a database); nothing was changed")
    try:
        connection = _read_only_connection(path)
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables:
                return "empty"
            applied = set()
            if MIGRATIONS.migrations_table in tables:
                applied = {row[0] for row in connection.execute(
                    f"SELECT name FROM [{MIGRATIONS.migrations_table}] WHERE migration_set = ?", [MIGRATIONS.name])}
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        problem = unavailable(exc, path) or damaged(exc, path)
        if problem is not None:
            raise problem from exc
        raise LibraryError(f"{path} cannot be read as a library ({exc}); nothing was changed") from exc
    if not applied:
        listed = ", ".join(sorted(tables)[:3]) + (", ..." if len(tables) > 3 else "")
        raise LibraryError(f"{path} is another program's database (tables {listed}), not a FaceNet Desktop library; "
                           "nothing was changed")
    unknown = applied - {migration.name for migration in MIGRATIONS._migrations}
    if unknown:
        raise LibraryError(f"{path} was made by a newer FaceNet Desktop (it has changes this version does not know: "
                           f"{', '.join(sorted(unknown))}); update the app to open it. Nothing was changed.")
    return "library"


def _read_only_connection(path: Path, factory: type = sqlite3.Connection) -> sqlite3.Connection:
    """A connection that cannot write.  A WAL library in a read-only folder has no -shm file to
    share and cannot make one: it is then opened as immutable (nobody can change it anyway)."""
    uri = path.resolve().as_uri()
    connection = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30.0, isolation_level=None, factory=factory)
    try:
        sqlite3.Connection.execute(connection, "SELECT count(*) FROM sqlite_master").fetchone()
        return connection
    except sqlite3.OperationalError:
        connection.close()
        if os.access(path.parent, os.W_OK):
            raise
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None, factory=factory)


def is_writable(path: Path) -> bool:
    """Whether this process may write the library (and its journal files beside it)."""
    folder = path.parent if path.parent.exists() else next((p for p in path.parents if p.exists()), path.parent)
    return os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


# SQLite's words for a file whose bytes are wrong (a page overwritten, a bad sector).
_DAMAGE = ("database disk image is malformed", "file is not a database", "database corruption")


def damaged(exc: sqlite3.DatabaseError, path: Path) -> LibraryDamaged | None:
    text = str(exc).lower()
    if any(words in text for words in _DAMAGE):
        return LibraryDamaged(damage_message(path, str(exc)))
    return None


def damage_message(path: Path, detail: str, copy: Path | None = None) -> str:
    kept = f" A copy of it as it is now was kept at {copy}." if copy else ""
    return (f"The library {path} is damaged ({detail}); nothing was changed and no change is allowed until it is "
            f"repaired.{kept} `facenet export -o names.json` saves what can still be read; keep a copy of the file "
            "before any repair.")


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


def in_chunks(db, sql: str, ids: Sequence[int], before: Sequence = (),  # noqa: ANN001 - a sqlite-utils Database
              chunk: int = 500) -> Iterator[sqlite3.Cursor]:
    """Run `sql` (its `{}` is the IN list, after the parameters `before`) over `ids` a chunk at
    a time, within SQLite's limit on parameters; each chunk's cursor."""
    ids = [int(i) for i in ids]
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        yield db.execute(sql.format(",".join("?" * len(part))), [*before, *part])


def changed_in_chunks(db, sql: str, ids: Sequence[int]) -> int:  # noqa: ANN001 - a sqlite-utils Database
    """Run a changing `sql` (UPDATE, DELETE; its `{}` is the IN list) over `ids` in chunks;
    the rows changed."""
    return sum(cursor.rowcount for cursor in in_chunks(db, sql, ids))


def ids_where(db, sql: str, ids: Sequence[int], chunk: int = 500) -> list[int]:  # noqa: ANN001 - a sqlite-utils Database
    """Run `sql` (its `{}` is the IN list) over `ids` a chunk at a time; the ids it returns."""
    return [row[0] for cursor in in_chunks(db, sql, ids, chunk=chunk) for row in cursor.fetchall()]


def embedding_to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def blob_to_embedding(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


class Library:
    """A library database file.  `db` is this thread's connection (sqlite-utils Database).

    Only an absent or empty file becomes a new library (with `create`), and only a FaceNet
    Desktop library of this version or older is opened: anything else is refused before a
    byte is written.  A library this process cannot write opens read-only (browse, export)."""

    def __init__(self, path: str | Path | None = None, create: bool = True) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self.damage: str | None = None  # what check_integrity found
        state = inspect_library_file(self.path)
        if state != "library" and not create:
            what = "an empty file" if state == "empty" else "no file"
            raise NoLibrary(f"no library at {self.path} ({what}); nothing was created. Check the path, or make a "
                            "library with `facenet scan FOLDER`.")
        self.created = state != "library"
        self.read_only = not is_writable(self.path)
        if self.read_only:
            if self.created:
                raise LibraryUnavailable(f"cannot make a library at {self.path}: the folder is read-only")
            if MIGRATIONS.pending(self.db):
                raise LibraryUnavailable(f"the library {self.path} is read-only here and was made by an older "
                                         "version: open it once where it can be written to update it")
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            MIGRATIONS.apply(self.db)
        except sqlite3.DatabaseError as exc:
            raise LibraryError(f"cannot open the library database {self.path}: {exc}") from exc

    def check_integrity(self) -> None:
        """SQLite's quick check (0.4 s on 200,000 faces): a damaged library is kept from every
        write (LibraryDamaged), a copy of it is kept beside it once, and reads go on."""
        try:
            rows = [row[0] for row in self.db.execute("PRAGMA quick_check(5)").fetchall()]
        except LibraryDamaged as exc:
            rows = [str(exc.__cause__ or exc)]
        if rows == ["ok"]:
            return
        found = [" ".join(line.split()) for row in rows for line in str(row).splitlines()
                 if line.strip() and not line.startswith("***")]  # "*** in database main ***" is a heading
        self.damage = "; ".join(found)[:300] or "it fails SQLite's check"
        copy = self._keep_damaged_copy()
        self.close()
        self.read_only = True
        raise LibraryDamaged(damage_message(self.path, self.damage, copy))

    def _keep_damaged_copy(self) -> Path | None:
        copy = self.path.with_name(self.path.name + ".damaged-copy")
        if copy.exists():
            return copy  # the first damaged state is the one worth keeping
        try:
            shutil.copy2(self.path, copy)
            wal = Path(f"{self.path}-wal")
            if wal.exists():
                shutil.copy2(wal, Path(f"{copy}-wal"))
        except OSError:
            return None
        return copy

    @property
    def db(self) -> sqlite_utils.Database:
        database = getattr(self._local, "db", None)
        if database is None:
            database = self._connect()
            self._local.db = database
        return database

    def _connect(self) -> sqlite_utils.Database:
        try:
            if self.read_only:
                conn = _read_only_connection(self.path, _LibraryConnection)
            else:
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=True,
                                       factory=_LibraryConnection)
        except sqlite3.OperationalError as exc:  # the folder is gone: an unplugged drive
            raise _translated(exc, self.path) from exc
        conn.library_path = self.path
        if self.read_only:
            conn.execute("PRAGMA query_only = ON")
            with self._lock:
                self._connections.append(conn)
            return sqlite_utils.Database(conn)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")  # durable at WAL checkpoints; safe against crashes
        with self._lock:
            self._connections.append(conn)
        return sqlite_utils.Database(conn)

    @contextmanager
    def atomic(self) -> Iterator[sqlite_utils.Database]:
        """One transaction (BEGIN IMMEDIATE: writers queue instead of failing mid-way)."""
        if self.damage:
            raise LibraryDamaged(damage_message(self.path, self.damage))
        if self.read_only:
            raise LibraryUnavailable(f"Nothing was changed: the library is read-only here ({self.path}); "
                                     "browsing and exporting still work.")
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
