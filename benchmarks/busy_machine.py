"""A scan beside other busy programs: does it keep its fair share of the processor?

    python benchmarks/busy_machine.py                # 160 LFW photos, each load in turn
    python benchmarks/busy_machine.py --photos 80 --loads idle,hogs2

`facenet scan` of the same photos into a fresh library (the whole command: start, model
load, scan, grouping), first on an idle machine, then beside competitors started just
before it: 1, 2 or 4 CPU-bound Python loops, or other processes computing with torch on
2 threads each (another app's inference, a second scan).  The scan runs one worker thread
per core; with k single-threaded competitors on c cores its fair share is c / (c + k) of
the machine (each runnable thread gets the same), so it should keep at least that share of
its idle speed.  Spinning thread pools would show as far less.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import faces_dir, machine_line, print_table

REPO = Path(__file__).resolve().parent.parent
TORCH_LOAD = (
    "import torch\n"
    "torch.set_num_threads(2)\n"
    "x = torch.randn(1, 32, 160, 160)\n"
    "conv = torch.nn.Conv2d(32, 32, 3, padding=1)\n"
    "with torch.inference_mode():\n"
    "    while True:\n"
    "        conv(x)\n"
)
LOADS = {
    "idle": ("nothing else running", [], 0),
    "hogs1": ("1 CPU-bound loop", ["while True: pass"], 1),
    "hogs2": ("2 CPU-bound loops", ["while True: pass"] * 2, 2),
    "hogs4": ("4 CPU-bound loops", ["while True: pass"] * 4, 4),
    "torch1": ("1 torch process, 2 threads", [TORCH_LOAD], 2),
    "torch3": ("3 torch processes, 2 threads each", [TORCH_LOAD] * 3, 6),
}


def photo_folder(root: Path, count: int, into: Path) -> Path:
    """`count` LFW photos spread over the alphabet, linked (never copied) into one folder."""
    everyone = sorted((root / "lfw_deepfunneled").glob("*/*.jpg"))
    for path in everyone[:: max(1, len(everyone) // count)][:count]:
        (into / path.name).symlink_to(path)
    return into


def timed_scan(folder: Path, database: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine.cli", "scan", str(folder), "--db", str(database), "--quiet"], cwd=REPO,
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=160)
    parser.add_argument("--loads", default=",".join(LOADS), help=f"comma-separated, from {', '.join(LOADS)}")
    args = parser.parse_args()
    print(machine_line())
    cores = os.cpu_count() or 1
    rows, idle_seconds = [], None
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work, "photos")
        folder.mkdir()
        photo_folder(faces_dir(), args.photos, folder)
        for run, load in enumerate(["idle", *[name for name in args.loads.split(",") if name != "idle"]]):
            label, programs, threads = LOADS[load]
            competitors = [subprocess.Popen([sys.executable, "-c", code]) for code in programs]
            try:
                time.sleep(1.0 if competitors else 0.0)  # let the competitors get going (torch's start)
                seconds = timed_scan(folder, Path(work, f"library{run}.db"))
            finally:
                for process in competitors:
                    process.kill()
                    process.wait()
            if load == "idle":
                idle_seconds = seconds
            fair = min(1.0, cores / (cores + threads))
            kept = idle_seconds / seconds
            rows.append([label, f"{seconds:.1f}", f"{args.photos / seconds:.2f}", f"{kept:.2f}", f"{fair:.2f}",
                         f"{kept / fair:.2f}"])
            print(f"{label}: {seconds:.1f} s", flush=True)
    print()
    print_table(["beside", "scan s", "photos/s", "speed kept (idle = 1)", "fair share", "kept / fair share"], rows)


if __name__ == "__main__":
    main()
