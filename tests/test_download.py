"""Tests for simdesk.core.models.download against a local HTTP server on 127.0.0.1.

Each test starts its own ThreadingHTTPServer on an ephemeral port and shuts it
down afterwards; nothing here talks to any other address.
"""

from __future__ import annotations

import hashlib
import random
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from simdesk.core.models.download import DownloadError, download, sha256_file
from simdesk.core.progress import Cancelled

PAYLOAD = random.Random(1234).randbytes(3 * 1024 * 1024 + 12345)  # not a multiple of any chunk size
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
TIMEOUT = 5.0  # per socket operation; keeps a broken test from hanging


class FakeServer:
    """Serves ``payload`` at ``/file.bin``; behaviour is switched per test via attributes."""

    def __init__(self, payload: bytes = PAYLOAD) -> None:
        self.payload = payload
        self.honour_range = True
        self.stall_first_response_after: int | None = None  # bytes sent before going silent
        self.release_stall = threading.Event()
        self.send_length = True  # False: no Content-Length, body ends when the connection closes
        self.drop_first_response_after: int | None = None  # bytes sent before hanging up
        self.requests: list[dict[str, str]] = []  # headers of every request received
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._make_handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/file.bin"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.release_stall.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=TIMEOUT)

    def range_requests(self) -> list[str]:
        return [headers["Range"] for headers in self.requests if "Range" in headers]

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append(dict(self.headers.items()))
                    request_number = len(server.requests)
                if self.path != "/file.bin":
                    self.send_error(404)
                    return
                payload = server.payload
                start = 0
                range_header = self.headers.get("Range")
                if range_header and server.honour_range:
                    match = re.fullmatch(r"bytes=(\d+)-", range_header)
                    assert match, range_header
                    start = int(match.group(1))
                    if start >= len(payload):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(payload)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}"
                    )
                else:
                    self.send_response(200)
                body = payload[start:]
                self.send_header("Content-Type", "application/octet-stream")
                if server.send_length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if request_number == 1 and server.drop_first_response_after is not None:
                    body = body[: server.drop_first_response_after]
                try:
                    if request_number == 1 and server.stall_first_response_after is not None:
                        self.wfile.write(body[: server.stall_first_response_after])
                        self.wfile.flush()
                        server.release_stall.wait(TIMEOUT)
                        return
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (cancel test); nothing to do

        return Handler


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours *_proxy variables; make sure requests go straight to 127.0.0.1."""
    import os

    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("no_proxy", "*")


@pytest.fixture
def server():
    fake = FakeServer()
    fake.start()
    yield fake
    fake.stop()


def part_of(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(PAYLOAD)
    assert sha256_file(path) == PAYLOAD_SHA256
    assert sha256_file(path, chunk_size=1000) == PAYLOAD_SHA256


def test_full_download_verified_and_progress_monotonic(server: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "weights" / f"resnet-{PAYLOAD_SHA256[:8]}.pth"  # parent is created
    calls: list[tuple[int, int | None]] = []
    result = download(
        server.url,
        dest,
        expected_size=len(PAYLOAD),
        sha256_prefix=PAYLOAD_SHA256[:8].upper(),  # prefix comparison is case-insensitive
        progress=lambda p: calls.append((p.done, p.total)),
        timeout=TIMEOUT,
    )
    assert result == dest
    assert dest.read_bytes() == PAYLOAD
    assert not part_of(dest).exists()
    assert server.range_requests() == []

    done_values = [done for done, _ in calls]
    assert done_values == sorted(done_values)
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert all(total == len(PAYLOAD) for _, total in calls)
    # Throttled: not one call per 64 KiB read, but regular updates.
    steps = [b - a for a, b in zip(done_values, done_values[1:])]
    assert all(step <= 1024 * 1024 for step in steps)
    assert len(calls) < len(PAYLOAD) // (64 * 1024)


def test_resume_after_dropped_connection(server: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    half = len(PAYLOAD) // 2
    server.drop_first_response_after = half

    with pytest.raises(DownloadError, match="closed early") as excinfo:
        download(server.url, dest, sha256_prefix=PAYLOAD_SHA256[:8], timeout=TIMEOUT)
    assert not isinstance(excinfo.value, Cancelled)
    assert not dest.exists()
    assert part_of(dest).read_bytes() == PAYLOAD[:half]

    calls: list[tuple[int, int | None]] = []
    download(
        server.url,
        dest,
        sha256_prefix=PAYLOAD_SHA256[:8],
        progress=lambda p: calls.append((p.done, p.total)),
        timeout=TIMEOUT,
    )
    assert dest.read_bytes() == PAYLOAD
    assert not part_of(dest).exists()
    assert server.range_requests() == [f"bytes={half}-"]
    assert calls[0] == (half, len(PAYLOAD))  # progress starts where the part left off
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_download_without_content_length(server: FakeServer, tmp_path: Path) -> None:
    server.send_length = False
    dest = tmp_path / "file.bin"
    calls: list[tuple[int, int | None]] = []
    download(
        server.url,
        dest,
        sha256_prefix=PAYLOAD_SHA256[:8],
        progress=lambda p: calls.append((p.done, p.total)),
        timeout=TIMEOUT,
    )
    assert dest.read_bytes() == PAYLOAD
    assert all(total is None for _, total in calls[:-1])
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))  # the final call still reaches 100 %


def test_server_ignoring_range_restarts_from_zero(server: FakeServer, tmp_path: Path) -> None:
    server.honour_range = False
    dest = tmp_path / "file.bin"
    part_of(dest).write_bytes(b"stale bytes that must be discarded")

    calls: list[tuple[int, int | None]] = []
    download(
        server.url,
        dest,
        expected_size=len(PAYLOAD),
        sha256_prefix=PAYLOAD_SHA256[:8],
        progress=lambda p: calls.append((p.done, p.total)),
        timeout=TIMEOUT,
    )
    assert dest.read_bytes() == PAYLOAD
    assert server.range_requests() == ["bytes=34-"]  # it asked, the server answered 200
    assert calls[0][0] == 0


def test_complete_part_answered_416_is_verified_and_moved(server: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    part_of(dest).write_bytes(PAYLOAD)
    download(server.url, dest, sha256_prefix=PAYLOAD_SHA256[:8], timeout=TIMEOUT)
    assert dest.read_bytes() == PAYLOAD
    assert server.range_requests() == [f"bytes={len(PAYLOAD)}-"]


def test_part_longer_than_file_restarts(server: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    part_of(dest).write_bytes(PAYLOAD + b"junk")
    download(server.url, dest, sha256_prefix=PAYLOAD_SHA256[:8], timeout=TIMEOUT)
    assert dest.read_bytes() == PAYLOAD
    # First request got 416 (bytes */size), so the part was dropped and fetched again in full.
    assert len(server.requests) == 2
    assert "Range" not in server.requests[1]


def test_complete_part_with_known_size_needs_no_request(server: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    part_of(dest).write_bytes(PAYLOAD)
    download(
        server.url,
        dest,
        expected_size=len(PAYLOAD),
        sha256_prefix=PAYLOAD_SHA256[:8],
        timeout=TIMEOUT,
    )
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == []


def test_checksum_mismatch_removes_part(server: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    wrong = "0badbeef" if not PAYLOAD_SHA256.startswith("0badbeef") else "deadbeef"
    with pytest.raises(DownloadError) as excinfo:
        download(server.url, dest, sha256_prefix=wrong, timeout=TIMEOUT)
    assert str(excinfo.value) == (
        f"checksum mismatch: expected sha256 prefix {wrong}, got {PAYLOAD_SHA256[:8]}"
    )
    assert not dest.exists()
    assert not part_of(dest).exists()


def test_size_mismatch_announced_by_server(server: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError, match=r"^size mismatch: expected 1,000 bytes, server reports"):
        download(server.url, dest, expected_size=1000, timeout=TIMEOUT)
    assert not dest.exists()
    assert not part_of(dest).exists()  # rejected before any byte was written


def test_size_mismatch_of_finished_file_removes_part(server: FakeServer, tmp_path: Path) -> None:
    # No Content-Length, so only the check of the finished file can catch it.
    server.send_length = False
    dest = tmp_path / "file.bin"
    expected = len(PAYLOAD) + 1
    with pytest.raises(DownloadError) as excinfo:
        download(server.url, dest, expected_size=expected, timeout=TIMEOUT)
    assert str(excinfo.value) == f"size mismatch: expected {expected:,} bytes, got {len(PAYLOAD):,}"
    assert not dest.exists()
    assert not part_of(dest).exists()


def test_stalled_server_times_out_and_keeps_part(server: FakeServer, tmp_path: Path) -> None:
    server.stall_first_response_after = 100_000
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError, match=r"timed out \(no data for 0\.3 s\)"):
        download(server.url, dest, timeout=0.3)
    server.release_stall.set()
    assert part_of(dest).read_bytes() == PAYLOAD[:100_000]


def test_http_404(server: FakeServer, tmp_path: Path) -> None:
    url = server.url.replace("file.bin", "missing.bin")
    with pytest.raises(DownloadError, match=r"^HTTP 404 for http://127\.0\.0\.1:\d+/missing\.bin$"):
        download(url, tmp_path / "missing.bin", timeout=TIMEOUT)
    assert not (tmp_path / "missing.bin").exists()
    assert not part_of(tmp_path / "missing.bin").exists()


def test_connection_refused(tmp_path: Path) -> None:
    # Reserve a port, then close it so nothing listens there.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dest = tmp_path / "file.bin"
    part_of(dest).write_bytes(b"partial")
    with pytest.raises(DownloadError, match=r"^could not reach 127\.0\.0\.1: "):
        download(f"http://127.0.0.1:{port}/file.bin", dest, timeout=TIMEOUT)
    assert part_of(dest).read_bytes() == b"partial"  # kept for a later resume


def test_local_file_errors_are_download_errors(server: FakeServer, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_bytes(b"")
    with pytest.raises(DownloadError, match=r"^cannot create folder .*a-file"):
        download(server.url, not_a_folder / "file.bin", timeout=TIMEOUT)

    dest = tmp_path / "file.bin"
    part_of(dest).mkdir()  # the part file cannot be opened for writing
    with pytest.raises(DownloadError, match=r"^cannot write .*file\.bin\.part"):
        download(server.url, dest, timeout=TIMEOUT)
    assert not dest.exists()


def test_cancel_from_progress_callback_keeps_part(server: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    cancel = threading.Event()
    calls: list[int] = []

    def on_progress(p) -> None:
        calls.append(p.done)
        if p.done >= 512 * 1024:
            cancel.set()

    with pytest.raises(Cancelled):
        download(server.url, dest, progress=on_progress, cancel=cancel, timeout=TIMEOUT)
    assert not dest.exists()
    part_size = part_of(dest).stat().st_size
    # Stopped at the very next chunk boundary, well before the end.
    assert part_size == calls[-1]
    assert 512 * 1024 <= part_size < len(PAYLOAD)
    assert PAYLOAD.startswith(part_of(dest).read_bytes())

    # The kept part is resumed by the next call.
    download(server.url, dest, sha256_prefix=PAYLOAD_SHA256[:8], timeout=TIMEOUT)
    assert dest.read_bytes() == PAYLOAD
    assert server.range_requests() == [f"bytes={part_size}-"]


def test_cancel_already_set_makes_no_request(server: FakeServer, tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        download(server.url, tmp_path / "file.bin", cancel=cancel, timeout=TIMEOUT)
    assert server.requests == []


# -- limits on the whole transfer (14.13) ------------------------------------------------------


class _OddServer:
    """A one-shot server: drip (a byte every 50 ms), huge (Content-Length 10**15), or redirect."""

    def __init__(self, mode: str, location: str = "") -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                try:
                    if mode == "redirect":
                        self.send_response(302)
                        self.send_header("Location", location)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(200)
                    self.send_header("Content-Length", str(10**15 if mode == "huge" else 10**6))
                    self.end_headers()
                    for _ in range(400):
                        if outer.stop_event.is_set():
                            return
                        self.wfile.write(b"x" * (1 if mode == "drip" else 65536))
                        self.wfile.flush()
                        if mode == "drip":
                            time.sleep(0.05)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.stop_event = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    @property
    def url(self):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/file.bin"

    def close(self):
        self.stop_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_dripping_server_is_a_stall(tmp_path: Path) -> None:
    odd = _OddServer("drip")
    try:
        started = time.monotonic()
        with pytest.raises(DownloadError, match="stalled"):
            download(odd.url, tmp_path / "f.bin", timeout=TIMEOUT, stall_seconds=0.5, stall_bytes=1000)
        assert time.monotonic() - started < 5
    finally:
        odd.close()


def test_an_absurd_size_is_refused_before_transferring(tmp_path: Path) -> None:
    odd = _OddServer("huge")
    try:
        with pytest.raises(DownloadError, match="more than"):
            download(odd.url, tmp_path / "f.bin", timeout=TIMEOUT)
        with pytest.raises(DownloadError, match="more than"):
            download(odd.url, tmp_path / "g.bin", timeout=TIMEOUT, max_size=1 << 20)
        assert not part_of(tmp_path / "g.bin").exists() or part_of(tmp_path / "g.bin").stat().st_size <= 2 << 20
    finally:
        odd.close()


def test_a_download_of_unknown_size_stops_at_the_cap(server: FakeServer, tmp_path: Path) -> None:
    server.send_length = False
    with pytest.raises(DownloadError, match="more than a model download may take"):
        download(server.url, tmp_path / "f.bin", timeout=TIMEOUT, max_size=1 << 20)
    assert not part_of(tmp_path / "f.bin").exists()


def test_a_redirect_to_another_host_is_not_followed(server: FakeServer, tmp_path: Path) -> None:
    odd = _OddServer("redirect", location="http://evil.example.invalid/weights.pth")
    try:
        with pytest.raises(DownloadError, match="not a trusted host"):
            download(odd.url, tmp_path / "f.bin", timeout=TIMEOUT)
    finally:
        odd.close()
    same = _OddServer("redirect", location=server.url)  # another port on the same address
    try:
        with pytest.raises(DownloadError, match="not a trusted host"):
            download(same.url, tmp_path / "f.bin", timeout=TIMEOUT)
    finally:
        same.close()
