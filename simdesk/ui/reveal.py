"""Show a photo in the system's file manager, selected, where the desktop allows it.

Linux and the BSDs: the freedesktop.org ``org.freedesktop.FileManager1.ShowItems`` D-Bus call,
which Files (Nautilus), Dolphin, Nemo, Caja, Thunar and others answer by opening the folder with
the file selected. macOS: ``open -R``. Windows: ``explorer /select,``. Anywhere else, or when no
file manager answers the D-Bus name, the folder is opened without a selection.
"""

from __future__ import annotations

import os
import subprocess
import sys

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

FILE_MANAGER_SERVICE = "org.freedesktop.FileManager1"
FILE_MANAGER_PATH = "/org/freedesktop/FileManager1"


def reveal(path: str) -> str:
    """Show ``path`` in the file manager; returns how: "selected" or "folder"."""
    if sys.platform == "darwin":
        if _spawn(["open", "-R", path]):
            return "selected"
    elif sys.platform == "win32":
        if _spawn(["explorer", f"/select,{os.path.normpath(path)}"]):
            return "selected"
    elif show_items_over_dbus(QUrl.fromLocalFile(path).toString(QUrl.ComponentFormattingOption.FullyEncoded)):
        return "selected"
    QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path)))
    return "folder"


def _spawn(argv: list[str]) -> bool:
    try:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    except OSError:
        return False
    return True


def show_items_over_dbus(uri: str) -> bool:
    """Ask the session's file manager to show ``uri`` selected; False if none can be asked.

    Sent without waiting for the answer: starting a file manager can take seconds, and the GUI
    thread must not wait. Only sent when a file manager owns the name or can be started for it.
    """
    try:
        from PySide6.QtDBus import QDBusConnection, QDBusMessage
    except ImportError:  # a Qt build without D-Bus
        return False
    bus = QDBusConnection.sessionBus()
    if not bus.isConnected() or not _file_manager_available(bus):
        return False
    call = QDBusMessage.createMethodCall(FILE_MANAGER_SERVICE, FILE_MANAGER_PATH, FILE_MANAGER_SERVICE,
                                         "ShowItems")
    call.setArguments([[uri], ""])  # (as uris, s startup_id)
    return bus.send(call)


def _file_manager_available(bus) -> bool:
    """Does a file manager own the name, or can the bus start one for it?"""
    from PySide6.QtDBus import QDBusMessage

    for method, args in (("NameHasOwner", [FILE_MANAGER_SERVICE]), ("ListActivatableNames", [])):
        query = QDBusMessage.createMethodCall("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                              "org.freedesktop.DBus", method)
        query.setArguments(args)
        reply = bus.call(query, timeout=500)  # the bus daemon itself: answers at once
        if reply.type() != QDBusMessage.MessageType.ReplyMessage or not reply.arguments():
            continue
        answer = reply.arguments()[0]
        if answer is True or (isinstance(answer, list) and FILE_MANAGER_SERVICE in answer):
            return True
    return False
