""""Learn from your corrections" is offered once the user corrected enough faces that the
current model still gets wrong (issue 35, part 4), and not again until more corrections came."""

from __future__ import annotations

import numpy as np
from synthetic_library import fill_library, fill_library_more

from engine.library.edits import editing
from engine.library.questions.finetune_offer import LIKELY_MISTAKES, finetune_offer, note_finetune_tried
from engine.library.storage.store import Library, blob_to_embedding


def twins_library(path, twins_apart: bool) -> tuple[Library, list[int], list[int]]:  # noqa: ANN001
    """Anna and Ben, 30 faces each, every one moved to them by hand.  With `twins_apart`
    False their faces come from one cloud: the model cannot tell them apart."""
    rng = np.random.default_rng(5)
    centre = rng.normal(size=128)
    other = centre if not twins_apart else rng.normal(size=128)
    vectors = np.concatenate([centre + rng.normal(scale=0.3, size=(30, 128)),
                              other + rng.normal(scale=0.3, size=(30, 128))]).astype(np.float32)
    library = Library(path)
    ids = fill_library(library, vectors)
    with library.atomic() as db:  # faces to train on need landmarks to be cut again
        db.execute("UPDATE faces SET landmarks = ?", [np.zeros(10, "<f4").tobytes()])
    editing.move_faces(library, ids[:30], "Anna", create=True)
    editing.move_faces(library, ids[30:], "Ben", create=True)
    return library, ids[:30], ids[30:]


def wrong_by_brute_force(library: Library) -> int:
    """Each hand-named face named by its 5 nearest other named faces (ties: the nearest)."""
    from engine.library.storage.model_registry import active_version
    from engine.library.storage.store import blob_to_embedding

    rows = library.query("SELECT f.id, f.person_id, e.embedding FROM faces f JOIN face_embeddings e ON e.face_id = f.id "
                         "WHERE f.confirmed = 1 ORDER BY f.id")
    vectors = active_version(library).prepare(np.stack([blob_to_embedding(r["embedding"]) for r in rows]))
    wrong = 0
    for i, row in enumerate(rows):
        others = sorted((float(np.linalg.norm(vectors[i] - vectors[j])), j) for j in range(len(rows)) if j != i)[:5]
        votes = [rows[j]["person_id"] for _, j in others]
        best = max(votes.count(p) for p in votes)
        wrong += next(p for p in votes if votes.count(p) == best) != row["person_id"]
    return wrong


def test_corrections_the_model_still_gets_wrong_bring_the_offer(tmp_path) -> None:
    library, anna, ben = twins_library(tmp_path / "lib.db", twins_apart=False)
    offer = finetune_offer(library)
    expected = wrong_by_brute_force(library)
    assert expected >= LIKELY_MISTAKES
    assert offer is not None and offer.still_wrong == expected and offer.new_corrections == 60
    assert offer.sentence().startswith(f"You have corrected 60 faces, and the model would still name {expected} of")
    # Tried: nothing until enough new corrections, and rejections count as corrections.
    note_finetune_tried(library)
    assert finetune_offer(library) is None
    editing.reject_faces(library, anna[:15])
    assert finetune_offer(library) is None  # 15 new: not yet
    editing.undo(library)  # an undone correction is not one
    more = fill_library_more(library, np.stack([blob_to_embedding(library.scalar(
        "SELECT embedding FROM face_embeddings WHERE face_id = ?", [face])) for face in [*anna[:8], *ben[:7]]]) + 0.01)
    with library.atomic() as db:
        db.execute("UPDATE faces SET landmarks = ? WHERE landmarks IS NULL", [np.zeros(10, "<f4").tobytes()])
    editing.move_faces(library, more[:8], "Anna")
    assert finetune_offer(library) is None  # 8 new
    editing.move_faces(library, more[8:], "Ben")
    editing.reject_faces(library, anna[:15])
    again = finetune_offer(library)  # 8 + 7 new faces moved, 15 rejected
    assert again is not None and again.sentence().startswith("You have corrected 30 faces since your model last learned")
    library.close()


def test_no_offer_where_the_model_already_gets_the_corrections_right(tmp_path) -> None:
    library, _, _ = twins_library(tmp_path / "lib.db", twins_apart=True)
    assert wrong_by_brute_force(library) == 0
    assert finetune_offer(library) is None
    library.close()
