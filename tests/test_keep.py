"""The keep rule keeps the camera original, whatever a copy gained by upscaling or re-saving."""

import io

from PIL import Image

from simdesk.core.decode import decode_image
from simdesk.core.duplicates.keep import DEFAULT_KEEP_RULE, Member, choose_keep, compare
from simdesk.core.provenance import Provenance

CAMERA = Provenance("Canon EOS 80D", "Firmware Version 1.0.2", 92)


def member(path, w=1000, h=750, size=300_000, capture=None, mtime_s=1_700_000_000, provenance=Provenance()):
    return Member(abs(hash(path)) & 0xFFFF, path, size, int(mtime_s * 1e9), path.encode(), w, h, capture,
                  provenance=provenance)


def test_the_camera_original_beats_an_upscaled_edited_copy():
    original = member("/p/IMG_0001.jpg", 1000, 750, 300_000, capture=1.6e9, provenance=CAMERA)
    upscaled = member("/p/IMG_0001-big.jpg", 2000, 1500, 900_000, capture=1.6e9,
                      provenance=Provenance("Canon EOS 80D", "Adobe Photoshop 25.0", 92))
    keep, reason = choose_keep([upscaled, original])
    assert keep is original
    assert reason == "camera original (Canon EOS 80D, Firmware Version 1.0.2)"


def test_a_copy_that_lost_its_capture_date_is_not_the_older_one():
    original = member("/p/a.jpg", capture=1.6e9, mtime_s=1_700_000_500)
    stripped = member("/p/a-copy.jpg", 2000, 1500, mtime_s=1_600_000_000)  # older file, no EXIF date
    keep, reason = choose_keep([stripped, original])
    assert keep is original and reason.startswith("older capture date")


def test_file_size_only_counts_at_the_same_jpeg_quality():
    original = member("/p/a.jpg", size=300_000, provenance=Provenance(None, None, 85))
    resaved = member("/p/a-bright.jpg", size=600_000, provenance=Provenance(None, None, 98))
    assert compare(original, resaved, "size") == 0
    keep, reason = choose_keep([resaved, original])
    assert keep is original and reason == "shorter path"
    same_quality = member("/p/a-big.jpg", size=600_000, provenance=Provenance(None, None, 85))
    keep, reason = choose_keep([original, same_quality])
    assert keep is same_quality and reason.startswith("larger file (") and "same JPEG quality 85" in reason


def test_file_times_a_moment_apart_tie_and_then_pixels_decide():
    a = member("/p/a.jpg", 800, 600, mtime_s=1_700_000_000)
    b = member("/p/b.jpg", 1600, 1200, mtime_s=1_700_000_001)
    assert compare(a, b, "oldest") == 0
    keep, reason = choose_keep([a, b])
    assert keep is b and reason == "largest pixel count (1600x1200)"
    older = member("/p/c.jpg", 800, 600, mtime_s=1_600_000_000)
    keep, reason = choose_keep([b, older])
    assert keep is older and "no capture date; file time" in reason


def test_the_default_rule_starts_with_the_original():
    assert DEFAULT_KEEP_RULE[0] == "original"


def _jpeg(quality, exif=None, size=(320, 240)):
    buf = io.BytesIO()
    image = Image.effect_noise(size, 40).convert("RGB")
    image.save(buf, "JPEG", quality=quality, exif=exif if exif is not None else Image.Exif())
    return buf.getvalue()


def test_decoding_reads_the_camera_the_software_and_the_jpeg_quality():
    exif = Image.Exif()
    exif[0x010F] = "NIKON CORPORATION"
    exif[0x0110] = "NIKON D750"
    exif[0x0131] = "Ver.1.10"
    decoded = decode_image(_jpeg(87, exif))
    assert decoded.provenance.camera == "NIKON CORPORATION NIKON D750"
    assert decoded.provenance.jpeg_quality == 87
    assert decoded.provenance.camera_original  # camera firmware is not an editor
    exif[0x0131] = "GIMP 2.10.34"
    edited = decode_image(_jpeg(95, exif)).provenance
    assert edited.edited and not edited.camera_original and edited.jpeg_quality == 95
    for quality in (15, 50, 75, 98):
        assert decode_image(_jpeg(quality)).provenance.jpeg_quality == quality


def test_provenance_of_files_without_exif_or_jpeg():
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(buf, "PNG")
    provenance = decode_image(buf.getvalue()).provenance
    assert provenance == Provenance(None, None, None) and not provenance.camera_original


def test_between_two_camera_files_the_one_no_program_signed_is_the_original():
    original = member("/p/IMG_1.jpg", 500, 374, 21_000, capture=1.6e9, provenance=Provenance("Apple iPhone 12", None, 70))
    exported = member("/p/IMG_1 (edited).jpg", 538, 375, 44_000, capture=1.6e9,
                      provenance=Provenance("Apple iPhone 12", "SomeNewEditor 1.0", 93))
    keep, reason = choose_keep([exported, original])
    assert keep is original and reason == "camera original (Apple iPhone 12, no editing software)"
    # Two files both signed by camera firmware tie on this criterion; pixels decide.
    a = member("/p/a.jpg", 800, 600, capture=1.6e9, provenance=Provenance("Canon EOS R5", "Firmware 1.8.1", 90))
    b = member("/p/b.jpg", 1600, 1200, capture=1.6e9, provenance=Provenance("Canon EOS R5", "Firmware 1.8.1", 90))
    assert compare(a, b, "original") == 0
    assert choose_keep([a, b])[0] is b
