"""Faces confirmed one by one are kept apart from faces named with their group: a regroup
turns a group-named face that the other labels surely call someone else into a question,
never a confirmed face; fine-tuning does not learn from such a face."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from synthetic_library import fill_library, identity_vectors

from engine.library.edits import editing
from engine.library.identities.doubtful_labels import doubtful_labels
from engine.library.identities.grouping import cluster_library
from engine.library.identities.labelled_faces import labelled_face_rows, without_doubtful
from engine.library.storage.store import Library
from engine.model_versions import DLIB_RESNET_V1

VERSION = DLIB_RESNET_V1


def confirmed_flags(library: Library) -> dict[int, int]:
    return {r["id"]: r["confirmed"] for r in library.query("SELECT id, confirmed FROM faces")}


def test_doubtful_by_hand_made_vectors() -> None:
    """Person 0 has 4 faces and a fifth among person 1's faces; hand-checked against the rule."""
    vectors, people = identity_vectors(people=2, per_person=5, seed=1)
    vectors = VERSION.prepare(vectors)
    stray = vectors[5] + 0.01  # beside person 1's first face, labelled as person 0
    all_vectors = np.vstack([vectors, stray[None]])
    labels = np.append(people, 0)
    unconfirmed = np.zeros(len(labels), bool)
    found = doubtful_labels(all_vectors, labels, unconfirmed, VERSION)
    assert [(d.index, d.named, d.likely) for d in found] == [(10, 0, 1)]
    nearest = min(np.linalg.norm(all_vectors[5:10] - stray, axis=1))
    assert found[0].distance == pytest.approx(nearest, rel=1e-6)
    # Confirmed by the user: never doubtful.
    confirmed = unconfirmed.copy()
    confirmed[10] = True
    assert doubtful_labels(all_vectors, labels, confirmed, VERSION) == []
    # Rejected for person 1: the evidence cannot point there.
    assert doubtful_labels(all_vectors, labels, unconfirmed, VERSION, {10: {1}}) == []
    # Person 1 known from two faces only: too few to take a face from anyone.
    few = np.r_[0:5, 5:7, 10]
    assert doubtful_labels(all_vectors[few], labels[few], unconfirmed[few], VERSION) == []
    # One of person 0's own faces among the close neighbours: not sure, so not doubtful.
    own_near = np.vstack([all_vectors, (stray + 0.01)[None]])
    assert doubtful_labels(own_near, np.append(labels, 0), np.zeros(12, bool), VERSION) == []


@pytest.fixture()
def two_people(tmp_path):
    """Anna's group of 6 holds one of Ben's faces (a clustering mistake); Ben has 5 faces."""
    library = Library(tmp_path / "lib.db")
    vectors, _ = identity_vectors(people=2, per_person=6, seed=3)
    ids = fill_library(library, vectors)
    anna, ben = ids[:6], ids[6:]
    with library.atomic() as db:
        db.execute("UPDATE faces SET landmarks = ?", [bytes(40)])  # as scanned faces have (fine-tune rows need them)
        anna_id = db.execute("INSERT INTO people(name) VALUES (NULL)").lastrowid
        for face in [*anna[:5], ben[0]]:
            db.execute("UPDATE faces SET person_id = ?, assignment = 'auto' WHERE id = ?", [anna_id, face])
    yield library, anna_id, anna, ben
    library.close()


def test_naming_a_group_is_not_confirming_its_faces_and_undo_keeps_the_difference(two_people) -> None:
    library, anna_id, anna, ben = two_people
    editing.name_person(library, anna_id, "Anna")
    flags = confirmed_flags(library)
    assert [flags[f] for f in [*anna[:5], ben[0]]] == [0] * 6  # named with the group
    editing.confirm_face(library, anna[0])
    editing.move_faces(library, ben[1:], "Ben", create=True)
    flags = confirmed_flags(library)
    assert flags[anna[0]] == 1 and all(flags[f] == 1 for f in ben[1:])
    editing.undo(library)
    assert all(confirmed_flags(library)[f] == 0 for f in ben[1:])
    editing.redo(library)
    editing.reject_face(library, anna[1])
    assert confirmed_flags(library)[anna[1]] == 0  # a rejected face is nobody's


def test_a_regroup_asks_about_a_group_named_face_that_is_someone_else(two_people) -> None:
    library, anna_id, anna, ben = two_people
    editing.name_person(library, anna_id, "Anna")  # Ben's face named Anna with the group
    editing.move_faces(library, ben[1:], "Ben", create=True)  # Ben confirmed face by face
    ben_id = library.scalar("SELECT id FROM people WHERE name = 'Ben'")
    rows = labelled_face_rows(library, VERSION.name)
    assert ben[0] in {r["id"] for r in rows}
    assert ben[0] not in {r["id"] for r in without_doubtful(rows, VERSION, library)}  # not learned from
    assert len(without_doubtful(rows, VERSION, library)) == len(rows) - 1
    summary = cluster_library(library, VERSION)
    assert summary.questioned == 1
    assert library.query("SELECT person_id, assignment FROM faces WHERE id = ?", [ben[0]]) == [
        {"person_id": ben_id, "assignment": "suggested"}]
    assert {r["person_id"] for r in library.query(
        f"SELECT person_id FROM faces WHERE id IN ({','.join('?' * 5)})", anna[:5])} == {anna_id}
    assert cluster_library(library, VERSION).questioned == 0  # asked once


