"""How soon an edit's new suggestions can appear: the recognition pass after an edit, in a
generated library of 100k faces, with the memory of the last pass (what the window's engine
host does) against a full pass over the same library (what it did before), in the same run.

    python benchmarks/recognition_after_edit.py [--faces 100000] [--people 3000]

The library is gui_responsiveness.py's (people of Zipf-like sizes, 20% unsorted faces), with
the faces of the 300 named people made hand labels.  Target (issue: naming pays off at once):
new suggestions within a second of the edit.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gui_responsiveness import generate_library  # noqa: E402
from common import machine_line, print_table  # noqa: E402

from engine.library.edits import editing  # noqa: E402
from engine.library.identities.recognition_pass import recognize_faces  # noqa: E402
from engine.library.identities.recognition_memory import RecognitionMemory  # noqa: E402
from engine.library.storage.store import Library  # noqa: E402
from engine.model_versions import DLIB_RESNET_V1  # noqa: E402

TARGET_S = 1.0


def timed(function):  # noqa: ANN001, ANN201
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def edits(library: Library) -> list[tuple[str, callable]]:
    unnamed = library.query("SELECT person_id FROM faces f JOIN people p ON p.id = f.person_id WHERE p.name IS NULL "
                            "GROUP BY person_id ORDER BY count(*) DESC LIMIT 1")[0]["person_id"]
    named = library.query("SELECT person_id FROM faces f JOIN people p ON p.id = f.person_id WHERE p.name IS NOT NULL "
                          "GROUP BY person_id ORDER BY count(*) DESC LIMIT 2")
    a_face = library.scalar("SELECT min(id) FROM faces WHERE person_id = ?", [named[0]["person_id"]])
    return [
        ("naming the largest unnamed person", lambda: editing.name_person(library, unnamed, "Benchmark Person")),
        ("moving one face to another named person", lambda: editing.move_face(library, a_face, named[1]["person_id"])),
        ("merging the two largest named people", lambda: editing.merge_people(library, [named[1]["person_id"]],
                                                                               named[0]["person_id"])),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=3_000)
    args = parser.parse_args()
    print(machine_line())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.db"
        generate_library(base, args.faces, args.people)
        with Library(base) as library, library.atomic() as db:
            db.execute("UPDATE faces SET assignment = 'manual', confirmed = 1 "
                       "WHERE person_id IN (SELECT id FROM people WHERE name IS NOT NULL)")
        shutil.copy(base, Path(tmp) / "full.db")
        with Library(base) as remembered, Library(Path(tmp) / "full.db") as full:
            labels = remembered.scalar("SELECT count(*) FROM faces WHERE assignment = 'manual'")
            unassigned = remembered.scalar("SELECT count(*) FROM faces WHERE person_id IS NULL")
            print(f"{args.faces:,} faces: {labels:,} hand labels, {unassigned:,} unassigned")
            memory = RecognitionMemory()
            _, first = timed(lambda: recognize_faces(remembered, DLIB_RESNET_V1, memory=memory))
            recognize_faces(full, DLIB_RESNET_V1)
            rows.append(["the first pass (no memory yet; reads every vector)", f"{first:.2f} s", "", "", ""])
            for (what, edit), (_, same_edit) in zip(edits(remembered), edits(full), strict=True):
                edit()
                same_edit()
                quick, quick_s = timed(lambda: recognize_faces(remembered, DLIB_RESNET_V1, memory=memory))
                whole, whole_s = timed(lambda: recognize_faces(full, DLIB_RESNET_V1))
                agree = "yes" if (quick.assigned, quick.suggested) == (whole.assigned, whole.suggested) else "NO"
                rows.append([f"after {what}: faces looked at {quick.considered:,} of {whole.considered:,}; "
                             f"placed {quick.assigned + quick.suggested} (same as the full pass: {agree})",
                             f"{quick_s:.2f} s", f"{whole_s:.2f} s", f"{whole_s / max(quick_s, 1e-9):.1f}x",
                             f"{TARGET_S:.0f} s"])
    print_table(["recognition pass", "with memory", "full pass", "speed-up", "target"], rows)


if __name__ == "__main__":
    main()
