"""Killing the app leaves no child behind (issue 36: SIGTERM left two running): every child
ends once the window's process is gone, however it ended, and SIGTERM closes the window as
its close button does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HANG_CEILING_S = 60


def ended(pid: int) -> bool:
    """Gone, or a zombie nobody reaps (containers whose first process does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return "\nState:\tZ" in status


PARENT = textwrap.dedent('''
    import os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from engine.jobs import CancelToken
    from facenet_desktop.engine_process import EngineHost, context, end_with_parent

    def pid_of_child(progress, cancel):
        return os.getpid()

    if __name__ == "__main__":
        host = EngineHost("test", idle_s=600)  # kept alive 10 minutes between calls
        engine_child = host.job(pid_of_child)(lambda p: None, CancelToken())
        cutters = ProcessPoolExecutor(max_workers=1, mp_context=context(), initializer=end_with_parent)
        cutter = cutters.submit(os.getpid).result()
        print(engine_child, cutter, flush=True)
        time.sleep(600)
''')


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_children_end_when_the_window_process_is_killed(tmp_path, how) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    children: list[int] = []
    try:
        children = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(children) == 2 and not any(ended(pid) for pid in children)
        parent.send_signal(how)  # the default action: no cleanup of any kind in the parent
        parent.wait(timeout=HANG_CEILING_S)
        deadline = time.monotonic() + HANG_CEILING_S
        while not all(ended(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(ended(pid) for pid in children), "a child outlived the window's process"
    finally:
        parent.kill()
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_sigterm_closes_the_window_like_its_close_button(qtbot, tmp_path) -> None:
    from engine.library.storage.store import Library
    from facenet_desktop.app import MainWindow
    from facenet_desktop.launch import close_on_termination

    library = Library(tmp_path / "lib.db")
    window = MainWindow(library, rescan_at_start=False)
    qtbot.addWidget(window)
    window.show()
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        close_on_termination(window)
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: window.closing, timeout=HANG_CEILING_S * 1000)
        assert not window.isVisible()
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        window.close()
        library.close()
