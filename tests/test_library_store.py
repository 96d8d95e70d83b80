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
