"""The list model behind every thumbnail grid: ids, paths, hashes and sort keys, nothing heavier.

A :class:`PhotoListing` is built on a worker (from ``Library.browse`` or a similar-photos query)
and handed to :meth:`PhotoListModel.set_listing`. Thumbnails are not part of the model's state:
``data(..., DecorationRole)`` asks the :class:`~simdesk.ui.thumbnails.ThumbnailLoader`, which
answers from its LRU or queues a load; when the load lands, the model emits ``dataChanged`` for
the rows that asked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QUrl,
)

from simdesk.ui.thumbnails import ThumbnailLoader

PathRole = Qt.ItemDataRole.UserRole + 1
PhotoIdRole = Qt.ItemDataRole.UserRole + 2
HashRole = Qt.ItemDataRole.UserRole + 3
TimeRole = Qt.ItemDataRole.UserRole + 4
SimilarityRole = Qt.ItemDataRole.UserRole + 5
RankRole = Qt.ItemDataRole.UserRole + 6
ThumbnailMissingRole = Qt.ItemDataRole.UserRole + 7


def role_data(index: QModelIndex | QPersistentModelIndex, role: int):
    """``index.data(role)``, asked of our Python model directly when it is one of ours.

    The delegate asks for several roles per cell per frame: a direct Python call skips the round
    trip through QVariant (and the PySide6 6.12.0 reference leak on None and bools that goes with
    it, see :mod:`simdesk.ui.pyside_guard`).
    """
    model = index.model()
    if isinstance(model, PhotoListModel):
        return model.data(index, role)
    return index.data(role)


@dataclass
class PhotoListing:
    """Parallel arrays describing a list of photos, in display order."""

    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    paths: list[str] = field(default_factory=list)
    hashes: list[bytes | None] = field(default_factory=list)
    times: np.ndarray | None = None  # POSIX seconds (browsing)
    similarities: np.ndarray | None = None  # cosine similarity (similar-photo results)

    def __len__(self) -> int:
        return len(self.paths)

    @classmethod
    def from_browse(cls, rows) -> "PhotoListing":
        ids, paths, hashes, times = rows
        return cls(np.asarray(ids, dtype=np.int64), list(paths), list(hashes), np.asarray(times))

    def without(self, rows: set[int]) -> "PhotoListing":
        keep = [i for i in range(len(self)) if i not in rows]
        pick = np.asarray(keep, dtype=np.int64)
        return PhotoListing(
            self.ids[pick] if len(self.ids) else self.ids,
            [self.paths[i] for i in keep],
            [self.hashes[i] for i in keep],
            None if self.times is None else self.times[pick],
            None if self.similarities is None else self.similarities[pick],
        )


class PhotoListModel(QAbstractListModel):
    """A flat list of photos for a ``QListView``; thumbnails come from ``thumbnails``."""

    def __init__(self, thumbnails: ThumbnailLoader | None = None, parent=None):
        super().__init__(parent)
        self._listing = PhotoListing()
        self._thumbnails = thumbnails
        self._waiting: dict[bytes, set[int]] = {}  # content hash -> rows that asked for it
        if thumbnails is not None:
            thumbnails.loaded.connect(self._thumbnails_loaded)

    # -- Qt model API --------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._listing)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.model() is not self:
            return None
        row = index.row()
        listing = self._listing
        if not 0 <= row < len(listing):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return os.path.basename(listing.paths[row])
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            text = listing.paths[row]
            if listing.similarities is not None:
                text = f"{text}\nsimilarity {float(listing.similarities[row]):.3f}"
            return text
        if role == PathRole:
            return listing.paths[row]
        if role == PhotoIdRole:
            return int(listing.ids[row]) if len(listing.ids) else None
        if role == HashRole:
            return listing.hashes[row]
        if role == TimeRole:
            return None if listing.times is None else float(listing.times[row])
        if role == SimilarityRole:
            return None if listing.similarities is None else float(listing.similarities[row])
        if role == RankRole:
            return row + 1
        if role == ThumbnailMissingRole:
            chash = listing.hashes[row]
            return chash is None or (self._thumbnails is not None and chash in self._thumbnails.missing)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren
                | Qt.ItemFlag.ItemIsDragEnabled)

    # Photos dragged out (to a file manager, a mail, an editor) are offered as copies only: a
    # drop that moved the file would take it out of the library behind simdesk's back.
    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list", "text/plain"]

    def mimeData(self, indexes) -> QMimeData:
        rows = sorted({index.row() for index in indexes if index.isValid()})
        paths = [self.path(row) for row in rows]
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(path) for path in paths])
        mime.setText("\n".join(paths))
        return mime

    def roleNames(self) -> dict[int, QByteArray]:
        names = super().roleNames()
        names.update({
            PathRole: QByteArray(b"path"),
            PhotoIdRole: QByteArray(b"photoId"),
            HashRole: QByteArray(b"contentHash"),
            TimeRole: QByteArray(b"time"),
            SimilarityRole: QByteArray(b"similarity"),
            RankRole: QByteArray(b"rank"),
            ThumbnailMissingRole: QByteArray(b"thumbnailMissing"),
        })
        return names

    # -- ours ----------------------------------------------------------------------------------

    @property
    def listing(self) -> PhotoListing:
        return self._listing

    def set_listing(self, listing: PhotoListing) -> None:
        self.beginResetModel()
        self._listing = listing
        self._waiting.clear()
        self.endResetModel()

    def cell(self, row: int) -> tuple[str, object, bool, float | None]:
        """What the delegate paints, in one call: (file name, pixmap or None, thumbnail known to be
        missing, similarity or None). Asks for the thumbnail like DecorationRole does."""
        listing = self._listing
        chash = listing.hashes[row]
        pixmap = self._thumbnail(row)
        missing = chash is None or (self._thumbnails is not None and chash in self._thumbnails.missing)
        similarity = None if listing.similarities is None else float(listing.similarities[row])
        return os.path.basename(listing.paths[row]), pixmap, missing, similarity

    def path(self, row: int) -> str:
        return self._listing.paths[row]

    def row_of_path(self, path: str) -> int | None:
        try:
            return self._listing.paths.index(path)
        except ValueError:
            return None

    def row_of_id(self, photo_id: int) -> int | None:
        rows = np.flatnonzero(self._listing.ids == photo_id)
        return int(rows[0]) if len(rows) else None

    def remove_paths(self, paths) -> int:
        """Drop these photos from the list (after a move to Trash); returns how many were shown."""
        wanted = set(paths)
        rows = [i for i, p in enumerate(self._listing.paths) if p in wanted]
        # One removal per contiguous run, from the bottom up, so earlier rows keep their numbers.
        runs: list[list[int]] = []
        for row in rows:
            if runs and runs[-1][1] == row - 1:
                runs[-1][1] = row
            else:
                runs.append([row, row])
        for first, last in reversed(runs):
            self.beginRemoveRows(QModelIndex(), first, last)
            self._listing = self._listing.without(set(range(first, last + 1)))
            self._waiting.clear()
            self.endRemoveRows()
        return len(rows)

    def _thumbnail(self, row: int):
        chash = self._listing.hashes[row]
        if chash is None or self._thumbnails is None:
            return None
        pixmap = self._thumbnails.get(chash)
        if (pixmap is None and chash not in self._thumbnails.missing) or self._thumbnails.pending(chash):
            self._waiting.setdefault(chash, set()).add(row)
        return pixmap

    def _thumbnails_loaded(self, hashes: list) -> None:
        roles = [Qt.ItemDataRole.DecorationRole, ThumbnailMissingRole]
        rows: list[int] = []
        for chash in hashes:
            rows.extend(self._waiting.pop(chash, ()))
        n = len(self._listing)
        for row in sorted(r for r in rows if r < n):
            index = self.index(row, 0)
            self.dataChanged.emit(index, index, roles)
