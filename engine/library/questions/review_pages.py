"""Pages of faces for the user to tick: the questions that keep coming while work is left.

Face and group questions stop once nothing is within the suggestion distance, yet in a
family library a fifth of the faces are then still unnamed and a few percent named wrong
(relatives look alike).  Two kinds of page go on from there, each one action plus one per
face the user changes:

- "More of NAME": the unnamed faces nearest to a named person beyond the automatic level,
  nearest first, a page at a time, beside a few of that person's own faces.  A face is
  offered to the named person it is nearest to only (skipping people it was said not to be,
  and people already in its photo: the faces of one photo are different people), up to the
  version's verification threshold; it is ticked where the app is fairly sure.
- "Is this really NAME?": a person's faces that the user never looked at one by one and that
  may be someone else: nearer to another named person (a sibling, a parent) than to the rest
  of their own, or far from all of them, first; then every face named only with its group
  (a group of two siblings named as one is typical of itself), the least typical first.

- "Who are these?": in a family library most people have only a face or two left unnamed,
  and a page per person costs an action per person.  The "More of" pages the app is least
  sure of are put together instead, relatives beside each other (people who share photos are
  kept on one page where they fit), each face shown with the person proposed for it.

Answering a page is one edit (editing.answer_page, answer_people_page): ticked faces become
the person's, confirmed; unticked ones are remembered as not that person, or given the name
the user types.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine.library.storage.assignments import Assignment
from engine.library.questions.group_suggestions import group_state
from engine.library.storage.model_registry import active_version
from engine.library.storage.store import Library, blob_to_embedding
from engine.model_versions import DEFAULT_VERSION, ModelVersion
from engine.wording import names_in_words

PAGE_FACES = 18  # a screenful beside a few of the person's own faces
EXAMPLES = 4
TYPICAL_NEIGHBOURS = 3  # a face's place among its person's faces: its mean distance to this many nearest
# Margins are shares of the version's threshold: a fine-tuned space is wider (x 1.3), and
# fixed distances there ticked faces that were not the person.  For the default version
# they are 0.05 and 0.06.
REALLY_MARGIN = 0.05 / DEFAULT_VERSION.threshold  # "Is this really NAME?": nearer another person than this beyond its own, or ...
REALLY_FAR = 1.0  # ... this far from its own nearest faces, in thresholds
TICK_SHARE = 0.85  # a face is ticked when within this share of the threshold and
TICK_MARGIN = 0.06 / DEFAULT_VERSION.threshold  # this much nearer its person than anyone else
SURE_PAGE = 2  # ticked faces that put a "More of" page before the doubts
BLOCK = 2048
BLOCK_ELEMENTS = 1 << 23  # distances computed at once (32 MB of float32)


@dataclass(frozen=True)
class PageFace:
    face_id: int
    distance: float  # to the person's nearest faces (More), or to their other faces (Really)
    ticked: bool  # the app's guess: it is the person
    other_id: int | None = None  # the named person it is nearest to otherwise (Really)
    person_id: int | None = None  # the person proposed for it (Who are these?)


@dataclass(frozen=True)
class ReviewPage:
    kind: str  # "more", "really" or "who"
    person_id: int  # Who are these?: the first person on the page
    person_name: str  # Who are these?: the people on the page, in words
    faces: tuple[PageFace, ...]
    examples: tuple[int, ...]  # a few of the person's own faces, to compare with (Who: one each)
    people: tuple[tuple[int, str], ...] = ()  # Who are these?: the people proposed, in order

    @property
    def key(self) -> str:
        if self.kind == "who":
            return "who:" + ",".join(str(person) for person, _ in self.people)
        return f"{self.kind}:{self.person_id}"

    def question(self) -> str:
        if self.kind == "who":
            return "Who are these?"
        return f"More of {self.person_name}?" if self.kind == "more" else f"Is this really {self.person_name}?"

    @property
    def proposed(self) -> dict[int, int]:
        """Each face's person as the page proposes it."""
        return {f.face_id: f.person_id if f.person_id is not None else self.person_id for f in self.faces}

    def name_of(self, person_id: int) -> str:
        return dict(self.people).get(person_id, self.person_name)

    @property
    def ticked(self) -> list[int]:
        return [f.face_id for f in self.faces if f.ticked]


@dataclass
class _Faces:
    ids: np.ndarray
    vectors: np.ndarray  # in the version's comparison space
    person: np.ndarray  # -1: nobody
    named: np.ndarray  # bool: the person has a name
    assignment: np.ndarray  # str
    confirmed: np.ndarray  # bool
    photo: np.ndarray
    names: dict[int, str]
    rejected: dict[int, set[int]]


