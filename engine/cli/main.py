"""The `facenet` command line: faces, verify, eval, and the parser and error handling of
every command (library commands: engine.cli.library; model versions: engine.cli.models)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path


from engine.logs import start_logging
from engine.cli.common import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, add_json_option, add_model_option, pipeline_factory
from engine.cli.library import add_library_commands
from engine.cli.training import add_training_commands
from engine.cli.models import add_model_commands
from engine.errors import Cancelled, EngineError, ImageLoadError, ModelFileError
from engine.user_files import printable_path
from engine.settings import DEFAULT_MIN_FACE_PX, VARIABLES
from engine.wording import printable_text



def _pipeline(args: argparse.Namespace):  # noqa: ANN202
    return pipeline_factory(args)()


def _face_record(face) -> dict:  # noqa: ANN001
    return {
        "box": [round(v, 2) for v in face.box],
        "score": round(face.score, 4),
        "landmarks": [[round(x, 2), round(y, 2)] for x, y in face.landmarks.tolist()],
    }


def cmd_faces(args: argparse.Namespace) -> int:
    pipeline = _pipeline(args)
    failed = 0
    results = []
    for photo in args.photos:
        try:
            found = pipeline.analyze(photo, embed=False)
        except ImageLoadError as exc:
            failed += 1
            print(f"error: {printable_path(exc.path)}: {exc.reason}", file=sys.stderr)
            results.append({"photo": printable_path(os.path.abspath(photo)), "error": exc.reason})
            continue
        record = {
            "photo": printable_path(os.path.abspath(found.path)),
            "width": found.width,
            "height": found.height,
            "faces": [_face_record(face) for face in found.faces],
        }
        results.append(record)
        if not args.json:
            print(f"{printable_path(photo)}: {len(found.faces)} face(s) in {found.width}x{found.height}")
            for i, face in enumerate(found.faces, start=1):
                x1, y1, x2, y2 = face.box
                marks = " ".join(f"({x:.0f},{y:.0f})" for x, y in face.landmarks)
                print(f"  face {i}: box [{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}] score {face.score:.3f} landmarks {marks}")
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
    return EXIT_ERROR if failed else EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    pipeline = _pipeline(args)
    version = pipeline.model_version
    largest = []
    for photo in (args.photo_a, args.photo_b):
        found = pipeline.analyze(photo)
        if not found.faces:
            print(f"error: no face found in {photo}", file=sys.stderr)
            return EXIT_ERROR
        largest.append(max(found.faces, key=lambda f: f.area))
    distance = float(version.distance(largest[0].embedding, largest[1].embedding))
    verdict = "same" if distance <= version.threshold else "different"
    if args.json:
        print(json.dumps({"distance": distance, "threshold": version.threshold, "model": version.name, "verdict": verdict}))
    else:
        print(f"distance {distance:.4f} (threshold {version.threshold:.4f}, {version.name}): {verdict}")
    return EXIT_OK


def cmd_eval_lfw(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from engine.evaluation.verification import embed_central_faces, pair_distances, read_lfw_pairs, unique_images, verification_report

    pairs = read_lfw_pairs(args.pairs, args.root)
    if args.limit:
        pairs = pairs[: args.limit]
    pipeline = _pipeline(args)
    paths = unique_images(pairs)
    with tqdm(total=len(paths), desc="embedding", unit="img", file=sys.stderr, disable=args.quiet) as bar:
        run = embed_central_faces(pipeline, paths, progress=lambda done, total: bar.update(1))
    distances, same, folds, dropped = pair_distances(pairs, run.embeddings, pipeline.model_version.distance)
    report = verification_report(distances, same, folds, far_target=args.far)
    summary = {
        "model": pipeline.model_version.name,
        "pairs": report.pairs,
        "pairs_dropped_unreadable": dropped,
        "images": len(paths),
        "no_face_fallback_images": len(run.fallbacks),
        "accuracy_mean": report.accuracy_mean,
        "accuracy_std": report.accuracy_std,
        "threshold_mean": report.threshold_mean,
        "val_at_far_mean": report.val_mean,
        "val_at_far_std": report.val_std,
        "far_target": report.far_target,
        "far_measured": report.far_mean,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"LFW verification, {report.pairs} pairs in {len(report.fold_accuracies)} folds ({pipeline.model_version.name})")
        print(f"  accuracy      {100 * report.accuracy_mean:.2f}% ± {100 * report.accuracy_std:.2f}")
        print(f"  VAL@FAR={args.far:g}  {100 * report.val_mean:.2f}% ± {100 * report.val_std:.2f} (measured FAR {report.far_mean:.4f})")
        print(f"  threshold     {report.threshold_mean:.4f} (mean over folds)")
        print(
            f"  images {len(paths)}: no face detected in {len(run.fallbacks)} "
            "(aligned inside the central box instead); unreadable "
            f"{len(run.failures)} ({dropped} pairs dropped)"
        )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facenet", description="FaceNet Desktop's engine: find, align and compare faces offline.",
        epilog="environment:\n" + "\n".join(f"  {name:<24} {what}" for name, what in VARIABLES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def detection_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--min-face", type=float, default=float(DEFAULT_MIN_FACE_PX), metavar="PX",
                         help=f"smallest face to find, in photo pixels (default {DEFAULT_MIN_FACE_PX})")
        sub.add_argument(
            "--max-megapixels", type=float, default=2.0, metavar="MP",
            help="detection budget per photo; larger photos are shrunk to it (default 2.0)",
        )
        sub.add_argument(
            "--quick-megapixels", type=float, default=0.5, metavar="MP",
            help="search a copy this small first, the full budget only if it has no face (default 0.5; 0 = off)",
        )

    faces = commands.add_parser("faces", help="list the faces in photos: box, score, landmarks")
    faces.add_argument("photos", nargs="+", metavar="PHOTO")
    add_json_option(faces)
    detection_options(faces)
    add_model_option(faces)
    faces.set_defaults(handler=cmd_faces)

    verify = commands.add_parser("verify", help="are the largest faces of two photos the same person?")
    verify.add_argument("photo_a", metavar="PHOTO_A")
    verify.add_argument("photo_b", metavar="PHOTO_B")
    add_json_option(verify)
    detection_options(verify)
    add_model_option(verify)
    verify.set_defaults(handler=cmd_verify)

    evaluate = commands.add_parser("eval", help="evaluate the pipeline on a benchmark")
    targets = evaluate.add_subparsers(dest="target", required=True)
    lfw = targets.add_parser("lfw", help="LFW 10-fold verification through detect -> align -> embed")
    lfw.add_argument("--root", required=True, type=Path, help="folder of person/person_NNNN.jpg images")
    lfw.add_argument("--pairs", required=True, type=Path, help="pairs.txt (or pairsDevTest.txt)")
    lfw.add_argument("--far", type=float, default=1e-3, help="false accept rate for VAL@FAR (default 1e-3)")
    lfw.add_argument("--limit", type=int, default=0, help="use only the first N pairs (quick checks)")
    add_json_option(lfw)
    lfw.add_argument("--quiet", action="store_true", help="no progress bar")
    detection_options(lfw)
    add_model_option(lfw)
    lfw.set_defaults(handler=cmd_eval_lfw)
    add_library_commands(commands, detection_options, targets)
    add_training_commands(commands, detection_options)
    add_model_commands(commands, detection_options)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    start_logging()
    try:
        code = int(args.handler(args))
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        # `facenet people | head`: the reader has all it wanted; say nothing more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Cancelled as exc:  # a command that has no report of its own for a stop
        print(str(exc), file=sys.stderr)
        return EXIT_INTERRUPTED
    except ImageLoadError as exc:
        print(f"error: {printable_text(exc.path)}: {printable_text(exc.reason)}", file=sys.stderr)
        return EXIT_ERROR
    except ModelFileError as exc:
        print(f"error: model file problem: {printable_text(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except EngineError as exc:
        print(f"error: {printable_text(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
