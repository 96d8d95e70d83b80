"""Group questions on real faces: a named person's second group (another look, found by
benchmarks/group_suggestions.py's data: Tony Blair's first 20 LFW photos group as 17 + 3 at
the default version's clustering level) is asked about as a whole, and nobody else is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lfw_folders import link_lfw_people
from engine.library.edits import editing
from engine.library.questions.group_suggestions import answer_group_suggestion, group_suggestions
from engine.library.identities.grouping import cluster_library
from engine.library.jobs.scan import scan_folders
from engine.library.storage.store import Library, blob_to_embedding
from engine.model_versions import DEFAULT_VERSION
from engine.user_files import from_stored_path

pytestmark = pytest.mark.slow
PEOPLE = {"Tony_Blair": 20, "Serena_Williams": 8, "Jacques_Chirac": 8}


def largest_faces(library: Library) -> dict[str, dict]:
    """Per photo, its largest face (LFW names the person in the middle): path -> row."""
    rows = library.query(
        "SELECT ph.path, f.id, f.person_id, e.embedding FROM photos ph JOIN faces f ON f.photo_id = ph.id "
        "JOIN face_embeddings e ON e.face_id = f.id "
        "WHERE f.id = (SELECT g.id FROM faces g WHERE g.photo_id = ph.id ORDER BY (g.x2 - g.x1) * (g.y2 - g.y1) DESC LIMIT 1)")
    return {from_stored_path(r["path"]): r for r in rows}


def test_a_second_group_of_a_named_person_is_asked_about_on_real_photos(faces_dir, tmp_path, pipeline) -> None:
    photos = link_lfw_people(faces_dir, tmp_path / "Photos", PEOPLE)
    with Library(tmp_path / "lib.db") as library:
        scan_folders(library, [photos], lambda: pipeline)
        cluster_library(library)
        faces = largest_faces(library)
        tony = {p: f for p, f in faces.items() if Path(p).parent.name == "Tony_Blair"}
        groups: dict[int, int] = {}
        for face in tony.values():
            groups[face["person_id"]] = groups.get(face["person_id"], 0) + 1
        assert sorted(groups.values(), reverse=True)[:2] == [17, 3]  # grouping split him
        main = max(groups, key=groups.__getitem__)
        second = min(groups, key=groups.__getitem__)
        editing.name_person(library, main, "Tony")
        cluster_library(library)  # a regroup keeps the second look apart
        offered = group_suggestions(library)
        assert [(s.group, s.other_name) for s in offered] == [(second, "Tony")]
        question = offered[0]
        # The linkage, brute force over the stored embeddings of both sides.
        rows = library.query("SELECT e.embedding, f.person_id FROM faces f JOIN face_embeddings e ON e.face_id = f.id "
                             "WHERE f.person_id IN (?, ?) AND f.assignment != 'suggested'", [second, main])
        a = np.stack([DEFAULT_VERSION.prepare(blob_to_embedding(r["embedding"])) for r in rows if r["person_id"] == second])
        b = np.stack([DEFAULT_VERSION.prepare(blob_to_embedding(r["embedding"])) for r in rows if r["person_id"] == main])
        brute = float(np.mean(((a[:, None, :].astype(np.float64) - b[None, :, :]) ** 2).sum(-1)))
        assert question.linkage == pytest.approx(brute, rel=1e-6)
        assert DEFAULT_VERSION.cluster_linkage < question.linkage <= DEFAULT_VERSION.group_suggest_linkage
        answer_group_suggestion(library, question, yes=True)
        named = library.scalar("SELECT id FROM people WHERE name = 'Tony'")
        tony_after = {p: f for p, f in largest_faces(library).items() if Path(p).parent.name == "Tony_Blair"}
        assert {f["person_id"] for f in tony_after.values()} == {named}  # all 20 of his photos
        others = {p: f for p, f in largest_faces(library).items() if Path(p).parent.name != "Tony_Blair"}
        assert named not in {f["person_id"] for f in others.values()}
        assert group_suggestions(library) == []
