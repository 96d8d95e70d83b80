"""The user's settings that shape the library (kept in the database, so they travel with it):
clustering strictness, the smallest face to detect, folders left out of scans."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from engine.library.storage.model_registry import active_version
from engine.library.storage.store import Library
from engine.model_versions import ModelVersion
from engine.settings import DEFAULT_MIN_FACE_PX

KEY = "preferences"
# Strictness scales the clustering linkage of the active model version: stricter splits
# more and merges less (a wrong merge is worse than a split, so "normal" is already careful).
STRICTNESS = {"strict": 0.8, "normal": 1.0, "loose": 1.15}


@dataclass(frozen=True)
class Preferences:
    strictness: str = "normal"
    min_face_px: int = DEFAULT_MIN_FACE_PX
    excluded_folders: tuple[str, ...] = ()


def load_preferences(library: Library) -> Preferences:
    text = library.scalar("SELECT value FROM settings WHERE key = ?", [KEY])
    if not text:
        return Preferences()
    data = json.loads(text)
    data["excluded_folders"] = tuple(data.get("excluded_folders", ()))
    known = {k: v for k, v in data.items() if k in Preferences.__dataclass_fields__}
    prefs = Preferences(**known)
    return prefs if prefs.strictness in STRICTNESS else replace(prefs, strictness="normal")


def save_preferences(library: Library, prefs: Preferences) -> None:
    if prefs.strictness not in STRICTNESS:
        raise ValueError(f"strictness must be one of {', '.join(STRICTNESS)}")
    value = json.dumps({"strictness": prefs.strictness, "min_face_px": int(prefs.min_face_px),
                        "excluded_folders": list(prefs.excluded_folders)})
    with library.atomic() as db:
        db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", [KEY, value])


def clustering_version(library: Library, prefs: Preferences | None = None) -> ModelVersion:
    """The active version with the user's strictness applied to its clustering linkage."""
    prefs = prefs or load_preferences(library)
    version = active_version(library)
    return replace(version, cluster_linkage=version.cluster_linkage * STRICTNESS[prefs.strictness])
