"""The library database: migrations, pragmas, constraints."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest

from engine.library.store import MIGRATIONS, Library, blob_to_embedding, default_db_path, embedding_to_blob


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
                "INSERT INTO faces(photo_id, x1, y1, x2, y2, score, embedding, model_version) VALUES (999, 0, 0, 1, 1, 1, x'00', 'm')"
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
    from engine.library.store import LibraryError

    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LibraryError, match="cannot open the library database"):
        Library(bad)


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
    from engine.library import editing
    from engine.library.store import LibraryUnavailable

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
    from engine.library import editing
    from engine.library.store import LibraryUnavailable

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

