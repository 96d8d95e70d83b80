"""Named face regions in XMP (MWG regions as written by digiKam, Picasa, Lightroom; the
Microsoft Photo RegionInfo as a fallback), read from a photo or its sidecar, and written to
sidecar files.  A photo file is never modified.

MWG areas are normalised centre x, y, width, height in the image *as stored*; with an EXIF
orientation the region turns with the pixels, so we map it to the displayed photo, which is
where all our boxes live.  Where `AppliedToDimensions` shows the writer used the displayed
size instead, the area is taken as is.
"""

from __future__ import annotations

import glob
import logging
import os
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import EngineError
from engine.paths import atomic_write_bytes, temporary_prefix
from engine.faces.photo_metadata import PhotoMetadata
from engine.library.storage.walk import is_inside

log = logging.getLogger(__name__)

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
MWG_RS = "http://www.metadataworkinggroup.com/schemas/regions/"
ST_AREA = "http://ns.adobe.com/xmp/sType/Area#"
ST_DIM = "http://ns.adobe.com/xap/1.0/sType/Dimensions#"
MP_REG = "http://ns.microsoft.com/photo/1.2/t/Region#"
X_META = "adobe:ns:meta/"
MAX_XMP_BYTES = 4_000_000
for _prefix, _uri in (("rdf", RDF), ("mwg-rs", MWG_RS), ("stArea", ST_AREA), ("stDim", ST_DIM), ("x", X_META)):
    ET.register_namespace(_prefix, _uri)


@dataclass(frozen=True)
class NamedRegion:
    name: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 normalised to the displayed photo


def _field(node: ET.Element, namespace: str, name: str) -> str | None:
    """An XMP property written either as an attribute or as a child element."""
    value = node.get(f"{{{namespace}}}{name}")
    if value is None:
        child = node.find(f"{{{namespace}}}{name}")
        if child is not None and child.text is not None:
            value = child.text
    return value.strip() if value is not None else None


def _resource(node: ET.Element) -> ET.Element:
    """A struct is the element itself (rdf:parseType='Resource') or its rdf:Description."""
    inner = node.find(f"{{{RDF}}}Description")
    return inner if inner is not None else node


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _to_displayed(u: float, v: float, orientation: int) -> tuple[float, float]:
    return {
        1: (u, v),
        2: (1 - u, v),
        3: (1 - u, 1 - v),
        4: (u, 1 - v),
        5: (v, u),
        6: (1 - v, u),
        7: (1 - v, 1 - u),
        8: (v, 1 - u),
    }.get(orientation, (u, v))


def _orient_box(box: tuple[float, float, float, float], orientation: int) -> tuple[float, float, float, float]:
    ax, ay = _to_displayed(box[0], box[1], orientation)
    bx, by = _to_displayed(box[2], box[3], orientation)
    return (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))


def _mwg_regions(root: ET.Element, metadata: PhotoMetadata | None) -> list[NamedRegion]:
    found = []
    for regions in root.iter(f"{{{MWG_RS}}}Regions"):
        regions = _resource(regions)
        orientation = metadata.orientation if metadata else 1
        dims = regions.find(f"{{{MWG_RS}}}AppliedToDimensions")
        if dims is not None and metadata is not None and orientation in (5, 6, 7, 8):
            dims = _resource(dims)
            w, h = _float(_field(dims, ST_DIM, "w")), _float(_field(dims, ST_DIM, "h"))
            stored = (metadata.stored_width, metadata.stored_height)
            if w and h and (round(w), round(h)) == stored[::-1] and stored[0] != stored[1]:
                orientation = 1  # written against the displayed photo
        for item in regions.iter(f"{{{RDF}}}li"):
            node = _resource(item)
            name = _field(node, MWG_RS, "Name")
            kind = _field(node, MWG_RS, "Type")
            area = node.find(f"{{{MWG_RS}}}Area")
            if not name or area is None or (kind and kind.lower() != "face"):
                continue
            area = _resource(area)
            values = [_float(_field(area, ST_AREA, key)) for key in ("x", "y", "w", "h")]
            unit = _field(area, ST_AREA, "unit") or "normalized"
            if any(v is None for v in values) or unit != "normalized":
                continue
            x, y, w, h = values
            box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
            found.append(NamedRegion(name, _orient_box(box, orientation)))
    return found


