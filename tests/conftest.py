"""Shared fixtures.  Real photos come from FACES_DIR (default ../shared/faces); tests that
need them skip with a message where the folder is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FACES_DIR = Path(os.environ.get("FACES_DIR", REPO.parent / "shared" / "faces"))
# The suite compares against dlib to a few 1e-6, so it runs in float32 on every machine
# (processes it starts inherit this); tests/test_precision.py exercises bfloat16 and the
# run-time choice explicitly.
os.environ.setdefault("FACENET_PRECISION", "fp32")


@pytest.fixture(scope="session", autouse=True)
def _isolated_app_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never touch the user's real library or cache."""
    base = tmp_path_factory.mktemp("appdirs")
    os.environ["FACENET_DATA_DIR"] = str(base / "data")
    os.environ["FACENET_CACHE_DIR"] = str(base / "cache")


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    if not FACES_DIR.is_dir():
        pytest.skip(f"real face photos not found at {FACES_DIR} (set FACES_DIR to the shared faces folder)")
    return FACES_DIR


@pytest.fixture(scope="session")
def dlib():
    """The reference implementation (dlib-bin); tests only."""
    return pytest.importorskip("dlib", reason="dlib-bin (the reference implementation) is not installed")


@pytest.fixture(scope="session")
def model_files():
    from engine.dlib.model_files import default_model_files

    return default_model_files()


@pytest.fixture(scope="session")
def pipeline():
    from engine.faces.pipeline import FacePipeline

    return FacePipeline()
