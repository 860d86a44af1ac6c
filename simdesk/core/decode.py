"""Decode one photo file's bytes into CNN input pixels, a JPEG thumbnail and metadata.

The indexer reads each file itself (it hashes the bytes once) and calls
:func:`decode_image` from a pool of worker threads, so this module is
thread-safe: every call works on its own Pillow objects, and the only shared
state is the lazily imported/registered pillow-heif opener and a lock that
serialises the rare images bigger than Pillow's own decompression-bomb limit.

Policies (see the comments at each for the reasoning):

* **Decompression bombs.** The pixel count from the header is checked against
  ``max_pixels`` *before* anything is decoded, for every format (JPEG too:
  although draft mode decodes a huge JPEG at 1/8 scale, a progressive JPEG
  still makes libjpeg buffer every DCT coefficient of the full image, about
  3 bytes per pixel, so a header claiming 65535x65535 is a real memory bomb).
  Pillow's own global limit (``Image.MAX_IMAGE_PIXELS``) is left untouched;
  images are opened without ``Image.open`` so its open-time check never warns
  or raises, and ours is the one that counts.
* **Truncated files are errors.** ``ImageFile.LOAD_TRUNCATED_IMAGES`` stays
  off. A truncated JPEG decodes to a photo whose bottom is flat grey; indexed,
  it would look like a near-duplicate of the complete copy and could lead the
  user to keep the broken file and delete the good one. An error lets the UI
  flag the file as damaged instead.
* **Resampling.** JPEGs are decoded with DCT scaling (``Image.draft``) to the
  smallest 1/1, 1/2, 1/4 or 1/8 scale that is still at least as large as the
  biggest output in both axes; other big images are first box-reduced with
  ``Image.reduce`` to about twice the needed size. The final resize is
  Pillow's antialiased BICUBIC for the CNN input and LANCZOS for the
  thumbnail.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import re
import struct
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
from PIL import Image

from simdesk.core.provenance import Provenance, read_provenance
from simdesk.core.raw import RAW_EXTENSIONS, RAW_INSTALL_HINT, open_raw, raw_kind

__all__ = [
    "IMAGE_EXTENSIONS",
    "DecodeError",
    "UnsupportedFormatError",
    "DecodedImage",
    "decode_image",
    "heif_available",
    "read_exif_capture_time",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {
        # JPEG (and MPO, the multi-picture JPEG many cameras write)
        ".jpg", ".jpeg", ".jpe", ".jfif", ".jif", ".mpo",
        ".png", ".apng",
        ".gif",
        ".bmp", ".dib",
        ".tif", ".tiff",
        ".webp",
        # HEIF family: HEIC needs pillow-heif; AVIF is native in Pillow >= 11.3
        ".heic", ".heif", ".hif", ".avif",
        # JPEG 2000 (Pillow wheels ship OpenJPEG)
        ".jp2", ".j2k", ".jpf", ".jpx",
    }
) | RAW_EXTENSIONS  # camera RAW: needs rawpy (simdesk.core.raw)

# Pillow format names we are willing to decode. Restricting the candidates
# (instead of trying all ~40 Pillow plugins) keeps random bytes or a text file
# from being "identified" as, say, a TGA or PPM image, and keeps the attack
# surface to well-exercised decoders. "HEIF" is pillow-heif's plugin.
_ALLOWED_FORMATS: frozenset[str] = frozenset(
    {"JPEG", "MPO", "PNG", "GIF", "BMP", "DIB", "TIFF", "WEBP", "AVIF", "HEIF", "JPEG2000"}
)
_DRAFT_FORMATS = frozenset({"JPEG", "MPO"})

_HEIF_INSTALL_HINT = "pip install 'simdesk[heif]'"

# ISO-BMFF "ftyp" brands.
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_GENERIC_BRANDS = frozenset({b"mif1", b"msf1", b"mif2", b"miaf"})

_ORIENTATION_TAG = 0x0112
_EXIF_IFD_TAG = 0x8769
_DATETIME_TAG = 0x0132
_DATETIME_ORIGINAL_TAG = 0x9003
_SUBSEC_TIME_TAG = 0x9290
_SUBSEC_TIME_ORIGINAL_TAG = 0x9291


class DecodeError(Exception):
    """The bytes could not be turned into an image; ``reason`` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsupportedFormatError(DecodeError):
    """A recognised image format that this installation cannot decode."""


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # uint8 (input_size, input_size, 3) RGB
    thumbnail: bytes  # JPEG, longest side <= thumb_size
    width: int  # full size after EXIF orientation
    height: int
    capture_time: float | None  # POSIX seconds, EXIF time read as UTC
    format: str  # Pillow format name, e.g. "JPEG"
    provenance: Provenance = Provenance()  # camera, editing software, JPEG quality
    image: Any = None  # with keep_image: the upright RGB PIL image as decoded (at least need px)


