"""How long the library's read and edit commands take, as a user runs them: a whole
`python -m engine.cli ...` process each (interpreter start included), on a small generated
library, the median of several runs.  Issue 36's goal: at most 0.5 s each on an idle
machine, which rules out loading torch (3.3 s of CPU before).

    python benchmarks/command_speed.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine_line, print_table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from synthetic_library import fill_library, identity_vectors  # noqa: E402

from engine.library.edits import editing  # noqa: E402
from engine.library.storage.store import Library  # noqa: E402

COMMANDS = [["people"], ["suggestions"], ["photos", "--person", "Anna"], ["export"], ["missing"],
            ["name", "Anna", "Anne"], ["undo"], ["redo"], ["confirm", "FACE"], ["reject", "FACE"],
            ["move", "FACE", "--to", "Anne"], ["answer", "FACE", "yes"], ["merge", "Ben", "--into", "Anne"]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(machine_line())
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        db = Path(scratch) / "lib.db"
        with Library(db) as library:
            ids = fill_library(library, identity_vectors(20, 10)[0])
            editing.move_faces(library, ids[:10], "Anna", create=True)
            editing.move_faces(library, ids[10:20], "Ben", create=True)
        for command in COMMANDS:
            argv = [str(ids[0]) if word == "FACE" else word for word in command]
            seconds = []
            for _ in range(args.runs):
                started = time.monotonic()
                subprocess.run([sys.executable, "-m", "engine.cli", *argv, "--db", str(db)], cwd=REPO,
                               capture_output=True, check=False)
                seconds.append(time.monotonic() - started)
            rows.append([f"facenet {' '.join(command)}", f"{statistics.median(seconds):.2f}", f"{max(seconds):.2f}"])
    print_table(["command (whole process)", "median s", "slowest s"], rows)


if __name__ == "__main__":
    main()
