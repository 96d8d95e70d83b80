"""Training-step throughput on this CPU for each architecture: images/s and triplets/s for
P x K = 10 x 4 batches (semi-hard mining, hardest fallback: every anchor-positive pair
yields a triplet, 120 per batch), Adam, augmentation on.

    python benchmarks/training_speed.py        # about 3 minutes on 2 cores
"""

from __future__ import annotations

import time

import numpy as np
import torch
from common import machine_line, print_table

from engine.faces.embedder import configure_threads
from engine.training.data import augment
from engine.training.models import build_network, chips_to_input, default_config
from engine.training.triplet import mine_semi_hard, triplet_loss

CASES = [
    ("inception", 64, 0.25, "small CPU net (the ORL test's)"),
    ("inception", 96, 0.5, "default of facenet train"),
    ("inception", 96, 1.0, "NN2 channels at 96 px (the paper's NN4)"),
    ("inception", 224, 1.0, "NN2 (the paper's)"),
    ("resnet", None, None, "dlib ResNet, from the pretrained weights"),
    ("inception-resnet-v1", None, None, "public FaceNet checkpoints' network"),
]


def main() -> None:
    threads = configure_threads()
    print(machine_line(), f"torch threads {threads}")
    people, per_person = 10, 4
    rng = np.random.default_rng(0)
    chips = rng.integers(0, 256, size=(people * per_person, 150, 150, 3), dtype=np.uint8)
    labels = torch.arange(people).repeat_interleave(per_person)
    rows = []
    for arch, size, width, note in CASES:
        config = default_config(arch, size, width)
        network = build_network(config).train()
        optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
        generator = torch.Generator().manual_seed(0)
        steps, timed, triplets = 0, 0.0, 0
        while steps < 12 and timed < 60:
            start = time.perf_counter()
            x = augment(chips_to_input(chips, config), generator)
            emb = network(x)
            mined = mine_semi_hard(emb, labels, generator=generator)
            loss, _ = triplet_loss(emb, mined)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if steps >= 2:  # warm-up steps not timed
                timed += time.perf_counter() - start
                triplets += len(mined)
            steps += 1
        measured = steps - 2
        params = sum(p.numel() for p in network.parameters()) / 1e6
        rows.append([arch, f"{config.input_size} px", f"{config.width:g}", f"{params:.1f}M", note,
                     f"{timed / measured:.2f} s", f"{measured * len(chips) / timed:.1f}", f"{triplets / timed:.0f}"])
    print_table(["architecture", "input", "width", "parameters", "what", "s/step (40 faces)", "images/s", "triplets/s"], rows)


if __name__ == "__main__":
    main()
