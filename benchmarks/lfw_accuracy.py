"""LFW 10-fold verification accuracy of the full pipeline (detect -> align -> embed) on
lfw_deepfunneled with the standard pairs.txt, through the same code as `facenet eval lfw`.

    python benchmarks/lfw_accuracy.py            # about 15 minutes on 2 cores
"""

from __future__ import annotations

import sys
import time

from common import faces_dir, machine_line

from engine.cli import main as facenet

if __name__ == "__main__":
    root = faces_dir() / "lfw_deepfunneled"
    print(machine_line())
    print("dlib publishes 99.38% for this model (dlib's own detector + alignment)")
    start = time.perf_counter()
    code = facenet(["eval", "lfw", "--root", str(root), "--pairs", str(root / "pairs.txt"), *sys.argv[1:]])
    print(f"wall time {time.perf_counter() - start:.0f} s")
    sys.exit(code)
