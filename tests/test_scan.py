"""Scanning real photos: incremental, resumable, safe with bad files, moves and kills."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from engine.errors import Cancelled
from engine.jobs import CancelToken
from engine.library.edits import editing
from engine.library.jobs.scan import scan_folders
from engine.library.storage.store import Library
from engine.model_versions import DEFAULT_VERSION

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
PEOPLE = {"George_W_Bush": 3, "Colin_Powell": 3, "Tony_Blair": 2}


@pytest.fixture()
def photo_folder(tmp_path, faces_dir) -> Path:
    """A small library on disk: 8 real faces, damaged files, a hidden folder, a text file."""
    root = tmp_path / "Photos"
    for person, count in PEOPLE.items():
        (root / person).mkdir(parents=True)
        for source in sorted((faces_dir / "lfw_deepfunneled" / person).glob("*.jpg"))[:count]:
            shutil.copy(source, root / person / source.name)
    (root / "broken").mkdir()
    good = next((root / "Tony_Blair").glob("*.jpg")).read_bytes()
    (root / "broken" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (root / "broken" / "empty.jpg").write_bytes(b"")
    (root / "broken" / "not_a_photo.png").write_text("hello")
    (root / "broken" / "notes.txt").write_text("not even a photo name")
    (root / ".thumbnails").mkdir()
    shutil.copy(next((root / "Colin_Powell").glob("*.jpg")), root / ".thumbnails" / "thumb.jpg")
    return root


@pytest.fixture()
def library(tmp_path):
    with Library(tmp_path / "db" / "library.db") as lib:
        yield lib


def refuse_to_analyse():
    raise AssertionError("nothing should need analysing")


def faces_by_photo(library: Library, root: Path) -> dict[str, list[tuple]]:
    rows = library.query(
        "SELECT ph.path, ph.status, f.x1, f.y1, f.x2, f.y2 FROM photos ph LEFT JOIN faces f ON f.photo_id = ph.id ORDER BY ph.path, f.x1"
    )
    out: dict[str, list[tuple]] = {}
    for r in rows:
        key = os.path.relpath(r["path"], root)
        out.setdefault(key, [])
        if r["x1"] is not None:
            out[key].append((r["status"], *(round(v, 1) for v in (r["x1"], r["y1"], r["x2"], r["y2"]))))
        else:
            out[key].append((r["status"],))
    return out


def test_scan_indexes_photos_and_records_bad_files(photo_folder, library, pipeline) -> None:
    summary = scan_folders(library, [photo_folder], lambda: pipeline)
    assert summary.files_seen == 11  # 8 faces + 3 damaged; not the hidden folder or notes.txt
    assert summary.analyzed == 8 and summary.failed == 3 and summary.faces_found >= 8
    errors = {Path(r["path"]).name: r["error"] for r in library.query("SELECT path, error FROM photos WHERE status = 'error'")}
    assert set(errors) == {"truncated.jpg", "empty.jpg", "not_a_photo.png"}
    assert "empty" in errors["empty.jpg"]
    faces = library.query("SELECT e.embedding, e.model_version, ph.width FROM faces f JOIN photos ph ON ph.id = f.photo_id "
                          "JOIN face_embeddings e ON e.face_id = f.id")
    assert len(faces) == library.scalar("SELECT count(*) FROM faces")  # one vector per face, none missing
    assert all(len(f["embedding"]) == 512 and f["model_version"] == DEFAULT_VERSION.name and f["width"] == 250 for f in faces)
    again = scan_folders(library, [photo_folder], refuse_to_analyse)  # no change: no model, no work
    assert again.unchanged == 11 and again.analyzed == 0


def test_moved_renamed_deleted_and_edited_photos(photo_folder, library, pipeline) -> None:
    scan_folders(library, [photo_folder], lambda: pipeline)
    bush = sorted((photo_folder / "George_W_Bush").glob("*.jpg"))
    face_of = {r["path"]: r["id"] for r in library.query("SELECT ph.path, f.id FROM faces f JOIN photos ph ON ph.id = f.photo_id")}
    named_face = face_of[str(bush[0])]
    george = editing.create_person(library, "George")
    editing.move_face(library, named_face, george)
    # Move one photo to a new folder under a new name, delete another.
    (photo_folder / "2004" / "trip").mkdir(parents=True)
    moved_to = photo_folder / "2004" / "trip" / "renamed.jpg"
    bush[0].rename(moved_to)
    bush[1].unlink()
    summary = scan_folders(library, [photo_folder], refuse_to_analyse)
    assert summary.moved == 1 and summary.missing == 1 and summary.forgotten == 0 and summary.analyzed == 0
    row = library.query("SELECT f.id, f.person_id, f.assignment FROM faces f JOIN photos ph ON ph.id = f.photo_id WHERE ph.path = ?", [str(moved_to)])
    assert row == [{"id": named_face, "person_id": george, "assignment": "manual"}]
    # Edit the photo (re-encoded, slightly brighter): analysed again, the name follows the face.
    image = Image.open(moved_to).point(lambda v: min(255, v + 6))
    image.save(moved_to, quality=85)
    summary = scan_folders(library, [photo_folder], lambda: pipeline)
    assert summary.analyzed == 1
    row = library.query("SELECT f.person_id, f.assignment FROM faces f JOIN photos ph ON ph.id = f.photo_id WHERE ph.path = ?", [str(moved_to)])
    assert row == [{"person_id": george, "assignment": "manual"}]
    # The person outlives all their photos.
    moved_to.unlink()
    scan_folders(library, [photo_folder], refuse_to_analyse)
    assert library.scalar("SELECT name FROM people WHERE id = ?", [george]) == "George"


def test_missing_folder_forgets_nothing(photo_folder, library, pipeline) -> None:
    scan_folders(library, [photo_folder], lambda: pipeline)
    before = library.scalar("SELECT count(*) FROM photos")
    photo_folder.rename(photo_folder.with_name("unplugged"))
    summary = scan_folders(library, [photo_folder], refuse_to_analyse)
    assert summary.folder_errors and "not found" in summary.folder_errors[0][1]
    assert library.scalar("SELECT count(*) FROM photos") == before and summary.forgotten == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their permissions")
def test_unreadable_subfolder_forgets_nothing(photo_folder, library, pipeline) -> None:
    scan_folders(library, [photo_folder], lambda: pipeline)
    before = library.scalar("SELECT count(*) FROM photos")
    locked = photo_folder / "Colin_Powell"
    locked.chmod(0)
    try:
        summary = scan_folders(library, [photo_folder], refuse_to_analyse)
    finally:
        locked.chmod(0o755)
    assert summary.folder_errors and library.scalar("SELECT count(*) FROM photos") == before


def test_photo_vanishing_mid_scan_is_kept_as_missing(photo_folder, library, pipeline, monkeypatch) -> None:
    victim = sorted((photo_folder / "Colin_Powell").glob("*.jpg"))[1]
    original = pipeline.decode

    def decode(path):  # the file disappears between listing and decoding
        if Path(path) == victim and victim.exists():
            victim.unlink()
        return original(path)

    monkeypatch.setattr(pipeline, "decode", decode)
    summary = scan_folders(library, [photo_folder], lambda: pipeline)
    assert summary.missing == 1 and summary.forgotten == 0 and summary.analyzed == 7
    assert library.scalar("SELECT missing_since IS NOT NULL FROM photos WHERE path = ?", [str(victim)]) == 1


def test_cancel_then_resume_equals_one_scan(photo_folder, tmp_path, pipeline) -> None:
    with Library(tmp_path / "reference.db") as reference:
        scan_folders(reference, [photo_folder], lambda: pipeline)
        expected = faces_by_photo(reference, photo_folder)
    token = CancelToken()

    def progress(p) -> None:
        if p.phase == "analyzing" and p.done >= 3:
            token.cancel()

    with Library(tmp_path / "resumed.db") as library:
        with pytest.raises(Cancelled) as stopped:
            scan_folders(library, [photo_folder], lambda: pipeline, progress=progress, cancel=token, batch_photos=2)
        first = stopped.value.partial
        assert 3 <= first.analyzed < 8
        assert library.scalar("SELECT count(*) FROM photos WHERE status = 'pending'") > 0
        second = scan_folders(library, [photo_folder], lambda: pipeline)
        assert second.analyzed + first.analyzed + first.failed + second.failed == 11
        assert faces_by_photo(library, photo_folder) == expected


KILLABLE_SCAN = textwrap.dedent(
    """
    import sys
    from engine.library.jobs.scan import scan_folders
    from engine.library.storage.store import Library

    def progress(p):
        print(p.phase, p.done, flush=True)

    with Library(sys.argv[1]) as library:
        scan_folders(library, [sys.argv[2]], progress=progress, batch_photos=2)
    print("finished", flush=True)
    """
)


def run_until(db: Path, folder: Path, marker: str | None) -> None:
    """Run a scan in a child process and SIGKILL it when it prints `marker`."""
    child = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_SCAN, str(db), str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO, env={**os.environ, "FACENET_THREADS": "1"},
    )
    try:
        for line in child.stdout:
            if marker is not None and line.startswith(marker):
                child.send_signal(signal.SIGKILL)
                break
    finally:
        child.wait(timeout=300)
    if marker is None:
        assert child.returncode == 0
    else:
        assert child.returncode == -signal.SIGKILL


def test_sigkill_at_several_points_then_resume(photo_folder, tmp_path, pipeline) -> None:
    with Library(tmp_path / "reference.db") as reference:
        scan_folders(reference, [photo_folder], lambda: pipeline)
        expected = faces_by_photo(reference, photo_folder)
    db = tmp_path / "killed.db"
    for marker in ("checking", "analyzing 1", "analyzing 4", "analyzing 3"):
        run_until(db, photo_folder, marker)
        check = sqlite3.connect(db)
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert check.execute("PRAGMA foreign_key_check").fetchall() == []
        check.close()
    run_until(db, photo_folder, None)
    with Library(db) as library:
        assert faces_by_photo(library, photo_folder) == expected
        assert library.scalar("SELECT count(*) FROM photos WHERE status = 'pending'") == 0


def test_marie_curie_xmp_names_land_on_the_right_faces(faces_dir, library, pipeline) -> None:
    folder = faces_dir / "group_photos" / "Marie_Curie"
    summary = scan_folders(library, [folder], lambda: pipeline)
    assert summary.xmp_labels == 4
    rows = library.query(
        "SELECT ph.path, ph.width, ph.height, p.name, f.x1, f.y1, f.x2, f.y2, f.assignment, f.named_from FROM faces f "
        "JOIN photos ph ON ph.id = f.photo_id JOIN people p ON p.id = f.person_id"
    )
    # annotations.csv: MWG centres in the displayed photo (both copies display the same).
    expected = {"Marie Curie": (0.368452, 0.307857), "Pierre Curie": (0.6875, 0.239286)}
    seen = set()
    for r in rows:
        assert (r["width"], r["height"]) == (840, 700)  # the rotated copy is reported displayed
        cx = (r["x1"] + r["x2"]) / 2 / r["width"]
        cy = (r["y1"] + r["y2"]) / 2 / r["height"]
        ex, ey = expected[r["name"]]
        assert abs(cx - ex) < 0.04 and abs(cy - ey) < 0.06, (r["path"], r["name"], cx, cy)
        assert r["assignment"] == "manual" and r["named_from"] == "XMP"  # the app can say where the name came from
        seen.add((Path(r["path"]).name, r["name"]))
    assert len(seen) == 4


def test_export_and_xmp_sidecars_round_trip(photo_folder, library, pipeline) -> None:
    import csv
    import io
    import json

    from engine.library.edits.export import export_csv, export_json, export_xmp_sidecars
    from engine.library.edits.xmp import read_face_regions
    from engine.faces.photo_metadata import read_metadata

    scan_folders(library, [photo_folder], lambda: pipeline)
    blair = sorted((photo_folder / "Tony_Blair").glob("*.jpg"))[0]
    face = library.scalar("SELECT f.id FROM faces f JOIN photos ph ON ph.id = f.photo_id WHERE ph.path = ?", [str(blair)])
    editing.move_face(library, face, editing.create_person(library, "Tony"))
    records = json.loads(export_json(library))
    assert len(records) == library.scalar("SELECT count(*) FROM faces")
    mine = next(r for r in records if r["face_id"] == face)
    assert mine["photo"] == str(blair) and mine["person_name"] == "Tony" and mine["assignment"] == "manual"
    x1, y1, x2, y2 = mine["box"]
    assert 0 <= x1 < x2 <= 250 and 0 <= y1 < y2 <= 250
    rows = list(csv.DictReader(io.StringIO(export_csv(library))))
    assert len(rows) == len(records) and {r["person_name"] for r in rows} >= {"Tony"}
    before = blair.read_bytes()
    written = export_xmp_sidecars(library).written
    assert written == [str(blair) + ".xmp"]
    assert blair.read_bytes() == before  # the photo is never modified
    regions = read_face_regions(blair, read_metadata(blair))
    assert [r.name for r in regions] == ["Tony"]
    assert regions[0].box == pytest.approx((x1 / 250, y1 / 250, x2 / 250, y2 / 250), abs=1e-4)


def test_ctrl_c_stops_the_cli_scan_cleanly_and_it_resumes(photo_folder, tmp_path) -> None:
    db = tmp_path / "ctrl-c.db"
    command = [sys.executable, "-m", "engine.cli", "scan", str(photo_folder), "--db", str(db)]
    env = {**os.environ, "FACENET_THREADS": "1"}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env)
    seen = b""

    def analysed() -> int:  # photos reported so far (one read may hold several progress updates)
        return max((int(n) for n in re.findall(rb"analyzing:[^|]*\|[^|]*\| (\d+)/", seen)), default=0)

    while analysed() < 2:
        chunk = os.read(child.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 130, (seen + err).decode(errors="replace")[-2000:]
    assert b"run the same command again to continue" in err
    with Library(db) as library:
        pending = library.scalar("SELECT count(*) FROM photos WHERE status = 'pending'")
        assert pending > 0
    finished = subprocess.run(command + ["--quiet", "--json"], capture_output=True, cwd=REPO, env=env, timeout=300)
    assert finished.returncode == 0
    with Library(db) as library:
        assert library.scalar("SELECT count(*) FROM photos WHERE status = 'pending'") == 0
        assert library.scalar("SELECT count(*) FROM photos WHERE status = 'done'") == 8


def test_nested_library_folders_index_each_photo_once(photo_folder, library, pipeline) -> None:
    scan_folders(library, [photo_folder / "Colin_Powell"], lambda: pipeline)
    summary = scan_folders(library, [photo_folder, photo_folder / "Colin_Powell"], lambda: pipeline)
    assert summary.forgotten == 0 and summary.moved == 0
    assert library.scalar("SELECT count(*) FROM photos") == 11
    assert library.scalar("SELECT count(*) FROM photos WHERE status = 'pending'") == 0


def test_reading_while_a_scan_writes(photo_folder, library, pipeline) -> None:
    """The GUI reads the library from its own thread while a worker scans (WAL): reads
    never fail or block for long, and they see the scan's progress batch by batch."""
    import threading
    import time

    from engine.library.reading.people import list_people

    errors: list[BaseException] = []

    def work() -> None:
        try:
            scan_folders(library, [photo_folder], lambda: pipeline, batch_photos=1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    seen, slowest = [], 0.0
    while worker.is_alive():
        start = time.perf_counter()
        seen.append(library.scalar("SELECT count(*) FROM photos WHERE status = 'done'"))
        list_people(library)
        slowest = max(slowest, time.perf_counter() - start)
        time.sleep(0.01)
    worker.join()
    assert not errors
    done = library.scalar("SELECT count(*) FROM photos WHERE status = 'done'")
    # Progress visible while it ran (photos arrive in small groups: their faces share a batch).
    assert seen == sorted(seen) and any(0 < count < done for count in seen), seen
    assert slowest < 0.5