# --------------------------------------------------------------------------
# Lazily initialised shared state
# --------------------------------------------------------------------------

_plugins_lock = threading.Lock()
_plugins_ready = False

_heif_lock = threading.Lock()
_heif_state: bool | None = None  # None: not tried yet

# Images larger than Pillow's global limit are decoded one at a time: this is
# the only place we touch the (process-global, not thread-safe) warnings
# filters, and it also caps peak memory when several huge files come at once.
_huge_lock = threading.Lock()


class PixelBudget:
    """Pixels being decoded at once, across every decode thread of the process.

    Decoding costs memory in proportion to the pixel count (a 9400x9400 palette PNG takes about
    1.3 GB), so without a shared bound the peak grows with the number of workers. Each decode
    holds its pixel count (at most the whole budget: one image larger than the budget runs
    alone) and waits while the others' would not leave room.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self._free = total
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int):
        need = max(1, min(int(pixels), self.total))
        with self._cond:
            while self._free < need:
                self._cond.wait()
            self._free -= need
        try:
            yield
        finally:
            with self._cond:
                self._free += need
                self._cond.notify_all()


# About 100 MP in flight: four 24 MP photos at once, a 100 MP one alone (roughly 1.5 GB at peak).
DECODE_PIXEL_BUDGET = PixelBudget(int(os.environ.get("SIMDESK_DECODE_PIXELS", 100_000_000)))


def _ensure_plugins() -> None:
    """Import the Pillow plugins for the allowed formats (once; cheap afterwards)."""
    global _plugins_ready
    if _plugins_ready:
        return
    with _plugins_lock:
        if _plugins_ready:
            return
        import importlib

        for name in (
            "JpegImagePlugin",
            "MpoImagePlugin",
            "PngImagePlugin",
            "GifImagePlugin",
            "BmpImagePlugin",
            "TiffImagePlugin",
            "WebPImagePlugin",
            "AvifImagePlugin",  # Pillow >= 11.3
            "Jpeg2KImagePlugin",
        ):
            try:
                importlib.import_module(f"PIL.{name}")
            except ImportError:
                pass
        _plugins_ready = True


def _native_avif() -> bool:
    try:
        from PIL import AvifImagePlugin
    except ImportError:
        return False
    return bool(getattr(AvifImagePlugin, "SUPPORTED", False))


def _ensure_heif() -> bool:
    """Import pillow-heif and register its opener, once, thread-safely."""
    global _heif_state
    if _heif_state is not None:
        return _heif_state
    with _heif_lock:
        if _heif_state is None:
            try:
                import pillow_heif

                pillow_heif.register_heif_opener()
                # pillow-heif < 1.0 can also read AVIF; only use it when Pillow can't.
                register_avif = getattr(pillow_heif, "register_avif_opener", None)
                if register_avif is not None and not _native_avif():
                    with warnings.catch_warnings():  # it is deprecated in some versions
                        warnings.simplefilter("ignore", DeprecationWarning)
                        register_avif()
                _heif_state = True
            except Exception:  # ImportError, or a broken native install
                _heif_state = False
    return _heif_state


def heif_available() -> bool:
    """True if HEIC/HEIF files can be decoded (pillow-heif importable; registers it)."""
    return _ensure_heif()


# --------------------------------------------------------------------------
# Sniffing helpers
# --------------------------------------------------------------------------


def _ftyp_brands(head: bytes) -> tuple[bytes, set[bytes]] | None:
    """Major brand and all brands of an ISO-BMFF file, or None if not one."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    major = head[8:12]
    box_size = struct.unpack(">I", head[0:4])[0]
    end = min(len(head), box_size if box_size >= 16 else 16)
    brands = {major}
    for i in range(16, end - 3, 4):
        brands.add(head[i : i + 4])
    return major, brands


