"""Compare two photos of a duplicate group: side by side, flipped in place, or their difference.

Both photos are decoded at full resolution on a read worker (``controller.reads``, the app's way
off the GUI thread), and the difference after alignment (``core.duplicates.difference``) is
computed there too. The two views share one coordinate system, the first photo's pixels (the
second is scaled to the first's width), so zoom and pan stay in step: the same part of the picture
shows on both sides.

Keys: Left/Right the previous/next copy of the group on the right, S side by side, F flip (again:
the other photo), D difference, + and - zoom, 0 fit, 1 actual pixels, K keep the photo on the
right, Esc (or Space, Enter) closes.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QImage, QKeyEvent, QPainter, QPixmap, QTransform, QWheelEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
)

from simdesk.core.units import format_bytes
from simdesk.ui.settings import PersistentGeometry

MAX_SIDE = 16384  # "full resolution": photos are decoded whole up to this side
ZOOM_STEP = 1.25
MODES = ("side", "flip", "difference")


def evidence_dict(evidence) -> dict | None:
    """A member's verification evidence (a dict; a JSON string is accepted too)."""
    if evidence is None:
        return None
    if isinstance(evidence, str):
        try:
            return json.loads(evidence)
        except ValueError:
            return None
    return dict(evidence)


def evidence_text(group, member, evidence) -> str:
    """The verdict on ``member`` against the kept copy of ``group``, in words, with its numbers."""
    if member.path == group.keep:
        return "The copy kept in this group."
    if member.content_hash == group.kept.content_hash:
        return "Identical bytes: the same file (the same content hash)."
    ev = evidence_dict(evidence)
    if not ev:
        return (f"Similarity {member.similarity:.2f} to the kept copy; not verified on the pixels "
                "(no local features for one of them).")
    if ev.get("identical"):
        return "Identical bytes: the same file."
    verdict = {"copy": "a copy of the kept photo", "similar_shot": "another shot of the same scene",
               "different": "different photos"}
    kind = "copy" if group.kind == "copy" else "similar_shot" if group.kind == "similar_shot" else ""
    parts = [f"Verdict: {verdict.get(kind, group.kind)} — {ev.get('reason', '')}"]
    numbers = []
    if "inliers" in ev:
        numbers.append(f"{ev['inliers']} of {ev.get('matches', '?')} matched points agree")
    if ev.get("scale"):
        numbers.append(f"scale {ev['scale']:.2f}")
    if "rotation_deg" in ev:
        numbers.append(f"rotation {round(ev['rotation_deg'], 1) + 0.0:.1f}°")  # + 0.0: no "-0.0°"
    numbers.append("mirrored" if ev.get("mirrored") else "not mirrored")
    if ev.get("ncc"):
        numbers.append(f"correlation after alignment {ev['ncc']:.2f}")
    if "changed_fraction" in ev:
        numbers.append(f"{100 * ev['changed_fraction']:.0f}% of the picture changed")
    parts.append(" · ".join(numbers))
    return "\n".join(parts)


def details_text(member, group, ticked: bool) -> str:
    p = member.provenance
    dims = f"{member.width}×{member.height}" if member.pixels else "size unknown"
    quality = f" · JPEG quality {p.jpeg_quality}" if p.jpeg_quality else ""
    file_date = time.strftime("%Y-%m-%d %H:%M", time.localtime(member.mtime_ns / 1e9))
    taken = ("taken " + time.strftime("%Y-%m-%d %H:%M", time.gmtime(member.capture_time))
             if member.capture_time is not None else "no capture date")
    role = ("KEEP" if member.path == group.keep else "reference folder: never moved" if member.reference
            else "ticked for the Trash" if ticked else "not ticked")
    return "\n".join([
        f"{os.path.basename(member.path)} — {role}",
        f"{dims} · {format_bytes(member.size)}{quality}",
        f"{taken} · file date {file_date}",
        f"camera: {p.camera or '—'} · software: {p.software or '—'}",
        f"folder: {member.folder}",
        f"path: {member.path}",
    ])


def _decode_rgb(path: str) -> np.ndarray | None:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            if max(img.size) > MAX_SIDE:
                img.thumbnail((MAX_SIDE, MAX_SIDE))
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, MemoryError):
        return None


def _qimage(rgb: np.ndarray) -> QImage:
    h, w = rgb.shape[:2]
    rgb = np.ascontiguousarray(rgb)
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def load_pair(path_a: str, path_b: str):
    """On a worker: both photos at full resolution and the difference of b from a.
    Returns (QImage a or None, QImage b or None, Difference or None, its QImage or None)."""
    from simdesk.core.duplicates.difference import difference

    a, b = _decode_rgb(path_a), _decode_rgb(path_b)
    diff = difference(a, b) if a is not None and b is not None else None
    return (_qimage(a) if a is not None else None, _qimage(b) if b is not None else None,
            diff, _qimage(diff.image) if diff is not None else None, _full_alignment(diff, a, b))


