""""Learn from your corrections" in the window: the fine-tune measured in a child process,
its report shown with the plain sentence first, and, when the user applies it, every face
embedded again in another child as one undoable edit.  The window wires it (its jobs,
status line and error route); this module holds the steps and their dialogs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QDialogButtonBox

from engine.library.storage.model_registry import hold_candidate
from engine.library.storage.store import LibraryError
from engine.wording import counted
from facenet_desktop import child_work
from facenet_desktop.dialogs import TextDialog
from facenet_desktop.engine_process import ChildCall, ChildProcess

if TYPE_CHECKING:
    from facenet_desktop.app import MainWindow

TITLE = "Learn from your corrections"


class FinetuneFlow:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.dialog: TextDialog | None = None  # the report shown last

    def start(self) -> None:
        from engine.library.identities.labelled_faces import check_enough_labels, labelled_face_rows
        from engine.library.storage.model_registry import active_name

        window = self.window
        try:
            check_enough_labels(labelled_face_rows(window.library, active_name(window.library)))
        except LibraryError as exc:
            window.report_error(str(exc))
            return
        # Fine-tuning and re-embedding load torch: in child processes, like scans.
        work = ChildProcess(ChildCall(child_work.propose_finetune, (str(window.library.path),)), "fine-tune").run
        jobs = window.job_control
        jobs.finetune = jobs.start("fine-tune", work, self.measured)
        jobs.update_actions()  # Cancel works from the start (it stayed grey while this was unset)

    def measured(self, proposal: child_work.FinetuneProposal) -> None:
        report = "\n".join(proposal.report_lines)
        said = f"{proposal.headline}\n\n{proposal.counts}" if proposal.counts else proposal.headline
        if not proposal.accepted:
            self.dialog = TextDialog(TITLE, said, report, self.window, details_shown=False)
            self.dialog.exec()
            return
        self.dialog = TextDialog(TITLE, f"{said}\n\nEvery face is embedded again; your names and labels stay, and "
                                 "Undo switches back.", report, self.window,
                                 QDialogButtonBox.StandardButton.Apply | QDialogButtonBox.StandardButton.Cancel,
                                 details_shown=False)
        apply_button = self.dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Apply)
        apply_button.clicked.connect(self.dialog.accept)
        held = hold_candidate(proposal.candidate) if proposal.candidate else None  # not an orphan while asked
        try:
            applied = self.dialog.exec()
        finally:
            if held is not None:
                held.close()
        if applied:
            self.apply(proposal)
        elif proposal.candidate:
            Path(proposal.candidate).unlink(missing_ok=True)  # declined: nothing of it stays

    def apply(self, proposal: child_work.FinetuneProposal) -> None:
        window = self.window
        work = ChildProcess(ChildCall(child_work.apply_finetune, (str(window.library.path), proposal.candidate)),
                            "re-embedding").run
        jobs = window.job_control
        jobs.finetune = jobs.start("re-embedding", work, self.applied)
        jobs.update_actions()

    def applied(self, applied) -> None:  # noqa: ANN001 - engine.library.jobs.tasks.AppliedModel
        # The switch is an edit of its own: Undo puts the previous model and its groups back.
        self.window.status_line.say_edit(f"Now using your fine-tuned model: {applied.changes}; "
                                         f"{counted(applied.suggestions, 'suggestion')} waiting for you.", "undo")
