"""The fine-tune's drift penalty: the triplet loss alone moves every training face, even the
ones the current model already gets right; the penalty holds each face near its current
embedding, so that only what is wrong moves.  Real faces (ORL), a deliberately large
learning rate so that the movement is large enough to compare."""

from __future__ import annotations

import numpy as np
import pytest

from engine.training.acceptance import split_per_person

pytestmark = pytest.mark.slow


def _movement(faces, pipeline, drift_penalty: float) -> float:  # noqa: ANN001
    """Mean distance of the training faces from their current embeddings after fine-tuning."""
    from engine.training.finetune import FinetuneSettings, SplitNetwork, finetune, trunk_features, views_average
    from engine.training.models import build_network, default_config

    config = default_config("resnet")
    train, held = split_per_person(faces)
    settings = FinetuneSettings(steps=15, lr=1e-3, drift_penalty=drift_penalty, people_per_batch=5,
                                train_anyway=True)  # the measure here is the drift, not the verdict
    tuned, _report = finetune(build_network(config), config, train, held, settings, rotations=())
    split = SplitNetwork(tuned, config, "all")
    after = views_average(split, trunk_features(split, train.chips, ()))
    return float(np.linalg.norm(after - pipeline.embed_chips(train.chips), axis=1).mean())


def test_drift_penalty_keeps_faces_near_their_current_embedding(faces_dir, tmp_path) -> None:
    from engine.model_versions import DLIB_RESNET_V1
    from engine.faces.pipeline import FacePipeline
    from engine.training.data import prepare_faces

    pipeline = FacePipeline(model_version=DLIB_RESNET_V1)  # chip + mirror, the fine-tune's views with rotations=()
    for person in sorted(p for p in (faces_dir / "orl_att").iterdir() if p.is_dir())[:8]:
        (tmp_path / person.name).symlink_to(person)  # 8 people x 10 faces, read in place
    faces = prepare_faces(tmp_path, lambda: pipeline)
    assert len(faces.names) == 8 and len(faces.labels) == 80
    free, held = _movement(faces, pipeline, 0.0), _movement(faces, pipeline, 50.0)
    assert free > 0.05  # the plain triplet loss at this rate moves the faces a lot ...
    assert held < free / 3  # ... and the penalty keeps them close
