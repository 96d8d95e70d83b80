"""Scans run in a child process (see engine_process) in the background scheduling class,
regrouping faces now and then so that people appear while the scan runs (the child's
function is child_work.run_scan)."""

from __future__ import annotations

from facenet_desktop.child_work import ScanRequest, run_scan
from facenet_desktop.engine_process import ChildCall, ChildProcess

__all__ = ["ScanProcess", "ScanRequest"]


class ScanProcess(ChildProcess):
    def __init__(self, request: ScanRequest) -> None:
        super().__init__(ChildCall(run_scan, (request,), background=True), "scan")
