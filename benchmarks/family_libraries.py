"""Camera-like family libraries from the FIW development set (../shared/data/fiw_dev).

Relatives look alike: parents, children and siblings are the hard case of a photo library.
A library takes whole families, drawn by a seed, until it holds about `photos` photos.  The
crops cut from one source photo (photo_cooccurrence.csv) are laid side by side into one
group photo (its faces are different people, as in a real one); a source photo of one face
becomes a portrait.  The photos are spread over event folders, families mixed, and scanned
by the app's own pipeline.  Each detected face's truth is the crop its box centre lies in
(a face found elsewhere would be a stranger).  Built libraries are kept in the cache with
their truth, so before/after runs of a change use the same scanned library.

The crops are restored outside the repository (CI has no copy):
    fetch github:Vol0kin/relatives-siamese-net, then
    python ../shared/data/fiw_dev/restore.py GIT_DIR ~/.cache/facenet-dev/fiw_dev
and found through FIW_DEV_DIR (default ~/.cache/facenet-dev/fiw_dev).
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from engine.library.jobs.scan import scan_folders
from engine.library.storage.store import Library

REPO = Path(__file__).resolve().parent.parent
FIW_META = REPO.parent / "shared" / "data" / "fiw_dev"
TILE, MARGIN = 224, 40  # crop side, and the space around and between faces in a group photo
SMALLEST_FAMILY, LARGEST_FAMILY = 12, 80  # crops: families too small to matter or too large for a few hundred photos
STRANGER = "?"  # a truth that starts with this: a face the user does not know


def fiw_dir() -> Path:
    path = Path(os.environ.get("FIW_DEV_DIR", Path.home() / ".cache" / "facenet-dev" / "fiw_dev"))
    if not path.is_dir():
        sys.exit(f"FIW crops not found at {path}: fetch github:Vol0kin/relatives-siamese-net, then run "
                 f"python {FIW_META / 'restore.py'} GIT_DIR {path} (or set FIW_DEV_DIR)")
    return path


def cache_dir() -> Path:
    return Path(os.environ.get("FAMILY_LIBRARIES_DIR", Path.home() / ".cache" / "facenet-dev" / "family_libraries"))


def source_photos() -> dict[str, list[list[tuple[str, str]]]]:
    """family -> its source photos, each a list of (person, crop file) left to right."""
    families: dict[str, list[list[tuple[str, str]]]] = {}
    with open(FIW_META / "photo_cooccurrence.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            faces = []
            for item in row["faces(person:face_index:file)"].split(" | "):
                person, _, file = item.split(":", 2)
                faces.append((person, file))
            families.setdefault(row["family"], []).append(faces)
    return families


def choose_families(seed: int, photos: int) -> list[str]:
    families = source_photos()
    fitting = sorted(f for f, shots in families.items()
                     if SMALLEST_FAMILY <= sum(len(s) for s in shots) <= LARGEST_FAMILY
                     and len({p for s in shots for p, _ in s}) >= 3)
    random.Random(seed).shuffle(fitting)
    chosen, total = [], 0
    for family in fitting:
        if total >= photos:
            break
        chosen.append(family)
        total += len(families[family])
    return chosen


def lay_out(seed: int, photos: int, folder: Path) -> dict[str, list[str]]:
    """Write the library's photos under `folder`; file -> the persons left to right."""
    crops = fiw_dir()
    families = source_photos()
    shots = [shot for family in choose_families(seed, photos) for shot in families[family]]
    random.Random(seed + 1).shuffle(shots)  # a camera's order: families mixed
    layout: dict[str, list[str]] = {}
    for number, shot in enumerate(shots):
        target = folder / f"event-{number // 40:02d}" / f"IMG_{number:04d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        if len(shot) == 1:
            shutil.copy(crops / shot[0][1], target)
        else:
            canvas = Image.new("RGB", (MARGIN + len(shot) * (TILE + MARGIN), TILE + 2 * MARGIN), (128, 124, 118))
            for k, (_, file) in enumerate(shot):
                with Image.open(crops / file) as crop:
                    canvas.paste(crop.convert("RGB").resize((TILE, TILE)), (MARGIN + k * (TILE + MARGIN), MARGIN))
            canvas.save(target, quality=92)
        layout[str(target)] = [person for person, _ in shot]
    return layout


def truth_of_faces(library: Library, layout: dict[str, list[str]]) -> dict[int, str]:
    """Each face's person: the tile its box centre lies in; elsewhere, a stranger."""
    from engine.user_files import from_stored_path

    truth: dict[int, str] = {}
    taken: set[tuple[str, int]] = set()
    rows = library.query("SELECT f.id, ph.path, f.x1, f.x2, f.score FROM faces f JOIN photos ph ON ph.id = f.photo_id "
                         "ORDER BY f.score DESC")
    for row in rows:
        persons = layout.get(from_stored_path(row["path"]), [])
        centre = (row["x1"] + row["x2"]) / 2
        tile = int((centre - MARGIN / 2) // (TILE + MARGIN)) if len(persons) > 1 else 0
        key = (row["path"], tile)
        if 0 <= tile < len(persons) and key not in taken:  # one face per crop: a second box there is noise
            taken.add(key)
            truth[row["id"]] = persons[tile]
        else:
            truth[row["id"]] = f"{STRANGER}{row['id']}"
    return truth


def family_library(seed: int, photos: int = 300) -> tuple[Path, dict[int, str], dict]:
    """The scanned library of this seed (built and cached on first use), each face's truth,
    and facts about it."""
    from engine.faces.pipeline import FacePipeline

    folder = cache_dir() / f"seed{seed}-{photos}"
    db, facts_file = folder / "library.db", folder / "truth.json"
    if not facts_file.exists():
        shutil.rmtree(folder, ignore_errors=True)
        layout = lay_out(seed, photos, folder / "photos")
        with Library(db) as library:
            scan_folders(library, [folder / "photos"], FacePipeline, recognize=False)
            truth = truth_of_faces(library, layout)
        crops = sum(len(p) for p in layout.values())
        found = sum(1 for name in truth.values() if not name.startswith(STRANGER))
        facts = {"photos": len(layout), "crops": crops, "faces_found": found, "strangers": len(truth) - found,
                 "people": len({p for persons in layout.values() for p in persons}),
                 "families": len({p.split("_")[0] for persons in layout.values() for p in persons}),
                 "group_photos": sum(len(p) > 1 for p in layout.values())}
        facts_file.write_text(json.dumps({"facts": facts, "truth": {str(k): v for k, v in truth.items()}}))
    saved = json.loads(facts_file.read_text())
    return db, {int(k): v for k, v in saved["truth"].items()}, saved["facts"]


if __name__ == "__main__":  # build and describe: python benchmarks/family_libraries.py SEED [PHOTOS]
    library_path, truth, facts = family_library(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 300)
    print(library_path, facts, np.mean([not v.startswith(STRANGER) for v in truth.values()]))
