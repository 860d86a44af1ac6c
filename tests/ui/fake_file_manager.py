"""Run under `dbus-run-session`: a fake org.freedesktop.FileManager1 on a private session bus.

Prints JSON: whether simdesk asked before a file manager was there, what reveal() answered once
one was, and the ShowItems calls the fake file manager received. Used by test_reveal.py.
"""

import json
import os
import sys

os.environ["QT_QPA_PLATFORM"] = "offscreen"

from PySide6.QtCore import ClassInfo, QObject, QTimer, Slot  # noqa: E402
from PySide6.QtDBus import QDBusConnection  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from simdesk.ui import reveal  # noqa: E402

app = QApplication([])
received = []


@ClassInfo({"D-Bus Interface": "org.freedesktop.FileManager1"})
class FakeFileManager(QObject):
    @Slot("QStringList", str)
    def ShowItems(self, uris, startup_id):  # noqa: N802 (the D-Bus method's name)
        received.append([list(uris), startup_id])
        app.quit()


before = reveal.show_items_over_dbus("file:///nothing-answers")
connection = QDBusConnection.connectToBus(QDBusConnection.BusType.SessionBus, "fake-file-manager")
manager = FakeFileManager()
connection.registerObject(reveal.FILE_MANAGER_PATH, manager,
                          QDBusConnection.RegisterOption.ExportAllSlots)
connection.registerService(reveal.FILE_MANAGER_SERVICE)
answer = reveal.reveal(sys.argv[1])
QTimer.singleShot(5000, app.quit)  # a missing call fails the test, it does not hang it
app.exec()
print(json.dumps({"before": before, "answer": answer, "received": received}))
