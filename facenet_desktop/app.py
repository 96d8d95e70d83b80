"""The main window: pages, actions, and the jobs that call the engine.

Everything slow (scan, grouping, fine-tune, re-embedding, adding a face) runs as a Job on
its own thread, and the engine work in it runs in a child process (engine_process): torch
is never loaded into this process, so its GIL is never held by model loading.  The user's
edits run one at a time on the edits thread (EditRunner); the GUI thread only makes small reads.
Errors reach the user through `report_error`; unexpected exceptions reach a crash dialog.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
from concurrent.futures import Future
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QStandardPaths, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QToolBar,
)

from engine.errors import EngineError
from engine.logs import start_logging
from engine.paths import data_dir
from engine.settings import session_environment
from engine.jobs import Progress
from engine.library import editing
from engine.library.browse import (
    face_count,
    parse_people_query,
    person_faces,
    search_photos,
)
from engine.library.group_suggestions import GroupQuestions, GroupSuggestion, answer_group_suggestion
from engine.library.folders import add_folder, library_folders, photos_in_folder, remove_folder
from engine.library.missing import forget_missing, missing_photos
from engine.library.model_registry import remove_orphan_candidates
from engine.library.finetune_offer import FinetuneOffers
from engine.library.timeline import folder_tree, timeline
from facenet_desktop.timeline_page import TimelineModel, TimelinePage
from engine.library.review_pages import ReviewPages
from facenet_desktop.review_panel import ReviewPanel
from engine.library.people import find_people, other_person_named, person_names
from engine.library.preferences import load_preferences, save_preferences
from engine.library.store import Library, LibraryError, LibraryUnavailable, default_db_path, needs_converting
from engine.user_files import printable_path
from engine.wording import counted, library_in_words, names_in_words
from facenet_desktop.dialogs import PersonPicker, SettingsDialog, TextDialog
from facenet_desktop.models import FacesModel, PeopleModel, PhotosModel, SuggestionsModel
from facenet_desktop.pages import (
    REFERENCE_FACES,
    EmptyPage,
    PeoplePage,
    PersonPage,
    PhotoPage,
    SearchPage,
    SuggestionsPage,
)
from facenet_desktop.resources import icon_path
from facenet_desktop.engine_process import ChildCall, ChildProcess, EngineHost
from facenet_desktop.finetune_flow import FinetuneFlow
from facenet_desktop.photo_viewer import PhotoViewer
from facenet_desktop.status_line import StatusLine
from facenet_desktop.scan_process import ScanProcess, ScanRequest
from facenet_desktop.thumbnails import ThumbnailLoader
from facenet_desktop import child_work
from facenet_desktop.background import Delivery
from facenet_desktop.crash import install_crash_dialog
from facenet_desktop.display_check import display_problem, tell_without_qt
from facenet_desktop.views import person_view, read_views
from facenet_desktop.workers import EditOutcome, EditRunner, Job, JobRunner

WINDOW_TITLE = "FaceNet Desktop"
SECTIONS = ("People", "Suggestions", "Search", "All photos")


def default_pictures_folder() -> str:
    found = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return found or str(Path.home() / "Pictures")


class MainWindow(QMainWindow):
    photo_shown = Signal(int)  # photo id: the photo view shows it, boxes included

    def __init__(self, library: Library | None = None, rescan_at_start: bool = True) -> None:
        super().__init__()
        self.setWindowTitle(WINDOW_TITLE)
        self.resize(1200, 800)
        self.library = library or Library()
        self.jobs = JobRunner(self)
        self.engine_host = EngineHost("engine helper", nice=10)  # quick engine calls: recognition, a face drawn by hand
        self.scan_job: Job | None = None
        self.finetune_job: Job | None = None
        self.finetune = FinetuneFlow(self)
        self._recognition_job: Job | None = None
        self.errors: list[str] = []  # every message shown, newest last (tests read it)
        self.recognitions = 0  # recognition passes after edits that finished (tests wait on it)
        self.timeline_reads = 0  # All photos views shown (tests wait on it)
        self._scan_again = False  # a rescan asked for while a scan ran: it follows that scan
        self.thumbnails = ThumbnailLoader(self.library, parent=self)
        self.people_model = PeopleModel(self.thumbnails, self)
        self.faces_model = FacesModel(self.thumbnails, self)
        self.suggestions_model = SuggestionsModel(self.thumbnails, self)
        self._group_questions = GroupQuestions()  # read on the views thread only
        self._review_pages = ReviewPages()  # likewise
        self._finetune_offers = FinetuneOffers()  # likewise
        self.photos_model = PhotosModel(self.thumbnails, self)
        self._build_pages()
        self._build_actions()
        self._build_status()
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(2000)
        self.refresh_timer.timeout.connect(self.refresh_in_background)
        self._reader = Delivery("views", self)
        self._pending_views: Future | None = None
        self._views_generation = 0  # bumped by every refresh: a read started before it is outdated
        self._pending_generation = 0
        self._read_again = False
        self._closing = False
        self._faces_found = 0
        self._faces_before_scan = 0
        self._include_hidden = False  # the grid's "Show hidden people", read by the worker threads' reads
        self.edits = EditRunner(lambda person: self._read_views(person, groups=False), self._show_edit,
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
        self.unreadable_photos: list[tuple[str, str]] = []
        self.unreadable_button = self.status_line.add_button("Which photos, and why", self.show_unreadable_photos)
        self.missing_button = self.status_line.add_button("Photos gone from disk: their names are kept",
                                                          self.show_missing_photos)
        # Naming pays off at once: after the user's edits settle, recognition runs again in the
        # engine host (no torch needed, but 100k faces of k-NN must not hold this thread).
        self._recognition_timer = QTimer(self, singleShot=True, interval=RECOGNITION_DELAY_MS)
        self._recognition_timer.timeout.connect(self._recognise_now)
        self._recognise_again = False
        self._last_progress: Progress | None = None

    # -- the one error route ---------------------------------------------------------------
    def report_error(self, message: str, details: str = "") -> None:
        self.errors.append(message)
        self.status_line.say(message, 10000)
        box = QMessageBox(QMessageBox.Icon.Warning, WINDOW_TITLE, message, QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setModal(False)
        box.show()

    def edit(self, function, *args: object, then=None) -> None:  # noqa: ANN001
        """Make one edit on the edits thread and say what it did, with Undo; a refused edit
        becomes a message, never a crash.  `then` runs here once the edit is shown."""
        library = self.library

        def work() -> tuple[str, str | None]:
            function(library, *args)
            return f"{editing.last_edit(library)}.", "undo"

        self._submit_edit(work, then)

    def _submit_edit(self, work, then=None) -> None:  # noqa: ANN001
        self._views_generation += 1  # a background read begun before the edit must not show
        self.edits.submit(work, self._shown_person(), then)

    def edits_pending(self) -> bool:
        """Edits asked for that the views do not show yet (tests wait on it)."""
        return self.edits.pending > 0

    def _show_edit(self, outcome: EditOutcome) -> None:
        if outcome.refused:
            self.report_error(outcome.refused)
        elif outcome.crashed:
            self.report_error("That change could not be made; your library is safe.", outcome.crashed)
        else:
            self.status_line.say_edit(outcome.message, outcome.button)
            self._recognition_timer.start()
        if outcome.views is not None and not self._closing:
            self._views_generation += 1
            self._apply_views(outcome.views)
        if outcome.then is not None and not self._closing:
            outcome.then()
        if self._read_again and self._pending_views is None and self.edits.pending == 1:  # the last one
            self.refresh_in_background()

    def _recognise_now(self) -> None:
        if self._closing:
            return
        if self._recognition_job is not None:
            self._recognise_again = True  # the running pass may have read the library before the edit
            return
        work = self.engine_host.job(child_work.recognise, str(self.library.path), what="recognition")
        self._recognition_job = self.start_job("recognition", work, self._recognised)

    def _recognised(self, placed: int) -> None:
        self.recognitions += 1  # the views refresh when the job is done (_job_done)

    # -- reading the library ---------------------------------------------------------------
    def folders(self) -> list[str]:
        return library_folders(self.library)

    def _read_views(self, person_id: int | None, groups: bool = True) -> dict:
        """Everything the views show (any thread); see views.read_views."""
        return read_views(self.library, self._group_questions if groups else None, self._include_hidden, person_id,
                          self._review_pages, self._finetune_offers)

    def _suggestions_title(self) -> str:
        # Questions only: pages of faces are there whenever faces named with their group wait
        # to be looked at, and a number that never reaches zero would nag.
        count = self.suggestions_model.rowCount() + len(self.suggestions_page.groups)
        return f"Suggestions ({count})" if count else "Suggestions"

    def _shown_person(self) -> int | None:
        if self.stack.currentWidget() is self.person_page:
            return self.person_page.person_id
        return None

    def _apply_views(self, views: dict) -> None:
        self.people_model.keep_order = self.scan_job is not None  # tiles stay put while a scan adds faces
        self.people_model.set_people(views["people"], views["unsorted"], views["cover"])
        self.suggestions_model.set_items(views["suggestions"])
        if "pages" in views:
            self.review_panel.set_pages(*views["pages"])
            self.suggestions_page._update_question()
        if "finetune_offer" in views:
            offer = views["finetune_offer"]
            self.suggestions_page.set_offer(None if offer is None else offer.sentence())
        if "groups" in views:
            self.suggestions_page.set_groups(*views["groups"])
        else:  # until the next background read: the questions whose two sides are still there as they were
            people = {p.id: p.name for p in views["people"]}
            page = self.suggestions_page
            page.set_groups([g for g in page.groups if g.group in people and people[g.group] is None
                             and g.other in people and people[g.other] == g.other_name], page.group_tiles)
        self.sidebar.item(1).setText(self._suggestions_title())
        self.search_page.set_names(sorted((p.name for p in views["people"] if p.name and not p.hidden), key=str.casefold))
        self.undo_action.setEnabled(views["can_undo"])
        self.redo_action.setEnabled(views["can_redo"])
        self._faces_found = views["faces"]
        shown = [p for p in views["people"] if not p.hidden]
        self.library_summary.setText(library_in_words(views["photos"], views["faces"], len(shown),
                                                      sum(1 for p in shown if p.name)))
        if self.stack.currentWidget() is self.empty_page and views["photos"]:
            self.show_section("People")  # a folder came back (Undo of its removal): the welcome page goes
        if "person" in views and views["person"][0] == self._shown_person():
            person_id, shown = views["person"]
            if shown is None:  # merged away or removed: back to the grid
                self.show_section("People")
            else:
                self.person_page.show_person(person_id, *shown)

    def refresh(self) -> None:
        """Reload the views now (after the user's own edits: a few ms, and the user expects
        to see the edit at once)."""
        self._views_generation += 1
        self._apply_views(self._read_views(self._shown_person(), groups=False))

    def refresh_in_background(self) -> None:
        """Refresh while or after jobs run: read on a worker thread, apply here, so a big
        library never stalls the window (a GUI-thread refresh took 110 ms under a scan, and
        150 ms once at the end of a scan, waiting on the database the scan had just closed)."""
        if self._closing:
            return
        if self._pending_views is not None:
            self._read_again = True  # the read under way may predate what changed
            return
        self._read_again = False
        self._pending_generation = self._views_generation
        person = self._shown_person()
        self._pending_views = self._reader.submit(lambda: self._read_views(person), self._background_views_read)

    def views_pending(self) -> bool:
        """A background read has yet to reach the views."""
        return self._pending_views is not None or self._read_again

    def _background_views_read(self, views: dict | None, error: BaseException | None) -> None:
        self._pending_views = None
        if isinstance(error, LibraryUnavailable):
            if not self.errors or self.errors[-1] != str(error):  # once, not at every 2-s refresh
                self.report_error(str(error))
        elif error is not None:  # a failed read shows up on the next one
            self.status_line.say(f"Could not read the library: {error}", 5000)
        if views is not None:
            if self._pending_generation == self._views_generation and not self.edits_pending():
                self._apply_views(views)
            else:
                self._read_again = True  # an edit was asked for or shown after this read began
        if self._read_again and not self.edits_pending():  # else read again once the edits are shown
            self.refresh_in_background()

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

        self._reader.submit(read, arrived)

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

    # -- folders and scanning ----------------------------------------------------------------
    def add_folder(self, folder: str) -> None:
        if not folder:
            folder = QFileDialog.getExistingDirectory(self, "Add a photo folder", default_pictures_folder())
            if not folder:
                return
        if not Path(folder).is_dir():
            self.report_error(f"{folder} is not a folder that can be read")
            return
        library = self.library

        def work() -> tuple[str, None]:  # on the edits thread: a scan may hold the write lock
            add_folder(library, folder)
            return f"Added {printable_path(folder)}; scanning it.", None

        def then() -> None:
            self.show_section("People")
            self.rescan()

        self._submit_edit(work, then)

    def rescan(self) -> None:
        folders = self.folders()
        if not folders:  # nothing to scan yet: the page that adds a folder
            self.stack.setCurrentWidget(self.empty_page)
            self.status_line.say("No photo folder yet: add one to scan it.", 8000)
            return
        if self.scan_job is not None:
            # Folders or settings changed meanwhile: the running scan took its folders at its
            # start, so another scan follows it (a folder added now was saved with 0 photos).
            self._scan_again = True
            self.status_line.say("A scan is running: the changes are scanned as soon as it is done.", 10000)
            return
        self._scan_again = False
        self._faces_before_scan = face_count(self.library)  # the status bar counts this scan's faces
        prefs = load_preferences(self.library)
        process = ScanProcess(ScanRequest(str(self.library.path), tuple(folders), float(prefs.min_face_px),
                                          tuple(prefs.excluded_folders)))
        self.scan_job = self.start_job("scan", process.run, self._scan_finished, process.set_paused)
        self.update_job_actions()
        self.refresh_timer.start()

    def _scan_finished(self, summary) -> None:  # noqa: ANN001
        self.thumbnails.forget()  # new faces may have the ids of faces gone since
        # A pass now builds the engine host's memory of recognition, so the pass after the
        # user's first edit looks only where the edit changed something (10 s -> under 1 s
        # in a 100k-face library: benchmarks/recognition_after_edit.py).
        self._recognition_timer.start()
        unreadable = len(summary.problems)
        self.status_line.say(
            f"Scan done: {counted(summary.analyzed, 'photo')} analysed, {counted(summary.faces_found, 'face')} found, "
            f"{summary.unchanged:,} unchanged"
            + (f", {counted(summary.missing, 'photo')} missing from disk (names kept)" if summary.missing else "")
            + (f", {counted(summary.xmp_labels, 'face')} named from the photos' XMP metadata (another app's names)"
               if summary.xmp_labels else ""), 15000)
        for path, reason in summary.folder_errors:
            self.errors.append(f"{path}: {reason}")
        self.unreadable_photos = list(summary.problems)
        self.unreadable_button.setText(f"{counted(unreadable, 'photo')} could not be read")
        self.unreadable_button.setVisible(bool(unreadable))
        self.missing_button.setText(f"{counted(summary.missing, 'photo')} missing from disk")
        self.missing_button.setVisible(bool(summary.missing))

    def show_missing_photos(self) -> None:
        """Photos gone from disk keep their names until the user says to forget them."""
        photos = missing_photos(self.library)
        named = sum(1 for p in photos if p.named)
        lines = "\n".join(f"{printable_path(p.path)}  ({counted(p.faces, 'face')}, "
                          f"{p.named} named; missing since {p.missing_since})" for p in photos)
        dialog = TextDialog(
            "Photos missing from disk",
            f"{counted(len(photos), 'photo')} could not be found, "
            f"{f'{named} of them with named faces' if named else 'none with named faces'}. If a drive is "
            "unplugged, plug it in and rescan: the photos come back with their names. Forget them only if they "
            "are gone for good (their faces leave the library; people and names stay).",
            lines, self, QDialogButtonBox.StandardButton.Discard | QDialogButtonBox.StandardButton.Close)
        forget = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Discard)
        forget.setText("Forget these photos")
        forget.setEnabled(bool(photos))
        forget.clicked.connect(dialog.accept)
        self.missing_dialog = dialog
        if dialog.exec():
            library, ids = self.library, [p.id for p in photos]

            def work() -> tuple[str, None]:  # on the edits thread, like every write
                forgotten = forget_missing(library, ids)
                return f"Forgot {counted(forgotten, 'photo')} missing from disk; people and names stay.", None

            self.missing_button.hide()
            self._submit_edit(work, self.refresh)

    def show_unreadable_photos(self) -> None:
        lines = "\n".join(f"{path}\n    {reason}" for path, reason in self.unreadable_photos)
        count = counted(len(self.unreadable_photos), 'photo')
        self.unreadable_dialog = TextDialog(
            "Photos that could not be read",
            f"{count} could not be read. They are left as they are and tried again at the next scan.", lines, self)
        self.unreadable_dialog.show()

    def toggle_pause(self) -> None:
        if self.scan_job is None:
            return
        if self.scan_job.paused:
            self.scan_job.resume()
        else:
            self.scan_job.pause()
        if self._last_progress is not None:  # say it now: no report comes while paused
            self._show_progress(self._last_progress)
        else:
            self.status_line.say("Paused." if self.scan_job.paused else "", None)
        self.update_job_actions()

    def _cancellable_job(self) -> Job | None:
        """The scan, or else a fine-tune training, measuring or re-embedding: each stops without
        changing anything the user sees (faces embedded so far are kept for the next try)."""
        if self.scan_job is not None:
            return self.scan_job
        return self.finetune_job if self.finetune_job in self._running_jobs() else None

    def cancel_job(self) -> None:
        job = self._cancellable_job()
        if job is None:
            return
        job.cancel()
        self.status_line.progress_stopped()
        self.status_line.say("Stopping the scan after the current photo…" if job is self.scan_job
                             else f"Stopping the {job.name}…", None)

    def start_job(self, name: str, function, on_success, on_pause=None) -> Job:  # noqa: ANN001
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
        self.jobs.start(job)
        self.update_job_actions()
        return job

    def _running_jobs(self) -> list[Job]:
        """Jobs not yet ended (an ended job stays listed by the runner until its thread is reaped)."""
        return [job for job in self.jobs.running() if not job.ended]

    def _job_done(self, job: Job) -> None:
        if job is self.scan_job:
            self.scan_job = None
            self.refresh_timer.stop()
            if self._scan_again and not job.cancelled and not self._closing:
                QTimer.singleShot(0, self.rescan)
        if job is self.finetune_job:
            self.finetune_job = None
        if job is self._recognition_job:
            self._recognition_job = None
            if self._recognise_again:
                self._recognise_again = False
                self._recognition_timer.start()
        self._last_progress = None
        others = [j for j in self._running_jobs() if j is not job]
        cancelled = CANCELLED_MESSAGES.get(job.name, f"Cancelled the {job.name}; nothing was changed.")
        self.status_line.progress_ended(cancelled if job.cancelled else None, any_left=bool(others))
        self.update_job_actions(others)
        self.refresh_in_background()

    def _show_progress(self, progress: Progress) -> None:
        self._last_progress = progress
        text = f"{progress.phase.capitalize()}: {progress.done}" + (f" of {progress.total}" if progress.total else "")
        if progress.phase == "fine-tuning":
            text = f"Learning your people: {FINETUNE_STAGES.get(progress.item, f'step {progress.done - 1} of {progress.total - 4}')}"
        if progress.phase == "analyzing":
            # The count the views last read (every 2 s during a scan): progress reports come
            # many times a second, and the GUI thread must not wait on the scan's database.
            found = max(0, self._faces_found - self._faces_before_scan)
            text += f" photos, {counted(found, 'face')} found"
        if progress.eta_seconds is not None:
            text += f", about {format_duration(progress.eta_seconds)} left"
        if self.scan_job is not None and self.scan_job.paused:
            text = f"Paused. {text}"
        self.status_line.show_progress(text, progress.done, progress.total)

    def update_job_actions(self, running: list[Job] | None = None) -> None:
        running = self._running_jobs() if running is None else running
        scanning = self.scan_job is not None
        self.pause_action.setEnabled(scanning)
        self.cancel_action.setEnabled(self._cancellable_job() is not None)
        self.pause_action.setText("Resume" if scanning and self.scan_job.paused else "Pause")
        self.rescan_action.setEnabled(not scanning)
        # Recognition after an edit is quick and safe beside a fine-tune: it never greys the button.
        self.finetune_action.setEnabled(not [job for job in running if job.name != "recognition"])
        self.suggestions_page.learn_button.setEnabled(self.finetune_action.isEnabled())

    # -- edits -------------------------------------------------------------------------------
    def rename_person(self, person_id: int, name: str) -> None:
        other = other_person_named(self.library, name, person_id)
        if other is not None:
            answer = QMessageBox.question(self, WINDOW_TITLE, f"{name} already exists. Merge these two people?")
            if answer != QMessageBox.StandardButton.Yes:
                self._show_person(person_id)
                return
        self.edit(editing.name_person, person_id, name, then=None if other is None else lambda: self.open_person(other))

    def merge_people(self, ids: list[int]) -> None:
        into, *sources = ids
        self.edit(editing.merge_people, sources, into)

    def reject_faces(self, face_ids: list[int]) -> None:
        self.edit(editing.reject_faces, face_ids)

    def pick_person(self, title: str = "Move to…") -> str | None:
        names = person_names(self.library)
        picker = PersonPicker(names, self, title)
        return picker.chosen() if picker.exec() else None

    def move_faces(self, face_ids: list[int]) -> None:
        name = self.pick_person()
        if name:
            self.move_faces_to(face_ids, name)

    def move_faces_to(self, face_ids: list[int], name: str, then=None) -> None:  # noqa: ANN001
        self.edit(editing.move_faces, face_ids, name, True, then=then)

    def set_cover(self, person_id: int, face_id: int) -> None:
        self.edit(editing.set_cover, person_id, face_id)

    def hide_person(self, person_id: int, hidden: bool = True) -> None:
        self.edit(editing.hide_person, person_id, hidden,
                   then=(lambda: self.show_section("People")) if hidden else None)

    def not_a_face(self, face_ids: list[int]) -> None:
        """False detections leave the library (Undo brings them back)."""
        self.edit(editing.not_a_face, face_ids, then=self.photo_viewer.reopen)

    def confirm_faces(self, face_ids: list[int]) -> None:
        self.edit(editing.confirm_faces, face_ids)

    def _show_hidden_people(self, shown: bool) -> None:
        self._include_hidden = shown
        self.refresh()
        if shown:
            hidden = sum(1 for p in self.people_model.items if p.hidden)
            self.status_line.say(f"Showing {counted(hidden, 'hidden person', 'hidden people')}: open one to show them again."
                                 if hidden else "Nobody is hidden.", 8000)

    def answer_suggestion(self, face_id: int, yes: bool) -> None:
        """The answered face leaves the page at once, so the next Y or N is about the next
        face even while this answer is still being written."""
        self.suggestions_model.set_items([f for f in self.suggestions_model.items if f.id != face_id])
        self.sidebar.item(1).setText(self._suggestions_title())
        self.edit(editing.confirm_face if yes else editing.reject_face, face_id)

    def answer_group_suggestion(self, suggestion: GroupSuggestion, yes: bool) -> None:
        page = self.suggestions_page
        page.set_groups([g for g in page.groups if g.key != suggestion.key], page.group_tiles)
        self.sidebar.item(1).setText(self._suggestions_title())
        self.edit(answer_group_suggestion, suggestion, yes)

    def answer_review_page(self, page, yes: list[int], no: list[int]) -> None:  # noqa: ANN001 - a ReviewPage
        """The page leaves at once (the next page is shown while this answer is written)."""
        panel = self.review_panel
        panel.set_pages([p for p in panel.pages if p.key != page.key], panel.tiles)
        self.suggestions_page._update_question()
        self.sidebar.item(1).setText(self._suggestions_title())
        self.edit(editing.answer_page, page.person_id, yes, no, then=self.refresh_in_background)

    def undo(self) -> None:
        self._step_through_edits(editing.undo, "Undone", "redo", "Nothing to undo.")

    def redo(self) -> None:
        self._step_through_edits(editing.redo, "Redone", "undo", "Nothing to redo.")

    def _step_through_edits(self, step, done_word: str, button: str, nothing: str) -> None:  # noqa: ANN001
        library = self.library

        def work() -> tuple[str, str | None]:
            done = step(library)
            return (f"{done_word}: {done}.", button) if done else (nothing, None)

        self._submit_edit(work, self.photo_viewer.reopen)

    # -- photo view (facenet_desktop/photo_viewer.py) ----------------------------------------------
    def open_photo(self, photo_id: int, sequence: list[int] | None = None) -> None:
        self.photo_viewer.open(photo_id, sequence)

    def step_photo(self, delta: int) -> None:
        self.photo_viewer.step(delta)

    def go_back(self) -> None:
        self.photo_viewer.go_back()

    def _back_to_people(self) -> None:
        self.show_section("People")
        if self.stack.currentWidget() is self.people_page:
            self.people_page.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def face_actions(self, face_id: int) -> list[tuple[str, Callable[[], None]]]:
        return self.photo_viewer.face_actions(face_id)

    def add_face(self, box: tuple) -> None:
        self.photo_viewer.add_face(box)

    # -- search --------------------------------------------------------------------------------
    def search(self, text: str) -> None:
        """Each name typed ("Anna and Ben" works too) becomes a chosen person when it means
        exactly one; otherwise the page says why, in words (never a dialog)."""
        page = self.search_page
        problems = []
        for part in parse_people_query(text):
            matches = find_people(self.library, part)
            if len(matches) == 1:
                page.add_person(*matches[0])
            elif matches:
                problems.append(f"“{part}” could be {names_in_words([name for _, name in matches], 'or')}: "
                                "pick one from the list")
            else:
                problems.append(f"nobody is called “{part}”")
        if not problems:
            page.query.clear()
        self.search_people([p for p, _ in page.chosen], problems)

    def search_people(self, person_ids: list[int], problems: list[str] | None = None) -> None:
        page = self.search_page
        found = search_photos(self.library, person_ids) if person_ids else []
        self.photos_model.set_items(found)
        said = f"{counted(len(found), 'photo')} with {' and '.join(page.chip_names())}" if person_ids else ""
        problem = "; ".join(problems or [])
        page.problem_shown = bool(problem)
        page.result.setText(". ".join(part for part in (said, problem[:1].upper() + problem[1:]) if part) + "."
                            if said or problem else "")

    # -- fine-tune (facenet_desktop/finetune_flow.py) ---------------------------------------------
    def start_finetune(self) -> None:
        self.finetune.start()

    def apply_finetune(self, proposal) -> None:  # noqa: ANN001 - child_work.FinetuneProposal
        self.finetune.apply(proposal)

    # -- settings --------------------------------------------------------------------------------
    def open_settings(self) -> None:
        prefs = load_preferences(self.library)
        dialog = SettingsDialog(prefs, self.folders(), self)
        if not dialog.exec():
            return
        new = dialog.preferences()
        before = self.folders()
        added = [f for f in dialog.folder_list() if f not in before]
        removed = [f for f in before if f not in dialog.folder_list()]
        library = self.library

        def work() -> tuple[str, None]:  # on the edits thread: a regroup may hold the write lock for seconds
            save_preferences(library, new)
            for folder in added:
                add_folder(library, folder)
            return "Settings saved" + (f"; added {', '.join(map(printable_path, added))}" if added else "") + ".", None

        self._submit_edit(work, lambda: self._settings_saved(prefs, new, added, removed))

    def _settings_saved(self, prefs, new, added: list[str], removed: list[str]) -> None:  # noqa: ANN001 - Preferences
        """What the settings' change asks for once it is saved: folders removed (after asking),
        a regroup at the new strictness, or a scan of what changed."""
        if removed and self.scan_job is not None:
            # The scan would put the folder's photos back (without their names), and then Undo
            # could not restore them: the folder stays until the scan is done.
            self.report_error("A scan is running: remove the folder once it is done (or cancel it first).")
            removed = []
        for folder in removed:
            self.remove_folder(folder)
        if new.strictness != prefs.strictness and self.scan_job is None:
            work = ChildProcess(ChildCall(child_work.regroup, (str(self.library.path),), background=True),
                                "grouping").run
            self.start_job("grouping", work, lambda s: None)
        elif added or new.excluded_folders != prefs.excluded_folders or new.min_face_px != prefs.min_face_px:
            self.rescan()

    def remove_folder(self, folder: str) -> None:
        """After asking: the folder's photos leave the library; people and names stay; Undo."""
        photos = photos_in_folder(self.library, folder)
        answer = QMessageBox.question(
            self, WINDOW_TITLE,
            f"Remove {printable_path(folder)} from the library?\n\nIts {counted(photos, 'photo')} and their faces "
            "leave the library; the files stay on disk, and the people and their names stay. You can undo this.")
        if answer == QMessageBox.StandardButton.Yes:
            self.edit(remove_folder, folder, then=lambda: self.show_section("People"))

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
        self._closing = True  # jobs ending now must not start reads
        self._recognition_timer.stop()
        self.edits.close()  # the edits asked for are made; their views are not shown any more
        self.jobs.stop_all()
        self.engine_host.close()
        self._reader.close()
        self.photo_viewer.close()
        self.thumbnails.wait()
        super().closeEvent(event)


