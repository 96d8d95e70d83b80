"""Fine-tune on my labels, for a library: train from the active model on the hand-labelled
faces, judge on a per-person held-out split, and (when asked) save the result as a new model
version next to the database.  Applying it is `model_switch.switch_model`."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from torch import nn

from engine.jobs import CancelToken, ProgressCallback, no_progress
from engine.library.questions.finetune_offer import note_finetune_tried
from engine.library.identities.labelled_faces import training_faces
from engine.library.storage.model_registry import CANDIDATE_SUFFIX, model_file, models_folder, register_model
from engine.library.storage.store import Library
from engine.model_versions import ModelVersion
from engine.training.acceptance import split_per_person
from engine.training.finetune import IMPOSTOR_SHARES, FinetuneReport, FinetuneSettings, finetune
from engine.training.model_file import load_model_file, save_model_file
from engine.training.models import ArchConfig, build_network, default_config

DEFAULT_SETTINGS = FinetuneSettings()  # frozen: one shared default is safe

# A fine-tuned version's levels sit where the same share of held-out pairs of different
# people falls below them as below the parent's, within these bounds of the parent's.  A
# fine-tune often spreads the whole space, so the parent's levels would ask about fewer
# faces.  The levels that only ask (pages, suggestions, group questions) follow the spread;
# those that name or group without asking never loosen: the held-out people are the ones
# trained on, whose strangers spread more than anyone else's, and a wrong merge is worse
# than a split.
MAX_LEVEL_RATIO = 1.5
MIN_LEVEL_RATIO = 0.5


@dataclass
class FinetuneOutcome:
    network: nn.Module
    config: ArchConfig
    report: FinetuneReport
    version: ModelVersion  # the proposed version, recalibrated
    parent: str


def starting_network(library: Library, name: str) -> tuple[nn.Module, ArchConfig]:
    path = model_file(library, name)
    if path is None:
        config = default_config("resnet")
        return build_network(config), config
    loaded = load_model_file(path)
    return loaded.network, loaded.config


def level_ratio(level: float, report: FinetuneReport) -> float:
    """How much further the new model's level lies than the parent's `level`: where the same
    share of held-out different-person pairs is closer than it.  Without those shares (too
    few faces held out), the change of the best-accuracy threshold, never looser."""
    before, after = report.impostors_before, report.impostors_after
    if len(before) == len(after) == len(IMPOSTOR_SHARES) and min(before) > 0:
        share = float(np.interp(level, before, IMPOSTOR_SHARES))  # clamped to the shares measured
        ratio = float(np.interp(share, IMPOSTOR_SHARES, after) / np.interp(share, IMPOSTOR_SHARES, before))
        return min(MAX_LEVEL_RATIO, max(MIN_LEVEL_RATIO, ratio))
    ratio = report.threshold_after / report.threshold_before if report.threshold_before > 0 else 1.0
    return min(1.0, max(MIN_LEVEL_RATIO, ratio))


def recalibrated(parent: ModelVersion, report: FinetuneReport, name: str) -> ModelVersion:
    def moved(level: float, looser: bool = True) -> float:
        ratio = level_ratio(level, report)
        return level * (ratio if looser else min(1.0, ratio))

    def moved_squared(level: float, looser: bool = True) -> float:  # linkages are on squared distances
        return moved(level**0.5, looser) ** 2

    return replace(
        parent,
        name=name,
        architecture=f"{parent.architecture}+finetuned",
        threshold=moved(parent.threshold),
        calibration=(
            f"{parent.name}'s levels moved to where the same share of {report.held_out_faces} held-out faces' "
            f"different-person pairs lies below them (x {level_ratio(parent.threshold, report):.3f} at the "
            f"threshold); the automatic naming, grouping and single-face suggestion levels never looser"
        ),
        flip_average=True,
        chip_rotations=parent.chip_rotations,  # the views the fine-tune measured it with
        cluster_linkage=moved_squared(parent.cluster_linkage, looser=False),
        auto_assign_distance=moved(parent.auto_assign_distance, looser=False),
        # A face question costs an action per face where a page settles several: looser face
        # questions took faces off the pages, 44% of them No (benchmarks/RESULTS.md, "The
        # fine-tune in the loop"), so they move like the automatic levels.
        suggest_distance=moved(parent.suggest_distance, looser=False),
        group_suggest_linkage=moved_squared(parent.group_suggest_linkage),
    )


def propose_finetune(
    library: Library,
    pipeline,  # noqa: ANN001 - the active version's FacePipeline
    settings: FinetuneSettings = DEFAULT_SETTINGS,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> FinetuneOutcome:
    """Train and measure.  Writes only, once done, that the model tried to learn now (the
    offer to learn waits for new corrections); a cancel, which raises Cancelled, leaves nothing."""
    parent = pipeline.model_version
    faces, negatives = training_faces(library, pipeline, seed=settings.seed, progress=progress, cancel=cancel)
    train, held_out = split_per_person(faces, settings.held_out_share, settings.seed)
    network, config = starting_network(library, parent.name)
    train_negatives, held_negatives = negatives.split(settings.held_out_share, settings.seed)
    tuned, report = finetune(network, config, train, held_out, settings, progress, cancel,
                             rotations=parent.chip_rotations, negatives=train_negatives,
                             held_out_negatives=held_negatives)
    note_finetune_tried(library)
    name = f"finetuned-{time.strftime('%Y%m%d-%H%M%S')}"
    return FinetuneOutcome(tuned, config, report, recalibrated(parent, report, name), parent.name)


def save_candidate(library: Library, outcome: FinetuneOutcome) -> Path:
    """The proposed model's file in the models folder, not yet a version of the library: the
    app measures in one process and applies, after the user agrees, in another."""
    path = models_folder(library) / f"{outcome.version.name}{CANDIDATE_SUFFIX}"
    metadata = {
        "name": outcome.version.name,
        "parent": outcome.parent,
        "threshold": outcome.version.threshold,
        "model_version": asdict(outcome.version),
        "report": outcome.report.to_dict(),
    }
    save_model_file(path, outcome.network, outcome.config, metadata)
    return path


def register_candidate(library: Library, candidate: str | Path) -> str:
    """Make a saved candidate a version of the library (not the active one); its name.
    Registering the same candidate again is a no-op."""
    candidate = Path(candidate)
    name = candidate.name.removesuffix(CANDIDATE_SUFFIX)
    final = candidate.with_name(f"{name}.pt")
    if library.scalar("SELECT 1 FROM model_versions WHERE name = ?", [name]) is not None:
        return name
    loaded = load_model_file(candidate)
    candidate.replace(final)
    register_model(library, loaded.version, loaded.metadata["parent"], final, loaded.metadata["report"])
    return name


def save_finetuned(library: Library, outcome: FinetuneOutcome) -> Path:
    """The model file (in the library's models folder) and its version row."""
    register_candidate(library, save_candidate(library, outcome))
    return models_folder(library) / f"{outcome.version.name}.pt"
