"""Hand-labelled faces cut again from the photos, as fine-tuning data."""

from __future__ import annotations

import numpy as np
import pytest

from engine.library import editing
from engine.library.labelled_faces import labelled_face_set
from engine.library.scan import scan_folders
from engine.library.store import Library, LibraryError, blob_to_embedding

pytestmark = pytest.mark.slow


def test_chips_reproduce_the_stored_embeddings(tmp_path, faces_dir, pipeline) -> None:
    photos = tmp_path / "Photos"
    people = {"Colin_Powell": 5, "Tony_Blair": 5, "Hugo_Chavez": 3}
    for person, count in people.items():
        (photos / person).mkdir(parents=True)
        for image in sorted((faces_dir / "lfw_deepfunneled" / person).glob("*.jpg"))[:count]:
            (photos / person / image.name).symlink_to(image)
    with Library(tmp_path / "lib.db") as library:
        scan_folders(library, [photos], lambda: pipeline)
        largest = library.query(
            "SELECT ph.path, f.id FROM photos ph JOIN faces f ON f.photo_id = ph.id WHERE f.id = "
            "(SELECT g.id FROM faces g WHERE g.photo_id = ph.id ORDER BY (g.x2-g.x1)*(g.y2-g.y1) DESC LIMIT 1)"
        )
        for row in largest:
            name = row["path"].split("/")[-2]
            try:
                editing.create_person(library, name)
            except LibraryError:
                pass
            editing.move_face(library, row["id"], name)
            if name == "Tony_Blair" and library.scalar(
                "SELECT count(*) FROM faces f JOIN people p ON p.id = f.person_id WHERE p.name = 'Tony_Blair'"
            ) == 4:
                with pytest.raises(LibraryError, match="Colin_Powell 5, Tony_Blair 4"):
                    labelled_face_set(library, pipeline)
        faces = labelled_face_set(library, pipeline)
        assert sorted(faces.names) == ["Colin_Powell", "Tony_Blair"]  # Hugo has only 3 labels
        assert len(faces.labels) == 10 and len(faces.face_ids) == 10
        stored = {r["id"]: blob_to_embedding(r["embedding"]) for r in library.query("SELECT id, embedding FROM faces")}
        again = pipeline.embed_chips(faces.chips)
        expected = np.stack([stored[f] for f in faces.face_ids])
        # Measured 6.6e-5: the landmarks are stored as float32.
        assert np.abs(again - expected).max() < 2e-4


def test_acceptance_rule_rejects_a_worse_model(faces_dir, pipeline) -> None:
    """The real dlib embedding against the same network with destroyed weights, on real faces."""
    import torch

    from engine.training.acceptance import accept, held_out_errors, split_per_person
    from engine.training.data import prepare_faces
    from engine.training.models import build_network, chips_to_input, default_config

    faces = prepare_faces(faces_dir / "orl_att", lambda: pipeline)
    first_ten = faces.subset(faces.labels < 10)
    train, held = split_per_person(first_ten, 0.3)
    assert set(train.names) == set(held.names) and len(held.labels) == 30
    config = default_config("resnet")
    network = build_network(config).eval()

    def embed(chips):  # noqa: ANN001, ANN202
        with torch.no_grad():
            return network(chips_to_input(chips, config)).numpy()

    before = held_out_errors(embed, train, held)
    assert before.recognition_error <= 0.05 and before.verification_error <= 0.10
    with torch.no_grad():  # a destructive update, as a far too large learning rate would make
        for p in network.parameters():
            p.add_(torch.randn_like(p) * p.abs().mean() * 3)
    after = held_out_errors(embed, train, held)
    assert after.recognition_error > before.recognition_error
    assert not accept(before, after)
    assert not accept(before, before)  # "not worse" is not enough: it must be better
    assert accept(after, before)


