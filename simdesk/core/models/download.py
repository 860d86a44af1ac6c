"""Resumable, verified HTTP downloads (used to fetch CNN weights on first run).

The file is streamed into ``<dest>.part``. If that file already exists, the
download resumes from its end with an HTTP ``Range`` request. Only after the
size and SHA-256 checks pass is the part file renamed onto ``dest``, so
``dest`` either does not exist or is complete and verified.

Standard library only; nothing here imports Qt. Progress is reported as core ``Progress``
values (unit "bytes") and cancel is a ``threading.Event`` (``Cancelled`` is raised), so a UI
worker thread can drive it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from simdesk.core.progress import Progress, ProgressCallback, check

__all__ = ["DownloadError", "sha256_file", "download"]

# Largest single read from the network. Small enough that cancel is noticed
# promptly, large enough that per-chunk overhead is negligible.
READ_CHUNK_SIZE = 64 * 1024
# Report progress at most once per this many bytes (plus a first and a final call).
PROGRESS_INTERVAL = 256 * 1024

USER_AGENT = "simdesk-downloader/1.0 (+https://github.com/simdesk)"

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)

_Report = Callable[[int, int | None], None]  # (bytes done, bytes in all or None), inside this module

# Limits on the whole transfer (the socket timeout only bounds each read, so a server dripping
# one byte a second would never time out): fewer than STALL_BYTES in STALL_SECONDS is a stall;
# with no known size, no file is taken past MAX_DOWNLOAD_BYTES (model weights are well under it).
STALL_SECONDS = 60.0
STALL_BYTES = 64 * 1024
MAX_DOWNLOAD_BYTES = 2 << 30
# Hosts a download may be redirected to besides its own (the catalog's weights live there).
TRUSTED_REDIRECT_HOSTS = frozenset({
    "download.pytorch.org", "github.com", "objects.githubusercontent.com",
    "release-assets.githubusercontent.com", "huggingface.co", "cdn-lfs.huggingface.co",
})


class DownloadError(Exception):
    """The download failed; the message is meant to be shown to the user."""


def sha256_file(path: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> str:
    """Return the SHA-256 hex digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def part_path_for(dest: str | os.PathLike[str]) -> Path:
    """Where the partial download of ``dest`` is kept: ``<dest>.part``."""
    dest = Path(dest)
    return dest.with_name(dest.name + ".part")


def download(
    url: str,
    dest: Path,
    *,
    expected_size: int | None = None,
    sha256_prefix: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 30.0,
    max_size: int | None = None,
    stall_seconds: float | None = None,
    stall_bytes: int | None = None,
) -> Path:
    """Download ``url`` to ``dest`` (resuming a previous ``.part``) and verify it.

    ``expected_size``: exact size in bytes, checked against what the server
    announces (before transferring) and against the finished file.
    ``sha256_prefix``: the file's SHA-256 hex digest must start with this
    (torch.hub names weight files ``<name>-<first 8 hex digits>.pth``).
    ``progress`` gets ``Progress("downloading", bytes_done, bytes_total_or_None)``
    as data arrives and once more at the end with ``done == total``.
    ``cancel`` is checked between chunks (``Cancelled``; the ``.part`` is kept). ``timeout`` bounds each socket
    operation (connect, each read), not the whole transfer.

    ``max_size`` (default MAX_DOWNLOAD_BYTES) caps a download of unknown size;
    ``stall_seconds``/``stall_bytes`` (default STALL_*) end a transfer that
    brings fewer bytes than that in that long. Redirects are followed only to
    the URL's own host or TRUSTED_REDIRECT_HOSTS, and never from https to http.

    An existing ``dest`` is overwritten; callers that want to skip a download
    already present should check first. Returns ``dest``.

    Raises DownloadError (network/HTTP failures keep the ``.part`` so the next
    call resumes; size/checksum failures delete it) or Cancelled.
    """
    dest = Path(dest)
    part = part_path_for(dest)
    with _local_file_errors("create folder", dest.parent):
        dest.parent.mkdir(parents=True, exist_ok=True)
    host = urllib.parse.urlsplit(url).hostname or url
    limits = _Limits(
        expected_size if expected_size is not None else (MAX_DOWNLOAD_BYTES if max_size is None else max_size),
        STALL_SECONDS if stall_seconds is None else stall_seconds,
        STALL_BYTES if stall_bytes is None else stall_bytes,
    )

    def report(done: int, total: int | None) -> None:
        if progress is not None:
            progress(Progress("downloading", done, total, label=dest.name, unit="bytes"))

    with _local_file_errors("read", part):
        offset = part.stat().st_size if part.exists() else 0
        if expected_size is not None and offset > expected_size:
            # Longer than the real file: cannot be a prefix of it.
            part.unlink()
            offset = 0

    if expected_size is not None and offset == expected_size:
        # A previous run got every byte but did not finish verifying; no request needed.
        total: int | None = expected_size
    else:
        if offset > limits.max_size:
            part.unlink(missing_ok=True)
            offset = 0
        total = _fetch_into(url, part, offset, host, expected_size, report, cancel, timeout, limits)

    done = part.stat().st_size
    if total is not None and done < total:
        # http.client returns a short body without raising when the server
        # closes early, so a dropped connection shows up here.
        raise DownloadError(
            f"connection to {host} closed early after {done:,} of {total:,} bytes; "
            "try again to resume"
        )
    with _local_file_errors("verify", part):
        _verify(part, done, expected_size, sha256_prefix)
    with _local_file_errors("move into place", dest):
        os.replace(part, dest)
    report(done, done)
    return dest


