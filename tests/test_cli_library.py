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


def test_suggestions_and_answers_in_the_terminal(tmp_path, faces_dir, capsys) -> None:
    """Named from one face, a person is only suggested for the others (never given them
    silently); `facenet suggestions` lists them and `facenet answer` settles them, undoably."""
    photos = tmp_path / "Photos" / "Colin_Powell"
    photos.mkdir(parents=True)
    for source in sorted((faces_dir / "lfw_deepfunneled" / "Colin_Powell").glob("*.jpg"))[:5]:
        shutil.copy(source, photos / source.name)
    db = str(tmp_path / "lib.db")
    assert run(capsys, "scan", str(photos), "--quiet", "--no-group", "--db", db)[0] == 0
    assert run(capsys, "suggestions", "--db", db)[1].startswith("Nothing to review")
    assert json.loads(run(capsys, "people", "--json", "--db", db)[1]) == []  # --no-group: nobody grouped yet
    records = json.loads(run(capsys, "export", "--db", db)[1])
    first = min((r for r in records if r["photo"].endswith("_0001.jpg")), key=lambda r: -(r["box"][2] - r["box"][0]))
    code, out = run(capsys, "move", str(first["face_id"]), "--to", "Colin", "--db", db)
    assert code == 0 and out.strip() == "Moved 1 face to Colin"
    assert run(capsys, "recognize", "--db", db)[0] == 0
    code, out = run(capsys, "suggestions", "--json", "--db", db)
    listed = json.loads(out)["faces"]
    assert code == 0 and len(listed) >= 3 and {s["person"] for s in listed} == {"Colin"}
    assert all(s["photo"].startswith(str(photos)) for s in listed)
    text = run(capsys, "suggestions", "--db", db)[1]
    assert f"{len(listed)} faces to review" in text and "is this Colin?" in text
    yes, no = listed[0]["face"], listed[1]["face"]
    assert run(capsys, "answer", str(yes), "yes", "--db", db)[1].strip() == "Confirmed 1 face as Colin"
    assert run(capsys, "answer", str(no), "no", "--db", db)[1].strip() == "Moved 1 face from Colin to Unsorted"
    left = {s["face"] for s in json.loads(run(capsys, "suggestions", "--json", "--db", db)[1])["faces"]}
    assert yes not in left and no not in left and len(left) == len(listed) - 2
    assert run(capsys, "undo", "--db", db)[1].strip() == "Undone: Moved 1 face from Colin to Unsorted"
    assert run(capsys, "redo", "--db", db)[1].strip() == "Redone: Moved 1 face from Colin to Unsorted"
    assert run(capsys, "answer", "99999", "yes", "--db", db)[0] == 1  # an unknown face: a clear error
