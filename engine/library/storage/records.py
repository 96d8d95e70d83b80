"""Records that cross the library's module boundaries (CLI, GUI, export)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ScanSummary:
    folders: list[str] = field(default_factory=list)
    files_seen: int = 0
    unchanged: int = 0
    analyzed: int = 0
    faces_found: int = 0
    failed: int = 0  # photos recorded with an error
    moved: int = 0  # recognised by content hash under a new path: faces and names kept
    duplicates: int = 0  # byte-identical copies of a known photo: faces copied, not detected
    forgotten: int = 0  # photos removed from the library (only ever on the user's word)
    missing: int = 0  # photos gone from disk: kept with their faces and names until the user forgets them
    returned: int = 0  # missing photos found again, faces and names as they were
    xmp_labels: int = 0  # faces named from XMP regions
    recognised: int = 0  # new faces assigned to named people
    suggested: int = 0  # new faces suggested for named people
    embedded_late: int = 0  # faces given a vector in a version made active during the scan
    folder_errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    problems: list[tuple[str, str]] = field(default_factory=list)  # files not read: (printable path, reason)
    seconds: float = 0.0


@dataclass(frozen=True)
class PersonSummary:
    id: int
    name: str | None
    faces: int
    photos: int
    hidden: bool
    suggested: int


@dataclass(frozen=True)
class FaceRecord:
    """One face as exported: everything a user needs to find it again."""

    face_id: int
    photo: str
    box: tuple[float, float, float, float]
    score: float
    person_id: int | None
    person_name: str | None
    assignment: str | None
    distance: float | None
