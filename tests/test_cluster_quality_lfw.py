"""Clustering quality on real faces: LFW identities with at least 10 images, through the
whole scan -> cluster path (`facenet eval clusters`).  Every second such identity (79 of 158)
and five images of each keep the run to about a minute on 2 cores; benchmarks/cluster_quality.py
runs every image of all 158."""

from __future__ import annotations

import pytest

from engine.library.jobs.cluster_eval import evaluate_clusters

pytestmark = pytest.mark.slow
IMAGES_PER_PERSON = 5
IDENTITY_STEP = 2


@pytest.fixture(scope="module")
def lfw_people_folder(faces_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("lfw10")
    folders = sorted(p for p in (faces_dir / "lfw_deepfunneled").iterdir() if p.is_dir())
    people = [person for person in folders if len(list(person.glob("*.jpg"))) >= 10]
    assert len(people) == 158
    for person in people[::IDENTITY_STEP]:
        (root / person.name).mkdir()
        for image in sorted(person.glob("*.jpg"))[:IMAGES_PER_PERSON]:
            (root / person.name / image.name).symlink_to(image)
    return root


def test_clusters_match_identities(lfw_people_folder, pipeline) -> None:
    quality, details = evaluate_clusters(lfw_people_folder, lambda: pipeline)
    print(quality, details)
    assert quality.faces >= 79 * IMAGES_PER_PERSON - 3
    # A wrong merge is worse than a split: precision is held high, recall follows.
    # Reached on these 79 identities (dlib-resnet-v1-views6 at 0.475): 79 clusters, pairwise P 0.993
    # R 0.914, BCubed P 0.996 R 0.931, 4.3% unsorted.  On all 158 (benchmarks/RESULTS.md): pairwise
    # P 0.977 R 0.921, BCubed P 0.990 R 0.937.
    assert quality.pairwise_precision >= 0.96
    assert quality.bcubed_precision >= 0.98
    assert quality.bcubed_recall >= 0.90
    assert quality.unsorted_share <= 0.08
    assert 70 <= quality.clusters <= 88