def _heif_kind(head: bytes) -> str | None:
    """'heic', 'avif', 'heif' (generic container) or None."""
    parsed = _ftyp_brands(head)
    if parsed is None:
        return None
    major, brands = parsed
    if major in _AVIF_BRANDS:
        return "avif"
    if major in _HEIC_BRANDS:
        return "heic"
    if brands & _AVIF_BRANDS:
        return "avif"
    if brands & _HEIC_BRANDS:
        return "heic"
    if brands & _HEIF_GENERIC_BRANDS:
        return "heif"
    return None


def _not_an_image_reason(head: bytes) -> str:
    """'not an image', with a hint about what the data looks like."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    hint = None
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        hint = "looks like an HTML page"
    elif stripped.startswith((b"<svg", b"<?xml")):
        hint = "SVG/XML document"
    elif head.startswith(b"%PDF"):
        hint = "PDF document"
    elif head.startswith(b"PK\x03\x04"):
        hint = "ZIP archive"
    elif _ftyp_brands(head) is not None:
        hint = "video or other ISO media file"
    elif b"\x00" not in head:
        try:
            # incremental: a multi-byte character cut at the end of `head` is fine
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            pass
        else:
            hint = "looks like a text file"
    return f"not an image ({hint})" if hint else "not an image"


def _format_mp(pixels: int) -> str:
    return f"{pixels / 1e6:.4g} MP"


# --------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------

# Exceptions with which a Pillow plugin says "this is not my format" (the same
# set Image.open swallows before trying the next plugin).
_NOT_MY_FORMAT = (SyntaxError, IndexError, TypeError, struct.error)


def _open_image(data: bytes, head: bytes) -> Any:
    """Identify and open (lazily, header only) an image of an allowed format.

    This mirrors ``Image.open`` but (a) only tries ``_ALLOWED_FORMATS`` and
    (b) skips its decompression-bomb check, which would warn above
    ``Image.MAX_IMAGE_PIXELS`` (about 89 MP, so a 100 MP camera file) and
    raise above twice that, before we can apply our own ``max_pixels``.
    """
    registry_ids = getattr(Image, "ID", None)
    registry = getattr(Image, "OPEN", None)
    if registry_ids is None or registry is None:  # pragma: no cover - very old/new Pillow
        return Image.open(io.BytesIO(data), formats=sorted(_ALLOWED_FORMATS))

    fp = io.BytesIO(data)
    prefix = head[:16]
    accepted: list[str] = []
    unsupported: list[str] = []
    last_error: BaseException | None = None
    for fmt in list(registry_ids):  # copy: another thread may register plugins
        if fmt not in _ALLOWED_FORMATS:
            continue
        entry = registry.get(fmt)
        if entry is None:
            continue
        factory, accept = entry
        try:
            result = accept(prefix) if accept else True
        except Exception:
            continue
        if isinstance(result, str):  # "recognised, but support not installed"
            unsupported.append(result)
            continue
        if not result:
            continue
        accepted.append(fmt)
        fp.seek(0)
        try:
            return factory(fp, "")
        except _NOT_MY_FORMAT as exc:
            last_error = exc
            continue
        except Image.DecompressionBombError:
            raise
        except Exception as exc:  # OSError("Truncated File Read"), ValueError, ...
            raise DecodeError(f"truncated or corrupt {fmt}") from exc

    if accepted:
        raise DecodeError(f"truncated or corrupt {accepted[0]}") from last_error
    if unsupported:
        raise UnsupportedFormatError(unsupported[0])
    raise DecodeError(_not_an_image_reason(head))


def _open_any(data: bytes) -> Any:
    if raw_kind(data):  # camera RAW: LibRaw through rawpy, the `raw` extra
        try:
            return open_raw(data)
        except ImportError:
            raise UnsupportedFormatError(f"RAW photo needs rawpy: {RAW_INSTALL_HINT}") from None
        except Exception as exc:  # rawpy's LibRaw errors: unsupported camera, damaged file
            raise UnsupportedFormatError(f"RAW photo LibRaw cannot read ({type(exc).__name__})") from exc
    head = bytes(data[:512])
    kind = _heif_kind(head)
    if kind is None:
        return _open_image(data, head)

    # HEIF family: make sure a decoder is registered before trying.
    native_avif = _native_avif()
    have_heif = False
    if kind != "avif" or not native_avif:
        have_heif = _ensure_heif()
    decoder_present = (native_avif or have_heif) if kind == "avif" else have_heif
    try:
        return _open_image(data, head)
    except DecodeError as exc:
        if decoder_present:
            raise
        if kind == "avif":
            raise UnsupportedFormatError(
                "AVIF needs Pillow >= 11.3 built with AVIF support, or pillow-heif: "
                + _HEIF_INSTALL_HINT
            ) from exc
        label = "HEIC" if kind == "heic" else "HEIF"
        raise UnsupportedFormatError(f"{label} needs pillow-heif: {_HEIF_INSTALL_HINT}") from exc


# --------------------------------------------------------------------------
# EXIF
# --------------------------------------------------------------------------

_EXIF_DATETIME_RE = re.compile(
    r"^\s*(\d{4})[:\-./](\d{1,2})[:\-./](\d{1,2})"
    r"(?:[ T]+(\d{1,2})[:.](\d{1,2})(?:[:.](\d{1,2}))?)?"
)


def _parse_exif_datetime(value: Any, subsec: Any = None) -> float | None:
    """'YYYY:MM:DD HH:MM:SS' (+ optional SubSecTime digits) -> POSIX seconds, naive = UTC."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    match = _EXIF_DATETIME_RE.match(value.strip("\x00 "))
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
    if year < 1800:  # "0000:00:00 00:00:00" and friends
        return None
    try:
        stamp = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc).timestamp()
    except (ValueError, OverflowError):
        return None
    if subsec is not None:
        if isinstance(subsec, bytes):
            subsec = subsec.decode("ascii", "replace")
        digits = re.match(r"\s*(\d{1,9})", str(subsec).strip("\x00 "))
        if digits:
            stamp += int(digits.group(1)) / 10 ** len(digits.group(1))
    return stamp