def _fetch_into(
    url: str,
    part: Path,
    offset: int,
    host: str,
    expected_size: int | None,
    report: _Report,
    cancel: threading.Event | None,
    timeout: float,
    limits: "_Limits",
) -> int | None:
    """Stream the remainder of ``url`` into ``part``; return the total size if known."""
    opener = urllib.request.build_opener(_TrustedRedirects(url))
    # At most two attempts: the second only after a 416 told us our part is unusable.
    for attempt in range(2):
        check(cancel)
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if offset > 0:
            request.add_header("Range", f"bytes={offset}-")
        try:
            with opener.open(request, timeout=timeout) as response:
                start, total = _resume_position(response, offset)
                _check_size(total, expected_size)
                if total is not None and total > limits.max_size:
                    raise DownloadError(
                        f"{host} announces {total:,} bytes, more than the {limits.max_size:,} "
                        "a model download may take")
                if start == 0 and offset > 0:
                    # The server ignored Range (plain 200): start over from byte 0.
                    offset = 0
                with _local_file_errors("write", part):
                    file = open(part, "ab" if offset > 0 else "wb")
                with file:
                    try:
                        _stream(response, file, offset, total, report, cancel, limits)
                    except _TooLarge:
                        file.close()
                        part.unlink(missing_ok=True)
                        raise DownloadError(
                            f"download from {host} passed {limits.max_size:,} bytes, more than a "
                            "model download may take; stopped") from None
                    with _local_file_errors("write", part):
                        file.flush()
                        os.fsync(file.fileno())  # the bytes are on disk before we rename
                return total
        except urllib.error.HTTPError as error:
            error.close()  # HTTPError holds the response socket open
            if error.code == 416 and attempt == 0 and offset > 0:
                total = _unsatisfied_range_total(error.headers)
                if total == offset:
                    return total  # the part is already complete
                # Part is longer than the file, or we cannot tell: start over.
                part.unlink(missing_ok=True)
                offset = 0
                continue
            raise DownloadError(f"HTTP {error.code} for {url}") from error
        except urllib.error.URLError as error:
            raise DownloadError(f"could not reach {host}: {error.reason}") from error
        except TimeoutError as error:
            raise DownloadError(
                f"download from {host} timed out (no data for {timeout:g} s); try again to resume"
            ) from error
        except (OSError, http.client.HTTPException) as error:
            raise DownloadError(
                f"download from {host} interrupted: {error or type(error).__name__}; "
                "try again to resume"
            ) from error
    raise AssertionError("unreachable")  # pragma: no cover


