"""The map page's toolbar: Back, the title, free map or tidy grid, colour by, Fit all, Recompute
and Export; below them what the map shows and the colour legend. The page connects the actions."""

from __future__ import annotations

import html
import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMenu, QToolButton, QVBoxLayout, QWidget

MODE_LABELS = (("tsne", "Free map"), ("grid", "Tidy grid"))
COLOURINGS = (("", "Photo colours"), ("folder", "Folder"), ("date", "Date"))


class MapToolbar(QWidget):
    """``mode``: the checked one of ``MODE_LABELS``; ``colour``: the chosen key of ``COLOURINGS``."""

    def __init__(self, mode: str, colour: str, parent=None):
        super().__init__(parent)
        self.back_button = QToolButton(self)
        self.back_button.setText("← Back")
        self.back_button.setToolTip("Back to where the map was opened from (Esc)")
        self.title = QLabel(self)
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title.setFont(font)

        self.mode_actions: dict[str, QAction] = {}
        mode_group = QActionGroup(self)
        mode_buttons = []
        tips = {"tsne": "Similar photos near each other (t-SNE)",
                "grid": "The same map as a tidy grid, no overlaps"}
        for key, label in MODE_LABELS:
            action = QAction(label, self, checkable=True)
            action.setToolTip(tips[key])
            action.setChecked(key == mode)
            mode_group.addAction(action)
            self.mode_actions[key] = action
            button = QToolButton(self)
            button.setDefaultAction(action)
            mode_buttons.append(button)

        self.colour_combo = QComboBox(self)
        for key, label in COLOURINGS:
            self.colour_combo.addItem(label, key)
        self.colour_combo.setCurrentIndex([k for k, _ in COLOURINGS].index(colour))
        self.colour_combo.setToolTip("Frame each photo in the colour of its folder or its date")

        self.labels_action = QAction("Labels", self, checkable=True)
        self.labels_action.setToolTip("Name each region of the map by what most of its photos show")
        self.lasso_action = QAction("Lasso", self, checkable=True)
        self.lasso_action.setToolTip("Select photos by drawing around them (L); Shift adds")
        labels_button = QToolButton(self)
        labels_button.setDefaultAction(self.labels_action)
        lasso_button = QToolButton(self)
        lasso_button.setDefaultAction(self.lasso_action)
        self.fit_action = QAction("Fit all", self)
        self.fit_action.setToolTip("Show the whole map (0 or Home)")
        self.recompute_action = QAction("Recompute layout", self)
        self.recompute_action.setToolTip("Lay the map out afresh (it is kept in the library)")
        self.export_view_action = QAction("Export view as PNG…", self)
        self.export_map_action = QAction("Export whole map as PNG…", self)
        fit_button = QToolButton(self)
        fit_button.setDefaultAction(self.fit_action)
        recompute_button = QToolButton(self)
        recompute_button.setDefaultAction(self.recompute_action)
        self.export_menu = QMenu(self)
        self.export_menu.addAction(self.export_view_action)
        self.export_menu.addAction(self.export_map_action)
        self.export_button = QToolButton(self)
        self.export_button.setText("Export")
        self.export_button.setMenu(self.export_menu)
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.back_button)
        header.addWidget(self.title, 1)
        for button in mode_buttons:
            header.addWidget(button)
        header.addSpacing(8)
        header.addWidget(QLabel("Colour by", self))
        header.addWidget(self.colour_combo)
        header.addSpacing(8)
        header.addWidget(labels_button)
        header.addWidget(lasso_button)
        header.addWidget(fit_button)
        header.addWidget(recompute_button)
        header.addWidget(self.export_button)

        self.info = QLabel(self)
        self.info.setEnabled(False)
        self.legend = QLabel(self)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        details = QHBoxLayout()
        details.setContentsMargins(0, 0, 0, 0)
        details.addWidget(self.info, 1)
        details.addWidget(self.legend)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addLayout(details)

    def show_legend(self, entries: list, what: str | None) -> None:
        """(colour, label) pairs of the canvas's colouring (``what``), at most six named."""
        if not entries:
            self.legend.setText("")
            return
        if what == "date":
            entries = [(entries[0][0], f"oldest {entries[0][1]}"), (entries[-1][0], f"newest {entries[-1][1]}")]
        shown = entries[:6]
        items = [f'<span style="color: rgb({c[0]},{c[1]},{c[2]})">■</span>&nbsp;'
                 f'{html.escape(os.path.basename(label.rstrip(os.sep)) or label)}' for c, label in shown]
        if len(entries) > len(shown):
            items.append(f"… {len(entries) - len(shown)} more")
        self.legend.setText("&nbsp;&nbsp; ".join(items))
