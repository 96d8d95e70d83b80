"""How much work naming a library takes: a scripted user who knows everyone does what the app
offers, one action at a time, on a library of real faces with known identities.

The library: LFW identities with >= 10 images (benchmarks/lfw_identity_embeddings.py's cache,
the default version's embeddings of each photo's largest face), one photo per face, grouped
as a scan leaves them (`cluster_library`).  After every action recognition runs again, as
the app does after each edit.  The user:

1. names each person once: the largest unnamed group whose majority is someone not yet
   named gets that person's name (one action each);
2. then, as long as something is offered, one action at a time in this order: answers the
   next group question truthfully (Yes / No), answers the next face suggestion truthfully,
   names the largest unnamed group by its majority (a name already used merges), removes
   the wrong faces from a person (one multi-select "Not this person"), moves the unsorted
   faces of one person to that person (one multi-select "Move to").

It reports (a) after one name per person: faces named right, named wrong, left unnamed;
(b) actions until 95% and 99% of faces are named right; (c) faces named wrong at the end.
Each run is with and without group questions (what the app did before them).

With `--camera` the library is scanned by the app from real files instead: the same LFW people's
photos laid out as camera folders (DCIM/100CAMERA/IMG_0001.jpg ..., people mixed), with the
shared group photos mixed in.  Each LFW photo's largest face is its person; every other face
(background people, the group photos' faces, whose boxes are not annotated, except the faces
their XMP regions name) is a stranger the
user does not know: never named, answered No when suggested, taken out of named people.  The
shares are then over the faces of known people, and a stranger given a name counts as wrong.

With `--family` the libraries are family photo libraries from FIW (family_libraries.py: group
photos of relatives, several seeds), and the user is the family user: one name per person,
then every question the app asks answered truthfully, then the rest by hand; the table adds
how many wrong faces the user had to hunt down person by person.

    python benchmarks/labelling_effort.py [--people 60] [--max-images 20] [--camera] [--cluster-linkage L]
    python benchmarks/labelling_effort.py --family [--seeds 1 2 3] [--photos 300]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import faces_dir, machine_line, print_table
from lfw_identity_embeddings import CACHE

from engine.library.edits import editing
from engine.library.questions import group_suggestions as questions
from engine.library.reading.browse import suggestions
from engine.library.identities.grouping import cluster_library
from engine.library.identities.recognition_pass import recognize_faces
from engine.library.jobs.scan import scan_folders
from engine.library.storage.store import Library, embedding_to_blob
from engine.model_versions import DEFAULT_VERSION


def build_library(path: Path, people: int, max_images: int) -> dict[int, str]:
    """The library and each face's true identity."""
    data = np.load(CACHE)
    names, vectors = data["names"], data["vectors"]
    chosen = sorted(set(names.tolist()))[::max(1, 158 // people)][:people]
    truth: dict[int, str] = {}
    with Library(path) as library, library.atomic() as db:
        folder = db.execute("INSERT INTO folders(path) VALUES ('/camera')").lastrowid
        for person in chosen:
            for k, i in enumerate(np.flatnonzero(names == person)[:max_images]):
                photo = db.execute(
                    "INSERT INTO photos(path, folder_id, size, mtime_ns, status, width, height) "
                    "VALUES (?, ?, 1, 1, 'done', 250, 250)", [f"/camera/{person}/{k:04d}.jpg", folder]).lastrowid
                face = db.execute("INSERT INTO faces(photo_id, x1, y1, x2, y2, score) VALUES (?, 70, 70, 180, 180, 1)",
                                  [photo]).lastrowid
                db.execute("INSERT INTO face_embeddings(face_id, model_version, embedding) VALUES (?, ?, ?)",
                           [face, DEFAULT_VERSION.name, embedding_to_blob(vectors[i])])
                truth[int(face)] = person
    return truth


STRANGER = "?"  # a truth starting with this: someone the user does not know


def build_camera_library(path: Path, people: int, max_images: int) -> dict[int, str]:
    """Scan camera folders of real photos (symlinks to the shared faces) with the app's
    pipeline; each face's truth (LFW's largest face per photo: its person; any other: a stranger)."""
    from engine.faces.pipeline import FacePipeline
    from engine.user_files import from_stored_path

    data = np.load(CACHE)
    chosen = sorted(set(data["names"].tolist()))[::max(1, 158 // people)][:people]
    lfw = faces_dir() / "lfw_deepfunneled"
    photos = [(image, person) for person in chosen for image in sorted((lfw / person).glob("*.jpg"))[:max_images]]
    seen: set[str] = set()
    for image in sorted((faces_dir() / "group_photos").rglob("*")):
        if image.is_file() and image.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"):
            digest = hashlib.sha1(image.read_bytes()).hexdigest()  # a photo of several people is linked under each
            if digest not in seen:
                seen.add(digest)
                photos.append((image, None))
    random.Random(0).shuffle(photos)  # a camera's order: people mixed
    camera = path.parent / "DCIM"
    person_of_file: dict[str, str | None] = {}
    for number, (image, person) in enumerate(photos):
        target = camera / f"{100 + number // 250}CAMERA" / f"IMG_{number:04d}{image.suffix.lower()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(image)
        person_of_file[str(target)] = person
    with Library(path) as library:
        scan_folders(library, [camera], FacePipeline)
        rows = library.query("SELECT f.id, ph.path, (f.x2 - f.x1) * (f.y2 - f.y1) AS area FROM faces f "
                             "JOIN photos ph ON ph.id = f.photo_id ORDER BY ph.path, area DESC, f.id")
        # Faces the photos' own XMP regions name (the Curies' portraits): annotations.csv
        # confirms those names, so they are known people, already named when the scan ends.
        from_xmp = {r["id"]: r["name"] for r in library.query(
            "SELECT f.id, p.name FROM faces f JOIN people p ON p.id = f.person_id WHERE f.named_from = 'XMP'")}
    truth: dict[int, str] = {}
    largest_done: set[str] = set()
    for row in rows:
        path_text = from_stored_path(row["path"])
        person = person_of_file.get(path_text)
        if row["id"] in from_xmp:
            truth[row["id"]] = from_xmp[row["id"]]
        elif person is not None and path_text not in largest_done:
            truth[row["id"]] = person
            largest_done.add(path_text)
        else:
            truth[row["id"]] = f"{STRANGER}{row['id']}"
    return truth


def known(name: str) -> bool:
    return not name.startswith(STRANGER)


class Tally:
    def __init__(self, library: Library, truth: dict[int, str]) -> None:
        self.library, self.truth = library, truth

    def counts(self) -> tuple[int, int, int]:
        """(named right, named wrong, not named) over the faces of known people; a stranger
        given a name is wrong too."""
        rows = self.library.query(
            "SELECT f.id, p.name, f.assignment FROM faces f LEFT JOIN people p ON p.id = f.person_id")
        right = wrong = unnamed = 0
        for row in rows:
            truth = self.truth[row["id"]]
            if row["name"] is None or row["assignment"] == "suggested":
                unnamed += known(truth)
            elif row["name"] == truth:
                right += 1
            else:
                wrong += 1
        return right, wrong, unnamed


def groups(library: Library) -> dict[int, list[int]]:
    """Each person's own faces (not merely suggested)."""
    out: dict[int, list[int]] = {}
    for row in library.query("SELECT id, person_id FROM faces WHERE person_id IS NOT NULL AND assignment != 'suggested'"):
        out.setdefault(row["person_id"], []).append(row["id"])
    return out


def majority(faces: list[int], truth: dict[int, str]) -> str:
    """Who most of the faces are (a stranger's mark when most are strangers)."""
    counts = Counter(truth[f] if known(truth[f]) else STRANGER for f in faces)
    return counts.most_common(1)[0][0]


def name_of(library: Library, person: int) -> str | None:
    return library.scalar("SELECT name FROM people WHERE id = ?", [person])


def next_action(library: Library, truth: dict[int, str], ask_groups: bool) -> tuple[str, int] | None:
    """Do the next thing the app offers: (what, how many faces the user picked by hand);
    None when nothing is left to do."""
    if ask_groups:
        offered = questions.group_suggestions(library)
        if offered:
            question = offered[0]
            group_faces = groups(library)
            group, other = majority(group_faces[question.group], truth), majority(group_faces[question.other], truth)
            same = known(group) and group == other  # two groups of strangers are not known to be one person
            questions.answer_group_suggestion(library, question, same)
            return "group question", 0
    for face in suggestions(library)[:1]:
        if truth[face.id] == face.person_name:  # a stranger is never anyone the user named
            editing.confirm_face(library, face.id)
        else:
            editing.reject_face(library, face.id)
        return "face suggestion", 0
    names = {r["name"] for r in library.query("SELECT name FROM people WHERE name IS NOT NULL")}
    owned = groups(library)
    unnamed = sorted((p for p in owned if name_of(library, p) is None and known(majority(owned[p], truth))),
                     key=lambda p: (-len(owned[p]), p))  # a group of strangers stays unnamed
    for person in unnamed:
        editing.name_person(library, person, majority(owned[person], truth))  # an existing name merges
        return "name a group", 0
    for person, faces in sorted(owned.items()):
        name = name_of(library, person)
        if name is None:
            continue  # a group the user left unnamed (strangers): nothing in it is wrong yet
        wrong = [f for f in faces if truth[f] != name]
        if wrong:
            editing.reject_faces(library, wrong)
            return "not this person", len(wrong)
    unsorted = [r["id"] for r in library.query("SELECT id FROM faces WHERE person_id IS NULL OR assignment = 'suggested'")]
    by_person: dict[str, list[int]] = {}
    for face in unsorted:
        if known(truth[face]):
            by_person.setdefault(truth[face], []).append(face)
    for person, faces in sorted(by_person.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if person in names:
            editing.move_faces(library, faces, person)
        else:
            editing.move_faces(library, faces, person, create=True)
        return "move to", len(faces)
    return None


def name_each_person_once(library: Library, truth: dict[int, str]) -> int:
    """The user names each person once: the largest unnamed group whose majority is someone
    not named yet gets that name.  How many names were given."""
    named: set[str] = set()
    first_names = 0
    while True:
        owned = groups(library)
        candidates = [(len(f), p) for p, f in owned.items()
                      if name_of(library, p) is None and known(majority(f, truth)) and majority(f, truth) not in named]
        if not candidates:
            return first_names
        _, person = max(candidates)
        name = majority(owned[person], truth)
        editing.name_person(library, person, name)
        recognize_faces(library)
        named.add(name)
        first_names += 1


def run(source: Path, truth: dict[int, str], ask_groups: bool, limit: int, linkage: float | None = None) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "lib.db"
        shutil.copy(source, path)
        with Library(path) as library:
            cluster_library(library, None if linkage is None else replace(DEFAULT_VERSION, cluster_linkage=linkage))
            tally = Tally(library, truth)
            total = sum(1 for name in truth.values() if known(name))
            first_names = name_each_person_once(library, truth)
            after_names = tally.counts()
            actions, kinds = first_names, Counter({"first names": first_names})
            reached: dict[float, int] = {}
            started = time.monotonic()
            while actions < limit:
                right = tally.counts()[0]
                for goal in (0.95, 0.99):
                    if goal not in reached and right >= goal * total:
                        reached[goal] = actions
                if len(reached) == 2:
                    break
                done = next_action(library, truth, ask_groups)
                if done is None:
                    break
                recognize_faces(library)
                actions += 1
                kinds[done[0]] += 1
            end = tally.counts()
            return {"faces": total, "people": len({n for n in truth.values() if known(n)}),
                    "strangers": len(truth) - total, "after_names": after_names, "reached": reached,
                    "end": end, "actions": actions, "kinds": kinds, "seconds": time.monotonic() - started}


def answer_question(library: Library, truth: dict[int, str], pages: bool) -> int | None:
    """Answer the next question the app asks (a group question, else a face suggestion, else
    with `pages` a page of faces), truthfully; its cost in actions (None when nothing is asked)."""
    if next_question_kind(library) is not None:
        next_action(library, truth, ask_groups=True)
        return 1
    if not pages:
        return None
    from engine.library.questions.review_pages import review_pages

    offered = review_pages(library)
    if not offered:
        return None
    page = offered[0]
    proposed = page.proposed  # one person per page, or each face's own on "Who are these?"
    yes = [f.face_id for f in page.faces if truth[f.face_id] == page.name_of(proposed[f.face_id])]
    no = [f.face_id for f in page.faces if f.face_id not in yes]
    have = {r["name"] for r in library.query("SELECT name FROM people WHERE name IS NOT NULL")}
    # "It's someone else": the user types the name of someone the app does not know yet (a
    # person it knows is offered the face on their own page once it is not this one).
    named = {f: truth[f] for f in no if known(truth[f]) and truth[f] not in have}
    changed = sum(f.ticked != (f.face_id in yes) for f in page.faces)
    if page.kind == "who":
        editing.answer_people_page(library, proposed, yes, named)
    else:
        editing.answer_page(library, page.person_id, yes, no, named)
    return 1 + changed + len(named)


def next_question_kind(library: Library) -> str | None:
    if questions.group_suggestions(library):
        return "group question"
    if suggestions(library)[:1]:
        return "face suggestion"
    return None


def finetune_after_pages(source: Path, truth: dict[int, str]) -> list[str]:
    """The family user answers every question and page, then presses "Fine-tune on my
    labels": the labels are now the user's corrections (hard faces included), not only the
    faces the model grouped right.  The fine-tune's report lines."""
    from engine.faces.pipeline import FacePipeline
    from engine.library.jobs.finetune_job import propose_finetune

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "lib.db"
        shutil.copy(source, path)
        with Library(path) as library:
            cluster_library(library)
            name_each_person_once(library, truth)
            while answer_question(library, truth, pages=True) is not None:
                recognize_faces(library)
            started = time.monotonic()
            report = propose_finetune(library, FacePipeline()).report
            return [report.headline(), *report.lines(), f"({time.monotonic() - started:.0f} s)"]


def run_family(source: Path, truth: dict[int, str], limit: int, pages: bool) -> dict:
    """The family user: one name per person, then every question the app asks, answered
    truthfully; then, by hand, the rest (wrong faces hunted down person by person, unsorted
    faces moved).  Actions as issue 35 counts them: a question or a page is one action plus
    one per face the user changes, a name typed is one, and each face picked out by hand
    (moved out of Unsorted, or found wrong in a person) is one."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "lib.db"
        shutil.copy(source, path)
        with Library(path) as library:
            cluster_library(library)
            tally = Tally(library, truth)
            total = sum(1 for name in truth.values() if known(name))
            people = len({n for n in truth.values() if known(n)})
            actions = name_each_person_once(library, truth)
            after_names = tally.counts()
            asked = 0
            reached: int | None = actions if after_names[0] >= 0.95 * total else None
            while (cost := answer_question(library, truth, pages)) is not None:
                recognize_faces(library)
                actions += cost
                asked += 1
                if reached is None and tally.counts()[0] >= 0.95 * total:
                    reached = actions
            after_questions = tally.counts()
            hunted = 0
            while actions < limit:
                done = next_action(library, truth, ask_groups=True)
                if done is None:
                    break
                kind, picked = done
                hunted += picked if kind == "not this person" else 0
                recognize_faces(library)
                actions += 1 + picked  # each face picked out by hand is an action of its own
                if reached is None and tally.counts()[0] >= 0.95 * total:
                    reached = actions
            return {"faces": total, "people": people, "after_names": after_names, "questions": asked,
                    "after_questions": after_questions, "reached_95": reached, "hunted": hunted,
                    "end": tally.counts(), "actions": actions}


def family_table(seeds: list[int], photos: int, limit: int, finetune: bool = False) -> None:
    from family_libraries import family_library

    rows = []
    for seed, pages in [(seed, pages) for seed in seeds for pages in (False, True)]:
        source, truth, facts = family_library(seed, photos)
        result = run_family(source, truth, limit, pages)
        total, people = result["faces"], result["people"]

        def shares(counts: tuple[int, int, int], total: int = total) -> str:
            right, wrong, left = counts
            return f"{right / total:.1%} right, {wrong / total:.1%} wrong, {left / total:.1%} unnamed"

        reached = result["reached_95"]
        rows.append([
            f"seed {seed}: {facts['photos']} photos ({facts['group_photos']} group), {total} faces, "
            f"{people} people, {facts['families']} families",
            "with pages (More of / Who are these / Is this really)" if pages else "questions only (before)",
            shares(result["after_names"]), f"{result['questions']}", shares(result["after_questions"]),
            "not reached" if reached is None else f"{reached} ({reached / people:.2f} per person)",
            f"{result['hunted']}", f"{result['end'][0] / total:.1%} right, {result['end'][1]} wrong",
        ])
    if finetune:
        from family_libraries import family_library as built

        for seed in seeds:
            source, truth, _ = built(seed, photos)
            print(f"\nseed {seed}: fine-tune on the labels after every question and page")
            for line in finetune_after_pages(source, truth):
                print(f"  {line}")
    print_table(["library", "questions", "after one name per person", "questions asked", "after answering them",
                 "actions to 95% right", "wrong faces hunted by hand", "at the end"], rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--max-images", type=int, default=20)
    parser.add_argument("--limit", type=int, default=2000, help="most actions")
    parser.add_argument("--camera", action="store_true", help="scan camera folders of real photos with group photos")
    parser.add_argument("--cluster-linkage", type=float, help="group at this level instead of the version's")
    parser.add_argument("--family", action="store_true", help="family libraries from FIW (family_libraries.py)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="the family libraries")
    parser.add_argument("--photos", type=int, default=300, help="photos per family library")
    parser.add_argument("--finetune", action="store_true", help="with --family: fine-tune on the labels made")
    args = parser.parse_args()
    print(machine_line())
    if args.family:
        family_table(args.seeds, args.photos, args.limit, args.finetune)
        return
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "scanned" / "lib.db"
        source.parent.mkdir()
        started = time.monotonic()
        build = build_camera_library if args.camera else build_library
        truth = build(source, args.people, args.max_images)
        print(f"library built in {time.monotonic() - started:.0f} s")
        results = [(ask_groups, run(source, truth, ask_groups, args.limit, args.cluster_linkage)) for ask_groups in (False, True)]
    for ask_groups, result in results:
        total, people = result["faces"], result["people"]
        right, wrong, left = result["after_names"]
        end_right, end_wrong, end_left = result["end"]

        def when(goal: float, result: dict = result, people: int = people) -> str:
            done = result["reached"].get(goal)
            return "not reached" if done is None else f"{done} ({done / people:.2f} per person)"

        rows.append([
            "with group questions" if ask_groups else "without group questions (before)",
            f"{total} faces, {people} people" + (f", {result['strangers']} strangers' faces" if result["strangers"] else ""),
            f"{right / total:.1%} right, {wrong / total:.1%} wrong, {left / total:.1%} unnamed",
            when(0.95), when(0.99),
            f"{end_right / total:.1%} right, {end_wrong} wrong",
            ", ".join(f"{k} {v}" for k, v in sorted(result["kinds"].items())),
        ])
    print_table(["user", "library", "after one name per person", "actions to 95% right", "actions to 99% right",
                 "at the end", "actions by kind"], rows)


if __name__ == "__main__":
    main()
