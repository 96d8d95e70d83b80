"""Triplet mining and loss against brute-force loops and hand computations."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from engine.training.triplet import mine_batch_hard, mine_semi_hard, squared_distances, triplet_loss


def unit(rows: list[list[float]]) -> torch.Tensor:
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


def brute_force_candidates(emb: torch.Tensor, labels: list[int], margin: float) -> dict[tuple[int, int], set[int]]:
    """For every anchor-positive pair, its semi-hard negatives, by a plain triple loop."""
    d = lambda i, j: float(((emb[i] - emb[j]) ** 2).sum())  # noqa: E731
    out = {}
    for a, p in itertools.permutations(range(len(labels)), 2):
        if labels[a] != labels[p]:
            continue
        out[(a, p)] = {n for n in range(len(labels)) if labels[n] != labels[a] and d(a, p) < d(a, n) < d(a, p) + margin}
    return out


@pytest.fixture()
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return F.normalize(torch.randn(12, 4, generator=g), dim=1), torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])


@pytest.mark.parametrize("margin", [0.2, 0.5, 1.0])
def test_semi_hard_matches_brute_force(batch, margin: float) -> None:
    emb, labels = batch
    expected = brute_force_candidates(emb, labels.tolist(), margin)
    for seed in range(5):
        mined = mine_semi_hard(emb, labels, margin, fallback="skip", generator=torch.Generator().manual_seed(seed))
        got = list(zip(mined.anchor.tolist(), mined.positive.tolist(), mined.negative.tolist(), strict=True))
        assert {(a, p) for a, p, _ in got} == {pair for pair, c in expected.items() if c}
        assert all(n in expected[(a, p)] for a, p, n in got)


def test_semi_hard_choice_is_random_among_candidates(batch) -> None:
    emb, labels = batch
    expected = brute_force_candidates(emb, labels.tolist(), 1.0)
    pair = max(expected, key=lambda k: len(expected[k]))
    seen = set()
    for seed in range(200):
        mined = mine_semi_hard(emb, labels, 1.0, fallback="skip", generator=torch.Generator().manual_seed(seed))
        for a, p, n in zip(mined.anchor.tolist(), mined.positive.tolist(), mined.negative.tolist(), strict=True):
            if (a, p) == pair:
                seen.add(n)
    assert seen == expected[pair] and len(seen) > 1


def test_hardest_fallback_when_no_semi_hard_negative() -> None:
    # Anchor 0 and positive 1 are far apart; every negative is closer than the positive.
    emb = unit([[1, 0], [-1, 0], [0.9, 0.1], [0.8, -0.2]])
    labels = torch.tensor([0, 0, 1, 1])
    d2 = squared_distances(emb)
    mined = mine_semi_hard(emb, labels, 0.2, fallback="hardest")
    triplets = set(zip(mined.anchor.tolist(), mined.positive.tolist(), mined.negative.tolist(), strict=True))
    hardest_for_0 = min((2, 3), key=lambda n: float(d2[0, n]))
    assert (0, 1, hardest_for_0) in triplets
    assert all(labels[n] != labels[a] for a, _, n in triplets)
    skipped = mine_semi_hard(emb, labels, 0.2, fallback="skip")
    assert (0, 1) not in set(zip(skipped.anchor.tolist(), skipped.positive.tolist(), strict=True))


def test_one_identity_or_singletons_give_no_triplets_and_zero_loss() -> None:
    emb = unit([[1, 0], [0, 1], [1, 1]]).requires_grad_()
    for labels in (torch.tensor([5, 5, 5]), torch.tensor([1, 2, 3])):
        for mined in (mine_semi_hard(emb, labels), mine_batch_hard(emb, labels)):
            assert len(mined) == 0
            loss, active = triplet_loss(emb, mined)
            assert float(loss.detach()) == 0.0 and active == 0.0
            loss.backward()  # a zero loss, not an error


def test_batch_hard_matches_brute_force(batch) -> None:
    emb, labels = batch
    mined = mine_batch_hard(emb, labels)
    d = squared_distances(emb)
    for a, p, n in zip(mined.anchor.tolist(), mined.positive.tolist(), mined.negative.tolist(), strict=True):
        same = [j for j in range(12) if labels[j] == labels[a] and j != a]
        other = [j for j in range(12) if labels[j] != labels[a]]
        assert d[a, p] == max(d[a, j] for j in same)
        assert d[a, n] == min(d[a, j] for j in other)
    assert mined.anchor.tolist() == list(range(12))


def test_loss_against_hand_computation() -> None:
    # a = (1, 0); p = (0.6, 0.8): |a-p|^2 = 0.16 + 0.64 = 0.8; n1 = (0, 1): |a-n1|^2 = 2;
    # n2 = (0.8, 0.6): |a-n2|^2 = 0.04 + 0.36 = 0.4.
    emb = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.8, 0.6]])
    from engine.training.triplet import Triplets

    triplets = Triplets(torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([2, 3]))
    total, active = triplet_loss(emb, triplets, margin=0.2, reduction="sum")
    # max(0, 0.8 - 2 + 0.2) + max(0, 0.8 - 0.4 + 0.2) = 0 + 0.6
    assert float(total) == pytest.approx(0.6)
    assert active == 0.5
    mean, _ = triplet_loss(emb, triplets, margin=0.2)
    assert float(mean) == pytest.approx(0.3)


def test_gradients_reach_only_the_selected_triplets(batch) -> None:
    emb, labels = batch
    leaf = emb.clone().requires_grad_()
    mined = mine_semi_hard(leaf, labels, 0.5, fallback="skip", generator=torch.Generator().manual_seed(0))
    loss, _ = triplet_loss(leaf, mined, 0.5, reduction="sum")
    loss.backward()
    used = set(mined.anchor.tolist()) | set(mined.positive.tolist()) | set(mined.negative.tolist())
    for i in range(len(leaf)):
        has_gradient = bool(leaf.grad[i].abs().sum() > 0)
        assert has_gradient == (i in used), i
    assert not torch.is_grad_enabled() or leaf.grad is not None


def test_lookalike_batches_hold_a_person_and_their_nearest_people() -> None:
    """Six people on a line (hand-placed centres, noise-free faces): every batch is one
    person and the two people nearest them, checked by brute force; faces are theirs."""
    import numpy as np

    from engine.training.data import LookalikeBatches

    centres = [0.0, 1.0, 10.0, 11.0, 12.5, 30.0]
    labels = np.repeat(np.arange(6), 3)
    vectors = np.array([[centres[p], 0.0] for p in labels])
    batches = LookalikeBatches(labels, vectors, people=3, per_person=2, seed=0)
    seeds = set()
    for _ in range(200):
        batch = batches.next_batch()
        people = labels[batch].reshape(3, 2)
        assert (people == people[:, :1]).all()  # two faces of each chosen person, in blocks
        seed, rest = int(people[0, 0]), set(people[1:, 0].tolist())
        by_distance = sorted((abs(centres[q] - centres[seed]), q) for q in range(6) if q != seed)
        assert rest == {q for _, q in by_distance[:2]}
        seeds.add(seed)
    assert seeds == set(range(6))  # every person leads some batch
