"""The first-run screen (also File > Library Setup…): photo folders and the model."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QFont
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from simdesk.core.models import catalog as models
from simdesk.ui.controller import AppController, describe_error
from simdesk.ui.jobs import InstallModelJob


def local_folders(mime) -> list[str]:
    """Folders among dropped URLs."""
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and os.path.isdir(u.toLocalFile())]


class WelcomePage(QWidget):
    """Emits ``setup_done(folders, model_name)`` once the folders are chosen and the model is
    installed (downloading ResNet-50 here if it was picked, with progress and Cancel)."""

    setup_done = Signal(list, str)

    def __init__(self, controller: AppController, parent=None):
        super().__init__(parent)
        self.controller = controller
        self.install_job: InstallModelJob | None = None
        self.installed: set[str] = set()
        self.setAcceptDrops(True)

        title = QLabel("Welcome to simdesk", self)
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        title.setFont(font)
        intro = QLabel(
            "simdesk looks at every photo in your folders with a neural network, then finds the "
            "photos most similar to any photo you pick. Your photos never leave this computer and "
            "are never changed.", self)
        intro.setWordWrap(True)

        folders_box = QGroupBox("1. Your photo folders", self)
        self.folder_list = QListWidget(folders_box)
        self.folder_list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.folder_list.setMinimumHeight(110)
        self.add_button = QPushButton("Add folder…", folders_box)
        self.add_button.clicked.connect(self.choose_folder)
        self.remove_button = QPushButton("Remove", folders_box)
        self.remove_button.clicked.connect(self.remove_selected)
        hint = QLabel("Or drag folders here.", folders_box)
        hint.setEnabled(False)
        folder_buttons = QHBoxLayout()
        folder_buttons.addWidget(self.add_button)
        folder_buttons.addWidget(self.remove_button)
        folder_buttons.addWidget(hint)
        folder_buttons.addStretch(1)
        folders_layout = QVBoxLayout(folders_box)
        folders_layout.addWidget(self.folder_list)
        folders_layout.addLayout(folder_buttons)

        model_box = QGroupBox("2. The model", self)
        size_mb = models.RESNET50_APPROX_BYTES / 1e6
        self.resnet_radio = QRadioButton(model_box)
        self.resnet_text = (f"ResNet-50 — best results; downloads about {size_mb:.0f} MB "
                            "(torchvision's ImageNet weights) once")
        self.offline_radio = QRadioButton(model_box)
        self.offline_text = ("EfficientNet-Lite0 — offline: no download, smaller and faster, "
                             "nearly as good")
        self.current_radio = QRadioButton(model_box)  # an imported model the library uses now
        self.current_radio.setVisible(False)
        self.current_model: str | None = None
        self.model_group = QButtonGroup(self)
        self.model_group.addButton(self.resnet_radio)
        self.model_group.addButton(self.offline_radio)
        self.model_group.addButton(self.current_radio)
        self.resnet_radio.setChecked(True)
        self.progress = QProgressBar(model_box)
        self.progress.setVisible(False)
        self.progress_label = QLabel(model_box)
        self.progress_label.setVisible(False)
        self.cancel_button = QPushButton("Cancel download", model_box)
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_install)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        model_layout = QVBoxLayout(model_box)
        model_layout.addWidget(self.resnet_radio)
        model_layout.addWidget(self.offline_radio)
        model_layout.addWidget(self.current_radio)
        model_layout.addLayout(progress_row)
        model_layout.addWidget(self.progress_label)

        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setStyleSheet("color: #b3261e;")
        self.message.setVisible(False)
        self.offline_button = QPushButton("Use the offline model instead", self)
        self.offline_button.setVisible(False)
        self.offline_button.clicked.connect(self.use_offline)
        self.start_button = QPushButton("Start", self)
        self.start_button.setDefault(True)
        self.start_button.setMinimumWidth(140)
        self.start_button.clicked.connect(self.start)
        buttons = QHBoxLayout()
        buttons.addWidget(self.offline_button)
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)

        column = QVBoxLayout()
        column.setSpacing(14)
        column.addWidget(title)
        column.addWidget(intro)
        column.addWidget(folders_box)
        column.addWidget(model_box)
        column.addWidget(self.message)
        column.addLayout(buttons)
        column.addStretch(1)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(column, 4)
        outer.addStretch(1)
        self._update_labels()
        self._update_buttons()
        self.folder_list.itemSelectionChanged.connect(self._update_buttons)

    # -- state ---------------------------------------------------------------------------------

    def prefill(self, folders: list[str], model: str, message: str | None = None) -> None:
        self.folder_list.clear()
        self.folder_list.addItems(folders)
        builtin = model in (models.DEFAULT_MODEL, models.OFFLINE_MODEL)
        self.current_model = None if builtin else model
        self.current_radio.setVisible(not builtin)
        self.current_radio.setText(f"Keep the current model, {model}")
        if model == models.OFFLINE_MODEL:
            self.offline_radio.setChecked(True)
        elif builtin:
            self.resnet_radio.setChecked(True)
        else:
            self.current_radio.setChecked(True)
        self.show_message(message)
        self.refresh_installed()
        self._update_buttons()

    def refresh_installed(self) -> None:
        def done(found) -> None:
            self.installed = {m.name for m in found}
            self._update_labels()

        self.controller.reads.run(models.installed_models, on_result=done)

    def _update_labels(self) -> None:
        mark = "  ✓ installed"
        self.resnet_radio.setText(self.resnet_text + (mark if models.DEFAULT_MODEL in self.installed else ""))
        self.offline_radio.setText(self.offline_text + (mark if models.OFFLINE_MODEL in self.installed else ""))

    def _update_buttons(self) -> None:
        busy = self.install_job is not None
        self.remove_button.setEnabled(bool(self.folder_list.selectedItems()) and not busy)
        self.add_button.setEnabled(not busy)
        self.start_button.setEnabled(self.folder_list.count() > 0 and not busy)
        for radio in (self.resnet_radio, self.offline_radio, self.current_radio):
            radio.setEnabled(not busy)

    @property
    def folders(self) -> list[str]:
        return [self.folder_list.item(i).text() for i in range(self.folder_list.count())]

    @property
    def chosen_model(self) -> str:
        if self.current_radio.isChecked() and self.current_model:
            return self.current_model
        return models.OFFLINE_MODEL if self.offline_radio.isChecked() else models.DEFAULT_MODEL

    def show_message(self, text: str | None, offer_offline: bool = False) -> None:
        self.message.setText(text or "")
        self.message.setVisible(bool(text))
        self.offline_button.setVisible(offer_offline)

    # -- folders -------------------------------------------------------------------------------

    def add_folders(self, paths: list[str]) -> None:
        current = set(self.folders)
        for path in paths:
            path = os.path.abspath(path)
            if path not in current:
                self.folder_list.addItem(path)
                current.add(path)
        self._update_buttons()

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a photo folder", os.path.expanduser("~"))
        if path:
            self.add_folders([path])

    def remove_selected(self) -> None:
        for item in self.folder_list.selectedItems():
            self.folder_list.takeItem(self.folder_list.row(item))
        self._update_buttons()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_folders(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        folders = local_folders(event.mimeData())
        if folders:
            self.add_folders(folders)
            event.acceptProposedAction()

    # -- model install -------------------------------------------------------------------------

    def start(self) -> None:
        if not self.folders:
            self.show_message("Add at least one photo folder first.")
            return
        self.show_message(None)
        model = self.chosen_model
        if model in self.installed or model == self.current_model:
            self.setup_done.emit(self.folders, model)
            return
        self._install(model)

    def use_offline(self) -> None:
        self.offline_radio.setChecked(True)
        self.start()

    def _install(self, model: str) -> None:
        job = InstallModelJob(model, self)
        job.progress.connect(self._install_progress)
        job.succeeded.connect(self._installed)
        job.failed.connect(self._install_failed)
        self.install_job = job
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.progress_label.setVisible(True)
        self.progress_label.setText("Starting…")
        self.cancel_button.setVisible(model == models.DEFAULT_MODEL)
        self.cancel_button.setEnabled(True)
        self._update_buttons()
        job.start()

    def _install_progress(self, p) -> None:
        done, total = p.done, p.total
        if p.phase == "downloading":
            if total:
                self.progress.setRange(0, 1000)
                self.progress.setValue(int(1000 * done / total))
                self.progress_label.setText(f"Downloading ResNet-50… {done / 1e6:.1f} of {total / 1e6:.0f} MB")
            else:
                self.progress.setRange(0, 0)
                self.progress_label.setText(f"Downloading ResNet-50… {done / 1e6:.1f} MB")
        else:
            self.progress.setRange(0, 0)
            self.progress_label.setText("Converting the model to ONNX…")
            self.cancel_button.setEnabled(False)

    def cancel_install(self) -> None:
        if self.install_job is not None:
            self.install_job.cancel()
            self.cancel_button.setEnabled(False)
            self.progress_label.setText("Cancelling…")

    def _finish_job(self) -> None:
        job, self.install_job = self.install_job, None
        if job is not None:
            job.deleteLater()
        self.progress.setVisible(False)
        self.progress_label.setVisible(False)
        self.cancel_button.setVisible(False)
        self._update_buttons()

    def _installed(self, manifest) -> None:
        self._finish_job()
        self.installed.add(manifest.name)
        self._update_labels()
        self.setup_done.emit(self.folders, manifest.name)

    def _install_failed(self, exc) -> None:
        cancelled = self.install_job is not None and self.install_job.cancel_requested
        self._finish_job()
        if cancelled:
            self.show_message("Download cancelled. Start again to resume it, or use the offline "
                              "model.", offer_offline=True)
        else:
            self.show_message(describe_error(exc), offer_offline=self.chosen_model != models.OFFLINE_MODEL)
