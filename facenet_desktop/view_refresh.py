"""What the window shows of the library, and when it is read again.

Reads run on the views thread and are applied on the GUI thread.  Every edit bumps a
generation: a read begun before an edit was asked for or shown is outdated and read again,
so an edit is never undone on screen by a read that raced it.  The window wires it."""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer

from engine.library.questions.finetune_offer import FinetuneOffers
from engine.library.questions.group_suggestions import GroupQuestions
from engine.library.questions.review_pages import ReviewPages
from engine.library.storage.store import LibraryUnavailable
from engine.wording import library_in_words
from facenet_desktop.background import Delivery
from facenet_desktop.views import read_views

if TYPE_CHECKING:
    from facenet_desktop.app import MainWindow

REFRESH_DURING_JOBS_MS = 2000


class ViewRefresh:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.group_questions = GroupQuestions()  # read on the views thread only
        self.review_pages = ReviewPages()  # likewise
        self.finetune_offers = FinetuneOffers()  # likewise
        self.include_hidden = False  # the grid's "Show hidden people", read by the worker threads' reads
        self.reader = Delivery("views", window)
        self.timer = QTimer(window)  # while a scan adds faces
        self.timer.setInterval(REFRESH_DURING_JOBS_MS)
        self.timer.timeout.connect(self.in_background)
        self.pending: Future | None = None
        self.generation = 0  # bumped by every edit asked for or shown: a read started before it is outdated
        self.pending_generation = 0
        self.read_again = False

    def read(self, person_id: int | None, groups: bool = True) -> dict:
        """Everything the views show (any thread); see views.read_views."""
        return read_views(self.window.library, self.group_questions if groups else None, self.include_hidden,
                          person_id, self.review_pages, self.finetune_offers)

    def outdate(self) -> None:
        """An edit was asked for or shown: reads begun before now must not be applied."""
        self.generation += 1

    def now(self) -> None:
        """Reload the views now (after the user's own edits: a few ms, and the user expects
        to see the edit at once)."""
        self.generation += 1
        self.apply(self.read(self.window.shown_person(), groups=False))

    def in_background(self) -> None:
        """Refresh while or after jobs run: read on a worker thread, apply here, so a big
        library never stalls the window (a GUI-thread refresh took 110 ms under a scan, and
        150 ms once at the end of a scan, waiting on the database the scan had just closed)."""
        if self.window.closing:
            return
        if self.pending is not None:
            self.read_again = True  # the read under way may predate what changed
            return
        self.read_again = False
        self.pending_generation = self.generation
        person = self.window.shown_person()
        self.pending = self.reader.submit(lambda: self.read(person), self.arrived)

    def is_pending(self) -> bool:
        """A background read has yet to reach the views."""
        return self.pending is not None or self.read_again

    def after_edit_shown(self, edits_left: int) -> None:
        """The last edit of a run is shown: a read held back by the edits goes now."""
        if self.read_again and self.pending is None and edits_left == 1:
            self.in_background()

    def arrived(self, views: dict | None, error: BaseException | None) -> None:
        window = self.window
        self.pending = None
        if isinstance(error, LibraryUnavailable):
            if not window.errors or window.errors[-1] != str(error):  # once, not at every 2-s refresh
                window.report_error(str(error))
        elif error is not None:  # a failed read shows up on the next one
            window.status_line.say(f"Could not read the library: {error}", 5000)
        if views is not None:
            if self.pending_generation == self.generation and not window.edits_pending():
                self.apply(views)
            else:
                self.read_again = True  # an edit was asked for or shown after this read began
        if self.read_again and not window.edits_pending():  # else read again once the edits are shown
            self.in_background()

    def apply(self, views: dict) -> None:
        window = self.window
        window.people_model.keep_order = window.scan_job is not None  # tiles stay put while a scan adds faces
        window.people_model.set_people(views["people"], views["unsorted"], views["cover"])
        window.suggestions_model.set_items(views["suggestions"])
        suggestions = window.suggestions_page
        if "pages" in views:
            window.review_panel.set_pages(*views["pages"])
            suggestions._update_question()
        if "finetune_offer" in views:
            offer = views["finetune_offer"]
            suggestions.set_offer(None if offer is None else offer.sentence())
        if "groups" in views:
            suggestions.set_groups(*views["groups"])
        else:  # until the next background read: the questions whose two sides are still there as they were
            people = {p.id: p.name for p in views["people"]}
            suggestions.set_groups([g for g in suggestions.groups if g.group in people and people[g.group] is None
                                    and g.other in people and people[g.other] == g.other_name],
                                   suggestions.group_tiles)
        window.update_suggestions_title()
        window.search_page.set_names(sorted((p.name for p in views["people"] if p.name and not p.hidden),
                                            key=str.casefold))
        window.undo_action.setEnabled(views["can_undo"])
        window.redo_action.setEnabled(views["can_redo"])
        window.job_control.faces_found = views["faces"]
        shown = [p for p in views["people"] if not p.hidden]
        window.library_summary.setText(library_in_words(views["photos"], views["faces"], len(shown),
                                                        sum(1 for p in shown if p.name)))
        if window.stack.currentWidget() is window.empty_page and views["photos"]:
            window.show_section("People")  # a folder came back (Undo of its removal): the welcome page goes
        if "person" in views and views["person"][0] == window.shown_person():
            person_id, person = views["person"]
            if person is None:  # merged away or removed: back to the grid
                window.show_section("People")
            else:
                window.person_page.show_person(person_id, *person)
