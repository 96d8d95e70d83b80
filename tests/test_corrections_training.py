"""The fine-tune learns first from what the user corrected (issue 35, part 3): corrections
drawn more often and held out in their share, rejected faces and the other faces of a photo
as negatives for exactly the people they are known not to be."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.training.acceptance import split_per_person
from engine.training.data import FaceSet, IdentityBatches, KnownNegatives
from engine.training.triplet import mine_semi_hard


def face_set(people: int, per_person: int, corrected_per_person: int) -> FaceSet:
    labels = np.repeat(np.arange(people), per_person)
    corrections = np.tile(np.arange(per_person) < corrected_per_person, people)
    return FaceSet(np.zeros((len(labels), 2, 2, 3), np.uint8), labels, [f"p{i}" for i in range(people)],
                   [f"{i}.jpg" for i in range(len(labels))], 0, list(range(len(labels))), corrections)


def test_a_known_negative_is_a_negative_only_for_the_people_it_is_known_not_to_be() -> None:
    # Two faces of person 0 close together, one of person 1 far away, and two faces with no
    # name: X, nearest to the anchor, is known only not to be person 1; Y, a little farther,
    # is known not to be person 0 (say a sister the user rejected).
    embeddings = torch.tensor([[0.0, 0.0], [0.3, 0.0], [5.0, 5.0], [0.05, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1, -1, -2])
    allowed = torch.ones(5, 5, dtype=torch.bool)
    allowed[:3, 3] = torch.tensor([False, False, True])  # X: not person 1
    allowed[:3, 4] = torch.tensor([True, True, False])  # Y: not person 0
    triplets = mine_semi_hard(embeddings, labels, margin=0.2, known_negatives=allowed)
    pairs = {(a, p): n for a, p, n in zip(triplets.anchor.tolist(), triplets.positive.tolist(),
                                           triplets.negative.tolist(), strict=True)}
    # No negative is semi-hard (d2(a, p) = 0.09; X is nearer, Y and person 1 far beyond the
    # margin), so each pair takes its hardest negative: X for anyone who may use it, but X
    # is not known to be someone else than person 0, so for person 0 it is Y.
    assert pairs == {(0, 1): 4, (1, 0): 4}
    without = mine_semi_hard(embeddings, labels, margin=0.2)  # X is anybody's negative there
    assert without.negative.tolist() == [3, 3]


def test_the_held_out_faces_hold_their_share_of_the_corrections() -> None:
    faces = face_set(people=8, per_person=10, corrected_per_person=5)
    for seed in range(3):
        train, held = split_per_person(faces, held_out_share=0.3, seed=seed)
        for person in range(8):
            mine = held.labels == held.names.index(f"p{person}")
            # 3 of 10 held out: round(3 x 5/10) = 2 of the 5 corrections, 1 of the 5 others.
            assert int(held.corrections[mine].sum()) == 2 and int((~held.corrections[mine]).sum()) == 1
        assert len(train.labels) == 8 * 7 and int(train.corrections.sum()) == 8 * 3


def test_corrections_are_drawn_more_often_in_the_batches() -> None:
    faces = face_set(people=4, per_person=12, corrected_per_person=3)
    weights = 1.0 + 3.0 * faces.corrections
    drawn = np.concatenate([IdentityBatches(faces.labels, 4, 4, seed=0, weights=weights).next_batch() for _ in range(1)]
                           + [IdentityBatches(faces.labels, 4, 4, seed=s, weights=weights).next_batch() for s in range(1, 200)])
    plain = np.concatenate([IdentityBatches(faces.labels, 4, 4, seed=s).next_batch() for s in range(200)])
    # A quarter of the faces are corrections: drawn evenly a quarter of the time, weighted
    # 4:1 about 4 x 3 / (4 x 3 + 9) = 57% of the time.
    assert abs(faces.corrections[plain].mean() - 0.25) < 0.05
    assert faces.corrections[drawn].mean() > 0.45


def test_the_negative_feed_marks_each_face_a_negative_for_its_own_people_only() -> None:
    from engine.training.finetune import FinetuneSettings, NegativeFeed

    class Trunkless:  # the trunk is the identity: features are the chips' first pixels
        head_start = 0
        network = torch.nn.Identity()

        def trunk(self, chips: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(chips.reshape(len(chips), -1)[:, :2].astype(np.float32))

        def head(self, features: torch.Tensor) -> torch.Tensor:
            return features

    negatives = KnownNegatives(np.arange(3 * 150 * 150 * 3, dtype=np.uint8).reshape(3, 150, 150, 3) % 7,
                               [frozenset({"Anna"}), frozenset({"Ben", "Anna"}), frozenset({"Cleo"})], [11, 12, 13])
    feed = NegativeFeed(Trunkless(), negatives, ["Anna", "Ben", "Cleo"], (), FinetuneSettings(negatives_per_batch=5))
    feed.measure_current()
    labels = torch.tensor([1, 1, 2, 2])  # Ben and Cleo in the batch: faces 12 and 13 come, 11 not
    features = torch.zeros(4, 2, 2)[:, 0]
    _, _, all_labels, allowed = feed.extend(features, features, labels, torch.Generator().manual_seed(0))
    assert len(all_labels) == 6 and (all_labels[4:] < 0).all()
    columns = {}
    for column in (4, 5):
        known_not = {int(labels[row]) for row in range(4) if allowed[row, column]}
        columns[column] = known_not
    assert sorted(map(sorted, columns.values())) == [[1], [2]]  # 12: not Ben (Anna is not here); 13: not Cleo


@pytest.mark.slow
def test_training_faces_on_real_photos_know_corrections_rejections_and_photo_mates(tmp_path, faces_dir, pipeline) -> None:
    from lfw_folders import link_lfw_people

    from engine.library.edits import editing
    from engine.library.identities.grouping import cluster_library
    from engine.library.identities.labelled_faces import training_faces
    from engine.library.jobs.scan import scan_folders
    from engine.library.storage.store import Library

    photos = link_lfw_people(faces_dir, tmp_path / "Photos",
                             {"Colin_Powell": 12, "Tony_Blair": 12, "Hugo_Chavez": 3})
    with Library(tmp_path / "lib.db") as library:
        scan_folders(library, [photos], lambda: pipeline)
        central = {}  # photo -> its person's face: the largest in an LFW photo
        for row in library.query("SELECT ph.id AS photo, ph.path, f.id FROM photos ph JOIN faces f ON f.photo_id = ph.id "
                                 "ORDER BY (f.x2-f.x1)*(f.y2-f.y1)"):
            central[row["photo"]] = (row["path"].split("/")[-2], row["id"])
        cluster_library(library)
        colin = [face for person, face in central.values() if person == "Colin_Powell"]
        group = library.scalar("SELECT person_id FROM faces WHERE id = ?", [colin[0]])
        editing.name_person(library, group, "Colin_Powell")  # named with their group: not corrections
        for person, face in central.values():
            if person != "Hugo_Chavez" and library.scalar(
                    "SELECT p.name FROM faces f LEFT JOIN people p ON p.id = f.person_id WHERE f.id = ?", [face]) != person:
                editing.move_faces(library, [face], person, create=True)  # one by one: corrections
        hugo = [face for person, face in central.values() if person == "Hugo_Chavez"]
        editing.move_faces(library, hugo[:1], "Tony_Blair")
        editing.reject_face(library, hugo[0])  # "not Tony": a rejection, back to Unsorted
        faces, negatives = training_faces(library, pipeline)

        confirmed = dict(library.db.execute("SELECT id, confirmed FROM faces").fetchall())
        assert faces.corrections.tolist() == [bool(confirmed[f]) for f in faces.face_ids]
        assert faces.corrections.any() and not faces.corrections.all()
        known = dict(zip(negatives.face_ids, negatives.not_people, strict=True))
        assert known[hugo[0]] >= {"Tony_Blair"}
        assert negatives.rejected.tolist() == [f == hugo[0] for f in negatives.face_ids]
        labelled = set(faces.face_ids)
        mates = library.query("SELECT f.id, f.photo_id FROM faces f")
        named_in_photo: dict[int, set[str]] = {}
        for row in library.query("SELECT f.id, f.photo_id, p.name FROM faces f JOIN people p ON p.id = f.person_id"):
            if row["id"] in labelled:
                named_in_photo.setdefault(row["photo_id"], set()).add(row["name"])
        photo_mates = [r["id"] for r in mates if r["photo_id"] in named_in_photo and r["id"] not in labelled]
        assert photo_mates, "some of these LFW photos show a second face"
        for face in photo_mates:
            photo = next(r["photo_id"] for r in mates if r["id"] == face)
            assert known[face] >= named_in_photo[photo]
        assert not set(negatives.face_ids) & labelled
        assert negatives.chips.shape == (len(negatives), 150, 150, 3)
        # Reading the named faces reports its progress with the time left, and stops on Cancel.
        from engine.errors import Cancelled
        from engine.jobs import CancelToken

        seen = []
        token = CancelToken()

        def cancel_at_third(progress) -> None:  # noqa: ANN001
            seen.append(progress)
            if len(seen) == 3:
                token.cancel()

        with pytest.raises(Cancelled):
            training_faces(library, pipeline, progress=cancel_at_third, cancel=token)
        assert len(seen) == 3 and all(p.phase == "reading your named faces" and p.eta_seconds is not None for p in seen)


def test_a_held_out_face_known_not_to_be_someone_is_a_mistake_when_taken_for_them() -> None:
    """Hand-placed: Anna's training faces near 0, Ben's near 10 (one dimension)."""
    from engine.training.acceptance import errors_from_vectors

    train = FaceSet(np.zeros((10, 2, 2, 3), np.uint8), np.repeat([0, 1], 5), ["Anna", "Ben"], [""] * 10, 0)
    held = FaceSet(np.zeros((4, 2, 2, 3), np.uint8), np.array([0, 0, 1, 1]), ["Anna", "Ben"], [""] * 4, 0)
    references = np.concatenate([np.linspace(0, 0.4, 5), np.linspace(10, 10.4, 5)])[:, None]
    queries = np.array([[0.1], [0.2], [10.1], [10.2]])
    negatives = np.array([[0.3], [9.8], [0.2]])  # near Anna, near Ben, near Anna
    not_people = [frozenset({"Anna"}), frozenset({"Anna"}), frozenset({"Ben"})]
    errors = errors_from_vectors(queries, references, train, held, 0, negatives, not_people)
    assert errors.negative_queries == 3 and errors.wrong_negatives == (0,)  # only the first is taken for Anna
    assert errors.wrong_queries == () and errors.mistakes == len(errors.wrong_pairs) + 1


def test_known_negatives_split_into_disjoint_parts_and_only_rejections_judge() -> None:
    rejected = np.arange(50) % 2 == 0  # the others only share a photo with Anna
    negatives = KnownNegatives(np.zeros((50, 2, 2, 3), np.uint8), [frozenset({"Anna"})] * 50, list(range(100, 150)),
                               rejected)
    train, held = negatives.split(0.3, seed=4)
    assert sorted(train.face_ids + held.face_ids) == list(range(100, 150))
    assert 2 <= len(held) <= 15 and len(train.chips) == len(train.not_people) == len(train)
    assert held.rejected.all() and all((f - 100) % 2 == 0 for f in held.face_ids)


def _report_with_impostors(before: np.ndarray, after: np.ndarray, labels: np.ndarray):  # noqa: ANN202
    from engine.training.finetune import FinetuneReport, impostor_distances

    report = FinetuneReport(None, None, None, 0, 0, len(labels), 0, 0.0, 0.6, 0.6, {})  # type: ignore[arg-type]
    report.impostors_before = impostor_distances(before, labels)
    report.impostors_after = impostor_distances(after, labels)
    return report


def _share_below(vectors: np.ndarray, labels: np.ndarray, level: float) -> float:
    """Brute force: the share of pairs of different people closer than `level`."""
    pairs = [(i, j) for i in range(len(labels)) for j in range(i + 1, len(labels)) if labels[i] != labels[j]]
    return float(np.mean([np.linalg.norm(vectors[i] - vectors[j]) < level for i, j in pairs]))


def test_a_spread_out_fine_tuned_space_keeps_its_strangers_apart_at_its_new_levels() -> None:
    """A fine-tune that spreads the whole space by 1.3 asks its pages and group questions at
    levels 1.3 times as far (the linkages, on squared distances, 1.69 times), and a bent space
    at the level where the same share of strangers falls, by brute force; the levels that name
    or group without asking, and the single-face questions, never loosen."""
    from engine.library.jobs.finetune_job import recalibrated
    from engine.model_versions import ModelVersion

    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(40), 4)
    centres = rng.normal(size=(40, 8)) * 0.3
    before = centres[labels] + rng.normal(size=(len(labels), 8)) * 0.1
    parent = ModelVersion(name="base", architecture="resnet", embedding_size=8, l2_normalize=False, threshold=0.6,
                          calibration="", cluster_linkage=0.36, auto_assign_distance=0.5, suggest_distance=0.55,
                          group_suggest_linkage=0.3)
    spread = recalibrated(parent, _report_with_impostors(before, 1.3 * before, labels), "tuned")
    assert spread.threshold == pytest.approx(0.6 * 1.3, rel=1e-6)
    assert spread.suggest_distance == 0.55  # a face question per face: the pages ask the rest
    assert spread.group_suggest_linkage == pytest.approx(0.3 * 1.69, rel=1e-6)
    assert spread.auto_assign_distance == 0.5 and spread.cluster_linkage == pytest.approx(0.36)  # never looser

    bent = before * (1 + np.linalg.norm(before, axis=1, keepdims=True))  # farther out, spread more
    version = recalibrated(parent, _report_with_impostors(before, bent, labels), "tuned")
    share = _share_below(before, labels, parent.threshold)
    assert 0.002 < share < 0.5  # within the shares measured, so the match is by interpolation
    assert _share_below(bent, labels, version.threshold) == pytest.approx(share, abs=0.01)

    shrunk = recalibrated(parent, _report_with_impostors(before, 0.8 * before, labels), "tuned")
    assert shrunk.auto_assign_distance == pytest.approx(0.5 * 0.8, rel=1e-6)  # stricter follows the space
    assert shrunk.threshold == pytest.approx(0.6 * 0.8, rel=1e-6)


def test_without_enough_strangers_held_out_the_levels_follow_the_threshold_and_never_loosen() -> None:
    from engine.library.jobs.finetune_job import recalibrated
    from engine.model_versions import ModelVersion
    from engine.training.finetune import FinetuneReport, impostor_distances

    labels = np.array([0, 0, 1, 1])
    assert impostor_distances(np.eye(4), labels) == []  # 4 pairs of strangers: too few to say
    parent = ModelVersion(name="base", architecture="resnet", embedding_size=4, l2_normalize=False, threshold=0.6,
                          calibration="", cluster_linkage=0.36, auto_assign_distance=0.5, suggest_distance=0.55,
                          group_suggest_linkage=0.3)
    looser = FinetuneReport(None, None, None, 0, 0, 4, 0, 0.0, 0.6, 0.9, {})  # type: ignore[arg-type]
    assert recalibrated(parent, looser, "tuned").threshold == 0.6
    stricter = FinetuneReport(None, None, None, 0, 0, 4, 0, 0.0, 0.6, 0.48, {})  # type: ignore[arg-type]
    assert recalibrated(parent, stricter, "tuned").suggest_distance == pytest.approx(0.55 * 0.8)
