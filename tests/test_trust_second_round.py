"""Trust, second round: the scan stays inside the user's folders, and the library file is
never someone else's, a newer version's or half-damaged.  Each test here failed before the
change it covers (the audit's fifteen defects, in its order)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import unicodedata
import zlib
from pathlib import Path

import pytest

from engine.errors import ImageLoadError, LibraryDamaged, LibraryError, LibraryUnavailable, NoLibrary
from engine.library.edits import editing
from engine.library.jobs.scan import scan_folders
from engine.library.storage.store import Library
from engine.library.storage.walk import walk_photos
from tests.synthetic_library import fill_library, identity_vectors

REPO = Path(__file__).resolve().parent.parent
HANG_CEILING = 300  # seconds: only to catch a hang, never a speed budget


def facenet(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=HANG_CEILING, env={**os.environ, **(env or {})}, **kwargs)


def one_clear_line(done: subprocess.CompletedProcess) -> str:
    """A refusal: exit 1, a single line on stderr, no traceback."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr
    return lines[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def small_library(path: Path, people: int = 3, per_person: int = 4) -> list[int]:
    vectors, _ = identity_vectors(people, per_person)
    with Library(path) as library:
        ids = fill_library(library, vectors)
        for number in range(people):
            person = editing.create_person(library, f"Person {number}")
            editing.move_faces(library, ids[number * per_person:(number + 1) * per_person], person)
        library.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return ids


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` read-only for this process: by its mode for a normal user; as root (whom
    modes do not stop) by a read-only bind mount, where this machine allows one."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    mount = shutil.which("mount")
    done = subprocess.run([mount, "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True) if mount else None
    if done is None or done.returncode != 0:
        pytest.skip("as root, a read-only folder needs a bind mount, which this machine does not allow")
    try:
        subprocess.run([mount, "-o", "remount,bind,ro", str(folder)], capture_output=True)
        yield
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], capture_output=True)  # a thread may still hold a file


def jpeg_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)


# -- 1. a link to / ---------------------------------------------------------------------------
def test_a_link_out_of_the_photo_folders_is_skipped_with_its_reason_and_kernel_trees_never_entered(tmp_path) -> None:
    pictures = tmp_path / "Pictures"
    (pictures / "2024").mkdir(parents=True)
    (pictures / "a.jpg").write_bytes(b"x")
    (pictures / "2024" / "b.jpg").write_bytes(b"y")
    (pictures / "rootlink").symlink_to("/")
    (pictures / "proclink").symlink_to("/proc/self")
    (pictures / "same year").symlink_to(pictures / "2024")  # inside: followed, its file found once
    skipped: dict[str, str] = {}
    walk = walk_photos(pictures, on_skip=lambda path, reason: skipped.setdefault(Path(path).name, reason))
    found = [Path(f.path).relative_to(pictures).as_posix() for f in itertools.islice(walk, 50)]
    assert sorted(found) == ["2024/b.jpg", "a.jpg"]  # before: files of the whole machine, through / and /proc
    assert "outside your photo folders (/)" in skipped["rootlink"]
    assert "kernel" in skipped["proclink"]
    refused: list[str] = []
    assert list(walk_photos("/proc", on_skip=lambda path, reason: refused.append(reason))) == []
    assert refused and "kernel" in refused[0]


@pytest.mark.slow
def test_scanning_a_folder_with_a_link_to_root_reports_it_and_scans_only_the_folder(tmp_path, faces_dir) -> None:
    pictures = tmp_path / "Pictures"
    jpeg_copy(faces_dir / "lfw_deepfunneled" / "Tony_Blair" / "Tony_Blair_0001.jpg", pictures / "blair.jpg")
    (pictures / "rootlink").symlink_to("/")
    done = facenet("scan", str(pictures), "--db", str(tmp_path / "lib.db"), "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 photo: 1 analysed") and "1 skipped" in done.stdout
    assert f"{pictures / 'rootlink'}: skipped: a link to a folder outside your photo folders (/)" in done.stderr


# -- 2. another program's file ------------------------------------------------------------------
def test_another_programs_database_is_refused_without_writing_a_byte(tmp_path) -> None:
    other = tmp_path / "o.sqlite"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE moz_places(x)")
    connection.commit()
    connection.close()
    before = sha256(other)
    with pytest.raises(LibraryError, match="another program's database"):
        Library(other)
    line = one_clear_line(facenet("people", env={"FACENET_DB": str(other)}))
    assert "another program's database (tables moz_places), not a FaceNet Desktop library" in line
    assert sha256(other) == before  # before: ten tables added and the file switched to WAL
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("my notes")
    assert "not a database" in one_clear_line(facenet("name", "1", "Anna", "--db", str(not_sqlite)))
    assert not_sqlite.read_text() == "my notes"


def test_a_typo_or_an_empty_file_is_not_made_a_new_library(tmp_path) -> None:
    typo = tmp_path / "librray.db"
    assert "no library at" in one_clear_line(facenet("people", "--db", str(typo)))
    assert not typo.exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(NoLibrary, match="an empty file"):
        Library(empty, create=False)
    assert "an empty file" in one_clear_line(facenet("export", "--db", str(empty)))
    assert empty.stat().st_size == 0
    with Library(tmp_path / "new.db") as library:  # the window's first start makes one
        assert library.created


# -- 3. a newer version's library -----------------------------------------------------------------
def test_a_library_from_a_newer_version_is_refused_without_writing(tmp_path) -> None:
    path = tmp_path / "lib.db"
    small_library(path)
    connection = sqlite3.connect(path)
    connection.execute("INSERT INTO _sqlite_migrations(migration_set, name, applied_at) "
                       "VALUES ('facenet-library', 'm099_future', '2030-01-01')")
    connection.commit()
    connection.close()
    before = sha256(path)
    with pytest.raises(LibraryError, match="made by a newer FaceNet Desktop"):
        Library(path)
    for command in (["name", "Person 0", "Anna"], ["merge", "Person 0", "--into", "Person 1"], ["undo"]):
        line = one_clear_line(facenet(*command, "--db", str(path)))
        assert "made by a newer FaceNet Desktop" in line and "m099_future" in line
    assert sha256(path) == before


# -- 4. a read-only data folder ---------------------------------------------------------------------
def test_a_log_that_cannot_be_written_leaves_the_commands_working(tmp_path) -> None:
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    small_library(tmp_path / "lib.db")
    done = facenet("people", "--db", str(tmp_path / "lib.db"), env={"FACENET_DATA_DIR": str(blocked / "data")})
    assert done.returncode == 0, done.stderr  # before: OSError from start_logging, a traceback
    assert "Person 0" in done.stdout and "Traceback" not in done.stderr


def test_a_read_only_library_opens_for_browsing_and_refuses_writes_in_one_line(tmp_path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    small_library(folder / "library.db")
    env = {"FACENET_DATA_DIR": str(folder), "FACENET_DB": str(folder / "library.db")}
    with read_only(folder):
        listed = facenet("people", env=env)
        assert listed.returncode == 0 and "Person 2" in listed.stdout, listed.stderr
        exported = facenet("export", "--format", "csv", env=env)
        assert exported.returncode == 0 and exported.stdout.count("Person 1") == 4
        line = one_clear_line(facenet("name", "Person 0", "Anna", env=env))
        assert "read-only" in line and "unplugged" not in line
        with Library(folder / "library.db") as library:
            assert library.read_only
            with pytest.raises(LibraryUnavailable, match="read-only"):
                editing.create_person(library, "Ben")


# -- 5. a library damaged after it opened -------------------------------------------------------------
def damage_one_page(path: Path, page: int) -> None:
    size = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as handle:
        handle.seek(page * size)
        handle.write(bytes([0x5A]) * size)


def test_a_damaged_library_refuses_writes_keeps_a_copy_and_exports_what_it_can(tmp_path) -> None:
    path = tmp_path / "lib.db"
    small_library(path, people=30, per_person=10)
    pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]
    damage_one_page(path, pages - 2)  # a page `name` does not read: it succeeded before
    damaged_bytes = path.read_bytes()
    for command in (["name", "Person 0", "Anna"], ["cluster"], ["undo"]):
        line = one_clear_line(facenet(*command, "--db", str(path)))
        assert "is damaged" in line and "facenet export" in line
    assert path.read_bytes() == damaged_bytes
    copy = tmp_path / "lib.db.damaged-copy"
    assert copy.read_bytes() == damaged_bytes
    for command in (["people"], ["export", "--format", "csv"]):
        done = facenet(*command, "--db", str(path))
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == 0 or len(done.stderr.strip().splitlines()) == 1
    exported = facenet("export", "--format", "csv", "--db", str(path))
    assert exported.returncode == 0 and "Person 0" in exported.stdout  # what can be read is saved
    with Library(path) as library, pytest.raises(LibraryDamaged):
        library.check_integrity()


# -- 6. a scan during a model switch (see also the lost-labels property test) ------------------------
MISSING_VECTORS_SQL = ("SELECT f.id FROM faces f WHERE NOT EXISTS "
                       "(SELECT 1 FROM face_embeddings e WHERE e.face_id = f.id AND e.model_version = ?)")


@pytest.mark.slow
def test_a_scan_during_a_model_switch_leaves_no_face_without_a_vector(tmp_path, faces_dir, pipeline) -> None:
    from engine.library.identities.labelled_faces import photo_faces_embedder
    from engine.library.storage.model_registry import active_name, embed_missing, pipeline_for
    from engine.library.jobs.model_switch import switch_model
    from engine.model_versions import MODEL_VERSIONS

    photos = tmp_path / "photos"
    for person in ("Tony_Blair", "Colin_Powell"):
        for source in sorted((faces_dir / "lfw_deepfunneled" / person).glob("*.jpg"))[:2]:
            jpeg_copy(source, photos / source.name)
    with Library(tmp_path / "lib.db") as library:
        scan_folders(library, [photos], lambda: pipeline)
        other = next(name for name in MODEL_VERSIONS if name != active_name(library))
        other_pipeline = pipeline_for(library, other)
        embed_missing(library, other, photo_faces_embedder(other_pipeline))
        for source in sorted((faces_dir / "lfw_deepfunneled" / "Serena_Williams").glob("*.jpg"))[:3]:
            jpeg_copy(source, photos / "new" / source.name)

        class SwitchAfterFirstPhoto:
            """The scan's pipeline; `facenet model use` runs to its end after the first photo."""

            def __init__(self) -> None:
                self.model_version = pipeline.model_version

            def analyze_many(self, paths):
                for number, item in enumerate(pipeline.analyze_many(paths)):
                    yield item
                    if number == 0:
                        with Library(library.path) as elsewhere:
                            switch_model(elsewhere, other, photo_faces_embedder(other_pipeline))

        summary = scan_folders(library, [photos], SwitchAfterFirstPhoto, batch_photos=1)
        assert summary.analyzed == 3 and active_name(library) == other
        assert library.query(MISSING_VECTORS_SQL, [other]) == []  # before: the scan's faces had none
        assert summary.embedded_late >= 2
        # A library stranded so by an older version is mended by the next scan.
        library.db.execute("DELETE FROM face_embeddings WHERE model_version = ? AND face_id IN "
                           "(SELECT id FROM faces ORDER BY id DESC LIMIT 2)", [other])
        scan_folders(library, [photos], lambda: other_pipeline)
        assert library.query(MISSING_VECTORS_SQL, [other]) == []


# -- 7. a small file that decodes into gigabytes ------------------------------------------------------
def write_png(path: Path, side: int, depth: int = 16, color_type: int = 6) -> None:
    """A valid PNG of zeros, compressed row by row (the 10900 x 10900 RGBA one is 0.9 MB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    channels = {6: 4, 2: 3, 0: 1}[color_type]
    row = bytes(1 + side * channels * depth // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def test_a_small_png_that_would_need_gigabytes_is_refused_before_decoding(tmp_path) -> None:
    from engine.faces.images import load_photo

    bomb = tmp_path / "small.png"
    write_png(bomb, 10900)
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(ImageLoadError, match=r"GB of memory"):  # before: decoded, 3.4 GB
        load_photo(bomb, max_output_pixels=2_000_000)
    fine = tmp_path / "fine.png"
    write_png(fine, 2000)  # 4 MP with alpha: an ordinary screenshot still opens
    assert load_photo(fine).rgb.shape == (2000, 2000, 3)


# -- 8. one folder through two paths ------------------------------------------------------------------
@pytest.mark.slow
def test_one_folder_through_two_paths_is_one_folder_and_its_names_stay(tmp_path, faces_dir, pipeline) -> None:
    photos = tmp_path / "photos"
    for source in sorted((faces_dir / "lfw_deepfunneled" / "Colin_Powell").glob("*.jpg"))[:2]:
        jpeg_copy(source, photos / source.name)
    (tmp_path / "alias").symlink_to(photos)
    with Library(tmp_path / "lib.db") as library:
        scan_folders(library, [tmp_path / "alias"], lambda: pipeline)  # known first by the link's path
        face = library.scalar("SELECT min(id) FROM faces")
        editing.move_faces(library, [face], editing.create_person(library, "Colin Powell"))
        for folder in (photos, tmp_path / "alias", photos):
            summary = scan_folders(library, [folder], lambda: pipeline)
            assert summary.analyzed == 0 and summary.duplicates == 0  # before: every photo twice
        assert library.scalar("SELECT count(*) FROM photos") == 2
        assert [r["path"] for r in library.query("SELECT path FROM folders")] == [str(photos.resolve())]
        assert library.scalar("SELECT p.name FROM faces f JOIN people p ON p.id = f.person_id WHERE f.id = ?",
                              [face]) == "Colin Powell"


# -- 9. a photo replaced under the same size and time ---------------------------------------------------
@pytest.mark.slow
def test_a_photo_replaced_under_the_same_size_and_time_loses_the_old_name(tmp_path, faces_dir, pipeline) -> None:
    from engine.library.edits.export import export_xmp_sidecars

    photos = tmp_path / "photos"
    blair = faces_dir / "lfw_deepfunneled" / "Tony_Blair" / "Tony_Blair_0001.jpg"
    bush = faces_dir / "lfw_deepfunneled" / "George_W_Bush" / "George_W_Bush_0001.jpg"
    jpeg_copy(blair, photos / "photo.jpg")
    with Library(tmp_path / "lib.db") as library:
        scan_folders(library, [photos], lambda: pipeline)
        face = library.scalar("SELECT id FROM faces ORDER BY score DESC LIMIT 1")
        editing.move_faces(library, [face], editing.create_person(library, "Tony Blair"))
        target = photos / "photo.jpg"
        info = target.stat()
        data = bush.read_bytes()
        assert len(data) <= info.st_size, "the replacement must fit in the old photo's size"
        target.write_bytes(data + bytes(info.st_size - len(data)))  # bytes after a JPEG's end are ignored
        os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
        assert (target.stat().st_size, target.stat().st_mtime_ns) == (info.st_size, info.st_mtime_ns)
        summary = scan_folders(library, [photos], lambda: pipeline)
        assert summary.analyzed == 1  # before: 0, the old faces and the old name kept
        export_xmp_sidecars(library)
        sidecar = photos / "photo.jpg.xmp"
        assert not sidecar.exists() or "Tony Blair" not in sidecar.read_text()


# -- 10. export to a bad place -----------------------------------------------------------------------
def test_export_to_a_missing_folder_a_folder_or_a_full_disk_says_so_and_keeps_the_last_export(tmp_path, monkeypatch,
                                                                                              capsys) -> None:
    from engine.cli.main import main

    path = tmp_path / "lib.db"
    small_library(path)
    assert "does not exist" in one_clear_line(facenet("export", "-o", str(tmp_path / "no" / "x.json"), "--db", str(path)))
    assert "is a folder" in one_clear_line(facenet("export", "-o", str(tmp_path), "--db", str(path)))
    good = tmp_path / "people.json"
    assert main(["export", "-o", str(good), "--db", str(path)]) == 0
    previous = good.read_bytes()
    assert len(json.loads(previous)) == 12

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("engine.paths.os.fsync", disk_full)
    capsys.readouterr()
    assert main(["export", "-o", str(good), "--db", str(path), "--format", "csv"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "No space left on device" in error[0] and "unchanged" in error[0]
    assert good.read_bytes() == previous  # before: replaced by a truncated file
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# -- 11. names ---------------------------------------------------------------------------------------
def test_names_are_normalised_bounded_and_printed_safely(tmp_path) -> None:
    from engine.library.edits.export import export_csv

    path = tmp_path / "lib.db"
    ids = small_library(path, people=2, per_person=2)
    with Library(path) as library:
        jose = editing.create_person(library, unicodedata.normalize("NFC", "José"))
        editing.move_faces(library, [ids[0]], unicodedata.normalize("NFD", "José"), create=True)
        assert library.scalar("SELECT count(*) FROM people WHERE name LIKE 'Jos%'") == 1  # before: two people
        assert library.scalar("SELECT person_id FROM faces WHERE id = ?", [ids[0]]) == jose
        with pytest.raises(LibraryError, match="at most 100 characters"):
            editing.create_person(library, "A" * 10_000)
        sneaky = editing.create_person(library, "Eve\x1b[2J\u202e gpj.exe\nNext")
        assert library.scalar("SELECT name FROM people WHERE id = ?", [sneaky]) == "Eve[2J gpj.exe Next"
        editing.name_person(library, "Person 1", "=HYPERLINK(\"http://x\",\"y\")")
        cells = [line.split(",", 9)[8] for line in export_csv(library).splitlines()[1:]]
        assert not any(cell.lstrip('"').startswith(("=", "+", "-", "@")) for cell in cells)
        assert any(cell.lstrip('"').startswith("'=HYPERLINK") for cell in cells)
    printed = facenet("people", "--db", str(path))
    assert "\x1b" not in printed.stdout and "\u202e" not in printed.stdout


def test_a_file_name_with_terminal_escapes_is_printed_escaped(tmp_path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "evil\x1b[2J.jpg").write_bytes(b"not a photo at all")
    done = facenet("scan", str(photos), "--db", str(tmp_path / "lib.db"), "--quiet")
    assert done.returncode == 0
    assert "\x1b" not in done.stderr and "evil\\x1b[2J.jpg" in done.stderr


def sidecar_naming_the_face(photo: Path, name: str, faces_dir: Path, pipeline) -> bytes:
    """Copy a Blair photo to `photo`; an XMP sidecar that names its face `name`."""
    from engine.library.edits.xmp import NamedRegion, sidecar_xml

    jpeg_copy(faces_dir / "lfw_deepfunneled" / "Tony_Blair" / "Tony_Blair_0001.jpg", photo)
    found = pipeline.analyze(photo, embed=False)
    face = max(found.faces, key=lambda f: f.area)
    box = tuple(v / s for v, s in zip(face.box, (found.width, found.height) * 2, strict=True))
    return sidecar_xml(found.width, found.height, [NamedRegion(name, box)])


@pytest.mark.slow
def test_an_endless_name_in_a_sidecar_is_not_imported(tmp_path, faces_dir, pipeline) -> None:
    photos = tmp_path / "photos"
    photo = photos / "blair.jpg"
    Path(f"{photo}.xmp").write_bytes(sidecar_naming_the_face(photo, "B" * 300_000, faces_dir, pipeline))
    with Library(tmp_path / "lib.db") as library:
        summary = scan_folders(library, [photos], lambda: pipeline)
        assert summary.analyzed == 1 and summary.xmp_labels == 0  # before: a 300,000-character person
        assert library.scalar("SELECT count(*) FROM people") == 0


# -- 12. a sidecar link out of the folders -------------------------------------------------------------
@pytest.mark.slow
def test_a_sidecar_link_out_of_the_folders_is_neither_read_nor_replaced(tmp_path, faces_dir, pipeline) -> None:
    from engine.library.edits.export import export_xmp_sidecars
    photos = tmp_path / "photos"
    photo = photos / "blair.jpg"
    outside = tmp_path / "elsewhere" / "someone.xmp"
    outside.parent.mkdir()
    outside.write_bytes(sidecar_naming_the_face(photo, "Mallory", faces_dir, pipeline))
    before = outside.read_bytes()
    sidecar = Path(f"{photo}.xmp")
    sidecar.symlink_to(outside)
    with Library(tmp_path / "lib.db") as library:
        summary = scan_folders(library, [photos], lambda: pipeline)
        assert summary.xmp_labels == 0  # before: Mallory, as a confirmed label
        editing.move_faces(library, [library.scalar("SELECT id FROM faces ORDER BY score DESC LIMIT 1")], "Tony Blair",
                           create=True)
        result = export_xmp_sidecars(library)
    assert sidecar.is_symlink() and outside.read_bytes() == before  # before: the link replaced by a file
    assert any("link" in reason for _, reason in result.left_alone)


# -- 13. a full disk mid-scan ------------------------------------------------------------------------
def test_a_log_on_a_full_disk_prints_no_logging_traceback(tmp_path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    (tmp_path / "facenet.log").symlink_to("/dev/full")
    code = ("import logging, sys; from engine.logs import start_logging; start_logging(__import__('pathlib').Path(sys.argv[1])); "
            "logging.getLogger('x').warning('hello'); print('still here')")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=REPO,
                          timeout=HANG_CEILING)
    assert done.returncode == 0 and "still here" in done.stdout
    assert "Logging error" not in done.stderr, done.stderr  # before: 25 lines of traceback


@pytest.mark.slow
def test_a_scan_stopped_by_a_full_disk_says_what_it_kept(tmp_path, faces_dir, pipeline) -> None:
    photos = tmp_path / "photos"
    for source in sorted((faces_dir / "lfw_deepfunneled" / "Colin_Powell").glob("*.jpg"))[:3]:
        jpeg_copy(source, photos / source.name)
    with Library(tmp_path / "lib.db") as library:

        class FillsTheDiskAfterOnePhoto:
            model_version = pipeline.model_version

            def analyze_many(self, paths):
                for number, item in enumerate(pipeline.analyze_many(paths)):
                    if number == 1:  # the disk is full from the second batch on: SQLite's answer
                        library.db.execute("CREATE TEMP TRIGGER full BEFORE INSERT ON faces "
                                           "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
                    yield item

        with pytest.raises(LibraryUnavailable) as stopped:
            scan_folders(library, [photos], FillsTheDiskAfterOnePhoto, batch_photos=1, recognize=False)
        message = str(stopped.value)
        assert "Nothing was changed" not in message  # before: false, the first photo was saved
        assert "disk is full" in message and "the 1 photo analysed before that" in message
        library.db.execute("DROP TRIGGER temp.full")
        assert library.scalar("SELECT count(*) FROM photos WHERE status = 'done'") == 1


# -- 14. an orphan candidate model -------------------------------------------------------------------
def test_unfinished_fine_tuned_models_are_removed_at_the_next_start_unless_held(tmp_path) -> None:
    from engine.library.storage.model_registry import hold_candidate, models_folder, remove_orphan_candidates

    with Library(tmp_path / "lib.db") as library:
        folder = models_folder(library)
        folder.mkdir()
        orphan = folder / "finetuned-1.candidate.pt"
        half_saved = folder / ".finetuned-2.candidate.pt.abc123.tmp"  # killed during the save
        asked = folder / "finetuned-3.candidate.pt"
        accepted = folder / "finetuned-0.pt"
        for path in (orphan, half_saved, asked, accepted):
            path.write_bytes(b"weights")
        held = hold_candidate(asked)  # the window is asking the user about it
        try:
            assert remove_orphan_candidates(library) == 2
        finally:
            held.close()
        assert sorted(p.name for p in folder.iterdir()) == ["finetuned-0.pt", "finetuned-3.candidate.pt"]


def test_a_writer_killed_mid_save_leaves_a_temporary_the_next_start_removes(tmp_path) -> None:
    from engine.library.storage.model_registry import models_folder, remove_orphan_candidates

    with Library(tmp_path / "lib.db") as library:
        folder = models_folder(library)
        target = folder / "finetuned-9.candidate.pt"
        code = ("import os, sys; from pathlib import Path; import engine.paths as p; "
                "p.os.replace = lambda *a: os._exit(9); p.atomic_write_bytes(Path(sys.argv[1]), b'x' * 100000)")
        done = subprocess.run([sys.executable, "-c", code, str(target)], cwd=REPO, timeout=HANG_CEILING)
        assert done.returncode == 9
        left = [p.name for p in folder.iterdir()]
        assert len(left) == 1 and left[0].endswith(".tmp")
        assert remove_orphan_candidates(library) == 1 and list(folder.iterdir()) == []


# -- 15. a 255-byte photo name --------------------------------------------------------------------------
def test_a_sidecar_of_a_255_byte_photo_name_is_written_as_photo_xmp_and_read_back(tmp_path) -> None:
    from engine.library.edits.xmp import NamedRegion, read_face_regions, write_sidecar

    photo = tmp_path / ("p" * 251 + ".jpg")
    photo.write_bytes(b"")
    written = write_sidecar(photo, 100, 100, [NamedRegion("Anna", (0.1, 0.1, 0.5, 0.5))])  # before: OSError
    assert written == tmp_path / ("p" * 251 + ".xmp")
    assert [r.name for r in read_face_regions(photo, None)] == ["Anna"]
    again = write_sidecar(photo, 100, 100, [NamedRegion("Ben", (0.1, 0.1, 0.5, 0.5))])  # merges, as any sidecar
    assert again == written and [r.name for r in read_face_regions(photo, None)] == ["Ben"]



def test_export_of_a_damaged_library_saves_every_face_record_that_reads(tmp_path) -> None:
    """A damaged page of the faces table costs its own faces only: every page is damaged in
    turn (in a copy) until one holds faces, and the export keeps all the others."""
    from engine.library.edits.export import readable_face_records

    original = tmp_path / "lib.db"
    ids = small_library(original, people=30, per_person=10)
    pages = sqlite3.connect(original).execute("PRAGMA page_count").fetchone()[0]
    for page in range(3, pages):
        copy = tmp_path / f"damaged-{page}.db"
        shutil.copy(original, copy)
        damage_one_page(copy, page)
        try:
            with Library(copy, create=False) as library:
                salvage = readable_face_records(library)
        except LibraryDamaged:
            continue  # a page the whole library needs (its schema, the photos' index)
        if 0 < len(salvage.records) < len(ids):
            break
    else:
        pytest.fail("no page held only some of the faces")
    assert salvage.lost is not None and len(salvage.records) + salvage.lost >= len(ids)
    assert {r.face_id for r in salvage.records} < set(ids) and len(salvage.records) >= len(ids) // 2
