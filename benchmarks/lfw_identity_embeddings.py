"""Embed every image of the LFW identities with at least N images (default 10) through the
scan pipeline (largest face of each photo) and save them for the clustering benchmarks.

    python benchmarks/lfw_identity_embeddings.py      # 4,324 images, 3-9 minutes on 2 cores
    python benchmarks/lfw_identity_embeddings.py --min-images 1   # all 13,233 (lfw_all_clusters.py)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import OUT_DIR, faces_dir, machine_line

from engine.errors import ImageLoadError
from engine.faces.pipeline import FacePipeline

def cache_path(min_images: int) -> Path:
    """The cache for identities with at least `min_images` images."""
    return OUT_DIR / f"lfw_identities_min{min_images}.npz"


CACHE = cache_path(10)  # what the clustering benchmarks read


def identity_images(root, min_images: int) -> list[tuple[str, str]]:
    images = []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(person.glob("*.jpg"))
        if len(files) >= min_images:
            images += [(person.name, str(f)) for f in files]
    return images


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--min-images", type=int, default=10)
    args = parser.parse_args()
    print(machine_line())
    images = identity_images(faces_dir() / "lfw_deepfunneled", args.min_images)
    pipeline = FacePipeline()
    names, vectors, paths, missing = [], [], [], 0
    start = time.perf_counter()
    for (name, path), (_, result) in zip(images, pipeline.analyze_many(p for _, p in images), strict=True):
        if isinstance(result, ImageLoadError) or not result.faces:
            missing += 1
            continue
        face = max(result.faces, key=lambda f: f.area)
        names.append(name)
        vectors.append(face.embedding)
        paths.append(path)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    target = cache_path(args.min_images)
    np.savez_compressed(target, names=np.array(names), vectors=np.stack(vectors), paths=np.array(paths))
    print(f"{pipeline.model_version.name}: {len(vectors)} faces of {len(set(names))} people ({missing} images without a face) "
          f"in {time.perf_counter() - start:.0f} s -> {target}")


if __name__ == "__main__":
    main()
