"""When to offer "Learn from your corrections": once the user has corrected enough faces
since the model last tried to learn, and the current model still gets enough of those
corrections wrong that a better model could show it on a held-out share.

Read from the stored vectors only (no torch, no photos): each corrected face is named by
the vote of its nearest other labelled faces, as the fine-tune's held-out test names it,
and so is each face the user said is not someone (a mistake when the vote names them).
The fine-tune's rule needs at least 5 mistakes among the held-out faces to be able to
accept anything; with 30% held out, that is about 17 mistakes among all the corrections.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from engine.library.identities.labelled_faces import MIN_FACES_PER_PERSON, check_enough_labels, labelled_face_rows, without_doubtful
from engine.library.storage.model_registry import active_name, active_version
from engine.library.storage.store import Library, LibraryError, blob_to_embedding, ids_where
from engine.wording import counted

KEY = "finetune_tried"  # settings: the last edit when a model last tried to learn
NEW_CORRECTIONS = 30  # corrections since the last try before the offer comes back
LIKELY_MISTAKES = 17  # mistakes on the corrections under the current model (5 expected in a 30% held-out share)
NEIGHBOURS = 5  # the app's vote (recognition.NEIGHBOURS)
MOST_FACES = 20_000  # labelled faces compared at most (a sample beyond: the count is an estimate)


@dataclass(frozen=True)
class FinetuneOffer:
    new_corrections: int  # faces corrected since the model last tried to learn
    still_wrong: int  # corrected faces the current model's vote names wrong
    tried_before: bool = False

    def sentence(self) -> str:
        since = " since your model last learned" if self.tried_before else ""
        return (f"You have corrected {counted(self.new_corrections, 'face')}{since}, and the model would still name "
                f"{self.still_wrong} of the faces you corrected wrong: it can learn from your corrections now "
                "(a few minutes; the new model is kept only if it does better).")


def corrections_since(library: Library, edit_id: int) -> int:
    """Faces the user corrected by edits after `edit_id` (undone ones are gone from the
    journal, so they do not count): faces those edits touched that are now named one by one
    (answered, moved, ticked, confirmed) or rejected for someone.  A model switch is an edit
    too, but not a correction."""
    touched: set[int] = set()
    for (snapshot,) in library.db.execute("SELECT snapshot FROM edits WHERE id > ?", [edit_id]).fetchall():
        state = json.loads(snapshot)
        if "active_model" not in state:
            touched.update(int(face) for face in state.get("faces", {}))
    return len(ids_where(library.db, "SELECT id FROM faces WHERE id IN ({}) AND (confirmed = 1 OR EXISTS "
                                     "(SELECT 1 FROM rejections r WHERE r.face_id = faces.id))", sorted(touched)))


def note_finetune_tried(library: Library) -> None:
    """The model tried to learn now: the offer waits for new corrections (whichever model is
    in use then: a model learned from the corrections made so far)."""
    value = json.dumps({"last_edit": int(library.scalar("SELECT coalesce(max(id), 0) FROM edits"))})
    with library.atomic() as db:
        db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", [KEY, value])


def _last_try(library: Library) -> int | None:
    """The last edit when a model last tried to learn; None: never."""
    text = library.scalar("SELECT value FROM settings WHERE key = ?", [KEY])
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    edit = value.get("last_edit") if isinstance(value, dict) else None
    return edit if isinstance(edit, int) else None


def still_wrong(library: Library, rows: list[dict], seed: int = 0) -> int:
    """Corrected faces among `rows` (labelled_face_rows) whose nearest other labelled faces
    vote for someone else under the current model, and rejected faces they vote to be someone
    the user said they are not; only people with enough labels to train on count, as in the
    fine-tune's held-out test."""
    per_person: dict[int, int] = {}
    for row in rows:
        per_person[row["person_id"]] = per_person.get(row["person_id"], 0) + 1
    rows = [r for r in rows if per_person[r["person_id"]] >= MIN_FACES_PER_PERSON]
    if len(rows) > MOST_FACES:
        keep = np.random.default_rng(seed).choice(len(rows), size=MOST_FACES, replace=False)
        rows = [rows[i] for i in sorted(keep)]
    if not rows:
        return 0
    version = active_version(library)
    vectors = version.prepare(np.stack([blob_to_embedding(r["embedding"]) for r in rows])).astype(np.float32)
    people = np.array([r["person_id"] for r in rows])
    corrected = np.flatnonzero([bool(r["confirmed"]) for r in rows])
    wrong = sum(voted != people[q] for q, voted in zip(corrected.tolist(), _votes(vectors[corrected], vectors, people,
                                                                                  corrected), strict=True))
    labelled = {r["id"] for r in rows}
    rejected: dict[int, set[int]] = {}
    for face_id, person_id in library.db.execute("SELECT face_id, person_id FROM rejections").fetchall():
        if face_id not in labelled and person_id in per_person:
            rejected.setdefault(face_id, set()).add(person_id)
    if rejected:
        stored = dict(library.db.execute(
            "SELECT face_id, embedding FROM face_embeddings WHERE model_version = ? AND face_id IN (SELECT face_id FROM "
            "rejections)", [version.name]).fetchall())
        faces = [f for f in rejected if f in stored]
        if faces:
            queries = version.prepare(np.stack([blob_to_embedding(stored[f]) for f in faces])).astype(np.float32)
            wrong += sum(voted in rejected[f] for f, voted in zip(faces, _votes(queries, vectors, people), strict=True))
    return int(wrong)


