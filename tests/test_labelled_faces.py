"""Hand-labelled faces cut again from the photos, as fine-tuning data."""

from __future__ import annotations

import numpy as np
import pytest

from lfw_folders import link_lfw_people
from engine.library.edits import editing
from engine.library.identities.labelled_faces import labelled_face_set
from engine.library.jobs.scan import scan_folders
from engine.library.storage.store import Library, LibraryError, blob_to_embedding

pytestmark = pytest.mark.slow


def test_chips_reproduce_the_stored_embeddings(tmp_path, faces_dir, pipeline) -> None:
    photos = link_lfw_people(faces_dir, tmp_path / "Photos", {"Colin_Powell": 5, "Tony_Blair": 5, "Hugo_Chavez": 3})
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
                with pytest.raises(LibraryError, match=r"Named faces so far: Colin_Powell 5, Tony_Blair 4, Hugo_Chavez 3\. "
                                                           r"Name more faces of Tony_Blair and Hugo_Chavez, or name more people\."):
                    labelled_face_set(library, pipeline)
        faces = labelled_face_set(library, pipeline)
        assert sorted(faces.names) == ["Colin_Powell", "Tony_Blair"]  # Hugo has only 3 labels
        assert len(faces.labels) == 10 and len(faces.face_ids) == 10
        stored = {r["face_id"]: blob_to_embedding(r["embedding"]) for r in library.query(
            "SELECT face_id, embedding FROM face_embeddings WHERE model_version = ?", [pipeline.model_version.name])}
        again = pipeline.embed_chips(faces.chips)
        expected = np.stack([stored[f] for f in faces.face_ids])
        # Measured 6.6e-5: the landmarks are stored as float32.
        assert np.abs(again - expected).max() < 2e-4


def test_acceptance_rule_rejects_a_worse_model(faces_dir, pipeline) -> None:
    """The real dlib embedding against the same network with destroyed weights, on real faces."""
    import torch

    from engine.training.acceptance import held_out_errors, judge, split_per_person
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
    refused = judge(before, after)  # the current model makes no mistake here: nothing to gain, much lost
    assert not refused.accepted and refused.reason == "no mistakes"
    assert refused.verification.broken > 0 and refused.verification.fixed == 0
    assert not judge(before, before).accepted  # "not worse" is not enough: it must be better
    assert judge(after, before).accepted


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


def errors(wrong_pairs: int, wrong_faces: int, pairs: int = 40, faces: int = 10, start: int = 0,
           confusions: tuple = ()) -> "HeldOutErrors":  # noqa: F821
    """Hand-made: the first wrong pairs and faces from `start` on."""
    from engine.training.acceptance import HeldOutErrors

    return HeldOutErrors(wrong_pairs / pairs, wrong_faces / faces, pairs, faces, tuple(range(start, start + wrong_pairs)),
                         tuple(range(start, start + wrong_faces)), confusions)


def test_sign_test_against_hand_computed_binomial_tails() -> None:
    from engine.training.acceptance import sign_test

    assert sign_test(5, 0) == 1 / 32  # all five flips are fixes
    assert sign_test(4, 0) == 1 / 16
    assert sign_test(6, 1) == (1 + 7) / 128  # C(7,6) + C(7,7)
    assert sign_test(8, 2) == (45 + 10 + 1) / 1024
    assert sign_test(0, 0) == 1.0 and sign_test(0, 3) == 1.0
    assert sign_test(3, 3) == (20 + 15 + 6 + 1) / 64


def test_training_is_skipped_only_when_no_result_could_pass_the_rule() -> None:
    """Fixing every mistake is a sign test of n fixes and no breaks: p = 1/2^n, at most 0.05
    from n = 5 mistakes in all (pairs, faces and faces known not to be someone together)."""
    from engine.training.acceptance import HeldOutErrors, could_show_improvement

    def errors(pairs: int, faces: int, negatives: int = 0) -> HeldOutErrors:
        return HeldOutErrors(0.0, 0.0, 100, 50, tuple(range(pairs)), tuple(range(faces)), (), 20,
                             tuple(range(negatives)))

    assert not could_show_improvement(errors(0, 0))
    assert not could_show_improvement(errors(2, 2))
    assert not could_show_improvement(errors(0, 0, 4))
    assert could_show_improvement(errors(5, 0))
    assert could_show_improvement(errors(0, 5))
    assert could_show_improvement(errors(2, 2, 1))
    assert 0.5**4 > 0.05 >= 0.5**5  # the hand-computed edge


