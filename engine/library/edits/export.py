"""Export: one record per face, and XMP sidecars with the named regions."""

from __future__ import annotations

import logging
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from engine.library.storage.assignments import THE_PERSONS, Assignment
from engine.library.storage.records import FaceRecord
from engine.errors import LibraryDamaged
from engine.library.storage.store import Library
from engine.library.edits.xmp import NamedRegion, SidecarNotChanged, write_sidecar
from engine.user_files import from_stored_path, printable_path

log = logging.getLogger(__name__)

CSV_FIELDS = ["face_id", "photo", "x1", "y1", "x2", "y2", "score", "person_id", "person_name", "assignment", "distance"]


_RECORDS_SQL = """
    SELECT f.id, ph.path, f.x1, f.y1, f.x2, f.y2, f.score, f.person_id, p.name, f.assignment, f.distance
    FROM faces f JOIN photos ph ON ph.id = f.photo_id LEFT JOIN people p ON p.id = f.person_id
    {where} ORDER BY ph.path, f.id
"""
SALVAGE_LAST_ID = 5_000_000  # where the faces' largest id cannot be read: this many ids are tried
SALVAGE_CHUNK = 256  # face ids read at a time from a damaged library; a chunk that fails, one by one


def _record(row: tuple) -> FaceRecord:
    return FaceRecord(
        face_id=row[0], photo=row[1], box=(row[2], row[3], row[4], row[5]), score=row[6],
        person_id=row[7], person_name=row[8], assignment=row[9], distance=row[10],
    )


def face_records(library: Library) -> Iterator[FaceRecord]:
    for row in library.db.execute(_RECORDS_SQL.format(where="")):
        yield _record(row)


@dataclass
class Salvage:
    """Every face record that could be read; `lost` counts those behind damaged pages."""

    records: list[FaceRecord]
    lost: int | None = 0


def readable_face_records(library: Library) -> Salvage:
    """All records in one pass; in a damaged library, chunk by chunk of face ids (a chunk
    that fails, one face at a time), keeping every record that reads: export is what a user
    can still save from a damaged file.  `lost` is None where even the ids cannot be told."""
    try:
        return Salvage(list(face_records(library)))
    except LibraryDamaged as exc:
        log.warning("exporting what can still be read: %s", exc.__cause__ or exc)
    records: list[FaceRecord] = []
    lost: int | None = 0
    try:
        last = int(library.scalar("SELECT max(id) FROM faces") or 0)
    except LibraryDamaged:
        last, lost = SALVAGE_LAST_ID, None
    sql = _RECORDS_SQL.format(where="WHERE f.id BETWEEN ? AND ?")
    for start in range(0, last + 1, SALVAGE_CHUNK):
        try:
            records += [_record(r) for r in library.db.execute(sql, [start, start + SALVAGE_CHUNK - 1]).fetchall()]
            continue
        except LibraryDamaged:
            pass
        failed = 0
        for face_id in range(start, start + SALVAGE_CHUNK):  # the chunk one face at a time
            try:
                records += [_record(r) for r in library.db.execute(sql, [face_id, face_id]).fetchall()]
            except LibraryDamaged:
                failed += 1
        if lost is not None:
            lost += failed
        elif failed == SALVAGE_CHUNK:
            break  # the faces' index itself is gone beyond this point: nothing more can be found
    records.sort(key=lambda r: (r.photo, r.face_id))
    return Salvage(records, lost)


def export_json(library: Library, salvage: Salvage | None = None) -> str:
    records = []
    for record in (salvage or readable_face_records(library)).records:
        item = asdict(record)
        item["box"] = [round(v, 2) for v in record.box]
        records.append(item)
    return json.dumps(records, indent=2, ensure_ascii=False)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula


def csv_cell(value: object) -> object:
    """A text cell a spreadsheet shows as text: one that starts like a formula
    ("=HYPERLINK(...)" as a name) gets a leading apostrophe (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_csv(library: Library, salvage: Salvage | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for r in (salvage or readable_face_records(library)).records:
        writer.writerow([r.face_id, csv_cell(r.photo), *(f"{v:.2f}" for v in r.box), f"{r.score:.4f}", r.person_id,
                         csv_cell(r.person_name), r.assignment, "" if r.distance is None else f"{r.distance:.4f}"])
    return out.getvalue()


@dataclass
class XmpExport:
    written: list[str] = field(default_factory=list)
    left_alone: list[tuple[str, str]] = field(default_factory=list)  # (sidecar, why it was not changed)


def export_xmp_sidecars(library: Library, include_automatic: bool = False) -> XmpExport:
    """Write photo.ext.xmp next to each photo that shows a named person (confirmed faces
    only unless `include_automatic`).  A sidecar that cannot be merged into safely, or a
    folder we cannot write, is reported and left as it is."""
    allowed = THE_PERSONS if include_automatic else (Assignment.MANUAL,)
    marks = ",".join("?" * len(allowed))
    rows = library.query(
        f"""
        SELECT ph.path, ph.width, ph.height, p.name, f.x1, f.y1, f.x2, f.y2
        FROM faces f JOIN photos ph ON ph.id = f.photo_id JOIN people p ON p.id = f.person_id
        WHERE p.name IS NOT NULL AND f.assignment IN ({marks}) AND ph.width > 0 AND ph.height > 0
          AND ph.missing_since IS NULL
        ORDER BY ph.path, f.x1
        """,
        list(allowed),
    )
    by_photo: dict[str, list[dict]] = {}
    for row in rows:
        by_photo.setdefault(from_stored_path(row["path"]), []).append(row)
    result = XmpExport()
    for path, faces in by_photo.items():
        width, height = faces[0]["width"], faces[0]["height"]
        regions = [
            NamedRegion(f["name"], (f["x1"] / width, f["y1"] / height, f["x2"] / width, f["y2"] / height)) for f in faces
        ]
        try:
            result.written.append(str(write_sidecar(path, width, height, regions)))
        except SidecarNotChanged as exc:
            log.info("left %s alone: %s", printable_path(exc.sidecar), exc.reason)
            result.left_alone.append((printable_path(exc.sidecar), exc.reason))
        except OSError as exc:  # read-only folder: the rest still gets written
            log.warning("cannot write the sidecar of %s: %s", printable_path(path), exc)
            result.left_alone.append((printable_path(path + ".xmp"), f"cannot write: {exc.strerror or exc}"))
    return result
