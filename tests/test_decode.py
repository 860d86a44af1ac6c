"""Tests for simdesk.core.decode.

Every image is drawn with Pillow in the test; nothing touches the network.
pytest runs with ``filterwarnings = error``, so any warning leaking out of the
decoder fails the test that triggered it.
"""

from __future__ import annotations

import io
import random
import struct
import sys
import types
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps, JpegImagePlugin, TiffImagePlugin, features

from simdesk.core import decode
from simdesk.core.decode import (
    IMAGE_EXTENSIONS,
    DecodedImage,
    DecodeError,
    UnsupportedFormatError,
    decode_image,
    heif_available,
    read_exif_capture_time,
)

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def assert_colour(pixel, expected, tol=6):
    got = tuple(int(v) for v in pixel)
    assert all(abs(g - e) <= tol for g, e in zip(got, expected)), f"{got} != {expected} (±{tol})"


def halves(mode: str, size, left, right) -> Image.Image:
    """Image whose left half is ``left`` and right half ``right``."""
    img = Image.new(mode, size, left)
    img.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return img


def gradient_image(width=4000, height=3000, seed=0) -> Image.Image:
    """Smooth photo-like content with some texture, so JPEGs are realistic-ish."""
    sw, sh = max(1, width // 4), max(1, height // 4)  # draw small, upscale: fast
    y, x = np.mgrid[0:sh, 0:sw].astype(np.float32)
    phase = seed * 0.7
    base = np.stack(
        [
            (np.sin(x / 75 + phase) + 1) * 90 + (y / sh) * 60,
            (np.cos(y / 50 + phase) + 1) * 100,
            (x / sw) * 200 + 20,
        ],
        axis=-1,
    )
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    noise = Image.effect_noise((width, height), 6).convert("RGB")  # grain, centred on 128
    return Image.blend(img, noise, 0.15)


def png_chunk(tag: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(tag + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", crc)


def thumb_image(result: DecodedImage) -> Image.Image:
    img = Image.open(io.BytesIO(result.thumbnail))
    img.load()
    return img


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    return encode(gradient_image(), "JPEG", quality=90)


# --------------------------------------------------------------------------
# API basics
# --------------------------------------------------------------------------


def test_image_extensions_are_lowercase_with_dot():
    for ext in (".jpg", ".jpeg", ".jpe", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp",
                ".heic", ".heif", ".avif"):
        assert ext in IMAGE_EXTENSIONS
    assert all(e.startswith(".") and e == e.lower() for e in IMAGE_EXTENSIONS)
    assert isinstance(IMAGE_EXTENSIONS, frozenset)


def test_result_fields_and_types():
    data = encode(Image.new("RGB", (640, 480), (10, 120, 200)), "JPEG", quality=95)
    result = decode_image(data)
    assert isinstance(result, DecodedImage)
    assert result.pixels.dtype == np.uint8
    assert result.pixels.shape == (224, 224, 3)
    assert result.pixels.flags.c_contiguous
    assert (result.width, result.height) == (640, 480)
    assert result.format == "JPEG"
    assert result.capture_time is None
    assert_colour(result.pixels[100, 100], (10, 120, 200))
    with pytest.raises(AttributeError):
        result.width = 1  # frozen


@pytest.mark.parametrize("resize_mode", ["squash", "center_crop"])
@pytest.mark.parametrize("input_size", [224, 64, 299])
@pytest.mark.parametrize("size", [(640, 480), (480, 640), (50, 30), (1, 1), (3000, 200)])
def test_resize_modes_give_square_uint8(resize_mode, input_size, size):
    data = encode(Image.new("RGB", size, (90, 60, 30)), "PNG")
    result = decode_image(data, input_size=input_size, resize_mode=resize_mode)
    assert result.pixels.shape == (input_size, input_size, 3)
    assert result.pixels.dtype == np.uint8
    assert_colour(result.pixels[input_size // 2, input_size // 2], (90, 60, 30), tol=1)


def test_squash_keeps_everything_center_crop_keeps_the_middle():
    # 3:1 strip: red | green | blue thirds.
    img = Image.new("RGB", (300, 100), RED)
    img.paste(GREEN, (100, 0, 200, 100))
    img.paste(BLUE, (200, 0, 300, 100))
    data = encode(img, "PNG")

    squash = decode_image(data, input_size=90, resize_mode="squash").pixels
    assert_colour(squash[45, 5], RED)
    assert_colour(squash[45, 45], GREEN)
    assert_colour(squash[45, 85], BLUE)

    crop = decode_image(data, input_size=90, resize_mode="center_crop").pixels
    for x in (2, 45, 87):
        for y in (2, 45, 87):
            assert_colour(crop[y, x], GREEN)


def test_bad_arguments_raise_value_error():
    data = encode(Image.new("RGB", (8, 8)), "PNG")
    with pytest.raises(ValueError):
        decode_image(data, resize_mode="stretch")
    with pytest.raises(ValueError):
        decode_image(data, input_size=0)


# --------------------------------------------------------------------------
# thumbnails
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, thumb_size, expected",
    [
        ((4000, 3000), 256, (256, 192)),
        ((3000, 4000), 256, (192, 256)),
        ((1000, 100), 256, (256, 26)),
        ((640, 480), 128, (128, 96)),
        ((100, 60), 256, (100, 60)),  # never upscaled
    ],
)
def test_thumbnail_is_jpeg_with_right_size_and_aspect(size, thumb_size, expected):
    data = encode(Image.new("RGB", size, (40, 160, 90)), "JPEG", quality=90)
    result = decode_image(data, thumb_size=thumb_size)
    thumb = thumb_image(result)
    assert thumb.format == "JPEG"
    assert thumb.mode == "RGB"
    assert max(thumb.size) <= thumb_size
    assert thumb.size == expected
    assert_colour(thumb.getpixel((thumb.width // 2, thumb.height // 2)), (40, 160, 90))


def test_thumbnail_of_transparent_png_is_rgb_on_white():
    img = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    result = decode_image(encode(img, "PNG"))
    thumb = thumb_image(result)
    assert thumb.mode == "RGB"
    assert_colour(thumb.getpixel((10, 10)), WHITE)


# --------------------------------------------------------------------------
# modes and colours
# --------------------------------------------------------------------------


def decode64(data: bytes, **kw) -> np.ndarray:
    """Pixels of a 64x64 source at input_size 64: no resampling, exact colours."""
    return decode_image(data, input_size=64, **kw).pixels


def test_rgb_jpeg_colours():
    px = decode64(encode(halves("RGB", (64, 64), RED, BLUE), "JPEG", quality=95, subsampling=0))
    assert_colour(px[32, 10], RED)
    assert_colour(px[32, 54], BLUE)


def test_greyscale_l():
    px = decode64(encode(halves("L", (64, 64), 30, 200), "PNG"))
    assert_colour(px[32, 10], (30, 30, 30), tol=0)
    assert_colour(px[32, 54], (200, 200, 200), tol=0)


def test_greyscale_jpeg():
    px = decode64(encode(Image.new("L", (64, 64), 77), "JPEG", quality=95))
    assert_colour(px[32, 32], (77, 77, 77), tol=2)


def test_la_alpha_composited_on_white():
    img = halves("LA", (64, 64), (50, 0), (50, 255))
    px = decode64(encode(img, "PNG"))
    assert_colour(px[32, 10], WHITE, tol=0)
    assert_colour(px[32, 54], (50, 50, 50), tol=0)


def test_rgba_transparent_is_white_not_black():
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))  # fully transparent *black*
    img.paste((255, 0, 0, 255), (32, 0, 64, 32))
    img.paste((0, 0, 0, 128), (32, 32, 64, 64))  # half-transparent black on white -> mid grey
    px = decode64(encode(img, "PNG"))
    assert_colour(px[10, 10], WHITE, tol=0)
    assert_colour(px[50, 10], WHITE, tol=0)
    assert_colour(px[10, 50], RED, tol=0)
    assert_colour(px[50, 50], (127, 127, 127), tol=2)


def test_rgba_webp_transparent_is_white():
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    img.paste((0, 0, 255, 255), (32, 0, 64, 64))
    px = decode64(encode(img, "WEBP", lossless=True))
    assert_colour(px[32, 10], WHITE)
    assert_colour(px[32, 54], BLUE)


def palette_image() -> Image.Image:
    img = Image.new("P", (64, 64), 0)
    img.putpalette([0, 0, 0, 0, 255, 0, 255, 0, 0] + [0] * (253 * 3))
    img.paste(1, (32, 0, 64, 64))  # left: index 0 (black), right: index 1 (green)
    img.paste(2, (0, 48, 64, 64))  # bottom strip: index 2 (red)
    return img


def test_palette_without_transparency():
    px = decode64(encode(palette_image(), "PNG"))
    assert_colour(px[10, 10], (0, 0, 0), tol=0)
    assert_colour(px[10, 54], GREEN, tol=0)
    assert_colour(px[60, 30], RED, tol=0)


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_index_is_white(fmt):
    px = decode64(encode(palette_image(), fmt, transparency=0))
    assert_colour(px[10, 10], WHITE, tol=0)  # index 0 is transparent black
    assert_colour(px[10, 54], GREEN, tol=0)
    assert_colour(px[60, 30], RED, tol=0)


def test_palette_with_alpha_table_is_composited():
    # PNG tRNS with per-entry alpha: index 0 alpha 0, index 1 alpha 128, index 2 opaque
    data = encode(palette_image(), "PNG", transparency=bytes([0, 128, 255]))
    px = decode64(data)
    assert_colour(px[10, 10], WHITE, tol=0)
    assert_colour(px[10, 54], (127, 255, 127), tol=2)
    assert_colour(px[60, 30], RED, tol=0)


def test_rgb_png_with_trns_colour_is_white():
    img = halves("RGB", (64, 64), (10, 20, 30), BLUE)
    px = decode64(encode(img, "PNG", transparency=(10, 20, 30)))
    assert_colour(px[32, 10], WHITE, tol=0)
    assert_colour(px[32, 54], BLUE, tol=0)


def test_greyscale_png_with_trns_is_white():
    img = halves("L", (64, 64), 0, 100)
    px = decode64(encode(img, "PNG", transparency=0))
    assert_colour(px[32, 10], WHITE, tol=0)
    assert_colour(px[32, 54], (100, 100, 100), tol=0)


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk_red_is_red(fmt):
    # Pillow writes (and reads back) Adobe-style inverted CMYK JPEGs; the
    # decoder must undo that, so 0% cyan + 100% magenta + 100% yellow = red.
    img = Image.new("CMYK", (64, 64), (0, 255, 255, 0))
    img.paste((255, 0, 255, 0), (32, 0, 64, 64))  # cyan + yellow = green
    data = encode(img, fmt)
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode == "CMYK"
    px = decode64(data)
    assert_colour(px[32, 10], RED, tol=8)
    assert_colour(px[32, 54], GREEN, tol=8)


def test_cmyk_large_jpeg_uses_draft_and_stays_red():
    img = Image.new("CMYK", (2400, 1800), (0, 255, 255, 0))
    result = decode_image(encode(img, "JPEG"))
    assert (result.width, result.height) == (2400, 1800)
    assert_colour(result.pixels[112, 112], RED, tol=8)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16bit_greyscale_is_scaled_not_clipped(fmt):
    ramp = (np.arange(256, dtype=np.uint16) * 257)[None, :].repeat(8, axis=0)  # 0..65535
    img = Image.fromarray(ramp)
    assert img.mode.startswith("I;16")
    data = encode(img, fmt)
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode.startswith("I")  # still high bit depth when read back
    px = decode_image(data, input_size=256).pixels[:, :, 0].astype(int)
    row = px[128]
    assert row.min() == 0 and row.max() == 255
    assert np.all(np.diff(row) >= 0), "ordering lost"
    assert np.array_equal(row, np.arange(256))
    rgb = decode_image(data, input_size=256).pixels
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])


def test_16bit_dark_values_are_not_blown_out():
    # A Pillow convert("L") would clip every value > 255 to white.
    arr = np.full((64, 64), 8000, dtype=np.uint16)
    px = decode64(encode(Image.fromarray(arr), "PNG"))
    assert_colour(px[32, 32], (8000 // 257,) * 3, tol=1)


def test_32bit_int_tiff():
    arr = (np.arange(64, dtype=np.int32) * 1000)[None, :].repeat(64, axis=0)  # 0..63000
    img = Image.fromarray(arr)
    assert img.mode == "I"
    px = decode64(encode(img, "TIFF"))[0, :, 0].astype(int)
    assert np.all(np.diff(px) >= 0)
    assert px[0] == 0 and px[-1] == 63000 >> 8


def test_float_tiff_zero_to_one():
    arr = np.linspace(0.0, 1.0, 64, dtype=np.float32)[None, :].repeat(64, axis=0)
    img = Image.fromarray(arr)
    assert img.mode == "F"
    px = decode64(encode(img, "TIFF"))[0, :, 0].astype(int)
    assert px[0] == 0 and px[-1] == 255
    assert np.all(np.diff(px) >= 0)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF"])
def test_bilevel(fmt):
    img = halves("1", (64, 64), 0, 1)
    px = decode64(encode(img, fmt))
    assert_colour(px[32, 10], (0, 0, 0), tol=0)
    assert_colour(px[32, 54], WHITE, tol=0)


def test_ycbcr_and_other_modes_convert_to_rgb():
    ycbcr = Image.new("RGB", (8, 8), RED).convert("YCbCr")
    assert ycbcr.mode == "YCbCr"
    out = decode._to_rgb(ycbcr)
    assert out.mode == "RGB"
    assert_colour(out.getpixel((4, 4)), RED, tol=4)
    sources = {
        "RGBa": Image.new("RGBA", (8, 8), (200, 0, 0, 255)).convert("RGBa"),
        "La": Image.new("LA", (8, 8), (200, 255)).convert("La"),
        "PA": Image.new("PA", (8, 8), (0, 255)),
        "HSV": Image.new("RGB", (8, 8), (200, 0, 0)).convert("HSV"),
        "LAB": Image.new("RGB", (8, 8), (200, 0, 0)).convert("LAB"),
        "I;16B": Image.new("I;16B", (8, 8), 65535),
    }
    for mode, img in sources.items():
        assert img.mode == mode
        out = decode._to_rgb(img)
        assert out.mode == "RGB", mode
        assert out.size == (8, 8)
    assert_colour(decode._to_rgb(sources["HSV"]).getpixel((0, 0)), (200, 0, 0), tol=4)
    assert_colour(decode._to_rgb(sources["I;16B"]).getpixel((0, 0)), WHITE, tol=0)


def test_bmp_and_tiff_rgb():
    img = halves("RGB", (64, 64), RED, GREEN)
    for fmt in ("BMP", "TIFF"):
        result = decode_image(encode(img, fmt), input_size=64)
        assert result.format == fmt
        assert_colour(result.pixels[32, 10], RED, tol=0)
        assert_colour(result.pixels[32, 54], GREEN, tol=0)


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_avif_decodes_natively():
    result = decode_image(encode(halves("RGB", (64, 64), RED, BLUE), "AVIF", quality=90),
                          input_size=64)
    assert result.format == "AVIF"
    assert_colour(result.pixels[32, 10], RED, tol=12)
    assert_colour(result.pixels[32, 54], BLUE, tol=12)


def test_mpo_decodes_first_frame():
    frames = [Image.new("RGB", (640, 480), RED), Image.new("RGB", (640, 480), BLUE)]
    data = encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    result = decode_image(data)
    assert result.format == "MPO"
    assert (result.width, result.height) == (640, 480)
    assert_colour(result.pixels[100, 100], RED)


# --------------------------------------------------------------------------
# animation: first frame
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animated_first_frame(fmt):
    frames = [Image.new("RGB", (64, 64), c) for c in (RED, GREEN, BLUE)]
    params = {"save_all": True, "append_images": frames[1:], "duration": 100, "loop": 0}
    if fmt == "WEBP":
        params["lossless"] = True
    data = encode(frames[0], fmt, **params)
    with Image.open(io.BytesIO(data)) as check:
        assert getattr(check, "n_frames", 1) == 3
    result = decode_image(data, input_size=64)
    assert result.format == fmt
    assert_colour(result.pixels[32, 32], RED, tol=2)


# --------------------------------------------------------------------------
# EXIF orientation
# --------------------------------------------------------------------------

# Where the stored image's top-left (red) and top-right (green) corners end up
# once the orientation is applied, as (row, col) with 0 = top/left, 1 = bottom/right.
ORIENTATION_CORNERS = {
    1: ((0, 0), (0, 1)),
    2: ((0, 1), (0, 0)),
    3: ((1, 1), (1, 0)),
    4: ((1, 0), (1, 1)),
    5: ((0, 0), (1, 0)),
    6: ((0, 1), (1, 1)),
    7: ((1, 1), (0, 1)),
    8: ((1, 0), (0, 0)),
}


def marked_image(width: int, height: int) -> Image.Image:
    img = Image.new("RGB", (width, height), (128, 128, 128))
    bw, bh = width // 4, height // 4
    img.paste(RED, (0, 0, bw, bh))
    img.paste(GREEN, (width - bw, 0, width, bh))
    return img


def with_orientation(img: Image.Image, orientation: int, fmt="JPEG") -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    params = {"quality": 95, "subsampling": 0} if fmt == "JPEG" else {}
    return encode(img, fmt, exif=exif, **params)


def corner_pixel(px: np.ndarray, corner) -> np.ndarray:
    n = px.shape[0]
    r = 3 if corner[0] == 0 else n - 4
    c = 3 if corner[1] == 0 else n - 4
    return px[r, c]


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("size", [(96, 64), (2400, 1600)])  # tiny, and big enough for draft 1/4
def test_exif_orientation(orientation, size):
    data = with_orientation(marked_image(*size), orientation)
    result = decode_image(data, input_size=64)
    swapped = orientation >= 5
    assert (result.width, result.height) == ((size[1], size[0]) if swapped else size)

    red_at, green_at = ORIENTATION_CORNERS[orientation]
    assert_colour(corner_pixel(result.pixels, red_at), RED, tol=10)
    assert_colour(corner_pixel(result.pixels, green_at), GREEN, tol=10)

    # Cross-check against Pillow's own exif_transpose on a full decode.
    with Image.open(io.BytesIO(data)) as ref:
        ref = ImageOps.exif_transpose(ref).convert("RGB")
    assert ref.size == (result.width, result.height)
    expected = np.asarray(ref.resize((64, 64), Image.Resampling.BICUBIC)).astype(int)
    assert np.abs(expected - result.pixels.astype(int)).mean() < 3

    thumb = thumb_image(result)
    assert (thumb.width > thumb.height) == (result.width > result.height)


def test_orientation_in_png_exif():
    data = with_orientation(marked_image(96, 64), 6, fmt="PNG")
    result = decode_image(data, input_size=64)
    assert (result.width, result.height) == (64, 96)
    assert_colour(corner_pixel(result.pixels, (0, 1)), RED, tol=0)


@pytest.mark.parametrize("bad", [0, 9, 65535])
def test_invalid_orientation_is_ignored(bad):
    data = with_orientation(marked_image(96, 64), bad)
    result = decode_image(data, input_size=64)
    assert (result.width, result.height) == (96, 64)
    assert_colour(corner_pixel(result.pixels, (0, 0)), RED, tol=10)


# --------------------------------------------------------------------------
# JPEG draft mode
# --------------------------------------------------------------------------


@pytest.fixture
def draft_spy(monkeypatch):
    calls = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        before = self.size
        result = original(self, mode, size)
        calls.append({"mode": mode, "request": size, "before": before, "after": self.size,
                      "result": result})
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    return calls


def test_draft_is_used_on_large_jpeg_and_output_is_correct(big_jpeg, draft_spy):
    result = decode_image(big_jpeg)
    assert len(draft_spy) == 1
    call = draft_spy[0]
    assert call["mode"] == "RGB"
    assert call["request"] == (256, 256)  # max(input_size, thumb_size)
    assert call["before"] == (4000, 3000)
    # 4000x3000 decoded at 1/8 scale: 500x375, still >= 256 in both axes
    assert call["after"] == (500, 375)
    assert call["result"] is not None and call["result"][1] == (0, 0, 500.0, 375.0)
    assert (result.width, result.height) == (4000, 3000)  # full size reported

    with Image.open(io.BytesIO(big_jpeg)) as full:
        full.load()
        reference = np.asarray(full.resize((224, 224), Image.Resampling.BICUBIC,
                                           reducing_gap=2.0)).astype(int)
        ref_thumb = np.asarray(full.resize((256, 192), Image.Resampling.LANCZOS)).astype(int)
        ref_crop = np.asarray(full.resize((224, 224), Image.Resampling.BICUBIC,
                                          box=(500, 0, 3500, 3000))).astype(int)
    diff = np.abs(reference - result.pixels.astype(int))
    assert diff.mean() < 3, diff.mean()
    thumb = np.asarray(thumb_image(result)).astype(int)
    assert thumb.shape == ref_thumb.shape
    assert np.abs(thumb - ref_thumb).mean() < 4
    crop = decode_image(big_jpeg, resize_mode="center_crop").pixels.astype(int)
    assert np.abs(crop - ref_crop).mean() < 3


_DRAFT_SOURCES: dict[tuple[int, int], bytes] = {}


@pytest.mark.parametrize(
    "size", [(2000, 1500), (1500, 2000), (3000, 400), (400, 3000), (1024, 1024), (300, 300)]
)
@pytest.mark.parametrize("input_size, thumb_size", [(224, 256), (299, 128), (512, 256), (64, 64)])
def test_draft_never_smaller_than_needed(size, input_size, thumb_size, draft_spy):
    if size not in _DRAFT_SOURCES:
        _DRAFT_SOURCES[size] = encode(Image.new("RGB", size, (200, 100, 50)), "JPEG")
    for mode in ("squash", "center_crop"):
        draft_spy.clear()
        result = decode_image(_DRAFT_SOURCES[size], input_size=input_size,
                              thumb_size=thumb_size, resize_mode=mode)
        need = max(input_size, thumb_size)
        after = draft_spy[0]["after"]
        assert min(after) >= min(need, min(size)), (after, need)
        assert result.pixels.shape == (input_size, input_size, 3)
        assert max(thumb_image(result).size) == min(thumb_size, max(size))


def test_draft_not_applied_to_png(monkeypatch):
    calls = []
    monkeypatch.setattr(Image.Image, "draft", lambda self, mode, size: calls.append(1))
    decode_image(encode(Image.new("RGB", (1200, 900)), "PNG"))
    assert calls == []


# --------------------------------------------------------------------------
# capture time
# --------------------------------------------------------------------------


def jpeg_with_exif(**tags) -> bytes:
    exif = Image.Exif()
    sub = exif.get_ifd(0x8769)
    if "datetime" in tags:
        exif[0x0132] = tags["datetime"]
    if "original" in tags:
        sub[0x9003] = tags["original"]
    if "subsec_original" in tags:
        sub[0x9291] = tags["subsec_original"]
    return encode(Image.new("RGB", (32, 32), (1, 2, 3)), "JPEG", exif=exif)


def utc(*args) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def test_capture_time_from_datetime_original():
    data = jpeg_with_exif(original="2021:07:04 12:34:56", datetime="2022:01:01 00:00:00")
    assert decode_image(data).capture_time == utc(2021, 7, 4, 12, 34, 56)


def test_capture_time_with_subseconds():
    data = jpeg_with_exif(original="2021:07:04 12:34:56", subsec_original="25")
    assert decode_image(data).capture_time == pytest.approx(utc(2021, 7, 4, 12, 34, 56) + 0.25)


def test_capture_time_falls_back_to_datetime():
    data = jpeg_with_exif(datetime="2019:12:31 23:59:59")
    assert decode_image(data).capture_time == utc(2019, 12, 31, 23, 59, 59)


@pytest.mark.parametrize(
    "value", ["0000:00:00 00:00:00", "    :  :     :  :  ", "garbage", "2021:13:45 99:00:00", ""]
)
def test_garbled_capture_time_is_none(value):
    assert decode_image(jpeg_with_exif(original=value)).capture_time is None


def test_garbled_original_falls_back_to_datetime():
    data = jpeg_with_exif(original="0000:00:00 00:00:00", datetime="2020:02:29 10:00:00")
    assert decode_image(data).capture_time == utc(2020, 2, 29, 10, 0, 0)


def test_no_exif_capture_time_is_none():
    assert decode_image(encode(Image.new("RGB", (8, 8)), "PNG")).capture_time is None


def test_read_exif_capture_time_helper():
    data = jpeg_with_exif(original="2001:02:03 04:05:06")
    with Image.open(io.BytesIO(data)) as img:
        assert read_exif_capture_time(img) == utc(2001, 2, 3, 4, 5, 6)
    with Image.open(io.BytesIO(encode(Image.new("RGB", (8, 8)), "PNG"))) as img:
        assert read_exif_capture_time(img) is None


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2021:07:04 12:34:56", (2021, 7, 4, 12, 34, 56)),
        ("2021-07-04T12:34:56", (2021, 7, 4, 12, 34, 56)),
        ("2021:07:04 12:34:56\x00", (2021, 7, 4, 12, 34, 56)),
        (b"2021:07:04 12:34", (2021, 7, 4, 12, 34, 0)),
        ("1955:01:02 03:04:05", (1955, 1, 2, 3, 4, 5)),
    ],
)
def test_parse_exif_datetime_variants(value, expected):
    assert decode._parse_exif_datetime(value) == utc(*expected)


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


def test_zero_bytes():
    with pytest.raises(DecodeError) as info:
        decode_image(b"")
    assert info.value.reason == "empty file (0 bytes)"
    assert str(info.value) == info.value.reason


def test_truncated_jpeg_is_an_error(big_jpeg):
    for cut in (len(big_jpeg) // 2, len(big_jpeg) - 2, 400, 40):
        with pytest.raises(DecodeError) as info:
            decode_image(big_jpeg[:cut])
        assert info.value.reason == "truncated or corrupt JPEG", cut


def test_truncated_png_is_an_error():
    data = encode(gradient_image(400, 300), "PNG")
    for cut in (len(data) // 2, 60, 30):
        with pytest.raises(DecodeError) as info:
            decode_image(data[:cut])
        assert info.value.reason == "truncated or corrupt PNG", cut


def test_random_bytes():
    with pytest.raises(DecodeError) as info:
        decode_image(random.Random(7).randbytes(5000))
    assert info.value.reason.startswith("not an image")


@pytest.mark.parametrize(
    "payload, hint",
    [
        (b"Shopping list:\n- milk\n- eggs\n", "text"),
        (b"<!DOCTYPE html>\n<html><head><title>404</title></head></html>", "HTML"),
        ("Prüfbericht – überall ünïcödé\n".encode() * 40, "text"),
    ],
)
def test_text_named_jpg_is_not_an_image(tmp_path, payload, hint):
    path = tmp_path / "holiday.jpg"
    path.write_bytes(payload)
    with pytest.raises(DecodeError) as info:
        decode_image(path.read_bytes())
    assert info.value.reason.startswith("not an image")
    assert hint in info.value.reason
    assert not isinstance(info.value, UnsupportedFormatError)


def huge_png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))


def test_bomb_png_header_rejected_before_decoding():
    data = huge_png_header(40000, 40000)
    assert len(data) < 200
    with pytest.raises(DecodeError) as info:
        decode_image(data)
    assert info.value.reason == "image too large: 40000x40000 pixels (limit 250 MP)"


def test_bomb_jpeg_header_rejected():
    data = bytearray(encode(Image.new("RGB", (16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 60000, 60000)  # height, width
    with pytest.raises(DecodeError) as info:
        decode_image(bytes(data))
    assert "image too large: 60000x60000" in info.value.reason


def test_bomb_gif_header_rejected():
    data = bytearray(encode(Image.new("P", (16, 16)), "GIF"))
    struct.pack_into("<HH", data, 6, 65535, 65535)
    with pytest.raises(DecodeError) as info:
        decode_image(bytes(data))
    assert "image too large" in info.value.reason


def test_max_pixels_argument():
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(DecodeError) as info:
        decode_image(data, max_pixels=5000)
    assert info.value.reason == "image too large: 100x100 pixels (limit 0.005 MP)"
    assert decode_image(data, max_pixels=10_000).width == 100


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "GIF", "BMP", "WEBP"])
def test_pillow_bomb_limit_is_ours_not_pillows(monkeypatch, fmt):
    """Above Image.MAX_IMAGE_PIXELS Pillow would warn; within max_pixels we decode quietly."""
    img = Image.new("RGB", (300, 200), (0, 128, 255))
    if fmt == "GIF":
        img = img.convert("P")
    data = encode(img, fmt)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)  # 60_000 px: warning territory
    result = decode_image(data)  # filterwarnings=error: any warning would raise
    assert (result.width, result.height) == (300, 200)
    assert Image.MAX_IMAGE_PIXELS == 50_000  # global left alone


def test_single_strip_tiff_over_pillow_limit_decodes_quietly(monkeypatch):
    # TIFF re-checks Pillow's global limit on the strip size while loading.
    data = encode(Image.new("RGB", (300, 200), (9, 99, 199)), "TIFF", strip_size=1 << 20)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)
    plain = TiffImagePlugin.TiffImageFile(io.BytesIO(data))  # no Image.open check
    with pytest.warns(Image.DecompressionBombWarning):
        plain.load()  # this is what would leak without our guard
    result = decode_image(data)
    assert_colour(result.pixels[5, 5], (9, 99, 199), tol=0)


@pytest.mark.parametrize("fmt", ["TIFF", "WEBP", "PNG"])
def test_pillow_bomb_error_never_escapes(monkeypatch, fmt):
    params = {"strip_size": 1 << 20} if fmt == "TIFF" else {}
    data = encode(Image.new("RGB", (300, 200)), fmt, **params)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)  # 60_000 px > 2x: Pillow errors
    if fmt == "PNG":  # PNG has no load-time check: our limit is the only one
        assert decode_image(data).width == 300
        return
    with pytest.raises(DecodeError) as info:
        decode_image(data)
    assert info.value.reason.startswith("image too large")
    assert "60000" in info.value.reason or "300x200" in info.value.reason or "0.06 MP" in info.value.reason


def test_heic_without_pillow_heif(monkeypatch):
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # makes `import pillow_heif` fail
    monkeypatch.setattr(decode, "_heif_state", None)
    data = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200)
    with pytest.raises(UnsupportedFormatError) as info:
        decode_image(data)
    assert info.value.reason == "HEIC needs pillow-heif: pip install 'simdesk[heif]'"
    assert isinstance(info.value, DecodeError)
    assert heif_available() is False


