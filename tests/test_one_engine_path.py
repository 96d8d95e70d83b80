"""The command line and the window make the same library: `facenet cluster` groups at the
strictness chosen in the window, `facenet scan` leaves out the folders and faces the window's
settings leave out (issue 36: one engine path, whatever the interface)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.library.identities.grouping import cluster_library
from engine.library.storage.preferences import Preferences, clustering_version, save_preferences
from engine.library.storage.store import Library
from tests.synthetic_library import fill_library

REPO = Path(__file__).resolve().parent.parent
HANG_CEILING = 300


def facenet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=HANG_CEILING)


def partition(library: Library) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for face, person in library.db.execute("SELECT id, person_id FROM faces WHERE person_id IS NOT NULL"):
        groups.setdefault(person, set()).add(face)
    return {frozenset(g) for g in groups.values()}


def two_close_people() -> np.ndarray:
    """Two people whose faces are 0.45 apart on average (squared): one at the normal level
    (0.50), two when strict (0.40); each person's own faces 0.03 apart."""
    rng = np.random.default_rng(5)
    centre = rng.normal(size=128)
    centre *= 2.0 / np.linalg.norm(centre)
    step = rng.normal(size=128)
    step *= np.sqrt(0.42) / np.linalg.norm(step)
    noise = rng.normal(size=(8, 128)) * 0.01
    return np.concatenate([centre + noise[:4], centre + step + noise[4:]]).astype(np.float32)


def test_facenet_cluster_groups_at_the_strictness_chosen_in_the_window(tmp_path) -> None:
    db = tmp_path / "lib.db"
    with Library(db) as library:
        fill_library(library, two_close_people())
        save_preferences(library, Preferences(strictness="strict"))
        version = clustering_version(library)
    shutil.copy(db, tmp_path / "normal.db")
    done = facenet("cluster", "--min-faces", "2", "--db", str(db))
    assert done.returncode == 0, done.stderr
    with Library(db) as library:
        assert len(partition(library)) == 2  # before: one person, grouped at the normal level
    with Library(tmp_path / "normal.db") as normal:  # the normal level does merge them: the setting matters
        cluster_library(normal, replace(version, cluster_linkage=version.cluster_linkage / 0.8), min_faces=2)
        assert len(partition(normal)) == 1


@pytest.mark.slow
def test_facenet_scan_leaves_out_the_folders_excluded_in_the_window(tmp_path, faces_dir) -> None:
    photos = tmp_path / "Pictures"
    for person in ("Colin_Powell", "Tony_Blair"):
        (photos / person).mkdir(parents=True)
        shutil.copy(sorted((faces_dir / "lfw_deepfunneled" / person).glob("*.jpg"))[0], photos / person)
    db = tmp_path / "lib.db"
    with Library(db) as library:
        save_preferences(library, Preferences(excluded_folders=(str(photos / "Tony_Blair"),)))
    done = facenet("scan", str(photos), "--db", str(db), "--quiet")
    assert done.returncode == 0, done.stderr
    with Library(db) as library:
        scanned = [Path(r[0]).parent.name for r in library.db.execute("SELECT path FROM photos")]
    assert scanned == ["Colin_Powell"]  # before: the excluded folder's photo too


READ_AND_EDIT_COMMANDS = [
    ["people"], ["suggestions"], ["photos", "--person", "Anna"], ["export"], ["missing"], ["undo"], ["redo"],
    ["name", "Anna", "Anne"], ["confirm", "FACE"], ["reject", "FACE"], ["move", "FACE", "--to", "Ben"],
    ["merge", "Ben", "--into", "Anna"], ["answer", "FACE", "yes"],
    ["cluster"], ["recognize"],  # a small library's grouping needs no torch (a large one's top-k may)
]


@pytest.mark.parametrize("command", READ_AND_EDIT_COMMANDS, ids=lambda c: c[0])
def test_commands_that_only_read_or_edit_the_library_never_load_torch(tmp_path, command) -> None:
    """Loading torch costs seconds of CPU (3.3 s measured for `facenet people`): a command
    that only reads or edits the library must not pay it."""
    from engine.library.edits import editing
    from tests.synthetic_library import identity_vectors

    db = tmp_path / "lib.db"
    with Library(db) as library:
        ids = fill_library(library, identity_vectors(2, 3)[0])
        editing.move_faces(library, ids[:3], "Anna", create=True)
        editing.move_faces(library, ids[3:5], "Ben", create=True)
    args = [ids[0] if word == "FACE" else word for word in command]
    code = ("import sys; from engine.cli.main import main; code = main(sys.argv[1:]); "
            "print('TORCH' if 'torch' in sys.modules else 'NO TORCH', code)")
    done = subprocess.run([sys.executable, "-c", code, *map(str, args), "--db", str(db)], capture_output=True,
                          text=True, cwd=REPO, timeout=HANG_CEILING)
    assert done.stdout.strip().splitlines()[-1] == "NO TORCH 0", (done.stdout, done.stderr)


@pytest.mark.slow
def test_facenet_scan_groups_the_faces_as_the_window_does(tmp_path, faces_dir) -> None:
    """The window's scan groups everything at its end (engine.library.jobs.tasks.scan_and_group);
    `facenet scan` left the faces ungrouped, so the two made different people."""
    photos = tmp_path / "Pictures"
    (photos / "Colin_Powell").mkdir(parents=True)
    for image in sorted((faces_dir / "lfw_deepfunneled" / "Colin_Powell").glob("*.jpg"))[:4]:
        shutil.copy(image, photos / "Colin_Powell")
    db = tmp_path / "lib.db"
    done = facenet("scan", str(photos), "--db", str(db))
    assert done.returncode == 0, done.stderr
    with Library(db) as library:
        people = library.scalar("SELECT count(*) FROM people")
        grouped = library.scalar("SELECT count(*) FROM faces WHERE person_id IS NOT NULL")
    assert people >= 1 and grouped >= 3  # the four portraits of one man: one person
    assert f"grouped into {people} {'person' if people == 1 else 'people'}" in done.stdout
