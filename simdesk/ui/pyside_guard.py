"""A guard against a reference-counting bug in PySide6 6.12.0 on Python before 3.12.

With that combination every call of a ``void`` Qt method (``QPainter.save()``, ``QSize.setWidth``,
``QObject.setObjectName``...) returns ``None`` without taking a reference to it, and so do
``QVariant`` results standing for None or a bool (``QModelIndex.data()`` for an unset role) and
Python-declared signals carrying None or a bool. Each such call leaves ``None`` (or ``True`` /
``False``) with one reference fewer; when the count reaches zero the interpreter aborts with
"Fatal Python error: none_dealloc: deallocating None". A thumbnail grid makes a dozen such calls
per cell per frame, so the app died within seconds of scrolling. PySide6 6.11.3 does not have the
bug, and from Python 3.12 on these objects are immortal (their count is never used), which is
why it goes unnoticed there.

When a quick self-test shows the bug, :func:`apply` gives the three objects a reference count so
large that no session can drain it: what Python 3.12 does for them. The real fix is a PySide6
without the bug (``PySide6-Essentials!=6.12.0`` on Python < 3.12).
"""

from __future__ import annotations

import sys

BOOST = 1 << 40  # references added to None, True and False: never drained in practice

applied = False


def loses_references() -> bool:
    """True when PySide6 drops a reference to None on a void call (the bug is present)."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    from PySide6.QtCore import QSize

    size = QSize(1, 1)
    before = sys.getrefcount(None)
    for _ in range(64):
        size.setWidth(2)
    return sys.getrefcount(None) <= before - 32


def apply() -> bool:
    """Make None, True and False effectively immortal if this PySide6 needs it; True if done."""
    global applied
    if applied:
        return True
    if hasattr(sys, "gettotalrefcount") or not loses_references():  # debug builds: other layout
        return False
    import ctypes

    for obj in (None, True, False):
        count = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt is the object's first field
        if abs(count.value - (sys.getrefcount(obj) - 1)) > 16:  # not the layout we know: leave it
            return False
        count.value += BOOST
    applied = True
    return True