def test_the_acceptance_rule_in_each_branch() -> None:
    """Hand-made flips; ALPHA = 0.05."""
    from engine.training.acceptance import HeldOutErrors, judge

    def flips(before_pairs: set, after_pairs: set, before_faces: set = frozenset(), after_faces: set = frozenset()):
        def e(p: set, f: set) -> HeldOutErrors:
            return HeldOutErrors(len(p) / 100, len(f) / 20, 100, 20, tuple(sorted(p)), tuple(sorted(f)),
                                 tuple(("ann", "bob") for _ in p) + tuple(("cy", "dee") for _ in f))
        return judge(e(before_pairs, before_faces), e(after_pairs, after_faces))

    # Better with evidence: 6 pairs fixed, none broken (p = 1/64); faces unchanged.
    verdict = flips(set(range(6)), set(), {0}, {0})
    assert verdict.accepted and verdict.reason == "better" and verdict.verification.fixed == 6
    # The same 6 fixes, but 2 faces broken and 1 fixed: worse on faces, never accepted.
    verdict = flips(set(range(6)), set(), {0}, {1, 2})
    assert not verdict.accepted and verdict.reason == "worse" and verdict.recognition.broken == 2
    # Faces fixed with evidence (5 of 5, p = 1/32), pairs no worse (1 fixed, 1 broken): accepted.
    verdict = flips({10}, {11}, set(range(5)), set())
    assert verdict.accepted and verdict.recognition.p_value == 1 / 32
    # More fixes than breaks but not beyond chance: 6 fixed, 2 broken (p = 0.145).
    verdict = flips(set(range(6)) | {50}, {50, 60, 61}, set(range(5)), set(range(5)))
    assert not verdict.accepted and verdict.reason == "not sure"
    assert verdict.label_more == ("ann", "bob", "cy")  # the people in the current model's mistakes
    # Too few mistakes to ever tell: 2 wrong pairs and 2 wrong faces, all fixed (p = 1/16).
    verdict = flips(set(range(2)), set(), set(range(2)), set())
    assert not verdict.accepted and verdict.reason == "too few mistakes" and verdict.mistakes_before == 4
    # Neither measure beyond chance on its own (4 of 4 pairs, p = 1/16; 3 of 3 faces, p = 1/8),
    # but 7 fixes and no break in all: p = 1/128, accepted.
    verdict = flips(set(range(4)), set(), set(range(3)), set())
    assert verdict.accepted and not verdict.verification.better and not verdict.recognition.better
    # No mistakes at all: the least-labelled people are named.
    from engine.training.acceptance import HeldOutErrors as H

    none = H(0.0, 0.0, 100, 20)
    verdict = judge(none, none, {"ann": 9, "bob": 4, "cy": 6, "dee": 12})
    assert verdict.reason == "no mistakes" and verdict.label_more == ("bob", "cy", "ann")
    # As many fixed as broken, or nothing changed: not better; with few mistakes, too few to tell.
    assert flips(set(range(8)), set(range(2, 10)), set(), set()).reason == "worse"
    assert flips(set(range(8)), set(range(8)), set(), set()).reason == "worse"
    assert flips(set(range(3)), set(range(3)), {1}, {1}).reason == "too few mistakes"
    # Faces the user said are not someone: a third measure, pooled with the others (the
    # numbers of one family library: 2 + 3 + 5 fixed, 1 broken: p = 12/2048).
    base = [HeldOutErrors(0.0, 0.0, 100, 20, tuple(range(4)), tuple(range(5)), (), 59, tuple(range(27))),
            HeldOutErrors(0.0, 0.0, 100, 20, (2, 3), (3, 4), (), 59, tuple(range(5, 27)) + (40,))]
    verdict = judge(*base)
    assert (verdict.verification.fixed, verdict.recognition.fixed, verdict.negatives.fixed, verdict.negatives.broken) == (
        2, 3, 5, 1)
    assert verdict.accepted and "faces known not to be someone: 5 fixed, 1 broken" in verdict.explanation()
    worse = HeldOutErrors(0.0, 0.0, 100, 20, (), (), (), 59, tuple(range(27)) + (40, 41, 42, 43, 44, 45))
    # Every pair and face fixed, but 6 more faces taken for someone they are not: refused.
    assert judge(base[0], worse).reason == "worse"
    # Breaking more than fixing on pairs, even with faces better beyond chance: refused.
    verdict = flips(set(range(3)), set(range(10, 14)), set(range(6)), set())
    assert verdict.recognition.better and not verdict.accepted and verdict.reason == "worse"


