"""Does bfloat16 (or the int8 detector) change results that matter?  The same photos through
the pipeline in float32 and in the reduced precision, compared face by face, and LFW pairs
verified with each and with the two mixed (a library half embedded one way, half the other).

    python benchmarks/precision_check.py                    # 100 full-size photos + LFW pairs.txt, bf16
    python benchmarks/precision_check.py --folds 2          # the first 2 LFW folds only
    python benchmarks/precision_check.py --precision int8   # the int8 detector, float32 embedder
    python benchmarks/precision_check.py --photos 0 --same-chips   # LFW, the embedder alone: all ten folds in bf16 here

`--same-chips` cuts each LFW image's central face once (float32) and embeds those chips in both
precisions.  In every reduced precision the detector's boxes are float32's (the first table,
and tests/test_precision.py), so the chips are the same and only the embedder's arithmetic
differs: all ten folds in emulated bf16 in minutes, where the whole pipeline took 851 s a fold.

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
import torch
from common import faces_dir, machine_line, print_table
from pipeline_speed import labelled_photos

from engine.evaluation.verification import (
    central_face_or_box,
    embed_central_faces,
    fold_mistakes,
    pair_distances,
    read_lfw_pairs,
    unique_images,
)
from engine.faces.images import PHOTO_EXTENSIONS
from engine.model_versions import DEFAULT_VERSION
from engine.faces.pipeline import FacePipeline, PhotoFaces, in_runs
from engine.faces.precision import FP32, Precision, choose_precision


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


def central_chips(paths: list[Path]) -> dict[Path, np.ndarray]:
    """Each image's central face (or the central box where none is found) as its aligned chip,
    cut by the float32 pipeline."""
    pipeline = FacePipeline(precision=FP32)

    def cut(chunk: list[Path]) -> list[tuple[Path, np.ndarray]]:
        done = []
        for path in chunk:
            images = pipeline.prepare(path)
            box, _ = central_face_or_box(pipeline, images.detect_rgb)
            _, chips = pipeline.points_and_chips(images, box, chips=True)
            done.append((path, chips[0]))
        return done

    return dict(in_runs(cut, paths, workers=torch.get_num_threads()))


def embedded_chips(precision: Precision, chips: dict[Path, np.ndarray], batch: int = 16) -> dict[Path, np.ndarray]:
    pipeline = FacePipeline(precision=precision)
    paths = list(chips)

    def embed(chunk: list[Path]) -> list[tuple[Path, np.ndarray]]:
        return list(zip(chunk, pipeline.embed_chips(np.stack([chips[path] for path in chunk])), strict=True))

    return dict(in_runs(embed, paths, workers=torch.get_num_threads(), run=batch))


def lfw_rows(folds: int, reduced_precision: Precision, same_chips: bool = False) -> list[list[object]]:
    root = faces_dir() / "lfw_deepfunneled"
    pairs = [p for p in read_lfw_pairs(root / "pairs.txt", root) if p.fold < folds]
    images = unique_images(pairs)
    runs = {}
    chips = central_chips(images) if same_chips else {}
    for key, precision in (("fp32", FP32), ("reduced", reduced_precision)):
        start = time.perf_counter()
        if same_chips:
            runs[key] = (embedded_chips(precision, chips), time.perf_counter() - start)
        else:
            runs[key] = (embed_central_faces(FacePipeline(precision=precision), images).embeddings, time.perf_counter() - start)
    plain, reduced = runs["fp32"][0], runs["reduced"][0]
    # a mixed library: every second image embedded in the reduced precision
    mixed = {path: (reduced if i % 2 else plain)[path] for i, path in enumerate(images) if path in plain and path in reduced}
    threshold = DEFAULT_VERSION.threshold
    rows, wrong_at_level = [], {}
    name_reduced = reduced_precision.detector if reduced_precision.detector_int8 else "bfloat16"
    for name, embeddings in (("float32", plain), (name_reduced, reduced), ("mixed", mixed)):
        distances, same, fold_ids, dropped = pair_distances(pairs, embeddings, DEFAULT_VERSION.distance)
        protocol_wrong = fold_mistakes(distances, same, fold_ids)
        wrong_at_level[name] = (distances <= threshold) != same
        seconds = runs["fp32" if name == "float32" else "reduced"][1] if name != "mixed" else float("nan")
        k_fold = f"{100 * (1 - protocol_wrong.mean()):.2f}%" if folds > 1 else "- (one fold)"
        rows.append([name, len(distances), dropped, k_fold,
                     f"{100 * (1 - wrong_at_level[name].mean()):.2f}%", "-" if name == "mixed" else f"{seconds:.0f} s"])
    for name in (name_reduced, "mixed"):
        flips = wrong_at_level[name] != wrong_at_level["float32"]
        rows.append([f"{name}: decisions changed at {threshold:.3f}", int(flips.sum()), "", "", "", ""])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--folds", type=int, default=10, help="LFW folds of pairs.txt to verify (0: none)")
    parser.add_argument("--precision", choices=("bf16", "int8"), default="bf16", help="the reduced precision to compare with float32")
    parser.add_argument("--same-chips", action="store_true", help="LFW: cut the chips once in float32, embed them in both precisions")
    args = parser.parse_args()
    print(machine_line())
    print(f"this processor: {choose_precision('auto').reason}")
    root = faces_dir()
    reduced_precision = choose_precision(args.precision)
    if args.photos == 0:
        print_lfw_table(args.folds, reduced_precision, args.same_chips)
        return
    photos = [path for path, _ in labelled_photos(root, args.photos)]
    photos += sorted(p for p in (root / "negatives").rglob("*") if p.suffix.lower() in PHOTO_EXTENSIONS)
    plain_seconds, plain = analysed(FacePipeline(precision=FP32), photos)
    name = args.precision
    reduced_seconds, reduced = analysed(FacePipeline(precision=reduced_precision), photos)
    c = compare_faces(plain, reduced)
    print(f"\n{len(photos)} photos ({args.photos} full-size with people, the rest negatives), default pipeline\n")
    print_table(
        ["faces (fp32)", "found by both", f"lost in {name}", f"added in {name}", "lowest box IoU", "IoU < 0.9",
         "largest score change", "embedding moved (median / max)", "fp32 s", f"{name} s"],
        [[c["matched"] + c["lost"], c["matched"], c["lost"], c["added"], f"{c['min_iou']:.3f}", c["below_09"],
          f"{c['max_score_diff']:.4f}", f"{c['median_move']:.4f} / {c['max_move']:.4f}",
          f"{plain_seconds:.1f}", f"{reduced_seconds:.1f}"]],
    )
    print_lfw_table(args.folds, reduced_precision, args.same_chips)


def print_lfw_table(folds: int, reduced_precision: Precision, same_chips: bool) -> None:
    if not folds:
        return
    how = "the same float32 chips embedded in each precision" if same_chips else "the whole pipeline in each precision"
    print(f"\nLFW pairs.txt, folds 1-{folds} ({how}): accuracy by the k-fold protocol and at the model version's level\n")
    print_table(["embeddings", "pairs", "dropped", "k-fold accuracy", "accuracy at the level", "time"],
                lfw_rows(folds, reduced_precision, same_chips))


if __name__ == "__main__":
    main()
