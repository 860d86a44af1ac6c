"""Before Qt starts: the system libraries its platform plugin needs, and the package names to
install when some are missing.

A missing library makes Qt abort the whole process (a core dump, exit 134) with one line about
the first library only. So the plugin's ELF dependencies are walked here first, without importing
Qt: a library bundled with PySide6 (Qt/lib) is followed into, any other must load with ``dlopen``.
Everything missing is named at once, with one install line per distribution family. No Qt import:
``simdesk`` prints this even when Qt itself cannot load.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

# soname -> (Debian/Ubuntu, Fedora, Arch) package. The libraries PySide6's xcb and Wayland
# plugins and QtGui/QtWidgets link to that a minimal system may lack.
PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libSM.so.6": ("libsm6", "libSM", "libsm"),
    "libICE.so.6": ("libice6", "libICE", "libice"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libwayland-client.so.0": ("libwayland-client0", "libwayland-client", "wayland"),
    "libwayland-cursor.so.0": ("libwayland-cursor0", "libwayland-cursor", "wayland"),
    "libwayland-egl.so.1": ("libwayland-egl1", "libwayland-egl", "wayland"),
}

# The plugin file of each platform name QT_QPA_PLATFORM may hold.
PLUGIN_FILES = {"xcb": "libqxcb.so", "wayland": "libqwayland.so"}
_WAYLAND_FALLBACKS = ("libqwayland.so", "libqwayland-generic.so", "libqwayland-egl.so")

Loader = Callable[[str], "str | None"]


def _dlopen(name: str) -> str | None:
    """None if ``name`` loads, else the library that could not be found (it or a dependency)."""
    try:
        ctypes.CDLL(name)
        return None
    except OSError as exc:
        found = re.match(r"\s*([^:\s]+\.so[^:\s]*): cannot open shared object file", str(exc))
        return found.group(1) if found else name


def needed_libraries(path: str | os.PathLike) -> list[str]:
    """The DT_NEEDED entries of an ELF file (its direct shared-library dependencies)."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF":
        return []
    bits64, end = data[4] == 2, "<" if data[5] == 1 else ">"
    if bits64:
        phoff, = struct.unpack_from(end + "Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 0x36)
    else:
        phoff, = struct.unpack_from(end + "I", data, 0x1C)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 0x2A)
    loads, dynamic = [], None
    for i in range(phnum):
        at = phoff + i * phentsize
        if bits64:
            p_type, _, offset, vaddr, _, filesz, _, _ = struct.unpack_from(end + "IIQQQQQQ", data, at)
        else:
            p_type, offset, vaddr, _, filesz, _, _, _ = struct.unpack_from(end + "IIIIIIII", data, at)
        if p_type == 1:  # PT_LOAD
            loads.append((vaddr, offset, filesz))
        elif p_type == 2:  # PT_DYNAMIC
            dynamic = (offset, filesz)
    if dynamic is None:
        return []
    entry = struct.Struct(end + ("qQ" if bits64 else "iI"))
    needed, strtab = [], None
    for at in range(dynamic[0], dynamic[0] + dynamic[1], entry.size):
        tag, value = entry.unpack_from(data, at)
        if tag == 0:  # DT_NULL
            break
        if tag == 1:  # DT_NEEDED
            needed.append(value)
        elif tag == 5:  # DT_STRTAB (an address: mapped back to the file through the PT_LOADs)
            strtab = next((value - v + o for v, o, size in loads if v <= value < v + size), None)
    if strtab is None:
        return []
    names = []
    for offset in needed:
        start = strtab + offset
        names.append(data[start:data.index(b"\0", start)].decode("utf-8", "replace"))
    return names


def missing_libraries(binaries, local_dirs, load: Loader = _dlopen) -> list[str]:
    """The system libraries ``binaries`` need, directly or through the libraries in
    ``local_dirs`` (PySide6's own), that cannot be loaded; sorted, each named once."""
    seen: set[str] = set()
    missing: set[str] = set()
    queue = [Path(b) for b in binaries]
    while queue:
        for name in needed_libraries(queue.pop()):
            if name in seen:
                continue
            seen.add(name)
            local = next((Path(d) / name for d in local_dirs if (Path(d) / name).is_file()), None)
            if local is not None:
                queue.append(local)
            else:
                absent = load(name)
                if absent:
                    missing.add(absent)
    return sorted(missing)


