"""The long steps the window and the `facenet` command both run, in one place, so that both
make the same people from the same photos: scan then group (at the user's strictness),
group again, and switch to a model (a fine-tuned one included) saying what changed.  The
window runs them in child processes (facenet_desktop/child_work.py opens the library and
calls these); the command line runs them in its own process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.jobs import CancelToken, Progress, ProgressCallback, no_progress
from engine.library.identities.grouping import MIN_PERSON_FACES, ClusterSummary, cluster_library
from engine.library.storage.preferences import clustering_version
from engine.library.storage.records import ScanSummary
from engine.library.storage.store import Library

SWITCHED_TO_FINETUNED = "Switched to your fine-tuned model"


def scan_and_group(
    library: Library,
    folders: Iterable[str | Path],
    make_pipeline: Callable[[], object],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    exclude: Iterable[str | Path] = (),
    regroup_every_s: float | None = None,
    group: bool = True,
) -> ScanSummary:
    """Scan, then group everything at the user's strictness.  With `regroup_every_s` people
    also appear while the scan runs (the window), never taking more than a quarter of the
    time (grouping 100k faces takes about 40 s).  `group=False` only scans (a later regroup
    groups).  Cancelled: raises Cancelled, ungrouped."""
    from engine.library.jobs.scan import scan_folders

    cancel = cancel or CancelToken()
    last_grouping, grouping_cost = [time.monotonic()], [0.0]

    def report(step: Progress) -> None:
        progress(step)
        if regroup_every_s is None:
            return
        waited = time.monotonic() - last_grouping[0]
        if waited > max(regroup_every_s, 3 * grouping_cost[0]) and not cancel.cancelled:
            started = time.monotonic()
            cluster_library(library, clustering_version(library))
            grouping_cost[0] = time.monotonic() - started
            last_grouping[0] = time.monotonic()

    summary = scan_folders(library, folders, make_pipeline, report, cancel, exclude=exclude)
    if group and not cancel.cancelled:
        progress(Progress("grouping faces", 0, 1))
        cluster_library(library, clustering_version(library))
    return summary


def regroup(library: Library, progress: ProgressCallback = no_progress, cancel: CancelToken | None = None,
            min_faces: int = MIN_PERSON_FACES) -> ClusterSummary:
    """Group the faces not labelled by hand again, at the user's strictness."""
    return cluster_library(library, clustering_version(library), min_faces=min_faces, progress=progress, cancel=cancel)


@dataclass(frozen=True)
class AppliedModel:
    """What switching to a model changed (plain data: the window shows it)."""

    version: str
    embedded: int  # faces embedded now
    changed_person: int  # faces whose person (or none) changed when grouping and recognition were redone
    suggestions: int  # suggestions now waiting for the user
    changes: str = ""  # in words: "12 more faces named, 3 moved to Ben"
    reused: int = 0  # faces whose vector under the version was already stored
    left_out: int = 0  # faces whose photo could not be read: they keep their labels and old vector
    seconds: float = 0.0


def apply_model(library: Library, name: str, progress: ProgressCallback = no_progress,
                cancel: CancelToken | None = None, description: str | None = None) -> AppliedModel:
    """Switch the library to version `name` (every face embedded with it, grouped once at the
    user's strictness), as one undoable edit; what changed, in words."""
    from engine.library.reading.browse import suggestions
    from engine.library.storage.changes import asked_faces, changes_in_words, named_faces
    from engine.library.identities.labelled_faces import photo_faces_embedder
    from engine.library.storage.model_registry import pipeline_for
    from engine.library.jobs.model_switch import switch_model
    from engine.library.reading.people import person_of_each_face

    before, asked_before = named_faces(library), asked_faces(library)
    people_before = person_of_each_face(library)
    summary = switch_model(library, name, photo_faces_embedder(pipeline_for(library, name)), progress, cancel,
                           description=description)
    changed = sum(1 for face, person in person_of_each_face(library).items() if people_before.get(face) != person)
    words = changes_in_words(before, named_faces(library), asked_before, asked_faces(library))
    return AppliedModel(summary.version, summary.embedded, changed, len(suggestions(library)), words, summary.reused,
                        summary.left_out, summary.seconds)


def apply_finetuned(library: Library, candidate: str | Path, progress: ProgressCallback = no_progress,
                    cancel: CancelToken | None = None) -> AppliedModel:
    """Make a measured candidate (finetune_job.save_candidate) a version and switch to it."""
    from engine.library.jobs.finetune_job import register_candidate

    return apply_model(library, register_candidate(library, candidate), progress, cancel, SWITCHED_TO_FINETUNED)