def _load(library: Library, version: ModelVersion) -> _Faces:
    rows = library.query(
        "SELECT f.id, f.person_id, f.assignment, f.confirmed, f.photo_id, e.embedding, p.name, p.hidden "
        "FROM faces f JOIN face_embeddings e ON e.face_id = f.id AND e.model_version = ? "
        "JOIN photos ph ON ph.id = f.photo_id LEFT JOIN people p ON p.id = f.person_id "
        "WHERE ph.missing_since IS NULL ORDER BY f.id", [version.name])
    rejected: dict[int, set[int]] = {}
    for face_id, person_id in library.db.execute("SELECT face_id, person_id FROM rejections").fetchall():
        rejected.setdefault(face_id, set()).add(person_id)
    vectors = version.prepare(np.stack([blob_to_embedding(r["embedding"]) for r in rows])) if rows else np.zeros((0, 1))
    return _Faces(
        ids=np.array([r["id"] for r in rows], dtype=np.int64),
        vectors=np.asarray(vectors, dtype=np.float32),
        person=np.array([r["person_id"] if r["person_id"] is not None else -1 for r in rows], dtype=np.int64),
        named=np.array([r["name"] is not None and not r["hidden"] for r in rows], dtype=bool),
        assignment=np.array([r["assignment"] or "" for r in rows]),
        confirmed=np.array([bool(r["confirmed"]) for r in rows], dtype=bool),
        photo=np.array([r["photo_id"] for r in rows], dtype=np.int64),
        names={r["person_id"]: r["name"] for r in rows if r["name"] is not None},
        rejected=rejected,
    )


def _distances(queries: np.ndarray, points: np.ndarray) -> np.ndarray:
    q2 = np.einsum("ij,ij->i", queries, queries)
    p2 = np.einsum("ij,ij->i", points, points)
    d2 = q2[:, None] + p2[None, :] - 2.0 * (queries @ points.T)
    return np.sqrt(np.maximum(d2, 0.0))


