"""Desktop integration and packaging: the resources/ files, their validators, and how they load.

Building the wheel and the PyInstaller app takes minutes: packaging/check_wheel.sh and
packaging/build_linux.sh do that. These checks take about a second.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import simdesk
from simdesk import resources

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "resources"
SCREENSHOT_URL = "https://raw.githubusercontent.com/simdesk/simdesk/main/"


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(resources.read_text(resources.DESKTOP_FILE))
    return parser["Desktop Entry"]


def metainfo() -> ET.Element:
    return ET.fromstring(resources.read_bytes(resources.METAINFO_FILE))


def run_tool(*args: str) -> subprocess.CompletedProcess:
    if shutil.which(args[0]) is None:
        pytest.skip(f"{args[0]} is not installed (Debian: apt-get install "
                    f"{'desktop-file-utils' if args[0] == 'desktop-file-validate' else 'appstream'})")
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_desktop_file_is_valid():
    out = run_tool("desktop-file-validate", str(RESOURCES / resources.DESKTOP_FILE))
    # desktop-file-validate prints hints and errors, and exits 1 on errors only: accept neither.
    assert out.returncode == 0 and out.stdout.strip() == "" and out.stderr.strip() == "", out


def test_metainfo_is_valid():
    out = run_tool("appstreamcli", "validate", "--no-net", "--no-color", "--explain",
                   str(RESOURCES / resources.METAINFO_FILE))
    assert out.returncode == 0, out.stdout + out.stderr
    # Only the pedantic note about the capital letter in the reverse-DNS id is accepted
    # (io.github.simdesk.Simdesk follows the freedesktop app-id convention on purpose).
    issues = [line for line in out.stdout.splitlines() if line[:2] in ("E:", "W:", "I:", "P:")]
    assert all("cid-contains-uppercase-letter" in line for line in issues), out.stdout


def test_desktop_entry_matches_the_app():
    entry = desktop_entry()
    assert entry["Icon"] == resources.APP_ID
    assert entry["Exec"].split()[0] == "simdesk"  # the console script in pyproject.toml
    assert entry["StartupWMClass"] == "simdesk"  # Qt's WM_CLASS is the application name
    assert entry["Terminal"] == "false"


def test_metainfo_matches_the_app():
    root = metainfo()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == resources.APP_ID
    assert root.findtext("launchable") == resources.DESKTOP_FILE
    assert root.findtext("provides/binary") == "simdesk"
    newest = root.find("releases/release")
    assert newest is not None and newest.get("version") == simdesk.__version__


def test_metainfo_screenshots_are_in_the_repository():
    from PIL import Image

    images = [image.text.strip() for image in metainfo().iterfind("screenshots/screenshot/image")]
    assert len(images) >= 2
    for url in images:
        assert url.startswith(SCREENSHOT_URL), url
        path = ROOT / url[len(SCREENSHOT_URL):]
        assert path.is_file(), f"{url} has no file {path} behind it"
        with Image.open(path) as shot:
            assert shot.format == "PNG" and shot.width >= 620


def test_icon_sizes_are_pngs_of_their_size():
    from PIL import Image

    for size in resources.ICON_SIZES:
        with resources.resource(resources.icon_png(size)).open("rb") as f, Image.open(f) as image:
            assert image.format == "PNG" and image.size == (size, size), size
            assert image.mode == "RGBA"
            assert image.getpixel((0, 0))[3] == 0  # transparent corners: the tile is rounded
    svg = ET.fromstring(resources.read_bytes(resources.ICON_SVG))
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and svg.get("viewBox") == "0 0 128 128"


def test_resources_load_through_importlib_resources():
    root = resources.files()
    assert root.joinpath(resources.DESKTOP_FILE).is_file()
    assert resources.read_bytes(resources.icon_png(48)).startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(FileNotFoundError, match="missing"):
        resources.resource("no-such-file.png")
    with pytest.raises(ValueError, match="sizes"):
        resources.icon_png(17)


def test_package_data_ships_every_resource():
    """Each file in resources/ matches a package-data pattern, so it gets into the wheel."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert config["package-dir"][resources.PACKAGE] == "resources"
    shipped = {p for pattern in config["package-data"][resources.PACKAGE] for p in RESOURCES.glob(pattern)}
    files = {p for p in RESOURCES.rglob("*")
             if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}
    assert files and files <= shipped, sorted(str(p) for p in files - shipped)


def test_app_icon_has_every_size(qapp):
    icon = resources.app_icon()
    assert not icon.isNull()
    assert sorted(size.width() for size in icon.availableSizes()) == list(resources.ICON_SIZES)


def test_resources_load_from_a_multiplexed_path(monkeypatch):
    """In the PyInstaller bundle importlib.resources hands out a MultiplexedPath, whose joinpath
    takes a single name on Python 3.11."""
    from importlib.readers import MultiplexedPath

    monkeypatch.setattr(resources, "files", lambda: MultiplexedPath(RESOURCES))
    assert resources.read_bytes(resources.icon_png(16)).startswith(b"\x89PNG")
    assert "[Desktop Entry]" in resources.read_text(resources.DESKTOP_FILE)