def test_heif_available_returns_bool():
    assert isinstance(heif_available(), bool)


def test_mp4_is_not_mistaken_for_heic():
    data = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(200)
    with pytest.raises(DecodeError) as info:
        decode_image(data)
    assert not isinstance(info.value, UnsupportedFormatError)
    assert info.value.reason.startswith("not an image")


def _samples() -> dict[str, bytes]:
    img = gradient_image(160, 120, seed=3)
    return {
        "JPEG": encode(img, "JPEG"),
        "PNG": encode(img, "PNG"),
        "GIF": encode(img.convert("P"), "GIF"),
        "WEBP": encode(img, "WEBP"),
        "TIFF": encode(img, "TIFF"),
        "BMP": encode(img, "BMP"),
        "EXIF-JPEG": with_orientation(img, 6),
    }


@pytest.mark.parametrize("name", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "EXIF-JPEG"])
def test_fuzzed_files_only_ever_raise_decode_error(name):
    """Truncations and byte flips anywhere: a DecodedImage or a DecodeError, nothing else."""
    original = _samples()[name]
    rng = random.Random(name)
    variants = [original[:n] for n in sorted({1, 2, 5, 12, 16, 30, 64, 100, len(original) // 3,
                                                len(original) - 1})]
    for _ in range(40):
        mutated = bytearray(original)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(min(len(mutated), 400))  # headers are where parsers break
            mutated[pos] = rng.randrange(256)
        variants.append(bytes(mutated))
    for data in variants:
        try:
            result = decode_image(data, input_size=32, thumb_size=48)
        except DecodeError as exc:
            assert exc.reason and isinstance(exc.reason, str)
        else:
            assert result.pixels.shape == (32, 32, 3)


