"""The photo view's controller: a photo opened among the photos it was opened from, shown at
once and drawn when decoded off the GUI thread, the arrow keys through its sequence, what a
click on a box offers, and a face drawn by hand found in the engine host.  The window wires
it; its edits go through the window's edits thread like every other."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QMenu, QWidget

from engine.library.edits import editing
from engine.library.storage.assignments import Assignment
from engine.library.reading.browse import group_size, photo_faces, photo_file
from engine.library.reading.timeline import photo_taken
from engine.user_files import printable_path
from engine.wording import counted
from facenet_desktop import child_work
from facenet_desktop.background import Delivery
from facenet_desktop.photo_loading import decode_for_display

if TYPE_CHECKING:
    from facenet_desktop.app import MainWindow


class PhotoViewer:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.page = window.photo_page
        self.decoder = Delivery("photo", window)
        self.pending: int | None = None  # the photo whose decoding is under way
        self.sequence: list[int] = []
        self.previous_page: QWidget | None = None  # where Back goes

    def open(self, photo_id: int, sequence: list[int] | None = None) -> None:
        """Show the photo page now and the photo when decoded: decoding a camera photo on
        this thread took 105-134 ms for 1 MB of JPEG (measured), longer for WebP or HEIC.
        `sequence`: the photos it was opened among (a person's, a search's): the arrow keys
        go through them."""
        window = self.window
        found = photo_file(window.library, photo_id)
        if found is None:
            return
        if sequence is not None:
            self.sequence = list(sequence)
        elif photo_id not in self.sequence:
            self.sequence = [photo_id]
        self.page.set_position(self.sequence.index(photo_id) if photo_id in self.sequence else None, len(self.sequence))
        path, width = found[0], found[1] or 1
        if window.stack.currentWidget() is not self.page:
            self.previous_page = window.stack.currentWidget()
        self.page.photo_id = photo_id
        self.page.title.setText(printable_path(path))
        self.page.set_file(path, photo_taken(window.library, photo_id))
        window.stack.setCurrentWidget(self.page)
        self.page.view.setFocus(Qt.FocusReason.OtherFocusReason)  # arrows and Esc work at once
        self.pending = photo_id
        self.decoder.submit(lambda: decode_for_display(path),
                            lambda decoded, _error: self._show_decoded(photo_id, width, decoded))

    def _show_decoded(self, photo_id: int, width: int, decoded: tuple[QImage | None, str] | None) -> None:
        if self.pending == photo_id:
            self.pending = None
        if self.page.photo_id != photo_id:
            return  # another photo was asked for meanwhile
        image, error = decoded if decoded is not None else (None, "it could not be decoded")
        if image is None:
            self.window.report_error(f"Cannot show {self.page.title.text()}: {error}")
            return
        self.page.view.show_photo(QPixmap.fromImage(image), image.width() / width,
                                  photo_faces(self.window.library, photo_id))
        self.window.photo_shown.emit(photo_id)

    def reopen(self) -> None:
        """Edits, undo and redo may change the faces of the photo on screen."""
        if self.window.stack.currentWidget() is self.page and self.page.photo_id is not None:
            self.open(self.page.photo_id)

    def step(self, delta: int) -> None:
        current = self.page.photo_id
        if current not in self.sequence:
            return
        position = self.sequence.index(current) + delta
        if 0 <= position < len(self.sequence):
            self.open(self.sequence[position])

    def go_back(self) -> None:
        window = self.window
        page = self.previous_page or window.people_page
        window.stack.setCurrentWidget(page)
        if hasattr(page, "view"):
            page.view.setFocus(Qt.FocusReason.OtherFocusReason)  # the keys go on working there
        window.refresh()

    def face_menu(self, face_id: int) -> None:
        actions = self.face_actions(face_id)
        if not actions:
            return
        menu = QMenu(self.window)
        slots = {menu.addAction(text): slot for text, slot in actions}
        chosen = menu.exec(self.window.cursor().pos())
        if chosen is not None:
            slots[chosen]()

    def face_actions(self, face_id: int) -> list[tuple[str, Callable[[], None]]]:
        """What a click on a box in the photo view offers, first what settles the most."""
        window = self.window
        face = next((f for f in photo_faces(window.library, self.page.photo_id) if f.id == face_id), None)
        if face is None:
            return []
        actions: list[tuple[str, Callable[[], None]]] = []
        if face.person_id is not None and face.person_name is None:
            # An unnamed group: naming it names every face in it, as in the people grid.
            size = group_size(window.library, face.person_id)
            if size > 1:
                actions.append((f"Name this group of {counted(size, 'face')}…", lambda: self._name_group(face.person_id)))
        actions.append(("Name / move only this face…" if actions else "Name / move to…", lambda: self._name_face(face_id)))
        if face.person_name and face.assignment != Assignment.MANUAL:
            actions.append((f"Yes, this is {face.person_name}",
                            lambda: window.edit(editing.confirm_face, face_id, then=self.reopen)))
        if face.person_id is not None:
            actions.append(("Not this person" if face.person_name else "Not in this group",
                            lambda: window.edit(editing.reject_face, face_id, then=self.reopen)))
        actions.append(("Not a face", lambda: window.not_a_face([face_id])))
        return actions

    def _name_face(self, face_id: int) -> None:
        name = self.window.pick_person("Who is this?")
        if name:
            self.window.move_faces_to([face_id], name, then=self.reopen)

    def _name_group(self, person_id: int) -> None:
        name = self.window.pick_person("Who are these faces?")
        if name:  # a name someone has already merges the group into them, as naming in the grid does
            self.window.edit(editing.name_person, person_id, name, then=self.reopen)

    def add_face(self, box: tuple) -> None:
        window = self.window
        photo_id = self.page.photo_id
        # In a child process: loading torch and the models in this one froze the window
        # for 0.7 s (measured).  The host child stays up, so only the first face waits for them.
        work = window.engine_host.job(child_work.add_face, str(window.library.path), photo_id,
                                      tuple(map(float, box)), what="adding the face you drew")

        def added(face_id: int) -> None:
            window.thumbnails.forget()
            window.status_line.say("Face added; click it to name it.", 5000)
            if self.page.photo_id == photo_id:
                self.open(photo_id)

        window.status_line.say("Finding the face you drew… (a few seconds the first time)", None)
        window.start_job("add face", work, added)

    def close(self) -> None:
        self.decoder.close()
