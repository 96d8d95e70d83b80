"""Scan throughput end to end on the shared photos, and a no-change rescan of 10k files.

    python benchmarks/scan_speed.py             # about 3 minutes on 2 cores
    python benchmarks/scan_speed.py --skip-photos

Part 1 scans the shared full-size photos into a fresh library and compares with the bare
pipeline (analyze_many, no database) on the same photos in the same run: the ratio is the
library's overhead.  Part 2 makes 10,000 distinct small JPEG files, indexes them once (with
a pipeline stub that finds no faces: only the bookkeeping is measured), then times a
rescan in which nothing changed; the goal is <= 5 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import faces_dir, machine_line, print_table

from engine.faces.images import PHOTO_EXTENSIONS
from engine.library.scan import scan_folders
from engine.library.store import Library
from engine.model_versions import DLIB_RESNET_V1
from engine.faces.pipeline import FacePipeline, PhotoFaces

SHARED_FOLDERS = ["group_photos", "deepface_tests", "face_recognition_examples", "negatives"]


class NoFaces:
    """Pipeline stand-in for bookkeeping measurements: every photo has no face."""

    model_version = DLIB_RESNET_V1

    def analyze_many(self, paths):
        for path in paths:
            yield Path(path), PhotoFaces(Path(path), 1, 1, 1.0, [])


def part_photos() -> None:
    root = faces_dir()
    folders = [root / name for name in SHARED_FOLDERS]
    files = sorted(
        {p.resolve() for f in folders for p in f.rglob("*") if p.suffix.lower() in PHOTO_EXTENSIONS and p.is_file()}
    )
    pipeline = FacePipeline()
    start = time.perf_counter()
    bare_faces = sum(len(r.faces) for _, r in pipeline.analyze_many(files) if not isinstance(r, Exception))
    bare = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as scratch, Library(Path(scratch) / "lib.db") as library:
        start = time.perf_counter()
        summary = scan_folders(library, folders, lambda: pipeline)
        scanned = time.perf_counter() - start
        rows = [
            ["bare pipeline (no database)", len(files), bare_faces, f"{bare:.1f}", f"{len(files) / bare:.2f}", f"{bare_faces / bare:.2f}"],
            ["facenet scan (library)", summary.files_seen, summary.faces_found, f"{scanned:.1f}",
             f"{summary.files_seen / scanned:.2f}", f"{summary.faces_found / scanned:.2f}"],
        ]
        print(f"\nscan of the shared photos ({', '.join(SHARED_FOLDERS)}); copies analysed once: {summary.duplicates}")
        print_table(["run", "photos", "faces", "seconds", "photos/s", "faces/s"], rows)
        print(f"library overhead: scan time / bare pipeline time = {scanned / bare:.2f}")


def part_rescan(count: int) -> None:
    source = next((faces_dir() / "lfw_deepfunneled" / "George_W_Bush").glob("*.jpg")).read_bytes()
    with tempfile.TemporaryDirectory() as scratch:
        photos = Path(scratch) / "Photos"
        for i in range(count):
            folder = photos / f"{i // 1000:02d}" / f"{(i // 100) % 10}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"img_{i:05d}.jpg").write_bytes(source + i.to_bytes(4, "little"))  # distinct content
        with Library(Path(scratch) / "lib.db") as library:
            start = time.perf_counter()
            first = scan_folders(library, [photos], NoFaces)
            indexed = time.perf_counter() - start
            start = time.perf_counter()
            again = scan_folders(library, [photos], NoFaces)
            rescan = time.perf_counter() - start
    print(f"\nno-change rescan of {count:,} files")
    print_table(
        ["run", "files", "seconds", "files/s", "goal"],
        [["first index (hash + rows; faces stubbed)", first.files_seen, f"{indexed:.2f}", f"{first.files_seen / indexed:.0f}", "-"],
         ["rescan, nothing changed", again.unchanged, f"{rescan:.2f}", f"{again.unchanged / rescan:.0f}", "<= 5 s"]],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--skip-photos", action="store_true")
    args = parser.parse_args()
    print(machine_line())
    if not args.skip_photos:
        part_photos()
    part_rescan(args.files)


if __name__ == "__main__":
    main()
