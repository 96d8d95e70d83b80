"""The undo journal of the user's edits: each edit saves the rows it changes (a snapshot),
changes them and logs itself in one transaction; Undo puts the saved rows back and keeps
what it replaced for Redo.  The edit verbs themselves are in editing.py."""

from __future__ import annotations

import json
from collections.abc import Iterable

from engine.library.storage.covers import refresh_covers, stale_covers
from engine.library.storage.model_registry import ACTIVE_KEY, MISSING_VECTORS_SQL
from engine.library.storage.store import Library, LibraryError, in_chunks
from engine.model_versions import DEFAULT_VERSION

MAX_UNDO = 200
ROW_TABLES = ("folders", "photos")  # deleted whole by an edit and put back by its undo, in this order


class Snapshot:
    """The rows an edit is about to change, saved so Undo can put them back (and Redo the edit's)."""

    def __init__(self, db) -> None:  # noqa: ANN001
        self.db = db
        self.faces: dict[int, list] = {}
        self.people: dict[int, list | None] = {}
        self.rejections: dict[int, list[int]] = {}
        self.rows: dict[int, dict] = {}  # whole face rows, for faces the edit deletes
        self.absent: list[int] = []  # faces that do not exist in this state
        self.tables: dict[str, dict[int, dict]] = {}  # whole rows of deleted folders and photos
        self.absent_rows: dict[str, list[int]] = {}  # folders and photos that do not exist in this state
        self.active_model: str | None = None  # the model version in use, for an edit that switches it
        self.description = ""

    def save_faces(self, face_ids: Iterable[int]) -> None:
        ids = [f for f in face_ids if f not in self.faces]
        rows = "SELECT id, person_id, assignment, distance, confirmed, asked_from FROM faces WHERE id IN ({})"
        for cursor in in_chunks(self.db, rows, ids):
            for row in cursor.fetchall():
                self.faces[row[0]] = list(row[1:])
        for cursor in in_chunks(self.db, "SELECT face_id, person_id FROM rejections WHERE face_id IN ({})", ids):
            for face_id, person_id in cursor.fetchall():
                self.rejections.setdefault(face_id, []).append(person_id)
        for face_id in ids:
            self.rejections.setdefault(face_id, [])

    def save_rows(self, face_ids: Iterable[int]) -> None:
        """Whole rows (embeddings under every version too), so a deleted face can come back."""
        for face_id in face_ids:
            cursor = self.db.execute("SELECT * FROM faces WHERE id = ?", [face_id])
            row = cursor.fetchone()
            if row is None or face_id in self.rows:
                continue
            names = [c[0] for c in cursor.description]
            self.rows[face_id] = {
                "face": {n: (v.hex() if isinstance(v, bytes) else v) for n, v in zip(names, row, strict=True)},
                "embeddings": [[version, blob.hex()] for version, blob in self.db.execute(
                    "SELECT model_version, embedding FROM face_embeddings WHERE face_id = ?", [face_id]).fetchall()],
            }

    def save_table_rows(self, table: str, row_ids: Iterable[int]) -> None:
        """Whole rows of `folders` or `photos` (no blobs there), so a deleted one can come back."""
        assert table in ROW_TABLES
        saved = self.tables.setdefault(table, {})
        for row_id in row_ids:
            cursor = self.db.execute(f"SELECT * FROM {table} WHERE id = ?", [row_id])
            row = cursor.fetchone()
            if row is not None:
                saved[row_id] = dict(zip((c[0] for c in cursor.description), row, strict=True))

    def save_active_model(self) -> None:
        self.active_model = _active_model(self.db)

    def save_people(self, person_ids: Iterable[int]) -> None:
        for person_id in person_ids:
            if person_id in self.people:
                continue
            row = self.db.execute("SELECT name, hidden, cover_face_id FROM people WHERE id = ?", [person_id]).fetchone()
            self.people[person_id] = list(row) if row else None

    def created_person(self, person_id: int) -> None:
        self.people.setdefault(person_id, None)

    def to_json(self) -> str:
        state = {"faces": self.faces, "people": self.people, "rejections": self.rejections}
        if self.rows:
            state["rows"] = self.rows
        if self.absent:
            state["absent"] = self.absent
        if self.tables:
            state["tables"] = self.tables
        if self.absent_rows:
            state["absent_rows"] = self.absent_rows
        if self.active_model is not None:
            state["active_model"] = self.active_model
        return json.dumps(state)


