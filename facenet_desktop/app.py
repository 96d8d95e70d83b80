"""The main window: its pages and actions, wired to the controllers that do the work.

Everything slow (scan, grouping, fine-tune, re-embedding, adding a face) runs as a Job on
its own thread, and the engine work in it runs in a child process (engine_process): torch
is never loaded into this process, so its GIL is never held by model loading.  The user's
edits run one at a time on the edits thread (EditRunner); the GUI thread only makes small reads.
Errors reach the user through `report_error`; unexpected exceptions reach a crash dialog.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QListWidget,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QToolBar,
)

from engine.errors import EngineError
from engine.library.reading.browse import person_faces
from engine.library.reading.timeline import folder_tree, timeline
from engine.library.storage.store import Library, LibraryError
from engine.wording import counted
from facenet_desktop.engine_process import EngineHost
from facenet_desktop.finetune_flow import FinetuneFlow
from facenet_desktop.folders_and_scans import FoldersAndScans, default_pictures_folder
from facenet_desktop.job_control import JobControl
from facenet_desktop.launch import run
from facenet_desktop.models import FacesModel, PeopleModel, PhotosModel, SuggestionsModel
from facenet_desktop.people_pages import EmptyPage, PeoplePage, PersonPage
from facenet_desktop.photo_page import PhotoPage
from facenet_desktop.photo_viewer import PhotoViewer
from facenet_desktop.resources import WINDOW_TITLE
from facenet_desktop.review_panel import ReviewPanel
from facenet_desktop.search_control import SearchControl
from facenet_desktop.search_page import SearchPage
from facenet_desktop.status_line import StatusLine
from facenet_desktop.suggestions_page import REFERENCE_FACES, SuggestionsPage
from facenet_desktop.thumbnails import ThumbnailLoader
from facenet_desktop.timeline_page import TimelineModel, TimelinePage
from facenet_desktop.user_edits import UserEdits
from facenet_desktop.view_refresh import ViewRefresh
from facenet_desktop.views import person_view
from facenet_desktop.workers import EditRunner, Job

SECTIONS = ("People", "Suggestions", "Search", "All photos")
RECOGNITION_DELAY_MS = 300  # edits in quick succession (a run of Y answers) share one pass


class MainWindow(UserEdits, QMainWindow):
    """Wires the pages to their controllers: jobs (job_control), what is shown and when it is
    read again (view_refresh), folders, scans and settings (folders_and_scans), search
    (search_control), the photo view (photo_viewer) and the fine-tune (finetune_flow).  The
    user's edits, which all go through `edit` on the edits thread, are its UserEdits part
    (user_edits.py); starting the app is launch.py's."""

    photo_shown = Signal(int)  # photo id: the photo view shows it, boxes included

    def __init__(self, library: Library | None = None, rescan_at_start: bool = True) -> None:
        super().__init__()
        self.setWindowTitle(WINDOW_TITLE)
        self.resize(1200, 800)
        self.library = library or Library()
        self.closing = False  # jobs ending now must not start reads
        self.job_control = JobControl(self)
        self.jobs = self.job_control.runner
        self.engine_host = EngineHost("engine helper", nice=10)  # quick engine calls: recognition, a face drawn by hand
        self.finetune = FinetuneFlow(self)
        self._recognition_job: Job | None = None
        self.errors: list[str] = []  # every message shown, newest last (tests read it)
        self.recognitions = 0  # recognition passes after edits that finished (tests wait on it)
        self.timeline_reads = 0  # All photos views shown (tests wait on it)
        self.thumbnails = ThumbnailLoader(self.library, parent=self)
        self.people_model = PeopleModel(self.thumbnails, self)
        self.faces_model = FacesModel(self.thumbnails, self)
        self.suggestions_model = SuggestionsModel(self.thumbnails, self)
        self.photos_model = PhotosModel(self.thumbnails, self)
        self.views = ViewRefresh(self)
        self._build_pages()
        self._build_actions()
        self._build_status()
        self.folders_and_scans = FoldersAndScans(self)
        self.job_control.ended.connect(self._job_ended)
        self.edits = EditRunner(lambda person: self.views.read(person, groups=False), self._show_edit,
                                (LibraryError, EngineError, ValueError), self)
        self.refresh()
        self.refresh_in_background()  # the group questions: every group against every person
        if self.library.read_only:  # a read-only disk: browse and export; every edit says it is refused
            self.setWindowTitle(f"{WINDOW_TITLE} (read-only library)")
            rescan_at_start = False
        if self.folders():
            self.show_section("People")
            if rescan_at_start:
                QTimer.singleShot(0, self.rescan)
        else:
            self.stack.setCurrentWidget(self.empty_page)
        # Everything built so far lives as long as the window: keep it out of the cyclic
        # collector, whose full passes otherwise held the GIL for 20-70 ms during scans.
        gc.freeze()

    # -- construction --------------------------------------------------------------------
    def _build_pages(self) -> None:
        self.sidebar = QListWidget(self)
        self.sidebar.addItems(list(SECTIONS))
        self.sidebar.setMaximumWidth(180)
        self.sidebar.setCurrentRow(0)
        self.sidebar.currentTextChanged.connect(lambda text: self.show_section(text.split(" (")[0]))
        self.stack = QStackedWidget(self)
        self.empty_page = EmptyPage(default_pictures_folder(), self)
        self.people_page = PeoplePage(self.people_model, self)
        self.person_page = PersonPage(self.faces_model, self)
        self.reference_model = FacesModel(self.thumbnails, self)
        self.group_faces_model = FacesModel(self.thumbnails, self)
        self.suggestions_page = SuggestionsPage(self.suggestions_model, self.reference_model,
                                                lambda person: person_faces(self.library, person, REFERENCE_FACES),
                                                self.group_faces_model, self)
        self.photo_page = PhotoPage(self)
        self.photo_viewer = PhotoViewer(self)
        self.search_page = SearchPage(self.photos_model, self)
        self.search_control = SearchControl(self.library, self.search_page, self.photos_model)
        self.timeline_model = TimelineModel(self.thumbnails, self)
        self.timeline_page = TimelinePage(self.timeline_model, self)
        for page in (self.empty_page, self.people_page, self.person_page, self.suggestions_page, self.photo_page,
                     self.search_page, self.timeline_page):
            self.stack.addWidget(page)
        self.timeline_page.open_photo.connect(lambda photo: self.open_photo(photo, self.timeline_page.photo_ids()))
        self.timeline_page.folder_chosen.connect(lambda _folder: self.read_timeline())
        self.timeline_page.order_chosen.connect(lambda _newest: self.read_timeline())
        self.empty_page.add_folder.connect(self.add_folder)
        self.people_page.open_person.connect(self.open_person)
        self.people_page.merge_requested.connect(self.merge_people)
        self.people_page.set_hidden.connect(self.hide_person)
        self.people_page.show_hidden_changed.connect(self._show_hidden_people)
        self.people_page.told.connect(lambda text: self.status_line.say(text, 8000))
        self.person_page.back.connect(self._back_to_people)
        self.person_page.rename.connect(self.rename_person)
        self.person_page.reject_faces.connect(self.reject_faces)
        self.person_page.move_faces.connect(self.move_faces)
        self.person_page.confirm_faces.connect(self.confirm_faces)
        self.person_page.not_a_face.connect(self.not_a_face)
        self.person_page.set_cover.connect(self.set_cover)
        self.person_page.hide_person.connect(self.hide_person)
        self.person_page.open_photo.connect(lambda photo: self.open_photo(photo, photos_in(self.faces_model.items)))
        self.suggestions_page.answer.connect(self.answer_suggestion)
        self.suggestions_page.learn.connect(self.start_finetune)
        self.suggestions_page.answer_group.connect(self.answer_group_suggestion)
        self.review_panel = ReviewPanel(self.thumbnails, self)
        self.review_panel.answered.connect(self.answer_review_page)
        self.review_panel.open_photo.connect(self.open_photo)
        self.suggestions_page.attach_review(self.review_panel)
        self.photo_page.back.connect(self.go_back)
        self.photo_page.view.face_clicked.connect(self.photo_viewer.face_menu)
        self.photo_page.view.box_drawn.connect(self.photo_viewer.add_face)
        self.search_page.find.connect(self.search)
        self.search_page.search_people.connect(self.search_people)
        self.search_page.open_photo.connect(lambda photo: self.open_photo(photo, photos_in(self.photos_model.items)))
        self.photo_page.step.connect(self.photo_viewer.step)
        splitter = QSplitter(self)
        splitter.addWidget(self.sidebar)
        splitter.addWidget(self.stack)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([160, 1040])
        self.setCentralWidget(splitter)

    def _action(self, text: str, slot, shortcut: str | QKeySequence.StandardKey | None = None) -> QAction:  # noqa: ANN001
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        return action

    def _build_actions(self) -> None:
        self.add_folder_action = self._action("Add folder…", lambda: self.add_folder(""))
        self.rescan_action = self._action("Rescan", self.rescan, "F5")
        self.pause_action = self._action("Pause", self.toggle_pause)
        self.cancel_action = self._action("Cancel", self.cancel_job)
        self.undo_action = self._action("Undo", self.undo, QKeySequence.StandardKey.Undo)
        self.redo_action = self._action("Redo", self.redo, "Ctrl+Shift+Z")
        self.finetune_action = self._action("Learn from your corrections", self.start_finetune)
        self.settings_action = self._action("Settings", self.open_settings)
        self.search_action = self._action("Search", lambda: self.show_section("Search"), QKeySequence.StandardKey.Find)
        toolbar = QToolBar("Main", self)
        toolbar.setMovable(False)
        for action in (self.add_folder_action, self.rescan_action, self.pause_action, self.cancel_action,
                       self.undo_action, self.finetune_action, self.settings_action):
            toolbar.addAction(action)
        self.addToolBar(toolbar)
        self.addAction(self.undo_action)
        self.addAction(self.redo_action)
        self.addAction(self.search_action)
        self.update_job_actions()

    def _build_status(self) -> None:
        self.status_line = StatusLine(self, undo=self.undo, redo=self.redo)
        self.setStatusBar(self.status_line)
        self.library_summary = self.status_line.library_summary  # shown whenever no message is
        self.progress_bar = self.status_line.progress_bar
        self.edit_undo_button, self.edit_redo_button = self.status_line.undo_button, self.status_line.redo_button
        # Naming pays off at once: after the user's edits settle, recognition runs again in the
        # engine host (no torch needed, but 100k faces of k-NN must not hold this thread).
        self.recognition_timer = QTimer(self, singleShot=True, interval=RECOGNITION_DELAY_MS)
        self.recognition_timer.timeout.connect(self._recognise_now)
        self._recognise_again = False

    # -- the one error route ---------------------------------------------------------------
    def report_error(self, message: str, details: str = "") -> None:
        self.errors.append(message)
        self.status_line.say(message, 10000)
        box = QMessageBox(QMessageBox.Icon.Warning, WINDOW_TITLE, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setModal(False)
        box.show()

    # -- jobs (facenet_desktop/job_control.py) -------------------------------------------------
    @property
    def scan_job(self) -> Job | None:
        return self.job_control.scan

    @scan_job.setter
    def scan_job(self, job: Job | None) -> None:
        self.job_control.scan = job

    @property
    def finetune_job(self) -> Job | None:
        return self.job_control.finetune

    def start_job(self, name: str, function, on_success, on_pause=None) -> Job:  # noqa: ANN001
        return self.job_control.start(name, function, on_success, on_pause)

    def update_job_actions(self) -> None:
        self.job_control.update_actions()

    def toggle_pause(self) -> None:
        self.job_control.toggle_pause()

    def cancel_job(self) -> None:
        self.job_control.cancel()

    def _job_ended(self, job: Job) -> None:
        if job is self._recognition_job:
            self._recognition_job = None
            if self._recognise_again:
                self._recognise_again = False
                self.recognition_timer.start()
        self.refresh_in_background()

    # -- what is shown (facenet_desktop/view_refresh.py) ----------------------------------------
    def folders(self) -> list[str]:
        return self.folders_and_scans.folders()

    def shown_person(self) -> int | None:
        if self.stack.currentWidget() is self.person_page:
            return self.person_page.person_id
        return None

    def update_suggestions_title(self) -> None:
        # Questions only: pages of faces are there whenever faces named with their group wait
        # to be looked at, and a number that never reaches zero would nag.
        count = self.suggestions_model.rowCount() + len(self.suggestions_page.groups)
        self.sidebar.item(1).setText(f"Suggestions ({count})" if count else "Suggestions")

    def refresh(self) -> None:
        self.views.now()

    def refresh_in_background(self) -> None:
        self.views.in_background()

    def views_pending(self) -> bool:
        return self.views.is_pending()

    def show_section(self, name: str) -> None:
        if not self.folders() and name == "People":
            self.stack.setCurrentWidget(self.empty_page)
            return
        page = {"People": self.people_page, "Suggestions": self.suggestions_page, "Search": self.search_page,
                "All photos": self.timeline_page}[name]
        if page is self.timeline_page:
            self.read_timeline()
        self.stack.setCurrentWidget(page)
        if self.sidebar.currentRow() != SECTIONS.index(name):  # the sidebar shows where we are
            self.sidebar.blockSignals(True)
            self.sidebar.setCurrentRow(SECTIONS.index(name))
            self.sidebar.blockSignals(False)
        if page is self.search_page:  # who opens Search types next, wherever the focus was
            self.search_page.query.setFocus(Qt.FocusReason.OtherFocusReason)

    def read_timeline(self) -> None:
        """Every photo by date, read on the views thread (100,000 photos must not hold this one)."""
        folder, newest = self.timeline_page.folder, self.timeline_page.newest_first
        library = self.library

        def read() -> tuple:
            return timeline(library, folder, newest), folder_tree(library)

        def arrived(result, error) -> None:  # noqa: ANN001
            if error is not None:
                self.status_line.say(f"Could not read the photos: {error}", 5000)
            elif result is not None and (folder, newest) == (self.timeline_page.folder, self.timeline_page.newest_first):
                self.timeline_page.show_photos(*result)
                self.timeline_reads += 1

        self.views.reader.submit(read, arrived)

    def open_person(self, person_id: int) -> None:
        self._show_person(person_id)
        self.stack.setCurrentWidget(self.person_page)
        self.person_page.view.setFocus(Qt.FocusReason.OtherFocusReason)  # its keys work at once (Esc, Delete)

    def _show_person(self, person_id: int) -> None:
        shown = person_view(self.library, person_id)
        if shown is None:  # merged away or removed: back to the grid
            self.show_section("People")
            return
        self.person_page.show_person(person_id, *shown)

    def _back_to_people(self) -> None:
        self.show_section("People")
        if self.stack.currentWidget() is self.people_page:
            self.people_page.view.setFocus(Qt.FocusReason.OtherFocusReason)

    # -- folders, scans and settings (facenet_desktop/folders_and_scans.py) ---------------------
    def add_folder(self, folder: str) -> None:
        self.folders_and_scans.add_folder(folder)

    def rescan(self) -> None:
        self.folders_and_scans.rescan()

    def show_missing_photos(self) -> None:
        self.folders_and_scans.show_missing_photos()

    def open_settings(self) -> None:
        self.folders_and_scans.open_settings()

    def _show_hidden_people(self, shown: bool) -> None:
        self.views.include_hidden = shown
        self.refresh()
        if shown:
            hidden = sum(1 for p in self.people_model.items if p.hidden)
            self.status_line.say(f"Showing {counted(hidden, 'hidden person', 'hidden people')}: open one to show them again."
                                 if hidden else "Nobody is hidden.", 8000)

    # -- photo view (facenet_desktop/photo_viewer.py) ----------------------------------------------
    def open_photo(self, photo_id: int, sequence: list[int] | None = None) -> None:
        self.photo_viewer.open(photo_id, sequence)

    def step_photo(self, delta: int) -> None:
        self.photo_viewer.step(delta)

    def go_back(self) -> None:
        self.photo_viewer.go_back()

    def face_actions(self, face_id: int) -> list[tuple[str, Callable[[], None]]]:
        return self.photo_viewer.face_actions(face_id)

    def add_face(self, box: tuple) -> None:
        self.photo_viewer.add_face(box)

    # -- search (facenet_desktop/search_control.py) ---------------------------------------------
    def search(self, text: str) -> None:
        self.search_control.search(text)

    def search_people(self, person_ids: list[int], problems: list[str] | None = None) -> None:
        self.search_control.search_people(person_ids, problems)

    # -- fine-tune (facenet_desktop/finetune_flow.py) ---------------------------------------------
    def start_finetune(self) -> None:
        self.finetune.start()

    def apply_finetune(self, proposal) -> None:  # noqa: ANN001 - child_work.FinetuneProposal
        self.finetune.apply(proposal)

    # -- the window itself --------------------------------------------------------------------------
    def remember_geometry(self, path: Path) -> None:
        """Open where and as large as it was last closed (a QSettings file at `path`)."""
        self._geometry_file = path
        saved = QSettings(str(path), QSettings.Format.IniFormat).value("window/geometry")
        if saved is not None:
            self.restoreGeometry(saved)

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802
        if getattr(self, "_geometry_file", None) is not None:
            QSettings(str(self._geometry_file), QSettings.Format.IniFormat).setValue("window/geometry",
                                                                                    self.saveGeometry())
        self.closing = True  # jobs ending now must not start reads
        self.recognition_timer.stop()
        self.edits.close()  # the edits asked for are made; their views are not shown any more
        self.job_control.stop_all()
        self.engine_host.close()
        self.views.reader.close()
        self.photo_viewer.close()
        self.thumbnails.wait()
        super().closeEvent(event)


def photos_in(tiles: list) -> list[int]:
    """The photos of face tiles, in order, each once."""
    return list(dict.fromkeys(tile.photo_id for tile in tiles))


def main(argv: Sequence[str] | None = None) -> int:
    return run(MainWindow, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
