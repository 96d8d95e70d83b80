"""`facenet train`: a face embedding trained with the triplet loss (FaceNet)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli.common import EXIT_INTERRUPTED, EXIT_OK, ProgressBar, cancel_on_ctrl_c, pipeline_factory
from engine.errors import Cancelled


def cmd_train(args: argparse.Namespace) -> int:
    from engine.training.trainer import TrainConfig, train

    config = TrainConfig(
        data=str(args.data), out=str(args.out), arch=args.arch, input_size=args.input_size, width=args.width,
        epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, people_per_batch=args.people_per_batch,
        faces_per_person=args.faces_per_person, optimizer=args.optimizer,
        lr=args.lr if args.lr is not None else (0.05 if args.optimizer == "adagrad" else 1e-3),
        margin=args.margin, mining=args.mining, fallback=args.fallback, val_people=args.val_people,
        augment=not args.no_augment, seed=args.seed, time_limit=args.time_limit,
    )
    bar = ProgressBar(args.quiet)

    def on_epoch(h, network, arch) -> None:  # noqa: ANN001
        if not args.quiet:
            bar.write(f"epoch {h.epoch}: loss {h.loss:.4f}, active triplets {h.active_triplets:.2f}, "
                      f"held-out accuracy {h.val_accuracy:.4f}")

    try:
        result, cancelled = train(config, pipeline_factory(args), progress=bar, cancel=cancel_on_ctrl_c(), on_epoch=on_epoch), False
    except Cancelled as stop:
        if stop.partial is None:  # stopped while the faces were being prepared
            bar.close()
            print("stopped before training began", file=sys.stderr)
            return EXIT_INTERRUPTED
        result, cancelled = stop.partial, True
    bar.close()
    if result.resumed_from_epoch:
        print(f"resumed after epoch {result.resumed_from_epoch} from {Path(args.out) / 'checkpoint.pt'}")
    print(f"data: {result.train_summary['train']} for training, {result.train_summary['validation']} held out")
    print(f"held-out verification accuracy before training: {result.initial_accuracy:.4f}")
    for h in result.history:
        print(f"epoch {h.epoch:3d}  loss {h.loss:.4f}  active triplets {h.active_triplets:.2f} ({h.triplets_per_batch:.0f}/batch)  "
              f"held-out accuracy {h.val_accuracy:.4f}  VAL@FAR=1e-3 {h.val_at_far:.4f}  threshold {h.threshold:.3f}  ({h.seconds:.0f} s)")
    if result.model_path:
        print(f"best model (held-out accuracy {result.best_accuracy:.4f}): {result.model_path}")
    if cancelled:
        print("stopped; run the same command again to continue from the last completed epoch", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def add_training_commands(commands, detection_options) -> None:  # noqa: ANN001
    from engine.training import ARCHITECTURES

    sub = commands.add_parser("train", help="train a face embedding with the triplet loss (FaceNet)")
    sub.add_argument("--data", required=True, type=Path, help="folder of person/images")
    sub.add_argument("--out", required=True, type=Path, help="folder for checkpoints and the model file")
    sub.add_argument("--arch", choices=ARCHITECTURES, default="inception")
    sub.add_argument("--input-size", type=int, default=None, help="inception input side in px (default 96)")
    sub.add_argument("--width", type=float, default=None, help="inception channel multiplier (default 0.5; NN2 = 1)")
    sub.add_argument("--epochs", type=int, default=10)
    sub.add_argument("--steps-per-epoch", type=int, default=50)
    sub.add_argument("--people-per-batch", type=int, default=10)
    sub.add_argument("--faces-per-person", type=int, default=4)
    sub.add_argument("--optimizer", choices=("adam", "adagrad", "sgd"), default="adam")
    sub.add_argument("--lr", type=float, default=None, help="default 1e-3 (adam, sgd) or 0.05 (adagrad, the paper's)")
    sub.add_argument("--margin", type=float, default=0.2)
    sub.add_argument("--mining", choices=("semi-hard", "batch-hard"), default="semi-hard")
    sub.add_argument("--fallback", choices=("hardest", "skip"), default="hardest",
                     help="a pair without a semi-hard negative takes its hardest one, or is skipped")
    sub.add_argument("--val-people", type=int, default=10, help="identities held out for validation")
    sub.add_argument("--no-augment", action="store_true")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--time-limit", type=float, default=None, metavar="SECONDS")
    sub.add_argument("--quiet", action="store_true")
    detection_options(sub)
    sub.set_defaults(handler=cmd_train)
