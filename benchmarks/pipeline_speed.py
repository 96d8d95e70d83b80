"""End-to-end speed on the same 100 full-size photos: our pipeline against what a
face_recognition user gets (dlib-bin: HOG detector with one upsample + 5-point landmarks +
compute_face_descriptor) and against dlib-bin's CNN detector, in one process, one run.

Also the embedder's and the detector's achieved GFLOP/s against this machine's FP32 peak,
and, where the processor has bf16 matrix units (or with --bf16-efficiency), in bf16 against
a bf16 matrix product measured in the same run, and the detector in int8 against an int8
product.  Where the app computes in reduced precision (bf16, or the int8 detector on AVX2
and later) a float32 row is timed beside it.

    python benchmarks/pipeline_speed.py [--photos 100] [--cnn-photos 8] [--bf16-efficiency]

Detection recall on the labeled photos: a photo labelled with k people counts
min(faces found, k) of k (every shared photo shows its labelled people; group photos list
them in annotations.csv).  dlib's CNN detector takes minutes per full-size photo on this
CPU build, so it runs on the first --cnn-photos photos only; its rate is per photo.
The pipelines take turns on chunks of photos (a run of 6 per core: 12 on 2 cores, so no
worker of ours idles at the end of a turn, as in a scan's long stream), so drift in the
machine's speed during the run (shared cores) affects them alike.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import torch
from common import faces_dir, machine_line, print_table
from flops import measured_int8_product_gops, conv_flops, measured_gemm_gflops, theoretical_peak_gflops
from PIL import Image

from engine.faces.images import PHOTO_EXTENSIONS
from engine.dlib.model_files import default_model_files
from engine.faces.pipeline import PARALLEL_RUN, DetectionSettings, FacePipeline
from engine.dlib.mmod_int8 import int8_supported
from engine.faces.detector import FaceDetector
from engine.faces.precision import FP32, Precision, bf16_units, choose_precision, computing_in

# Photos per turn when the pipelines take turns: a whole run for each of our workers (with
# 10 on 2 cores, a run of 6 and a run of 4, one worker idled at every turn's end).
CHUNK = PARALLEL_RUN * (os.cpu_count() or 1)


def labelled_photos(root: Path, limit: int) -> list[tuple[Path, int]]:
    """(photo, number of labelled people) for full-size photos, deduplicated by content."""
    people_in: dict[str, int] = {}
    with open(root / "group_photos" / "annotations.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            people_in[row["image"]] = len(row["labeled_people"].split(";"))
    seen: set[str] = set()
    photos: list[tuple[Path, int]] = []
    for folder in ("group_photos", "deepface_tests", "face_recognition_examples"):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix.lower() not in PHOTO_EXTENSIONS:
                continue
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            relative = path.relative_to(root / folder).as_posix()
            photos.append((path, people_in.get(relative, 1) if folder == "group_photos" else 1))
    # Interleave the folders so a smaller --photos still mixes single and group photos.
    photos.sort(key=lambda item: hashlib.sha1(item[0].name.encode()).hexdigest())
    return photos[:limit]


def _megapixels(path: Path) -> float:
    with Image.open(path) as image:
        return image.size[0] * image.size[1] / 1e6


def recall(found: list[int], labelled: list[int]) -> float:
    return sum(min(f, k) for f, k in zip(found, labelled, strict=True)) / sum(labelled)


def run_ours(pipeline: FacePipeline, photos: list[tuple[Path, int]], workers: int | None = None) -> tuple[float, list[int]]:
    counts = []
    start = time.perf_counter()
    for _path, result in pipeline.analyze_many((path for path, _ in photos), workers=workers):
        counts.append(len(result.faces))
    return time.perf_counter() - start, counts


def load_like_face_recognition(path: Path) -> np.ndarray:
    """face_recognition.load_image_file: PIL, convert to RGB, full resolution."""
    with Image.open(path) as image:
        return np.array(image.convert("RGB"))


def run_dlib(detector, upsample: int, photos: list[tuple[Path, int]], shape, describe) -> tuple[float, list[int]]:  # noqa: ANN001
    counts = []
    start = time.perf_counter()
    for path, _ in photos:
        rgb = load_like_face_recognition(path)
        boxes = detector(rgb, upsample)
        boxes = [getattr(b, "rect", b) for b in boxes]
        for box in boxes:
            describe.compute_face_descriptor(rgb, shape(rgb, box), 1)
        counts.append(len(boxes))
    return time.perf_counter() - start, counts


_HOG_MODELS = None  # in each worker process of the HOG pool


def _hog_worker_start(landmarks: str, recognition: str) -> None:
    global _HOG_MODELS
    import dlib

    _HOG_MODELS = (dlib.get_frontal_face_detector(), dlib.shape_predictor(landmarks),
                   dlib.face_recognition_model_v1(recognition))


def _hog_one_photo(path: str) -> int:
    detector, shape, describe = _HOG_MODELS
    rgb = load_like_face_recognition(Path(path))
    boxes = detector(rgb, 1)
    for box in boxes:
        describe.compute_face_descriptor(rgb, shape(rgb, box), 1)
    return len(boxes)


def run_dlib_on_every_core(pool, photos: list[tuple[Path, int]]) -> tuple[float, list[int]]:  # noqa: ANN001
    """The face_recognition HOG pipeline with one process per core (dlib-bin's HOG detector
    uses one core), photos handed out one at a time, results in order."""
    start = time.perf_counter()
    counts = pool.map(_hog_one_photo, [str(path) for path, _ in photos], chunksize=1)
    return time.perf_counter() - start, counts


def seconds_per_call(network, x: torch.Tensor, repeats: int) -> float:  # noqa: ANN001
    """A network's time per call on `x`, after one call to warm it up."""
    with torch.inference_mode():
        network(x)
        start = time.perf_counter()
        for _ in range(repeats):
            network(x)
    return (time.perf_counter() - start) / repeats


