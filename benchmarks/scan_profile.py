"""Where a scanned photo's time goes, and whether both cores stay busy.

    python benchmarks/scan_profile.py                  # 100 full-size photos, then 120 LFW photos
    python benchmarks/scan_profile.py --photos 40 --lfw 0

Each stage of the pipeline is timed in the thread that runs it (wall time and that thread's
CPU time), while `FacePipeline.analyze_many` runs as a scan runs it: one worker thread per
core, each on runs of consecutive photos, each with a decode thread.  "Cores busy" is the
process's CPU time over wall time x cores: what is missing from 100% is a core idling
(waiting for the other worker's last run, the GIL, or memory).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections import defaultdict
from pathlib import Path

from common import faces_dir, machine_line, print_table
from pipeline_speed import labelled_photos

from engine.faces.pipeline import FacePipeline

INT8_NETWORK = "detector: int8 network (the rows above: float32 rescoring)"


class StageClock:
    """Wall and thread-CPU seconds spent in each wrapped method, summed over threads."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def wrap(self, owner: object, method: str, stage: str) -> None:
        inner = getattr(owner, method)

        def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                with self._lock:
                    self.wall[stage] += time.perf_counter() - wall
                    self.cpu[stage] += time.thread_time() - cpu
                    self.calls[stage] += 1

        setattr(owner, method, timed)


def profiled_pipeline() -> tuple[FacePipeline, StageClock]:
    pipeline, clock = FacePipeline(), StageClock()
    clock.wrap(pipeline, "decode", "decode (Pillow, reduced-size JPEG)")
    clock.wrap(pipeline, "_detection_copy", "resize for the detector")
    clock.wrap(pipeline.detector, "tiled_input", "detector: image pyramid")
    clock.wrap(pipeline.detector.network, "forward", "detector: network")  # float32; with int8, the rescoring
    if pipeline.detector._int8 is not None:
        clock.wrap(pipeline.detector._int8, "forward", INT8_NETWORK)
    clock.wrap(pipeline.detector, "detect", "detector: all (incl. pyramid, network, NMS)")
    clock.wrap(pipeline, "landmarks", "5 landmarks")
    clock.wrap(pipeline, "chips", "aligned chips")
    clock.wrap(pipeline, "embed_chips", "embedding (6 views)")
    return pipeline, clock


def profile(paths: list[Path], workers: int) -> tuple[list[list[object]], list[object]]:
    pipeline, clock = profiled_pipeline()
    list(pipeline.analyze_many(paths[:4], workers=workers))  # warm up oneDNN's kernels
    clock.wall.clear(), clock.cpu.clear(), clock.calls.clear()
    cores = os.cpu_count() or 1
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    faces = sum(len(r.faces) for _p, r in pipeline.analyze_many(paths, workers=workers) if hasattr(r, "faces"))
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    n = len(paths)
    detect_all = "detector: all (incl. pyramid, network, NMS)"
    networks = ("detector: image pyramid", "detector: network", INT8_NETWORK)
    nms = clock.wall[detect_all] - sum(clock.wall.get(s, 0.0) for s in networks)
    nms_cpu = clock.cpu[detect_all] - sum(clock.cpu.get(s, 0.0) for s in networks)
    stages = [s for s in clock.wall if s != detect_all]
    rows = [[s, f"{1000 * clock.wall[s] / n:.1f}", f"{1000 * clock.cpu[s] / n:.1f}", f"{100 * clock.cpu[s] / cpu:.1f}%"] for s in stages]
    rows.insert(3, ["detector: NMS and boxes", f"{1000 * nms / n:.1f}", f"{1000 * nms_cpu / n:.1f}", f"{100 * nms_cpu / cpu:.1f}%"])
    accounted = sum(clock.cpu[s] for s in stages) + nms_cpu
    rows.append(["not in a stage (torch helper threads, queues)", "", f"{1000 * (cpu - accounted) / n:.1f}", f"{100 * (cpu - accounted) / cpu:.1f}%"])
    summary = [workers, n, faces, f"{wall:.1f}", f"{n / wall:.2f}", f"{1000 * cpu / n:.0f}", f"{100 * cpu / (wall * cores):.0f}%"]
    return rows, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=100, help="full-size photos (the pipeline_speed set)")
    parser.add_argument("--lfw", type=int, default=120, help="small LFW photos (250 x 250)")
    args = parser.parse_args()
    print(machine_line())
    root = faces_dir()
    sets = [("full-size photos", [p for p, _ in labelled_photos(root, args.photos)])]
    if args.lfw:
        lfw = sorted((root / "lfw_deepfunneled").glob("*/*.jpg"))
        sets.append(("LFW photos", lfw[:: max(1, len(lfw) // args.lfw)][: args.lfw]))
    summaries = []
    for name, paths in sets:
        for workers in (1, os.cpu_count() or 1):
            rows, summary = profile(paths, workers)
            summaries.append([name, *summary])
            print(f"\n{name}, {workers} worker(s): per photo, summed over threads\n")
            print_table(["stage", "wall ms", "CPU ms", "share of CPU"], rows)
    print("\nsummary\n")
    print_table(["photos", "workers", "count", "faces", "wall s", "photos/s", "CPU ms per photo", "cores busy"], summaries)


if __name__ == "__main__":
    main()
