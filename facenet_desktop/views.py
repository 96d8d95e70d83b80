"""What the window's views show, read from the library in one go on any thread (the views
thread, the edits thread), then applied on the GUI thread."""

from __future__ import annotations

from engine.library.edits import editing
from engine.library.reading.browse import (
    UNSORTED,
    face_count,
    faces_by_id,
    first_unsorted_face,
    people_tiles,
    photo_count,
    person_faces,
    suggestions,
    unsorted_count,
)
from engine.library.questions.finetune_offer import FinetuneOffers
from engine.library.questions.group_suggestions import GroupQuestions
from engine.library.reading.people import person_name_and_hidden
from engine.library.questions.review_pages import ReviewPages
from engine.library.storage.store import Library

REVIEW_PAGES_READ = 20  # pages read at a time: answering one reads again


def read_views(library: Library, group_questions: GroupQuestions | None, include_hidden: bool,
               person_id: int | None, review_questions: ReviewPages | None = None,
               finetune_offers: FinetuneOffers | None = None) -> dict:
    """The people grid, unsorted tile, suggestions, undo/redo state and the shown person.
    Without `group_questions` the group questions are not recomputed (they compare every
    group with every person: the background reads do it, never the refresh after an edit)."""
    views = {
        "people": people_tiles(library, include_hidden=include_hidden),
        "unsorted": unsorted_count(library),
        "cover": first_unsorted_face(library),
        "suggestions": suggestions(library),
        "can_undo": editing.last_edit(library) is not None,
        "can_redo": editing.last_undone(library) is not None,
        "faces": face_count(library),
        "photos": photo_count(library),
    }
    if group_questions is not None:
        asked = group_questions.get(library)
        shown = [face for g in asked for face in (*g.group_sample, *g.other_sample)]
        views["groups"] = (asked, faces_by_id(library, shown))
        # Pages compare every unnamed face with every named one: background reads only, like the groups.
        pages = (review_questions or ReviewPages()).get(library)[:REVIEW_PAGES_READ]
        on_pages = [face for page in pages for face in (*page.examples, *(f.face_id for f in page.faces))]
        views["pages"] = (pages, faces_by_id(library, on_pages))
        views["finetune_offer"] = (finetune_offers or FinetuneOffers()).get(library)
    if person_id is not None:
        views["person"] = (person_id, person_view(library, person_id))
    return views


def person_view(library: Library, person_id: int) -> tuple[str | None, list, bool] | None:
    """(name, faces, hidden) of a person, or of the unsorted faces; None when the person is gone."""
    if person_id == UNSORTED:
        return None, person_faces(library, person_id), False
    header = person_name_and_hidden(library, person_id)
    return None if header is None else (header[0], person_faces(library, person_id), header[1])
