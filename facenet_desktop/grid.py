"""Grids and keys the pages share: an icon grid that stays fast with many items, its
selection and context menu, and page-wide shortcuts."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QMenu,
    QWidget,
)

from facenet_desktop.models import (
    ID_ROLE,
)


def grid_view(parent: QWidget, tile: int = 128, text_lines: int = 2) -> QListView:
    """An icon grid that stays fast with many items: uniform sizes, batched layout."""
    view = QListView(parent)
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setMovement(QListView.Movement.Static)
    view.setUniformItemSizes(True)
    view.setLayoutMode(QListView.LayoutMode.Batched)
    view.setBatchSize(200)
    view.setIconSize(QSize(tile, tile))
    view.setGridSize(QSize(tile + 24, tile + 18 * text_lines + 12))
    view.setWordWrap(True)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    return view


def right_clicked(view: QListView, pos: QPoint):  # noqa: ANN201 - QModelIndex or None
    """The item under a right-click; it joins the selection (alone, if it was not selected)."""
    index = view.indexAt(pos)
    if not index.isValid():
        return None
    if not view.selectionModel().isSelected(index):
        view.setCurrentIndex(index)
    return index


def add_context_menu(view: QListView, menu_at: Callable[[QPoint], QMenu]) -> None:
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    view.customContextMenuRequested.connect(lambda pos: menu_at(pos).exec(view.mapToGlobal(pos)))


def selected_ids(view: QListView) -> list[int]:
    return [index.data(ID_ROLE) for index in view.selectionModel().selectedIndexes()]


def page_keys(page: QWidget, keys: list[tuple[Qt.Key | QKeySequence.StandardKey, Callable[[], object]]]) -> None:
    """Shortcuts that work while the page is on screen, wherever the focus is on it."""
    for key, slot in keys:
        shortcut = QShortcut(QKeySequence(key), page)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)
