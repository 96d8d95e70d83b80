"""Clustering time and peak memory at 10k / 50k / 100k faces, against dense scikit-learn
AgglomerativeClustering (average linkage on the same squared distances) in the same run.

Faces: the real LFW embeddings of identities with >= 10 images (benchmarks/
lfw_identity_embeddings.py makes them) plus synthetic identities drawn from Gaussians fitted
to the real data (identity centres, and each face's offset from its centre), so that
same-person and different-person distances match the real ones (printed below).  Identity
sizes follow a heavy tail, as in a family library.

    python benchmarks/clustering_scale.py                 # about 5 minutes on 2 cores
    python benchmarks/clustering_scale.py --sizes 10000   # one size
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
from common import REPO, machine_line, print_table
from lfw_identity_embeddings import CACHE

from engine.evaluation.clusters import cluster_quality
from engine.library.identities.clustering import FREE, ClusteringProblem, cluster_faces
from engine.model_versions import DLIB_RESNET_V1

DENSE_LIMIT = 12_000  # a dense float64 matrix beyond this needs more than ~1 GB per copy


def real_faces() -> tuple[np.ndarray, np.ndarray]:
    if not CACHE.exists():
        sys.exit(f"{CACHE} missing: run benchmarks/lfw_identity_embeddings.py first")
    data = np.load(CACHE)
    _, labels = np.unique(data["names"], return_inverse=True)
    return DLIB_RESNET_V1.prepare(data["vectors"]), labels


def synthetic_faces(count: int, real: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    people = labels.max() + 1
    centres = np.stack([real[labels == p].mean(0) for p in range(people)])
    residuals = real - centres[labels]
    centre_mean, centre_cov = centres.mean(0), np.cov(centres, rowvar=False)
    residual_cov = np.cov(residuals, rowvar=False)
    sizes = []
    while sum(sizes) < count:
        sizes.append(int(min(2000, max(1, rng.zipf(1.6)))))
    sizes[-1] -= sum(sizes) - count
    new_centres = rng.multivariate_normal(centre_mean, centre_cov, size=len(sizes), method="cholesky")
    new_labels = np.repeat(np.arange(len(sizes)), sizes)
    offsets = rng.multivariate_normal(np.zeros(real.shape[1]), residual_cov, size=count, method="cholesky")
    return (new_centres[new_labels] + offsets).astype(np.float32), new_labels + people


def distance_quantiles(vectors: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.integers(0, len(vectors), 200_000)
    b = rng.integers(0, len(vectors), 200_000)
    d = np.linalg.norm(vectors[a] - vectors[b], axis=1)
    same = (labels[a] == labels[b]) & (a != b)
    groups = {}
    for i, label in enumerate(labels.tolist()):
        groups.setdefault(label, []).append(i)
    pairs = [(g[i], g[j]) for g in groups.values() if len(g) > 1 for i in range(len(g)) for j in range(i + 1, min(len(g), i + 4))]
    pairs = np.array(pairs[:200_000])
    same_d = np.linalg.norm(vectors[pairs[:, 0]] - vectors[pairs[:, 1]], axis=1)
    q = [0.05, 0.5, 0.95]
    return np.quantile(same_d, q), np.quantile(d[~same], q)


def build(size: int) -> tuple[np.ndarray, np.ndarray, int]:
    real, labels = real_faces()
    real, labels = real[:size], labels[: min(size, len(labels))]
    if size <= len(real):
        return real, labels, len(real)
    extra, extra_labels = synthetic_faces(size - len(real), real, labels, seed=size)
    return np.concatenate([real, extra]), np.concatenate([labels, extra_labels]), len(real)


def run_one(size: int, method: str) -> dict:
    """Runs in a child process so that peak memory is this method's alone."""
    vectors, labels, real_count = build(size)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if method == "ours":
        result = cluster_faces(
            ClusteringProblem(vectors, np.arange(size), np.full(size, FREE)), DLIB_RESNET_V1.cluster_linkage
        )
        predicted = result.labels
    else:
        from sklearn.cluster import AgglomerativeClustering

        d2 = ((vectors[:, None, :] - vectors[None, :, :]) ** 2).sum(-1, dtype=np.float64) if size <= 4000 else None
        if d2 is None:
            norms = (vectors.astype(np.float64) ** 2).sum(1)
            d2 = np.maximum(norms[:, None] + norms[None, :] - 2 * vectors.astype(np.float64) @ vectors.T.astype(np.float64), 0)
        model = AgglomerativeClustering(
            n_clusters=None, metric="precomputed", linkage="average", distance_threshold=DLIB_RESNET_V1.cluster_linkage
        )
        predicted = model.fit(d2).labels_
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    quality = cluster_quality(labels[:real_count].tolist(), predicted[:real_count].tolist())
    all_quality = cluster_quality(labels.tolist(), predicted.tolist())
    return {
        "size": size, "method": method, "seconds": seconds, "peak_mb": peak_mb, "baseline_mb": before / 1024,
        "real_precision": quality.pairwise_precision, "real_recall": quality.pairwise_recall,
        "all_bcubed_f": all_quality.bcubed_f, "labels": predicted.tolist() if size <= DENSE_LIMIT else None,
    }


def child(size: int, method: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(size), method], capture_output=True, text=True, cwd=REPO, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(int(args.child[0]), args.child[1])))
        return
    print(machine_line())
    real, labels = real_faces()
    vectors, all_labels, _ = build(max(args.sizes))
    rng = np.random.default_rng(0)
    real_same, real_diff = distance_quantiles(real, labels, rng)
    syn_same, syn_diff = distance_quantiles(vectors[len(real):], all_labels[len(real):], rng)
    print(f"real LFW faces: {len(real)} of {labels.max() + 1} people; linkage threshold {DLIB_RESNET_V1.cluster_linkage}")
    print_table(
        ["distances (5% / 50% / 95%)", "same person", "different people"],
        [["real (LFW)", " / ".join(f"{v:.3f}" for v in real_same), " / ".join(f"{v:.3f}" for v in real_diff)],
         ["synthetic", " / ".join(f"{v:.3f}" for v in syn_same), " / ".join(f"{v:.3f}" for v in syn_diff)]],
    )
    rows = []
    for size in args.sizes:
        ours = child(size, "ours")
        dense = child(size, "sklearn") if size <= DENSE_LIMIT else None
        agreement = "-"
        if dense is not None:
            from sklearn.metrics import adjusted_rand_score

            agreement = f"{adjusted_rand_score(dense['labels'], ours['labels']):.4f}"
        dense_need_gb = size * size * 8 * 2 / 1e9
        rows.append([
            f"{size:,}",
            f"{ours['seconds']:.1f} s", f"{ours['peak_mb']:.0f} MB (data alone {ours['baseline_mb']:.0f})",
            f"{dense['seconds']:.1f} s" if dense else f"not run (dense matrices need ~{dense_need_gb:.0f} GB)",
            f"{dense['peak_mb']:.0f} MB" if dense else "-",
            f"{dense['seconds'] / ours['seconds']:.1f}x" if dense else "-",
            agreement,
            f"{ours['real_precision']:.4f} / {ours['real_recall']:.4f}",
        ])
    print_table(
        ["faces", "ours: time", "ours: process peak RSS", "sklearn dense: time", "sklearn: peak RSS", "speed ratio",
         "agreement (ARI)", "real faces: pairwise P / R"],
        rows,
    )


if __name__ == "__main__":
    main()