def _full_alignment(diff, a, b) -> QTransform | None:
    """The difference's alignment (b -> a, at the comparison's size) between the full-size photos,
    as a QTransform; None without one, or mirrored (then b is only scaled to a's width)."""
    from simdesk.core.duplicates.difference import SIDE

    if diff is None or diff.matrix is None or diff.mirrored:
        return None
    sa = a.shape[1] / diff.image.shape[1]  # comparison pixels of a -> full pixels
    sb = min(1.0, SIDE / max(b.shape[:2]))  # full pixels of b -> comparison pixels
    m = diff.matrix
    lin, t = m[:, :2] * sa * sb, m[:, 2] * sa
    return QTransform(lin[0, 0], lin[1, 0], lin[0, 1], lin[1, 1], t[0], t[1])


class ZoomView(QGraphicsView):
    """A view of one scene in the first photo's pixel coordinates; wheel zooms, drag pans."""

    zoomed = Signal(float)  # the new scale

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setBackgroundBrush(Qt.GlobalColor.darkGray)
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.item)
        self.message = self.scene().addText("")

    def show_image(self, image: QImage | None, width: float, text: str = "",
                   transform: QTransform | None = None) -> None:
        """Show ``image`` scaled to ``width`` scene units (the first photo's pixel width), or placed
        by ``transform`` (the alignment onto the first photo)."""
        if image is None or image.isNull():
            self.item.setPixmap(QPixmap())
            self.message.setPlainText(text or "cannot be shown")
            return
        self.message.setPlainText("")
        self.item.setPixmap(QPixmap.fromImage(image))
        if transform is not None:
            self.item.setScale(1.0)
            self.item.setTransform(transform)
        else:
            self.item.setTransform(QTransform())
            self.item.setScale(width / max(image.width(), 1))

    def scale_factor(self) -> float:
        return self.transform().m11()

    def set_scale_factor(self, factor: float) -> None:
        if abs(factor - self.scale_factor()) > 1e-9:
            self.setTransform(QTransform.fromScale(factor, factor))

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.scale(ZOOM_STEP ** steps, ZOOM_STEP ** steps)
            self.zoomed.emit(self.scale_factor())
        event.accept()


