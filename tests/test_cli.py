"""The `facenet` command line, run in-process as a user would type it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.cli import main
from engine.model_versions import DEFAULT_VERSION

pytestmark = pytest.mark.slow

OBAMA = "face_recognition_examples/Barack_Obama/examples__obama.jpg"
OBAMA_2 = "face_recognition_examples/Barack_Obama/examples__obama2.jpg"
BIDEN = "face_recognition_examples/Joe_Biden/examples__biden.jpg"


def test_faces_text_and_json(faces_dir, capsys) -> None:
    portrait = faces_dir / "group_photos/Marie_Curie/portrait.jpg"
    assert main(["faces", str(portrait)]) == 0
    text = capsys.readouterr().out
    assert "2 face(s)" in text and text.count("face ") >= 2 and "landmarks" in text
    assert main(["faces", "--json", str(portrait), str(faces_dir / BIDEN)]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [len(r["faces"]) for r in records] == [2, 1]
    face = records[0]["faces"][0]
    assert len(face["box"]) == 4 and len(face["landmarks"]) == 5 and 0 < face["score"]
    assert face["box"][2] <= records[0]["width"] and face["box"][3] <= records[0]["height"]


def test_faces_reports_bad_files_and_goes_on(faces_dir, tmp_path, capsys) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code = main(["faces", "--json", str(broken), str(faces_dir / BIDEN)])
    captured = capsys.readouterr()
    assert code == 1
    assert "broken.jpg" in captured.err
    records = json.loads(captured.out)
    assert "error" in records[0] and len(records[1]["faces"]) == 1


def test_verify_same_and_different(faces_dir, capsys) -> None:
    assert main(["verify", "--json", str(faces_dir / OBAMA), str(faces_dir / OBAMA_2)]) == 0
    same = json.loads(capsys.readouterr().out)
    assert main(["verify", "--json", str(faces_dir / OBAMA), str(faces_dir / BIDEN)]) == 0
    different = json.loads(capsys.readouterr().out)
    assert same["verdict"] == "same" and different["verdict"] == "different"
    assert same["distance"] < same["threshold"] < different["distance"]
    assert main(["verify", str(faces_dir / OBAMA), str(faces_dir / BIDEN)]) == 0
    assert "different" in capsys.readouterr().out


def test_verify_without_face_fails_clearly(faces_dir, capsys) -> None:
    landscape = faces_dir / "negatives/no_people/immich__denali.webp"
    assert main(["verify", str(landscape), str(faces_dir / BIDEN)]) == 1
    assert "no face" in capsys.readouterr().err


def test_eval_lfw_small_protocol(faces_dir, tmp_path, capsys) -> None:
    root = faces_dir / "lfw_deepfunneled"
    lines = (root / "pairsDevTest.txt").read_text().splitlines()
    same, different = lines[1:21], lines[501:521]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("20\n" + "\n".join(same + different) + "\n")
    assert main(["eval", "lfw", "--root", str(root), "--pairs", str(pairs), "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pairs"] == 40 and summary["model"] == DEFAULT_VERSION.name
    assert summary["accuracy_mean"] >= 0.9
    assert summary["no_face_fallback_images"] >= 0


def test_console_script_help() -> None:
    result = subprocess.run([sys.executable, "-m", "engine.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "faces" in result.stdout and "verify" in result.stdout


def test_train_on_a_folder_without_photos_says_so(tmp_path, capsys) -> None:
    """Today's `facenet train --data empty/` printed a ValueError traceback."""
    (tmp_path / "empty" / "Anna").mkdir(parents=True)
    out = tmp_path / "trained"  # the folder for checkpoints and the model
    code = main(["train", "--data", str(tmp_path / "empty"), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "no photos in person folders under" in err and "one folder per person" in err
    assert not list(out.glob("*.pt")) if out.exists() else True  # nothing that looks like a model
