"""Trust: every scan finishes whatever the folder holds, and nothing the user said is lost
(special files, odd names, damaged files, concurrent regroups, unplugged folders, copies)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import ImageLoadError
from engine.faces.images import load_photo
from engine.library.edits import editing
from engine.library.identities import grouping
from engine.library.identities import recognition_pass
from engine.library.identities.grouping import cluster_library
from engine.library.identities.recognition_pass import recognize_faces
from engine.library.storage.missing import forget_missing, missing_photos
from engine.library.jobs.scan import scan_folders
from engine.library.storage.store import Library
from engine.user_files import from_stored_path, printable_path, to_stored_path
from tests.synthetic_library import fill_library, identity_vectors

REPO = Path(__file__).resolve().parent.parent
HANG_CEILING = 300  # seconds: only to catch a hang, never a speed budget
PEOPLE = {"George_W_Bush": 2, "Colin_Powell": 2}


def facenet(*args: str, db: Path | None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args, *(["--db", str(db)] if db else [])],
        capture_output=True, cwd=REPO, timeout=HANG_CEILING, **kwargs,
    )


@pytest.fixture()
def library(tmp_path):
    with Library(tmp_path / "db" / "library.db") as lib:
        yield lib


@pytest.fixture()
def real_folder(tmp_path, faces_dir) -> Path:
    root = tmp_path / "Photos"
    for person, count in PEOPLE.items():
        (root / person).mkdir(parents=True)
        for source in sorted((faces_dir / "lfw_deepfunneled" / person).glob("*.jpg"))[:count]:
            shutil.copy(source, root / person / source.name)
    return root


def first_photo(root: Path, person: str) -> Path:
    return sorted((root / person).glob("*.jpg"))[0]


# -- every scan finishes -------------------------------------------------------------------
@pytest.mark.slow
def test_fifos_and_device_links_are_skipped_and_the_good_photos_saved(real_folder, tmp_path) -> None:
    odd = real_folder / "odd"
    odd.mkdir()
    os.mkfifo(odd / "photo.jpg")
    (odd / "zero.jpg").symlink_to("/dev/zero")
    (odd / "random.jpeg").symlink_to("/dev/urandom")
    (odd / "loop.jpg").symlink_to(odd / "loop.jpg")
    db = tmp_path / "lib.db"
    done = facenet("scan", str(real_folder), "--json", "--quiet", db=db)  # hung forever before
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    problems = {Path(p["path"]).name: p["reason"] for p in report["problems"]}
    assert "FIFO" in problems["photo.jpg"] and "device" in problems["zero.jpg"] and "device" in problems["random.jpeg"]
    assert "link loop" in problems["loop.jpg"]
    assert report["analyzed"] == sum(PEOPLE.values()) and report["faces_found"] >= sum(PEOPLE.values())
    text = facenet("scan", str(real_folder), "--quiet", db=db)
    assert b"photo.jpg: skipped: a named pipe (FIFO)" in text.stderr  # the user is told which and why


def test_the_loader_refuses_special_files_without_blocking(tmp_path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")
    for name, words in (("pipe.jpg", "FIFO"), ("zero.jpg", "character device")):
        with pytest.raises(ImageLoadError, match=words):
            load_photo(tmp_path / name)


@pytest.mark.slow
def test_a_name_that_is_not_utf8_is_indexed_and_kept_losslessly(real_folder, library, pipeline) -> None:
    source = first_photo(real_folder, "Colin_Powell")
    odd_name = os.fsdecode(b"caf\xe9 \xff.jpg")  # Latin-1 bytes from an old camera card
    odd = real_folder / "old_card" / odd_name
    odd.parent.mkdir()
    (real_folder / "old_card" / "Renamed \uf7e9 private-use.jpg").write_bytes(first_photo(real_folder, "George_W_Bush").read_bytes())
    Image.open(source).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(odd)  # other content: analysed
    summary = scan_folders(library, [real_folder], lambda: pipeline)
    assert summary.analyzed == sum(PEOPLE.values()) + 1 and not summary.problems
    stored = {from_stored_path(r["path"]) for r in library.query("SELECT path FROM photos")}
    assert str(odd) in stored and str(real_folder / "old_card" / "Renamed \uf7e9 private-use.jpg") in stored
    assert library.scalar("SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.path = ?",
                          [to_stored_path(str(odd))]) == 1
    again = scan_folders(library, [real_folder], lambda: pytest.fail("nothing changed"))
    assert again.unchanged == again.files_seen and again.missing == 0
    assert printable_path(odd).endswith("caf\ufffd \ufffd.jpg")


def test_stored_paths_round_trip_and_keep_prefixes() -> None:
    names = ["plain/a.jpg", os.fsdecode(b"caf\xe9/\xff\x80.jpg"), "\uf700\uf780\uf7ff/x", "\udc80\uf780", "ü/ß.jpg"]
    for name in names:
        assert from_stored_path(to_stored_path(name)) == name
        assert to_stored_path(name + "/child").startswith(to_stored_path(name + "/"))
    assert to_stored_path("ü/ß.jpg") == "ü/ß.jpg"  # valid UTF-8 is stored as it is
    assert len({to_stored_path(n) for n in names}) == len(names)
    to_stored_path(os.fsdecode(b"\xe9")).encode("utf-8")  # storable


# -- damaged files are called damaged --------------------------------------------------------
def _jpeg_header_only(path: Path, tmp_path: Path) -> None:
    """A 12000x9000 JPEG whose image data was never copied: header, then end of image."""
    big = tmp_path / "big.jpg"
    Image.new("RGB", (12000, 9000), (120, 100, 90)).save(big, quality=50)
    data = big.read_bytes()
    scan = data.index(b"\xff\xda")
    header_end = scan + 2 + int.from_bytes(data[scan + 2 : scan + 4], "big")
    path.write_bytes(data[: header_end + 300] + b"\xff\xd9")


def test_truncated_jpeg_and_heic_are_errors_not_empty_photos(tmp_path, faces_dir) -> None:
    _jpeg_header_only(tmp_path / "promises.jpg", tmp_path)
    with pytest.raises(ImageLoadError, match="truncated or damaged.*12000x9000"):
        load_photo(tmp_path / "promises.jpg", max_output_pixels=2_000_000)
    heic = next((faces_dir / "negatives").rglob("*.heic"))
    data = heic.read_bytes()
    (tmp_path / "half.heic").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated or damaged"):
        load_photo(tmp_path / "half.heic")
    assert load_photo(heic).rgb.size  # the whole file still reads


@pytest.mark.slow
def test_every_shared_photo_still_loads(faces_dir) -> None:
    """The damage checks must not call a good photo damaged: every full-size shared photo."""
    sets = ("deepface_tests", "face_recognition_examples", "group_photos", "negatives")
    photos = [p for s in sets for p in sorted((faces_dir / s).rglob("*"))
              if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".heic", ".avif", ".webp"}]
    assert len(photos) > 100
    for photo in photos:
        load_photo(photo, max_output_pixels=500_000)


# -- the user is told what failed; the CLI never shows a traceback -----------------------------
@pytest.mark.slow
def test_scan_reports_damaged_files_with_reasons(real_folder, tmp_path) -> None:
    _jpeg_header_only(real_folder / "damaged.jpg", tmp_path)
    db = tmp_path / "lib.db"
    first = json.loads(facenet("scan", str(real_folder), "--json", "--quiet", db=db).stdout)
    assert [p["path"] for p in first["problems"]] == [str(real_folder / "damaged.jpg")]
    assert "12000x9000" in first["problems"][0]["reason"]
    again = facenet("scan", str(real_folder), "--quiet", db=db)  # still listed on a rescan
    assert f"could not read {real_folder / 'damaged.jpg'}: file is truncated" in again.stderr.decode()


def test_faces_on_a_link_loop_is_a_clean_error(tmp_path) -> None:
    (tmp_path / "self.jpg").symlink_to(tmp_path / "self.jpg")
    done = facenet("faces", str(tmp_path / "self.jpg"), db=None)
    assert done.returncode == 1 and b"Traceback" not in done.stderr and b"link loop" in done.stderr


def test_people_into_a_closed_pipe_exits_quietly(library) -> None:
    with library.atomic() as db:  # far more output than a pipe holds (64 KiB): the writer must meet the closed end
        db.conn.executemany("INSERT INTO people(name) VALUES (?)", [[f"Person number {i:05d}"] for i in range(8000)])
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "people", "--db", str(library.path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )
    process.stdout.readline()  # like `| head -1`
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=HANG_CEILING) == 141
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr


def test_moving_an_unknown_face_changes_nothing(library) -> None:
    done = facenet("move", "99999", "--to", "Nobody", db=library.path)
    assert done.returncode == 1 and b"no face" in done.stderr
    assert library.scalar("SELECT count(*) FROM people") == 0


# -- labels are never lost: concurrent edits ---------------------------------------------------
def _grouped_library(library: Library) -> tuple[list[int], np.ndarray]:
    vectors, labels = identity_vectors(6, 5, seed=2)
    ids = fill_library(library, vectors)
    cluster_library(library)
    return ids, labels


def test_a_name_given_in_another_process_during_a_regroup_is_kept(library, monkeypatch) -> None:
    ids, _ = _grouped_library(library)
    person = library.scalar("SELECT person_id FROM faces WHERE id = ?", [ids[0]])
    faces_before = library.scalar("SELECT count(*) FROM faces WHERE person_id = ?", [person])
    real = grouping.cluster_faces
    edited = []

    def compute_while_the_user_names(*args, **kwargs):  # the user acts while the regroup computes
        if not edited:
            done = facenet("name", str(person), "Grandma", db=library.path)
            assert done.returncode == 0, done.stderr
            edited.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(grouping, "cluster_faces", compute_while_the_user_names)
    cluster_library(library)
    grandma = library.scalar("SELECT id FROM people WHERE name = 'Grandma'")
    assert library.scalar("SELECT count(*) FROM faces WHERE person_id = ? AND assignment = 'manual'", [grandma]) == faces_before


def test_a_rejection_during_recognition_is_kept(library, monkeypatch) -> None:
    ids, labels = _grouped_library(library)
    person = library.scalar("SELECT person_id FROM faces WHERE id = ?", [ids[0]])
    editing.name_person(library, person, "Ann")
    same = [i for i, label in zip(ids, labels, strict=True) if label == labels[0]]
    # Two of Ann's faces lose their label; recognition would give them back to Ann...
    with library.atomic() as db:
        db.execute("UPDATE faces SET person_id = NULL, assignment = NULL WHERE id IN (?, ?)", same[-2:])
    real = recognition_pass.recognise

    def decide_while_the_user_moves(*args, **kwargs):  # ...but the user names one of them meanwhile
        done = facenet("move", str(same[-1]), "--to", "Bob", db=library.path)
        assert done.returncode == 0, done.stderr
        monkeypatch.setattr(recognition_pass, "recognise", real)
        return real(*args, **kwargs)

    monkeypatch.setattr(recognition_pass, "recognise", decide_while_the_user_moves)
    recognize_faces(library)
    rows = {r["id"]: (r["name"], r["assignment"]) for r in library.query(
        "SELECT f.id, p.name, f.assignment FROM faces f JOIN people p ON p.id = f.person_id WHERE f.id IN (?, ?)", same[-2:])}
    assert rows[same[-1]] == ("Bob", "manual")
    assert rows[same[-2]][0] == "Ann"  # recomputed after the edit, still recognised


# -- labels are never lost: missing folders and copies ----------------------------------------
@pytest.mark.slow
def test_an_emptied_folder_keeps_its_labels_until_the_files_return(real_folder, library, pipeline, tmp_path) -> None:
    scan_folders(library, [real_folder], lambda: pipeline)
    photo = first_photo(real_folder, "George_W_Bush")
    face = library.scalar("SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.path = ?", [str(photo)])
    george = editing.create_person(library, "George")
    editing.move_face(library, face, george)
    aside = tmp_path / "unplugged"
    shutil.move(str(real_folder / "George_W_Bush"), aside)  # the mount point is empty now
    (real_folder / "George_W_Bush").mkdir()
    summary = scan_folders(library, [real_folder], lambda: pytest.fail("nothing to analyse"))
    assert summary.missing == PEOPLE["George_W_Bush"] and summary.forgotten == 0
    old_paths = {str(real_folder / "George_W_Bush" / p.name) for p in aside.glob("*.jpg")}
    assert {m.path for m in missing_photos(library)} == old_paths  # listed under their old paths
    assert library.scalar("SELECT person_id FROM faces WHERE id = ?", [face]) == george
    (real_folder / "George_W_Bush").rmdir()
    shutil.move(str(aside), real_folder / "George_W_Bush")  # plugged in again
    back = scan_folders(library, [real_folder], lambda: pytest.fail("nothing to analyse"))
    assert back.returned == PEOPLE["George_W_Bush"] and back.analyzed == 0 and not missing_photos(library)
    assert library.query("SELECT person_id, assignment FROM faces WHERE id = ?", [face]) == [
        {"person_id": george, "assignment": "manual"}]


@pytest.mark.slow
def test_a_photo_deleted_then_restored_elsewhere_gets_its_label_back(real_folder, library, pipeline, tmp_path) -> None:
    scan_folders(library, [real_folder], lambda: pipeline)
    photo = first_photo(real_folder, "Colin_Powell")
    face = library.scalar("SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.path = ?", [str(photo)])
    editing.move_face(library, face, editing.create_person(library, "Colin"))
    kept = photo.read_bytes()
    photo.unlink()
    scan_folders(library, [real_folder], lambda: pytest.fail("nothing to analyse"))
    assert [m.named for m in missing_photos(library)] == [1]
    restored = real_folder / "restored" / "from_backup.jpg"
    restored.parent.mkdir()
    restored.write_bytes(kept)
    summary = scan_folders(library, [real_folder], lambda: pytest.fail("same content: nothing to analyse"))
    assert summary.moved == 1 and not missing_photos(library)
    assert library.scalar("SELECT p.name FROM faces f JOIN people p ON p.id = f.person_id WHERE f.id = ?", [face]) == "Colin"
    restored.unlink()  # deleted for good this time: the user says so
    scan_folders(library, [real_folder], lambda: pytest.fail("nothing to analyse"))
    assert forget_missing(library, [m.id for m in missing_photos(library)]) == 1
    assert library.scalar("SELECT count(*) FROM faces WHERE id = ?", [face]) == 0
    assert library.scalar("SELECT count(*) FROM people WHERE name = 'Colin'") == 1  # the person stays


@pytest.mark.slow
def test_a_rejection_follows_its_face_to_a_moved_photo_and_its_copy(real_folder, library, pipeline) -> None:
    scan_folders(library, [real_folder], lambda: pipeline)
    colin = [r["id"] for r in library.query(
        "SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.path LIKE ? ORDER BY p.path",
        [f"{real_folder / 'Colin_Powell'}%"])]
    person = editing.create_person(library, "Colin")
    for face in colin:
        editing.move_face(library, face, person)
    editing.reject_face(library, colin[0])  # "this one is not Colin"
    photo = first_photo(real_folder, "Colin_Powell")
    moved = real_folder / "b_moved.jpg"
    photo.rename(moved)
    shutil.copy(moved, real_folder / "a_copy.jpg")  # processed first: the copy, then the move
    scan_folders(library, [real_folder], lambda: pytest.fail("same content: nothing to analyse"))
    for path in (moved, real_folder / "a_copy.jpg"):
        row = library.query(
            "SELECT f.id, f.person_id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.path = ?", [str(path)])[0]
        assert row["person_id"] != person, path
        assert library.scalar("SELECT count(*) FROM rejections WHERE face_id = ? AND person_id = ?", [row["id"], person]) == 1
    recognize_faces(library, only_unassigned=True)
    assert library.scalar(
        "SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.path IN (?, ?) AND f.person_id = ?",
        [str(moved), str(real_folder / "a_copy.jpg"), person]) == 0


# -- export-xmp never destroys other metadata --------------------------------------------------
KEYWORDS = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="5"/></rdf:RDF></x:xmpmeta>'
)


@pytest.mark.parametrize("content", [
    KEYWORDS[:-30],  # malformed: cut off
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + KEYWORDS,
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><title>My trip</title></x:xmpmeta>',  # no RDF
], ids=["malformed", "doctype", "no-rdf"])
def test_a_sidecar_that_cannot_be_merged_is_left_untouched_and_reported(tmp_path, content) -> None:
    from engine.library.edits.xmp import NamedRegion, SidecarNotChanged, write_sidecar

    photo = tmp_path / "p.jpg"
    Image.new("RGB", (10, 10)).save(photo)
    sidecar = tmp_path / "p.jpg.xmp"
    sidecar.write_bytes(content)
    with pytest.raises(SidecarNotChanged, match="left as it is"):
        write_sidecar(photo, 10, 10, [NamedRegion("Eli", (0.1, 0.1, 0.5, 0.5))])
    assert sidecar.read_bytes() == content


def test_a_merged_sidecar_keeps_its_mode_and_killed_exports_leave_no_temporaries(tmp_path) -> None:
    from engine.library.edits.xmp import NamedRegion, write_sidecar

    photo = tmp_path / "p.jpg"
    Image.new("RGB", (10, 10)).save(photo)
    sidecar = tmp_path / "p.jpg.xmp"
    sidecar.write_bytes(KEYWORDS)
    sidecar.chmod(0o664)
    stale = tmp_path / ".p.jpg.xmp.k1ll3d.tmp"  # what a killed export leaves behind
    stale.write_bytes(b"half")
    other = tmp_path / ".q.jpg.xmp.abc.tmp"  # another photo's: not ours to judge here
    other.write_bytes(b"x")
    write_sidecar(photo, 10, 10, [NamedRegion("Eli", (0.1, 0.1, 0.5, 0.5))])
    assert (sidecar.stat().st_mode & 0o777) == 0o664 and b'Rating="5"' in sidecar.read_bytes()
    assert not stale.exists() and other.exists()


@pytest.mark.slow
def test_export_xmp_reports_the_sidecars_it_left_alone(real_folder, tmp_path) -> None:
    db = tmp_path / "lib.db"
    assert facenet("scan", str(real_folder), "--quiet", db=db).returncode == 0
    photo = first_photo(real_folder, "Colin_Powell")
    with Library(db) as library:
        face = library.scalar("SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.path = ?", [str(photo)])
        editing.move_face(library, face, editing.create_person(library, "Colin"))
    broken = Path(str(photo) + ".xmp")
    broken.write_bytes(KEYWORDS[:-30])
    done = facenet("export-xmp", db=db)
    assert done.returncode == 0 and broken.read_bytes() == KEYWORDS[:-30]
    assert f"not changed: {broken}: it is not well-formed XML" in done.stderr.decode()


def test_faces_of_missing_photos_leave_the_grids_but_keep_their_names(library) -> None:
    from engine.library.reading import browse
    from engine.library.reading.people import photos_with_people

    vectors, _ = identity_vectors(2, 4, seed=5)
    ids = fill_library(library, vectors)
    cluster_library(library)
    person = library.scalar("SELECT person_id FROM faces WHERE id = ?", [ids[0]])
    editing.name_person(library, person, "Dora")
    shown = [t.id for t in browse.person_faces(library, person)]
    with library.atomic() as db:  # the drive with the first photo is unplugged
        db.execute("UPDATE photos SET missing_since = datetime('now') WHERE id = "
                   "(SELECT photo_id FROM faces WHERE id = ?)", [ids[0]])
    assert [t.id for t in browse.person_faces(library, person)] == [f for f in shown if f != ids[0]]
    assert "/synthetic/photo00000.jpg" not in photos_with_people(library, ["Dora"])
    assert library.scalar("SELECT person_id FROM faces WHERE id = ?", [ids[0]]) == person
    assert [m.path for m in missing_photos(library)] == ["/synthetic/photo00000.jpg"]
