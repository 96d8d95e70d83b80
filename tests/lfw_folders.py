"""Camera-style folders of real LFW photos for tests: symlinks, never copies of the shared faces."""

from __future__ import annotations

from pathlib import Path


def link_lfw_people(faces_dir: Path, target: Path, people: dict[str, int]) -> Path:
    """`target/<person>/` holds links to each person's first photos (sorted by name); `target`."""
    for person, count in people.items():
        (target / person).mkdir(parents=True)
        for image in sorted((faces_dir / "lfw_deepfunneled" / person).glob("*.jpg"))[:count]:
            (target / person / image.name).symlink_to(image)
    return target