def _rows_per_block(columns: int) -> int:
    return max(1, min(BLOCK, BLOCK_ELEMENTS // max(1, columns)))


def _nearest_per_person(queries: np.ndarray, refs: np.ndarray, ref_people: np.ndarray,
                        people: np.ndarray) -> np.ndarray:
    """(queries, people): each query's distance to each person's nearest reference face,
    a block of queries at a time (bounded memory on 100,000 faces)."""
    order = np.argsort(ref_people, kind="stable")
    refs, ref_people = refs[order], ref_people[order]
    starts = np.searchsorted(ref_people, people)  # `people` is sorted and each has references
    out = np.empty((len(queries), len(people)), dtype=np.float32)
    step = _rows_per_block(len(refs))
    for start in range(0, len(queries), step):
        out[start:start + step] = np.minimum.reduceat(_distances(queries[start:start + step], refs), starts, axis=1)
    return out


def more_pages(library: Library, version: ModelVersion | None = None) -> list[ReviewPage]:
    """"More of NAME" pages, the person with most ticked faces first."""
    version = version or active_version(library)
    return _more_pages(_load(library, version), version)


def _more_pages(faces: _Faces, version: ModelVersion) -> list[ReviewPage]:
    is_ref = faces.named & np.isin(faces.assignment, [Assignment.MANUAL.value, Assignment.AUTO.value])
    is_candidate = ~faces.named | (faces.assignment == Assignment.SUGGESTED.value)
    if not is_ref.any() or not is_candidate.any():
        return []
    people = np.unique(faces.person[is_ref])
    d = _nearest_per_person(faces.vectors[is_candidate], faces.vectors[is_ref], faces.person[is_ref], people)
    in_photo: dict[int, set[int]] = {}
    for photo, person in zip(faces.photo[is_ref].tolist(), faces.person[is_ref].tolist(), strict=True):
        in_photo.setdefault(photo, set()).add(person)
    column = {int(person): k for k, person in enumerate(people)}
    candidates = np.flatnonzero(is_candidate)
    for row, index in enumerate(candidates):  # people it was said not to be, or who are in its photo
        refused = faces.rejected.get(int(faces.ids[index]), set()) | in_photo.get(int(faces.photo[index]), set())
        columns = [column[p] for p in refused if p in column]
        if columns:
            d[row, columns] = np.inf
    best = np.argmin(d, axis=1)
    nearest = d[np.arange(len(d)), best]
    runner_up = np.partition(d, 1, axis=1)[:, 1] if d.shape[1] > 1 else np.full(len(d), np.inf)
    with np.errstate(invalid="ignore"):  # nobody left to compare with: inf - inf, never ticked
        ticked = (nearest <= TICK_SHARE * version.threshold) & (runner_up - nearest >= TICK_MARGIN * version.threshold)
    offered: dict[int, list[PageFace]] = {}
    for row in np.flatnonzero(nearest <= version.threshold):
        offered.setdefault(int(people[best[row]]), []).append(
            PageFace(int(faces.ids[candidates[row]]), float(nearest[row]), bool(ticked[row])))
    pages = []
    for person, page_faces in offered.items():
        page_faces.sort(key=lambda f: f.distance)
        shown = tuple(page_faces[:PAGE_FACES])
        pages.append(ReviewPage("more", person, faces.names[person], shown, _examples(faces, person)))
    pages.sort(key=lambda p: (-len(p.ticked), p.faces[0].distance))
    return pages


def really_pages(library: Library, version: ModelVersion | None = None) -> list[ReviewPage]:
    """"Is this really NAME?" pages, the person with the most doubtful face first."""
    version = version or active_version(library)
    return _really_pages(_load(library, version), version)


def _really_pages(faces: _Faces, version: ModelVersion) -> list[ReviewPage]:
    own = faces.named & np.isin(faces.assignment, [Assignment.MANUAL.value, Assignment.AUTO.value])
    people = np.unique(faces.person[own])
    if len(people) < 1:
        return []
    doubtful = own & ~faces.confirmed
    if not doubtful.any():
        return []
    refs = np.flatnonzero(own)
    queries = np.flatnonzero(doubtful)
    ref_people = faces.person[refs]
    query_people = faces.person[queries]
    # Each face against its own person's faces: small matrices, one person at a time.
    typical = np.full(len(queries), np.inf)
    nearest_own = np.full(len(queries), np.inf)
    for person in np.unique(query_people):
        rows = np.flatnonzero(query_people == person)
        mine = refs[ref_people == person]
        d = _distances(faces.vectors[queries[rows]], faces.vectors[mine])
        d[faces.ids[queries[rows]][:, None] == faces.ids[mine][None, :]] = np.inf  # not its own neighbour
        d.sort(axis=1)
        near = d[:, :TYPICAL_NEIGHBOURS]
        finite = np.isfinite(near)
        counts = finite.sum(axis=1)
        typical[rows] = np.where(counts > 0, np.where(finite, near, 0).sum(axis=1) / np.maximum(counts, 1), np.inf)
        nearest_own[rows] = near[:, 0] if near.shape[1] else np.inf
    # ... and against everyone else's, a block at a time.
    other_d = np.full(len(queries), np.inf)
    other = np.full(len(queries), -1, dtype=np.int64)
    step = _rows_per_block(len(refs))
    for start in range(0, len(queries), step):
        block = slice(start, start + step)
        d = _distances(faces.vectors[queries[block]], faces.vectors[refs])
        d[ref_people[None, :] == query_people[block][:, None]] = np.inf
        for row, index in enumerate(queries[block]):  # people the user said it is not are no evidence
            said_not = faces.rejected.get(int(faces.ids[index]))
            if said_not:
                d[row, np.isin(ref_people, list(said_not))] = np.inf
        k = np.argmin(d, axis=1)
        other_d[block] = d[np.arange(len(k)), k]
        other[block] = np.where(np.isfinite(other_d[block]), ref_people[k], -1)
    with np.errstate(invalid="ignore"):  # a face alone in its person and nobody else: inf - inf
        doubts = nearest_own - other_d
    margin = REALLY_MARGIN * version.threshold
    offered: dict[int, list[tuple[float, PageFace]]] = {}
    for row, index in enumerate(queries):
        doubt = doubts[row]
        far = nearest_own[row] > REALLY_FAR * version.threshold
        # Named with its group: nobody looked at it.  A group of two siblings named as one
        # is typical of itself, so every such face is asked about, the least typical first.
        group_named = faces.assignment[index] == Assignment.MANUAL.value
        if doubt < -margin and not far and not group_named:
            continue
        ticked = bool(doubt < -margin and not far)
        score = (typical[row] if np.isfinite(doubt) else np.inf) + (doubt if np.isfinite(doubt) else 0.0) \
            + (1.0 if doubt >= -margin or far else 0.0)
        offered.setdefault(int(query_people[row]), []).append(
            (float(score), PageFace(int(faces.ids[index]), float(typical[row]), ticked,
                                    int(other[row]) if other[row] >= 0 else None)))
    pages = []
    for person, scored in offered.items():
        scored.sort(key=lambda item: -item[0])
        shown = tuple(face for _, face in scored[:PAGE_FACES])
        pages.append(ReviewPage("really", person, faces.names[person], shown, _examples(faces, person)))
    pages.sort(key=lambda p: (len(p.ticked) == len(p.faces), -len(p.faces)))
    return pages


def _families(faces: _Faces) -> dict[int, int]:
    """Named people who share a photo, and whoever shares one with them: one root each (the
    relatives of a family library; in a real one, whoever is photographed together)."""
    parent: dict[int, int] = {}

    def root(person: int) -> int:
        while parent.setdefault(person, person) != person:
            parent[person] = parent[parent[person]]
            person = parent[person]
        return person

    photos, people = faces.photo[faces.named], faces.person[faces.named]
    shown, counts = np.unique(photos, return_counts=True)
    shared = np.isin(photos, shown[counts > 1])  # only photos of two or more named faces join anyone
    in_photo: dict[int, int] = {}
    for photo, person in zip(photos[shared].tolist(), people[shared].tolist(), strict=True):
        first = in_photo.setdefault(photo, person)
        parent[root(person)] = root(first)
    return {person: root(person) for person in list(parent)}


def _who_pages(faces: _Faces, unsure: list[ReviewPage]) -> list[ReviewPage]:
    """"Who are these?" pages from "More of" pages: a family's together where it fits, the
    families with the nearest faces first, up to PAGE_FACES faces a page."""
    if len(unsure) < 2:  # one person's page says it better
        return unsure
    family = _families(faces)
    by_family: dict[int, list[ReviewPage]] = {}
    for page in unsure:
        by_family.setdefault(family.get(page.person_id, page.person_id), []).append(page)
    groups = sorted(by_family.values(), key=lambda group: min(p.faces[0].distance for p in group))
    pages, current = [], []

    def size(group: list[ReviewPage]) -> int:
        return sum(len(p.faces) for p in group)

    for group in groups:
        if current and size(current) + size(group) > PAGE_FACES:
            pages.append(_who_page(current))
            current = []
        for page in sorted(group, key=lambda p: p.faces[0].distance):  # a family too large for one page goes on
            if current and size(current) + len(page.faces) > PAGE_FACES:
                pages.append(_who_page(current))
                current = []
            current.append(page)
    if current:
        pages.append(_who_page(current))
    return pages


def _who_page(pages: list[ReviewPage]) -> ReviewPage:
    if len(pages) == 1:  # one person: their own page says it better
        return pages[0]
    people = tuple((p.person_id, p.person_name) for p in pages)
    names = [name for _, name in people]
    shown = names if len(names) <= 4 else [*names[:3], f"{len(names) - 3} others"]
    return ReviewPage("who", pages[0].person_id, names_in_words(shown),
                      tuple(replace(f, person_id=p.person_id) for p in pages for f in p.faces),
                      tuple(p.examples[0] for p in pages if p.examples), people)


def _examples(faces: _Faces, person: int) -> tuple[int, ...]:
    """A few of the person's faces the user confirmed (else any of theirs), to compare with."""
    mine = faces.person == person
    confirmed = np.flatnonzero(mine & faces.confirmed)
    chosen = confirmed if len(confirmed) else np.flatnonzero(mine)
    return tuple(int(i) for i in faces.ids[chosen[:EXAMPLES]])


class ReviewPages:
    """The pages, recomputed only when the library's faces, names, rejections or
    confirmations changed (a window asks every few seconds; 100,000 faces take seconds)."""

    def __init__(self) -> None:
        self._state: tuple | None = None
        self._pages: list[ReviewPage] = []

    def get(self, library: Library) -> list[ReviewPage]:
        state = (group_state(library), tuple(library.db.execute(
            "SELECT count(*), total(confirmed), total(id * confirmed) FROM faces").fetchone()))
        if state != self._state:
            self._pages = review_pages(library)
            self._state = state
        return list(self._pages)


def review_pages(library: Library, version: ModelVersion | None = None) -> list[ReviewPage]:
    """Every page, most done per action first: "More of NAME" pages the app is sure of most of
    (at least SURE_PAGE ticked faces), then "Is this really NAME?" pages with a face that
    looks like someone else, then the other "More of" pages put together as "Who are these?"
    pages, then the faces named only with their group (measured on family libraries:
    benchmarks/labelling_effort.py --family)."""
    version = version or active_version(library)
    faces = _load(library, version)
    more, really = _more_pages(faces, version), _really_pages(faces, version)
    suspect = [p for p in really if any(not f.ticked for f in p.faces)]
    return ([p for p in more if len(p.ticked) >= SURE_PAGE] + suspect
            + _who_pages(faces, [p for p in more if len(p.ticked) < SURE_PAGE])
            + [p for p in really if p not in suspect])


def find_page(library: Library, key: str) -> ReviewPage | None:
    kind, _, person = key.partition(":")
    if kind == "who":
        return next((p for p in review_pages(library) if p.key == key), None)
    if kind not in ("more", "really") or not person.isdigit():
        return None
    pages = really_pages(library) if kind == "really" else more_pages(library)
    return next((p for p in pages if p.person_id == int(person)), None)
