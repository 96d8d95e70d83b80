"""The app end to end on real photos: first run on an empty data folder, add a folder of
shared photos, wait for the background scan, then name, merge, open a photo, draw a face
the detector missed, and check the database."""

from __future__ import annotations

import configparser
import sys
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402

from lfw_folders import link_lfw_people  # noqa: E402
from engine.library.reading.browse import people_tiles  # noqa: E402
from engine.library.storage.store import Library  # noqa: E402
from facenet_desktop.app import WINDOW_TITLE, MainWindow  # noqa: E402
from facenet_desktop.resources import RESOURCES_DIR, icon_path  # noqa: E402

pytestmark = pytest.mark.slow
PEOPLE = {"Colin_Powell": 4, "Tony_Blair": 4, "Serena_Williams": 4}


def test_scan_name_merge_and_add_a_face(qtbot, tmp_path, faces_dir, monkeypatch) -> None:
    photos = link_lfw_people(faces_dir, tmp_path / "Pictures", PEOPLE)
    monkeypatch.setenv("FACENET_DB", str(tmp_path / "data" / "library.db"))
    window = MainWindow()  # the default library location, redirected by the environment
    qtbot.addWidget(window)
    window.show()
    assert window.windowTitle() == WINDOW_TITLE
    assert window.stack.currentWidget() is window.empty_page
    window.add_folder(str(photos))
    qtbot.waitUntil(lambda: not window.edits_pending(), timeout=60_000)  # the folder is saved off the GUI thread
    assert window.scan_job is not None
    qtbot.waitUntil(lambda: window.scan_job is None, timeout=240_000)
    qtbot.waitUntil(lambda: not window.views_pending(), timeout=10_000)  # read off the GUI thread
    library = window.library
    assert library.scalar("SELECT count(*) FROM photos WHERE status = 'done'") == 12
    people = people_tiles(library)
    assert [p.faces for p in people[:3]] == [4, 4, 4]
    assert window.people_page.proxy.rowCount() >= 3
    # Name the first two people from the person view, then merge them.
    first, second = people[0].id, people[1].id
    window.open_person(first)
    window.person_page.name.setText("Alice")
    qtbot.keyClick(window.person_page.name, Qt.Key.Key_Return)
    window.rename_person(second, "Bob")
    window.merge_people([first, second])
    qtbot.waitUntil(lambda: not window.edits_pending(), timeout=60_000)  # edits run on their own thread
    assert library.query("SELECT name FROM people WHERE id = ?", [first]) == [{"name": "Alice"}]
    assert library.scalar("SELECT count(*) FROM faces WHERE person_id = ? AND assignment = 'manual'", [first]) == 8
    assert library.scalar("SELECT count(*) FROM people WHERE id = ?", [second]) == 0
    # Search results show whole photos: the photo's thumbnail keeps its shape, longest side 128.
    from PIL import Image

    from engine.library.storage.thumbnails import photo_thumbnail

    some_photo = library.query("SELECT id, width, height FROM photos WHERE status = 'done' LIMIT 1")[0]
    with Image.open(photo_thumbnail(library, some_photo["id"], 128)) as thumbnail:
        assert max(thumbnail.size) == 128
        assert thumbnail.size[0] / thumbnail.size[1] == pytest.approx(some_photo["width"] / some_photo["height"], rel=0.02)
    # Photo view: the boxes are there; draw one where no face was found.
    photo_id = library.scalar("SELECT photo_id FROM faces WHERE person_id = ? ORDER BY id LIMIT 1", [first])
    with qtbot.waitSignal(window.photo_shown, timeout=10_000):
        window.open_photo(photo_id)  # decoded on a worker thread
    view = window.photo_page.view
    before = library.scalar("SELECT count(*) FROM faces WHERE photo_id = ?", [photo_id])
    assert len(view.boxes) == before
    face_box = library.query("SELECT x1, y1, x2, y2 FROM faces WHERE photo_id = ? ORDER BY id LIMIT 1", [photo_id])[0]
    window.add_face((face_box["x1"] + 3, face_box["y1"] + 3, face_box["x2"] + 3, face_box["y2"] + 3))
    qtbot.waitUntil(lambda: library.scalar("SELECT count(*) FROM faces WHERE photo_id = ?", [photo_id]) == before + 1,
                    timeout=60_000)
    qtbot.waitUntil(lambda: len(view.boxes) == before + 1, timeout=10_000)
    # Drawing with the mouse emits the box in photo pixels.
    with qtbot.waitSignal(view.box_drawn) as drawn:
        qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
        qtbot.mouseMove(view.viewport(), QPoint(60, 60))
        qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(60, 60))
    assert drawn.args[0][2] > drawn.args[0][0]
    window.close()
    with Library(tmp_path / "data" / "library.db") as reopened:  # everything was committed
        assert reopened.scalar("SELECT name FROM people WHERE id = ?", [first]) == "Alice"


def test_desktop_entry_and_icon() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(RESOURCES_DIR / "facenet-desktop.desktop")
    section = entry["Desktop Entry"]
    assert section["Exec"] == "facenet-desktop" and section["Type"] == "Application"
    assert Path(icon_path()).read_text().startswith("<svg")


