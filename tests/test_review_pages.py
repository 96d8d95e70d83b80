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
from engine.library.storage.store import Library
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


@pytest.mark.slow
def test_pages_on_real_faces_and_from_the_command_line(tmp_path, faces_dir, pipeline) -> None:
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
        # A new photo's face that nobody has placed yet (as a scan leaves it before recognition).
        newcomer = library.scalar("SELECT f.id FROM faces f JOIN people p ON p.id = f.person_id "
                                  "WHERE p.name = 'Colin Powell' ORDER BY f.id DESC LIMIT 1")
        library.db.execute("UPDATE faces SET person_id = NULL, assignment = NULL WHERE id = ?", [newcomer])
        page = next(p for p in more_pages(library) if p.person_name == "Colin Powell")
        offered = {f.face_id: f for f in page.faces}
        assert newcomer in offered and offered[newcomer].ticked
        assert all(p.person_name != "Tony Blair" or newcomer not in [f.face_id for f in p.faces]
                   for p in more_pages(library))
    listed = subprocess.run([sys.executable, "-m", "engine.cli", "suggestions", "--json", "--db", str(db)],
                            capture_output=True, text=True, cwd=REPO, timeout=HANG_CEILING)
    pages = {p["id"]: p for p in json.loads(listed.stdout)["pages"]}
    assert page.key in pages and newcomer in [f["face"] for f in pages[page.key]["faces"]]
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
