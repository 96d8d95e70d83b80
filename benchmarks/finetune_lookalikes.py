"""Fine-tuning on the LFW identities the base model confuses most, with 100, 300 and 1,000
labelled faces: errors before and after on an independent test set of the same people, the
routine's own held-out figures, and the wall time of each run.

    python benchmarks/lfw_identity_embeddings.py   # once: embeddings that find the weak identities
    python benchmarks/finetune_lookalikes.py       # about 20 minutes on 2 cores (chips cached after the first run)
    python benchmarks/finetune_lookalikes.py --degrade 0 --splits 0,1,2   # the same faces as old family photos

Weak identities: leave-one-out 1-NN over all 4,324 faces of the 158 LFW identities with >= 10
images; people ranked by their share of faces whose nearest neighbour is someone else.  Each
chosen person's images (at most 40) are split 2/3 labelled pool / 1/3 test.  A run with N
labelled faces uses the N/10 weakest people (at least 2, at most all), taking their pooled
faces round-robin (so every person has >= 5, as the app requires); its test set is the test
faces of the same people.
Test errors: verification on balanced test pairs (10-fold, as `eval lfw`) and 1-NN
recognition of each test face against the run's labelled faces.

At 1,000 labelled faces the base model misrecognises only about 6 of 576 test faces, so one
split cannot show a 30% change in recognition; `--splits 0,1,2` repeats each size on other
labelled/test splits of the same people and adds a row of the errors pooled over them.  Recognition
is shown as 1-NN (the routine's rule) and as the app's 5-nearest vote, with the test faces
fine-tuning fixed and broke and the exact sign test's p-value: how likely so uneven a split
would be if fine-tuning helped and hurt equally often.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import OUT_DIR, faces_dir, machine_line, print_table

from engine.faces.pipeline import FacePipeline
from engine.training.acceptance import errors_from_vectors, misrecognised, split_per_person
from engine.training.data import FaceSet, prepare_faces
from engine.training.degraded import Degradation, degrade_chips
from engine.training.finetune import FinetuneSettings, SplitNetwork, finetune, trunk_features, views_average
from engine.training.models import build_network, default_config

EMBEDDINGS = OUT_DIR / "lfw_identities_min10.npz"
LINKS = OUT_DIR / "lookalike_people"
MAX_IMAGES = 40
NEIGHBOURS = (1, 5)  # 1-NN, as the routine decides; 5, the vote the app recognises with


def weakest_identities(count: int) -> list[tuple[str, float]]:
    data = np.load(EMBEDDINGS, allow_pickle=False)
    names, vectors = data["names"], data["vectors"].astype(np.float64)
    sq = (vectors**2).sum(1)
    d = sq[:, None] + sq[None, :] - 2 * vectors @ vectors.T
    np.fill_diagonal(d, np.inf)
    wrong = names[d.argmin(1)] != names
    people = sorted(set(names.tolist()))
    errors = {p: float(wrong[names == p].mean()) for p in people}
    ranked = sorted(people, key=lambda p: (-errors[p], -int((names == p).sum()), p))
    return [(p, errors[p]) for p in ranked[:count]]


def link_people(people: list[str]) -> Path:
    """Person folders of symlinks to the shared images (read in place, never copied)."""
    root = faces_dir() / "lfw_deepfunneled"
    target = LINKS / f"{len(people)}"
    for person in people:
        folder = target / person
        folder.mkdir(parents=True, exist_ok=True)
        for image in sorted((root / person).glob("*.jpg"))[:MAX_IMAGES]:
            link = folder / image.name
            if not link.exists():
                link.symlink_to(image)
    return target


def pool_and_test(faces: FaceSet, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pool, test = [], []
    for person in range(len(faces.names)):
        members = rng.permutation(np.flatnonzero(faces.labels == person))
        cut = int(round(len(members) * 2 / 3))
        pool.append(members[:cut])
        test.append(members[cut:])
    return pool, np.concatenate(test)


def round_robin(pool: list[np.ndarray], count: int) -> np.ndarray:
    chosen, depth = [], 0
    while len(chosen) < count and depth < max(len(p) for p in pool):
        for members in pool:
            if depth < len(members) and len(chosen) < count:
                chosen.append(members[depth])
        depth += 1
    return np.array(sorted(chosen))


def reduction(before: float, after: float) -> str:
    return f"{(before - after) / before:.0%}" if before > 0 else "-"


def sign_test(fixed: int, broken: int) -> float:
    """Two-sided exact sign test (McNemar) on the faces that changed: the chance of a split at
    least this uneven if fine-tuning fixed and broke faces equally often."""
    n = fixed + broken
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(fixed, broken) + 1)) / 2**n
    return min(1.0, 2 * tail)


def recognition_cell(wrong_before: list[bool], wrong_after: list[bool]) -> str:
    """Wrong test faces before -> after, and how many fine-tuning fixed and broke with the
    sign test's p-value (test faces are independent queries, unlike verification pairs,
    which share faces)."""
    before, after = np.array(wrong_before, dtype=bool), np.array(wrong_after, dtype=bool)
    fixed, broken = int((before & ~after).sum()), int((~before & after).sum())
    return (f"{before.sum()} -> {after.sum()} of {len(before)} ({reduction(before.sum(), after.sum())}); "
            f"{fixed} fixed / {broken} broken, p = {sign_test(fixed, broken):.2f}")


def pooled_row(size: int, records: list[dict]) -> list:
    """Errors over several splits as counts: wrong pairs of all pairs, wrong faces of all faces."""
    total = sum(r["test_before"]["pairs"] for r in records)
    wrong = [sum(r[side]["verification_error"] * r[side]["pairs"] for r in records) for side in ("test_before", "test_after")]
    verification = f"{wrong[0]:.0f} -> {wrong[1]:.0f} of {total} pairs ({reduction(wrong[0], wrong[1])})"
    recognition = [recognition_cell(sum((r["wrong"][k][0] for r in records), []), sum((r["wrong"][k][1] for r in records), []))
                   for k in NEIGHBOURS]
    accepted = sum(r["report"]["accepted"] for r in records)
    seconds = sum(r["seconds"] for r in records) / len(records)
    return [size, "pooled", "", sum(r["test_before"]["queries"] for r in records), f"{seconds:.0f} s (mean)",
            "", "", f"{accepted} of {len(records)}", verification, *recognition]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--steps", type=int, default=FinetuneSettings.steps)
    parser.add_argument("--lr", type=float, default=FinetuneSettings.lr)
    parser.add_argument("--trainable", default=FinetuneSettings.trainable)
    parser.add_argument("--drift-penalty", type=float, default=FinetuneSettings.drift_penalty)
    parser.add_argument("--batches", default=FinetuneSettings.batches, choices=("lookalike", "random"))
    parser.add_argument("--people-per-batch", type=int, default=FinetuneSettings.people_per_batch)
    parser.add_argument("--seed", type=int, default=0, help="the fine-tune's seed (batches, views, held-out split)")
    parser.add_argument("--splits", default="0", help="seeds of the labelled pool / test split, comma-separated")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--degrade", type=int, default=None, metavar="SEED",
                        help="degrade every face as old family photos are (engine.training.degraded), with this seed")
    args = parser.parse_args()
    print(machine_line())
    weak = weakest_identities(args.people)
    print(f"{len(weak)} weakest identities (1-NN error): " + ", ".join(f"{p} {e:.0%}" for p, e in weak[:12]) + ", ...")
    pipeline = FacePipeline()
    # LFW names the person at the centre of each image (the largest face is sometimes someone else).
    faces = prepare_faces(link_people([p for p, _ in weak]), FacePipeline, pick="central")
    weak_order = [faces.names.index(p) for p, _ in weak]
    print(f"{len(faces.labels)} faces of {len(faces.names)} people")
    if args.degrade is not None:
        faces = replace(faces, chips=degrade_chips(faces.chips, args.degrade))
        print(f"every face degraded (seed {args.degrade}): {Degradation()}")
    config = default_config("resnet")
    network = build_network(config)

    def base_embed(chips: np.ndarray) -> np.ndarray:
        return pipeline.embed_chips(chips)

    settings = FinetuneSettings(trainable=args.trainable, steps=args.steps, lr=args.lr,
                                drift_penalty=args.drift_penalty, batches=args.batches, seed=args.seed,
                                people_per_batch=args.people_per_batch)
    rotations = pipeline.model_version.chip_rotations  # the fine-tuned model keeps the base's views
    rows, records = [], []
    splits = [int(s) for s in args.splits.split(",")]
    for size in [int(s) for s in args.sizes.split(",")]:
        for split_seed in splits:
            pool, test_index = pool_and_test(faces, split_seed)
            people = weak_order[: min(len(weak_order), max(2, size // 10))]
            labelled = faces.subset(np.isin(np.arange(len(faces.labels)), round_robin([pool[p] for p in people], size)))
            test = faces.subset(np.isin(np.arange(len(faces.labels)), test_index) & np.isin(faces.labels, people))
            test_before = base_embed(test.chips)
            train, held = split_per_person(labelled, seed=args.seed)
            started = time.monotonic()
            tuned, report = finetune(network, config, train, held, settings, rotations=rotations)
            seconds = time.monotonic() - started
            split = SplitNetwork(tuned, config, "all")
            gallery_before = base_embed(labelled.chips)
            gallery_after = views_average(split, trunk_features(split, labelled.chips, rotations))
            test_after = views_average(split, trunk_features(split, test.chips, rotations))
            before = errors_from_vectors(test_before, gallery_before, labelled, test)
            after = errors_from_vectors(test_after, gallery_after, labelled, test)
            wrong = {k: [misrecognised(test_before, gallery_before, labelled, test, k).tolist(),
                         misrecognised(test_after, gallery_after, labelled, test, k).tolist()] for k in NEIGHBOURS}

            rows.append([
                size, split_seed, len(labelled.names), len(test.labels), f"{seconds:.0f} s",
                f"{report.before.verification_error:.2%} -> {report.after.verification_error:.2%}",
                f"{report.before.recognition_error:.2%} -> {report.after.recognition_error:.2%}",
                "yes" if report.accepted else "no",
                f"{before.verification_error:.2%} -> {after.verification_error:.2%} ({reduction(before.verification_error, after.verification_error)})",
                *(recognition_cell(*wrong[k]) for k in NEIGHBOURS),
            ])
            records.append({"labelled": size, "split": split_seed, "seconds": seconds, "report": report.to_dict(),
                            "test_before": before.__dict__, "test_after": after.__dict__,
                            "wrong": wrong})
            print(f"  {size} labelled faces, split {split_seed}: done in {seconds:.0f} s", flush=True)
        if len(splits) > 1:
            rows.append(pooled_row(size, records[-len(splits):]))
    print(f"settings: trainable {args.trainable}, {args.steps} steps, lr {args.lr}, drift penalty {args.drift_penalty}, "
          f"{args.batches} batches, seed {args.seed}")
    print_table(["labelled", "split", "people", "test faces", "wall time", "held-out verification err", "held-out recognition err",
                 "accepted", "test verification err (reduction)",
                 *(f"test {k}-NN recognition: wrong faces (reduction); changed faces" for k in NEIGHBOURS)], rows)
    if args.json:
        args.json.write_text(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