class Edit:
    """`with Edit(library) as edit:` snapshot, change, describe (edit.description), log: one
    transaction."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def __enter__(self) -> Snapshot:
        self._transaction = self.library.atomic()
        db = self._transaction.__enter__()
        self.snapshot = Snapshot(db)
        return self.snapshot

    def __exit__(self, exc_type, exc, tb) -> bool | None:  # noqa: ANN001
        if exc_type is None:
            db = self.snapshot.db
            stale = stale_covers(db)
            if stale:  # a cover the user chose comes back with Undo
                self.snapshot.save_people(stale)
                refresh_covers(db)
            db.execute("INSERT INTO edits(description, snapshot) VALUES (?, ?)", [self.snapshot.description, self.snapshot.to_json()])
            db.execute("DELETE FROM edits WHERE id <= (SELECT max(id) FROM edits) - ?", [MAX_UNDO])
            db.execute("DELETE FROM redo")  # a new edit: what was undone can no longer be redone
        return self._transaction.__exit__(exc_type, exc, tb)


def _active_model(db) -> str:  # noqa: ANN001
    """model_registry.active_name, inside an edit's transaction."""
    for sql in ("SELECT value FROM settings WHERE key = ?", "SELECT model_version FROM face_embeddings LIMIT 1"):
        row = db.execute(sql, [ACTIVE_KEY] if "?" in sql else []).fetchone()
        if row is not None and row[0]:
            return row[0]
    return DEFAULT_VERSION.name


def last_edit(library: Library) -> str | None:
    return library.scalar("SELECT description FROM edits ORDER BY id DESC LIMIT 1")


def last_undone(library: Library) -> str | None:
    """The edit that `redo` would make again."""
    return library.scalar("SELECT description FROM redo ORDER BY id DESC LIMIT 1")


