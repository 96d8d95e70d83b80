"""XMP face regions (parsing, orientation, sidecars) and EXIF dates, on generated files."""

from __future__ import annotations

import pytest
from PIL import Image

from engine.library.edits.xmp import (
    NamedRegion,
    parse_face_regions,
    read_face_regions,
    sidecar_xml,
    write_sidecar,
)
from engine.faces.photo_metadata import PhotoMetadata, read_metadata

MWG_TEMPLATE = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
 xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#">
<mwg-rs:Regions rdf:parseType="Resource">{dims}<mwg-rs:RegionList><rdf:Bag>{items}</rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>
</rdf:Description></rdf:RDF></x:xmpmeta>"""
ITEM = """<rdf:li><rdf:Description mwg-rs:Name="{name}" mwg-rs:Type="{kind}"><mwg-rs:Area stArea:x="{x}" stArea:y="{y}"
 stArea:w="{w}" stArea:h="{h}" stArea:unit="normalized"/></rdf:Description></rdf:li>"""


def mwg(items: list[dict], dims: tuple[int, int] | None = None) -> bytes:
    dims_xml = f'<mwg-rs:AppliedToDimensions stDim:w="{dims[0]}" stDim:h="{dims[1]}" stDim:unit="pixel"/>' if dims else ""
    return MWG_TEMPLATE.format(dims=dims_xml, items="".join(ITEM.format(**{"kind": "Face", **i}) for i in items)).encode()


def meta(orientation: int, width: int = 400, height: int = 300) -> PhotoMetadata:
    return PhotoMetadata(None, orientation, width, height, None)


# A region centred at (0.2, 0.3), 0.1 wide and 0.2 high in the stored image, and where each
# EXIF orientation puts it in the displayed photo (worked out by hand from the EXIF spec).
EXPECTED = {
    1: (0.15, 0.2, 0.25, 0.4),
    2: (0.75, 0.2, 0.85, 0.4),  # mirrored left-right
    3: (0.75, 0.6, 0.85, 0.8),  # rotated 180
    4: (0.15, 0.6, 0.25, 0.8),  # mirrored top-bottom
    5: (0.2, 0.15, 0.4, 0.25),  # transposed
    6: (0.6, 0.15, 0.8, 0.25),  # rotated 90 clockwise
    7: (0.6, 0.75, 0.8, 0.85),  # transversed
    8: (0.2, 0.75, 0.4, 0.85),  # rotated 90 counter-clockwise
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_regions_turn_with_the_exif_orientation(orientation: int) -> None:
    xmp = mwg([{"name": "Ann", "x": 0.2, "y": 0.3, "w": 0.1, "h": 0.2}], dims=(400, 300))
    [region] = parse_face_regions(xmp, meta(orientation))
    assert region.name == "Ann"
    assert region.box == pytest.approx(EXPECTED[orientation])


def test_regions_written_against_the_displayed_size_are_not_turned() -> None:
    xmp = mwg([{"name": "Ann", "x": 0.2, "y": 0.3, "w": 0.1, "h": 0.2}], dims=(300, 400))  # displayed size
    [region] = parse_face_regions(xmp, meta(6))
    assert region.box == pytest.approx(EXPECTED[1])


def test_non_face_regions_and_garbage_are_ignored() -> None:
    xmp = mwg([{"name": "Pet", "x": 0.5, "y": 0.5, "w": 0.1, "h": 0.1, "kind": "Pet"},
               {"name": "Bob", "x": 0.5, "y": 0.5, "w": 0.2, "h": 0.2}])
    assert [r.name for r in parse_face_regions(xmp)] == ["Bob"]
    assert parse_face_regions(b"<x:xmpmeta><unclosed") == []
    assert parse_face_regions(b"") == []
    assert parse_face_regions(b"\x00\xff" * 100) == []


def test_microsoft_regions_are_the_fallback() -> None:
    xmp = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
    <rdf:Description xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#"><rdf:Bag>
    <rdf:li MPReg:PersonDisplayName="Cy" MPReg:Rectangle="0.1, 0.2, 0.3, 0.4"/></rdf:Bag></rdf:Description></rdf:RDF></x:xmpmeta>"""
    [region] = parse_face_regions(xmp)
    assert region.name == "Cy" and region.box == pytest.approx((0.1, 0.2, 0.4, 0.6))


def test_sidecar_round_trip_and_precedence(tmp_path) -> None:
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (40, 30)).save(photo, exif=_exif_with_xmp_free_date())
    regions = [NamedRegion("Dee", (0.1, 0.2, 0.3, 0.5))]
    assert parse_face_regions(sidecar_xml(40, 30, regions), meta(1, 40, 30))[0].box == pytest.approx((0.1, 0.2, 0.3, 0.5))
    before = photo.read_bytes()
    written = write_sidecar(photo, 40, 30, regions)
    assert written == tmp_path / "p.jpg.xmp" and photo.read_bytes() == before
    assert [r.name for r in read_face_regions(photo, read_metadata(photo))] == ["Dee"]


def test_write_sidecar_keeps_the_rest_of_an_existing_sidecar(tmp_path) -> None:
    photo = tmp_path / "q.jpg"
    Image.new("RGB", (10, 10)).save(photo)
    sidecar = tmp_path / "q.jpg.xmp"
    sidecar.write_bytes(
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="5"/></rdf:RDF></x:xmpmeta>'
    )
    write_sidecar(photo, 10, 10, [NamedRegion("Eli", (0.1, 0.1, 0.5, 0.5))])
    text = sidecar.read_text()
    assert 'Rating="5"' in text
    assert [r.name for r in parse_face_regions(sidecar.read_bytes(), meta(1, 10, 10))] == ["Eli"]
    write_sidecar(photo, 10, 10, [NamedRegion("Fox", (0.1, 0.1, 0.5, 0.5))])  # replaces, not appends
    assert [r.name for r in parse_face_regions(sidecar.read_bytes(), meta(1, 10, 10))] == ["Fox"]


def _exif_with_xmp_free_date() -> Image.Exif:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2019:07:14 16:05:09"
    return exif


def test_taken_at_and_orientation_from_exif(tmp_path) -> None:
    photo = tmp_path / "dated.jpg"
    exif = _exif_with_xmp_free_date()
    exif[0x0112] = 6
    Image.new("RGB", (60, 40)).save(photo, exif=exif)
    info = read_metadata(photo)
    assert info.taken_at == "2019-07-14T16:05:09"
    assert info.orientation == 6 and (info.stored_width, info.stored_height) == (60, 40)
    plain = tmp_path / "plain.png"
    Image.new("RGB", (5, 5)).save(plain)
    assert read_metadata(plain).taken_at is None
    assert read_metadata(tmp_path / "missing.jpg") is None
