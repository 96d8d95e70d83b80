"""Verification metrics against brute force and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluation.verification import (
    accuracy_at,
    best_threshold,
    read_lfw_pairs,
    threshold_at_far,
    verification_report,
)


def test_accuracy_hand_computed() -> None:
    d = np.array([0.1, 0.5, 0.7, 0.9])
    same = np.array([True, True, False, False])
    assert accuracy_at(d, same, 0.6) == 1.0
    assert accuracy_at(d, same, 0.3) == 0.75  # the 0.5 same-pair is rejected
    assert accuracy_at(d, same, 0.8) == 0.75  # the 0.7 different-pair is accepted


def test_best_threshold_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        same = rng.random(200) < 0.5
        d = np.where(same, rng.normal(0.4, 0.15, 200), rng.normal(0.8, 0.15, 200))
        chosen = best_threshold(d, same)
        brute = max(accuracy_at(d, same, t) for t in np.concatenate([d, [d.min() - 1]]))
        assert accuracy_at(d, same, chosen) == pytest.approx(brute)


def test_threshold_at_far_allows_at_most_the_target() -> None:
    different = np.arange(1, 1001) / 1000.0  # 1000 different pairs at 0.001 .. 1.0
    same_d = np.array([0.0005, 0.0015, 0.5])
    d = np.concatenate([same_d, different])
    same = np.concatenate([np.ones(3, bool), np.zeros(1000, bool)])
    t = threshold_at_far(d, same, 1e-3)  # one false accept allowed: accept 0.001 only
    assert np.sum(different <= t) == 1
    assert 0.001 <= t < 0.002


def test_report_on_separable_data_is_perfect_and_uses_folds() -> None:
    same = np.tile([True, False], 500)
    d = np.where(same, 0.3, 0.9)
    folds = np.arange(1000) // 100  # each fold holds 50 same and 50 different pairs
    report = verification_report(d, same, folds)
    assert report.accuracy_mean == 1.0 and report.accuracy_std == 0.0
    assert len(report.fold_accuracies) == 10
    assert report.val_mean == 1.0 and report.far_mean == 0.0


def test_report_held_out_fold_is_not_used_for_its_threshold() -> None:
    """One fold whose labels are flipped must score 0: its threshold came from the others."""
    same = np.tile([True, False], 100)
    d = np.where(same, 0.2, 0.8)
    folds = np.arange(200) // 20
    flipped = folds == 3
    labels = np.where(flipped, ~same, same)
    report = verification_report(d, labels, folds)
    assert report.fold_accuracies[3] == 0.0
    assert report.fold_accuracies[0] == 1.0


def test_read_pairs_formats(tmp_path) -> None:
    official = tmp_path / "pairs.txt"
    official.write_text("2\t1\nAnn\t1\t2\nBob\t1\tCid\t3\nDee\t2\t4\nEve\t1\tFay\t1\n")
    pairs = read_lfw_pairs(official, tmp_path)
    assert [p.same for p in pairs] == [True, False, True, False]
    assert [p.fold for p in pairs] == [0, 0, 1, 1]
    assert pairs[0].path_a == tmp_path / "Ann" / "Ann_0001.jpg"
    assert pairs[1].path_b == tmp_path / "Cid" / "Cid_0003.jpg"
    dev = tmp_path / "dev.txt"
    dev.write_text("3\n" + "Ann\t1\t2\n" * 3 + "Bob\t1\tCid\t1\n" * 3)
    dev_pairs = read_lfw_pairs(dev, tmp_path, num_folds=2)
    assert [p.fold for p in dev_pairs] == [0, 1, 0, 0, 1, 0]


def test_real_pairs_files(faces_dir) -> None:
    root = faces_dir / "lfw_deepfunneled"
    pairs = read_lfw_pairs(root / "pairs.txt", root)
    assert len(pairs) == 6000 and sum(p.same for p in pairs) == 3000
    assert sorted(set(p.fold for p in pairs)) == list(range(10))
    assert all(p.path_a.exists() and p.path_b.exists() for p in pairs[:200])


def test_fold_mistakes_are_the_reports_decisions_pair_by_pair() -> None:
    """Per-pair mistakes at each fold's threshold (chosen on the other folds) average to the
    report's error when the folds are equal in size."""
    from engine.evaluation.verification import fold_mistakes, verification_report

    rng = np.random.default_rng(0)
    same = np.repeat([True, False], 50)
    distances = np.where(same, rng.normal(0.6, 0.15, 100), rng.normal(1.0, 0.15, 100))
    folds = rng.permutation(100) % 10
    wrong = fold_mistakes(distances, same, folds)
    assert wrong.mean() == pytest.approx(1 - verification_report(distances, same, folds).accuracy_mean)
    assert 0 < wrong.sum() < 30
    # Brute force for one fold.
    from engine.evaluation.verification import best_threshold

    test = folds == 3
    threshold = best_threshold(distances[~test], same[~test])
    assert wrong[test].tolist() == ((distances[test] <= threshold) != same[test]).tolist()


def test_central_faces_in_runs_of_workers_match_one_stream(faces_dir, pipeline, tmp_path) -> None:
    from engine.evaluation.verification import embed_central_faces

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    paths = sorted((faces_dir / "lfw_deepfunneled" / "Colin_Powell").glob("*.jpg"))[:7] + [broken]
    one = embed_central_faces(pipeline, paths, workers=1)
    runs = embed_central_faces(pipeline, paths, workers=2)
    assert list(runs.embeddings) == list(one.embeddings) and len(one.embeddings) == 7
    assert runs.failures == one.failures and [p for p, _ in one.failures] == [broken]
    assert runs.fallbacks == one.fallbacks
    for path, vector in one.embeddings.items():
        np.testing.assert_allclose(runs.embeddings[path], vector, atol=1e-5)