def undo(library: Library) -> str | None:
    """Undo the latest edit; returns its description, or None when there is nothing to undo."""
    with library.atomic() as db:
        row = db.execute("SELECT id, description, snapshot FROM edits ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        edit_id, description, snapshot = row
        before = json.loads(snapshot)
        after = _capture(db, before)
        _restore(db, before)
        db.execute("DELETE FROM edits WHERE id = ?", [edit_id])
        db.execute("INSERT INTO redo(description, snapshot, undone) VALUES (?, ?, ?)", [description, after, snapshot])
        return description


def redo(library: Library) -> str | None:
    """Make the latest undone edit again; its description, or None when there is none."""
    with library.atomic() as db:
        row = db.execute("SELECT id, description, snapshot, undone FROM redo ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        redo_id, description, snapshot, undone = row
        # A person the edit had created was deleted by the undo; if a regroup has since made a
        # new person with the same number, redoing would rename and refill that one.
        created = [int(p) for p, saved in json.loads(undone)["people"].items() if saved is None]
        if not any(db.execute("SELECT 1 FROM people WHERE id = ?", [p]).fetchone() for p in created):
            after = json.loads(snapshot)
            before = _capture(db, after)
            _restore(db, after)
            db.execute("DELETE FROM redo WHERE id = ?", [redo_id])
            db.execute("INSERT INTO edits(description, snapshot) VALUES (?, ?)", [description, before])
            return description
        db.execute("DELETE FROM redo")
    raise LibraryError(f"Cannot redo \"{description}\": the groups have changed since it was undone")


def _capture(db, state: dict) -> str:  # noqa: ANN001
    """The current rows of everything `state` speaks about, in its form."""
    snapshot = Snapshot(db)
    snapshot.save_faces(int(face_id) for face_id in state["faces"])
    snapshot.save_faces(int(face_id) for face_id in state["rejections"])
    snapshot.save_people(int(person_id) for person_id in state["people"])
    if "active_model" in state:
        snapshot.save_active_model()
    # Faces deleted by the edit (or by its undo): whole rows where they exist now, else absent.
    deleted = [int(face_id) for face_id in (*state.get("rows", {}), *state.get("absent", []))]
    exists = {face_id for face_id in deleted if db.execute("SELECT 1 FROM faces WHERE id = ?", [face_id]).fetchone()}
    snapshot.save_rows(face_id for face_id in deleted if face_id in exists)
    snapshot.absent = [face_id for face_id in deleted if face_id not in exists]
    for table in ROW_TABLES:
        ids = [int(i) for i in (*state.get("tables", {}).get(table, {}), *state.get("absent_rows", {}).get(table, []))]
        present = {i for i in ids if db.execute(f"SELECT 1 FROM {table} WHERE id = ?", [i]).fetchone()}
        snapshot.save_table_rows(table, [i for i in ids if i in present])
        if len(present) < len(ids):
            snapshot.absent_rows[table] = [i for i in ids if i not in present]
    return snapshot.to_json()


def _restore(db, state: dict) -> None:  # noqa: ANN001
    """Put the rows of a snapshot back: people first (faces point to them), recreating deleted
    ones; then faces and rejections; then delete the people the snapshot says did not exist.
    A model switch's snapshot also puts the model back, if every face has a vector in it."""
    if "active_model" in state:
        name = state["active_model"]
        lacking = len(db.execute(MISSING_VECTORS_SQL, [name]).fetchall())
        if lacking:
            raise LibraryError(f"Cannot switch back to the model {name} by undoing: {lacking} faces found since have "
                               f"no embedding from it. Choose it again to embed them (facenet model use {name}).")
        db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", [ACTIVE_KEY, name])
    people = {int(k): v for k, v in state["people"].items()}
    for person_id, saved in people.items():
        if saved is None:  # deleted below; its name must be free first (a redone merge gives it to another)
            db.execute("UPDATE people SET name = NULL WHERE id = ?", [person_id])
            continue
        exists = db.execute("SELECT 1 FROM people WHERE id = ?", [person_id]).fetchone()
        if exists:
            db.execute("UPDATE people SET name = NULL WHERE id = ?", [person_id])
        else:
            db.execute("INSERT INTO people(id, name) VALUES (?, NULL)", [person_id])
    for person_id, saved in people.items():
        if saved is not None:
            name, hidden, cover = saved
            db.execute(
                "UPDATE people SET name = ?, hidden = ?, cover_face_id = (SELECT id FROM faces WHERE id = ?) WHERE id = ?",
                [name, hidden, cover, person_id],
            )
    for table in ROW_TABLES:
        _put_back_table_rows(db, table, state.get("tables", {}).get(table, {}))
    taken = _put_back_rows(db, state.get("rows", {}))
    for person_id, saved in people.items():  # a cover that was one of the faces put back
        if saved is not None and saved[2] is not None and int(saved[2]) in {int(f) for f in state.get("rows", {})}:
            db.execute("UPDATE people SET cover_face_id = (SELECT id FROM faces WHERE id = ?) WHERE id = ?",
                       [saved[2], person_id])
    for face_id, saved in state["faces"].items():
        if int(face_id) in taken:
            continue
        person_id, assignment, distance = saved[:3]
        confirmed = saved[3] if len(saved) > 3 else None  # older snapshots: the flag stays as it is
        asked_from = saved[4] if len(saved) > 4 else None
        if person_id is not None and not db.execute("SELECT 1 FROM people WHERE id = ?", [person_id]).fetchone():
            person_id, assignment, distance, confirmed = None, None, None, 0
        if asked_from is not None and not db.execute("SELECT 1 FROM people WHERE id = ?", [asked_from]).fetchone():
            asked_from = None
        db.execute(
            "UPDATE faces SET person_id = ?, assignment = ?, distance = ?, confirmed = coalesce(?, confirmed), "
            "asked_from = ? WHERE id = ?",
            [person_id, assignment, distance, confirmed, asked_from, int(face_id)],
        )
    for face_id, person_ids in state["rejections"].items():
        if int(face_id) in taken:
            continue
        db.execute("DELETE FROM rejections WHERE face_id = ?", [int(face_id)])
        for person_id in person_ids:
            db.execute(
                "INSERT OR IGNORE INTO rejections(face_id, person_id) SELECT ?, ? "
                "WHERE EXISTS (SELECT 1 FROM faces WHERE id = ?) AND EXISTS (SELECT 1 FROM people WHERE id = ?)",
                [int(face_id), person_id, int(face_id), person_id],
            )
    for person_id, saved in people.items():
        if saved is None:
            db.execute("UPDATE faces SET person_id = NULL, assignment = NULL, distance = NULL, confirmed = 0 WHERE person_id = ?",
                       [person_id])
            db.execute("DELETE FROM people WHERE id = ?", [person_id])
    for face_id in state.get("absent", []):
        db.execute("DELETE FROM faces WHERE id = ?", [int(face_id)])
    for table in reversed(ROW_TABLES):  # photos before their folder
        for row_id in state.get("absent_rows", {}).get(table, []):
            db.execute(f"DELETE FROM {table} WHERE id = ?", [int(row_id)])


def _put_back_table_rows(db, table: str, rows: dict) -> None:  # noqa: ANN001
    """Insert deleted folders or photos again with their ids, unless the id or the path is
    taken meanwhile (then the row stays out: nothing is overwritten)."""
    known = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    for row_id, saved in rows.items():
        if db.execute(f"SELECT 1 FROM {table} WHERE id = ? OR path = ?", [int(row_id), saved["path"]]).fetchone():
            continue
        columns = [column for column in saved if column in known]  # names from our own schema only
        values = [saved[c] for c in columns]
        if table == "photos" and saved.get("folder_id") is not None and not db.execute(
                "SELECT 1 FROM folders WHERE id = ?", [saved["folder_id"]]).fetchone():
            values[columns.index("folder_id")] = None
        db.execute(f"INSERT INTO {table}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", values)


def _put_back_rows(db, rows: dict) -> set[int]:  # noqa: ANN001
    """Insert deleted faces again, with the same ids; returns the ids another face has taken
    since (SQLite reuses the top id): those stay as they are and nothing is restored on them."""
    taken = set()
    known = {row[1] for row in db.execute("PRAGMA table_info(faces)")}
    for face_id, saved in rows.items():
        face = dict(saved["face"])
        current = db.execute("SELECT photo_id, x1, y1, x2, y2 FROM faces WHERE id = ?", [int(face_id)]).fetchone()
        if current is not None:
            if tuple(current) != (face["photo_id"], face["x1"], face["y1"], face["x2"], face["y2"]):
                taken.add(int(face_id))
            continue
        if not db.execute("SELECT 1 FROM photos WHERE id = ?", [face["photo_id"]]).fetchone():
            taken.add(int(face_id))  # its photo left the library meanwhile
            continue
        if face["person_id"] is not None and not db.execute("SELECT 1 FROM people WHERE id = ?", [face["person_id"]]).fetchone():
            face.update(person_id=None, assignment=None, distance=None, confirmed=0)
        if face["landmarks"] is not None:
            face["landmarks"] = bytes.fromhex(face["landmarks"])
        vectors = [(version, blob) for version, blob in saved["embeddings"]]
        if face.get("embedding") and face.get("model_version"):  # saved before vectors left the face rows (m009)
            vectors.append((face["model_version"], face["embedding"]))
        columns = [column for column in face if column in known]  # names from our own schema only
        db.execute(f"INSERT INTO faces({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                   [face[c] for c in columns])
        db.conn.executemany("INSERT OR IGNORE INTO face_embeddings(face_id, model_version, embedding) VALUES (?, ?, ?)",
                            [(int(face_id), version, bytes.fromhex(blob)) for version, blob in vectors])
    return taken
