"""The photo folders of a library, as the user adds and removes them (removing one is an
undoable edit: editing.remove_folder)."""

from __future__ import annotations

from pathlib import Path

from engine.library.edits import editing
from engine.library.storage.store import Library
from engine.user_files import from_stored_path, printable_path, to_stored_path


def library_folders(library: Library) -> list[str]:
    return [from_stored_path(r["path"]) for r in library.query("SELECT path FROM folders ORDER BY path")]


def add_folder(library: Library, folder: str) -> str:
    """Add a folder (its absolute path); the path as added.  Adding one twice changes nothing."""
    path = str(Path(folder).resolve())
    with library.atomic() as db:
        db.execute("INSERT OR IGNORE INTO folders(path) VALUES (?)", [to_stored_path(path)])
    return path


def photos_in_folder(library: Library, folder: str) -> int:
    return int(library.scalar("SELECT count(*) FROM photos ph JOIN folders f ON f.id = ph.folder_id WHERE f.path = ?",
                              [to_stored_path(folder)]) or 0)


def remove_folder(library: Library, folder: str) -> int:
    """Its photos leave the library (the files stay on disk); people and names stay; Undo
    brings everything back.  The photos removed."""
    return editing.remove_folder(library, to_stored_path(folder), printable_path(folder))
