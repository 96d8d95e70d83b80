"""Fine-tune on my labels with real faces: a library of the ten LFW identities the base model
confuses most (measured by benchmarks/finetune_lookalikes.py: leave-one-out 1-NN error 7-18%),
ten photos of each labelled by hand.  The default fine-tune lowers both held-out errors, a
destructive learning rate is rejected and changes nothing, cancelling changes nothing, and an
applied model re-embeds the real photos with every label kept and switches back exactly."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from synthetic_library import user_labels

from lfw_folders import link_lfw_people
from engine.errors import Cancelled
from engine.cli import main as facenet
from engine.library.reading.browse import suggestions
from engine.jobs import CancelToken, Progress, no_progress
from engine.library.edits import editing
from engine.library.jobs.finetune_job import propose_finetune, register_candidate, save_candidate
from engine.library.identities.labelled_faces import photo_faces_embedder
from engine.library.storage.model_registry import active_name, list_models, pipeline_for
from engine.library.jobs.model_switch import switch_model
from engine.library.jobs.scan import scan_folders
from engine.library.storage.store import Library
from engine.model_versions import DEFAULT_VERSION, MODEL_VERSIONS
from engine.training.finetune import FinetuneSettings
from facenet_desktop import child_work

pytestmark = pytest.mark.slow

LOOKALIKES = ["Catherine_Zeta-Jones", "Paradorn_Srichaphan", "Richard_Gere", "Tom_Cruise", "Walter_Mondale",
              "Kim_Ryong-sung", "Rubens_Barrichello", "Jackie_Chan", "Britney_Spears", "Recep_Tayyip_Erdogan"]
PHOTOS_PER_PERSON, LABELLED_PER_PERSON = 13, 10
SHORT_RUN_STEPS = 150
TOO_FEW_RUN_STEPS = 30  # the verdict depends on the current model's mistakes only


@pytest.fixture(scope="module")
def lookalike_library(tmp_path_factory, faces_dir):
    """Scanned once; each test gets its own copy of the database."""
    root = tmp_path_factory.mktemp("lookalikes")
    photos = link_lfw_people(faces_dir, root / "Photos", dict.fromkeys(LOOKALIKES, PHOTOS_PER_PERSON))
    db = root / "lib.db"
    with Library(db) as library:
        scan_folders(library, [photos])
        rows = library.query(
            "SELECT f.id, ph.path FROM faces f JOIN photos ph ON ph.id = f.photo_id "
            "ORDER BY ph.path, (f.x2 - f.x1) * (f.y2 - f.y1) DESC")
        largest: dict[str, int] = {}
        for row in rows:
            largest.setdefault(row["path"], row["id"])  # LFW: the person is the largest face
        labelled: dict[str, int] = {}
        for path, face in sorted(largest.items()):
            person = path.split("/")[-2]
            if labelled.get(person, 0) < LABELLED_PER_PERSON:
                target = person if labelled.get(person) else editing.create_person(library, person)
                editing.move_face(library, face, target)
                labelled[person] = labelled.get(person, 0) + 1
    return db, photos


def library_copy(source, tmp_path) -> Library:
    db = tmp_path / "lib.db"
    shutil.copy(source, db)
    return Library(db)


def everything(library: Library) -> tuple:
    return (
        library.query("SELECT * FROM faces ORDER BY id"),
        library.query("SELECT * FROM face_embeddings ORDER BY face_id, model_version"),
        library.query("SELECT * FROM people ORDER BY id"),
        library.query("SELECT * FROM rejections ORDER BY face_id"),
        library.query("SELECT * FROM edits ORDER BY id"),
        library.query("SELECT * FROM model_versions"),
        active_name(library),
    )


def test_too_few_mistakes_on_sharp_lookalikes_to_tell_and_the_rule_names_who_to_label(lookalike_library, tmp_path) -> None:
    """The ten look-alike identities as they are (sharp press photos): the current model
    makes only 3 + 0 mistakes on the 30 held-out faces (measured 2026-12-02: 3 wrong pairs
    of 60, no wrong face by the 5-nearest vote), so even fixing all of them could not tell
    improvement from chance (1/2^3 > 0.05).  The rule says so without training (the verdict
    is known once the current model is measured; the full run of
    benchmarks/finetune_lookalikes.py took these 3 to 0 and was refused all the same), and
    names the people in those mistakes to label more."""
    with library_copy(lookalike_library[0], tmp_path) as library:
        before = everything(library)
        phases = []
        outcome = propose_finetune(library, pipeline_for(library), FinetuneSettings(steps=TOO_FEW_RUN_STEPS),
                                   lambda p: phases.append(p.item))
        report = outcome.report
        assert report.steps == 0 and not any(m.startswith("loss") for m in phases), "it trained for nothing"
        assert phases[-1] == "done: nothing to train for"
        assert report.after == report.before
        assert "not trained" in report.lines()[0] and "current model: " in report.lines()[1]
        print(report.to_dict())
        assert report.people == len(LOOKALIKES)
        assert report.train_faces + report.held_out_faces == len(LOOKALIKES) * LABELLED_PER_PERSON
        assert report.before.queries == report.held_out_faces == 30  # 3 of 10 per person held out
        # Fewer than 5 wrong pairs and fewer than 5 wrong faces: no outcome could pass p <= 0.05.
        assert 0 < len(report.before.wrong_pairs) < 5 and len(report.before.wrong_queries) < 5
        assert report.after.mistakes <= report.before.mistakes
        assert not report.accepted and report.verdict.reason == "too few mistakes"
        involved = {name for pair in report.before.confusions for name in pair}
        assert report.verdict.label_more and set(report.verdict.label_more) <= involved <= set(LOOKALIKES)
        assert report.headline().startswith("Too few mistakes on the faces you named")
        assert "Label more faces of " in report.headline()
        assert everything(library) == before  # measuring writes nothing


def test_finetune_on_degraded_lookalikes_is_accepted_by_the_rule(lookalike_library, tmp_path) -> None:
    """The same labelled faces as old family photos (engine.training.degraded): small,
    blurred, grey or sepia, dark, noisy.  The base model now makes enough mistakes for the
    rule to judge, and the default fine-tune lowers both errors beyond chance."""
    from engine.library.jobs.finetune_job import starting_network
    from engine.library.identities.labelled_faces import labelled_face_set
    from engine.training.acceptance import split_per_person
    from engine.training.degraded import degrade_chips
    from engine.training.finetune import finetune

    with library_copy(lookalike_library[0], tmp_path) as library:
        pipeline = pipeline_for(library)
        faces = labelled_face_set(library, pipeline)
        faces = type(faces)(degrade_chips(faces.chips, seed=0), faces.labels, faces.names, faces.paths, faces.fallbacks,
                            faces.face_ids)
        settings = FinetuneSettings(steps=SHORT_RUN_STEPS)
        train, held = split_per_person(faces, settings.held_out_share, settings.seed)
        network, config = starting_network(library, pipeline.model_version.name)
        _tuned, report = finetune(network, config, train, held, settings,
                                  rotations=pipeline.model_version.chip_rotations)
    print(report.to_dict())
    # Measured (2026-12-02): verification 11.67% -> 1.67% of 60 pairs (6 fixed, 0 broken, p = 1/64),
    # 5-nearest recognition 6.67% -> 3.33% of 30 faces (1 fixed, 0 broken): accepted.
    assert report.before.recognition_error >= 0.05  # the base model struggles here
    assert len(report.before.wrong_pairs) >= 5  # enough mistakes for the rule to tell
    assert report.after.verification_error <= 0.7 * report.before.verification_error
    assert report.after.recognition_error <= 0.7 * report.before.recognition_error
    assert report.verdict.verification.broken == 0 and report.verdict.recognition.broken == 0
    assert report.accepted and report.verdict.reason == "better", report.lines()


def test_destructive_learning_rate_is_rejected_and_changes_nothing(lookalike_library, tmp_path, capsys) -> None:
    db = tmp_path / "lib.db"
    shutil.copy(lookalike_library[0], db)
    with Library(db) as library:
        before = everything(library)
    # These sharp faces hold too few mistakes to judge, so the run must be asked to train at all.
    code = facenet(["finetune", "--db", str(db), "--lr", "0.01", "--steps", "20", "--train-anyway", "--yes", "--quiet",
                    "--json"])
    out = capsys.readouterr().out
    assert code == 0
    import json

    report = json.loads(out[: out.rindex("}") + 1])
    assert report["after"]["verification_error"] > report["before"]["verification_error"]
    assert report["accepted"] is False
    with Library(db) as library:
        assert everything(library) == before
        assert [r.name for r in list_models(library)] == list(MODEL_VERSIONS)  # the built-in ones only


def test_cancelling_finetune_changes_nothing(lookalike_library, tmp_path) -> None:
    with library_copy(lookalike_library[0], tmp_path) as library:
        before = everything(library)
        token = CancelToken()

        def progress(p: Progress) -> None:
            if p.phase == "fine-tuning" and p.done >= 3:
                token.cancel()

        with pytest.raises(Cancelled):
            propose_finetune(library, pipeline_for(library), FinetuneSettings(steps=100, train_anyway=True), progress, token)
        assert everything(library) == before


def test_applied_model_reembeds_real_photos_and_switches_back_exactly(lookalike_library, tmp_path) -> None:
    with library_copy(lookalike_library[0], tmp_path) as library:
        base_rows = active_vectors(library)
        said = user_labels(library)
        outcome = propose_finetune(library, pipeline_for(library), FinetuneSettings(steps=5, train_anyway=True))
        # Applied whatever the verdict (this tests the mechanics), as the window does: the
        # candidate file, then the child's function that registers it and switches.
        candidate = save_candidate(library, outcome)
        name = outcome.version.name
        people_before = dict(library.db.execute("SELECT id, person_id FROM faces").fetchall())
        named_query = ("SELECT f.id, p.name FROM faces f JOIN people p ON p.id = f.person_id "
                       "WHERE p.name IS NOT NULL AND f.assignment != 'suggested'")
        names_before = dict(library.db.execute(named_query).fetchall())
        applied = child_work.apply_finetune(str(library.path), str(candidate), no_progress, CancelToken())
        assert (applied.version, applied.embedded) == (name, len(base_rows))
        # Grouping and recognition were redone, and the report counts what they changed.
        people_after = dict(library.db.execute("SELECT id, person_id FROM faces").fetchall())
        assert applied.changed_person == sum(people_before[f] != people_after[f] for f in people_after)
        assert applied.changed_person > 0  # the unlabelled faces, never recognised since the labels came, now are
        # The words count the faces whose name changed (a regroup among unnamed groups is no name).
        names_after = dict(library.db.execute(named_query).fetchall())
        gained = sum(1 for face in names_after if face not in names_before)
        moved = sum(1 for face in names_after if face in names_before and names_before[face] != names_after[face])
        if gained:
            assert applied.changes.startswith(f"{gained} more face"), applied.changes
        elif moved:
            assert "moved to" in applied.changes, applied.changes
        elif set(names_before) <= set(names_after):
            assert applied.changes == "no face changed name"
        else:
            assert "no longer named" in applied.changes or "asked about" in applied.changes, applied.changes
        assert applied.suggestions == len(suggestions(library))
        assert not candidate.exists() and register_candidate(library, candidate) == name  # again: a no-op
        assert active_name(library) == name
        tuned_rows = active_vectors(library)
        assert [r["id"] for r in tuned_rows] == [r["id"] for r in base_rows]  # every face has its tuned vector
        assert all(a["embedding"] != b["embedding"] for a, b in zip(base_rows, tuned_rows, strict=True))
        assert user_labels(library) == said
        # The same face embedded by the new model through a fresh pipeline gives the stored vector.
        pipeline = pipeline_for(library)
        row = library.query("SELECT f.id, f.landmarks, ph.path, ph.width, e.embedding FROM faces f "
                            "JOIN photos ph ON ph.id = f.photo_id JOIN face_embeddings e ON e.face_id = f.id "
                            "AND e.model_version = ? ORDER BY f.id LIMIT 1", [active_name(library)])[0]
        again = photo_faces_embedder(pipeline)(row["path"], [row])[0]
        np.testing.assert_allclose(again, np.frombuffer(row["embedding"], "<f4"), atol=1e-5)
        # A rescan under the new model finds nothing to do; the people are still there.
        assert scan_folders(library, [lookalike_library[1]], lambda: pipeline).analyzed == 0
        back = switch_model(library, DEFAULT_VERSION.name, photo_faces_embedder(pipeline_for(library, DEFAULT_VERSION.name)))
        assert back.embedded == 0 and back.reused == len(base_rows)
        assert active_vectors(library) == base_rows
        assert user_labels(library) == said


def active_vectors(library: Library) -> list[dict]:
    """Each face's vector under the library's active version, by face id."""
    return library.query("SELECT f.id, e.embedding FROM faces f JOIN face_embeddings e ON e.face_id = f.id "
                         "AND e.model_version = ? ORDER BY f.id", [active_name(library)])
