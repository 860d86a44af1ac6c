"""The bad-file zoo: dozens of kinds of broken, hostile or odd files in a library folder.

Each kind is put next to good photos; then `index` runs (with a memory limit and a timeout) and
`similar` is asked about the bad file itself. A kind survives when nothing crashes or hangs, the
bad file is skipped or indexed with a reason, and every good photo is still indexed (a good photo
missing from the index, or changed on disk, counts as lost).

    python tests/faults/bad_file_zoo.py                 # every kind
    python tests/faults/bad_file_zoo.py --only fifo,zero_link --memory-mb 2048

Prints tried / survived / lost and a line per kind that did not survive; exits 1 if any.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import struct
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TINY_MODEL, Sandbox, draw_photo, files_under  # noqa: E402


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, body: bytes = b"", colour_type: int = 2) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(body)) + \
        _png_chunk(b"IEND", b"")


def _good_jpeg(seed: int = 3) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (seed * 40 % 256, 90, 160)).save(buf, "JPEG")
    return buf.getvalue()


def _pil(fmt: str, size=(40, 30), mode="RGB", **kw) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, size, 128 if mode in ("L", "P", "I;16", "1") else (10, 200, 30)).save(buf, fmt, **kw)
    return buf.getvalue()


def make_zoo(folder: Path) -> dict[str, Path]:
    """kind -> the path made for it."""
    rng = random.Random(5)
    jpeg = _good_jpeg()
    kinds: dict[str, Path] = {}

    def put(kind: str, name: str, data: bytes | None) -> Path:
        path = folder / kind / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            path.write_bytes(data)
        kinds[kind] = path
        return path

    put("empty", "empty.jpg", b"")
    put("one_byte", "one.jpg", b"\xff")
    put("random_jpg", "random.jpg", rng.randbytes(50_000))
    put("random_png", "random.png", rng.randbytes(50_000))
    put("text_as_jpg", "notes.jpg", b"just some text\n" * 100)
    put("html_as_png", "page.png", b"<!doctype html><html><body>404</body></html>")
    put("truncated_jpeg", "cut.jpg", jpeg[: len(jpeg) // 2])
    put("jpeg_header_only", "head.jpg", jpeg[:200])
    put("jpeg_no_eoi", "noeoi.jpg", jpeg[:-2])
    put("jpeg_garbage_tail", "tail.jpg", jpeg + rng.randbytes(5000))
    put("jpeg_bad_huffman", "huff.jpg", jpeg[:300] + bytes(len(jpeg) - 300))
    put("jpeg_huge_dims", "huge.jpg", jpeg[:0] + jpeg.replace(b"\xff\xc0\x00\x11\x08\x00\x30\x00\x40",
                                                              b"\xff\xc0\x00\x11\x08\xff\xff\xff\xff"))
    put("png_bomb_dims", "bomb.png", _png(65535, 65535))
    put("png_big_palette", "palette.png", _png(9400, 9400, bytes(9400 * 10), colour_type=3))
    put("png_zero_dims", "zero.png", _png(0, 0))
    put("png_bad_crc", "crc.png", _png(10, 10, bytes(10 * 31))[:-5] + b"\x00\x00\x00\x00\x00")
    put("png_truncated", "cut.png", _pil("PNG", (200, 200))[:300])
    put("gif_truncated", "cut.gif", _pil("GIF", (60, 60), "P")[:40])
    put("gif_ok_animated", "anim.gif", _pil("GIF", (30, 30), "P", save_all=True,
                                            append_images=[__import__("PIL.Image").Image.new("P", (30, 30), 9)]))
    put("bmp_huge_dims", "huge.bmp", b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) +
        struct.pack("<IiiHHIIiiII", 40, 60000, 60000, 1, 24, 0, 0, 0, 0, 0, 0) + bytes(16))
    put("tiff_truncated", "cut.tif", _pil("TIFF", (100, 100))[:150])
    put("tiff_16bit", "deep.tif", _pil("TIFF", (30, 30), "I;16"))
    put("webp_truncated", "cut.webp", _pil("WEBP", (80, 80))[:60])
    put("webp_ok", "ok.webp", _pil("WEBP", (80, 80)))
    put("ico_as_jpg", "icon.jpg", _pil("ICO", (32, 32)))
    put("png_named_jpg", "really_png.jpg", _pil("PNG", (40, 30)))
    put("cmyk_jpeg", "cmyk.jpg", _pil("JPEG", (40, 30), "CMYK"))
    put("grey_jpeg", "grey.jpg", _pil("JPEG", (40, 30), "L"))
    put("one_pixel", "pixel.png", _pil("PNG", (1, 1)))
    put("extreme_aspect", "strip.png", _pil("PNG", (20000, 1)))
    put("exif_garbage", "exif.jpg", jpeg[:2] + b"\xff\xe1\x00\x40Exif\x00\x00" + rng.randbytes(58) + jpeg[2:])
    put("zip_as_jpg", "archive.jpg", b"PK\x03\x04" + rng.randbytes(200))
    put("pth_as_jpg", "weights.jpg", b"\x80\x02}q\x00." )
    put("heic_fake", "fake.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + rng.randbytes(100))
    put("avif_fake", "fake.avif", b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + rng.randbytes(100))
    put("svg_as_png", "vector.png", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    sparse = put("sparse_2gb", "sparse.jpg", None)
    with open(sparse, "wb") as fh:
        fh.truncate(2 << 30)
    fifo = put("fifo", "pipe.jpg", None)
    os.mkfifo(fifo)
    zero = put("zero_link", "zero.jpg", None)
    zero.symlink_to("/dev/zero")
    urandom = put("urandom_link", "urandom.jpg", None)
    urandom.symlink_to("/dev/urandom")
    broken = put("broken_link", "dangling.jpg", None)
    broken.symlink_to(folder / "no-such-file.jpg")
    loop = put("link_loop", "loop.jpg", None)
    loop.symlink_to(loop)
    dir_loop = put("dir_link_loop", "up", None)
    dir_loop.symlink_to("..")
    put("dir_named_jpg", "folder.jpg", None).mkdir()
    put("non_utf8_name", os.fsdecode(b"caf\xe9.jpg"), jpeg)
    put("newline_name", "line\nbreak.jpg", jpeg)
    put("long_name", "x" * 240 + ".jpg", jpeg)
    put("leading_dash", "-rf.jpg", jpeg)
    put("uppercase_ext", "LOUD.JPEG", jpeg)
    put("hidden_file", ".hidden.jpg", jpeg)
    put("no_extension_jpeg", "noext", jpeg)
    if os.geteuid() != 0:  # root reads anything
        locked = put("no_permission", "locked.jpg", jpeg)
        os.chmod(locked, 0)
    return kinds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated kinds")
    parser.add_argument("--good", type=int, default=8, help="good photos beside the zoo")
    parser.add_argument("--memory-mb", type=int, default=3072, help="address-space limit of each command")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per command")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    box = Sandbox(keep=args.keep)
    try:
        good = box.photos / "good"
        for i in range(args.good):
            draw_photo(good / f"good_{i}.jpg", seed=1000 + i, quality=90)
        before = files_under(good)
        zoo = make_zoo(box.photos / "zoo")
        if args.only:
            wanted = set(args.only.split(","))
            zoo = {k: v for k, v in zoo.items() if k in wanted}
        limit = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({args.memory_mb << 20}, {args.memory_mb << 20}));"
        box.cli = lambda *a: [sys.executable, "-c", limit + "import sys; from simdesk.cli import main; "
                              "sys.exit(main(sys.argv[1:]))", *a]
        failures: dict[str, str] = {}
        try:
            index = box.run("index", str(box.photos), "--model", TINY_MODEL, "--workers", "2", timeout=args.timeout)
            index_problem = None if index.returncode in (0, 1) and "Traceback" not in index.stderr else \
                f"index exit {index.returncode}: {index.stderr[-300:]}"
        except Exception as exc:  # subprocess.TimeoutExpired
            index_problem = f"index: {type(exc).__name__}"
        if index_problem:
            failures["(index)"] = index_problem
        lost = 0
        try:
            indexed = box.photo_count()
        except Exception:
            indexed = -1
        after = files_under(good)
        lost += sum(1 for p, d in before.items() if after.get(p) != d)
        import sqlite3

        db = sqlite3.connect(box.library / "library.db")
        paths = {os.fsdecode(r[0]) for r in db.execute("SELECT path FROM photos")}
        db.close()
        lost += sum(1 for p in before if p not in paths)
        for kind, path in zoo.items():
            try:
                out = box.run("similar", str(path), timeout=min(args.timeout, 60))
                text = out.stdout + out.stderr
                if "Traceback" in text or out.returncode not in (0, 1):
                    failures[kind] = f"similar exit {out.returncode}: {text.strip()[-200:]}"
            except Exception as exc:
                failures[kind] = f"similar: {type(exc).__name__} (hang?)"
        problems = box.run("problems", "--json")
        if problems.returncode != 0 or "Traceback" in problems.stderr:
            failures["(problems)"] = problems.stderr[-300:]
        tried = len(zoo)
        survived = sum(1 for k in zoo if k not in failures)
        print(f"zoo     tried {tried:4d}  survived {survived:4d}  lost {lost}   "
              f"(index: {indexed} rows for {len(before)} good photos + the readable zoo)")
        for kind, why in failures.items():
            print(f"  {kind}: {why}")
        return 1 if failures or lost else 0
    finally:
        box.close()


if __name__ == "__main__":
    sys.exit(main())
