"""Camera RAW photos (the `raw` extra) and videos: decoded, or reported as skipped with the reason."""

import builtins
import io
import struct
import sys

import pytest
from PIL import Image

from simdesk.core import raw
from simdesk.core.decode import IMAGE_EXTENSIONS, UnsupportedFormatError, decode_image


def fake_dng() -> bytes:
    """A TIFF header whose first directory carries a DNGVersion tag (no real sensor data)."""
    entries = [(256, 3, 1, 8), (257, 3, 1, 8), (50706, 1, 4, 0x00000401)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0" * 4
    return b"II*\0" + struct.pack("<I", 8) + ifd + b"\0" * 64


def jpeg(size=(320, 240), colour=(200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize("head", [b"FUJIFILMCCD-RAW 0201", b"IIRO\x08\0\0\0", b"IIU\0\x08\0\0\0",
                                  b"II*\0\x10\0\0\0CR\x02\0"])
def test_raw_magic(head):
    assert raw.raw_kind(head + b"\0" * 64) == "RAW"


def test_a_dng_is_raw_and_a_plain_tiff_or_jpeg_is_not():
    assert raw.raw_kind(fake_dng()) == "RAW"
    plain = io.BytesIO()
    Image.new("RGB", (8, 8)).save(plain, "TIFF")
    assert raw.raw_kind(plain.getvalue()) is None
    assert raw.raw_kind(jpeg()) is None


def test_raw_extensions_are_scanned():
    assert {".cr2", ".nef", ".arw", ".dng", ".raf", ".orf", ".rw2"} <= IMAGE_EXTENSIONS


def test_without_rawpy_a_raw_photo_is_skipped_with_the_install_hint(monkeypatch):
    real_import = builtins.__import__

    def no_rawpy(name, *args, **kwargs):
        if name == "rawpy":
            raise ImportError("No module named 'rawpy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "rawpy", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_rawpy)
    with pytest.raises(UnsupportedFormatError) as caught:
        decode_image(fake_dng())
    assert caught.value.reason == "RAW photo needs rawpy: pip install 'simdesk[raw]'"


def test_with_rawpy_the_embedded_preview_is_used(monkeypatch):
    rawpy = pytest.importorskip("rawpy")
    preview = jpeg((400, 300))

    class FakeRaw:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def extract_thumb(self):
            class Thumb:
                format = rawpy.ThumbFormat.JPEG
                data = preview
            return Thumb()

    monkeypatch.setattr(rawpy, "imread", lambda source: FakeRaw())
    decoded = decode_image(fake_dng(), input_size=32)
    assert (decoded.width, decoded.height) == (400, 300) and decoded.format == "RAW"
    assert decoded.pixels.shape == (32, 32, 3) and decoded.pixels[..., 0].mean() > 150


def test_with_rawpy_a_file_libraw_cannot_read_is_skipped_with_a_reason():
    pytest.importorskip("rawpy")
    with pytest.raises(UnsupportedFormatError, match="RAW photo LibRaw cannot read"):
        decode_image(fake_dng())


def test_videos_are_reported_as_skipped_not_ignored(library, photo_folder):
    (photo_folder / "clip.MP4").write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 100)
    (photo_folder / "holiday.mov").write_bytes(b"\0" * 10)
    library.add_folder(photo_folder)
    report = library.index(workers=1)
    skipped = {s.path.rsplit("/", 1)[-1]: s.reason for s in report.failed}
    assert skipped == {"clip.MP4": "video: not a photo", "holiday.mov": "video: not a photo"}
    assert report.embedded == 7
    assert library.status().skipped_by_reason == {"video: not a photo": 2}
