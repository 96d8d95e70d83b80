"""The window's jobs: each started on its own thread, its progress said in the status line,
Pause and Cancel for the jobs that have them, and the toolbar kept true to what runs.

The window wires it; what a job's end asks of the window (a scan that must follow, a
recognition pass asked for meanwhile, the views read again) reaches it through `ended`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from engine.jobs import Progress
from engine.wording import counted
from facenet_desktop.workers import Job, JobRunner

if TYPE_CHECKING:
    from facenet_desktop.app import MainWindow

CANCELLED_MESSAGES = {
    "scan": "Scan cancelled. The photos analysed so far are kept; the rest wait for the next scan.",
    "fine-tune": "Fine-tune cancelled; nothing was changed.",
    "re-embedding": "Stopped before switching: your current model stays. The faces embedded so far are kept for next time.",
}
# What a fine-tune is doing, by its progress report's item (training steps are counted).
FINETUNE_STAGES = {
    "preparing features": "getting your faces ready",
    "measuring the current model": "measuring your current model",
    "measuring the new model": "measuring the new model",
    "done": "done",
    "done: nothing to train for": "done",
}


class JobControl(QObject):
    ended = Signal(object)  # the Job, once its end is shown: the window's own follow-ups

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.runner = JobRunner(window)
        self.scan: Job | None = None  # the scan: Pause, and Cancel before any other job
        self.finetune: Job | None = None  # a fine-tune's training, measuring or re-embedding: Cancel
        self.last_progress: Progress | None = None
        self.faces_found = 0  # the library's faces as the views last read them
        self.faces_before_scan = 0  # so a scan's progress counts its own faces

    def start(self, name: str, function, on_success, on_pause=None) -> Job:  # noqa: ANN001
        job = Job(name, function)
        if on_pause is not None:
            job.pause_listeners.append(on_pause)
        # The listener lives on the GUI thread, so every job signal is handled there (queued);
        # a plain lambda would run on the job's thread.
        listener = _JobListener(self, job, on_success)
        job.progress.connect(listener.progress)
        job.succeeded.connect(listener.succeeded)
        job.failed.connect(listener.failed)
        job.done.connect(listener.done)
        self.runner.start(job)
        self.update_actions()
        return job

    def running(self) -> list[Job]:
        """Jobs not yet ended (an ended job stays listed by the runner until its thread is reaped)."""
        return [job for job in self.runner.running() if not job.ended]

    def cancellable(self) -> Job | None:
        """The scan, or else a fine-tune training, measuring or re-embedding: each stops without
        changing anything the user sees (faces embedded so far are kept for the next try)."""
        if self.scan is not None:
            return self.scan
        return self.finetune if self.finetune in self.running() else None

    def cancel(self) -> None:
        job = self.cancellable()
        if job is None:
            return
        job.cancel()
        status = self.window.status_line
        status.progress_stopped()
        status.say("Stopping the scan after the current photo…" if job is self.scan else f"Stopping the {job.name}…", None)

    def toggle_pause(self) -> None:
        if self.scan is None:
            return
        if self.scan.paused:
            self.scan.resume()
        else:
            self.scan.pause()
        if self.last_progress is not None:  # say it now: no report comes while paused
            self.show_progress(self.last_progress)
        else:
            self.window.status_line.say("Paused." if self.scan.paused else "", None)
        self.update_actions()

    def show_progress(self, progress: Progress) -> None:
        self.last_progress = progress
        text = f"{progress.phase.capitalize()}: {progress.done}" + (f" of {progress.total}" if progress.total else "")
        if progress.phase == "fine-tuning":
            text = f"Learning your people: {FINETUNE_STAGES.get(progress.item, f'step {progress.done - 1} of {progress.total - 4}')}"
        if progress.phase == "analyzing":
            # The count the views last read (every 2 s during a scan): progress reports come
            # many times a second, and the GUI thread must not wait on the scan's database.
            found = max(0, self.faces_found - self.faces_before_scan)
            text += f" photos, {counted(found, 'face')} found"
        if progress.eta_seconds is not None:
            text += f", about {format_duration(progress.eta_seconds)} left"
        if self.scan is not None and self.scan.paused:
            text = f"Paused. {text}"
        self.window.status_line.show_progress(text, progress.done, progress.total)

    def update_actions(self, running: list[Job] | None = None) -> None:
        window = self.window
        running = self.running() if running is None else running
        scanning = self.scan is not None
        window.pause_action.setEnabled(scanning)
        window.cancel_action.setEnabled(self.cancellable() is not None)
        window.pause_action.setText("Resume" if scanning and self.scan.paused else "Pause")
        window.rescan_action.setEnabled(not scanning)
        # Recognition after an edit is quick and safe beside a fine-tune: it never greys the button.
        window.finetune_action.setEnabled(not [job for job in running if job.name != "recognition"])
        window.suggestions_page.learn_button.setEnabled(window.finetune_action.isEnabled())

    def stop_all(self) -> None:
        self.runner.stop_all()

    def job_done(self, job: Job) -> None:
        if job is self.scan:
            self.scan = None
        if job is self.finetune:
            self.finetune = None
        self.last_progress = None
        others = [j for j in self.running() if j is not job]
        cancelled = CANCELLED_MESSAGES.get(job.name, f"Cancelled the {job.name}; nothing was changed.")
        self.window.status_line.progress_ended(cancelled if job.cancelled else None, any_left=bool(others))
        self.update_actions(others)
        self.ended.emit(job)


class _JobListener(QObject):
    def __init__(self, control: JobControl, job: Job, on_success: Callable) -> None:
        super().__init__(control)
        self.control, self.job, self.on_success = control, job, on_success

    @Slot(object)
    def progress(self, progress: Progress) -> None:
        if not self.job.cancelled:  # a report queued before Cancel must not bring it back
            self.control.show_progress(progress)

    @Slot(object)
    def succeeded(self, result) -> None:  # noqa: ANN001
        if not self.job.cancelled:
            self.on_success(result)

    @Slot(str)
    def failed(self, text: str) -> None:
        self.control.window.report_error(f"The {self.job.name} stopped with an error; your library is safe.", text)

    @Slot()
    def done(self) -> None:
        self.control.job_done(self.job)
        self.deleteLater()


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds)} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