def _capture_time_from_exif(exif: Any) -> float | None:
    try:
        sub = exif.get_ifd(_EXIF_IFD_TAG)
    except Exception:
        sub = {}
    candidates = (
        (sub.get(_DATETIME_ORIGINAL_TAG), sub.get(_SUBSEC_TIME_ORIGINAL_TAG)),
        (exif.get(_DATETIME_ORIGINAL_TAG), None),  # misplaced in IFD0 by some writers
        (exif.get(_DATETIME_TAG), sub.get(_SUBSEC_TIME_TAG)),
    )
    for value, subsec in candidates:
        try:
            stamp = _parse_exif_datetime(value, subsec)
        except Exception:
            stamp = None
        if stamp is not None:
            return stamp
    return None


def read_exif_capture_time(img: Image.Image) -> float | None:
    """EXIF DateTimeOriginal (else DateTime) of an opened image as POSIX seconds.

    The EXIF time has no zone; it is read as if it were UTC, so sorting and
    differences are right and the wall-clock value round-trips through
    ``datetime.fromtimestamp(t, timezone.utc)``. Never raises: None if absent
    or garbled.
    """
    try:
        return _capture_time_from_exif(img.getexif())
    except Exception:
        return None


def _orientation(exif: Any) -> int:
    try:
        value = exif.get(_ORIENTATION_TAG, 1)
        if isinstance(value, (tuple, list)):
            value = value[0]
        value = int(value)
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


# --------------------------------------------------------------------------
# Mode conversion
# --------------------------------------------------------------------------


def _composite_on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba.convert("RGB"), (0, 0), rgba.getchannel("A"))
    return background