def test_a_confirmed_face_is_never_moved_by_a_regroup(two_people) -> None:
    library, anna_id, anna, ben = two_people
    editing.name_person(library, anna_id, "Anna")
    editing.confirm_face(library, ben[0])  # the user looked at it and said Anna: that holds
    editing.move_faces(library, ben[1:], "Ben", create=True)
    assert cluster_library(library, VERSION).questioned == 0
    assert library.query("SELECT person_id, assignment FROM faces WHERE id = ?", [ben[0]]) == [
        {"person_id": anna_id, "assignment": "manual"}]
    rows = labelled_face_rows(library, VERSION.name)
    assert without_doubtful(rows, VERSION, library) == rows


def test_labels_from_before_the_distinction_count_as_confirmed(tmp_path) -> None:
    """A library made before faces had `confirmed` (the migration's column dropped again):
    reopening it marks every hand label confirmed, so nothing the user did becomes movable."""
    path = tmp_path / "old.db"
    with Library(path) as library:
        vectors, _ = identity_vectors(people=1, per_person=4, seed=2)
        ids = fill_library(library, vectors)
        editing.move_faces(library, ids[:3], "Anna", create=True)
        with library.atomic() as db:
            db.execute("UPDATE faces SET confirmed = 0")
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE faces DROP COLUMN confirmed")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm006_confirmed_faces'")
    conn.commit()
    conn.close()
    with Library(path) as library:
        assert [confirmed_flags(library)[f] for f in ids] == [1, 1, 1, 0]
        editing.undo(library)  # an undo snapshot from any time restores the flag it saved
        assert [confirmed_flags(library)[f] for f in ids] == [0, 0, 0, 0]


def test_facenet_cluster_says_which_faces_became_questions(two_people, capsys) -> None:
    from engine.cli import main as facenet

    library, anna_id, _, ben = two_people
    editing.name_person(library, anna_id, "Anna")
    editing.move_faces(library, ben[1:], "Ben", create=True)
    assert facenet(["cluster", "--db", str(library.path)]) == 0
    out = capsys.readouterr().out
    assert "1 face named with its group looks like someone else: see `facenet suggestions`" in out


def test_the_question_survives_later_regroups_and_no_gives_the_face_back(two_people) -> None:
    """A regroup asked "Is this Ben?" about a face named Anna with its group; later regroups
    keep asking (never giving it to Ben silently); No puts it back with Anna, Yes makes it Ben's."""
    library, anna_id, _, ben = two_people
    editing.name_person(library, anna_id, "Anna")
    editing.move_faces(library, ben[1:], "Ben", create=True)
    ben_id = library.scalar("SELECT id FROM people WHERE name = 'Ben'")
    assert cluster_library(library, VERSION).questioned == 1
    for _ in range(2):
        cluster_library(library, VERSION)
        assert library.query("SELECT person_id, assignment, asked_from FROM faces WHERE id = ?", [ben[0]]) == [
            {"person_id": ben_id, "assignment": "suggested", "asked_from": anna_id}]
    editing.reject_face(library, ben[0])
    assert editing.last_edit(library) == "Moved 1 face from Ben back to Anna"
    assert library.query("SELECT person_id, assignment, confirmed FROM faces WHERE id = ?", [ben[0]]) == [
        {"person_id": anna_id, "assignment": "manual", "confirmed": 0}]
    assert cluster_library(library, VERSION).questioned == 0  # rejected for Ben: never asked again
    editing.undo(library)
    assert library.query("SELECT person_id, assignment, asked_from FROM faces WHERE id = ?", [ben[0]]) == [
        {"person_id": ben_id, "assignment": "suggested", "asked_from": anna_id}]
    editing.confirm_face(library, ben[0])  # Yes
    assert library.query("SELECT person_id, assignment, confirmed, asked_from FROM faces WHERE id = ?", [ben[0]]) == [
        {"person_id": ben_id, "assignment": "manual", "confirmed": 1, "asked_from": None}]


def test_no_question_when_the_likely_person_is_already_in_the_photo(two_people) -> None:
    """A person appears once per photo: a doubtful face whose photo already shows Ben stays Anna's."""
    library, anna_id, _, ben = two_people
    editing.name_person(library, anna_id, "Anna")
    editing.move_faces(library, ben[1:], "Ben", create=True)
    with library.atomic() as db:
        db.execute("UPDATE faces SET photo_id = (SELECT photo_id FROM faces WHERE id = ?) WHERE id = ?", [ben[1], ben[0]])
    assert cluster_library(library, VERSION).questioned == 0
    assert library.query("SELECT person_id, assignment FROM faces WHERE id = ?", [ben[0]]) == [
        {"person_id": anna_id, "assignment": "manual"}]


def test_a_copy_of_the_photo_keeps_the_question_and_the_name_it_came_from(two_people) -> None:
    from engine.library.storage.faces import copy_faces

    library, anna_id, _, ben = two_people
    editing.name_person(library, anna_id, "Anna")
    editing.move_faces(library, ben[1:], "Ben", create=True)
    cluster_library(library, VERSION)
    photo = library.scalar("SELECT photo_id FROM faces WHERE id = ?", [ben[0]])
    with library.atomic() as db:
        copy = db.execute("INSERT INTO photos(path, size, mtime_ns, status) VALUES ('/copy.jpg', 1, 1, 'done')").lastrowid
        copy_faces(db, photo, copy)
    assert library.query("SELECT assignment, asked_from FROM faces WHERE photo_id = ?", [copy]) == [
        {"assignment": "suggested", "asked_from": anna_id}]
