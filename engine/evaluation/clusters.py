"""How well predicted people match true identities: pairwise and BCubed precision/recall.

Faces left unsorted count as singletons (never wrongly merged, never correctly joined)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClusterQuality:
    faces: int
    identities: int
    clusters: int  # predicted groups of two or more faces
    unsorted_share: float
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float


def _f(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def cluster_quality(truth: list, predicted: list) -> ClusterQuality:
    """`predicted` holds a cluster key per face, or None for unsorted."""
    n = len(truth)
    keys = [("unsorted", i) if p is None else ("cluster", p) for i, p in enumerate(predicted)]
    pair_counts = Counter(zip(keys, truth, strict=True))
    cluster_sizes = Counter(keys)
    truth_sizes = Counter(truth)
    same_both = sum(c * (c - 1) // 2 for c in pair_counts.values())
    same_pred = sum(c * (c - 1) // 2 for c in cluster_sizes.values())
    same_true = sum(c * (c - 1) // 2 for c in truth_sizes.values())
    precision = same_both / same_pred if same_pred else 1.0
    recall = same_both / same_true if same_true else 1.0
    b_precision = float(np.mean([pair_counts[(k, t)] / cluster_sizes[k] for k, t in zip(keys, truth, strict=True)])) if n else 1.0
    b_recall = float(np.mean([pair_counts[(k, t)] / truth_sizes[t] for k, t in zip(keys, truth, strict=True)])) if n else 1.0
    return ClusterQuality(
        faces=n,
        identities=len(truth_sizes),
        clusters=sum(1 for k, c in cluster_sizes.items() if k[0] == "cluster" and c >= 2),
        unsorted_share=sum(1 for p in predicted if p is None) / n if n else 0.0,
        pairwise_precision=precision,
        pairwise_recall=recall,
        pairwise_f=_f(precision, recall),
        bcubed_precision=b_precision,
        bcubed_recall=b_recall,
        bcubed_f=_f(b_precision, b_recall),
    )
