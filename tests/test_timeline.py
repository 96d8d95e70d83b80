"""All photos (issue 36, item 1): every photo by when it was taken, grouped by month, with its
folders; a photo with no face is there too and opens like any other."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from engine.library.jobs.scan import scan_folders
from engine.library.storage.store import Library
from engine.library.reading.timeline import folder_tree, months, photo_taken, timeline

pytestmark = pytest.mark.slow

DATES = {  # file -> local time given to the file (the portraits carry no camera date; the landscape does)
    "2019/powell.jpg": (2019, 3, 10, 9, 30),
    "2021/trip/blair.jpg": (2021, 7, 15, 18, 5),
    "2021/landscape.jpg": (2021, 7, 1, 12, 0),
}


def dated_photos(faces_dir: Path, root: Path) -> Path:
    """Copies (their times are set here; the shared files are never touched) of two LFW
    portraits and a landscape with nobody in it, whose camera wrote 2025-06-01 16:59:26."""
    sources = {
        "2019/powell.jpg": faces_dir / "lfw_deepfunneled/Colin_Powell/Colin_Powell_0001.jpg",
        "2021/trip/blair.jpg": faces_dir / "lfw_deepfunneled/Tony_Blair/Tony_Blair_0001.jpg",
        "2021/landscape.jpg": faces_dir / "negatives/animals/immich__empty_gps.jpg",
    }
    for name, source in sources.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        when = time.mktime((*DATES[name], 0, 0, 0, -1))
        os.utime(target, (when, when))
    return root


@pytest.fixture()
def dated_library(tmp_path, faces_dir, pipeline):
    photos = dated_photos(faces_dir, tmp_path / "Photos")
    library = Library(tmp_path / "lib.db")
    scan_folders(library, [photos], lambda: pipeline)
    yield library, photos
    library.close()


def test_every_photo_by_date_with_months_and_folders(dated_library) -> None:
    library, photos = dated_library
    shown = timeline(library)
    assert [Path(p.path).relative_to(photos).as_posix() for p in shown] == [
        "2021/landscape.jpg", "2021/trip/blair.jpg", "2019/powell.jpg"]  # newest first: the camera's date counts
    faces = {Path(p.path).name: p.faces for p in shown}
    assert faces["landscape.jpg"] == 0 and faces["blair.jpg"] >= 1 and faces["powell.jpg"] >= 1
    assert [(p.taken, p.by_camera) for p in shown] == [
        ("2025-06-01T16:59:26", True), ("2021-07-15T18:05:00", False), ("2019-03-10T09:30:00", False)]
    assert [(m.key, m.first, m.photos, m.title) for m in months(shown)] == [
        ("2025-06", 0, 1, "June 2025"), ("2021-07", 1, 1, "July 2021"), ("2019-03", 2, 1, "March 2019")]
    oldest = timeline(library, newest_first=False)
    assert [p.photo_id for p in oldest] == [p.photo_id for p in reversed(shown)]
    # A folder and what is below it; a name that only begins the same is another folder.
    assert {Path(p.path).name for p in timeline(library, str(photos / "2021"))} == {"blair.jpg", "landscape.jpg"}
    assert timeline(library, str(photos / "2021/tri")) == []
    assert folder_tree(library) == {str(photos): [str(photos / "2019"), str(photos / "2021"), str(photos / "2021/trip")]}
    assert photo_taken(library, shown[0].photo_id) == "Taken 1 June 2025, 16:59"
    assert photo_taken(library, shown[2].photo_id) == "File dated 10 March 2019, 09:30"


def test_all_photos_page_opens_a_photo_with_no_face(dated_library, qtbot) -> None:
    from PySide6.QtGui import QGuiApplication

    from facenet_desktop.app import MainWindow

    library, photos = dated_library
    window = MainWindow(library, rescan_at_start=False)
    qtbot.addWidget(window)
    window.show()
    try:
        window.show_section("All photos")
        qtbot.waitUntil(lambda: window.timeline_reads >= 1, timeout=60000)
        page = window.timeline_page
        assert window.stack.currentWidget() is page and page.model.rowCount() == 3
        assert page.summary.text() == "3 photos, newest first; 1 with no face found"
        row = next(r for r in range(3) if page.model.items[r].faces == 0)
        assert page.model.index(row, 0).data().endswith("· no face")
        page.view.activated.emit(page.model.index(row, 0))
        assert window.stack.currentWidget() is window.photo_page
        assert window.photo_page.title.text() == str(photos / "2021/landscape.jpg")
        assert window.photo_page.taken.text() == "Taken 1 June 2025, 16:59"
        assert window.photo_page.position.text() == f"{row + 1} of 3"  # the arrows go through the timeline
        window.photo_page.copy_path_button.click()
        assert QGuiApplication.clipboard().text() == str(photos / "2021/landscape.jpg")
        # The folder tree: a folder shows only its photos.
        window.go_back()
        before = window.timeline_reads
        folders = page.tree.topLevelItem(1)
        trip = next(folders.child(0).child(k) for k in range(folders.child(0).childCount())
                    if folders.child(0).child(k).text(0) == "2021/trip")
        page._tree_clicked(trip)
        qtbot.waitUntil(lambda: window.timeline_reads > before, timeout=60000)
        assert [Path(p.path).name for p in page.model.items] == ["blair.jpg"]
        # A person's page sorts by date; search results say when each photo was taken.
        from engine.library.edits import editing
        from engine.library.reading.browse import search_photos

        portraits = [f for (f,) in library.db.execute(
            "SELECT f.id FROM faces f JOIN photos ph ON ph.id = f.photo_id ORDER BY (f.x2 - f.x1) * (f.y2 - f.y1) DESC")]
        editing.move_faces(library, portraits[:2], "Someone", create=True)
        person = library.scalar("SELECT id FROM people WHERE name = 'Someone'")
        window.open_person(person)
        person_page = window.person_page
        person_page.order.setCurrentText("Newest first")
        assert [Path(f.path).name for f in window.faces_model.items] == ["blair.jpg", "powell.jpg"]
        person_page.order.setCurrentText("Oldest first")
        assert [Path(f.path).name for f in window.faces_model.items] == ["powell.jpg", "blair.jpg"]
        window.photos_model.set_items(search_photos(library, ["Someone"]))
        texts = {window.photos_model.index(r, 0).data() for r in range(window.photos_model.rowCount())}
        assert texts == {"15 July 2021", "10 March 2019"}
    finally:
        window.close()