def _resume_position(response: http.client.HTTPResponse, offset: int) -> tuple[int, int | None]:
    """Return (byte position this response body starts at, total file size or None)."""
    length_header = response.headers.get("Content-Length")
    body_length = int(length_header) if length_header and length_header.isdigit() else None
    if response.status == 206:
        match = _CONTENT_RANGE.fullmatch((response.headers.get("Content-Range") or "").strip())
        if match and int(match.group(1)) == offset:
            total_text = match.group(3)
            if total_text != "*":
                return offset, int(total_text)
            return offset, None if body_length is None else offset + body_length
        # A 206 for some other range than we asked for: we cannot use it safely.
        raise DownloadError(
            f"server answered with an unexpected byte range "
            f"({response.headers.get('Content-Range')!r}, asked for bytes={offset}-)"
        )
    return 0, body_length


def _unsatisfied_range_total(headers: Message) -> int | None:
    """Total size from a 416's ``Content-Range: bytes */TOTAL``, if present."""
    match = _UNSATISFIED_RANGE.fullmatch((headers.get("Content-Range") or "").strip())
    return int(match.group(1)) if match else None


def _check_size(total: int | None, expected_size: int | None) -> None:
    if total is not None and expected_size is not None and total != expected_size:
        raise DownloadError(
            f"size mismatch: expected {expected_size:,} bytes, server reports {total:,}"
        )


def _stream(
    response: http.client.HTTPResponse,
    file: BinaryIO,
    done: int,
    total: int | None,
    report: _Report,
    cancel: threading.Event | None,
    limits: "_Limits | None" = None,
) -> None:
    """Copy the response body to ``file``; the caller makes the final progress call."""
    report(done, total)
    last_reported = done
    window_start, window_done = time.monotonic(), done
    while True:
        check(cancel)
        if limits is not None:
            now = time.monotonic()
            if now - window_start >= limits.stall_seconds:
                if done - window_done < limits.stall_bytes:
                    raise DownloadError(
                        f"download stalled: only {done - window_done:,} bytes in the last "
                        f"{limits.stall_seconds:g} s; try again to resume")
                window_start, window_done = now, done
            if done > limits.max_size:
                raise _TooLarge()
        # read1: return what has arrived (one socket read) instead of waiting for a
        # full chunk, so cancel stays prompt on slow links and a timeout loses nothing.
        chunk = response.read1(READ_CHUNK_SIZE)
        if not chunk:
            break
        with _local_file_errors("write", Path(file.name)):
            file.write(chunk)
        done += len(chunk)
        if done - last_reported >= PROGRESS_INTERVAL:
            report(done, total)
            last_reported = done


@dataclass(frozen=True)
class _Limits:
    max_size: int
    stall_seconds: float
    stall_bytes: int


class _TooLarge(Exception):
    pass


class _TrustedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the URL's own host or a trusted one, never https -> http."""

    def __init__(self, url: str) -> None:
        self.origin = urllib.parse.urlsplit(url)

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        target = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl))
        host = target.hostname or ""
        same = host == self.origin.hostname and target.port == self.origin.port
        if not (same or host in TRUSTED_REDIRECT_HOSTS) or target.scheme not in ("http", "https") or (
                self.origin.scheme == "https" and target.scheme != "https"):
            raise DownloadError(
                f"{self.origin.hostname} redirected the download to {target.scheme}://{host}, "
                "which is not a trusted host; not followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@contextlib.contextmanager
def _local_file_errors(action: str, path: Path) -> Iterator[None]:
    """Turn OSError from a local file operation (disk full, no permission) into a
    DownloadError naming the file, so it is not mistaken for a network failure."""
    try:
        yield
    except OSError as error:
        raise DownloadError(f"cannot {action} {path}: {error.strerror or error}") from error


def _verify(part: Path, size: int, expected_size: int | None, sha256_prefix: str | None) -> None:
    """Check the finished part file; delete it if it can never become the right file."""
    if expected_size is not None and size != expected_size:
        part.unlink(missing_ok=True)
        raise DownloadError(f"size mismatch: expected {expected_size:,} bytes, got {size:,}")
    if sha256_prefix:
        actual = sha256_file(part)
        if not actual.startswith(sha256_prefix.lower()):
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"checksum mismatch: expected sha256 prefix {sha256_prefix.lower()}, "
                f"got {actual[: len(sha256_prefix)]}"
            )
