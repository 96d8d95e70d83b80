"""How long the pages of faces take on a large library, and their peak memory.

A generated library (tests/synthetic_library.py's vectors): 2,000 people of 50 faces each,
1,000 of them named with their group (40 faces each, never looked at one by one), the rest
unnamed.  review_pages reads every unnamed face against every named one and every
unconfirmed named face against all named faces.

    python benchmarks/review_pages_scale.py [--people 2000] [--faces-per-person 50]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import machine_line, print_table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from synthetic_library import fill_library, identity_vectors  # noqa: E402

from engine.library.questions.review_pages import review_pages  # noqa: E402
from engine.library.storage.store import Library  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--faces-per-person", type=int, default=50)
    args = parser.parse_args()
    print(machine_line())
    vectors, labels = identity_vectors(args.people, args.faces_per_person, seed=1, spread=0.045)
    with tempfile.TemporaryDirectory() as scratch, Library(Path(scratch) / "lib.db") as library:
        ids = fill_library(library, vectors)
        named_faces = args.faces_per_person * 4 // 5
        with library.atomic() as db:
            for person in range(args.people // 2):
                person_id = db.execute("INSERT INTO people(name) VALUES (?)", [f"Person {person}"]).lastrowid
                faces = [ids[i] for i in np.flatnonzero(labels == person)[:named_faces]]
                db.conn.executemany("UPDATE faces SET person_id = ?, assignment = 'manual' WHERE id = ?",
                                    [(person_id, face) for face in faces])
        started = time.monotonic()
        pages = review_pages(library)
        seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB -> GB (Linux)
    print_table(["faces", "named people", "pages", "seconds", "peak memory of the process"],
                [[f"{len(ids):,}", f"{args.people // 2:,}", f"{len(pages):,}", f"{seconds:.1f}", f"{peak:.2f} GB"]])


if __name__ == "__main__":
    main()
