"""Does bfloat16 change results that matter?  The same photos through the pipeline in
float32 and in bfloat16, compared face by face, and LFW pairs verified with each and with
the two mixed (a library half embedded one way, half the other).

    python benchmarks/precision_check.py                 # 100 full-size photos + LFW pairs.txt
    python benchmarks/precision_check.py --folds 2       # the first 2 LFW folds only

On a processor without bf16 matrix units torch emulates bf16 about 10x slower than float32:
the speed columns are then meaningless, the agreement columns are not (both paths multiply
bf16-rounded numbers into a float32 accumulator).  Tolerances (issue: scan speed): LFW
accuracy within 0.05 points of float32, every face found by both with box IoU >= 0.9.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import faces_dir, machine_line, print_table
from pipeline_speed import labelled_photos

from engine.evaluation.verification import embed_central_faces, fold_mistakes, pair_distances, read_lfw_pairs, unique_images
from engine.faces.images import PHOTO_EXTENSIONS
from engine.model_versions import DEFAULT_VERSION
from engine.faces.pipeline import FacePipeline, PhotoFaces
from engine.faces.precision import FP32, Precision, choose_precision

BF16 = Precision("bf16", "bfloat16 (forced)")


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def analysed(pipeline: FacePipeline, paths: list[Path]) -> tuple[float, list[PhotoFaces | None]]:
    start = time.perf_counter()
    results = [r if isinstance(r, PhotoFaces) else None for _p, r in pipeline.analyze_many(paths)]
    return time.perf_counter() - start, results


def compare_faces(plain: list[PhotoFaces | None], reduced: list[PhotoFaces | None]) -> dict[str, float]:
    """Faces paired greedily by IoU; embedding differences measured on the pairs."""
    matched, lost, added, ious, moves, scores = 0, 0, 0, [], [], []
    for a, b in zip(plain, reduced, strict=True):
        faces_a = a.faces if a else []
        faces_b = list(b.faces if b else [])
        for face in faces_a:
            best = max(faces_b, key=lambda other: box_iou(face.box, other.box), default=None)
            if best is None or box_iou(face.box, best.box) < 0.5:
                lost += 1
                continue
            faces_b.remove(best)
            matched += 1
            ious.append(box_iou(face.box, best.box))
            scores.append(abs(face.score - best.score))
            moves.append(float(DEFAULT_VERSION.distance(face.embedding[None], best.embedding[None])[0]))
        added += len(faces_b)
    return {
        "matched": matched, "lost": lost, "added": added,
        "min_iou": min(ious, default=1.0), "below_09": sum(i < 0.9 for i in ious),
        "max_score_diff": max(scores, default=0.0),
        "median_move": float(np.median(moves)) if moves else 0.0, "max_move": max(moves, default=0.0),
    }


def lfw_rows(folds: int) -> list[list[object]]:
    root = faces_dir() / "lfw_deepfunneled"
    pairs = [p for p in read_lfw_pairs(root / "pairs.txt", root) if p.fold < folds]
    images = unique_images(pairs)
    runs = {}
    for precision in (FP32, BF16):
        pipeline = FacePipeline(precision=precision)
        start = time.perf_counter()
        runs[precision.name] = (embed_central_faces(pipeline, images).embeddings, time.perf_counter() - start)
    plain, reduced = runs["fp32"][0], runs["bf16"][0]
    # a mixed library: every second image embedded in bf16
    mixed = {path: (reduced if i % 2 else plain)[path] for i, path in enumerate(images) if path in plain and path in reduced}
    threshold = DEFAULT_VERSION.threshold
    rows, wrong_at_level = [], {}
    for name, embeddings in (("float32", plain), ("bfloat16", reduced), ("mixed", mixed)):
        distances, same, fold_ids, dropped = pair_distances(pairs, embeddings, DEFAULT_VERSION.distance)
        protocol_wrong = fold_mistakes(distances, same, fold_ids)
        wrong_at_level[name] = (distances <= threshold) != same
        seconds = runs["fp32" if name == "float32" else "bf16"][1] if name != "mixed" else float("nan")
        k_fold = f"{100 * (1 - protocol_wrong.mean()):.2f}%" if folds > 1 else "- (one fold)"
        rows.append([name, len(distances), dropped, k_fold,
                     f"{100 * (1 - wrong_at_level[name].mean()):.2f}%", "-" if name == "mixed" else f"{seconds:.0f} s"])
    for name in ("bfloat16", "mixed"):
        flips = wrong_at_level[name] != wrong_at_level["float32"]
        rows.append([f"{name}: decisions changed at {threshold:.3f}", int(flips.sum()), "", "", "", ""])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--folds", type=int, default=10, help="LFW folds of pairs.txt to verify (0: none)")
    args = parser.parse_args()
    print(machine_line())
    print(f"this processor: {choose_precision('auto').reason}")
    root = faces_dir()
    photos = [path for path, _ in labelled_photos(root, args.photos)]
    photos += sorted(p for p in (root / "negatives").rglob("*") if p.suffix.lower() in PHOTO_EXTENSIONS)
    plain_seconds, plain = analysed(FacePipeline(precision=FP32), photos)
    reduced_seconds, reduced = analysed(FacePipeline(precision=BF16), photos)
    c = compare_faces(plain, reduced)
    print(f"\n{len(photos)} photos ({args.photos} full-size with people, the rest negatives), default pipeline\n")
    print_table(
        ["faces (fp32)", "found by both", "lost in bf16", "added in bf16", "lowest box IoU", "IoU < 0.9",
         "largest score change", "embedding moved (median / max)", "fp32 s", "bf16 s"],
        [[c["matched"] + c["lost"], c["matched"], c["lost"], c["added"], f"{c['min_iou']:.3f}", c["below_09"],
          f"{c['max_score_diff']:.4f}", f"{c['median_move']:.4f} / {c['max_move']:.4f}",
          f"{plain_seconds:.1f}", f"{reduced_seconds:.1f}"]],
    )
    if args.folds:
        print(f"\nLFW pairs.txt, folds 1-{args.folds}: accuracy by the k-fold protocol and at the model version's level\n")
        print_table(["embeddings", "pairs", "dropped", "k-fold accuracy", "accuracy at the level", "time"], lfw_rows(args.folds))


if __name__ == "__main__":
    main()
