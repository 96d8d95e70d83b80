"""What the user said, as grouping and recognition read it, and the rule that keeps their
results from overwriting an edit: a pass computes from one state of the library and writes
only if that state is unchanged when it holds the write lock (an edit made meanwhile in
another process or thread wins); after STATE_ATTEMPTS tries, the last is computed under the
lock."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from engine.library.storage.store import Library

STATE_ATTEMPTS = 3  # passes computed before the last one is computed under the write lock


class StateChanged(Exception):
    """The user edited the library while a pass was computing."""


def rejections_by_face(library: Library) -> dict[int, set[int]]:
    """The people each face was said not to be."""
    out: dict[int, set[int]] = {}
    for face_id, person_id in library.db.execute("SELECT face_id, person_id FROM rejections").fetchall():
        out.setdefault(face_id, set()).add(person_id)
    return out


def user_state(db) -> bytes:  # noqa: ANN001
    """A digest of everything the user said that grouping and recognition read: hand
    labels, rejections, people and their names.  A regroup that computed from one state
    applies its result only if the state is still the same when it writes (an edit made
    meanwhile in another process or thread must never be overwritten)."""
    digest = hashlib.blake2b(digest_size=16)
    for sql in (  # each state as one text, built by SQLite (10^5 rows in Python took 0.15 s)
        "SELECT group_concat(id || ':' || person_id || ':' || confirmed, ',') FROM "
        "(SELECT id, person_id, confirmed FROM faces WHERE assignment = 'manual' ORDER BY id)",
        "SELECT group_concat(face_id || ':' || person_id, ',') FROM "
        "(SELECT face_id, person_id FROM rejections ORDER BY face_id, person_id)",
        "SELECT group_concat(id || ':' || hidden || ':' || quote(name), ',') FROM "
        "(SELECT id, name, hidden FROM people ORDER BY id)",
    ):
        digest.update((db.execute(sql).fetchone()[0] or "").encode())
        digest.update(b"|")
    return digest.digest()


@contextmanager
def read_snapshot(library: Library) -> Iterator[None]:
    """Reads that see one state of the library (a deferred transaction; WAL lets writers go on)."""
    db = library.db
    if db.conn.in_transaction:  # already inside the caller's transaction
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    finally:
        if db.conn.in_transaction:
            db.execute("COMMIT")
