"""Incremental, resumable scanning of library folders into the database.

Unchanged files (same size and mtime) cost one stat.  A changed or new file is hashed: a
known hash under a new path is a move (faces and names follow it, nothing is re-detected); a
byte-identical copy gets the faces copied.  New work is first written down as 'pending'
rows, then analysed and committed in batches, so a crash or Ctrl-C loses at most one batch
and the next scan continues with what is still pending.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from engine.errors import ImageLoadError, LibraryUnavailable
from engine.jobs import CancelToken, Progress, ProgressCallback, no_progress
from engine.library.storage.faces import copy_faces, insert_faces, transfer_manual_labels
from engine.library.identities.recognition_pass import recognize_faces
from engine.library.identities.labelled_faces import photo_faces_embedder
from engine.library.storage.model_registry import ACTIVE_KEY, MISSING_VECTORS_SQL, active_name, embed_missing, pipeline_for, version_named
from engine.library.storage.records import ScanSummary
from engine.library.storage.store import Library
from engine.library.storage.folder_paths import folder_row, real_folder, stored_range
from engine.library.storage.walk import is_inside, walk_photos
from engine.library.jobs.xmp_import import apply_xmp_labels
from engine.faces.photo_metadata import read_metadata
from engine.faces.pipeline import FacePipeline, PhotoFaces
from engine.wording import counted
from engine.user_files import from_stored_path, open_photo_file, printable_path, to_stored_path

HASH_CHUNK = 1 << 20
BATCH_PHOTOS = 16
BATCH_SECONDS = 5.0


def content_hash(path: str) -> str:
    """Hash of the file's bytes; ImageLoadError for a file that is not a regular, readable,
    non-empty file or that keeps growing while we read it."""
    digest = hashlib.blake2b(digest_size=20)
    reader, size = open_photo_file(path, allow_empty=True)  # an empty photo is recorded as one
    read = 0
    with reader:
        while chunk := reader.read(HASH_CHUNK):
            digest.update(chunk)
            read += len(chunk)
    if read > size:
        raise ImageLoadError(path, "skipped: the file changed while it was read (still being copied?)")
    return digest.hexdigest()


class _Scanner:
    def __init__(
        self,
        library: Library,
        pipeline_factory: Callable[[], FacePipeline],
        progress: ProgressCallback,
        cancel: CancelToken,
        import_xmp: bool,
        batch_photos: int = BATCH_PHOTOS,
        exclude: Iterable[str] = (),
    ) -> None:
        self.batch_photos = batch_photos
        self.exclude = [str(e) for e in exclude]
        self.library = library
        self.pipeline_factory = pipeline_factory
        self._pipeline: FacePipeline | None = None
        self.progress = progress
        self.cancel = cancel
        self.import_xmp = import_xmp
        self.summary = ScanSummary()
        self.followers: dict[int, list[int]] = {}
        self.roots: list[str] = []  # every folder of this scan, as real paths
        # The active version when the scan began (a new library's: the one its first faces get).
        self.active_at_start: str | None = library.scalar("SELECT value FROM settings WHERE key = ?", [ACTIVE_KEY])
        self.switched_meanwhile = False  # a model switch made another version active mid-scan

    @property
    def pipeline(self) -> FacePipeline:
        if self._pipeline is None:  # loading models costs seconds; a no-change rescan skips it
            self._pipeline = self.pipeline_factory()
        return self._pipeline

    # -- phase 1: compare the disk with the database ---------------------------------------
    def reconcile(self, roots: list[str]) -> None:
        """Walk every root first, then record changes: a photo moved between two library
        folders is then seen as a move, not as a loss plus a new photo."""
        new_files, changed, vanished = [], [], {}
        seen: set[str] = set()  # library folders may nest: each file is handled once
        for root in roots:
            if self.cancel.cancelled:
                return
            folder_id = folder_row(self.library, root)
            found_new, found_changed, found_vanished = self._walk(root, seen)
            new_files += [(folder_id, f) for f in found_new]
            changed += found_changed
            vanished.update(found_vanished)
        vanished = {path: row for path, row in vanished.items() if path not in seen}
        work = [("changed", item) for item in changed] + [("new", item) for item in new_files]
        for start in range(0, len(work), 200):
            if self.cancel.cancelled:
                return  # nothing is forgotten on a cancelled scan
            with self.library.atomic() as db:
                for kind, item in work[start : start + 200]:
                    if kind == "changed":
                        self._record_changed(db, *item)
                    else:
                        self._record_new(db, *item, vanished)
            self.progress(Progress("checking new and changed photos", min(len(work), start + 200), len(work)))
        # Gone from disk: kept with their faces and names, marked missing (an unplugged
        # drive, an empty mount point, a folder moved away) until the user forgets them.
        newly_missing = [row["id"] for row in vanished.values() if row["missing_since"] is None]
        if newly_missing:
            with self.library.atomic() as db:
                db.conn.executemany(
                    "UPDATE photos SET missing_since = datetime('now') WHERE id = ? AND missing_since IS NULL",
                    [[photo_id] for photo_id in newly_missing],
                )
        self.summary.missing += len(vanished)

    def _walk(self, folder: str, seen: set[str]) -> tuple[list, list, dict]:
        unreadable: list[str] = []

        def on_error(path: str, reason: str) -> None:
            unreadable.append(to_stored_path(path))
            self.summary.folder_errors.append((printable_path(path), reason))

        def on_skip(path: str, reason: str) -> None:
            unreadable.append(to_stored_path(path))
            self.summary.problems.append((printable_path(path), reason))

        if not os.path.isdir(folder):
            on_error(folder, "folder not found (is the drive connected?); its photos are kept")
            return [], [], {}
        known = {  # every photo stored under this folder, by stored path
            row["path"]: row
            for row in self.library.query(
                "SELECT id, path, size, mtime_ns, ctime_ns, status, content_hash, missing_since FROM photos "
                "WHERE path >= ? AND path < ?",
                stored_range(folder),
            )
        }
        new_files, changed, returned, first_ctimes = [], [], [], []
        for found in walk_photos(folder, on_error, self.exclude, on_skip, inside=self.roots):
            stored = to_stored_path(found.path)
            if stored in seen:
                continue
            self.summary.files_seen += 1
            seen.add(stored)
            if self.summary.files_seen % 500 == 0:
                self.progress(Progress("finding photos", self.summary.files_seen, None, printable_path(found.path)))
            row = known.get(stored)
            if row is None:
                new_files.append(found)
            elif (row["size"] == found.size and row["mtime_ns"] == found.mtime_ns
                  and row["ctime_ns"] in (None, found.ctime_ns)):
                if row["ctime_ns"] is None:  # a library from before change times were kept
                    first_ctimes.append([found.ctime_ns, row["id"]])
                if row["missing_since"] is not None:
                    returned.append(row["id"])
                if row["status"] != "pending":
                    self.summary.unchanged += 1
            else:
                changed.append((row, found))
        if returned or first_ctimes:  # back where it was, unchanged: its faces and names were never touched
            with self.library.atomic() as db:
                db.conn.executemany("UPDATE photos SET missing_since = NULL WHERE id = ?", [[i] for i in returned])
                db.conn.executemany("UPDATE photos SET ctime_ns = ? WHERE id = ?", first_ctimes)
            self.summary.returned += len(returned)
        # Photos under unreadable or excluded folders are kept as they are (their labels stay).
        kept = unreadable + [to_stored_path(os.path.abspath(e)) for e in self.exclude]
        vanished = {path: row for path, row in known.items() if path not in seen and not is_inside(path, kept)}
        return new_files, changed, vanished

    def _record_changed(self, db, row: dict, found) -> None:  # noqa: ANN001
        digest = self._hash(found.path)
        if digest is None:
            return
        if digest == row["content_hash"] and row["status"] == "done":  # touched, not edited
            db.execute(
                "UPDATE photos SET size = ?, mtime_ns = ?, ctime_ns = ?, missing_since = NULL WHERE id = ?",
                [found.size, found.mtime_ns, found.ctime_ns, row["id"]],
            )
            self.summary.unchanged += 1
            self.summary.returned += row["missing_since"] is not None
            return
        # Edited: analyse again; manual labels are carried over by likeness.
        db.execute(
            "UPDATE photos SET size = ?, mtime_ns = ?, ctime_ns = ?, content_hash = ?, status = 'pending', "
            "error = NULL, missing_since = NULL WHERE id = ?",
            [found.size, found.mtime_ns, found.ctime_ns, digest, row["id"]],
        )

    def _record_new(self, db, folder_id: int, found, vanished: dict) -> None:  # noqa: ANN001
        digest = self._hash(found.path)
        if digest is None:
            return
        # A known photo with this content whose file is gone (or missing since an earlier
        # scan) was moved or renamed: it keeps its faces, names and rejections.
        for row_id, old_path in db.execute(
            "SELECT id, path FROM photos WHERE content_hash = ? AND status = 'done' "
            "ORDER BY missing_since IS NULL, id", [digest]
        ).fetchall():
            if old_path in vanished or not os.path.lexists(from_stored_path(old_path)):
                vanished.pop(old_path, None)
                db.execute(
                    "UPDATE photos SET path = ?, folder_id = ?, size = ?, mtime_ns = ?, ctime_ns = ?, "
                    "missing_since = NULL WHERE id = ?",
                    [to_stored_path(found.path), folder_id, found.size, found.mtime_ns, found.ctime_ns, row_id],
                )
                self.summary.moved += 1
                return
        self._insert_new(db, folder_id, found, digest)

    def _hash(self, path: str) -> str | None:
        try:
            return content_hash(path)
        except ImageLoadError as exc:  # unreadable, special, or changing: reported, tried again next scan
            if os.path.lexists(path):
                self.summary.problems.append((printable_path(path), exc.reason))
            return None

    def _insert_new(self, db, folder_id: int, found, digest: str) -> None:  # noqa: ANN001
        copy_of = db.execute(
            "SELECT id, width, height, taken_at FROM photos WHERE content_hash = ? AND status = 'done' LIMIT 1", [digest]
        ).fetchone()
        status = "done" if copy_of else "pending"
        cursor = db.execute(
            "INSERT INTO photos(path, folder_id, size, mtime_ns, ctime_ns, content_hash, status, width, height, taken_at, "
            "scanned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? = 'done' THEN datetime('now') END)",
            [to_stored_path(found.path), folder_id, found.size, found.mtime_ns, found.ctime_ns, digest, status,
             copy_of[1] if copy_of else None, copy_of[2] if copy_of else None, copy_of[3] if copy_of else None, status],
        )
        if copy_of:
            copy_faces(db, copy_of[0], cursor.lastrowid)
            self.summary.duplicates += 1

    # -- phase 2: analyse what is pending ------------------------------------------------
    def analyze_pending(self, folders: list[str]) -> None:
        ranges, params = [], []
        for folder in folders:
            ranges.append("(path >= ? AND path < ?)")
            params += stored_range(folder)
        pending = self.library.query(
            f"SELECT id, path, content_hash FROM photos WHERE status = 'pending' AND missing_since IS NULL "
            f"AND ({' OR '.join(ranges)}) ORDER BY path",
            params,
        )
        if not pending or self.cancel.cancelled:
            return
        # Byte-identical copies are analysed once; the others receive a copy of the faces.
        leaders: dict[str, dict] = {}
        self.followers: dict[int, list[int]] = {}
        to_analyze = []
        for row in pending:
            leader = leaders.get(row["content_hash"]) if row["content_hash"] else None
            if leader is None:
                leaders[row["content_hash"] or row["path"]] = row
                to_analyze.append(row)
            else:
                self.followers.setdefault(leader["id"], []).append(row["id"])
        ids = {from_stored_path(row["path"]): row["id"] for row in to_analyze}
        total, started = len(to_analyze), time.monotonic()
        batch: list[tuple[int, str, PhotoFaces | ImageLoadError]] = []
        last_commit = time.monotonic()
        paths = (from_stored_path(row["path"]) for row in to_analyze if not self.cancel.cancelled)
        for done, (path, result) in enumerate(self.pipeline.analyze_many(paths), start=1):
            batch.append((ids[str(path)], str(path), result))
            if len(batch) >= self.batch_photos or time.monotonic() - last_commit > BATCH_SECONDS:
                self._commit(batch)
                batch, last_commit = [], time.monotonic()
            elapsed = time.monotonic() - started
            eta = elapsed / done * (total - done)
            self.progress(Progress("analyzing", done, total, printable_path(path), eta))
            if self.cancel.cancelled:
                break
        self._commit(batch)

    def report_unreadable(self, roots: list[str]) -> None:
        """Every photo under the roots that could not be read, from this scan or an earlier one."""
        listed = {path for path, _ in self.summary.problems}
        for root in roots:
            for row in self.library.query(
                "SELECT path, error FROM photos WHERE status = 'error' AND missing_since IS NULL "
                "AND path >= ? AND path < ? ORDER BY path",
                stored_range(root),
            ):
                path = printable_path(from_stored_path(row["path"]))
                if path not in listed:
                    listed.add(path)
                    self.summary.problems.append((path, row["error"] or "could not be read"))

    def _copy_to_followers(self, db, photo_id: int) -> None:  # noqa: ANN001
        for follower in self.followers.get(photo_id, []):
            db.execute("DELETE FROM faces WHERE photo_id = ?", [follower])
            copy_faces(db, photo_id, follower)
            db.execute(
                "UPDATE photos SET (status, error, width, height, taken_at, scanned_at) = "
                "(SELECT status, error, width, height, taken_at, scanned_at FROM photos WHERE id = ?) WHERE id = ?",
                [photo_id, follower],
            )
            self.summary.duplicates += 1

    def _commit(self, batch: list) -> None:
        if not batch:
            return
        version = self.pipeline.model_version
        with self.library.atomic() as db:
            # A new library's first faces make their version the active one (written down:
            # without it, the active version would follow whichever vectors come first).
            if self.active_at_start is None:
                self.active_at_start = version.name
            db.execute("INSERT OR IGNORE INTO settings(key, value) VALUES (?, ?)", [ACTIVE_KEY, version.name])
            for photo_id, path, result in batch:
                if isinstance(result, ImageLoadError):
                    if not os.path.lexists(path):  # vanished mid-scan: missing, never forgotten
                        db.execute("UPDATE photos SET missing_since = datetime('now') WHERE id = ?", [photo_id])
                        self.summary.missing += 1
                        continue
                    db.execute(
                        "UPDATE photos SET status = 'error', error = ?, scanned_at = datetime('now') WHERE id = ?",
                        [result.reason, photo_id],
                    )
                    self.summary.failed += 1
                    self.summary.problems.append((printable_path(path), result.reason))
                    self._copy_to_followers(db, photo_id)
                    continue
                # Hand labels, and faces named with their group that a regroup turned into a
                # question: those keep the name they were given (the question is asked again).
                # (A face left on an older version by a switch compares with the vector it has.)
                old_labels = self.library.query(
                    "SELECT COALESCE(e.embedding, (SELECT o.embedding FROM face_embeddings o WHERE o.face_id = f.id "
                    "LIMIT 1)) AS embedding, "
                    "CASE WHEN assignment = 'manual' THEN person_id ELSE asked_from END AS person_id, "
                    "CASE WHEN assignment = 'manual' THEN confirmed ELSE 0 END AS confirmed, named_from FROM faces f "
                    "LEFT JOIN face_embeddings e ON e.face_id = f.id AND e.model_version = ? "
                    "WHERE photo_id = ? AND (assignment = 'manual' OR asked_from IS NOT NULL)", [version.name, photo_id]
                )
                old_labels = [label for label in old_labels if label["embedding"] is not None]
                db.execute("DELETE FROM faces WHERE photo_id = ?", [photo_id])
                face_ids = insert_faces(db, photo_id, result.faces, version.name)
                if old_labels:
                    transfer_manual_labels(db, old_labels, face_ids, result.faces, version)
                metadata = read_metadata(path)
                db.execute(
                    "UPDATE photos SET status = 'done', error = NULL, width = ?, height = ?, taken_at = ?, "
                    "scanned_at = datetime('now') WHERE id = ?",
                    [result.width, result.height, metadata.taken_at if metadata else None, photo_id],
                )
                if self.import_xmp and face_ids:
                    self.summary.xmp_labels += apply_xmp_labels(db, path, metadata, result, face_ids, self.roots)
                self.summary.analyzed += 1
                self._copy_to_followers(db, photo_id)
                self.summary.faces_found += len(result.faces)
        if not self.switched_meanwhile and active_name(self.library) != self.active_at_start:
            # `facenet model use` finished while we analysed: this scan goes on in the version
            # its models are (each vector stored under the version that made it) and embeds
            # its faces in the active one at the end (embed_stragglers).
            self.switched_meanwhile = True

    def embed_stragglers(self) -> None:
        """Faces without a vector in the active version get one: those this scan committed
        under a version that a switch replaced meanwhile, and any a scan of an older version
        of the app stranded that way.  Faces left out for an unreadable photo are tried again."""
        active = active_name(self.library)
        if self.library.scalar(f"SELECT count(*) FROM ({MISSING_VECTORS_SQL})", [active]) == 0:
            return  # the usual case: no model is loaded for it
        if self.pipeline.model_version.name != active and not self.switched_meanwhile:
            return  # a scan with a chosen model (--model) embeds in that model only
        pipeline = self.pipeline if self.pipeline.model_version.name == active else pipeline_for(self.library, active)
        embedded, _, _ = embed_missing(self.library, active, photo_faces_embedder(pipeline), self.progress, self.cancel)
        self.summary.embedded_late += embedded


def stopped_scan_message(problem: str, summary: ScanSummary) -> str:
    """'Nothing was changed' is true of the batch that failed, not of the scan: say what it kept."""
    words = problem.removeprefix("Nothing was changed: ")
    kept = (f"the {counted(summary.analyzed, 'photo')} analysed before that ({counted(summary.faces_found, 'face')}) "
            "are saved" if summary.analyzed else "no photo had been analysed yet")
    return f"The scan stopped: {words} The last batch was not saved; {kept}. Scan again to go on."


def scan_folders(
    library: Library,
    folders: Iterable[str | Path],
    pipeline_factory: Callable[[], FacePipeline] = FacePipeline,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    import_xmp: bool = True,
    batch_photos: int = BATCH_PHOTOS,
    recognize: bool = True,
    exclude: Iterable[str | Path] = (),
) -> ScanSummary:
    """Bring the library up to date with `folders` (added to the library's folders), then
    assign the new faces to named people (k-NN) unless `recognize` is off.  Cancelled: raises
    Cancelled with the summary so far (the photos analysed are committed; a rescan goes on)."""
    cancel = cancel or CancelToken()
    scanner = _Scanner(library, pipeline_factory, progress, cancel, import_xmp, batch_photos,
                       [os.path.realpath(os.path.expanduser(str(e))) for e in exclude])
    started = time.monotonic()
    roots = [real_folder(library, f) for f in folders]
    scanner.roots = roots
    scanner.summary.folders = roots
    try:
        scanner.reconcile(roots)
        scanner.analyze_pending(roots)
        if not cancel.cancelled:
            scanner.embed_stragglers()
    except LibraryUnavailable as exc:  # a full disk mid-way: what earlier batches saved stays
        raise type(exc)(stopped_scan_message(str(exc), scanner.summary)) from exc
    scanner.report_unreadable(roots)
    scanner.summary.seconds = time.monotonic() - started
    cancel.stop_if_cancelled(scanner.summary)
    if recognize and scanner.summary.faces_found:
        result = recognize_faces(library, version_named(library, active_name(library)))
        scanner.summary.recognised, scanner.summary.suggested = result.assigned, result.suggested
    scanner.summary.seconds = time.monotonic() - started
    return scanner.summary