def _microsoft_regions(root: ET.Element) -> list[NamedRegion]:
    found = []
    for item in root.iter(f"{{{RDF}}}li"):
        node = _resource(item)
        name = _field(node, MP_REG, "PersonDisplayName")
        rect = _field(node, MP_REG, "Rectangle")
        if not name or not rect:
            continue
        values = [_float(part) for part in rect.split(",")]
        if len(values) != 4 or any(v is None for v in values):
            continue
        x, y, w, h = values
        found.append(NamedRegion(name, (x, y, x + w, y + h)))
    return found


def parse_face_regions(xmp: bytes, metadata: PhotoMetadata | None = None) -> list[NamedRegion]:
    """Named face regions in one XMP packet; [] for anything unparseable."""
    if not xmp or len(xmp) > MAX_XMP_BYTES:
        return []
    text = xmp.strip(b"\x00 \t\r\n")
    start = text.find(b"<x:xmpmeta")
    if start < 0:
        start = text.find(b"<rdf:RDF")
    end_tag = b"</x:xmpmeta>" if text.find(b"<x:xmpmeta") >= 0 else b"</rdf:RDF>"
    end = text.rfind(end_tag)
    if start < 0 or end < 0:
        return []
    try:
        root = ET.fromstring(text[start : end + len(end_tag)])
    except ET.ParseError:
        return []
    return _mwg_regions(root, metadata) or _microsoft_regions(root)


def sidecar_candidates(photo: str | Path) -> list[Path]:
    """digiKam/darktable write photo.jpg.xmp; Lightroom and others photo.xmp."""
    photo = Path(photo)
    return [photo.with_name(photo.name + ".xmp"), photo.with_suffix(".xmp")]


def read_face_regions(photo: str | Path, metadata: PhotoMetadata | None,
                      inside: Iterable[str] | None = None) -> list[NamedRegion]:
    """Regions from the first sidecar that has any, else from the photo's own XMP.  A
    sidecar that is a link is read only where it leads inside the folders `inside` (real
    paths; default the photo's own folder): a link out of the photo folders is someone
    else's file, not a label the user made here."""
    allowed = [os.path.realpath(f) for f in inside] if inside is not None else [os.path.realpath(Path(photo).parent)]
    for sidecar in sidecar_candidates(photo):
        try:
            if sidecar.is_symlink() and not is_inside(os.path.realpath(sidecar), allowed):
                log.info("sidecar %s not read: a link out of the photo folders", sidecar)
                continue
            if sidecar.is_file() and sidecar.stat().st_size <= MAX_XMP_BYTES:
                regions = parse_face_regions(sidecar.read_bytes(), metadata)
                if regions:
                    return regions
        except OSError:
            continue
    return parse_face_regions(metadata.xmp, metadata) if metadata and metadata.xmp else []


