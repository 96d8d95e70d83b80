"""The library commands of `facenet`: scan, cluster, recognize, people, edits, export."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.errors import Cancelled
from engine.cli.common import (
    EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, ProgressBar, add_json_option, cancel_on_ctrl_c, described, library_options, open_library, pipeline_factory, run_edit,
)
from engine.cli.questions import add_question_commands
from engine.wording import counted, printable_text



def cmd_scan(args: argparse.Namespace) -> int:
    from engine.library.jobs.tasks import scan_and_group

    missing = [f for f in args.folders if not Path(f).is_dir()]
    if missing:
        print(f"error: not a folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_ERROR
    from engine.library.storage.preferences import load_preferences

    bar = ProgressBar(args.quiet)
    with open_library(args, writes=True, create=True) as library:
        prefs = load_preferences(library)  # the window's settings: one library, the same scan
        if args.min_face is None:
            args.min_face = float(prefs.min_face_px)
        try:  # the window's steps (engine.library.jobs.tasks): scan, then group at the user's strictness
            summary, cancelled = scan_and_group(library, args.folders, pipeline_factory(args, library), bar,
                                                cancel_on_ctrl_c(), exclude=prefs.excluded_folders,
                                                group=not args.no_group), False
        except Cancelled as stop:
            summary, cancelled = stop.partial, True
        bar.close()
        people = library.scalar("SELECT count(*) FROM people")
    report = {
        "files": summary.files_seen, "unchanged": summary.unchanged, "analyzed": summary.analyzed,
        "faces_found": summary.faces_found, "failed": summary.failed, "moved": summary.moved,
        "duplicates": summary.duplicates, "forgotten": summary.forgotten, "xmp_labels": summary.xmp_labels,
        "recognised": summary.recognised,
        "suggested": summary.suggested,
        "missing": summary.missing, "returned": summary.returned,
        "folder_errors": summary.folder_errors,
        "problems": [{"path": path, "reason": reason} for path, reason in summary.problems],
        "cancelled": cancelled, "seconds": round(summary.seconds, 2), "people": people,
    }
    skipped = [(path, reason) for path, reason in summary.problems if reason.startswith("skipped")]
    unreadable = [(path, reason) for path, reason in summary.problems if not reason.startswith("skipped")]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{counted(summary.files_seen, 'photo')}: {summary.analyzed} analysed ({counted(summary.faces_found, 'face')}), "
            f"{summary.unchanged} unchanged, {summary.moved} moved, {summary.duplicates} copies, "
            f"{summary.missing} missing, {len(unreadable)} could not be read, {len(skipped)} skipped, "
            f"{counted(summary.xmp_labels, 'face')} named from XMP; "
            f"recognised {report['recognised']}, suggested {report['suggested']} ({summary.seconds:.1f} s)"
            + ("" if cancelled or args.no_group else f"; grouped into {counted(people, 'person', 'people')}")
        )
        for path, reason in summary.folder_errors:
            print(f"  warning: {printable_text(path)}: {printable_text(reason)}", file=sys.stderr)
        for path, reason in skipped:
            print(f"  {printable_text(path)}: {printable_text(reason)}", file=sys.stderr)
        for path, reason in unreadable:
            print(f"  could not read {printable_text(path)}: {printable_text(reason)}", file=sys.stderr)
        if summary.returned:
            print(f"  {summary.returned} missing photo(s) are back, with their faces and names", file=sys.stderr)
        if summary.missing:
            print(f"  {summary.missing} photo(s) are missing from disk; their faces and names are kept "
                  "(`facenet missing` lists them, `facenet missing --forget` removes them)", file=sys.stderr)
        if cancelled:
            print("scan stopped; run the same command again to continue", file=sys.stderr)
    return EXIT_INTERRUPTED if cancelled else EXIT_OK


def cmd_cluster(args: argparse.Namespace) -> int:
    from engine.library.jobs.tasks import regroup

    with open_library(args, writes=True) as library:  # at the strictness chosen in the window
        summary = regroup(library, min_faces=args.min_faces)
    print(
        f"{counted(summary.faces, 'face')}: {counted(summary.people, 'person', 'people')} with automatic faces "
        f"({summary.new_people} new), "
        f"{summary.unsorted} unsorted; recognised {summary.recognised}, suggested {summary.suggested} "
        f"({summary.seconds:.1f} s)"
    )
    if summary.questioned:
        one = summary.questioned == 1
        print(f"  {counted(summary.questioned, 'face')} named with {'its' if one else 'their'} group "
              f"{'looks' if one else 'look'} like someone else: see `facenet suggestions`")
    return EXIT_OK


def cmd_recognize(args: argparse.Namespace) -> int:
    from engine.library.identities.recognition_pass import recognize_faces

    with open_library(args, writes=True) as library:
        summary = recognize_faces(library, only_unassigned=not args.all)
    print(f"{counted(summary.considered, 'face')} considered: {summary.assigned} assigned, {summary.suggested} suggested")
    return EXIT_OK


def cmd_people(args: argparse.Namespace) -> int:
    from engine.library.reading.people import list_people

    with open_library(args) as library:
        people = list_people(library, include_hidden=args.all)
    if args.json:
        print(json.dumps([p.__dict__ for p in people], indent=2))
        return EXIT_OK
    print(f"{'id':>6}  {'name':<30} {'faces':>6} {'photos':>6} {'suggested':>9}")
    for p in people:
        name = printable_text(p.name) if p.name else "(unnamed)"
        print(f"{p.id:>6}  {name + (' [hidden]' if p.hidden else ''):<30} {p.faces:>6} {p.photos:>6} {p.suggested:>9}")
    return EXIT_OK


def cmd_name(args: argparse.Namespace) -> int:
    from engine.library.edits import editing

    return run_edit(args, described(lambda lib: editing.name_person(lib, args.person, args.name)))


def cmd_merge(args: argparse.Namespace) -> int:
    from engine.library.edits import editing

    return run_edit(args, described(lambda lib: editing.merge_people(lib, args.people, args.into)))


def cmd_move(args: argparse.Namespace) -> int:
    from engine.library.edits import editing

    # An unknown face changes nothing and creates nobody; a new name becomes a person in the
    # same edit (one undo).
    return run_edit(args, described(lambda lib: editing.move_faces(lib, args.faces, args.to, create=True)))


def cmd_reject(args: argparse.Namespace) -> int:
    from engine.library.edits import editing

    return run_edit(args, described(lambda lib: editing.reject_faces(lib, args.faces)))


def cmd_confirm(args: argparse.Namespace) -> int:
    from engine.library.edits import editing

    return run_edit(args, described(lambda lib: editing.confirm_face(lib, args.face)))


def cmd_hide(args: argparse.Namespace) -> int:
    from engine.library.edits import editing

    return run_edit(args, described(lambda lib: editing.hide_person(lib, args.person, not args.show)))


def cmd_undo(args: argparse.Namespace) -> int:
    from engine.library.edits import editing

    return run_edit(args, lambda lib: f"Undone: {done}" if (done := editing.undo(lib)) else "Nothing to undo")


def cmd_redo(args: argparse.Namespace) -> int:
    from engine.library.edits import editing

    return run_edit(args, lambda lib: f"Redone: {done}" if (done := editing.redo(lib)) else "Nothing to redo")


def cmd_photos(args: argparse.Namespace) -> int:
    from engine.library.reading.people import photos_with_people

    with open_library(args) as library:
        for path in photos_with_people(library, args.person):
            print(printable_text(path))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from engine.library.edits.export import export_csv, export_json, readable_face_records

    output = Path(args.output) if args.output else None
    if output is not None and output.is_dir():
        print(f"error: {printable_text(output)} is a folder; give a file name to export to", file=sys.stderr)
        return EXIT_ERROR
    if output is not None and not output.parent.is_dir():
        print(f"error: the folder {printable_text(output.parent)} does not exist; nothing was written", file=sys.stderr)
        return EXIT_ERROR
    with open_library(args) as library:
        salvage = readable_face_records(library)
        text = export_json(library, salvage) if args.format == "json" else export_csv(library, salvage)
    text = text if text.endswith("\n") else text + "\n"
    if salvage.lost != 0:
        lost = "some faces" if salvage.lost is None else f"up to {counted(salvage.lost, 'face')}"
        print(f"warning: the library is damaged: {lost} could not be read; "
              f"{counted(len(salvage.records), 'face')} exported", file=sys.stderr)
    if output is None:
        sys.stdout.write(text)
        return EXIT_OK
    from engine.paths import atomic_write_bytes

    try:  # a full disk leaves the previous export as it was, never half of a new one
        atomic_write_bytes(output, text.encode("utf-8"))
    except OSError as exc:
        print(f"error: cannot write {printable_text(output)}: {exc.strerror or exc}; "
              "any earlier export there is unchanged", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def cmd_export_xmp(args: argparse.Namespace) -> int:
    from engine.library.edits.export import export_xmp_sidecars

    with open_library(args, writes=True) as library:
        result = export_xmp_sidecars(library, include_automatic=args.include_automatic)
    print(f"wrote {len(result.written)} XMP sidecar file(s); no photo was modified")
    for sidecar, reason in result.left_alone:
        print(f"  not changed: {printable_text(sidecar)}: {printable_text(reason)}", file=sys.stderr)
    return EXIT_OK


def cmd_missing(args: argparse.Namespace) -> int:
    from engine.library.storage.missing import forget_missing, missing_photos
    from engine.user_files import printable_path

    with open_library(args, writes=args.forget) as library:
        photos = missing_photos(library, args.folder)
        if args.forget:
            forgotten = forget_missing(library, [p.id for p in photos])
            print(f"forgot {forgotten} missing photo(s) and their faces; names and people stay")
            return EXIT_OK
    if args.json:
        print(json.dumps([{"path": printable_path(p.path), "faces": p.faces, "named": p.named,
                           "missing_since": p.missing_since} for p in photos], indent=2))
        return EXIT_OK
    for p in photos:
        print(f"{printable_text(p.path)}  ({p.faces} face(s), {p.named} named; missing since {p.missing_since})")
    print(f"{len(photos)} missing photo(s)" + (" (`--forget` removes them from the library)" if photos else ""))
    return EXIT_OK


def cmd_eval_clusters(args: argparse.Namespace) -> int:
    from engine.library.jobs.cluster_eval import evaluate_clusters

    bar = ProgressBar(args.quiet)
    quality, details = evaluate_clusters(args.folder, pipeline_factory(args), min_faces=args.min_faces, progress=bar)
    bar.close()
    if args.json:
        print(json.dumps({**quality.__dict__, **details}, indent=2))
        return EXIT_OK
    print(f"{quality.faces} labelled faces of {quality.identities} people -> {quality.clusters} clusters, "
          f"{100 * quality.unsorted_share:.1f}% unsorted")
    print(f"  pairwise  precision {quality.pairwise_precision:.4f}  recall {quality.pairwise_recall:.4f}  F {quality.pairwise_f:.4f}")
    print(f"  BCubed    precision {quality.bcubed_precision:.4f}  recall {quality.bcubed_recall:.4f}  F {quality.bcubed_f:.4f}")
    print(f"  photos {details['photos']}, without a face {details['photos_without_face']}, unreadable {details['failed']}; "
          f"scan {details['seconds_scan']:.0f} s, clustering {details['seconds_cluster']:.1f} s")
    return EXIT_OK


def add_library_commands(commands, detection_options, evaluate_targets) -> None:  # noqa: ANN001
    db = library_options()

    def add(name: str, handler, help_text: str) -> argparse.ArgumentParser:  # noqa: ANN001
        sub = commands.add_parser(name, help=help_text, parents=[db])
        sub.set_defaults(handler=handler)
        return sub

    scan = add("scan", cmd_scan, "index new and changed photos in folders (resumable; Ctrl-C stops cleanly)")
    scan.add_argument("folders", nargs="+", metavar="FOLDER")
    add_json_option(scan)
    scan.add_argument("--quiet", action="store_true", help="no progress bar")
    scan.add_argument("--no-group", action="store_true", help="only scan; 'facenet cluster' groups the faces later")
    detection_options(scan)
    scan.set_defaults(min_face=None)  # the library's setting (Settings in the window) unless given
    cluster = add("cluster", cmd_cluster, "group the faces nobody labelled into people")
    cluster.add_argument("--min-faces", type=int, default=3, help="smaller groups stay unsorted (default 3)")
    recognize = add("recognize", cmd_recognize, "assign unassigned faces to named people (k-NN)")
    recognize.add_argument("--all", action="store_true", help="also reconsider automatic assignments")
    people = add("people", cmd_people, "list people: id, name, faces, photos")
    people.add_argument("--all", action="store_true", help="include hidden people")
    add_json_option(people)
    name = add("name", cmd_name, "name a person (an existing name merges the two)")
    name.add_argument("person", metavar="PERSON", help="id or name")
    name.add_argument("name", metavar="NAME")
    merge = add("merge", cmd_merge, "merge people into one")
    merge.add_argument("people", nargs="+", metavar="PERSON")
    merge.add_argument("--into", required=True, metavar="PERSON")
    move = add("move", cmd_move, "these faces are that person (creates a person for a new name); one edit")
    move.add_argument("faces", type=int, nargs="+", metavar="FACE")
    move.add_argument("--to", required=True, metavar="PERSON")
    reject = add("reject", cmd_reject, "these faces are not the people they are assigned to; one edit")
    reject.add_argument("faces", type=int, nargs="+", metavar="FACE")
    confirm = add("confirm", cmd_confirm, "confirm an automatic or suggested assignment")
    confirm.add_argument("face", type=int, metavar="FACE")
    hide = add("hide", cmd_hide, "hide a person from the people list")
    hide.add_argument("person", metavar="PERSON")
    hide.add_argument("--show", action="store_true", help="show a hidden person again")
    add_question_commands(add)
    add("undo", cmd_undo, "undo the last edit")
    add("redo", cmd_redo, "make the last undone edit again")
    photos = add("photos", cmd_photos, "photos showing all the given people")
    photos.add_argument("--person", action="append", required=True, metavar="NAME")
    export = add("export", cmd_export, "one record per face: photo, box, score, person, how assigned")
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("-o", "--output", metavar="FILE")
    xmp = add("export-xmp", cmd_export_xmp, "write XMP sidecars with named face regions (photos untouched)")
    xmp.add_argument("--include-automatic", action="store_true", help="also faces assigned automatically")
    missing = add("missing", cmd_missing, "photos gone from disk (kept with their faces and names)")
    missing.add_argument("--folder", default=None, help="only those under this folder")
    missing.add_argument("--forget", action="store_true", help="remove them and their faces from the library")
    add_json_option(missing)
    clusters = evaluate_targets.add_parser("clusters", help="scan + cluster a person/images folder and score it")
    clusters.add_argument("folder", metavar="FOLDER")
    clusters.add_argument("--min-faces", type=int, default=3)
    add_json_option(clusters)
    clusters.add_argument("--quiet", action="store_true")
    detection_options(clusters)
    clusters.set_defaults(handler=cmd_eval_clusters)