class CompareDialog(PersistentGeometry, QDialog):
    """Two members of a group: ``left`` (the kept copy at first) and ``right`` (stepped with the
    arrow keys). ``keep_requested(group key, path)``: K or the Keep button."""

    geometry_key = "duplicates-compare"
    keep_requested = Signal(str, str)
    loaded = Signal()  # both photos (and their difference) shown

    def __init__(self, controller, parent=None):
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Compare")
        self.group = None
        self.ticked: set[str] = set()
        self.left = 0
        self.right = 1
        self.mode = "side"
        self.flipped = False
        self.images: dict[str, QImage | None] = {}
        self.diff = None
        self.diff_image: QImage | None = None
        self.alignment: QTransform | None = None
        self._task = None
        self._syncing = False

        self.mode_buttons = QButtonGroup(self)
        bar = QHBoxLayout()
        for mode, label, tip in (("side", "Side by side", "S"), ("flip", "Flip", "F: the other photo"),
                                 ("difference", "Difference", "D: where they differ after alignment")):
            button = QPushButton(label, self)
            button.setCheckable(True)
            button.setToolTip(tip)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, m=mode: self.set_mode(m, toggle=True))
            self.mode_buttons.addButton(button)
            button.setProperty("mode", mode)
            bar.addWidget(button)
        bar.addSpacing(16)
        for label, slot, tip in (("Fit", self.fit, "0"), ("100%", self.actual_size, "1"),
                                 ("−", lambda: self.zoom(1 / ZOOM_STEP), "-"),
                                 ("+", lambda: self.zoom(ZOOM_STEP), "+")):
            button = QPushButton(label, self)
            button.setToolTip(f"Zoom ({tip})")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(slot)
            bar.addWidget(button)
        bar.addSpacing(16)
        self.keep_button = QPushButton("Keep the right one", self)
        self.keep_button.setToolTip("Keep this copy in the group (K)")
        self.keep_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.keep_button.clicked.connect(self.keep_right)
        bar.addWidget(self.keep_button)
        bar.addStretch(1)
        self.position = QLabel(self)
        bar.addWidget(self.position)
        keys = QLabel("←/→ other copy · S/F/D modes · wheel or +/− zoom · drag to pan · K keep · Esc close",
                      self)
        keys.setStyleSheet("color: palette(mid);")

        self.view_left, self.view_right = ZoomView(self), ZoomView(self)
        for view, other in ((self.view_left, self.view_right), (self.view_right, self.view_left)):
            view.zoomed.connect(lambda factor, o=other: self._sync_zoom(o, factor))
            view.horizontalScrollBar().valueChanged.connect(
                lambda v, o=other: self._sync_bar(o.horizontalScrollBar(), v))
            view.verticalScrollBar().valueChanged.connect(
                lambda v, o=other: self._sync_bar(o.verticalScrollBar(), v))
        views = QHBoxLayout()
        views.addWidget(self.view_left, 1)
        views.addWidget(self.view_right, 1)
        self.details_left, self.details_right = QLabel(self), QLabel(self)
        for label in (self.details_left, self.details_right):
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        details = QHBoxLayout()
        details.addWidget(self.details_left, 1)
        details.addWidget(self.details_right, 1)
        self.evidence = QLabel(self)
        self.evidence.setTextFormat(Qt.TextFormat.PlainText)
        self.evidence.setWordWrap(True)
        self.evidence.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.evidence.setStyleSheet("background: palette(alternate-base); padding: 6px;")
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(keys)
        layout.addLayout(views, 1)
        layout.addLayout(details)
        layout.addWidget(self.evidence)
        self.resize(1200, 800)
        self.restore_geometry(controller.settings)
        self._check_mode_button()

    # -- what is shown ------------------------------------------------------------------------

    @property
    def members(self) -> list:
        return list(self.group.members) if self.group is not None else []

    @property
    def left_member(self):
        return self.members[self.left]

    @property
    def right_member(self):
        return self.members[self.right]

    def compare(self, group, ticked: set[str], right_path: str | None = None) -> None:
        """Show ``group``: its kept copy on the left, ``right_path`` (or the next copy) on the right."""
        self.group, self.ticked = group, set(ticked)
        paths = [m.path for m in group.members]
        self.left = paths.index(group.keep)
        right = paths.index(right_path) if right_path in paths and right_path != group.keep else None
        self.right = right if right is not None else (self.left + 1) % len(paths)
        self._load()
        self.show()
        self.raise_()
        self.activateWindow()

    def update_group(self, group, ticked: set[str]) -> None:
        """The same group after a choice on the page (another kept copy, ticks): redraw the texts."""
        if self.group is None or group.key != self.group.key:
            return
        right = self.right_member.path
        self.group, self.ticked = group, set(ticked)
        paths = [m.path for m in group.members]
        self.left = paths.index(group.keep)
        self.right = paths.index(right) if right in paths and right != group.keep else (self.left + 1) % len(paths)
        self._load()

    def step(self, delta: int) -> None:
        """The previous (-1) or next (+1) copy of the group on the right, never the left one."""
        n = len(self.members)
        if n < 2:
            return
        k = self.right
        for _ in range(n):
            k = (k + delta) % n
            if k != self.left:
                break
        self.right = k
        self._load()

    def _load(self) -> None:
        a, b = self.left_member, self.right_member
        self.position.setText(f"copy {self.right + 1} of {len(self.members)}")
        self.setWindowTitle(f"Compare {os.path.basename(a.path)} and {os.path.basename(b.path)}")
        self.details_left.setText(details_text(a, self.group, a.path in self.ticked))
        self.details_right.setText(details_text(b, self.group, b.path in self.ticked))
        evidence = self.group.evidence[self.right] if self.group.evidence else None
        self._evidence_base = evidence_text(self.group, b, evidence)
        self.evidence.setText(self._evidence_base + "\nDecoding both photos at full resolution…")
        self.keep_button.setEnabled(b.path != self.group.keep)
        if self._task is not None:
            self._task.cancel()
        self.diff = self.diff_image = self.alignment = None
        for view in (self.view_left, self.view_right):
            view.show_image(None, 1, "loading…")
        self._task = self.controller.reads.run(load_pair, a.path, b.path,
                                               on_result=lambda r, p=(a.path, b.path): self._loaded(p, r),
                                               on_error=self._failed)

    def _loaded(self, paths, result) -> None:
        self._task = None
        if self.group is None or paths != (self.left_member.path, self.right_member.path):
            return
        image_a, image_b, diff, diff_image, alignment = result
        self.images = {paths[0]: image_a, paths[1]: image_b}
        self.diff, self.diff_image, self.alignment = diff, diff_image, alignment
        text = self._evidence_base
        if diff is not None:
            pct = 100 * diff.changed_fraction
            text += (f"\nDifference view: {diff.method}; {pct:.1f}% of the compared area differs."
                     if pct < 10 else f"\nDifference view: {diff.method}; {pct:.0f}% of the compared area differs.")
            text += ("\nSide by side and flip show the second photo aligned onto the first (same place, "
                     "same scale)." if alignment is not None else
                     "\nSide by side and flip show the second photo scaled to the first one's width.")
        self.evidence.setText(text)
        self._show()
        self.fit()
        self.loaded.emit()

    def _failed(self, exc: BaseException) -> None:
        self._task = None
        self.evidence.setText(f"{self._evidence_base}\nCannot decode the photos: {exc}")

    @property
    def width_a(self) -> float:
        image = self.images.get(self.left_member.path)
        return float(image.width()) if image is not None else float(self.left_member.width or 1000)

    def _show(self) -> None:
        a, b = self.left_member.path, self.right_member.path
        width = self.width_a
        self.view_right.setVisible(self.mode != "flip")
        if self.mode == "flip":
            if self.flipped:
                self.view_left.show_image(self.images.get(b), width, transform=self.alignment)
            else:
                self.view_left.show_image(self.images.get(a), width)
        else:
            self.view_left.show_image(self.images.get(a), width)
            if self.mode == "difference":
                self.view_right.show_image(self.diff_image, width, "no difference view")
            else:
                self.view_right.show_image(self.images.get(b), width, transform=self.alignment)
        # One scene rectangle, the first photo's: the scroll bars of both views mean the same place.
        image_a = self.images.get(a)
        rect = (QRectF(0, 0, image_a.width(), image_a.height()) if image_a is not None and not image_a.isNull()
                else QRectF(0, 0, 100, 100))
        for view in (self.view_left, self.view_right):
            view.scene().setSceneRect(rect)
        self.details_left.setText(details_text(self.members[self.right if self.mode == "flip" and self.flipped
                                                            else self.left], self.group,
                                               (b if self.flipped and self.mode == "flip" else a) in self.ticked))
        self.details_right.setVisible(self.mode != "flip")
        self._check_mode_button()

    def _check_mode_button(self) -> None:
        for button in self.mode_buttons.buttons():
            button.setChecked(button.property("mode") == self.mode)

    def set_mode(self, mode: str, toggle: bool = False) -> None:
        if mode == "flip" and self.mode == "flip" and toggle:
            self.flipped = not self.flipped
        elif mode != self.mode:
            self.flipped = False
        self.mode = mode
        if self.group is not None:
            self._show()

    def shown_path(self) -> str | None:
        """In flip mode, the photo now shown."""
        if self.group is None:
            return None
        return self.right_member.path if self.mode == "flip" and self.flipped else self.left_member.path

    # -- zoom and pan -------------------------------------------------------------------------

    def _sync_zoom(self, other: ZoomView, factor: float) -> None:
        if self._syncing:
            return
        self._syncing = True
        other.set_scale_factor(factor)
        source = self.view_left if other is self.view_right else self.view_right
        other.horizontalScrollBar().setValue(source.horizontalScrollBar().value())
        other.verticalScrollBar().setValue(source.verticalScrollBar().value())
        self._syncing = False

    def _sync_bar(self, bar, value: int) -> None:
        if self._syncing:
            return
        self._syncing = True
        bar.setValue(value)
        self._syncing = False

    def zoom(self, factor: float) -> None:
        self.set_zoom(self.view_left.scale_factor() * factor)

    def set_zoom(self, factor: float) -> None:
        for view in (self.view_left, self.view_right):
            view.set_scale_factor(factor)
        self._sync_zoom(self.view_right, factor)

    def fit(self) -> None:
        view = self.view_left
        rect = view.scene().sceneRect()
        if rect.width() <= 0 or rect.height() <= 0:
            return
        port = view.viewport().size()
        self.set_zoom(min(port.width() / rect.width(), port.height() / rect.height()))

    def actual_size(self) -> None:
        """One photo pixel per screen pixel (of the left photo)."""
        self.set_zoom(1.0 / max(self.devicePixelRatioF(), 1.0))

    def keep_right(self) -> None:
        if self.group is not None and self.right_member.path != self.group.keep:
            self.keep_requested.emit(self.group.key, self.right_member.path)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        actions = {
            Qt.Key.Key_Right: lambda: self.step(1), Qt.Key.Key_Left: lambda: self.step(-1),
            Qt.Key.Key_S: lambda: self.set_mode("side"), Qt.Key.Key_F: lambda: self.set_mode("flip", True),
            Qt.Key.Key_D: lambda: self.set_mode("difference"),
            Qt.Key.Key_Plus: lambda: self.zoom(ZOOM_STEP), Qt.Key.Key_Equal: lambda: self.zoom(ZOOM_STEP),
            Qt.Key.Key_Minus: lambda: self.zoom(1 / ZOOM_STEP), Qt.Key.Key_0: self.fit,
            Qt.Key.Key_1: self.actual_size, Qt.Key.Key_K: self.keep_right,
            Qt.Key.Key_Space: self.close, Qt.Key.Key_Return: self.close, Qt.Key.Key_Enter: self.close,
        }
        action = actions.get(key)
        if action is not None and self.group is not None:
            action()
            event.accept()
            return
        super().keyPressEvent(event)
