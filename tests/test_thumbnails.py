"""Thumbnails of real photos: cut outside the window's process (a decode there held the GIL
and stalled the window beside busy programs), cached by what they show, and still coming
after the cutting process dies."""

from __future__ import annotations

import multiprocessing.connection
import os
import shutil
import signal

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from synthetic_library import add_face_row  # noqa: E402

import engine.library.storage.thumbnails as engine_thumbnails  # noqa: E402
from engine.library.storage.store import Library  # noqa: E402
from facenet_desktop.thumbnails import ThumbnailLoader, photo_key  # noqa: E402

HANG_CEILING_MS = 60_000  # only to catch a hang


@pytest.fixture()
def real_library(tmp_path, faces_dir):
    """Two real LFW photos (copied into the test's folder), one face box on each."""
    lib = Library(tmp_path / "lib.db")
    faces = []
    for i, person in enumerate(("Colin_Powell", "Serena_Williams")):
        source = sorted((faces_dir / "lfw_deepfunneled" / person).glob("*.jpg"))[0]
        path = shutil.copy(source, tmp_path / source.name)
        with lib.atomic() as db:
            db.execute("INSERT INTO photos(id, path, size, mtime_ns, status, width, height) "
                       "VALUES (?, ?, 1, 1, 'done', 250, 250)", [i + 1, str(path)])
            faces.append(add_face_row(db, i + 1, np.zeros(128, np.float32), box=(70, 70, 180, 180)))
    yield lib, faces
    lib.close()


def ended(processes: list) -> bool:
    """Every process has exited (within the ceiling).  Their sentinels, not join(): the
    executor reaps its processes on its own thread meanwhile."""
    remaining = [process.sentinel for process in processes]
    while remaining:
        ready = multiprocessing.connection.wait(remaining, HANG_CEILING_MS / 1000)
        if not ready:
            return False
        remaining = [sentinel for sentinel in remaining if sentinel not in ready]
    return True


def loaded(qtbot, loader: ThumbnailLoader, key: int):  # noqa: ANN001, ANN201 - a QPixmap
    with qtbot.waitSignal(loader.ready, timeout=HANG_CEILING_MS, check_params_cb=lambda k: k == key):
        loader.pixmap(key)
    return loader.pixmap(key)


def test_the_window_never_decodes_a_photo_for_a_thumbnail(qtbot, real_library, monkeypatch) -> None:
    """A photo decoder that fails in the window's process does not matter: the cut happens
    in the child (which has its own, working decoder), and the result is the real face."""
    import PIL.Image

    library, faces = real_library

    def no_decoding_here(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("a photo was decoded in the window's process")

    monkeypatch.setattr(PIL.Image, "open", no_decoding_here)
    loader = ThumbnailLoader(library, size=64)
    try:
        pixmap = loaded(qtbot, loader, faces[0])
        assert pixmap is not loader.placeholder and pixmap.width() == 64
        whole = loaded(qtbot, loader, photo_key(1))
        assert whole is not loader.placeholder and max(whole.width(), whole.height()) == 64
    finally:
        loader.wait()
    # What the child cut is what the engine cuts in this process (same crop, same pixels).
    monkeypatch.undo()
    source = engine_thumbnails.face_source(library, faces[0], 64)
    child_cut = np.asarray(Image.open(source.cached).convert("RGB"), np.float32)
    source.cached.unlink()
    here = np.asarray(Image.open(engine_thumbnails.cut(source)).convert("RGB"), np.float32)
    assert np.abs(child_cut - here).max() == 0


def test_thumbnails_still_come_after_the_cutting_process_dies(qtbot, real_library) -> None:
    """A decoder that crashes the child (a strange photo) costs that thumbnail, not the
    window and not every thumbnail after it."""
    library, faces = real_library
    loader = ThumbnailLoader(library, size=64)
    try:
        assert loaded(qtbot, loader, faces[0]) is not loader.placeholder
        workers = list(loader._cutter._processes.values())
        assert workers
        for worker in workers:
            os.kill(worker.pid, signal.SIGKILL)
        assert ended(workers)
        assert loaded(qtbot, loader, faces[1]) is not loader.placeholder
    finally:
        loader.wait()


def test_a_cached_thumbnail_is_found_without_the_cutting_process(qtbot, real_library) -> None:
    library, faces = real_library
    source = engine_thumbnails.face_source(library, faces[1], 64)
    engine_thumbnails.cut(source)  # cut before, as the last session left it
    loader = ThumbnailLoader(library, size=64)
    try:
        assert loaded(qtbot, loader, faces[1]) is not loader.placeholder
        assert loader._cutter is None  # no child started for a thumbnail already on disk
    finally:
        loader.wait()


def test_a_photo_that_cannot_be_read_shows_the_placeholder(qtbot, real_library, tmp_path) -> None:
    library, faces = real_library
    path = library.scalar("SELECT path FROM photos WHERE id = 1")
    with open(path, "wb") as damaged:
        damaged.write(b"\xff\xd8\xff\xe0 not really a jpeg")
    loader = ThumbnailLoader(library, size=64)
    try:
        assert loaded(qtbot, loader, faces[0]) is loader.placeholder
        assert loaded(qtbot, loader, faces[1]) is not loader.placeholder
    finally:
        loader.wait()


def test_the_cutting_processes_end_when_idle_and_come_back_when_needed(qtbot, real_library) -> None:
    """About 92 MB the window does not need while nothing is cut: they end after a while
    idle; the next missing thumbnail starts them again."""
    library, faces = real_library
    loader = ThumbnailLoader(library, size=64)
    try:
        assert loaded(qtbot, loader, faces[0]) is not loader.placeholder
        qtbot.waitUntil(loader._idle_release.isActive, timeout=HANG_CEILING_MS)  # nothing pending: the idle wait began
        workers = list(loader._cutter._processes.values())
        loader._idle_release.start(1)  # the wait's end, brought forward
        qtbot.waitUntil(lambda: loader._cutter is None, timeout=HANG_CEILING_MS)
        assert ended(workers)
        assert loaded(qtbot, loader, faces[1]) is not loader.placeholder  # new processes cut it
    finally:
        loader.wait()


def test_the_cutting_processes_stay_while_a_thumbnail_is_pending(qtbot, real_library) -> None:
    library, faces = real_library
    loader = ThumbnailLoader(library, size=64)
    try:
        assert loaded(qtbot, loader, faces[0]) is not loader.placeholder
        cutter = loader._cutter
        loader._pending.add(faces[1])  # a worker thread may be using the cutter for it
        loader._release_cutter()
        assert loader._cutter is cutter
    finally:
        loader._pending.discard(faces[1])
        loader.wait()


def test_thumbnails_dropped_by_a_wait_are_asked_again(qtbot, real_library) -> None:
    library, faces = real_library
    loader = ThumbnailLoader(library, size=64)
    try:
        loader._pending.add(faces[0])  # as a load cancelled by wait() leaves it
        loader.wait()
        assert loaded(qtbot, loader, faces[0]) is not loader.placeholder
    finally:
        loader.wait()
