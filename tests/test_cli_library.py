"""The library commands end to end through `facenet`'s main()."""

from __future__ import annotations

import json
import shutil

import pytest

from engine.cli import main as facenet

pytestmark = pytest.mark.slow


def run(capsys, *args: str) -> tuple[int, str]:
    code = facenet(list(args))
    out = capsys.readouterr().out
    return code, out


def test_library_commands(tmp_path, faces_dir, capsys, monkeypatch) -> None:
    photos = tmp_path / "Photos"
    for person in ("Colin_Powell", "Tony_Blair"):
        (photos / person).mkdir(parents=True)
        for source in sorted((faces_dir / "lfw_deepfunneled" / person).glob("*.jpg"))[:4]:
            shutil.copy(source, photos / person / source.name)
    db = str(tmp_path / "lib.db")
    monkeypatch.setenv("FACENET_DB", db)  # the default location is overridden by the env
    code, out = run(capsys, "scan", str(photos), "--quiet", "--json")
    report = json.loads(out)
    assert code == 0 and report["analyzed"] == 8 and report["faces_found"] >= 8
    code, out = run(capsys, "cluster")
    assert code == 0 and "2 people" in out
    code, out = run(capsys, "people", "--json")
    people = json.loads(out)
    assert sorted(p["faces"] for p in people) == [4, 4]
    first, second = (p["id"] for p in people)
    assert run(capsys, "name", str(first), "Colin")[0] == 0
    assert run(capsys, "name", str(second), "Tony", "--db", db)[0] == 0  # --db works too
    code, out = run(capsys, "photos", "--person", "colin")
    assert code == 0 and len(out.split()) == 4
    records = json.loads(run(capsys, "export", "--format", "json")[1])
    names_by_folder = {(r["photo"].split("/")[-2], r["person_name"]) for r in records if r["person_name"]}
    assert names_by_folder in ({("Colin_Powell", "Colin"), ("Tony_Blair", "Tony")}, {("Colin_Powell", "Tony"), ("Tony_Blair", "Colin")})
    face = records[0]["face_id"]
    person_before = records[0]["person_name"]
    assert person_before is not None
    assert run(capsys, "reject", str(face))[0] == 0
    assert json.loads(run(capsys, "export")[1])[0]["person_name"] is None
    assert run(capsys, "undo")[0] == 0
    assert json.loads(run(capsys, "export")[1])[0]["person_name"] == person_before
    assert run(capsys, "move", str(face), "--to", "Somebody New")[0] == 0
    assert json.loads(run(capsys, "export")[1])[0]["person_name"] == "Somebody New"
    assert run(capsys, "hide", "Somebody New")[0] == 0
    assert "Somebody New" not in run(capsys, "people")[1]
    assert "Somebody New" in run(capsys, "people", "--all")[1]
    code, out = run(capsys, "export", "--format", "csv", "-o", str(tmp_path / "faces.csv"))
    assert (tmp_path / "faces.csv").read_text().startswith("face_id,photo,x1,y1,x2,y2")
    code, out = run(capsys, "export-xmp")
    assert code == 0 and "wrote 8 XMP" in out
    assert run(capsys, "name", "no such person", "X")[0] == 1
    code, out = run(capsys, "scan", str(tmp_path / "missing"), "--quiet")
    assert code == 1
