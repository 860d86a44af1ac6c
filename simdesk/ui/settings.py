"""Window geometry and view settings, kept in QSettings (the library keeps folders and model)."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QWidget


def default_settings() -> QSettings:
    """The user's settings (``~/.config/simdesk/simdesk.conf`` on Linux)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "simdesk", "simdesk")


def settings_value(settings: QSettings, key: str, default, kind=None):
    """A typed read: QSettings hands back strings from INI files."""
    value = settings.value(key, default)
    if kind is None:
        kind = type(default)
    try:
        if kind is bool and isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return kind(value)
    except (TypeError, ValueError):
        return default


class PersistentGeometry:
    """Mixin for top-level widgets: restores the geometry (and a QMainWindow's state) saved under
    ``geometry_key``; :meth:`save_geometry` is called from ``closeEvent`` and ``hideEvent``."""

    geometry_key = ""

    def restore_geometry(self: QWidget, settings: QSettings) -> bool:
        self._geometry_settings = settings
        data = settings.value(f"{self.geometry_key}/geometry", QByteArray())
        restored = isinstance(data, QByteArray) and not data.isEmpty() and self.restoreGeometry(data)
        state = settings.value(f"{self.geometry_key}/state", QByteArray())
        if isinstance(state, QByteArray) and not state.isEmpty() and hasattr(self, "restoreState"):
            self.restoreState(state)
        return restored

    def save_geometry(self: QWidget) -> None:
        settings = getattr(self, "_geometry_settings", None)
        if settings is None:
            return
        settings.setValue(f"{self.geometry_key}/geometry", self.saveGeometry())
        if hasattr(self, "saveState"):
            settings.setValue(f"{self.geometry_key}/state", self.saveState())
