"""What CPU training from scratch reaches: the FaceNet Inception network trained for a
bounded time on LFW `peopleDevTrain.txt` identities (those with >= 5 images, at most 10
each), evaluated after every epoch on `pairsDevTest.txt` (1,000 pairs, 10-fold, the same
code as `facenet eval lfw`).  Compare: the paper's 99.63% (NN1 on 200M images), and the
pretrained dlib model's figure in this file.

    python benchmarks/lfw_from_scratch.py --minutes 10      # plus ~10 minutes of face preparation
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import faces_dir, machine_line, print_table

from engine.evaluation.verification import read_lfw_pairs, verification_report
from engine.faces.pipeline import FacePipeline
from engine.training.data import prepare_faces
from engine.training.models import embed_chips
from engine.training.trainer import TrainConfig, train


def link(images: list[Path], root: Path) -> None:
    for image in images:
        target = root / image.parent.name / image.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(image)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--input-size", type=int, default=96)
    args = parser.parse_args()
    print(machine_line())
    lfw = faces_dir() / "lfw_deepfunneled"
    train_images = []
    for line in (lfw / "peopleDevTrain.txt").read_text().splitlines()[1:]:
        name, count = line.split()
        if int(count) >= 5:
            train_images += sorted((lfw / name).glob("*.jpg"))[:10]
    pairs = read_lfw_pairs(lfw / "pairsDevTest.txt", lfw)
    test_images = sorted({p for pair in pairs for p in (pair.path_a, pair.path_b)})
    with tempfile.TemporaryDirectory() as scratch:
        train_root, test_root = Path(scratch) / "train", Path(scratch) / "test"
        link(train_images, train_root)
        link(test_images, test_root)
        start = time.perf_counter()
        pipeline = FacePipeline()
        faces = prepare_faces(train_root, lambda: pipeline)
        test_faces = prepare_faces(test_root, lambda: pipeline)
        print(f"faces prepared in {time.perf_counter() - start:.0f} s: train {faces.summary()}, test {test_faces.summary()}")
        index = {Path(p).name: i for i, p in enumerate(test_faces.paths)}
        a = np.array([index[p.path_a.name] for p in pairs])
        b = np.array([index[p.path_b.name] for p in pairs])
        same = np.array([p.same for p in pairs])
        folds = np.array([p.fold for p in pairs])
        rows = []
        started = time.perf_counter()

        def on_epoch(record, network, arch) -> None:  # noqa: ANN001
            vectors = embed_chips(network, arch, test_faces.chips)
            report = verification_report(np.linalg.norm(vectors[a] - vectors[b], axis=1), same, folds)
            rows.append([record.epoch, f"{(time.perf_counter() - started) / 60:.1f}", f"{record.loss:.4f}",
                         f"{record.active_triplets:.2f}", f"{100 * record.val_accuracy:.1f}%",
                         f"{100 * report.accuracy_mean:.1f}% ± {100 * report.accuracy_std:.1f}", f"{100 * report.val_mean:.1f}%"])
            print(rows[-1], flush=True)

        config = TrainConfig(data=str(train_root), out=str(Path(scratch) / "run"), arch="inception",
                             input_size=args.input_size, width=args.width, epochs=10_000, steps_per_epoch=50,
                             val_people=30, time_limit=args.minutes * 60)
        train(config, faces=faces, on_epoch=on_epoch)
    print(f"\nInception width {args.width}, {args.input_size} px, Adam 1e-3, 10 x 4 batches, semi-hard mining; "
          f"{faces.summary()['people']} people / {faces.summary()['faces']} faces")
    print_table(["epoch", "minutes", "train loss", "active triplets", "held-out DevTrain people acc.",
                 "pairsDevTest accuracy", "VAL@FAR=1e-3"], rows)


if __name__ == "__main__":
    main()
