"""Search in the window: the names typed become chosen people, and their photos are shown.

A name that means several people or nobody is said on the page in words, never in a dialog."""

from __future__ import annotations

from engine.library.reading.browse import parse_people_query, search_photos
from engine.library.reading.people import find_people
from engine.library.storage.store import Library
from engine.wording import counted, names_in_words
from facenet_desktop.models import PhotosModel
from facenet_desktop.search_page import SearchPage


class SearchControl:
    def __init__(self, library: Library, page: SearchPage, photos: PhotosModel) -> None:
        self.library, self.page, self.photos = library, page, photos

    def search(self, text: str) -> None:
        """Each name typed ("Anna and Ben" works too) becomes a chosen person when it means
        exactly one; otherwise the page says why."""
        page = self.page
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
        page = self.page
        found = search_photos(self.library, person_ids) if person_ids else []
        self.photos.set_items(found)
        said = f"{counted(len(found), 'photo')} with {' and '.join(page.chip_names())}" if person_ids else ""
        problem = "; ".join(problems or [])
        page.problem_shown = bool(problem)
        page.result.setText(". ".join(part for part in (said, problem[:1].upper() + problem[1:]) if part) + "."
                            if said or problem else "")
