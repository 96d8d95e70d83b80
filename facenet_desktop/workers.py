"""Background jobs: an engine function runs on its own QThread with the engine's progress
callback and cancel token.  Pause blocks the job at its next progress report; cancel stops
it there, and a cancelled job never delivers its result."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from PySide6.QtCore import QDeadlineTimer, QObject, QThread, Signal, Slot

from engine.jobs import CancelToken, Progress
from facenet_desktop.engine_process import kill_all_children

JobFunction = Callable[[Callable[[Progress], None], CancelToken], object]
PROGRESS_INTERVAL_S = 0.1  # at most ten progress updates a second reach the GUI thread


class Job(QObject):
    progress = Signal(object)  # Progress
    succeeded = Signal(object)  # the function's result (never after cancel)
    failed = Signal(str)  # traceback text
    done = Signal()  # always, last

    def __init__(self, name: str, function: JobFunction) -> None:
        super().__init__()
        self.name = name
        self.function = function
        self.cancel_token = CancelToken()
        self._running = threading.Event()
        self._running.set()
        self._last_report = 0.0
        self.paused = False
        self.ended = False  # set before `done`: its thread may still be listed until it is reaped
        self.pause_listeners: list[Callable[[bool], None]] = []  # e.g. a child process's pause

    @property
    def cancelled(self) -> bool:
        return self.cancel_token.cancelled

    def pause(self) -> None:
        self.paused = True
        self._running.clear()
        for listener in self.pause_listeners:
            listener(True)

    def resume(self) -> None:
        self.paused = False
        self._running.set()
        for listener in self.pause_listeners:
            listener(False)

    def cancel(self) -> None:
        self.cancel_token.cancel()
        self._running.set()

    def report(self, progress: Progress) -> None:
        """The engine's progress callback, called on the job's thread."""
        self._running.wait()
        now = time.monotonic()
        if now - self._last_report >= PROGRESS_INTERVAL_S or progress.done == progress.total:
            self._last_report = now
            self.progress.emit(progress)

    @Slot()
    def run(self) -> None:
        try:
            result = self.function(self.report, self.cancel_token)
        except Exception:  # noqa: BLE001 - reaches the user through the one error route
            if not self.cancelled:
                self.failed.emit(traceback.format_exc())
        else:
            if not self.cancelled:
                self.succeeded.emit(result)
        finally:
            self.ended = True
            self.done.emit()


_ABANDONED: list = []  # (job, thread) pairs that never stopped: never destroyed while running


class JobRunner(QObject):
    """Owns the threads of running jobs; `stop_all` cancels and joins them (on quit)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._threads: dict[Job, QThread] = {}

    def start(self, job: Job) -> Job:
        thread = QThread()
        thread.setObjectName(f"job:{job.name}")
        job.moveToThread(thread)
        thread.started.connect(job.run)
        job.done.connect(thread.quit)
        thread.finished.connect(self._reap)  # a slot of this GUI-thread object: runs there
        self._threads[job] = thread
        thread.start()
        return job

    @Slot()
    def _reap(self) -> None:
        for job, thread in list(self._threads.items()):
            if thread.isFinished():
                del self._threads[job]

    def running(self) -> list[Job]:
        return list(self._threads)

    def stop_all(self, timeout_ms: int = 30000) -> bool:
        """Cancel every job and wait for its thread; True when all have ended.  A job whose
        child process does not stop within `timeout_ms` has the child killed; a thread that
        still runs after that is kept referenced for the life of the process, because Qt
        aborts the whole program when a running QThread is destroyed."""
        threads = list(self._threads.items())
        for job, _ in threads:
            job.cancel()
        for _, thread in threads:
            thread.quit()
        deadline = QDeadlineTimer(timeout_ms)
        if not all(thread.wait(deadline) for _, thread in threads):
            kill_all_children()
            deadline = QDeadlineTimer(timeout_ms)
            for _, thread in threads:
                thread.wait(deadline)
        ended = True
        for job, thread in threads:
            if thread.isRunning():
                _ABANDONED.append((job, thread))
                ended = False
        return ended


@dataclass(frozen=True)
class EditOutcome:
    """What one edit did, delivered to the GUI thread: its message (or the refusal, or the
    traceback of a bug), and the views read right after it."""

    message: str = ""
    button: str | None = None  # "undo" or "redo": the button shown beside the message
    refused: str = ""  # the user's edit could not be made (unknown person, bad name...)
    crashed: str = ""  # a traceback: a bug, reported through the one error route
    views: dict | None = None
    then: Callable[[], None] | None = None  # runs on the GUI thread once the edit is shown


EditWork = Callable[[], tuple[str, str | None]]  # runs the edit; returns (message, button)


class EditRunner(QObject):
    """The user's edits, one at a time and in order, on one worker thread, each followed by
    the read of the views it changes.  On the GUI thread, merging the two largest people of
    a 100k-face library stalled the window 440 ms (its UPDATEs and COMMIT), and an edit
    waiting for a scan's write lock froze it for as long as the scan held it."""

    finished = Signal(object)  # EditOutcome, queued to the GUI thread

    def __init__(self, read_views: Callable[[int | None], dict], show: Callable[[EditOutcome], None],
                 refusals: tuple[type[BaseException], ...], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._read_views = read_views
        self._show = show
        self._refusals = refusals
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edits")
        self.pending = 0  # submitted and not yet shown (GUI thread only)
        self.finished.connect(self._delivered)

    def submit(self, work: EditWork, shown_person: int | None, then: Callable[[], None] | None = None) -> None:
        self.pending += 1
        self._executor.submit(self._run, work, shown_person, then)

    def _run(self, work: EditWork, shown_person: int | None, then: Callable[[], None] | None) -> None:
        try:
            message, button = work()
        except self._refusals as exc:
            outcome = EditOutcome(refused=str(exc))
        except Exception:  # noqa: BLE001 - a bug: the user sees it, the queue goes on
            outcome = EditOutcome(crashed=traceback.format_exc())
        else:
            outcome = EditOutcome(message, button, then=then)
        try:
            outcome = replace(outcome, views=self._read_views(shown_person))
        except Exception:  # noqa: BLE001 - the next background read shows the edit
            pass
        self.finished.emit(outcome)

    @Slot(object)
    def _delivered(self, outcome: EditOutcome) -> None:
        try:
            self._show(outcome)
        finally:
            self.pending -= 1

    def close(self) -> None:
        """Wait for the edits already asked for: an edit the user saw accepted is never dropped."""
        self._executor.shutdown(wait=True)
