"""The triplet loss and online triplet mining inside a mini-batch.

Embeddings are unit vectors and distances are squared Euclidean, as in the paper:
    loss = sum over triplets of max(0, |f(a) - f(p)|^2 - |f(a) - f(n)|^2 + margin).
Mining runs under no_grad and returns index tensors; the loss consumes them, so gradients
reach exactly the faces of the selected triplets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

DEFAULT_MARGIN = 0.2


@dataclass(frozen=True)
class Triplets:
    anchor: torch.Tensor  # (T,) int64 indices into the batch
    positive: torch.Tensor
    negative: torch.Tensor

    def __len__(self) -> int:
        return int(self.anchor.numel())


def squared_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """(B, B) squared Euclidean distances, exactly zero on the diagonal."""
    dots = embeddings @ embeddings.T
    norms = dots.diagonal()
    d2 = (norms[:, None] + norms[None, :] - 2.0 * dots).clamp_min(0.0)
    return d2.fill_diagonal_(0.0)


def _empty() -> Triplets:
    none = torch.empty(0, dtype=torch.long)
    return Triplets(none, none, none)


@torch.no_grad()
def mine_semi_hard(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = DEFAULT_MARGIN,
    fallback: str = "hardest",
    generator: torch.Generator | None = None,
    known_negatives: torch.Tensor | None = None,
) -> Triplets:
    """Every anchor-positive pair, each with a negative drawn at random among the semi-hard
    ones: d(a,p) < d(a,n) < d(a,p) + margin.  A pair without one takes its hardest negative
    (`fallback="hardest"`) or is dropped (`"skip"`); a pair without any negative in the
    batch is always dropped.  `known_negatives` (B, B): which faces may be each anchor's
    negative, for faces with no name of their own that are known not to be some people
    (give them labels of their own); by default every face of another label."""
    if fallback not in ("hardest", "skip"):
        raise ValueError(f"unknown fallback {fallback!r}")
    d2 = squared_distances(embeddings.detach().float())
    labels = labels.view(-1)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    anchor, positive = torch.nonzero(same & ~eye, as_tuple=True)
    if anchor.numel() == 0:
        return _empty()
    d_ap = d2[anchor, positive][:, None]  # (P, 1)
    d_an = d2[anchor]  # (P, B)
    negative_ok = ~same[anchor] if known_negatives is None else known_negatives[anchor] & ~same[anchor]
    semi_hard = negative_ok & (d_an > d_ap) & (d_an < d_ap + margin)
    has_semi = semi_hard.any(dim=1)
    # Uniform choice among the candidates: the argmax of iid uniform scores on them.
    scores = torch.rand(d_an.shape, generator=generator, device=d_an.device)
    chosen = torch.where(semi_hard, scores, torch.full_like(scores, -1.0)).argmax(dim=1)
    hardest = torch.where(negative_ok, d_an, torch.full_like(d_an, float("inf"))).argmin(dim=1)
    has_negative = negative_ok.any(dim=1)
    if fallback == "hardest":
        negative = torch.where(has_semi, chosen, hardest)
        keep = has_negative
    else:
        negative = chosen
        keep = has_semi
    return Triplets(anchor[keep], positive[keep], negative[keep])


@torch.no_grad()
def mine_batch_hard(embeddings: torch.Tensor, labels: torch.Tensor) -> Triplets:
    """One triplet per anchor: its farthest positive and its nearest negative."""
    d2 = squared_distances(embeddings.detach().float())
    labels = labels.view(-1)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive_ok, negative_ok = same & ~eye, ~same
    keep = positive_ok.any(dim=1) & negative_ok.any(dim=1)
    positive = torch.where(positive_ok, d2, torch.full_like(d2, -1.0)).argmax(dim=1)
    negative = torch.where(negative_ok, d2, torch.full_like(d2, float("inf"))).argmin(dim=1)
    anchor = torch.arange(len(labels), device=labels.device)
    return Triplets(anchor[keep], positive[keep], negative[keep])


def triplet_loss(
    embeddings: torch.Tensor, triplets: Triplets, margin: float = DEFAULT_MARGIN, reduction: str = "mean"
) -> tuple[torch.Tensor, float]:
    """The loss over the mined triplets (`reduction` "sum" is the paper's formula, "mean"
    divides by the number of triplets) and the share of triplets with a positive loss.
    No triplets: a zero loss that still backpropagates (to nothing)."""
    if len(triplets) == 0:
        return embeddings.sum() * 0.0, 0.0
    a, p, n = embeddings[triplets.anchor], embeddings[triplets.positive], embeddings[triplets.negative]
    d_ap = (a - p).pow(2).sum(dim=1)
    d_an = (a - n).pow(2).sum(dim=1)
    per_triplet = (d_ap - d_an + margin).clamp_min(0.0)
    active = float((per_triplet > 0).float().mean())
    total = per_triplet.sum()
    if reduction == "mean":
        total = total / len(triplets)
    elif reduction != "sum":
        raise ValueError(f"unknown reduction {reduction!r}")
    return total, active