def _votes(queries: np.ndarray, vectors: np.ndarray, people: np.ndarray, themselves: np.ndarray | None = None) -> list[int]:
    """The person each query's NEIGHBOURS nearest `vectors` vote for (ties: the nearer);
    `themselves`: the queries' own rows in `vectors`, left out."""
    out = []
    squares = (vectors**2).sum(axis=1)
    for start in range(0, len(queries), 256):
        part = queries[start : start + 256]
        d = (part**2).sum(axis=1)[:, None] + squares[None, :] - 2.0 * part @ vectors.T
        if themselves is not None:
            d[np.arange(len(part)), themselves[start : start + 256]] = np.inf
        for row in np.argsort(d, axis=1, kind="stable")[:, :NEIGHBOURS]:
            votes: dict[int, int] = {}
            for k in row.tolist():  # nearest first: of equal counts the nearer person wins
                votes[int(people[k])] = votes.get(int(people[k]), 0) + 1
            out.append(max(votes, key=votes.__getitem__))
    return out


def finetune_offer(library: Library) -> FinetuneOffer | None:
    """The offer, or None while it is not worth a try."""
    tried = _last_try(library)
    new = corrections_since(library, tried or 0)
    if new < NEW_CORRECTIONS:
        return None
    rows = without_doubtful(labelled_face_rows(library, active_name(library)), active_version(library), library)
    try:
        check_enough_labels(rows)
    except LibraryError:
        return None
    wrong = still_wrong(library, rows)
    return FinetuneOffer(new, wrong, tried is not None) if wrong >= LIKELY_MISTAKES else None


class FinetuneOffers:
    """The offer, recomputed only when an edit, an undo or a model change happened (the
    window asks every few seconds)."""

    def __init__(self) -> None:
        self._state: tuple | None = None
        self._offer: FinetuneOffer | None = None

    def get(self, library: Library) -> FinetuneOffer | None:
        state = (active_name(library), library.scalar("SELECT coalesce(max(id), 0) FROM edits"),
                 library.scalar("SELECT count(*) FROM edits"), library.scalar("SELECT value FROM settings WHERE key = ?", [KEY]))
        if state != self._state:
            self._offer = finetune_offer(library)
            self._state = state
        return self._offer