def test_entry_point_and_main_py_start_the_window(monkeypatch, tmp_path) -> None:
    import tomllib

    from facenet_desktop import app as app_module
    from facenet_desktop import launch

    scripts = tomllib.loads((RESOURCES_DIR.parent / "pyproject.toml").read_text())["project"]["gui-scripts"]
    assert scripts["facenet-desktop"] == "facenet_desktop.app:main"
    assert "from facenet_desktop.app import main" in (RESOURCES_DIR.parent / "main.py").read_text()
    monkeypatch.setenv("FACENET_DB", str(tmp_path / "lib.db"))
    shown = []
    monkeypatch.setattr(launch.QApplication, "exec", lambda self: shown.append(
        [w for w in self.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]) or 0)
    assert app_module.main(["facenet-desktop"]) == 0
    assert shown and shown[0]
    for window in shown[0]:
        window.close()


def test_scan_process_pauses_resumes_and_cancels_without_delivering(qtbot, tmp_path, faces_dir) -> None:
    from facenet_desktop.scan_process import ScanProcess, ScanRequest
    from facenet_desktop.workers import Job, JobRunner

    photos = tmp_path / "Pictures"
    # Enough photos that the scan is still running when the first people appear: results
    # arrive in runs of photos from two workers (engine.faces.pipeline.in_runs).
    people = {"Colin_Powell": 12, "Tony_Blair": 12, "George_W_Bush": 16}
    total = sum(people.values())
    link_lfw_people(faces_dir, photos, people)
    db = tmp_path / "lib.db"
    Library(db).close()
    done_photos = lambda: Library(db).scalar("SELECT count(*) FROM photos WHERE status = 'done'")  # noqa: E731
    runner = JobRunner()
    # Pause: the child stops at its next progress report; resume: it finishes.
    process = ScanProcess(ScanRequest(str(db), (str(photos),), 40.0, (), regroup_every_s=0.0))
    job = Job("scan", process.run)
    job.pause_listeners.append(process.set_paused)
    results: list = []
    job.succeeded.connect(results.append)
    reports: list = []
    job.progress.connect(reports.append)
    runner.start(job)
    auto_faces = lambda: Library(db).scalar("SELECT count(*) FROM faces WHERE assignment = 'auto'")  # noqa: E731
    qtbot.waitUntil(lambda: auto_faces() >= 3 or not runner.running(), timeout=120_000)
    assert runner.running() and done_photos() < total  # people appeared while the scan runs
    job.pause()
    qtbot.wait(1500)  # the photo in hand and its batch may still land
    paused_at = done_photos()
    qtbot.wait(2000)
    assert done_photos() == paused_at < total
    job.resume()
    qtbot.waitUntil(lambda: runner.running() == [], timeout=120_000)
    assert len(results) == 1 and results[0].analyzed + results[0].unchanged == total and done_photos() == total
    # Cancel mid-scan (a fresh library): no result is delivered, the child is gone, the
    # database is sound, and the next scan completes the rest.
    db2 = tmp_path / "lib2.db"
    Library(db2).close()
    process = ScanProcess(ScanRequest(str(db2), (str(photos),), 40.0, ()))
    job = Job("scan", process.run)
    cancelled_results: list = []
    job.succeeded.connect(cancelled_results.append)
    runner.start(job)
    qtbot.waitUntil(lambda: Library(db2).scalar("SELECT count(*) FROM photos WHERE status = 'done'") >= 1,
                    timeout=120_000)
    job.cancel()
    qtbot.waitUntil(lambda: runner.running() == [], timeout=60_000)
    qtbot.wait(100)
    assert cancelled_results == [] and not process.process.is_alive()
    with Library(db2) as library:
        assert library.scalar("PRAGMA integrity_check") == "ok"
        assert library.scalar("SELECT count(*) FROM photos WHERE status = 'done'") < total
    from engine.library.jobs.scan import scan_folders

    with Library(db2) as library:
        scan_folders(library, [photos])
        assert library.scalar("SELECT count(*) FROM photos WHERE status = 'done'") == total


def test_a_wheel_install_starts_the_app_with_its_icon(tmp_path) -> None:
    """Built as a wheel and installed into a fresh environment (not this checkout), the app
    finds its icon and desktop entry where the installer put them."""
    import subprocess
    import sysconfig

    import shutil

    repo = RESOURCES_DIR.parent
    source = tmp_path / "source"  # built from a copy: a build writes build/ and egg-info next to the sources
    source.mkdir()
    for part in ("pyproject.toml", "README.md"):
        shutil.copy2(repo / part, source / part)
    for part in ("engine", "facenet_desktop", "resources"):
        shutil.copytree(repo / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(source)], check=True, timeout=600, capture_output=True)
    [wheel] = list(wheels.glob("facenet_desktop-*.whl"))
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, timeout=600, capture_output=True)
    # The dependencies come from this environment's site-packages; the app from the wheel only.
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"], "QT_QPA_PLATFORM": "offscreen"}
    code = ("import sys, facenet_desktop.app as a; from facenet_desktop.resources import icon_path\n"
            "assert a.__file__.startswith(sys.prefix), a.__file__\n"
            "assert str(icon_path()).startswith(sys.prefix), icon_path()\n"
            "import facenet_desktop.launch as launch\n"
            "app = launch.create_app(['facenet-desktop']); assert not app.windowIcon().isNull()\n"
            "import pathlib; assert (pathlib.Path(sys.prefix) / 'share/applications/facenet-desktop.desktop').is_file()\n"
            "print('ok')")
    result = subprocess.run([str(python), "-c", code], env=env, capture_output=True, text=True, timeout=300,
                            cwd=tmp_path)
    assert result.stdout.strip().endswith("ok"), result.stdout + result.stderr
