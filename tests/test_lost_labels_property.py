"""A stateful property test that hunts for lost labels on a small real library.

Hypothesis draws sequences of what a user does (name, merge, move, reject, confirm, hide,
undo, redo) interleaved with what happens to their photos and library (files moved, copied,
deleted, restored, a folder emptied, rescans, regroups with an edit landing mid-way, a model
switch, new photos scanned while a model switch runs to its end, a child process killed at a
random moment).  After every step, everything the user said (and did not undo) still holds,
every face has a vector in the active version, and SQLite's integrity check passes.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from engine.library.edits import editing

from engine.library.identities import grouping
from engine.library.identities.grouping import cluster_library
from engine.library.identities.labelled_faces import photo_faces_embedder
from engine.library.storage.model_registry import MISSING_VECTORS_SQL, active_name, embed_missing, pipeline_for
from engine.library.jobs.model_switch import switch_model
from engine.library.jobs.scan import scan_folders
from engine.library.storage.store import Library, LibraryError
from engine.model_versions import MODEL_VERSIONS

pytestmark = pytest.mark.slow
HANG_CEILING_S = 60  # only to catch a hung child, never a speed budget
EXAMPLES = int(os.environ.get("LOST_LABELS_EXAMPLES", "200"))
PEOPLE = {"Colin_Powell": 3, "Tony_Blair": 3, "Serena_Williams": 3, "Gerhard_Schroeder": 3}
GROUP_PHOTOS = ["Angelina_Jolie/couple.jpg"]
NEW_PHOTOS = {"Serena_Williams": 4, "Hugo_Chavez": 4}  # arrive during the run, scanned during a switch
ACTIONS = ["name", "merge", "move", "reject", "confirm", "hide", "undo", "redo"]


def user_labels(library: Library) -> tuple[dict, dict, set, dict]:
    """Hand labels by face (person, confirmed), named or hidden people, rejections, and the
    faces now asked about (suggested) by person."""
    manual = {r["id"]: (r["person_id"], r["confirmed"]) for r in library.query(
        "SELECT id, person_id, confirmed FROM faces WHERE assignment = 'manual'")}
    people = {r["id"]: (r["name"], r["hidden"]) for r in library.query(
        "SELECT id, name, hidden FROM people WHERE name IS NOT NULL OR hidden = 1")}
    rejections = {(r["face_id"], r["person_id"]) for r in library.query("SELECT face_id, person_id FROM rejections")}
    asked = {r["id"]: r["person_id"] for r in library.query("SELECT id, person_id FROM faces WHERE assignment = 'suggested'")}
    return manual, people, rejections, asked


def assert_still_holds(before: tuple, after: tuple) -> None:
    """Nothing the user said is gone (steps that are not user edits may only add: a copy of
    a photo brings the labels of its faces).  The one change allowed: a regroup may turn a
    face named only with its group into a question about another named person it is not
    rejected for (engine.library.identities.doubtful_labels); a confirmed face never moves."""
    manual, people, rejections, _ = before
    now_manual, now_people, now_rejections, now_asked = after
    lost = {}
    for face, (person, confirmed) in manual.items():
        now = now_manual.get(face)
        if now is not None and now[0] == person and now[1] >= confirmed:
            continue
        asked = now_asked.get(face)
        if not confirmed and now is None and asked not in (None, person) and asked in now_people \
                and (face, asked) not in now_rejections:
            continue
        lost[face] = (person, confirmed)
    assert not lost, f"hand labels lost or changed: {lost}"
    assert now_people == people
    assert rejections <= now_rejections, f"rejections lost: {rejections - now_rejections}"


def apply_edit(library: Library, action: str, face: int, other: int, name: str) -> None:
    """One user edit on faces chosen by index; edits the library refuses change nothing."""
    person_of = {r["id"]: r["person_id"] for r in library.query("SELECT id, person_id FROM faces")}
    person, target = person_of.get(face), person_of.get(other)
    try:
        if action == "name" and target is not None:
            editing.name_person(library, target, name)
        elif action == "merge" and person is not None and target is not None and person != target:
            editing.merge_people(library, [person], into=target)
        elif action == "move":
            editing.move_face(library, face, target if target is not None else editing.create_person(library, name))
        elif action == "reject" and person is not None:
            editing.reject_face(library, face)
        elif action == "confirm" and person is not None:
            editing.confirm_face(library, face)
        elif action == "hide" and target is not None:
            editing.hide_person(library, target)
        elif action == "undo":
            editing.undo(library)
        elif action == "redo":
            editing.redo(library)
    except LibraryError:
        pass


def _regroup_until_killed(db: str, reports) -> None:  # noqa: ANN001 - runs in a forked child
    """Regroup over and over, telling the parent each step (read, computed, written)."""
    try:
        with Library(db) as library:
            while True:
                cluster_library(library, progress=lambda step: reports.send(step.done))
    finally:
        os._exit(0)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, faces_dir, pipeline) -> Path:
    """A scanned, grouped real library with embeddings under both built-in versions.  It
    is scanned in `base/work/photos`, where every example lays it out again (the library
    stores absolute paths), and kept as `base/saved_photos` and `base/saved.db`."""
    base = tmp_path_factory.mktemp("pristine")
    photos = base / "work" / "photos"
    for person, count in PEOPLE.items():
        (photos / person).mkdir(parents=True)
        for image in sorted((faces_dir / "lfw_deepfunneled" / person).glob("*.jpg"))[:count]:
            shutil.copy2(image, photos / person / image.name)
    (photos / "groups").mkdir()
    for relative in GROUP_PHOTOS:
        shutil.copy2(faces_dir / "group_photos" / relative, photos / "groups" / Path(relative).name)
    with Library(base / "work" / "library.db") as library:
        scan_folders(library, [photos], lambda: pipeline)
        cluster_library(library)
        # The user has already named every group and rejected a face: every step can lose something.
        people = [r["person_id"] for r in library.query(
            "SELECT DISTINCT person_id FROM faces WHERE person_id IS NOT NULL ORDER BY person_id")]
        for number, person in enumerate(people):
            editing.name_person(library, person, f"Known {number}")
        editing.reject_face(library, library.scalar("SELECT min(id) FROM faces WHERE person_id IS NOT NULL"))
        assert len(people) >= 3
        other = next(name for name in MODEL_VERSIONS if name != active_name(library))
        embed_missing(library, other, photo_faces_embedder(pipeline_for(library, other)))
        assert library.scalar("SELECT count(*) FROM faces") >= sum(PEOPLE.values()) + 2
        library.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copytree(photos, base / "saved_photos")
    shutil.copy2(base / "work" / "library.db", base / "saved.db")
    (base / "new_photos").mkdir()
    for person, count in NEW_PHOTOS.items():
        for image in sorted((faces_dir / "lfw_deepfunneled" / person).glob("*.jpg"))[:count]:
            shutil.copy2(image, base / "new_photos" / image.name)
    return base


@pytest.fixture(scope="module")
def pipelines(pipeline, pristine) -> dict:
    """Both built-in versions' pipelines, loaded once: new photos are analysed in the active
    one while a switch embeds them in the other."""
    with Library(pristine / "saved.db") as library:
        other = next(name for name in MODEL_VERSIONS if name != pipeline.model_version.name)
        return {pipeline.model_version.name: pipeline, other: pipeline_for(library, other)}


def test_no_sequence_of_edits_rescans_regroups_switches_and_kills_loses_a_label(pristine, pipelines) -> None:
    work = pristine / "work"

    class LostLabels(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(pristine / "saved_photos", work / "photos")  # the paths the library knows
            (work / "aside").mkdir()
            shutil.copy2(pristine / "saved.db", work / "library.db")
            self.root = work / "photos"
            self.library = Library(work / "library.db")
            self.expected = user_labels(self.library)
            self.names = iter(f"Person {i}" for i in range(10_000))

        def teardown(self) -> None:
            self.library.close()

        # -- helpers ------------------------------------------------------------------------
        def face(self, index: int) -> int:
            ids = [r["id"] for r in self.library.query("SELECT id FROM faces ORDER BY id")]
            return ids[index % len(ids)]

        def files(self, folder: Path) -> list[Path]:
            return sorted(p for p in folder.rglob("*") if p.is_file())

        def settled(self) -> None:
            """A step that is not a user edit: check, then take its state as the new baseline."""
            now = user_labels(self.library)
            assert_still_holds(self.expected, now)
            self.expected = now

        # -- the user -------------------------------------------------------------------------
        @rule(action=st.sampled_from(ACTIONS), x=st.integers(0, 63), y=st.integers(0, 63))
        def edit(self, action: str, x: int, y: int) -> None:
            apply_edit(self.library, action, self.face(x), self.face(y), next(self.names))
            self.expected = user_labels(self.library)

        # -- the files ------------------------------------------------------------------------
        @rule(i=st.integers(0, 63), folder=st.sampled_from(["Colin_Powell", "groups", "new/deeper"]))
        def move_file(self, i: int, folder: str) -> None:
            files = self.files(self.root)
            if files:
                source = files[i % len(files)]
                (self.root / folder).mkdir(parents=True, exist_ok=True)
                source.rename(self.root / folder / f"moved_{i}_{source.name}")

        @rule(i=st.integers(0, 63))
        def copy_file(self, i: int) -> None:
            files = self.files(self.root)
            if files:
                source = files[i % len(files)]
                shutil.copy2(source, source.with_name(f"copy_{i}_{source.name}"))

        @rule(i=st.integers(0, 63))
        def delete_file(self, i: int) -> None:
            files = self.files(self.root)
            if files:
                source = files[i % len(files)]
                source.rename(work / "aside" / f"{i}_{time.monotonic_ns()}_{source.name}")

        @rule(i=st.integers(0, 63), folder=st.sampled_from(["Tony_Blair", "restored"]))
        def restore_file(self, i: int, folder: str) -> None:
            files = self.files(work / "aside")
            if files:
                (self.root / folder).mkdir(parents=True, exist_ok=True)
                files[i % len(files)].rename(self.root / folder / f"restored_{i}_{files[i % len(files)].name}")

        @rule(folder=st.sampled_from(list(PEOPLE) + ["groups"]))
        def empty_folder(self, folder: str) -> None:  # an unplugged drive's mount point
            for path in self.files(self.root / folder) if (self.root / folder).is_dir() else []:
                path.rename(work / "aside" / f"{time.monotonic_ns()}_{path.name}")

        @rule()
        def rescan(self) -> None:
            def refuse():  # same contents only: nothing may need analysing
                raise AssertionError("a rescan of known contents analysed a photo")

            scan_folders(self.library, [self.root], refuse)
            self.settled()

        # -- the library ------------------------------------------------------------------------
        @rule()
        def regroup(self) -> None:
            cluster_library(self.library)
            self.settled()

        @rule(action=st.sampled_from(ACTIONS), x=st.integers(0, 63), y=st.integers(0, 63))
        def regroup_while_the_user_edits(self, action: str, x: int, y: int) -> None:
            real, edited = grouping.cluster_faces, []

            def computing(*args, **kwargs):  # the user edits from another connection mid-way
                if not edited:
                    with Library(self.library.path) as other:
                        apply_edit(other, action, self.face(x), self.face(y), next(self.names))
                        edited.append(user_labels(other))
                return real(*args, **kwargs)

            grouping.cluster_faces = computing
            try:
                cluster_library(self.library)
            finally:
                grouping.cluster_faces = real
            if edited:
                assert_still_holds(edited[0], user_labels(self.library))
            self.expected = user_labels(self.library)

        @rule()
        def switch_model(self) -> None:
            def refuse(path, rows):  # noqa: ANN001 - every face already has both versions
                raise AssertionError("a switch needed embedding")

            other = next(name for name in MODEL_VERSIONS if name != active_name(self.library))
            switch_model(self.library, other, refuse)
            self.settled()

        @rule(count=st.integers(1, 3), switch_after=st.integers(0, 3))
        def scan_new_photos_during_a_switch(self, count: int, switch_after: int) -> None:
            """`facenet scan` and `facenet model use` at once: the switch runs to its end in
            another connection after `switch_after` of the scan's photos (before its first
            commit, between two, or after its last)."""
            arrivals = sorted((pristine / "new_photos").iterdir())
            for source in arrivals[:count]:
                target = self.root / "arrived" / source.name
                if not target.exists():
                    target.parent.mkdir(exist_ok=True)
                    shutil.copy2(source, target)
            active = active_name(self.library)
            other = next(name for name in MODEL_VERSIONS if name != active)
            path = self.library.path

            class SwitchMidway:
                model_version = pipelines[active].model_version

                def analyze_many(self, paths):
                    switched = False
                    for number, item in enumerate(pipelines[active].analyze_many(paths)):
                        if number == switch_after:
                            switched = True
                            with Library(path) as elsewhere:
                                switch_model(elsewhere, other, photo_faces_embedder(pipelines[other]))
                        yield item
                    if not switched:
                        with Library(path) as elsewhere:
                            switch_model(elsewhere, other, photo_faces_embedder(pipelines[other]))

            scan_folders(self.library, [self.root], SwitchMidway, batch_photos=1)
            self.settled()

        @rule(steps=st.integers(0, 8))
        def child_killed(self, steps: int) -> None:
            """Killed after `steps` of its progress reports: before, during or after a write."""
            context = multiprocessing.get_context("fork")
            receiver, sender = context.Pipe(duplex=False)
            child = context.Process(target=_regroup_until_killed, args=(str(self.library.path), sender))
            child.start()
            for _ in range(steps):
                assert receiver.poll(HANG_CEILING_S), "the regrouping child stopped reporting"
                receiver.recv()
            os.kill(child.pid, signal.SIGKILL)
            child.join(timeout=HANG_CEILING_S)
            receiver.close()
            self.settled()

        @invariant()
        def database_is_sound(self) -> None:
            assert self.library.scalar("PRAGMA integrity_check") == "ok"
            assert self.library.scalar("PRAGMA foreign_key_check") is None

        @invariant()
        def every_face_has_a_vector_in_the_active_version(self) -> None:
            for version in MODEL_VERSIONS:  # both, so a switch never needs embedding
                assert self.library.query(MISSING_VECTORS_SQL, [version]) == [], version

    run_state_machine_as_test(LostLabels, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=8, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
