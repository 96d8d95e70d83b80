"""The user's photo folders in the window: adding and removing them, the scan they ask for
(one at a time; a change made while one runs is scanned right after it), what a scan's end
says (photos unreadable or gone from disk, each with its button), and the settings that ask
for a scan or a regroup.  Every write runs on the edits thread, like the user's edits; the
window wires it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QStandardPaths, QTimer
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QMessageBox

from engine.library.reading.browse import face_count
from engine.library.edits.folders import add_folder, library_folders, photos_in_folder, remove_folder
from engine.library.storage.missing import forget_missing, missing_photos
from engine.library.storage.preferences import Preferences, load_preferences, save_preferences
from engine.user_files import printable_path
from engine.wording import counted
from facenet_desktop import child_work
from facenet_desktop.dialogs import SettingsDialog, TextDialog
from facenet_desktop.engine_process import ChildCall, ChildProcess
from facenet_desktop.scan_process import ScanProcess, ScanRequest
from facenet_desktop.workers import Job

if TYPE_CHECKING:
    from engine.library.storage.records import ScanSummary
    from facenet_desktop.app import MainWindow


def default_pictures_folder() -> str:
    found = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return found or str(Path.home() / "Pictures")


class FoldersAndScans:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.scan_again = False  # a rescan asked for while a scan ran: it follows that scan
        self.unreadable_photos: list[tuple[str, str]] = []
        status = window.status_line
        self.unreadable_button = status.add_button("Which photos, and why", self.show_unreadable_photos)
        self.missing_button = status.add_button("Photos gone from disk: their names are kept", self.show_missing_photos)
        self.unreadable_dialog: TextDialog | None = None
        self.missing_dialog: TextDialog | None = None
        window.job_control.ended.connect(self.job_ended)

    def folders(self) -> list[str]:
        return library_folders(self.window.library)

    def add_folder(self, folder: str) -> None:
        window = self.window
        if not folder:
            folder = QFileDialog.getExistingDirectory(window, "Add a photo folder", default_pictures_folder())
            if not folder:
                return
        if not Path(folder).is_dir():
            window.report_error(f"{folder} is not a folder that can be read")
            return
        library = window.library

        def work() -> tuple[str, None]:  # on the edits thread: a scan may hold the write lock
            add_folder(library, folder)
            return f"Added {printable_path(folder)}; scanning it.", None

        def then() -> None:
            window.show_section("People")
            self.rescan()

        window.submit_edit(work, then)

    def rescan(self) -> None:
        window = self.window
        folders = self.folders()
        if not folders:  # nothing to scan yet: the page that adds a folder
            window.stack.setCurrentWidget(window.empty_page)
            window.status_line.say("No photo folder yet: add one to scan it.", 8000)
            return
        jobs = window.job_control
        if jobs.scan is not None:
            # Folders or settings changed meanwhile: the running scan took its folders at its
            # start, so another scan follows it (a folder added now was saved with 0 photos).
            self.scan_again = True
            window.status_line.say("A scan is running: the changes are scanned as soon as it is done.", 10000)
            return
        self.scan_again = False
        jobs.faces_before_scan = face_count(window.library)  # the status bar counts this scan's faces
        prefs = load_preferences(window.library)
        process = ScanProcess(ScanRequest(str(window.library.path), tuple(folders), float(prefs.min_face_px),
                                          tuple(prefs.excluded_folders)))
        jobs.scan = jobs.start("scan", process.run, self.scan_finished, process.set_paused)
        jobs.update_actions()
        window.views.timer.start()

    def job_ended(self, job: Job) -> None:
        if job.name != "scan" or self.window.job_control.scan is not None:
            return
        self.window.views.timer.stop()
        if self.scan_again and not job.cancelled and not self.window.closing:
            QTimer.singleShot(0, self.rescan)

    def scan_finished(self, summary: ScanSummary) -> None:
        window = self.window
        window.thumbnails.forget()  # new faces may have the ids of faces gone since
        # A pass now builds the engine host's memory of recognition, so the pass after the
        # user's first edit looks only where the edit changed something (10 s -> under 1 s
        # in a 100k-face library: benchmarks/recognition_after_edit.py).
        window.recognition_timer.start()
        unreadable = len(summary.problems)
        window.status_line.say(
            f"Scan done: {counted(summary.analyzed, 'photo')} analysed, {counted(summary.faces_found, 'face')} found, "
            f"{summary.unchanged:,} unchanged"
            + (f", {counted(summary.missing, 'photo')} missing from disk (names kept)" if summary.missing else "")
            + (f", {counted(summary.xmp_labels, 'face')} named from the photos' XMP metadata (another app's names)"
               if summary.xmp_labels else ""), 15000)
        for path, reason in summary.folder_errors:
            window.errors.append(f"{path}: {reason}")
        self.unreadable_photos = list(summary.problems)
        self.unreadable_button.setText(f"{counted(unreadable, 'photo')} could not be read")
        self.unreadable_button.setVisible(bool(unreadable))
        self.missing_button.setText(f"{counted(summary.missing, 'photo')} missing from disk")
        self.missing_button.setVisible(bool(summary.missing))

    def show_missing_photos(self) -> None:
        """Photos gone from disk keep their names until the user says to forget them."""
        window = self.window
        photos = missing_photos(window.library)
        named = sum(1 for p in photos if p.named)
        lines = "\n".join(f"{printable_path(p.path)}  ({counted(p.faces, 'face')}, "
                          f"{p.named} named; missing since {p.missing_since})" for p in photos)
        dialog = TextDialog(
            "Photos missing from disk",
            f"{counted(len(photos), 'photo')} could not be found, "
            f"{f'{named} of them with named faces' if named else 'none with named faces'}. If a drive is "
            "unplugged, plug it in and rescan: the photos come back with their names. Forget them only if they "
            "are gone for good (their faces leave the library; people and names stay).",
            lines, window, QDialogButtonBox.StandardButton.Discard | QDialogButtonBox.StandardButton.Close)
        forget = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Discard)
        forget.setText("Forget these photos")
        forget.setEnabled(bool(photos))
        forget.clicked.connect(dialog.accept)
        self.missing_dialog = dialog
        if dialog.exec():
            library, ids = window.library, [p.id for p in photos]

            def work() -> tuple[str, None]:  # on the edits thread, like every write
                forgotten = forget_missing(library, ids)
                return f"Forgot {counted(forgotten, 'photo')} missing from disk; people and names stay.", None

            self.missing_button.hide()
            window.submit_edit(work, window.refresh)

    def show_unreadable_photos(self) -> None:
        lines = "\n".join(f"{path}\n    {reason}" for path, reason in self.unreadable_photos)
        count = counted(len(self.unreadable_photos), 'photo')
        self.unreadable_dialog = TextDialog(
            "Photos that could not be read",
            f"{count} could not be read. They are left as they are and tried again at the next scan.", lines,
            self.window)
        self.unreadable_dialog.show()

    def open_settings(self) -> None:
        window = self.window
        prefs = load_preferences(window.library)
        dialog = SettingsDialog(prefs, self.folders(), window)
        if not dialog.exec():
            return
        new = dialog.preferences()
        before = self.folders()
        added = [f for f in dialog.folder_list() if f not in before]
        removed = [f for f in before if f not in dialog.folder_list()]
        library = window.library

        def work() -> tuple[str, None]:  # on the edits thread: a regroup may hold the write lock for seconds
            save_preferences(library, new)
            for folder in added:
                add_folder(library, folder)
            return "Settings saved" + (f"; added {', '.join(map(printable_path, added))}" if added else "") + ".", None

        window.submit_edit(work, lambda: self.settings_saved(prefs, new, added, removed))

    def settings_saved(self, prefs: Preferences, new: Preferences, added: list[str], removed: list[str]) -> None:
        """What the settings' change asks for once it is saved: folders removed (after asking),
        a regroup at the new strictness, or a scan of what changed."""
        window = self.window
        scanning = window.job_control.scan is not None
        if removed and scanning:
            # The scan would put the folder's photos back (without their names), and then Undo
            # could not restore them: the folder stays until the scan is done.
            window.report_error("A scan is running: remove the folder once it is done (or cancel it first).")
            removed = []
        for folder in removed:
            self.remove_folder(folder)
        if new.strictness != prefs.strictness and not scanning:
            work = ChildProcess(ChildCall(child_work.regroup, (str(window.library.path),), background=True),
                                "grouping").run
            window.job_control.start("grouping", work, lambda _summary: None)
        elif added or new.excluded_folders != prefs.excluded_folders or new.min_face_px != prefs.min_face_px:
            self.rescan()

    def remove_folder(self, folder: str) -> None:
        """After asking: the folder's photos leave the library; people and names stay; Undo."""
        window = self.window
        photos = photos_in_folder(window.library, folder)
        answer = QMessageBox.question(
            window, window.windowTitle(),
            f"Remove {printable_path(folder)} from the library?\n\nIts {counted(photos, 'photo')} and their faces "
            "leave the library; the files stay on disk, and the people and their names stay. You can undo this.")
        if answer == QMessageBox.StandardButton.Yes:
            window.edit(remove_folder, folder, then=lambda: window.show_section("People"))
