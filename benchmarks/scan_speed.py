"""Scan throughput end to end on the shared photos, and a no-change rescan of 10k files.

    python benchmarks/scan_speed.py             # about 3 minutes on 2 cores
    python benchmarks/scan_speed.py --skip-photos
    python benchmarks/scan_speed.py --breakdown-only   # where a small scan's seconds go (issue 36)

Part 1 scans the shared full-size photos into a fresh library and compares with the bare
pipeline (analyze_many, no database) on the same photos in the same run: the ratio is the
library's overhead.  Part 2 makes 10,000 distinct small JPEG files, indexes them once (with
a pipeline stub that finds no faces: only the bookkeeping is measured), then times a
rescan in which nothing changed; the goal is <= 5 s.  Part 3 runs `facenet scan` as a user
would, on 100 LFW photos in a new library, under the profiler: how its seconds split between
starting Python, importing (torch), loading the models, analysing the photos, the scan's own
bookkeeping and grouping; and, beside it, the same scan and the face_recognition HOG pipeline
on every core, each a whole process from its start (what a user waits for on a small folder).
"""

from __future__ import annotations

import argparse
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import faces_dir, machine_line, print_table

from engine.faces.images import PHOTO_EXTENSIONS
from engine.library.jobs.scan import scan_folders
from engine.library.storage.store import Library
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


def _cumulative(stats: pstats.Stats, file_ending: str, function: str) -> float:
    """The largest cumulative time of a profiled function (the outermost call of a recursion)."""
    return max((row[3] for (file, _, name), row in stats.stats.items()  # type: ignore[attr-defined]
                if file.endswith(file_ending) and name == function), default=0.0)


# The face_recognition HOG pipeline as a user runs it: a fresh Python process, one worker per
# core (dlib's HOG uses one), every photo detected with one upsample and described.
HOG_PROCESS = """
import multiprocessing, sys
import numpy as np
from PIL import Image

def start(landmarks, recognition):
    global MODELS
    import dlib
    MODELS = (dlib.get_frontal_face_detector(), dlib.shape_predictor(landmarks),
              dlib.face_recognition_model_v1(recognition))

def one(path):
    detector, shape, describe = MODELS
    rgb = np.array(Image.open(path).convert("RGB"))
    boxes = detector(rgb, 1)
    for box in boxes:
        describe.compute_face_descriptor(rgb, shape(rgb, box), 1)
    return len(boxes)

if __name__ == "__main__":
    landmarks, recognition, cores, *paths = sys.argv[1:]
    with multiprocessing.get_context("spawn").Pool(int(cores), initializer=start, initargs=(landmarks, recognition)) as pool:
        print(sum(pool.map(one, paths, chunksize=1)))
"""


def whole_process_seconds(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed: {done.stderr}")
    return time.perf_counter() - start


def side_by_side(folder: Path, scratch: Path, runs: int = 2) -> None:
    """`facenet scan` into a new library against the HOG pipeline on every core, each a whole
    process from its start, taking turns; the best of `runs` each."""
    from engine.dlib.model_files import default_model_files

    files = default_model_files()
    hog_script = scratch / "hog_pipeline.py"
    hog_script.write_text(HOG_PROCESS)
    cores = os.cpu_count() or 1
    photos = sorted(str(p) for p in folder.iterdir())
    ours, hog = [], []
    for run in range(runs):
        ours.append(whole_process_seconds([sys.executable, "-m", "engine.cli", "scan", str(folder), "--db",
                                           str(scratch / f"side{run}.db"), "--quiet"]))
        hog.append(whole_process_seconds([sys.executable, str(hog_script), str(files.landmarks), str(files.recognition),
                                          str(cores), *photos]))
    rows = [["facenet scan (a new library, grouped at the end)", f"{min(ours):.2f}", f"{min(hog) / min(ours):.2f}x"],
            [f"face_recognition HOG pipeline, {cores} processes", f"{min(hog):.2f}", "1.00x"]]
    print(f"\nwhole processes, start to end, {len(photos)} LFW photos (best of {runs})")
    print_table(["command", "seconds", "speed vs HOG"], rows)


def part_breakdown(photos: int) -> None:
    people = sorted(p for p in (faces_dir() / "lfw_deepfunneled").iterdir() if p.is_dir())[:photos]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "Photos"
        folder.mkdir()
        for person in people:
            first = sorted(person.glob("*.jpg"))[0]
            (folder / first.name).symlink_to(first)
        side_by_side(folder, Path(scratch))
        profile = Path(scratch) / "scan.prof"
        command = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "engine.cli", "scan", str(folder),
                   "--db", str(Path(scratch) / "lib.db"), "--quiet"]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"facenet scan failed: {done.stderr}")
        stats = pstats.Stats(str(profile))
        inside = _cumulative(stats, "engine/cli/main.py", "main")
        imports = _cumulative(stats, "<frozen importlib._bootstrap>", "_find_and_load")
        torch_import = _cumulative(stats, "torch/__init__.py", "<module>")
        models = _cumulative(stats, "engine/faces/pipeline.py", "__init__")
        analysis = _cumulative(stats, "engine/faces/pipeline.py", "analyze_many")
        scan = _cumulative(stats, "engine/library/jobs/scan.py", "scan_folders")
        grouping = _cumulative(stats, "engine/library/identities/grouping.py", "cluster_library")
    rows = [
        ["whole process, wall clock", f"{wall:.2f}", ""],
        ["inside Python's main, profiled", f"{inside:.2f}", "100%"],
        [f"importing modules (torch {torch_import:.2f} s)", f"{imports:.2f}", f"{imports / inside:.0%}"],
        ["loading the models", f"{models:.2f}", f"{models / inside:.0%}"],
        ["analysing the photos", f"{analysis:.2f}", f"{analysis / inside:.0%}"],
        ["the scan's bookkeeping around them", f"{scan - analysis - models:.2f}", f"{(scan - analysis - models) / inside:.0%}"],
        ["grouping at the end", f"{grouping:.2f}", f"{grouping / inside:.0%}"],
    ]
    print(f"\nwhere the seconds of `facenet scan` go: {len(people)} LFW photos, a new library, under cProfile")
    print_table(["step", "seconds", "share"], rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--skip-photos", action="store_true")
    parser.add_argument("--breakdown-only", action="store_true")
    parser.add_argument("--breakdown-photos", type=int, default=100)
    args = parser.parse_args()
    print(machine_line())
    if not args.breakdown_only:
        if not args.skip_photos:
            part_photos()
        part_rescan(args.files)
    part_breakdown(args.breakdown_photos)


if __name__ == "__main__":
    main()
