"""Faces named with their group, on real photos: one of Serena Williams's faces put in
Jacques Chirac's group (a clustering mistake the user never looked at) and the group named;
Serena's other faces confirmed one by one.  The regroup asks about that face as Serena and
leaves every real Chirac face named; had the user confirmed it as Chirac, it stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from lfw_folders import link_lfw_people
from engine.library.edits import editing
from engine.library.identities.grouping import cluster_library
from engine.library.identities.labelled_faces import labelled_face_rows, without_doubtful
from engine.library.jobs.scan import scan_folders
from engine.library.storage.store import Library
from engine.model_versions import DEFAULT_VERSION
from engine.user_files import from_stored_path

pytestmark = pytest.mark.slow
PEOPLE = {"Serena_Williams": 8, "Jacques_Chirac": 8}


def central_faces(library: Library) -> dict[str, list[int]]:
    """Per LFW person, the largest face of each photo (LFW names the person in the middle)."""
    rows = library.query(
        "SELECT ph.path, f.id FROM photos ph JOIN faces f ON f.photo_id = ph.id WHERE f.id = "
        "(SELECT g.id FROM faces g WHERE g.photo_id = ph.id ORDER BY (g.x2 - g.x1) * (g.y2 - g.y1) DESC LIMIT 1) "
        "ORDER BY ph.path")
    out: dict[str, list[int]] = {}
    for row in rows:
        out.setdefault(Path(from_stored_path(row["path"])).parent.name, []).append(row["id"])
    return out


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, faces_dir, pipeline) -> Path:
    root = tmp_path_factory.mktemp("doubtful")
    photos = link_lfw_people(faces_dir, root / "Photos", PEOPLE)
    with Library(root / "lib.db") as library:
        scan_folders(library, [photos], lambda: pipeline)
    return root / "lib.db"


def library_with_a_stray_face(scanned: Path, tmp_path: Path, confirm_stray: bool) -> tuple[Library, dict, int, int]:
    copy = tmp_path / "lib.db"
    copy.write_bytes(scanned.read_bytes())
    library = Library(copy)
    faces = central_faces(library)
    serena, chirac = faces["Serena_Williams"], faces["Jacques_Chirac"]
    with library.atomic() as db:  # Chirac's group as a clustering would make it, with one of Serena's faces
        group = db.execute("INSERT INTO people(name) VALUES (NULL)").lastrowid
        for face in [*chirac, serena[0]]:
            db.execute("UPDATE faces SET person_id = ?, assignment = 'auto', distance = NULL WHERE id = ?", [group, face])
    editing.name_person(library, group, "Jacques Chirac")
    if confirm_stray:
        editing.confirm_face(library, serena[0])
    editing.move_faces(library, serena[1:], "Serena Williams", create=True)
    return library, faces, group, library.scalar("SELECT id FROM people WHERE name = 'Serena Williams'")


def test_a_group_named_face_of_someone_else_becomes_a_question_on_real_faces(scanned, tmp_path) -> None:
    library, faces, chirac_id, serena_id = library_with_a_stray_face(scanned, tmp_path, confirm_stray=False)
    with library:
        stray = faces["Serena_Williams"][0]
        rows = labelled_face_rows(library, DEFAULT_VERSION.name)
        kept = {r["id"] for r in without_doubtful(rows, DEFAULT_VERSION, library)}
        assert {r["id"] for r in rows} - kept == {stray}  # fine-tuning leaves out that face only
        summary = cluster_library(library)
        assert summary.questioned == 1
        assert library.query("SELECT person_id, assignment FROM faces WHERE id = ?", [stray]) == [
            {"person_id": serena_id, "assignment": "suggested"}]
        chirac = faces["Jacques_Chirac"]
        assert library.query(f"SELECT DISTINCT person_id, assignment FROM faces WHERE id IN ({','.join('?' * len(chirac))})",
                             chirac) == [{"person_id": chirac_id, "assignment": "manual"}]
        editing.confirm_face(library, stray)  # the user answers Yes: Serena's, confirmed
        assert library.query("SELECT person_id, assignment, confirmed FROM faces WHERE id = ?", [stray]) == [
            {"person_id": serena_id, "assignment": "manual", "confirmed": 1}]


def test_a_face_confirmed_by_the_user_stays_where_they_put_it_on_real_faces(scanned, tmp_path) -> None:
    library, faces, chirac_id, _ = library_with_a_stray_face(scanned, tmp_path, confirm_stray=True)
    with library:
        stray = faces["Serena_Williams"][0]
        rows = labelled_face_rows(library, DEFAULT_VERSION.name)
        assert without_doubtful(rows, DEFAULT_VERSION, library) == rows
        assert cluster_library(library).questioned == 0
        assert library.query("SELECT person_id, assignment FROM faces WHERE id = ?", [stray]) == [
            {"person_id": chirac_id, "assignment": "manual"}]