def install_lines(missing: list[str]) -> list[str]:
    """One install command per distribution family for these libraries."""
    known = [PACKAGES[name] for name in missing if name in PACKAGES]
    lines = []
    for label, column, command in (("Debian/Ubuntu", 0, "sudo apt install"),
                                   ("Fedora", 1, "sudo dnf install"),
                                   ("Arch", 2, "sudo pacman -S")):
        if known:
            packages = " ".join(dict.fromkeys(p[column] for p in known))
            lines.append(f"  {label + ':':<15} {command} {packages}")
    unknown = [name for name in missing if name not in PACKAGES]
    if unknown:
        lines.append(f"  and the packages providing {', '.join(unknown)} "
                     "(apt-file search / dnf provides / pacman -F)")
    return lines


@dataclass
class Preflight:
    """What starting the app here needs: ``platform`` to set as QT_QPA_PLATFORM (None: leave it),
    or ``problem``, the message to print instead of starting Qt."""

    platform: str | None = None
    problem: str | None = None
    missing: dict[str, list[str]] = field(default_factory=dict)  # platform -> missing libraries


def qt_folder() -> Path | None:
    """PySide6's Qt folder (plugins/, lib/), found without importing PySide6."""
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "Qt").is_dir():
            return Path(location) / "Qt"
    return None


def _plugin(qt: Path, platform: str) -> Path | None:
    folder = qt / "plugins" / "platforms"
    names = _WAYLAND_FALLBACKS if platform == "wayland" else (PLUGIN_FILES.get(platform, ""),)
    return next((folder / n for n in names if n and (folder / n).is_file()), None)


def preflight(environ=os.environ, qt: Path | None = None, load: Loader | None = None,
              platform: str = sys.platform) -> Preflight:
    """Check the libraries of the platform plugin Qt will use (Linux only; elsewhere, or when
    PySide6 is not found, nothing is checked)."""
    qt = qt or qt_folder()
    load = load or _dlopen
    if not platform.startswith("linux") or qt is None:
        return Preflight()
    # PySide6's own libraries: Qt's, PySide's and Shiboken's (a sibling package), and in the
    # PyInstaller bundle whatever it carries at its top.
    local = [qt / "lib", qt.parent, qt.parent.parent / "shiboken6"]
    if getattr(sys, "frozen", False):
        local.append(Path(sys._MEIPASS))
    widgets = [p for p in qt.parent.glob("QtWidgets*.so")]

    def missing_for(name: str) -> list[str] | None:
        plugin = _plugin(qt, name)
        if plugin is None:
            return None  # no such plugin in this PySide6: Qt will say so itself
        return missing_libraries([plugin, *widgets], local, load)

    wanted = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0]
    result = Preflight()
    if wanted and wanted not in ("xcb", "wayland", "wayland-egl"):
        return result  # offscreen, eglfs, …: not a desktop plugin we check
    candidates = [wanted.split("-")[0]] if wanted else []
    if not wanted:
        wayland_session = bool(environ.get("WAYLAND_DISPLAY")) or environ.get("XDG_SESSION_TYPE") == "wayland"
        candidates = (["wayland"] if wayland_session else []) + (["xcb"] if environ.get("DISPLAY") else [])
        candidates = candidates or ["xcb"]
    for name in candidates:
        missing = missing_for(name)
        if not missing:
            if not wanted and name == "wayland":
                result.platform = "wayland;xcb"  # Wayland, and X11 should it fail to connect
            elif not wanted and missing is not None:
                result.platform = name
            return result
        result.missing[name] = missing
    name = candidates[-1]
    missing = result.missing[name]
    others = [f"(the {n} plugin would also need {', '.join(m)})" for n, m in result.missing.items() if n != name]
    result.problem = "\n".join([
        f"the desktop app cannot start: Qt's {name} platform plugin needs system libraries that "
        f"are not installed: {', '.join(missing)}.",
        *others,
        "Install them with:",
        *install_lines(missing),
        "The command line works without them: simdesk --help.",
    ])
    return result