# --------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------


def test_concurrent_decodes_match_sequential():
    payloads = [encode(gradient_image(800, 600, seed=s), fmt)
                for s, fmt in enumerate(["JPEG", "PNG", "WEBP", "JPEG", "TIFF", "GIF"])]
    payloads[5] = encode(gradient_image(800, 600, seed=5).convert("P"), "GIF")
    sequential = [decode_image(p) for p in payloads]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(decode_image, payloads * 4))
    for i, result in enumerate(parallel):
        expected = sequential[i % len(payloads)]
        assert np.array_equal(result.pixels, expected.pixels)
        assert result.thumbnail == expected.thumbnail


# --------------------------------------------------------------------------
# pillow-heif plumbing (with a fake pillow_heif module; the real one is optional)
# --------------------------------------------------------------------------

FAKE_HEIC_HEADER = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"  # 24 bytes


class _FakeHeifImageFile(ImageFile.ImageFile):
    """Stands in for pillow-heif's opener: 8x8 raw RGB right after the ftyp box."""

    format = "HEIF"
    format_description = "fake HEIF for tests"

    def _open(self) -> None:
        self._mode = "RGB"
        self._size = (8, 8)
        self.tile = [("raw", (0, 0, 8, 8), len(FAKE_HEIC_HEADER), ("RGB", 0, 1))]