def test_report_says_why_nothing_changed() -> None:
    """A refusal because the current model already gets every held-out face right, because
    there are too few mistakes to tell, or because the new model is worse, each reads differently."""
    from engine.training.acceptance import judge
    from engine.training.finetune import FinetuneReport

    def report(before, after):  # noqa: ANN001, ANN202
        return FinetuneReport(before, after, judge(before, after), 5, 32, 11, 400, 59.0, 0.6, 0.6, {})

    perfect, worse = errors(0, 0), errors(6, 2)
    assert "no mistake" in report(perfect, perfect).lines()[-1]
    assert "no mistake" in report(perfect, worse).lines()[-1]
    assert "breaks more than it fixes" in report(worse, errors(7, 2)).lines()[-1]
    assert "can be applied" in report(worse, perfect).lines()[-1]
    few = report(errors(2, 1, confusions=(("Ann", "Bob"), ("Ann", "Ann"), ("Cy", "Ann"))), perfect)
    assert few.headline() == ("Too few mistakes on the faces you named to tell whether it is better; nothing was changed. "
                              "Label more faces of Ann, Bob and Cy.")
    assert "too few mistakes to tell: the current model makes only 3" in few.lines()[-1]


def test_the_report_leads_with_one_plain_sentence() -> None:
    """Hand-made counts: 40 pairs and 10 faces held out; mistakes are wrong pair decisions
    plus wrong names."""
    from engine.training.acceptance import judge
    from engine.training.finetune import FinetuneReport

    def headline(before, after) -> str:  # noqa: ANN001
        return FinetuneReport(before, after, judge(before, after), 5, 32, 10, 400, 59.0, 0.6, 0.6, {}).headline()

    seven_and_three = errors(7, 3)  # 10 mistakes
    one_and_zero = errors(1, 0)  # 1 mistake, among the earlier ones
    assert headline(seven_and_three, one_and_zero) == (
        "Better on your faces: 9 fewer mistakes on 10 faces you named that it had not seen. Apply?")
    assert headline(one_and_zero, seven_and_three) == "Not better on your faces; nothing was changed."
    assert headline(seven_and_three, errors(5, 2)).startswith("Perhaps better on your faces, but that could be chance")
    perfect = errors(0, 0)
    assert headline(perfect, perfect).startswith("Your current model already makes no mistake")


def test_the_headline_the_counts_and_the_details_agree() -> None:
    """The window read "13 fewer mistakes on 133 faces" above "recognition error 4.51% before,
    4.51% after": the sentence a person reads now counts each kind of mistake, and the
    details give the same counts.  Hand-made: 40 pairs, 10 faces, 5 rejected faces held out."""
    from engine.training.acceptance import HeldOutErrors, judge
    from engine.training.finetune import FinetuneReport

    before = HeldOutErrors(0.15, 0.1, 40, 10, (0, 1, 2, 3, 4, 5), (0,), (), 5, (0, 1))
    after = HeldOutErrors(0.025, 0.0, 40, 10, (0,), (), (), 5, (1,))
    report = FinetuneReport(before, after, judge(before, after), 4, 30, 10, 500, 60.0, 0.6, 0.6, {},
                            corrections_held_out=4, corrections_wrong_before=1, corrections_wrong_after=0)
    assert report.headline().startswith("Better on your faces: 7 fewer mistakes on 15 faces you named or corrected")
    assert report.plain_counts() == (
        "Naming 10 faces: 1 wrong before, 0 after; telling two faces apart (40 comparisons): 6 wrong before, 1 after. "
        "Of 5 faces you said are not someone, 2 were taken for them before, 1 after. "
        "Of the 4 faces you corrected, 1 was named wrong before, 0 after.")
    lines = "\n".join(report.lines())
    assert "(6 and 1 of 40 pairs wrong)" in lines and "(1 and 0 of 10 faces wrong)" in lines
    assert "held out: 2 and 1 of 5 taken for them" in lines
    assert "p = " not in report.headline() + report.plain_counts()  # the tests stay in the details
