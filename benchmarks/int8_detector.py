"""The detector network in int8: how far its scores move, what the float32 rescoring near
the threshold costs, and whether the boxes stay float32's, on real photos.

    python benchmarks/int8_detector.py               # 100 full-size photos, negatives, 300 LFW photos
    python benchmarks/int8_detector.py --calibrate   # the activation limits engine/dlib/mmod_int8.py holds

The limits are calibrated on 40 LFW photos that the evaluation does not use.  Photos are
searched at the full detection budget (2 MP; the app searches 0.5 MP first).  Times are for
the network alone (one torch thread), the pyramid and NMS excluded; "int8 + rescoring" is
what the detector does in the app.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
import torch
from common import faces_dir, machine_line, print_table
from pipeline_speed import labelled_photos

from engine.dlib.model_files import default_model_files
from engine.dlib.mmod_int8 import LEVELS, int8_supported
from engine.faces.detector import EXACT_MARGIN, FaceDetector
from engine.faces.images import PHOTO_EXTENSIONS
from engine.faces.pipeline import FacePipeline
from engine.faces.precision import FP32, choose_precision

CALIBRATION_PHOTOS = 40


def lfw_photos(root: Path) -> list[Path]:
    photos = sorted((root / "lfw_deepfunneled").glob("*/*.jpg"))
    random.Random(0).shuffle(photos)
    return photos


def calibrate(pipeline: FacePipeline, photos: list[Path]) -> list[float]:
    """Least-error limits of each hidden layer's output (torch's HistogramObserver, 7 bits)."""
    from torch.ao.quantization.observer import HistogramObserver

    convs = list(pipeline.detector.network.convs[:-1])
    observers = [HistogramObserver(dtype=torch.quint8, quant_min=0, quant_max=LEVELS) for _ in convs]
    with torch.inference_mode():
        for path in photos:
            x, _ = pipeline.detector.tiled_input(detection_copy(pipeline, path))
            for conv, observer in zip(convs, observers, strict=True):
                x = torch.relu(conv(x))
                observer(x)
    return [float(observer.calculate_qparams()[0]) * LEVELS for observer in observers]


def detection_copy(pipeline: FacePipeline, path: Path) -> np.ndarray:
    return pipeline._detection_copy(pipeline.decode(path), pipeline.settings.max_detect_megapixels).detect_rgb


def timed(fn, *args):  # noqa: ANN001, ANN002, ANN202
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def evaluate(name: str, photos: list[Path], pipeline: FacePipeline, plain: FaceDetector, int8: FaceDetector) -> list[object]:
    threshold = pipeline.settings.score_threshold
    margin = EXACT_MARGIN["int8"]
    worst_drop, worst_anywhere, near, cells, same_boxes, faces, score_change = 0.0, 0.0, 0, 0, 0, 0, 0.0
    seconds = {"fp32": 0.0, "int8": 0.0, "int8 + rescoring": 0.0}
    for path in photos:
        rgb = detection_copy(pipeline, path)
        (tiled, _), t_tiles = timed(plain.tiled_input, rgb)
        with torch.inference_mode():
            exact, t_plain = timed(plain.network, tiled)
            quick, t_int8 = timed(int8._int8, tiled)
        exact, quick = exact[0, 0].numpy(), quick[0, 0].numpy()
        (_, t_app) = timed(int8.scores, rgb, threshold)
        seconds["fp32"] += t_plain
        seconds["int8"] += t_int8
        seconds["int8 + rescoring"] += t_app - t_tiles  # scores() builds the pyramid too
        above = exact > threshold
        if above.any():
            worst_drop = max(worst_drop, float((exact - quick)[above].max()))
        worst_anywhere = max(worst_anywhere, float(np.abs(exact - quick).max()))
        near += int((quick > threshold - margin).sum())
        cells += exact.size
        found_plain, found_int8 = plain.detect(rgb, threshold), int8.detect(rgb, threshold)
        boxes_plain = [(d.left, d.top, d.right, d.bottom) for d in found_plain]
        same = boxes_plain == [(d.left, d.top, d.right, d.bottom) for d in found_int8]
        same_boxes += int(same)
        if same:
            score_change = max([score_change] + [abs(a.score - b.score) for a, b in zip(found_plain, found_int8, strict=True)])
        faces += len(boxes_plain)
    return [name, len(photos), faces, f"{same_boxes} of {len(photos)}", f"{score_change:.1e}", f"{worst_drop:.3f}", f"{worst_anywhere:.2f}",
            f"{100 * near / cells:.3f}%", f"{1e3 * seconds['fp32'] / len(photos):.1f}", f"{1e3 * seconds['int8'] / len(photos):.1f}",
            f"{1e3 * seconds['int8 + rescoring'] / len(photos):.1f}", f"{seconds['fp32'] / seconds['int8 + rescoring']:.2f}x"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibrate", action="store_true", help="print the activation limits and stop")
    parser.add_argument("--photos", type=int, default=100, help="full-size photos")
    parser.add_argument("--lfw", type=int, default=300, help="LFW photos (after the calibration ones)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(machine_line())
    print(f"this processor: {choose_precision('auto').reason}; int8 convolutions supported: {int8_supported()}")
    root = faces_dir()
    pipeline = FacePipeline(precision=FP32)
    lfw = lfw_photos(root)
    if args.calibrate:
        limits = calibrate(pipeline, lfw[:CALIBRATION_PHOTOS])
        print("ACTIVATION_LIMITS = (" + ", ".join(f"{np.ceil(limit * 100) / 100:.2f}" for limit in limits) + ")")
        return
    plain = pipeline.detector
    int8 = FaceDetector(default_model_files().detector, choose_precision("int8"))
    sets = [
        ("full-size photos", [path for path, _ in labelled_photos(root, args.photos)]),
        ("negatives (no faces)", sorted(p for p in (root / "negatives").rglob("*") if p.suffix.lower() in PHOTO_EXTENSIONS)),
        ("LFW photos", lfw[CALIBRATION_PHOTOS : CALIBRATION_PHOTOS + args.lfw]),
    ]
    rows = [evaluate(name, photos, pipeline, plain, int8) for name, photos in sets]
    print(f"\nrescoring margin {EXACT_MARGIN['int8']}; score threshold {pipeline.settings.score_threshold}; one torch thread\n")
    print_table(["photos", "count", "faces (fp32)", "boxes equal to fp32", "largest change of a face's score", "largest drop of a cell above the threshold",
                 "largest score change anywhere", "map rescored", "fp32 ms", "int8 ms", "int8 + rescoring ms", "network speed-up"], rows)


if __name__ == "__main__":
    main()