def test_heic_decodes_through_lazily_registered_pillow_heif(monkeypatch):
    registrations = []

    def register_heif_opener():
        registrations.append(1)
        Image.register_open("HEIF", _FakeHeifImageFile,
                            lambda prefix: prefix[4:12] == b"ftypheic")

    fake = types.ModuleType("pillow_heif")
    fake.register_heif_opener = register_heif_opener
    monkeypatch.setitem(sys.modules, "pillow_heif", fake)
    monkeypatch.setattr(decode, "_heif_state", None)
    # keep Pillow's global registry as it was once the test ends
    monkeypatch.setattr(Image, "ID", list(Image.ID))
    monkeypatch.setattr(Image, "OPEN", dict(Image.OPEN))

    decode_image(encode(Image.new("RGB", (16, 16)), "JPEG"))
    assert registrations == []  # not touched for ordinary files

    data = FAKE_HEIC_HEADER + bytes(RED) * 64
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda d: decode_image(d, input_size=8), [data] * 8))
    assert registrations == [1]  # exactly once, even from several threads
    for result in results:
        assert result.format == "HEIF"
        assert (result.width, result.height) == (8, 8)
        assert_colour(result.pixels[4, 4], RED, tol=0)
    assert heif_available() is True

    with pytest.raises(DecodeError) as info:  # decoder present, data broken: not "unsupported"
        decode_image(FAKE_HEIC_HEADER + bytes(10))
    assert not isinstance(info.value, UnsupportedFormatError)
    assert info.value.reason == "truncated or corrupt HEIF"


