"""The user's edits from the window: each verb (name, merge, move, reject, answer, undo...)
made on the edits thread, one at a time, in the order asked, and said in words with its Undo;
then recognition runs again in the engine host.  A part of MainWindow (a mixin): the verbs
are what its pages' signals and the tests call."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from engine.library.edits import editing
from engine.library.questions.group_suggestions import GroupSuggestion, answer_group_suggestion
from engine.library.reading.people import other_person_named, person_names
from facenet_desktop import child_work
from facenet_desktop.dialogs import PersonPicker
from facenet_desktop.resources import WINDOW_TITLE
from facenet_desktop.workers import EditOutcome


class UserEdits:
    """Needs the window's library, edits (EditRunner), views, status_line, report_error,
    recognition_timer, engine_host, photo_viewer and pages."""

    def edit(self, function, *args: object, then=None) -> None:  # noqa: ANN001
        """Make one edit on the edits thread and say what it did, with Undo; a refused edit
        becomes a message, never a crash.  `then` runs here once the edit is shown."""
        library = self.library

        def work() -> tuple[str, str | None]:
            function(library, *args)
            return f"{editing.last_edit(library)}.", "undo"

        self.submit_edit(work, then)

    def submit_edit(self, work, then=None) -> None:  # noqa: ANN001
        """Any write on the edits thread: `work` returns the sentence to say and its button."""
        self.views.outdate()  # a background read begun before the edit must not show
        self.edits.submit(work, self.shown_person(), then)

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
            self.recognition_timer.start()
        if outcome.views is not None and not self.closing:
            self.views.outdate()
            self.views.apply(outcome.views)
        if outcome.then is not None and not self.closing:
            outcome.then()
        self.views.after_edit_shown(self.edits.pending)

    def _recognise_now(self) -> None:
        if self.closing:
            return
        if self._recognition_job is not None:
            self._recognise_again = True  # the running pass may have read the library before the edit
            return
        work = self.engine_host.job(child_work.recognise, str(self.library.path), what="recognition")
        self._recognition_job = self.start_job("recognition", work, self._recognised)

    def _recognised(self, placed: int) -> None:
        self.recognitions += 1  # the views refresh when the job is done (_job_ended)

    # -- the verbs ---------------------------------------------------------------------------
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

    def answer_suggestion(self, face_id: int, yes: bool) -> None:
        """The answered face leaves the page at once, so the next Y or N is about the next
        face even while this answer is still being written."""
        self.suggestions_model.set_items([f for f in self.suggestions_model.items if f.id != face_id])
        self.update_suggestions_title()
        self.edit(editing.confirm_face if yes else editing.reject_face, face_id)

    def answer_group_suggestion(self, suggestion: GroupSuggestion, yes: bool) -> None:
        page = self.suggestions_page
        page.set_groups([g for g in page.groups if g.key != suggestion.key], page.group_tiles)
        self.update_suggestions_title()
        self.edit(answer_group_suggestion, suggestion, yes)

    def answer_review_page(self, page, yes: list[int], no: list[int]) -> None:  # noqa: ANN001 - a ReviewPage
        """The page leaves at once (the next page is shown while this answer is written)."""
        panel = self.review_panel
        panel.set_pages([p for p in panel.pages if p.key != page.key], panel.tiles)
        self.suggestions_page._update_question()
        self.update_suggestions_title()
        if page.kind == "who":  # each face about its own person
            self.edit(editing.answer_people_page, page.proposed, yes, then=self.refresh_in_background)
        else:
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

        self.submit_edit(work, self.photo_viewer.reopen)
