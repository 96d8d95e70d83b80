"""Every function the window runs in a child process (engine_process.ChildCall targets):
each opens the library itself and returns plain data.  Nothing here imports torch at import
time: the window imports this module too."""

from __future__ import annotations

from dataclasses import dataclass

from engine.jobs import CancelToken, ProgressCallback


_pipelines: dict[tuple[str, str], object] = {}  # in a long-lived engine host: models load once


def _pipeline_for(library):  # noqa: ANN001, ANN202 - a FacePipeline for the library's active model
    from engine.library.storage.model_registry import active_name, pipeline_for

    key = (str(library.path), active_name(library))
    if key not in _pipelines:
        _pipelines.clear()  # one set of models in memory at a time
        _pipelines[key] = pipeline_for(library)
    return _pipelines[key]


def add_face(db: str, photo_id: int, box: tuple[float, float, float, float], progress: ProgressCallback,
             cancel: CancelToken) -> int:
    """A face drawn by hand: landmarks, chip and embedding like a detected one; its id."""
    from engine.library.storage.manual_faces import add_face as add_drawn_face
    from engine.library.storage.store import Library

    with Library(db) as library:
        return add_drawn_face(library, _pipeline_for(library), photo_id, box)


def regroup(db: str, progress: ProgressCallback, cancel: CancelToken) -> None:
    """Group the faces again at the library's clustering level (after a strictness change)."""
    from engine.library.storage.store import Library
    from engine.library.jobs.tasks import regroup as regroup_library

    with Library(db) as library:
        regroup_library(library, progress, cancel)


_RECOGNITION_MEMORY: dict = {}  # library path -> RecognitionMemory; this host process lives as long as the window


def recognise(db: str, progress: ProgressCallback, cancel: CancelToken) -> int:
    """Recognition after the user's edits: faces of nobody that now match a named person are
    given to them or suggested.  The host remembers the last pass, so only the faces the edit
    can change are looked at again.  How many faces it placed."""
    from engine.library.identities.recognition_pass import recognize_faces
    from engine.library.identities.recognition_memory import RecognitionMemory
    from engine.library.storage.store import Library

    memory = _RECOGNITION_MEMORY.setdefault(db, RecognitionMemory())
    with Library(db) as library:
        summary = recognize_faces(library, memory=memory)
    return summary.assigned + summary.suggested


@dataclass(frozen=True)
class FinetuneProposal:
    """What the window shows and keeps of a fine-tune run (plain data: no torch objects)."""

    name: str
    accepted: bool
    headline: str  # one plain sentence first, the figures below it
    report_lines: tuple[str, ...]
    candidate: str | None  # the saved model file, only when accepted
    counts: str = ""  # the headline's mistakes counted in plain words (FinetuneReport.plain_counts)


def propose_finetune(db: str, progress: ProgressCallback, cancel: CancelToken) -> FinetuneProposal:
    """Fine-tune on the library's labels and measure; an accepted model is saved as a
    candidate file, applied only if the user agrees (apply_finetune).  Cancelled: nothing saved."""
    from engine.library.jobs.finetune_job import propose_finetune as propose
    from engine.library.jobs.finetune_job import save_candidate
    from engine.library.storage.model_registry import pipeline_for
    from engine.library.storage.store import Library

    with Library(db) as library:
        outcome = propose(library, pipeline_for(library), progress=progress, cancel=cancel)
        accepted = bool(outcome.report.accepted)
        candidate = str(save_candidate(library, outcome)) if accepted else None
        return FinetuneProposal(outcome.version.name, accepted, outcome.report.headline(), tuple(outcome.report.lines()),
                                candidate, outcome.report.plain_counts())


def apply_finetune(db: str, candidate: str, progress: ProgressCallback, cancel: CancelToken):  # noqa: ANN201
    """Register the candidate and switch the library to it (engine.library.jobs.tasks.apply_finetuned:
    the steps `facenet finetune` runs too); an AppliedModel."""
    from engine.library.storage.store import Library
    from engine.library.jobs.tasks import apply_finetuned

    with Library(db) as library:
        return apply_finetuned(library, candidate, progress, cancel)


REGROUP_DURING_SCAN_S = 20.0  # people appear while a scan runs: group again this often


@dataclass(frozen=True)
class ScanRequest:
    db: str
    folders: tuple[str, ...]
    min_face_px: float
    excluded: tuple[str, ...]
    regroup_every_s: float = REGROUP_DURING_SCAN_S


def run_scan(request: ScanRequest, progress: ProgressCallback, cancel: CancelToken):  # noqa: ANN201 - ScanSummary
    """The child's work: scan, regrouping during the scan, then group everything (the steps
    `facenet scan` runs too: engine.library.jobs.tasks.scan_and_group)."""
    from engine.faces.pipeline import DetectionSettings
    from engine.library.storage.model_registry import pipeline_for
    from engine.library.storage.store import Library
    from engine.library.jobs.tasks import scan_and_group

    settings = DetectionSettings(min_face_px=request.min_face_px)
    with Library(request.db) as library:
        return scan_and_group(library, request.folders, lambda: pipeline_for(library, settings=settings), progress,
                              cancel, request.excluded, request.regroup_every_s)
