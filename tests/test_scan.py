"""Tests for simdesk.core.scan (all on tmp_path)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from simdesk.core.scan import (
    BROKEN_SYMLINK,
    FOLDER_MISSING,
    PERMISSION_DENIED_FILES,
    PERMISSION_DENIED_LIST,
    SYMLINK_LOOP,
    FoundFile,
    ScanProblem,
    scan_folders,
)

PHOTO_EXTENSIONS = {".jpg", ".jpeg", ".png", ".heic"}


def make_file(path: Path, content: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def symlink_or_skip(link: Path, target: Path, *, target_is_directory: bool = False) -> None:
    try:
        os.symlink(target, link, target_is_directory=target_is_directory)
    except (OSError, NotImplementedError) as error:  # e.g. Windows without the privilege
        pytest.skip(f"cannot create symlinks here: {error}")


def paths(result) -> list[str]:
    return [found.path for found in result.files]


def rel(result, base: Path) -> list[str]:
    """Found paths relative to ``base``, with "/" separators on every OS."""
    return [Path(os.path.relpath(found.path, base)).as_posix() for found in result.files]


def test_nested_folders_extension_filter_and_order(tmp_path: Path) -> None:
    make_file(tmp_path / "b.jpg")
    make_file(tmp_path / "a.png")
    make_file(tmp_path / "notes.txt")
    make_file(tmp_path / "jpg")  # no extension at all
    make_file(tmp_path / "2021" / "summer" / "beach.jpeg")
    make_file(tmp_path / "2021" / "cover.heic")
    make_file(tmp_path / "2020" / "z.jpg")
    make_file(tmp_path / "2020" / "raw.cr2")

    result = scan_folders([tmp_path], PHOTO_EXTENSIONS)

    # Files of a folder (sorted) before its subfolders (sorted, depth first).
    assert rel(result, tmp_path) == [
        "a.png",
        "b.jpg",
        "2020/z.jpg",
        "2021/cover.heic",
        "2021/summer/beach.jpeg",
    ]
    assert result.problems == []
    assert result.cancelled is False


def test_found_file_fields(tmp_path: Path) -> None:
    photo = make_file(tmp_path / "photo.jpg", b"12345")
    os.utime(photo, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    result = scan_folders([str(tmp_path)], [".jpg"])
    assert result.files == [FoundFile(str(photo), 5, 1_600_000_000_123_456_789)]
    assert isinstance(result.files[0].path, str)


def test_paths_are_absolute_and_normalised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_file(tmp_path / "sub" / "p.jpg")
    monkeypatch.chdir(tmp_path)
    result = scan_folders(["./sub/../sub/"], [".jpg"])
    assert paths(result) == [os.path.join(str(tmp_path), "sub", "p.jpg")]


def test_extensions_are_case_insensitive_and_dot_optional(tmp_path: Path) -> None:
    make_file(tmp_path / "A.JPG")
    make_file(tmp_path / "b.Jpeg")
    make_file(tmp_path / "c.png")
    assert rel(scan_folders([tmp_path], ["jpg", ".JPEG"]), tmp_path) == ["A.JPG", "b.Jpeg"]
    assert rel(scan_folders([tmp_path], ".png"), tmp_path) == ["c.png"]  # a lone string works too


def test_hidden_files_and_folders_skipped_by_default(tmp_path: Path) -> None:
    make_file(tmp_path / "visible.jpg")
    make_file(tmp_path / ".hidden.jpg")
    make_file(tmp_path / ".cache" / "thumb.jpg")
    make_file(tmp_path / ".Trash-1000" / "files" / "deleted.jpg")
    make_file(tmp_path / "@eaDir" / "visible.jpg" / "SYNOPHOTO_THUMB_XL.jpg")

    assert rel(scan_folders([tmp_path], [".jpg"]), tmp_path) == ["visible.jpg"]

    # With skip_hidden=False ordinary hidden things are found, trash and thumbnail folders still not.
    assert rel(scan_folders([tmp_path], [".jpg"], skip_hidden=False), tmp_path) == [
        ".hidden.jpg",
        "visible.jpg",
        ".cache/thumb.jpg",
    ]


def test_hidden_root_is_still_scanned(tmp_path: Path) -> None:
    make_file(tmp_path / ".photos" / "p.jpg")
    assert rel(scan_folders([tmp_path / ".photos"], [".jpg"]), tmp_path) == [
        ".photos/p.jpg"
    ]


def test_symlink_loop_reported_once_and_scan_terminates(tmp_path: Path) -> None:
    make_file(tmp_path / "lib" / "a" / "p.jpg")
    symlink_or_skip(tmp_path / "lib" / "a" / "back_to_lib", tmp_path / "lib", target_is_directory=True)
    symlink_or_skip(tmp_path / "lib" / "a" / "self", Path("."), target_is_directory=True)

    result = scan_folders([tmp_path / "lib"], [".jpg"])

    assert rel(result, tmp_path) == ["lib/a/p.jpg"]
    assert result.problems == [
        ScanProblem(str(tmp_path / "lib" / "a" / "back_to_lib"), SYMLINK_LOOP),
        ScanProblem(str(tmp_path / "lib" / "a" / "self"), SYMLINK_LOOP),
    ]


def test_self_referencing_file_symlink_is_a_problem(tmp_path: Path) -> None:
    symlink_or_skip(tmp_path / "loop.jpg", tmp_path / "loop.jpg")
    result = scan_folders([tmp_path], [".jpg"])
    assert result.files == []
    assert result.problems == [ScanProblem(str(tmp_path / "loop.jpg"), SYMLINK_LOOP)]


def test_symlinked_folder_outside_roots_is_followed(tmp_path: Path) -> None:
    make_file(tmp_path / "elsewhere" / "trip" / "x.jpg")
    make_file(tmp_path / "lib" / "own.jpg")
    symlink_or_skip(tmp_path / "lib" / "linked", tmp_path / "elsewhere", target_is_directory=True)

    result = scan_folders([tmp_path / "lib"], [".jpg"])
    # Reported under the path the user's library uses, not the resolved one.
    assert rel(result, tmp_path) == ["lib/own.jpg", "lib/linked/trip/x.jpg"]
    assert result.problems == []

    assert rel(scan_folders([tmp_path / "lib"], [".jpg"], follow_symlinks=False), tmp_path) == [
        "lib/own.jpg"
    ]


def test_folder_reached_twice_is_listed_once(tmp_path: Path) -> None:
    make_file(tmp_path / "lib" / "a" / "p.jpg")
    symlink_or_skip(tmp_path / "lib" / "b_link_to_a", tmp_path / "lib" / "a", target_is_directory=True)
    result = scan_folders([tmp_path / "lib"], [".jpg"])
    assert rel(result, tmp_path) == ["lib/a/p.jpg"]
    assert result.problems == []  # a second route is not a loop


def test_symlink_to_file_is_deduplicated_by_real_path(tmp_path: Path) -> None:
    make_file(tmp_path / "lib" / "a.jpg")
    symlink_or_skip(tmp_path / "lib" / "b.jpg", tmp_path / "lib" / "a.jpg")
    symlink_or_skip(tmp_path / "lib" / "c.jpg", tmp_path / "outside.jpg")
    make_file(tmp_path / "outside.jpg", b"12")
    result = scan_folders([tmp_path / "lib"], [".jpg"])
    assert rel(result, tmp_path) == ["lib/a.jpg", "lib/c.jpg"]
    assert result.files[1].size == 2  # the target's stat


def test_overlapping_roots_report_each_file_once(tmp_path: Path) -> None:
    make_file(tmp_path / "top.jpg")
    make_file(tmp_path / "sub" / "inner.jpg")
    expected = ["top.jpg", "sub/inner.jpg"]

    for roots in (
        [tmp_path, tmp_path / "sub"],
        [tmp_path / "sub", tmp_path],
        [tmp_path, tmp_path],
        [tmp_path, tmp_path / "sub" / "inner.jpg"],
    ):
        result = scan_folders(roots, [".jpg"])
        assert sorted(rel(result, tmp_path)) == sorted(expected), roots
        assert result.problems == []


def test_broken_symlink_is_a_problem(tmp_path: Path) -> None:
    make_file(tmp_path / "ok.jpg")
    symlink_or_skip(tmp_path / "gone.jpg", tmp_path / "does-not-exist.jpg")
    symlink_or_skip(tmp_path / "old_nas", tmp_path / "unmounted", target_is_directory=True)
    result = scan_folders([tmp_path], [".jpg"])
    assert rel(result, tmp_path) == ["ok.jpg"]
    assert result.problems == [
        ScanProblem(str(tmp_path / "gone.jpg"), BROKEN_SYMLINK),
        ScanProblem(str(tmp_path / "old_nas"), BROKEN_SYMLINK),
    ]


def test_unreadable_folder_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated so the case is covered even when the tests run as root.
    make_file(tmp_path / "a" / "p.jpg")
    make_file(tmp_path / "locked" / "secret.jpg")
    make_file(tmp_path / "z" / "q.jpg")
    locked = str(tmp_path / "locked")
    real_scandir = os.scandir

    def scandir(path):
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = scan_folders([tmp_path], [".jpg"])
    assert rel(result, tmp_path) == ["a/p.jpg", "z/q.jpg"]
    assert result.problems == [ScanProblem(locked, PERMISSION_DENIED_LIST)]


def test_folder_listable_but_not_enterable_is_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulates a folder with read but no execute permission: names can be
    # listed, but every stat fails. One problem for the folder, not one per file.
    make_file(tmp_path / "ok.jpg")
    for name in ("a.jpg", "b.jpg", "sub/c.jpg"):
        make_file(tmp_path / "noexec" / name)
    noexec = str(tmp_path / "noexec")
    real_scandir = os.scandir

    class DeniedEntry:
        def __init__(self, entry: os.DirEntry) -> None:
            self.name, self.path = entry.name, entry.path
            self._is_dir = entry.is_dir()

        def is_symlink(self) -> bool:
            return False

        def is_dir(self) -> bool:
            return self._is_dir  # known from the listing (d_type) without a stat

        def stat(self):
            raise PermissionError(13, "Permission denied", self.path)

    class Listing:
        def __init__(self, path) -> None:
            with real_scandir(path) as iterator:
                self.entries = list(iterator)
            if os.fspath(path) == noexec:
                self.entries = [DeniedEntry(entry) for entry in self.entries]

        def __enter__(self):
            return iter(self.entries)

        def __exit__(self, *exc_info) -> bool:
            return False

    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if os.path.dirname(os.fspath(path)) == noexec:
            raise PermissionError(13, "Permission denied", path)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", Listing)
    monkeypatch.setattr(os, "stat", stat)
    result = scan_folders([tmp_path], [".jpg"])
    assert rel(result, tmp_path) == ["ok.jpg"]
    assert result.problems == [ScanProblem(noexec, PERMISSION_DENIED_FILES)]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="needs POSIX, not root")
def test_unreadable_folders_real_chmod(tmp_path: Path) -> None:
    make_file(tmp_path / "ok.jpg")
    locked = tmp_path / "locked"
    make_file(locked / "secret.jpg")
    read_only = tmp_path / "read_only"
    make_file(read_only / "r1.jpg")
    make_file(read_only / "r2.jpg")
    locked.chmod(0)
    read_only.chmod(0o444)  # listable, but files cannot be stat'ed
    try:
        result = scan_folders([tmp_path], [".jpg"])
    finally:
        locked.chmod(0o755)
        read_only.chmod(0o755)
    assert rel(result, tmp_path) == ["ok.jpg"]
    assert result.problems == [
        ScanProblem(str(locked), PERMISSION_DENIED_LIST),
        ScanProblem(str(read_only), PERMISSION_DENIED_FILES),
    ]


def test_file_deleted_between_listing_and_stat_is_skipped_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_file(tmp_path / "a.jpg")
    doomed = make_file(tmp_path / "b.jpg")
    make_file(tmp_path / "c.jpg")
    real_scandir = os.scandir

    class ListThenDelete:
        """Lists the folder, then deletes b.jpg before the scanner stats it."""

        def __init__(self, path):
            with real_scandir(path) as iterator:
                self.entries = list(iterator)
            if doomed.exists():
                doomed.unlink()

        def __enter__(self):
            return iter(self.entries)

        def __exit__(self, *exc_info):
            return False

    monkeypatch.setattr(os, "scandir", ListThenDelete)
    result = scan_folders([tmp_path], [".jpg"])
    assert rel(result, tmp_path) == ["a.jpg", "c.jpg"]
    assert result.problems == []


def test_roots_that_are_missing_or_files(tmp_path: Path) -> None:
    photo = make_file(tmp_path / "single.JPG")
    text = make_file(tmp_path / "notes.txt")
    missing = tmp_path / "no-such-folder"
    result = scan_folders([missing, photo, text, photo / "sub"], [".jpg"])
    assert paths(result) == [str(photo)]
    assert [problem.path for problem in result.problems] == [str(missing), str(text), str(photo / "sub")]
    assert result.problems[0].reason == FOLDER_MISSING
    assert result.problems[1].reason == "not a folder or a photo file"
    assert result.problems[2].reason == FOLDER_MISSING


def test_broken_symlink_root(tmp_path: Path) -> None:
    symlink_or_skip(tmp_path / "nas", tmp_path / "unmounted", target_is_directory=True)
    result = scan_folders([tmp_path / "nas"], [".jpg"])
    assert result.problems == [ScanProblem(str(tmp_path / "nas"), BROKEN_SYMLINK)]


def test_non_utf8_file_name(tmp_path: Path) -> None:
    raw_name = os.path.join(os.fsencode(tmp_path), b"caf\xe9.jpg")
    try:
        with open(raw_name, "wb") as file:
            file.write(b"latin-1 name")
    except (OSError, UnicodeError) as error:
        pytest.skip(f"file system refuses non-UTF-8 names: {error}")
    result = scan_folders([tmp_path], [".jpg"])
    assert paths(result) == [os.fsdecode(raw_name)]
    # Round-trips to the same bytes, so the file can be opened again.
    assert os.fsencode(result.files[0].path) == raw_name
    with open(result.files[0].path, "rb") as file:
        assert file.read() == b"latin-1 name"


def test_names_with_spaces_newlines_and_emoji(tmp_path: Path) -> None:
    names = ["with space.jpg", "new\nline.jpg", "sunset \U0001f305.JPG", "日本.png"]
    for name in names:
        try:
            make_file(tmp_path / "folder with space" / name)
        except OSError as error:  # e.g. newline on Windows
            pytest.skip(f"file system refuses {name!r}: {error}")
    result = scan_folders([tmp_path], [".jpg", ".png"])
    assert sorted(os.path.basename(path) for path in paths(result)) == sorted(names)


def test_deep_tree_does_not_hit_recursion_limit(tmp_path: Path) -> None:
    # Deeper than Python's recursion limit. Built and removed iteratively:
    # os.makedirs and shutil.rmtree are themselves recursive.
    depth = sys.getrecursionlimit() + 50
    chain = [tmp_path]
    try:
        try:
            for _ in range(depth):
                chain[-1].joinpath("d").mkdir()
                chain.append(chain[-1] / "d")
            (chain[-1] / "bottom.jpg").write_bytes(b"x")
        except OSError as error:
            pytest.skip(f"cannot create a tree {depth} deep: {error}")
        result = scan_folders([tmp_path], [".jpg"])
        assert paths(result) == [str(chain[-1] / "bottom.jpg")]
        assert result.problems == []
    finally:
        (chain[-1] / "bottom.jpg").unlink(missing_ok=True)
        for folder in reversed(chain[1:]):
            folder.rmdir()


def test_progress_called_once_per_folder(tmp_path: Path) -> None:
    make_file(tmp_path / "1.jpg")
    make_file(tmp_path / "a" / "2.jpg")
    make_file(tmp_path / "a" / "3.jpg")
    make_file(tmp_path / "b" / "c" / "4.jpg")
    calls: list[tuple[int, str]] = []
    scan_folders([tmp_path], [".jpg"], on_progress=lambda count, folder: calls.append((count, folder)))
    assert calls == [
        (1, str(tmp_path)),
        (3, str(tmp_path / "a")),
        (3, str(tmp_path / "b")),
        (4, str(tmp_path / "b" / "c")),
    ]


def test_cancel_from_progress_stops_early(tmp_path: Path) -> None:
    for folder in range(10):
        make_file(tmp_path / f"f{folder}" / "p.jpg")
    cancel = threading.Event()
    calls: list[int] = []

    def on_progress(count: int, folder: str) -> None:
        calls.append(count)
        if count >= 3:
            cancel.set()

    result = scan_folders([tmp_path, tmp_path / "other-root"], [".jpg"], cancel=cancel, on_progress=on_progress)
    assert result.cancelled is True
    assert len(result.files) == 3
    assert calls[-1] == 3  # no folder listed after the cancel
    assert result.problems == []  # the second root was never looked at


def test_cancel_inside_a_large_folder(tmp_path: Path) -> None:
    for index in range(2000):
        (tmp_path / f"{index:05}.jpg").write_bytes(b"")
    cancel = threading.Event()
    cancel.set()
    result = scan_folders([tmp_path], [".jpg"], cancel=cancel)
    assert result.cancelled is True
    assert result.files == []

    # Set mid-folder: the walk notices within a few hundred entries.

    class CancelAfterFirstCheck(threading.Event):
        checks = 0

        def is_set(self) -> bool:
            self.checks += 1
            return self.checks > 2  # false for the checks before the folder is listed

    result = scan_folders([tmp_path], [".jpg"], cancel=CancelAfterFirstCheck())
    assert result.cancelled is True
    assert 0 < len(result.files) <= 256