def test_recognition_errors_compare_names_not_label_numbers() -> None:
    """Hand-made case: the held-out subset numbers its people differently from the training
    subset, and one held-out face lies nearest to someone else's training face."""
    from engine.training.acceptance import errors_from_vectors, misrecognised
    from engine.training.data import FaceSet

    def faces(labels: list[int], names: list[str]) -> FaceSet:
        return FaceSet(np.zeros((len(labels), 1, 1, 3), np.uint8), np.array(labels), names, [""] * len(labels), 0)

    train = faces([0, 0, 1, 1], ["ann", "bob"])
    references = np.array([[0.0, 0], [0.1, 0], [10, 0], [10.1, 0]])
    held = faces([1, 1, 0, 0], ["bob", "ann"])  # bob is 0 here
    queries = np.array([[0.2, 0], [1.0, 0], [9.0, 0], [6.0, 0]])  # ann, ann, bob, bob: each nearest their own
    wrong = misrecognised(queries, references, train, held)
    assert wrong.tolist() == [False, False, False, False]
    queries[3] = [4.0, 0]  # now nearer ann's faces than bob's
    wrong = misrecognised(queries, references, train, held)
    assert wrong.tolist() == [False, False, False, True]
    assert errors_from_vectors(queries, references, train, held).recognition_error == 0.25


def test_k_nearest_vote_counts_names_and_breaks_ties_by_the_nearest_face() -> None:
    """Hand-made distances on a line: ann's one face at 0, bob's at 3.0, 3.2, 3.4."""
    from engine.training.acceptance import misrecognised
    from engine.training.data import FaceSet

    train = FaceSet(np.zeros((4, 1, 1, 3), np.uint8), np.array([0, 1, 1, 1]), ["ann", "bob"], [""] * 4, 0)
    references = np.array([[0.0], [3.0], [3.2], [3.4]])
    held = FaceSet(np.zeros((1, 1, 1, 3), np.uint8), np.array([0]), ["ann"], [""], 0)
    ann = np.array([[1.4]])  # ann 1.4 away; bob 1.6, 1.8, 2.0
    assert misrecognised(ann, references, train, held, neighbours=1).tolist() == [False]
    assert misrecognised(ann, references, train, held, neighbours=2).tolist() == [False]  # 1 : 1, ann nearer
    assert misrecognised(ann, references, train, held, neighbours=3).tolist() == [True]  # bob 2 : 1
    assert misrecognised(np.array([[1.6]]), references, train, held, neighbours=2).tolist() == [True]  # tie, bob nearer


def test_report_says_when_there_was_nothing_to_improve() -> None:
    """A refusal because the current model already gets every held-out face right reads
    differently from a refusal because the new model is worse."""
    from engine.training.acceptance import HeldOutErrors, accept
    from engine.training.finetune import FinetuneReport

    def report(before: HeldOutErrors, after: HeldOutErrors) -> str:
        return FinetuneReport(before, after, accept(before, after), 5, 32, 11, 400, 59.0, 0.6, 0.6, {}).lines()[-1]

    perfect, worse = HeldOutErrors(0.0, 0.0, 14, 11), HeldOutErrors(0.05, 0.1, 14, 11)
    assert "no mistake" in report(perfect, perfect)
    assert "no mistake" in report(perfect, worse)
    assert "not better on both" in report(worse, HeldOutErrors(0.06, 0.1, 14, 11))
    assert "can be applied" in report(worse, perfect)


def test_the_report_leads_with_one_plain_sentence() -> None:
    """Hand-made counts: 40 pairs and 10 faces held out; mistakes are wrong pair decisions
    plus wrong names."""
    from engine.training.acceptance import HeldOutErrors, accept
    from engine.training.finetune import FinetuneReport

    def headline(before: HeldOutErrors, after: HeldOutErrors) -> str:
        return FinetuneReport(before, after, accept(before, after), 5, 32, 10, 400, 59.0, 0.6, 0.6, {}).headline()

    five_and_three = HeldOutErrors(5 / 40, 3 / 10, 40, 10)  # 8 mistakes
    one_and_zero = HeldOutErrors(1 / 40, 0.0, 40, 10)  # 1 mistake
    assert headline(five_and_three, one_and_zero) == (
        "Better on your faces: 7 fewer mistakes on 10 faces you named that it had not seen. Apply?")
    assert headline(one_and_zero, five_and_three) == "Not better on your faces; nothing was changed."
    perfect = HeldOutErrors(0.0, 0.0, 40, 10)
    assert headline(perfect, perfect).startswith("Your current model already makes no mistake")
