"""The library database: migrations, pragmas, constraints."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest

from engine.library.storage.store import MIGRATIONS, Library, blob_to_embedding, default_db_path, embedding_to_blob


def test_migrations_from_empty_and_reapplied(tmp_path) -> None:
    path = tmp_path / "lib.db"
    with Library(path) as library:
        tables = set(library.db.table_names())
        assert {"folders", "photos", "faces", "people", "rejections", "edits"} <= tables
        applied = [m.name for m in MIGRATIONS.applied(library.db)]
        assert applied == [m.name for m in MIGRATIONS._migrations]
        library.db.execute("INSERT INTO people(name) VALUES ('Ada')")
    with Library(path) as again:  # re-opening applies nothing twice and keeps data
        assert [m.name for m in MIGRATIONS.applied(again.db)] == applied
        assert MIGRATIONS.pending(again.db) == []
        assert again.scalar("SELECT name FROM people") == "Ada"


def test_wal_and_foreign_keys(tmp_path) -> None:
    with Library(tmp_path / "lib.db") as library:
        assert library.scalar("PRAGMA journal_mode") == "wal"
        assert library.scalar("PRAGMA foreign_keys") == 1
        with pytest.raises(sqlite3.IntegrityError):
            library.db.execute(
                "INSERT INTO faces(photo_id, x1, y1, x2, y2, score) VALUES (999, 0, 0, 1, 1, 1)"
            )


def test_one_connection_per_thread(tmp_path) -> None:
    with Library(tmp_path / "lib.db") as library:
        main = library.db
        seen = []
        worker = threading.Thread(target=lambda: seen.append(library.db))
        worker.start()
        worker.join()
        assert seen and seen[0] is not main
        assert library.db is main


def test_names_unique_ignoring_case(tmp_path) -> None:
    with Library(tmp_path / "lib.db") as library:
        library.db.execute("INSERT INTO people(name) VALUES ('Ada Lovelace')")
        with pytest.raises(sqlite3.IntegrityError):
            library.db.execute("INSERT INTO people(name) VALUES ('ada lovelace')")
        library.db.execute("INSERT INTO people(name) VALUES (NULL)")
        library.db.execute("INSERT INTO people(name) VALUES (NULL)")  # unnamed people are many


def test_atomic_rolls_back(tmp_path) -> None:
    with Library(tmp_path / "lib.db") as library:
        with pytest.raises(RuntimeError), library.atomic() as db:
            db.execute("INSERT INTO people(name) VALUES ('Ghost')")
            raise RuntimeError("boom")
        assert library.scalar("SELECT count(*) FROM people") == 0


def test_embedding_blob_round_trip() -> None:
    vector = np.random.default_rng(0).normal(size=128).astype(np.float32)
    blob = embedding_to_blob(vector)
    assert len(blob) == 512
    assert np.array_equal(blob_to_embedding(blob), vector)


def test_default_location_and_override(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("FACENET_DB", raising=False)
    assert default_db_path().name == "library.db"
    monkeypatch.setenv("FACENET_DB", str(tmp_path / "elsewhere.db"))
    assert default_db_path() == tmp_path / "elsewhere.db"


def test_damaged_database_is_a_clear_error(tmp_path) -> None:
    from engine.library.storage.store import LibraryError

    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LibraryError, match="not a FaceNet Desktop library"):
        Library(bad)
    assert bad.read_bytes() == b"this is not a database" * 100


def test_the_log_is_a_rotating_file_in_the_data_folder_and_says_what_was_skipped(tmp_path) -> None:
    import logging
    import logging.handlers

    from engine.logs import MAX_BYTES, start_logging
    from engine.faces.photo_metadata import read_metadata

    root = logging.getLogger()
    before = list(root.handlers)
    try:
        path = start_logging(tmp_path)
        assert start_logging(tmp_path) == path == tmp_path / "facenet.log"  # once, whatever the calls
        added = [h for h in root.handlers if h not in before]
        assert len(added) == 1 and isinstance(added[0], logging.handlers.RotatingFileHandler)
        assert added[0].maxBytes == MAX_BYTES and added[0].backupCount >= 1
        not_a_photo = tmp_path / "notes.jpg"
        not_a_photo.write_text("not a photo")
        assert read_metadata(not_a_photo) is None  # skipped quietly for the user, but logged
        added[0].flush()
        assert f"no metadata read from {not_a_photo}" in path.read_text()
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()


def test_a_library_that_cannot_be_written_says_so_and_changes_nothing(tmp_path) -> None:
    """Read-only, full or busy: SQLite's errors reach the user in plain words as
    LibraryUnavailable (a LibraryError: the window shows it; the CLI prints it), never a crash."""
    from engine.library.edits import editing
    from engine.library.storage.store import LibraryUnavailable

    with Library(tmp_path / "lib.db") as library:
        anna = editing.create_person(library, "Anna")
        library.db.execute("PRAGMA query_only = ON")  # as a read-only disk answers writes
        with pytest.raises(LibraryUnavailable, match="Nothing was changed: the library is read-only here"):
            editing.name_person(library, anna, "Anne")
        library.db.execute("PRAGMA query_only = OFF")
        assert library.scalar("SELECT name FROM people WHERE id = ?", [anna]) == "Anna"
        assert editing.last_edit(library) == "Added Anna"
        editing.name_person(library, anna, "Anne")  # the connection is fine afterwards
        assert library.scalar("SELECT name FROM people WHERE id = ?", [anna]) == "Anne"


def test_reading_a_library_whose_drive_is_gone_says_so_and_works_again_when_it_is_back(tmp_path) -> None:
    """Reads, not only writes: every statement and every new connection reports the disk's
    trouble as LibraryUnavailable in plain words (before: a raw sqlite3.OperationalError)."""
    from engine.library.edits import editing
    from engine.library.storage.store import LibraryUnavailable

    drive = tmp_path / "drive"
    library = Library(drive / "lib.db")
    anna = editing.create_person(library, "Anna")
    library.close()  # as after a restart: the next statement opens a new connection
    drive.rename(tmp_path / "unplugged")
    with pytest.raises(LibraryUnavailable, match="cannot be reached"):
        library.scalar("SELECT name FROM people WHERE id = ?", [anna])
    with pytest.raises(LibraryUnavailable, match="cannot be reached"):
        editing.name_person(library, anna, "Anne")
    (tmp_path / "unplugged").rename(drive)
    library.close()
    assert library.scalar("SELECT name FROM people WHERE id = ?", [anna]) == "Anna"
    library.close()



def _library_as_made_before_m009(path) -> dict:
    """A library as the code before m009 wrote it: vectors in the face rows (the active
    version's) and in face_embeddings (other versions), labels, a rejection, and an undo
    entry that saved a deleted face's whole row, vector included."""
    import json

    import sqlite_utils

    db = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    MIGRATIONS.apply(db, stop_before="m009_embeddings_in_their_own_table")
    vector = {i: np.full(128, i, np.float32) for i in range(1, 5)}
    db.execute("INSERT INTO folders(path) VALUES ('/p')")
    db.execute("INSERT INTO photos(path, folder_id, size, mtime_ns, status) VALUES ('/p/a.jpg', 1, 1, 1, 'done')")
    db.execute("INSERT INTO people(id, name) VALUES (1, 'Anna'), (2, 'Ben')")
    for face in (1, 2, 3):
        db.execute("INSERT INTO faces(id, photo_id, x1, y1, x2, y2, score, embedding, model_version, person_id, assignment, "
                   "confirmed) VALUES (?, 1, ?, 0, ?, 9, 1, ?, 'dlib-resnet-v1', ?, ?, ?)",
                   [face, face * 10, face * 10 + 9, embedding_to_blob(vector[face]), 1 if face < 3 else None,
                    "manual" if face < 3 else None, 1 if face == 1 else 0])
    db.execute("INSERT INTO face_embeddings(face_id, model_version, embedding) VALUES (1, 'tuned', ?)",
               [embedding_to_blob(vector[1] * 2)])
    db.execute("INSERT INTO rejections(face_id, person_id) VALUES (3, 2)")
    deleted_row = {"id": 4, "photo_id": 1, "x1": 40.0, "y1": 0.0, "x2": 49.0, "y2": 9.0, "score": 1.0, "landmarks": None,
                   "embedding": embedding_to_blob(vector[4]).hex(), "model_version": "dlib-resnet-v1", "person_id": 2,
                   "assignment": "manual", "distance": None, "confirmed": 1, "named_from": None, "asked_from": None}
    snapshot = {"faces": {"4": [2, "manual", None, 1, None]}, "people": {}, "rejections": {"4": []},
                "rows": {"4": {"face": deleted_row, "embeddings": []}}}
    db.execute("INSERT INTO edits(description, snapshot) VALUES (?, ?)", ["Removed 1 face (not a face)", json.dumps(snapshot)])
    db.conn.close()
    return vector


def test_m009_moves_every_vector_to_face_embeddings_and_keeps_everything_else(tmp_path) -> None:
    from engine.library.edits import editing
    from engine.library.storage.model_registry import active_name

    path = tmp_path / "before.db"
    vector = _library_as_made_before_m009(path)
    with Library(path) as library:
        columns = {row[1] for row in library.db.execute("PRAGMA table_info(faces)")}
        assert "embedding" not in columns and "model_version" not in columns
        stored = {(r["face_id"], r["model_version"]): blob_to_embedding(r["embedding"])
                  for r in library.query("SELECT * FROM face_embeddings")}
        assert set(stored) == {(1, "dlib-resnet-v1"), (2, "dlib-resnet-v1"), (3, "dlib-resnet-v1"), (1, "tuned")}
        for face in (1, 2, 3):
            np.testing.assert_array_equal(stored[(face, "dlib-resnet-v1")], vector[face])
        np.testing.assert_array_equal(stored[(1, "tuned")], vector[1] * 2)
        assert active_name(library) == "dlib-resnet-v1"  # as it was: the faces' own version
        labels = library.query("SELECT id, person_id, assignment, confirmed FROM faces ORDER BY id")
        assert labels == [{"id": 1, "person_id": 1, "assignment": "manual", "confirmed": 1},
                          {"id": 2, "person_id": 1, "assignment": "manual", "confirmed": 0},
                          {"id": 3, "person_id": None, "assignment": None, "confirmed": 0}]
        assert library.query("SELECT face_id, person_id FROM rejections") == [{"face_id": 3, "person_id": 2}]
        # Undoing the old "not a face" brings the face back with the vector its saved row held.
        assert editing.undo(library) is not None
        assert library.query("SELECT person_id, assignment FROM faces WHERE id = 4") == [{"person_id": 2, "assignment": "manual"}]
        back = library.scalar("SELECT embedding FROM face_embeddings WHERE face_id = 4 AND model_version = 'dlib-resnet-v1'")
        np.testing.assert_array_equal(blob_to_embedding(back), vector[4])
        assert library.scalar("PRAGMA integrity_check") == "ok"
        assert library.scalar("PRAGMA foreign_key_check") is None


def test_an_edit_no_longer_rewrites_vectors(tmp_path) -> None:
    """Moving faces between people rewrites face rows only: the bytes it writes (the WAL's
    growth) are less than the moved faces' vectors alone.  Before m009 each face row held
    its 512-byte vector, so the pages holding them were all written again."""
    from synthetic_library import fill_library

    from engine.library.edits import editing

    faces = 3000
    with Library(tmp_path / "lib.db") as library:
        ids = fill_library(library, np.random.default_rng(0).normal(size=(faces, 128)).astype(np.float32))
        anna = editing.create_person(library, "Anna")
        library.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = tmp_path / "lib.db-wal"
        editing.move_faces(library, ids, anna)
        written = wal.stat().st_size
        assert written < faces * 512


def test_the_assignment_states_in_sql_are_the_ones_the_code_names(tmp_path) -> None:
    """engine.library.storage.assignments names the states; the faces table's CHECK constraint is
    what SQLite enforces.  They must be the same words, and a word outside them is refused."""
    import re

    from engine.library.storage.assignments import THE_PERSONS, Assignment

    with Library(tmp_path / "lib.db") as library:
        schema = library.scalar("SELECT sql FROM sqlite_master WHERE name = 'faces'")
        listed = re.search(r"assignment IN \(([^)]*)\)", schema).group(1)
        assert {word.strip(" '") for word in listed.split(",")} == {state.value for state in Assignment}
        assert set(THE_PERSONS) == {Assignment.AUTO, Assignment.MANUAL}
        library.db.execute("INSERT INTO folders(path) VALUES ('/p')")
        library.db.execute("INSERT INTO photos(path, folder_id, size, mtime_ns, status) VALUES ('/p/a.jpg', 1, 1, 1, 'done')")
        library.db.execute("INSERT INTO people(id, name) VALUES (1, 'Anna')")
        for state in Assignment:
            library.db.execute("INSERT INTO faces(photo_id, x1, y1, x2, y2, score, person_id, assignment) "
                               "VALUES (1, 0, 0, 9, 9, 1, 1, ?)", [state])
        with pytest.raises(sqlite3.IntegrityError):
            library.db.execute("INSERT INTO faces(photo_id, x1, y1, x2, y2, score, person_id, assignment) "
                               "VALUES (1, 0, 0, 9, 9, 1, 1, 'maybe')")


def test_every_statement_and_fetch_of_the_library_goes_through_the_translation(tmp_path, monkeypatch) -> None:
    """A disk error can come at the hundredth row of a read as well as at its first: the
    library's cursors translate fetches too, whoever issues the statement (sqlite-utils,
    Library.query, db.execute)."""
    from engine.library.storage.store import LibraryUnavailable, _LibraryCursor

    seen = []
    original = _LibraryCursor._translate
    monkeypatch.setattr(_LibraryCursor, "_translate",
                        lambda self, call, *args: seen.append(call.__name__) or original(self, call, *args))
    with Library(tmp_path / "lib.db") as library:
        library.db["people"].insert({"name": "Anna"})  # through sqlite-utils
        library.query("SELECT * FROM people")
        library.db.execute("SELECT * FROM people").fetchone()
        list(library.db.execute("SELECT * FROM people"))
        assert {"<lambda>", "fetchall", "fetchone", "__next__"} <= set(seen)  # <lambda>: a statement

        def disk_error() -> None:
            raise sqlite3.OperationalError("disk I/O error")

        with pytest.raises(LibraryUnavailable, match="the disk reported an error"):
            library.db.execute("SELECT 1")._translate(disk_error)


def test_a_library_made_by_an_older_version_is_known_before_it_is_opened(tmp_path) -> None:
    """The window says it is converting such a library (m009 takes about 1.5 s per 100k
    faces) instead of a start that seems to hang; asking changes nothing."""
    from engine.library.storage.store import needs_converting

    old = tmp_path / "before.db"
    _library_as_made_before_m009(old)
    with sqlite3.connect(old) as connection:  # as the app leaves its libraries
        connection.execute("PRAGMA journal_mode=WAL")
    before = old.read_bytes()
    assert needs_converting(old)
    assert old.read_bytes() == before  # only looked at, read-only
    Library(old).close()
    assert not needs_converting(old)
    assert not needs_converting(tmp_path / "new.db")  # a new library has nothing to convert
    (tmp_path / "garbage.db").write_bytes(b"not a database")
    assert not needs_converting(tmp_path / "garbage.db")  # opening it will say what is wrong


def test_queries_over_many_ids_run_in_chunks_and_match_one_query(tmp_path) -> None:
    """More ids than one statement may carry (SQLite allows 32,766 parameters): chunked, with
    parameters before the list, the answers equal one plain query's."""
    from engine.library.storage.store import changed_in_chunks, ids_where, in_chunks

    db = sqlite3.connect(tmp_path / "t.db")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, kind TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?)", [(i, "even" if i % 2 == 0 else "odd") for i in range(1, 40_001)])
    wanted = list(range(5, 40_001, 3))  # 13,333 ids: over the limit in one statement only if unchunked
    expected = [r[0] for r in db.execute("SELECT id FROM t WHERE kind = 'even' AND id % 3 = 2 AND id >= 5 ORDER BY id")]
    found = sorted(row[0] for cursor in in_chunks(db, "SELECT id FROM t WHERE kind = ? AND id IN ({})", wanted,
                                                  before=["even"], chunk=1000) for row in cursor)
    assert found == expected
    assert sorted(ids_where(db, "SELECT id FROM t WHERE id IN ({})", wanted + [99_999], chunk=7)) == wanted
    assert changed_in_chunks(db, "DELETE FROM t WHERE kind = 'odd' AND id IN ({})", wanted) == len(
        [i for i in wanted if i % 2 == 1])
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 40_000 - len([i for i in wanted if i % 2 == 1])
