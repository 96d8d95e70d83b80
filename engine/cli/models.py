"""`facenet finetune` and `facenet model list|use`: the library's model versions."""

from __future__ import annotations

import argparse
import json
import sys

from engine.errors import Cancelled
from engine.cli.common import EXIT_INTERRUPTED, EXIT_OK, ProgressBar, add_json_option, cancel_on_ctrl_c, library_options, open_library, pipeline_factory
from engine.wording import counted


def _switch(library, name: str, args: argparse.Namespace, bar: ProgressBar, description: str | None = None) -> int:  # noqa: ANN001
    from engine.library.jobs.tasks import apply_model

    try:  # the window's steps (engine.library.jobs.tasks)
        applied = apply_model(library, name, bar, cancel_on_ctrl_c(), description)
    except Cancelled as stop:
        bar.close()
        print(f"stopped after embedding {counted(stop.partial.embedded, 'face')}; nothing changed in the library. "
              f"Run `facenet model use {name}` to continue.", file=sys.stderr)
        return EXIT_INTERRUPTED
    bar.close()
    print(f"now using {name}: {counted(applied.embedded, 'face')} embedded, {counted(applied.reused, 'embedding')} reused"
          + (f", {counted(applied.left_out, 'face')} left on their old version (photo unreadable)" if applied.left_out else "")
          + f" ({applied.seconds:.1f} s); faces not labelled by hand grouped again: {applied.changes}"
          + ". `facenet undo` switches back.")
    return EXIT_OK


def cmd_finetune(args: argparse.Namespace) -> int:
    from engine.library.jobs.finetune_job import propose_finetune, save_finetuned
    from engine.library.storage.model_registry import remove_orphan_candidates
    from engine.training.finetune import FinetuneSettings

    chosen = {k: v for k, v in (
        ("trainable", args.trainable), ("steps", args.steps), ("lr", args.lr), ("drift_penalty", args.drift_penalty),
        ("batches", args.batches)) if v is not None}
    chosen["train_anyway"] = args.train_anyway
    settings = FinetuneSettings(seed=args.seed, **chosen)
    bar = ProgressBar(args.quiet)
    with open_library(args, writes=True) as library:
        remove_orphan_candidates(library)
        pipeline = pipeline_factory(args, library)()
        try:
            outcome = propose_finetune(library, pipeline, settings, bar, cancel_on_ctrl_c())
        except Cancelled:
            bar.close()
            print("fine-tuning stopped; nothing changed", file=sys.stderr)
            return EXIT_INTERRUPTED
        bar.close()
        report = outcome.report
        if args.json:
            print(json.dumps(report.to_dict(), indent=2))
        else:
            print(report.headline())
            print(report.plain_counts())
            print("details:\n  " + "\n  ".join(report.lines()))
        if not report.accepted:
            return EXIT_OK
        if args.dry_run:
            print("--dry-run: not applied")
            return EXIT_OK
        if not args.yes and sys.stdin.isatty():
            answer = input(f"apply {outcome.version.name} and re-embed every face? [y/N] ").strip().lower()
            if answer not in ("y", "yes"):
                print("not applied")
                return EXIT_OK
        path = save_finetuned(library, outcome)
        print(f"saved {outcome.version.name} ({path})")
        from engine.library.jobs.tasks import SWITCHED_TO_FINETUNED

        return _switch(library, outcome.version.name, args, ProgressBar(args.quiet), SWITCHED_TO_FINETUNED)


def cmd_model_list(args: argparse.Namespace) -> int:
    from engine.library.storage.model_registry import list_models

    with open_library(args) as library:
        for record in list_models(library):
            line = f"{'*' if record.active else ' '} {record.name}"
            if record.parent:
                line += f"  (from {record.parent}, {record.created_at})"
            line += f"  {counted(record.faces, 'face')} embedded"
            if record.report:
                b, a = record.report["before"], record.report["after"]
                line += (f"  held-out verification error {b['verification_error']:.2%} -> {a['verification_error']:.2%}, "
                         f"recognition error {b['recognition_error']:.2%} -> {a['recognition_error']:.2%}")
            print(line)
    return EXIT_OK


def cmd_model_use(args: argparse.Namespace) -> int:
    from engine.library.storage.model_registry import version_named

    with open_library(args, writes=True) as library:
        version_named(library, args.version)  # a clear error for an unknown name
        return _switch(library, args.version, args, ProgressBar(args.quiet))


def add_model_commands(commands, detection_options) -> None:  # noqa: ANN001
    db = library_options(quiet=True)
    finetune = commands.add_parser(
        "finetune", parents=[db],
        help="fine-tune the model on your hand-labelled faces; applied only if better on held-out faces")
    finetune.add_argument("--steps", type=int, help="training steps (default: FinetuneSettings.steps)")
    finetune.add_argument("--lr", type=float, help="Adam learning rate (default: FinetuneSettings.lr)")
    finetune.add_argument("--drift-penalty", type=float,
                          help="weight keeping each face near its current embedding; 0 for the plain triplet loss")
    finetune.add_argument("--batches", choices=("lookalike", "random"),
                          help="lookalike: each batch is a person and the people the model finds most alike (the default)")
    finetune.add_argument("--trainable", choices=("late", "all"),
                          help="late: only the later stages and the head train (the default)")
    finetune.add_argument("--seed", type=int, default=0)
    finetune.add_argument("--train-anyway", action="store_true",
                          help="train even when the current model makes too few mistakes on the held-out faces "
                               "for any result to pass (it is refused either way)")
    finetune.add_argument("--yes", action="store_true", help="apply an accepted model without asking")
    finetune.add_argument("--dry-run", action="store_true", help="measure only; never apply")
    add_json_option(finetune)
    detection_options(finetune)
    finetune.set_defaults(handler=cmd_finetune)
    model = commands.add_parser("model", help="model versions of the library: list, use")
    actions = model.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[db], help="every version; * marks the active one")
    listing.set_defaults(handler=cmd_model_list)
    use = actions.add_parser("use", parents=[db], help="switch to a version (embeddings kept or recomputed)")
    use.add_argument("version", metavar="VERSION")
    use.set_defaults(handler=cmd_model_use)