def gflops_report(pipeline: FacePipeline, precisions: list[Precision]) -> list[list[object]]:
    """Each network's achieved GFLOP/s in each precision, against the theoretical FP32 peak
    and against a large matrix product in the same precision measured here (no table of
    bf16 peaks is kept: the product is what the matrix units deliver through oneDNN)."""
    peak, peak_text = theoretical_peak_gflops()
    rows: list[list[object]] = [["FP32 peak (theoretical)", "", peak_text, f"{peak:.0f}", "", ""]]
    chips = np.random.default_rng(0).integers(0, 256, (64, 150, 150, 3), dtype=np.uint8)
    rgb = np.random.default_rng(1).integers(0, 256, (1152, 1536, 3), dtype=np.uint8)
    embedder, detector = pipeline.embedder, pipeline.detector
    flops_face = conv_flops(embedder.network, torch.zeros(1, 3, 150, 150))
    x, _ = detector.tiled_input(rgb)
    flops_det = conv_flops(detector.network, x)
    repeats = 3
    chosen = embedder.precision
    for precision in precisions:
        dtype = torch.bfloat16 if precision.reduced else torch.float32
        # Emulated bf16 (no units) multiplies at well under 1 GFLOP/s: a 2048 product would take minutes.
        size, times = (512, 2) if precision.reduced and not bf16_units() else (2048, 10)
        gemm = measured_gemm_gflops(size, times, dtype)
        rows.append([f"matrix product {size} ({dtype})", precision.name, "measured", f"{gemm:.3g}", f"{100 * gemm / peak:.0f}%", ""])
        embedder.precision = precision
        try:
            embedder.embed(chips)
            start = time.perf_counter()
            for _ in range(repeats):
                embedder.embed(chips)
            per_face = (time.perf_counter() - start) / (repeats * len(chips))
        finally:
            embedder.precision = chosen
        achieved = flops_face / per_face / 1e9
        rows.append([f"embedder (batch {embedder.batch_size})", precision.name,
                     f"{flops_face / 1e9:.3f} GFLOP/face, {per_face * 1000:.2f} ms/face", f"{achieved:.0f}",
                     f"{100 * achieved / peak:.0f}%", f"{100 * achieved / gemm:.0f}%"])
        with computing_in(precision):
            net_time = seconds_per_call(detector.network, x, repeats)
        achieved = flops_det / net_time / 1e9
        rows.append(["detector network, 1536x1152 photo", precision.name, f"{flops_det / 1e9:.1f} GFLOP, {net_time * 1000:.0f} ms",
                     f"{achieved:.0f}", f"{100 * achieved / peak:.0f}%", f"{100 * achieved / gemm:.0f}%"])
    if int8_supported():
        gops = measured_int8_product_gops()
        rows.append(["int8 product (oneDNN 1x1 convolution, 512 channels)", "int8", "measured", f"{gops:.3g}", f"{100 * gops / peak:.0f}%", ""])
        quick = detector if detector.precision.detector_int8 else FaceDetector(default_model_files().detector, choose_precision("int8"))
        net_time = seconds_per_call(quick._int8, x, repeats)
        achieved = flops_det / net_time / 1e9
        rows.append(["detector network, 1536x1152 photo", "int8 (last layer fp32)", f"{flops_det / 1e9:.1f} GOP, {net_time * 1000:.0f} ms",
                     f"{achieved:.0f}", f"{100 * achieved / peak:.0f}%", f"{100 * achieved / gops:.0f}%"])
    start = time.perf_counter()
    for _ in range(repeats):
        detector.detect(rgb)
    full_time = (time.perf_counter() - start) / repeats
    rows.append(["detector incl. pyramid + NMS (+ float32 rescoring when reduced)", detector.precision.detector, f"{full_time * 1000:.0f} ms",
                 f"{flops_det / full_time / 1e9:.0f}", f"{100 * flops_det / full_time / 1e9 / peak:.0f}%", ""])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--cnn-photos", type=int, default=8)
    parser.add_argument("--skip-dlib", action="store_true")
    parser.add_argument("--bf16-efficiency", action="store_true",
                        help="measure the networks in bf16 too where the processor has no bf16 units (emulated: slow)")
    parser.add_argument("--chunk", type=int, default=CHUNK, help=f"photos per turn (default {CHUNK}: a run of {PARALLEL_RUN} per core)")
    parser.add_argument(
        "--budgets", default="", help="also time our pipeline at these detection budgets (MP), e.g. 0.5,1,2"
    )
    args = parser.parse_args()
    root = faces_dir()
    photos = labelled_photos(root, args.photos)
    labelled = [k for _, k in photos]
    pipeline = FacePipeline()
    files = default_model_files()
    print(machine_line())
    print(f"{len(photos)} photos, {sum(labelled)} labelled people; torch threads {torch.get_num_threads()}; "
          f"our face networks compute in {pipeline.precision.reason}")
    pipeline.analyze(photos[0][0])  # warm-up (first-call allocations)
    # Each pipeline is a function of a list of photos returning face counts.  They take
    # turns on chunks of CHUNK photos, so the machine's drift (shared cores, frequency)
    # falls on all of them alike; each one's time is the sum over its chunks.
    settings = pipeline.settings
    runners: dict[str, object] = {
        f"ours, default ({settings.quick_megapixels:g} MP, then {settings.max_detect_megapixels:g} MP if none)": lambda chunk: run_ours(pipeline, chunk)
    }
    runners["ours, default, one stream (one worker on every torch thread)"] = lambda chunk: run_ours(pipeline, chunk, 1)
    if pipeline.precision != FP32:  # the gain of the reduced arithmetic, in the same run
        in_fp32 = FacePipeline(precision=FP32)
        runners["ours, default, in float32"] = lambda chunk: run_ours(in_fp32, chunk)
    for other in [float(b) for b in args.budgets.split(",") if b]:
        variant = FacePipeline(DetectionSettings(max_detect_megapixels=other, quick_megapixels=None))
        runners[f"ours, single pass at {other:g} MP"] = lambda chunk, v=variant: run_ours(v, chunk)
    hog_name = "dlib-bin HOG x1 upsample (face_recognition)"
    if not args.skip_dlib:
        import dlib

        hog = dlib.get_frontal_face_detector()
        shape = dlib.shape_predictor(str(files.landmarks))
        describe = dlib.face_recognition_model_v1(str(files.recognition))
        runners[hog_name] = lambda chunk: run_dlib(hog, 1, chunk, shape, describe)
        cores = os.cpu_count() or 1
        hog_pool = multiprocessing.get_context("spawn").Pool(
            cores, initializer=_hog_worker_start, initargs=(str(files.landmarks), str(files.recognition)))
        hog_pool.map(_hog_one_photo, [str(photos[0][0])] * cores)  # every worker loaded and warm
        hog_cores_name = f"dlib-bin HOG x1 upsample, {cores} processes (one per core)"
        runners[hog_cores_name] = lambda chunk: run_dlib_on_every_core(hog_pool, chunk)
    times = {name: 0.0 for name in runners}
    counts: dict[str, list[int]] = {name: [] for name in runners}
    for first in range(0, len(photos), args.chunk):
        chunk = photos[first : first + args.chunk]
        for name, run in runners.items():
            elapsed, found = run(chunk)
            times[name] += elapsed
            counts[name] += found
    rows = [
        [name, len(photos), f"{len(photos) / times[name]:.3f}", f"{sum(counts[name]) / times[name]:.2f}", sum(counts[name]), f"{100 * recall(counts[name], labelled):.1f}%", times[name]]
        for name in runners
    ]
    hog_time = times.get(hog_name)
    cnn_row, cnn_ratio = None, ""
    if not args.skip_dlib:
        # dlib's CNN costs about 8 s per megapixel here: time it on photos of at most 1.2 MP.
        subset = [item for item in photos if _megapixels(item[0]) <= 1.2][: args.cnn_photos]
        cnn = dlib.cnn_face_detection_model_v1(str(files.detector))
        cnn_time, cnn_counts = run_dlib(cnn, 0, subset, shape, describe)
        ours_subset_time, _ = run_ours(pipeline, subset)
        cnn_recall = recall(cnn_counts, [k for _, k in subset])
        cnn_row = [f"dlib-bin CNN, no upsample ({len(subset)} photos <= 1.2 MP)", len(subset), f"{len(subset) / cnn_time:.3f}", f"{sum(cnn_counts) / cnn_time:.2f}", sum(cnn_counts), f"{100 * cnn_recall:.1f}%", None]
        cnn_ratio = f"ours default {cnn_time / ours_subset_time:.1f}x faster on these"
    for row in rows:
        row[-1] = f"{hog_time / row[-1]:.2f}x" if hog_time else "-"
    if cnn_row:
        cnn_row[-1] = cnn_ratio
        rows.append(cnn_row)
    print()
    print_table(["pipeline", "photos", "photos/s", "faces/s", "faces", "recall (labelled)", "speed vs HOG pipeline"], rows)
    if not args.skip_dlib:
        hog_pool.close()
        ours_name = next(iter(runners))
        print(f"\nours (default) against the HOG pipeline on the same {cores} cores: "
              f"{times[hog_cores_name] / times[ours_name]:.2f}x")
    print()
    bf16 = pipeline.precision.reduced or args.bf16_efficiency
    precisions = [FP32, choose_precision("bf16")] if bf16 else [FP32]
    if not bf16:
        print("\nno bf16 matrix units on this processor: the networks are measured in float32 (and the detector in int8 where supported)")
    elif not bf16_units():
        print("\nno bf16 matrix units on this processor: torch emulates bf16, so its rows only show that "
              "the measurement runs (their shares mean nothing)")
    print_table(["compute", "precision", "work", "GFLOP/s", "of FP32 peak", "of the matrix product in its precision"],
                gflops_report(pipeline, precisions))


if __name__ == "__main__":
    main()
