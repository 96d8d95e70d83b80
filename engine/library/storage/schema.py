"""The library's schema, as the migrations that build it one step at a time.  Each runs
once, in its own transaction; a library records which ran, so one made by a newer app
(a migration this one does not know) is recognised and refused (store.inspect_library_file)."""

from __future__ import annotations

import sqlite3

import sqlite_utils

from engine.errors import LibraryError

MIGRATIONS = sqlite_utils.Migrations("facenet-library")


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


@MIGRATIONS()
def m010_change_times(db: sqlite_utils.Database) -> None:
    """Each photo's inode change time: a file replaced by another of the same size and
    modification time (a copy tool that keeps times) still changes it, so it is analysed
    again instead of keeping another photo's faces and names.  Unknown (NULL) until the
    next scan records it, without re-reading unchanged photos."""
    db.execute("ALTER TABLE photos ADD COLUMN ctime_ns INTEGER")
