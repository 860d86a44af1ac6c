"""simdesk's data files: the app icon, the desktop entry and the AppStream metainfo.

They live in the repository's top-level ``resources/`` folder, which the build installs as the
package ``simdesk._resources`` (pyproject.toml, ``[tool.setuptools.package-dir]``). They are read
through :mod:`importlib.resources`, so the same code finds them in a wheel install, an editable
install and the PyInstaller bundle (packaging/simdesk.spec collects the package's data).

No Qt here: the CLI and the core may use this module; ``app_icon()`` imports Qt when called.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importlib.resources.abc is Python 3.11+; annotations only
    from importlib.resources.abc import Traversable

APP_ID = "io.github.simdesk.Simdesk"
PACKAGE = "simdesk._resources"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

DESKTOP_FILE = f"{APP_ID}.desktop"
METAINFO_FILE = f"{APP_ID}.metainfo.xml"
ICON_SVG = f"icons/hicolor/scalable/apps/{APP_ID}.svg"


def icon_png(size: int) -> str:
    """The resource name of the PNG icon of ``size`` pixels (one of ICON_SIZES)."""
    if size not in ICON_SIZES:
        raise ValueError(f"no {size} px icon; the sizes are {ICON_SIZES}")
    return f"icons/hicolor/{size}x{size}/apps/{APP_ID}.png"


def files() -> Traversable:
    """The root of the resources."""
    try:
        return importlib.resources.files(PACKAGE)
    except ModuleNotFoundError:
        # Running from a source checkout that was not installed, or an editable install made
        # before resources/ was mapped into the package (``pip install -e .`` again fixes that).
        checkout = Path(__file__).resolve().parent.parent / "resources"
        if (checkout / "__init__.py").is_file():
            return checkout
        raise


def resource(name: str) -> Traversable:
    """One resource by its '/'-separated name, e.g. ``icon_png(48)`` or ``DESKTOP_FILE``."""
    item = files()
    for part in name.split("/"):  # one step at a time: Python 3.11's MultiplexedPath (which
        item = item.joinpath(part)  # the PyInstaller bundle hands out) takes one name only
    if not item.is_file():
        raise FileNotFoundError(f"simdesk resource {name!r} is missing (a broken install?)")
    return item


def read_bytes(name: str) -> bytes:
    return resource(name).read_bytes()


def read_text(name: str) -> str:
    return resource(name).read_text(encoding="utf-8")


def app_icon():
    """The app icon as a QIcon, built from the PNG sizes (read as bytes, so it needs neither a
    file on disk nor Qt's SVG plugin). A QGuiApplication must exist."""
    from PySide6.QtGui import QIcon, QPixmap

    icon = QIcon()
    for size in ICON_SIZES:
        pixmap = QPixmap()
        if pixmap.loadFromData(read_bytes(icon_png(size)), "PNG"):
            icon.addPixmap(pixmap)
    return icon
