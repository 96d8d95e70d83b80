"""Scans run in a child process (see engine_process), at nice 10, regrouping faces now and
then so that people appear while the scan runs."""

from __future__ import annotations

import time
from dataclasses import dataclass

from engine.jobs import CancelToken, Progress, ProgressCallback
from facenet_desktop.engine_process import ChildCall, ChildProcess

REGROUP_DURING_SCAN_S = 20.0  # people appear while a scan runs: group again this often


@dataclass(frozen=True)
class ScanRequest:
    db: str
    folders: tuple[str, ...]
    min_face_px: float
    excluded: tuple[str, ...]
    regroup_every_s: float = REGROUP_DURING_SCAN_S


def run_scan(request: ScanRequest, progress: ProgressCallback, cancel: CancelToken):  # noqa: ANN201 - ScanSummary
    """The child's work: scan, regrouping during the scan, then group everything."""
    from engine.library.grouping import cluster_library
    from engine.library.model_registry import pipeline_for
    from engine.library.preferences import clustering_version
    from engine.library.scan import scan_folders
    from engine.library.store import Library
    from engine.faces.pipeline import DetectionSettings

    settings = DetectionSettings(min_face_px=request.min_face_px)
    with Library(request.db) as library:
        last_grouping, grouping_cost = [time.monotonic()], [0.0]

        def report(step: Progress) -> None:
            progress(step)
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
            progress(Progress("grouping faces", 0, 1))
            cluster_library(library, clustering_version(library))
    return summary


class ScanProcess(ChildProcess):
    def __init__(self, request: ScanRequest) -> None:
        super().__init__(ChildCall(run_scan, (request,), background=True), "scan")
