"""The simdesk desktop app: a thin PySide6 layer over :mod:`simdesk.core`.

Nothing here adds logic the CLI cannot reach; every disk, database and model call runs off the GUI
thread (see :mod:`simdesk.ui.tasks`). Start it with :func:`simdesk.ui.app.main`.

Importing this package applies :mod:`simdesk.ui.pyside_guard` first (PySide6 6.12.0 on Python
before 3.12 aborts the interpreter after enough Qt calls otherwise).
"""

from simdesk.ui import pyside_guard

pyside_guard.apply()