def photos_in(tiles: list) -> list[int]:
    """The photos of face tiles, in order, each once."""
    return list(dict.fromkeys(tile.photo_id for tile in tiles))


class _JobListener(QObject):
    def __init__(self, window: MainWindow, job: Job, on_success) -> None:  # noqa: ANN001
        super().__init__(window)
        self.window, self.job, self.on_success = window, job, on_success

    @Slot(object)
    def progress(self, progress: Progress) -> None:
        if not self.job.cancelled:  # a report queued before Cancel must not bring it back
            self.window._show_progress(progress)

    @Slot(object)
    def succeeded(self, result) -> None:  # noqa: ANN001
        if not self.job.cancelled:
            self.on_success(result)

    @Slot(str)
    def failed(self, text: str) -> None:
        self.window.report_error(f"The {self.job.name} stopped with an error; your library is safe.", text)

    @Slot()
    def done(self) -> None:
        self.window._job_done(self.job)
        self.deleteLater()


RECOGNITION_DELAY_MS = 300  # edits in quick succession (a run of Y answers) share one pass
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


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds)} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def close_on_termination(window: MainWindow) -> None:
    """SIGTERM or SIGHUP (a logout, `kill`) close the window as its close button does: jobs
    stop, children end, the library is closed.  Python runs signal handlers only between Qt
    events, so a timer keeps events coming."""
    def close(_signum: int, _frame: object) -> None:
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, close)
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(250)