def _high_bit_depth_to_l(img: Image.Image) -> Image.Image:
    """I;16*, I and F greyscale to 8-bit L by scaling, not clipping.

    (``convert("L")`` clips: every 16-bit value above 255 becomes white.)
    16-bit data is scaled by its full range 0..65535; I and F data outside
    the usual ranges are min-max stretched.
    """
    arr = np.asarray(img)
    if arr.dtype.kind in "ui":
        lo = int(arr.min()) if arr.size else 0
        hi = int(arr.max()) if arr.size else 0
        if lo >= 0 and hi <= 65535:
            out = (arr.astype(np.uint16, copy=False) >> 8).astype(np.uint8)
        else:
            span = max(hi - lo, 1)
            out = ((arr.astype(np.float64) - lo) * (255.0 / span) + 0.5).astype(np.uint8)
    else:
        arr = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        lo = float(arr.min()) if arr.size else 0.0
        hi = float(arr.max()) if arr.size else 0.0
        if lo >= 0.0 and hi <= 1.0:
            scaled = arr * 255.0
        elif lo >= 0.0 and hi <= 255.0:
            scaled = arr
        elif lo >= 0.0 and hi <= 65535.0:
            scaled = arr / 257.0
        else:
            scaled = (arr - lo) * (255.0 / max(hi - lo, 1e-12))
        out = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(out))


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB; transparency is composited onto white."""
    mode = img.mode
    has_trns = "transparency" in img.info
    if mode == "RGB":
        return _composite_on_white(img.convert("RGBA")) if has_trns else img
    if mode == "La":  # premultiplied; Pillow has no direct La -> RGBA conversion
        img, mode = img.convert("LA"), "LA"
    if mode in ("RGBA", "LA", "PA", "RGBa"):
        return _composite_on_white(img if mode == "RGBA" else img.convert("RGBA"))
    if mode in ("P", "L") and has_trns:
        return _composite_on_white(img.convert("RGBA"))
    if mode == "P" and img.palette is not None and img.palette.mode == "RGBA":
        return _composite_on_white(img.convert("RGBA"))
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _high_bit_depth_to_l(img).convert("RGB")
    # L, 1, P, CMYK (Pillow already undoes Adobe's inverted CMYK), YCbCr, LAB, HSV
    return img.convert("RGB")


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------


_REUSE_AS_THUMBNAIL_BYTES = 96 * 1024


def _center_box(width: int, height: int) -> tuple[float, float, float, float]:
    side = min(width, height)
    left = (width - side) / 2
    top = (height - side) / 2
    return (left, top, left + side, top + side)


def _thumb_size(width: int, height: int, thumb_size: int) -> tuple[int, int]:
    longest = max(width, height)
    if longest <= thumb_size:
        return width, height
    scale = thumb_size / longest
    return (
        max(1, min(thumb_size, round(width * scale))),
        max(1, min(thumb_size, round(height * scale))),
    )


def _decode_loaded(
    img: Any,
    fmt: str,
    size: tuple[int, int],
    input_size: int,
    resize_mode: str,
    thumb_size: int,
    data: bytes = b"",
    keep_image: bool = False,
) -> DecodedImage:
    need = max(input_size, thumb_size)
    source_mode = img.mode
    if fmt in _DRAFT_FORMATS:
        # DCT-scaled decoding: libjpeg picks 1/8, 1/4, 1/2 or 1/1 so that the
        # result is still >= need in BOTH axes (the request is square, so an
        # EXIF rotation that swaps the axes later cannot make it too small).
        img.draft("RGB", (need, need))
    img.load()

    try:
        exif = img.getexif()
    except Exception:  # garbled metadata must not cost us the pixels
        exif = Image.Exif()
    orientation = _orientation(exif)
    capture_time = _capture_time_from_exif(exif)
    provenance = read_provenance(img, exif)

    rgb = _to_rgb(img)
    # Cheap box pre-reduction of big non-JPEG (or undraftable) images to about
    # 2x the needed size; the final antialiased resize does the rest.
    factor = min(rgb.size) // (2 * need)
    if factor >= 2:
        rgb = rgb.reduce(factor)
    transpose = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    if transpose is not None:
        rgb = rgb.transpose(transpose)

    width, height = size
    if orientation >= 5:  # 5..8 swap the axes
        width, height = height, width

    target = (input_size, input_size)
    if rgb.size == target:
        pix_img = rgb
    elif resize_mode == "center_crop":
        box = _center_box(*rgb.size)
        pix_img = rgb.resize(target, Image.Resampling.BICUBIC, box=box)
    else:
        pix_img = rgb if rgb.size == target else rgb.resize(target, Image.Resampling.BICUBIC)
    pixels = np.array(pix_img, dtype=np.uint8)  # own, writable, C-contiguous copy
    if pixels.shape != (input_size, input_size, 3):  # pragma: no cover - defensive
        raise DecodeError(f"internal error: unexpected pixel shape {pixels.shape}")

    tsize = _thumb_size(width, height, thumb_size)
    if (fmt == "JPEG" and source_mode == "RGB" and (width, height) == tsize and orientation == 1
            and len(data) <= _REUSE_AS_THUMBNAIL_BYTES):
        # A small upright JPEG is its own thumbnail: re-encoding it would cost time and quality.
        thumbnail = data
    else:
        thumb = rgb if rgb.size == tsize else rgb.resize(tsize, Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        thumb.save(buf, format="JPEG", quality=85)
        thumbnail = buf.getvalue()

    return DecodedImage(
        pixels=pixels,
        thumbnail=thumbnail,
        width=width,
        height=height,
        capture_time=capture_time,
        format=fmt,
        provenance=provenance,
        # The source image is closed when decode_image returns: hand out a copy if rgb is it.
        image=(rgb.copy() if rgb is img else rgb) if keep_image else None,
    )


def decode_image(
    data: bytes,
    *,
    input_size: int = 224,
    resize_mode: str = "squash",
    thumb_size: int = 256,
    max_pixels: int = 250_000_000,
    keep_image: bool = False,
) -> DecodedImage:
    """Decode an image file's bytes once into CNN pixels, a thumbnail and metadata.

    ``resize_mode``: "squash" resizes the whole image to input_size x
    input_size (aspect not kept, nothing cropped); "center_crop" scales the
    shorter side to input_size and crops the centre. Animated images give
    their first frame. Raises :class:`DecodeError` (or its subclass
    :class:`UnsupportedFormatError`) with a human ``reason`` for anything that
    is not a decodable image; ``ValueError`` only for bad arguments. ``keep_image``: also return
    the upright RGB image the outputs were made from (``image``), for more per-photo products.
    """
    if resize_mode not in ("squash", "center_crop"):
        raise ValueError(f"resize_mode must be 'squash' or 'center_crop', not {resize_mode!r}")
    if input_size < 1 or thumb_size < 1 or max_pixels < 1:
        raise ValueError("input_size, thumb_size and max_pixels must be positive")
    if len(data) == 0:
        raise DecodeError("empty file (0 bytes)")

    fmt = "image"
    size: tuple[int, int] | None = None
    img = None
    try:
        _ensure_plugins()
        img = _open_any(data)
        fmt = img.format or "image"
        size = (int(img.size[0]), int(img.size[1]))
        pixel_count = size[0] * size[1]
        if pixel_count > max_pixels:
            raise DecodeError(
                f"image too large: {size[0]}x{size[1]} pixels (limit {_format_mp(max_pixels)})"
            )
        pillow_limit = Image.MAX_IMAGE_PIXELS
        with DECODE_PIXEL_BUDGET.hold(pixel_count):
            if pillow_limit is not None and pixel_count > pillow_limit:
                # Some plugins (TIFF strips, GIF frames) re-check Pillow's global
                # limit while loading. We already applied ours, so silence the
                # warning -- under a lock, because the warnings filter list is
                # process-global and catch_warnings is not thread-safe.
                with _huge_lock, warnings.catch_warnings():
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    return _decode_loaded(img, fmt, size, input_size, resize_mode, thumb_size, data,
                                          keep_image)
            return _decode_loaded(img, fmt, size, input_size, resize_mode, thumb_size, data, keep_image)
    except DecodeError:
        raise
    except Image.DecompressionBombError as exc:
        if size:
            dims = f": {size[0]}x{size[1]} pixels"
        else:  # raised while opening (e.g. WebP checks in _open); take Pillow's count
            found = re.search(r"\((\d+) pixels\)", str(exc))
            dims = f": {_format_mp(int(found.group(1)))}" if found else ""
        raise DecodeError(f"image too large{dims} (over Pillow's safety limit)") from exc
    except MemoryError as exc:
        dims = f" {size[0]}x{size[1]}" if size else ""
        raise DecodeError(f"out of memory decoding{dims} {fmt}") from exc
    except Exception as exc:  # OSError, ValueError, SyntaxError, struct.error, zlib.error, ...
        message = str(exc)
        if isinstance(exc, OSError) and "decoder" in message and "not available" in message:
            raise UnsupportedFormatError(f"unsupported {fmt} variant ({message})") from exc
        raise DecodeError(f"truncated or corrupt {fmt}") from exc
    finally:
        if img is not None:
            try:
                img.close()
            except Exception:
                pass
