"""The fine-tune in the family loop (issue 35): does learning from the user's corrections
leave fewer faces wrong or unnamed for the same work?

The family user of `labelling_effort.py --family` names each person once, then answers the
app's questions and pages one at a time.  When the app offers "Learn from your corrections"
(engine.library.questions.finetune_offer, checked every 10 answers, as the window's background reads
do), this user presses it (one action) and, when the new model is accepted, Apply (one
more): the library is embedded again with it and grouped again, and the user goes on
answering.  A refused or applied try waits, as in the app, for 30 new corrections before the
offer comes again.  Beside it, the same user on the same library without the fine-tune.  Both are
compared at the same numbers of actions (per person), and each fine-tune's report is printed.
Only corrections made in the app are used: no labels from outside.

    python benchmarks/family_finetune.py [--seeds 1 2 3] [--photos 300] [--until 3.5]

Both users stop at `--until` actions per person (the last comparison).

The family libraries are restored as `family_libraries.py` says (FIW, outside the repository).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from common import machine_line, print_table
from family_libraries import family_library
from labelling_effort import Tally, answer_question, known, name_each_person_once

from engine.library.identities.grouping import cluster_library
from engine.library.identities.recognition_pass import recognize_faces
from engine.library.storage.store import Library

CHECK_EVERY = 10  # answers between looks at the offer
CHECKPOINTS = (1.5, 2.0, 2.5, 3.0, 3.5)  # actions per person at which both users are compared


def learn_from_corrections(library: Library) -> tuple[list[str], bool, float]:
    """Press "Learn from your corrections" and Apply if accepted: the report, whether applied, seconds."""
    from engine.faces.pipeline import FacePipeline
    from engine.library.jobs.finetune_job import propose_finetune, save_finetuned
    from engine.library.identities.labelled_faces import photo_faces_embedder
    from engine.library.storage.model_registry import pipeline_for
    from engine.library.jobs.model_switch import switch_model

    started = time.monotonic()
    outcome = propose_finetune(library, FacePipeline())
    report = outcome.report
    said = [report.headline(), report.plain_counts(), *report.lines()]
    if not report.accepted:
        return said, False, time.monotonic() - started
    save_finetuned(library, outcome)
    name = outcome.version.name
    switch_model(library, name, photo_faces_embedder(pipeline_for(library, name)),
                 description="Switched to your fine-tuned model")
    recognize_faces(library)
    return said, True, time.monotonic() - started


def run_user(source: Path, truth: dict[int, str], learn: bool, until: float = CHECKPOINTS[-1]) -> dict:
    from engine.library.questions.finetune_offer import finetune_offer

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "lib.db"
        shutil.copy(source, path)
        with Library(path) as library:
            cluster_library(library)
            tally = Tally(library, truth)
            people = len({n for n in truth.values() if known(n)})
            actions = name_each_person_once(library, truth)
            at: dict[float, tuple[int, int, int]] = {}
            tries: list[dict] = []  # each time the user pressed the offer
            asked = 0
            while actions < until * people and (cost := answer_question(library, truth, pages=True)) is not None:
                recognize_faces(library)
                actions += cost
                asked += 1
                for per in CHECKPOINTS:
                    if per not in at and actions >= per * people:
                        at[per] = tally.counts()
                if learn and asked % CHECK_EVERY == 0 and finetune_offer(library) is not None:
                    offered_at = actions
                    report, applied, seconds = learn_from_corrections(library)
                    actions += 2 if applied else 1
                    tries.append({"actions": offered_at, "report": report, "applied": applied, "seconds": seconds})
            return {"people": people, "at": at, "end": tally.counts(), "actions": actions, "tries": tries}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--until", type=float, default=CHECKPOINTS[-1], help="actions per person to stop at")
    args = parser.parse_args()
    print(machine_line())
    rows = []
    for seed in args.seeds:
        source, truth, facts = family_library(seed, args.photos)
        total = sum(1 for name in truth.values() if known(name))
        without, with_learning = run_user(source, truth, False, args.until), run_user(source, truth, True, args.until)
        for attempt in with_learning["tries"]:
            print(f"\nseed {seed}: offered after {attempt['actions']} actions "
                  f"({attempt['actions'] / without['people']:.2f} per person); "
                  f"{'applied' if attempt['applied'] else 'not applied'} ({attempt['seconds']:.0f} s)")
            for line in attempt["report"]:
                print(f"  {line}")
        for per in CHECKPOINTS:
            if per not in without["at"] or per not in with_learning["at"]:
                continue
            before = without["at"][per][1] + without["at"][per][2]
            after = with_learning["at"][per][1] + with_learning["at"][per][2]
            change = f"{(after - before) / before:+.0%}" if before else "-"
            rows.append([f"seed {seed} ({facts['photos']} photos, {total} faces, {without['people']} people)",
                         f"{per:.1f}", f"{before / total:.1%} ({before})", f"{after / total:.1%} ({after})", change])
    print_table(["library", "actions per person", "wrong + unnamed without", "wrong + unnamed with the fine-tune",
                 "change"], rows)


if __name__ == "__main__":
    main()
