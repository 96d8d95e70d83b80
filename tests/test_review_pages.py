"""Pages of faces ("More of NAME", "Is this really NAME?"): what they offer, what answering
them does, and the command line's pages.  Generated vectors give hand-computed cases
(relatives are placed at a chosen distance); a scanned library checks them on real faces."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.library.edits import editing
from engine.library.questions.review_pages import find_page, more_pages, really_pages, review_pages
from engine.library.storage.store import Library, LibraryError
from tests.synthetic_library import fill_library

REPO = Path(__file__).resolve().parent.parent
HANG_CEILING = 300


def family_vectors(seed: int = 0) -> dict[str, np.ndarray]:
    """Anna and her sister Bea 0.65 apart (centres), a stranger Carl far from both; each face
    within about 0.2 of its centre (dlib-resnet-v1's threshold is 0.8365)."""
    rng = np.random.default_rng(seed)
    anna = rng.normal(size=128)
    anna *= 2.0 / np.linalg.norm(anna)
    step = rng.normal(size=128)
    step -= step @ anna / (anna @ anna) * anna
    bea = anna + 0.65 * step / np.linalg.norm(step)
    carl = -anna
    out = {}
    for name, centre, count in (("Anna", anna, 8), ("Bea", bea, 6), ("Carl", carl, 3)):
        noise = rng.normal(size=(count, 128))
        noise *= 0.1 / np.linalg.norm(noise, axis=1, keepdims=True)
        out[name] = (centre + noise).astype(np.float32)
    return out


@pytest.fixture()
def family(tmp_path):
    """Anna's first 5 faces and Bea's first 4 confirmed by hand; Anna's faces 5-7, Bea's 4-5
    and Carl's three unnamed; Anna's face 7 shares a photo with her face 0."""
    vectors = family_vectors()
    order = [("Anna", i) for i in range(8)] + [("Bea", i) for i in range(6)] + [("Carl", i) for i in range(3)]
    photos = [k for k in range(len(order))]
    photos[7] = photos[0]
    with Library(tmp_path / "lib.db") as library:
        ids = fill_library(library, np.stack([vectors[n][i] for n, i in order]), photos)
        face = dict(zip(order, ids, strict=True))
        editing.move_faces(library, [face["Anna", i] for i in range(5)], "Anna", create=True)
        editing.move_faces(library, [face["Bea", i] for i in range(4)], "Bea", create=True)
        yield library, face


def test_more_of_a_person_offers_their_unnamed_faces_nearest_first_and_ticks_the_sure_ones(family) -> None:
    library, face = family
    pages = {p.person_name: p for p in more_pages(library)}
    anna = pages["Anna"]
    assert [f.face_id for f in anna.faces] == sorted([face["Anna", 5], face["Anna", 6]],
                                                     key=lambda f: next(x.distance for x in anna.faces if x.face_id == f))
    assert face["Anna", 7] not in [f.face_id for f in anna.faces]  # Anna is already in that photo
    assert all(f.ticked for f in anna.faces)
    # Anna's face beside Anna in one photo is someone else: her sister is the next nearest.
    assert {f.face_id for f in pages["Bea"].faces} == {face["Bea", 4], face["Bea", 5], face["Anna", 7]}
    assert not any(face["Carl", i] in [f.face_id for p in pages.values() for f in p.faces] for i in range(3))
    assert set(anna.examples) <= {face["Anna", i] for i in range(5)}
    assert anna.question() == "More of Anna?" and find_page(library, anna.key) == anna


def test_a_face_said_not_to_be_someone_is_never_offered_to_them_again(family) -> None:
    library, face = family
    anna = find_page(library, f"more:{editing.resolve_person(library, 'Anna')}")
    editing.answer_page(library, "Anna", [face["Anna", 5]], [face["Anna", 6]])
    again = find_page(library, anna.key)
    assert again is None or face["Anna", 6] not in [f.face_id for f in again.faces]
    assert library.scalar("SELECT count(*) FROM rejections WHERE face_id = ?", [face["Anna", 6]]) == 1
    assert library.scalar("SELECT confirmed FROM faces WHERE id = ?", [face["Anna", 5]]) == 1


def test_is_this_really_asks_about_a_sisters_face_named_with_the_group_first_and_unticked(family) -> None:
    library, face = family
    # Anna's group is named with one of Bea's faces in it (never looked at: confirmed = 0).
    editing.move_faces(library, [face["Anna", 5], face["Anna", 6], face["Bea", 5]], "Anna")
    library.db.execute("UPDATE faces SET confirmed = 0 WHERE id IN (?, ?, ?)",
                       [face["Anna", 5], face["Anna", 6], face["Bea", 5]])
    page = next(p for p in really_pages(library) if p.person_name == "Anna")
    first = page.faces[0]
    assert first.face_id == face["Bea", 5] and not first.ticked
    assert first.other_id == editing.resolve_person(library, "Bea")
    assert all(f.ticked for f in page.faces[1:])  # Anna's own, named with her group
    assert review_pages(library)[0].kind == "more" or review_pages(library)[0] == page


def test_answering_a_page_is_one_edit_that_undo_takes_back(family) -> None:
    library, face = family
    editing.move_faces(library, [face["Bea", 5]], "Anna")
    before = library.query("SELECT id, person_id, assignment, confirmed FROM faces ORDER BY id")
    editing.answer_page(library, "Anna", [face["Anna", 5]], [face["Bea", 5], face["Carl", 0]],
                        {face["Carl", 0]: "Carl"})
    assert editing.last_edit(library) == "Answered: 1 face is Anna, 2 faces are not, 1 face named otherwise"
    assert library.scalar("SELECT person_id FROM faces WHERE id = ?", [face["Bea", 5]]) is None  # back to Unsorted
    carl = library.scalar("SELECT p.name FROM faces f JOIN people p ON p.id = f.person_id WHERE f.id = ?",
                          [face["Carl", 0]])
    assert carl == "Carl"
    editing.undo(library)
    assert library.query("SELECT id, person_id, assignment, confirmed FROM faces ORDER BY id") == before
    assert library.scalar("SELECT count(*) FROM people WHERE name = 'Carl'") == 0


def _two_named_lfw_people(tmp_path: Path, faces_dir: Path, pipeline) -> Path:  # noqa: ANN001
    """Five photos each of two LFW people, scanned and grouped, each group named once."""
    from engine.library.identities.grouping import cluster_library
    from engine.library.jobs.scan import scan_folders

    photos = tmp_path / "photos"
    for person in ("Colin_Powell", "Tony_Blair"):
        for source in sorted((faces_dir / "lfw_deepfunneled" / person).glob("*.jpg"))[:5]:
            (photos / person).mkdir(parents=True, exist_ok=True)
            shutil.copy(source, photos / person / source.name)
    db = tmp_path / "lib.db"
    with Library(db) as library:
        scan_folders(library, [photos], lambda: pipeline, recognize=False)
        cluster_library(library)
        largest = {}
        for row in library.query("SELECT f.id, f.person_id, ph.path FROM faces f JOIN photos ph ON ph.id = f.photo_id "
                                 "WHERE f.person_id IS NOT NULL"):
            person = Path(row["path"]).parent.name
            largest.setdefault(person, set()).add(row["person_id"])
        for person, groups in largest.items():
            editing.name_person(library, min(groups), person.replace("_", " "))
    return db


def _unplace_newest_face_of(library: Library, name: str) -> int:
    """A new photo's face that nobody has placed yet (as a scan leaves it before recognition)."""
    face = library.scalar("SELECT f.id FROM faces f JOIN people p ON p.id = f.person_id "
                          "WHERE p.name = ? ORDER BY f.id DESC LIMIT 1", [name])
    library.db.execute("UPDATE faces SET person_id = NULL, assignment = NULL WHERE id = ?", [face])
    return face


@pytest.mark.slow
def test_pages_on_real_faces_and_from_the_command_line(tmp_path, faces_dir, pipeline) -> None:
    db = _two_named_lfw_people(tmp_path, faces_dir, pipeline)
    with Library(db) as library:
        newcomer = _unplace_newest_face_of(library, "Colin Powell")
        page = next(p for p in more_pages(library) if p.person_name == "Colin Powell")
        offered = {f.face_id: f for f in page.faces}
        assert newcomer in offered and offered[newcomer].ticked
        assert all(p.person_name != "Tony Blair" or newcomer not in [f.face_id for f in p.faces]
                   for p in more_pages(library))
    listed = subprocess.run([sys.executable, "-m", "engine.cli", "suggestions", "--json", "--db", str(db)],
                            capture_output=True, text=True, cwd=REPO, timeout=HANG_CEILING)
    # Listed on one page (its own, or "Who are these?" with another's), proposed as Colin Powell.
    holding = [p for p in json.loads(listed.stdout)["pages"] if newcomer in [f["face"] for f in p["faces"]]]
    assert len(holding) == 1 and [f["person"] for f in holding[0]["faces"] if f["face"] == newcomer] == ["Colin Powell"]
    answered = subprocess.run([sys.executable, "-m", "engine.cli", "answer", page.key, "yes", "--db", str(db)],
                              capture_output=True, text=True, cwd=REPO, timeout=HANG_CEILING)
    assert answered.returncode == 0 and answered.stdout.startswith("Answered:"), answered.stderr
    with Library(db) as library:
        assert library.scalar("SELECT p.name FROM faces f JOIN people p ON p.id = f.person_id WHERE f.id = ?",
                              [newcomer]) == "Colin Powell"
        assert library.scalar("SELECT confirmed FROM faces WHERE id = ?", [newcomer]) == 1
        two = [r[0] for r in library.db.execute(
            "SELECT f.id FROM faces f JOIN people p ON p.id = f.person_id WHERE p.name = 'Tony Blair' LIMIT 2")]
    rejected = subprocess.run([sys.executable, "-m", "engine.cli", "reject", *map(str, two), "--db", str(db)],
                              capture_output=True, text=True, cwd=REPO, timeout=HANG_CEILING)
    assert rejected.returncode == 0 and "Moved 2 faces from Tony Blair to Unsorted" in rejected.stdout, rejected.stderr


@pytest.fixture()
def two_families(tmp_path):
    library, face = two_families_library(tmp_path / "lib.db")
    with library:
        yield library, face


def two_families_library(path: Path) -> tuple[Library, dict[tuple[str, int], int]]:
    """Sisters Anna and Bea, and brothers Dan and Eli far from them: four confirmed faces each
    (each pair together in one photo) and one unnamed face each in a photo of its own."""
    rng = np.random.default_rng(3)

    def centre_beside(centre: np.ndarray, apart: float) -> np.ndarray:
        step = rng.normal(size=128)
        step -= step @ centre / (centre @ centre) * centre
        return centre + apart * step / np.linalg.norm(step)

    anna = rng.normal(size=128)
    anna *= 2.0 / np.linalg.norm(anna)
    dan = centre_beside(-anna, 0.5)
    centres = {"Anna": anna, "Bea": centre_beside(anna, 0.65), "Dan": dan, "Eli": centre_beside(dan, 0.65)}
    order = [(name, i) for name in centres for i in range(5)]
    noise = rng.normal(size=(len(order), 128))
    noise *= 0.1 / np.linalg.norm(noise, axis=1, keepdims=True)
    vectors = np.stack([centres[name] for name, _ in order]) + noise
    photos = list(range(len(order)))
    photos[order.index(("Bea", 0))] = photos[order.index(("Anna", 0))]  # a photo of the sisters
    photos[order.index(("Eli", 0))] = photos[order.index(("Dan", 0))]  # and of the brothers
    library = Library(path)
    ids = fill_library(library, vectors.astype(np.float32), photos)
    face = dict(zip(order, ids, strict=True))
    for name in centres:
        editing.move_faces(library, [face[name, i] for i in range(4)], name, create=True)
    return library, face


def test_who_are_these_puts_several_peoples_faces_on_one_page_with_their_names(two_families, monkeypatch) -> None:
    from engine.library.questions import review_pages as module

    library, face = two_families
    person = {name: editing.resolve_person(library, name) for name in ("Anna", "Bea", "Dan", "Eli")}
    pages = review_pages(library)
    who = [p for p in pages if p.kind == "who"]
    assert len(who) == 1 and who[0].question() == "Who are these?"
    # Each unnamed face is proposed as the person it was made from (hand-built: 0.1 from its
    # centre, relatives 0.65 apart), and the one page is as many actions as four "More of" pages.
    assert who[0].proposed == {face[name, 4]: person[name] for name in person}
    assert {name for _, name in who[0].people} == set(person)
    assert set(who[0].examples) <= {face[name, i] for name in person for i in range(4)}
    assert len(who[0].examples) == 4 and find_page(library, who[0].key) == who[0]
    # Two faces a page: relatives (people who share a photo) stay together.
    monkeypatch.setattr(module, "PAGE_FACES", 2)
    families = [{name for _, name in p.people} for p in review_pages(library) if p.kind == "who"]
    assert sorted(families, key=sorted) == [{"Anna", "Bea"}, {"Dan", "Eli"}]


def test_answering_who_are_these_is_one_edit_for_several_people_and_undo_takes_it_back(two_families) -> None:
    library, face = two_families
    page = next(p for p in review_pages(library) if p.kind == "who")
    before = library.query("SELECT id, person_id, assignment, confirmed FROM faces ORDER BY id")
    right = [face["Anna", 4], face["Bea", 4], face["Dan", 4]]
    editing.answer_people_page(library, page.proposed, right, {face["Eli", 4]: "Frida"})
    assert editing.last_edit(library) == ("Answered: 3 faces of Anna, Bea and Dan, 1 face not who the app thought, "
                                          "1 face named otherwise")
    named = dict(library.db.execute("SELECT f.id, p.name FROM faces f JOIN people p ON p.id = f.person_id").fetchall())
    assert [named[f] for f in right] == ["Anna", "Bea", "Dan"] and named[face["Eli", 4]] == "Frida"
    assert library.scalar("SELECT count(*) FROM faces WHERE id IN (?, ?, ?, ?) AND confirmed = 1",
                          [*right, face["Eli", 4]]) == 4
    eli = editing.resolve_person(library, "Eli")
    assert library.scalar("SELECT count(*) FROM rejections WHERE face_id = ? AND person_id = ?", [face["Eli", 4], eli]) == 1
    with pytest.raises(LibraryError, match="not on the page"):
        editing.answer_people_page(library, page.proposed, [face["Anna", 0]])
    editing.undo(library)
    assert library.query("SELECT id, person_id, assignment, confirmed FROM faces ORDER BY id") == before
    assert library.scalar("SELECT count(*) FROM people WHERE name = 'Frida'") == 0
    assert library.scalar("SELECT count(*) FROM rejections") == 0


@pytest.mark.slow
def test_who_are_these_on_real_faces_and_from_the_command_line(tmp_path, faces_dir, pipeline) -> None:
    """A new face of Colin Powell beside a face of Tony Blair's that the grouping left out:
    one "Who are these?" page proposes each as the right person (the photos' folders say who),
    and `facenet answer who:... --yes ...` names both in one edit."""
    db = _two_named_lfw_people(tmp_path, faces_dir, pipeline)
    with Library(db) as library:
        newcomer = _unplace_newest_face_of(library, "Colin Powell")
        truth = {r["id"]: Path(r["path"]).parent.name.replace("_", " ") for r in library.query(
            "SELECT f.id, ph.path FROM faces f JOIN photos ph ON ph.id = f.photo_id")}
        person = {name: editing.resolve_person(library, name) for name in ("Colin Powell", "Tony Blair")}
    listed = subprocess.run([sys.executable, "-m", "engine.cli", "suggestions", "--json", "--db", str(db)],
                            capture_output=True, text=True, cwd=REPO, timeout=HANG_CEILING)
    pages = [p for p in json.loads(listed.stdout)["pages"] if p["id"].startswith("who:")]
    assert len(pages) == 1 and pages[0]["question"] == "Who are these?", listed.stdout
    proposed = {f["face"]: (f["person"], f["person_id"]) for f in pages[0]["faces"]}
    assert newcomer in proposed and {name for name, _ in proposed.values()} == set(person)
    assert proposed == {face: (truth[face], person[truth[face]]) for face in proposed}
    shown = subprocess.run([sys.executable, "-m", "engine.cli", "suggestions", "--db", str(db)],
                           capture_output=True, text=True, cwd=REPO, timeout=HANG_CEILING)
    assert f"{newcomer}*=Colin Powell" in shown.stdout or f"{newcomer}=Colin Powell" in shown.stdout, shown.stdout
    answered = subprocess.run([sys.executable, "-m", "engine.cli", "answer", pages[0]["id"], "no",
                               "--yes", *map(str, proposed), "--db", str(db)],
                              capture_output=True, text=True, cwd=REPO, timeout=HANG_CEILING)
    assert answered.returncode == 0 and "of Colin Powell and Tony Blair" in answered.stdout, answered.stderr
    with Library(db) as library:
        for face in proposed:
            assert library.scalar("SELECT p.name FROM faces f JOIN people p ON p.id = f.person_id "
                                  "WHERE f.id = ? AND f.confirmed = 1", [face]) == truth[face]


def test_pages_tick_alike_in_a_space_a_fine_tune_spread_out(tmp_path) -> None:
    """A fine-tuned space 1.3 times as wide, with its threshold 1.3 times as far, ticks the
    same faces: a face 0.30 from Anna's and 0.35 from Bea's (hand-placed) is not ticked in
    either, where a fixed margin of 0.06 ticked it in the wider space."""
    from dataclasses import replace

    from engine.library.storage.model_registry import active_version

    rng = np.random.default_rng(5)
    axis = np.zeros(128)
    axis[0] = 1.0
    anna, bea = np.full(128, 0.1), np.full(128, 0.1) + 0.65 * axis
    vectors = [anna + rng.normal(size=128) * 1e-4 for _ in range(4)] + [bea + rng.normal(size=128) * 1e-4 for _ in range(4)]
    vectors.append(anna + 0.30 * axis)  # between them, nearer Anna by 0.05
    answers = []
    for scale in (1.0, 1.3):
        with Library(tmp_path / f"lib{scale}.db") as library:
            ids = fill_library(library, scale * np.stack(vectors).astype(np.float32))
            editing.move_faces(library, ids[:4], "Anna", create=True)
            editing.move_faces(library, ids[4:8], "Bea", create=True)
            base = active_version(library)
            version = base if scale == 1.0 else replace(base, threshold=base.threshold * scale)
            answers.append([(p.kind, p.person_name, [(f.face_id, f.ticked) for f in p.faces])
                            for p in review_pages(library, version)])
    assert answers[0] == answers[1] == [("more", "Anna", [(9, False)])]