def sidecar_for_writing(photo: str | Path) -> Path:
    """photo.ext.xmp, or photo.xmp where that name would be longer than the file system
    allows (a 255-byte photo name): readers look for both."""
    photo = Path(photo)
    long_form = photo.with_name(photo.name + ".xmp")
    try:
        limit = os.pathconf(photo.parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    if len(os.fsencode(long_form.name)) <= limit:
        return long_form
    return photo.with_suffix(".xmp")


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def sidecar_xml(width: int, height: int, regions: list[NamedRegion]) -> bytes:
    """An XMP sidecar holding MWG face regions in the displayed photo's frame (we write the
    displayed size as AppliedToDimensions, so readers know which frame it is)."""
    meta = ET.Element(_q(X_META, "xmpmeta"))
    rdf = ET.SubElement(meta, _q(RDF, "RDF"))
    description = ET.SubElement(rdf, _q(RDF, "Description"), {_q(RDF, "about"): ""})
    description.append(_regions_element(width, height, regions))
    body = ET.tostring(meta, encoding="utf-8", xml_declaration=False)
    return b"<?xpacket begin='\xef\xbb\xbf' id='W5M0MpCehiHzreSzNTczkc9d'?>\n" + body + b"\n<?xpacket end='w'?>\n"


def _regions_element(width: int, height: int, regions: list[NamedRegion]) -> ET.Element:
    element = ET.Element(_q(MWG_RS, "Regions"), {_q(RDF, "parseType"): "Resource"})
    ET.SubElement(
        element,
        _q(MWG_RS, "AppliedToDimensions"),
        {_q(ST_DIM, "w"): str(width), _q(ST_DIM, "h"): str(height), _q(ST_DIM, "unit"): "pixel"},
    )
    bag = ET.SubElement(ET.SubElement(element, _q(MWG_RS, "RegionList")), _q(RDF, "Bag"))
    for region in regions:
        x1, y1, x2, y2 = region.box
        li = ET.SubElement(bag, _q(RDF, "li"))
        node = ET.SubElement(li, _q(RDF, "Description"), {_q(MWG_RS, "Name"): region.name, _q(MWG_RS, "Type"): "Face"})
        ET.SubElement(
            node,
            _q(MWG_RS, "Area"),
            {
                _q(ST_AREA, "x"): f"{(x1 + x2) / 2:.6f}",
                _q(ST_AREA, "y"): f"{(y1 + y2) / 2:.6f}",
                _q(ST_AREA, "w"): f"{x2 - x1:.6f}",
                _q(ST_AREA, "h"): f"{y2 - y1:.6f}",
                _q(ST_AREA, "unit"): "normalized",
            },
        )
    return element


class SidecarNotChanged(EngineError):
    """An existing sidecar we cannot safely merge into: left exactly as it was."""

    def __init__(self, sidecar: Path, reason: str) -> None:
        self.sidecar = sidecar
        self.reason = reason
        super().__init__(f"{sidecar}: {reason}")


def remove_stale_temporaries(target: Path) -> int:
    """Temporary files of an earlier write of `target` that was killed mid-way."""
    removed = 0
    for stale in target.parent.glob(f"{glob.escape(temporary_prefix(target))}*.tmp"):
        try:
            stale.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def _merged(target: Path, data: bytes, new_regions: ET.Element) -> bytes:
    """The existing sidecar with its face regions replaced; SidecarNotChanged when it cannot
    be read safely (malformed, a DOCTYPE or entities, no RDF): a sidecar is often the only
    copy of keywords, ratings and titles, so it is never replaced whole."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise SidecarNotChanged(target, "it declares a DOCTYPE or entities, which are not read for safety; left as it is")
    try:
        tree = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SidecarNotChanged(target, f"it is not well-formed XML ({exc}); left as it is") from exc
    rdf = tree if tree.tag == _q(RDF, "RDF") else tree.find(_q(RDF, "RDF"))
    if rdf is None:
        raise SidecarNotChanged(target, "it has no RDF block to add face regions to; left as it is")
    for parent in list(tree.iter()):
        for child in list(parent):
            if child.tag == _q(MWG_RS, "Regions"):
                parent.remove(child)
    description = rdf.find(_q(RDF, "Description"))
    if description is None:
        description = ET.SubElement(rdf, _q(RDF, "Description"), {_q(RDF, "about"): ""})
    description.append(new_regions)
    return ET.tostring(tree, encoding="utf-8")


def write_sidecar(photo: str | Path, width: int, height: int, regions: list[NamedRegion]) -> Path:
    """Write photo.ext.xmp (atomically).  An existing sidecar keeps everything except its
    face regions, which are replaced, and keeps its permissions; one we cannot merge into
    raises SidecarNotChanged and is left untouched.  The photo is never opened for writing."""
    target = sidecar_for_writing(photo)
    if target.is_symlink():
        raise SidecarNotChanged(target, "it is a link to another file, which is not written through; left as it is")
    remove_stale_temporaries(target)
    new_regions = _regions_element(width, height, regions)
    if target.is_file():
        mode = stat.S_IMODE(target.stat().st_mode)
        atomic_write_bytes(target, _merged(target, target.read_bytes(), new_regions))
        os.chmod(target, mode)
        return target
    atomic_write_bytes(target, sidecar_xml(width, height, regions))
    os.chmod(target, 0o644)
    return target