def create_app(argv: Sequence[str]) -> QApplication:
    app = QApplication.instance() or QApplication(list(argv))
    app.setApplicationName("facenet-desktop")
    app.setApplicationDisplayName(WINDOW_TITLE)
    app.setWindowIcon(QIcon(str(icon_path())))
    return app  # type: ignore[return-value]


def open_library_saying_so(path: Path) -> Library:
    """Open the library; one made by an older version is converted first (about 1.5 s per
    100,000 faces), and a notice says so meanwhile instead of a start that seems to hang."""
    if not needs_converting(path):
        return Library(path)
    notice = QLabel("Updating your library for this version of FaceNet Desktop…\nYour names and labels are kept.")
    notice.setObjectName("library-update-notice")
    notice.setWindowTitle(WINDOW_TITLE)
    notice.setMargin(24)
    notice.show()
    QApplication.processEvents()
    try:
        return Library(path)
    finally:
        notice.close()


def main(argv: Sequence[str] | None = None) -> int:
    start_logging()
    session = session_environment()
    problem = display_problem(session)
    if problem:  # Qt would abort the process with a misleading message
        logging.getLogger(__name__).error("%s", problem)
        print(problem, file=sys.stderr)
        tell_without_qt(problem, session)
        return 1
    app = create_app(sys.argv if argv is None else argv)
    try:
        library = open_library_saying_so(default_db_path())
    except LibraryError as exc:
        QMessageBox.critical(None, WINDOW_TITLE, str(exc))
        return 1
    try:
        library.check_integrity()
        remove_orphan_candidates(library)
    except LibraryError as exc:  # damaged: the window would fail at every step
        QMessageBox.critical(None, WINDOW_TITLE, str(exc))
        return 1
    except OSError:  # a read-only models folder: the orphans wait
        logging.getLogger(__name__).info("unfinished model files not removed", exc_info=True)
    window = MainWindow(library)
    install_crash_dialog(lambda: window)
    close_on_termination(window)
    window.remember_geometry(data_dir() / "window.ini")
    window.show()
    return app.exec()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
