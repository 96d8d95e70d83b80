"""Scans run in a child process.  In a thread they shared the GIL with the window: loading
torch and the models (C code that holds the GIL for hundreds of milliseconds) froze the GUI
for up to 0.3 s.  The child has its own interpreter; SQLite in WAL mode lets the window read
while it writes, and a killed child loses at most the batch in flight (the scan resumes).

The parent side is an ordinary Job function: it relays the child's progress, forwards
cancel and pause, and returns the child's ScanSummary."""

from __future__ import annotations

import multiprocessing
import queue
import time
import traceback
from dataclasses import dataclass

from engine.jobs import CancelToken, Progress, ProgressCallback

REGROUP_DURING_SCAN_S = 20.0  # people appear while a scan runs: group again this often
POLL_S = 0.05


@dataclass(frozen=True)
class ScanRequest:
    db: str
    folders: tuple[str, ...]
    min_face_px: float
    excluded: tuple[str, ...]
    regroup_every_s: float = REGROUP_DURING_SCAN_S


def context() -> multiprocessing.context.SpawnContext:
    return multiprocessing.get_context("spawn")  # never fork a process that runs Qt


def _scan_child(request: ScanRequest, messages, cancel_event, running_event) -> None:  # noqa: ANN001
    try:
        import os

        if hasattr(os, "nice"):
            os.nice(10)  # the window's thread gets the cores first; the scan takes what is left
        from engine.library.grouping import cluster_library
        from engine.library.model_registry import pipeline_for
        from engine.library.preferences import clustering_version
        from engine.library.scan import scan_folders
        from engine.library.store import Library
        from engine.pipeline import DetectionSettings

        cancel = CancelToken(cancel_event)  # shared with the parent
        settings = DetectionSettings(min_face_px=request.min_face_px)
        with Library(request.db) as library:
            last_grouping, grouping_cost = [time.monotonic()], [0.0]

            def report(progress: Progress) -> None:
                running_event.wait()  # paused: stop at this report until resumed (or cancelled)
                messages.put(("progress", progress))
                # Group again now and then, but never spend more than a quarter of the time on it
                # (grouping 100k faces takes about 40 s).
                waited = time.monotonic() - last_grouping[0]
                if waited > max(request.regroup_every_s, 3 * grouping_cost[0]) and not cancel.cancelled:
                    started = time.monotonic()
                    cluster_library(library, clustering_version(library))
                    grouping_cost[0] = time.monotonic() - started
                    last_grouping[0] = time.monotonic()

            summary = scan_folders(library, request.folders, lambda: pipeline_for(library, settings=settings), report,
                                   cancel, exclude=request.excluded)
            if not cancel.cancelled:
                messages.put(("progress", Progress("grouping faces", 0, 1)))
                cluster_library(library, clustering_version(library))
        messages.put(("result", summary))
    except BaseException:  # noqa: BLE001 - everything reaches the parent as text
        messages.put(("error", traceback.format_exc()))


class ScanProcess:
    """Create on the GUI thread; `run` is the Job function; `set_paused` follows the Job."""

    def __init__(self, request: ScanRequest) -> None:
        ctx = context()
        self.request = request
        self.messages = ctx.Queue()
        self.cancel_event = ctx.Event()
        self.running_event = ctx.Event()
        self.running_event.set()
        self.process = ctx.Process(target=_scan_child, args=(request, self.messages, self.cancel_event, self.running_event),
                                   name="facenet-scan", daemon=True)

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.running_event.clear()
        else:
            self.running_event.set()

    def run(self, progress: ProgressCallback, cancel: CancelToken):  # noqa: ANN201 - the child's ScanSummary
        self.process.start()
        try:
            while True:
                if cancel.cancelled:
                    self.cancel_event.set()
                    self.running_event.set()
                try:
                    kind, payload = self.messages.get(timeout=POLL_S)
                except queue.Empty:
                    if not self.process.is_alive():
                        raise RuntimeError(f"the scan process ended unexpectedly (exit code {self.process.exitcode}); "
                                           "the library keeps everything committed, and the next scan resumes") from None
                    continue
                if kind == "progress":
                    progress(payload)
                elif kind == "result":
                    return payload
                else:
                    raise RuntimeError(f"the scan failed:\n{payload}")
        finally:
            self.process.join(timeout=30)
            if self.process.is_alive():
                self.process.kill()
