"""How long "Learn from your corrections" takes, stage by stage, and what that means for
1,000 labelled faces and a library of 10,000 faces (issue 35's 5-minute goal).

On a family library (family_libraries.py) the family user of labelling_effort.py names each
person once and answers every question and page; then the fine-tune runs as the window runs
it (propose_finetune), and the accepted model, or else the current one's copy, is applied
to every face (switch_model: decode each photo, cut and embed its faces, group again).  Each
stage is timed from the progress reports.  The stages that grow with the labelled faces
(reading them, the frozen layers' features) and with the library (embedding again) are
scaled linearly to 1,000 and 10,000 faces; the training steps do not grow with either.

    python benchmarks/finetune_time.py [--seed 1] [--photos 300]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from common import machine_line, print_table
from family_libraries import family_library
from labelling_effort import answer_question, name_each_person_once

from engine.library.identities.grouping import cluster_library
from engine.library.identities.recognition_pass import recognize_faces
from engine.library.storage.store import Library

LABELLED_GOAL, LIBRARY_GOAL = 1_000, 10_000


class StageClock:
    """Seconds spent in each stage, from the progress reports' phase and item."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.stage, self.since = "starting", time.monotonic()

    def __call__(self, progress) -> None:  # noqa: ANN001 - engine.jobs.Progress
        stage = progress.phase
        if progress.phase == "fine-tuning":
            stage = "training steps" if progress.item.startswith("loss") else progress.item
        self.switch(stage)

    def switch(self, stage: str) -> None:
        now = time.monotonic()
        self.seconds[self.stage] = self.seconds.get(self.stage, 0.0) + now - self.since
        self.stage, self.since = stage, now


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--photos", type=int, default=300)
    args = parser.parse_args()
    print(machine_line())
    from engine.faces.pipeline import FacePipeline
    from engine.library.jobs.finetune_job import propose_finetune, save_finetuned
    from engine.library.identities.labelled_faces import photo_faces_embedder
    from engine.library.storage.model_registry import pipeline_for
    from engine.library.jobs.model_switch import switch_model

    source, truth, _ = family_library(args.seed, args.photos)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "lib.db"
        shutil.copy(source, path)
        with Library(path) as library:
            cluster_library(library)
            name_each_person_once(library, truth)
            while answer_question(library, truth, pages=True) is not None:
                recognize_faces(library)
            clock = StageClock()
            started = time.monotonic()
            outcome = propose_finetune(library, FacePipeline(), progress=clock)
            clock.switch("done")
            finetune_seconds = time.monotonic() - started
            report = outcome.report
            labelled = report.train_faces + report.held_out_faces
            save_finetuned(library, outcome)
            name = outcome.version.name
            switch_clock = StageClock()
            started = time.monotonic()
            summary = switch_model(library, name, photo_faces_embedder(pipeline_for(library, name)), switch_clock)
            switch_clock.switch("done")
            switch_seconds = time.monotonic() - started
            faces = int(library.scalar("SELECT count(*) FROM faces"))
    stages = {k: v for k, v in clock.seconds.items() if k not in ("done", "starting") or v > 0.5}
    rows = []
    for stage, seconds in stages.items():
        grows = stage not in ("training steps",)
        scaled = seconds * LABELLED_GOAL / labelled if grows else seconds
        rows.append([f"fine-tune: {stage}", f"{seconds:.1f}", f"{scaled:.1f}"])
    embed = switch_clock.seconds.get("re-embedding faces", 0.0) + switch_clock.seconds.get("starting", 0.0)
    rest = switch_seconds - embed
    rows.append([f"apply: embed {summary.embedded} faces again", f"{embed:.1f}", f"{embed * LIBRARY_GOAL / faces:.1f}"])
    rows.append(["apply: group again", f"{rest:.1f}", f"{rest * LIBRARY_GOAL / faces:.1f}"])
    total = finetune_seconds + switch_seconds
    projected = sum(float(r[2]) for r in rows)
    rows.append(["in all", f"{total:.1f}", f"{projected:.1f}"])
    print(f"\n{labelled} labelled faces, a library of {faces} faces; verdict: {report.verdict.reason} "
          f"({report.steps} steps)")
    print_table(["stage", "seconds here", f"seconds at {LABELLED_GOAL:,} labelled / {LIBRARY_GOAL:,} faces"], rows)


if __name__ == "__main__":
    main()