def test_small_upright_jpeg_is_its_own_thumbnail():
    data = encode(Image.new("RGB", (200, 150), (10, 200, 30)), "JPEG")
    assert decode_image(data, thumb_size=256).thumbnail == data
    # Larger than the thumbnail, or needing rotation: re-encoded.
    big = encode(Image.new("RGB", (600, 400), (10, 200, 30)), "JPEG")
    assert decode_image(big, thumb_size=256).thumbnail != big


def test_decode_memory_is_bounded_across_workers_by_one_pixel_budget(monkeypatch):
    """Four workers decoding at once hold no more pixels together than the shared budget (14.7)."""
    import io as _io
    import threading
    import time as _time

    from PIL import Image as _Image

    import simdesk.core.decode as decode_module

    buf = _io.BytesIO()
    _Image.new("RGB", (40, 30), (10, 20, 30)).save(buf, "PNG")
    png = buf.getvalue()
    monkeypatch.setattr(decode_module, "DECODE_PIXEL_BUDGET", decode_module.PixelBudget(2000))
    active, peak, lock = [0], [0], threading.Lock()
    real = decode_module._decode_loaded

    def counting(*args, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        _time.sleep(0.05)
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(decode_module, "_decode_loaded", counting)
    threads = [threading.Thread(target=decode_module.decode_image, args=(png,), kwargs={"input_size": 8})
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak[0] == 1  # 1200 pixels each: only one fits in a 2000-pixel budget at a time
