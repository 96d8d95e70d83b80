"""`facenet suggestions` and `facenet answer`: the questions the app asks, from group
questions to pages of faces, and the answers that settle them."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable

from engine.cli.common import EXIT_OK, add_json_option, described, open_library, run_edit
from engine.wording import counted, printable_text


def cmd_suggestions(args: argparse.Namespace) -> int:
    from engine.library.reading.browse import faces_by_id, suggestions
    from engine.library.questions.finetune_offer import finetune_offer
    from engine.library.questions.group_suggestions import group_suggestions
    from engine.library.questions.review_pages import review_pages
    from engine.user_files import printable_path

    with open_library(args) as library:
        groups = group_suggestions(library)
        found = suggestions(library)
        pages = review_pages(library)
        photo_of = faces_by_id(library, [f.face_id for page in pages for f in page.faces])
        offer = finetune_offer(library)
    if args.json:
        print(json.dumps({
            "groups": [{"id": g.key, "question": g.question(), "group_faces": g.group_faces, "person": g.other_name,
                        "other_faces": g.other_faces, "faces_settled": g.settles, "linkage": round(g.linkage, 4)}
                       for g in groups],
            "faces": [{"face": f.id, "person": f.person_name, "person_id": f.person_id, "distance": f.distance,
                       "photo": printable_path(f.path)} for f in found],
            "pages": [{"id": page.key, "question": page.question(), "person": page.person_name,
                       "person_id": page.person_id, "examples": list(page.examples),
                       "faces": [{"face": f.face_id, "ticked": f.ticked,
                                  "distance": round(f.distance, 4) if math.isfinite(f.distance) else None,
                                  "person": page.name_of(page.proposed[f.face_id]),
                                  "person_id": page.proposed[f.face_id],
                                  "photo": printable_path(photo_of[f.face_id].path)} for f in page.faces]}
                      for page in pages],
            "learn_from_corrections": None if offer is None else {
                "corrected_faces": offer.new_corrections, "still_wrong": offer.still_wrong, "say": offer.sentence(),
                "command": "facenet finetune"},
        }, indent=2))
        return EXIT_OK
    if offer is not None:
        print(f"Learn from your corrections: {offer.sentence()} Run: facenet finetune")
    if not found and not groups and not pages:
        print("Nothing to review: every face is named or too far from everyone named.")
        return EXIT_OK
    if groups:
        print(f"{len(groups)} {'group' if len(groups) == 1 else 'groups'} to review "
              "(answer with: facenet answer ID yes|no)")
        for g in groups:
            if g.other_name:
                question = g.question(f"this group of {counted(g.group_faces, 'face')}")
            else:
                question = f"{g.question()} ({counted(g.group_faces, 'face')} and {counted(g.other_faces, 'face')})"
            print(f"{g.key:>10}  {printable_text(question)}")
    if found:
        print(f"{len(found)} {'face' if len(found) == 1 else 'faces'} to review (answer with: facenet answer FACE yes|no)")
        for f in found:
            print(f"{f.id:>10}  is this {printable_text(f.person_name)}?  {printable_text(f.path)}")
    if pages:
        print(f"{counted(len(pages), 'page')} of faces to review (* ticked: the app thinks so; answer with: "
              "facenet answer PAGE yes, or --yes FACE... --no FACE...)")
        for page in pages:
            if page.kind == "who":  # each face with the person proposed for it
                faces = " ".join(f"{f.face_id}{'*' if f.ticked else ''}={printable_text(page.name_of(person))}"
                                 for f, person in zip(page.faces, page.proposed.values(), strict=True))
            else:
                faces = " ".join(f"{f.face_id}{'*' if f.ticked else ''}" for f in page.faces)
            print(f"{page.key:>10}  {printable_text(page.question())} {counted(len(page.faces), 'face')}: {faces}")
    return EXIT_OK


def cmd_answer(args: argparse.Namespace) -> int:
    from engine.library.edits import editing
    from engine.library.questions.group_suggestions import answer_group_suggestion, find_group_suggestion
    from engine.library.storage.store import LibraryError

    named = _names_given(args.name)
    if args.id.startswith(("more:", "really:", "who:")):
        return run_edit(args, described(lambda lib: _answer_page(lib, args, named)))
    if args.answer is None:
        raise LibraryError("say yes or no (a page takes --yes and --no instead)")
    yes = args.answer == "yes"
    if args.id.startswith("g"):
        def answer_group(library) -> None:  # noqa: ANN001
            suggestion = find_group_suggestion(library, args.id)
            if suggestion is None:
                raise LibraryError(f"no group question {args.id} waits for an answer (see `facenet suggestions`)")
            answer_group_suggestion(library, suggestion, yes)
            if not yes and args.name:  # "It's someone else": the group has a name after all
                editing.name_person(library, suggestion.group, args.name[0].rpartition("=")[2])

        return run_edit(args, described(answer_group))
    if not args.id.isdigit():
        raise LibraryError(f"{args.id!r} is neither a face number, a group question like g12:7 nor a page like more:12 or who:12,15")
    face = int(args.id)
    if yes:
        return run_edit(args, described(lambda lib: editing.confirm_face(lib, face)))
    if args.name:  # "It's someone else": not them but this person, in one edit
        def someone_else(library) -> None:  # noqa: ANN001
            person = library.scalar("SELECT person_id FROM faces WHERE id = ?", [face])
            if person is None:
                raise LibraryError(f"face {face} is nobody's yet; use `facenet move {face} --to NAME`")
            editing.answer_page(library, person, [], [face], {face: args.name[0].rpartition("=")[2]})

        return run_edit(args, described(someone_else))
    return run_edit(args, described(lambda lib: editing.reject_face(lib, face)))


def _names_given(items: list[str] | None) -> dict[int, str]:
    """--name FACE=NAME ... -> {face: name} (a bare NAME is for a face or group question)."""
    named = {}
    for item in items or []:
        face, _, name = item.partition("=")
        if name and face.strip().isdigit():
            named[int(face)] = name
    return named


def _answer_page(library, args: argparse.Namespace, named: dict[int, str]) -> None:  # noqa: ANN001
    """A page as the app ticked it (`yes`), or with the faces the user says are (--yes) and
    are not (--no) the person; faces not mentioned keep the app's tick."""
    from engine.library.edits import editing
    from engine.library.questions.review_pages import find_page
    from engine.library.storage.store import LibraryError

    page = find_page(library, args.id)
    if page is None:
        raise LibraryError(f"no page {args.id} waits for an answer (see `facenet suggestions`)")
    shown = {f.face_id for f in page.faces}
    stray = (set(args.yes or []) | set(args.no or []) | set(named)) - shown
    if stray:
        raise LibraryError(f"face {min(stray)} is not on the page {args.id}")
    if args.answer == "no":
        yes: set[int] = set(args.yes or [])
    else:
        yes = (set(page.ticked) | set(args.yes or [])) - set(args.no or []) - set(named)
    if page.kind == "who":  # each face about the person proposed for it
        editing.answer_people_page(library, page.proposed, sorted(yes), named)
    else:
        editing.answer_page(library, page.person_id, sorted(yes), sorted(shown - yes), named)


def add_question_commands(add: Callable[[str, Callable, str], argparse.ArgumentParser]) -> None:
    suggestions_parser = add("suggestions", cmd_suggestions, "faces that may be named people, for you to answer")
    add_json_option(suggestions_parser)
    answer = add("answer", cmd_answer, "answer a suggestion: yes (it is that person) or no (it is not)")
    answer.add_argument("id", metavar="ID", help="a face number, a group question such as g12:7, or a page "
                                                 "such as more:12, really:12 or who:12,15")
    answer.add_argument("answer", choices=["yes", "no"], nargs="?",
                        help="for a page: yes takes the app's ticks, no says none of its faces is the person "
                             "(on who: pages, the person proposed for each)")
    answer.add_argument("--yes", type=int, nargs="+", metavar="FACE", help="faces of the page that are the person")
    answer.add_argument("--no", type=int, nargs="+", metavar="FACE", help="faces of the page that are not")
    answer.add_argument("--name", action="append", metavar="[FACE=]NAME",
                        help="it's someone else: this name (for a page, FACE=NAME)")
