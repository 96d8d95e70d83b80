"""Whole groups to ask about: "Is this group Anna?" and "Same person?" for two unnamed groups.

Clustering merges two groups only while their average linkage is within the model version's
`cluster_linkage`, so the same person often ends up as a named person plus an unnamed group
(another age, glasses, poor light).  One answer about a whole group settles more faces than
any number of single-face suggestions, so groups whose linkage to a named person (or to
another unnamed group) lies within `group_suggest_linkage` are offered, biggest first.

Average squared linkage is exact from per-group sums (the clustering module's identity), so
every group is compared with every person in O(groups x people x dimensions), never
faces x faces.  "No" is stored as rejections of the group's faces (engine.library.edits.editing),
which follow the faces through every regroup, rescan and model switch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.library.storage.model_registry import active_version
from engine.library.storage.store import Library, LibraryError
from engine.model_versions import ModelVersion

SAMPLE_FACES = 6  # faces shown of each side


@dataclass(frozen=True)
class GroupSuggestion:
    group: int  # an unnamed person
    other: int  # a named person, or another unnamed group
    other_name: str | None  # None: "Same person?" about two unnamed groups
    group_faces: int
    other_faces: int
    linkage: float  # average squared distance between the two groups' faces
    group_sample: tuple[int, ...]  # face ids to show, the group's most typical first
    other_sample: tuple[int, ...]

    @property
    def settles(self) -> int:
        """Faces one answer decides: the group's, or both groups' when neither has a name."""
        return self.group_faces + (self.other_faces if self.other_name is None else 0)

    @property
    def key(self) -> str:
        """How the command line names it: `g12:7`."""
        return f"g{self.group}:{self.other}"

    def question(self, group_words: str = "this group") -> str:
        if self.other_name is None:
            return "Are these two groups the same person?"
        return f"Is {group_words} {self.other_name}?"


@dataclass
class PersonFaces:
    """A person's own faces (hand-labelled or grouped), in the version's comparison space."""

    person: int
    name: str | None
    faces: np.ndarray  # (n,) face ids
    photos: np.ndarray  # (n,) photo ids
    vectors: np.ndarray  # (n, D)


def group_suggestions(library: Library, version: ModelVersion | None = None) -> list[GroupSuggestion]:
    """Questions about whole groups, the most faces settled first.  Each unnamed group is
    asked about once, about the nearest person or unnamed group within reach (preferring a
    farther named person asked more wrong questions: benchmarks/group_suggestions.py).
    Never offered: two groups sharing a photo (one person appears once per photo), or a
    pair the user already answered No to (any rejection between them)."""
    version = version or active_version(library)
    if version.group_suggest_linkage <= 0:
        return []
    return propose(list(_members(library, version).values()), version.group_suggest_linkage, _rejected_pairs(library))


def propose(everyone: list[PersonFaces], level: float, answered_no: set[frozenset[int]] = frozenset()) -> list[GroupSuggestion]:
    """The questions for these people at this linkage level (see group_suggestions)."""
    groups = [m for m in everyone if m.name is None]
    if not groups:
        return []
    stacked = [np.asarray(m.vectors, dtype=np.float64) for m in everyone]
    centroids = np.stack([faces.mean(axis=0) for faces in stacked])
    mean_square = np.array([np.einsum("ij,ij->", faces, faces) / len(faces) for faces in stacked])
    position = {m.person: i for i, m in enumerate(everyone)}
    rows = np.array([position[g.person] for g in groups])
    linkage = mean_square[rows, None] + mean_square[None, :] - 2 * centroids[rows] @ centroids.T
    offered: list[GroupSuggestion] = []
    asked_pairs: set[frozenset[int]] = set()
    for group, levels in zip(groups, linkage, strict=True):
        candidates = []
        for column in np.flatnonzero(levels <= level).tolist():
            other = everyone[column]
            if other.person == group.person or frozenset((group.person, other.person)) in answered_no:
                continue
            if np.intersect1d(group.photos, other.photos).size:
                continue  # one photo shows both: two people
            candidates.append((float(levels[column]), other.person, column))
        if not candidates:
            continue
        nearest, _, column = min(candidates)
        other = everyone[column]
        pair = frozenset((group.person, other.person))
        if other.name is None and pair in asked_pairs:
            continue
        asked_pairs.add(pair)
        offered.append(GroupSuggestion(
            group.person, other.person, other.name, len(group.faces), len(other.faces), max(nearest, 0.0),
            _typical(group, centroids[position[group.person]], stacked[position[group.person]]),
            _typical(other, centroids[column], stacked[column])))
    return sorted(offered, key=lambda s: (-s.settles, s.linkage, s.group, s.other))


def group_state(library: Library) -> tuple:
    """Changes whenever the questions can: any face given to or taken from a person, any
    name, hidden flag or rejection.  Cheap (aggregates in SQLite), so a window can ask
    it every few seconds and recompute the questions only when it changes."""
    version = active_version(library).name
    # A face's vector under a version never changes; new vectors come with new face ids (a
    # photo analysed again) or with a switch, which changes `version`.
    faces = library.db.execute(
        "SELECT count(*), total(person_id), total(id * person_id), total(assignment = 'manual') "
        "FROM faces WHERE assignment IN ('auto', 'manual')"
    ).fetchone()
    people = library.db.execute("SELECT count(*), total(id * hidden), group_concat(id || ':' || name) FROM people "
                                "WHERE name IS NOT NULL OR hidden = 1").fetchone()
    rejections = library.db.execute("SELECT count(*), total(face_id * person_id) FROM rejections").fetchone()
    missing = library.db.execute("SELECT count(*) FROM photos WHERE missing_since IS NOT NULL").fetchone()
    return (version, tuple(faces), tuple(people), tuple(rejections), tuple(missing))


class GroupQuestions:
    """The questions, recomputed only when `group_state` changed (a 100k-face library takes
    most of a second to compare, its state a few milliseconds)."""

    def __init__(self) -> None:
        self._state: tuple | None = None
        self._questions: list[GroupSuggestion] = []

    def get(self, library: Library) -> list[GroupSuggestion]:
        state = group_state(library)
        if state != self._state:
            self._questions = group_suggestions(library)
            self._state = state
        return list(self._questions)


def find_group_suggestion(library: Library, key: str) -> GroupSuggestion | None:
    """The suggestion the command line named (`g12:7`), if it is still offered."""
    return next((s for s in group_suggestions(library) if s.key == key), None)


def answer_group_suggestion(library: Library, suggestion: GroupSuggestion, yes: bool) -> None:
    """Yes: the group joins the other person (one undoable merge).  No: they are kept apart
    for good (rejections, one undoable edit).  Refused when the two sides are no longer what
    the question showed (a regroup ran since): an answer about faces the user saw must not
    land on others that took the same person's number."""
    from engine.library.edits import editing

    with library.atomic() as db:
        if not _still_as_asked(db, suggestion):
            raise LibraryError("These groups changed since the question was asked (they were grouped again); "
                               "it comes back if it still applies.")
        if yes:
            editing.merge_people(library, [suggestion.group], suggestion.other)
        else:
            editing.not_same_person(library, suggestion.group, suggestion.other)


def _still_as_asked(db, suggestion: GroupSuggestion) -> bool:  # noqa: ANN001
    """Both people exist with the names asked about, and most faces shown of each are still theirs."""
    names = dict(db.execute("SELECT id, name FROM people WHERE id IN (?, ?)", [suggestion.group, suggestion.other]).fetchall())
    if set(names) != {suggestion.group, suggestion.other} or names[suggestion.group] is not None \
            or names[suggestion.other] != suggestion.other_name:
        return False
    for person, sample in ((suggestion.group, suggestion.group_sample), (suggestion.other, suggestion.other_sample)):
        if sample:
            marks = ",".join("?" * len(sample))
            still = db.execute(f"SELECT count(*) FROM faces WHERE person_id = ? AND id IN ({marks})",
                               [person, *sample]).fetchone()[0]
            if 2 * still < len(sample):
                return False
    return True


def _members(library: Library, version: ModelVersion) -> dict[int, PersonFaces]:
    """Visible people's faces that are theirs (hand-labelled or grouped, not merely suggested),
    with photos on disk, in the version's comparison space."""
    rows = library.db.execute(
        """
        SELECT f.id, f.photo_id, e.embedding, p.id, p.name FROM faces f
        JOIN face_embeddings e ON e.face_id = f.id AND e.model_version = ?
        JOIN people p ON p.id = f.person_id JOIN photos ph ON ph.id = f.photo_id
        WHERE f.assignment IN ('auto', 'manual') AND p.hidden = 0 AND ph.missing_since IS NULL
        ORDER BY f.id
        """,
        [version.name],
    ).fetchall()
    if not rows:
        return {}
    face_ids = np.array([r[0] for r in rows], dtype=np.int64)
    photo_ids = np.array([r[1] for r in rows], dtype=np.int64)
    people = np.array([r[3] for r in rows], dtype=np.int64)
    names = {r[3]: r[4] for r in rows}
    vectors = version.prepare(
        np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4").reshape(len(rows), -1)).astype(np.float64)
    order = np.argsort(people, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(people[order]) != 0])
    members: dict[int, PersonFaces] = {}
    for part in np.split(order, starts[1:]):
        person = int(people[part[0]])
        members[person] = PersonFaces(person, names[person], face_ids[part], photo_ids[part], vectors[part])
    return members


def _rejected_pairs(library: Library) -> set[frozenset[int]]:
    """(face's current person, rejected person) for every rejection: a No given earlier."""
    return {
        frozenset((int(owner), int(rejected)))
        for owner, rejected in library.db.execute(
            "SELECT f.person_id, r.person_id FROM rejections r JOIN faces f ON f.id = r.face_id "
            "WHERE f.person_id IS NOT NULL"
        ).fetchall()
    }


def _typical(member: PersonFaces, centroid: np.ndarray, vectors: np.ndarray) -> tuple[int, ...]:
    """The faces nearest the group's centre: what the group mostly is, not its outliers."""
    distances = np.linalg.norm(vectors - centroid, axis=1)
    order = np.argsort(distances, kind="stable")[:SAMPLE_FACES]
    return tuple(int(np.asarray(member.faces)[i]) for i in order)
