"""The holdings table's Qt plumbing, shaped so that painting 5,000 rows stays cheap for the GUI thread.

Every call Qt makes into a Python model needs the GIL, and while an engine worker runs Python
each acquisition can wait for it: what matters is how *many* calls a paint or a layout makes,
not how long each takes. Qt's own ``QSortFilterProxyModel`` answers ``multiData`` with one
``data`` call per role and maps every index through the source model, so a painted cell costs
about 24 trips into Python; :class:`HoldingsProxy` forwards ``multiData`` and ``flags`` whole
(two trips). :class:`RowNumberHeader` sizes the row-number column from a handful of rows
instead of the 200 Qt samples, each asked for several roles. The cell editors are here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QModelRoleDataSpan, QPersistentModelIndex, QSize, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QComboBox, QCompleter, QHeaderView, QLineEdit, QStyledItemDelegate, QWidget

from engine.schemas import ASSET_CLASSES

__all__ = ["AssetClassDelegate", "HoldingsProxy", "RowNumberHeader", "TextDelegate"]

_Index = QModelIndex | QPersistentModelIndex


class HoldingsProxy(QSortFilterProxyModel):
    """Sorting and filtering as Qt's proxy does them; ``multiData`` and ``flags`` go to the
    source model in one call each."""

    def multiData(self, index: _Index, roleDataSpan: QModelRoleDataSpan) -> None:
        self.sourceModel().multiData(self.mapToSource(index), roleDataSpan)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        return self.sourceModel().flags(self.mapToSource(index))

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """A row's header is its source row's (the row number in the document)."""
        if orientation == Qt.Orientation.Vertical and 0 <= section < self.rowCount():
            source = self.mapToSource(self.index(section, 0)).row()
            return self.sourceModel().headerData(source, orientation, role)
        return super().headerData(section, orientation, role)


class RowNumberHeader(QHeaderView):
    """A vertical header of row numbers whose size hint measures a few sections, not 200.

    Its labels are the source rows' numbers, so the widest is that of the last source row; the
    first and last sections shown are measured as well. The hint is kept until the number of
    rows or the font changes.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self._hint: tuple[Any, QSize] | None = None

    def _widest_section(self) -> int:
        model = self.model()
        source = model.sourceModel() if isinstance(model, QSortFilterProxyModel) else None
        if source is None:
            return self.count() - 1
        last = source.rowCount() - 1
        return model.mapFromSource(source.index(last, 0)).row() if last >= 0 else -1

    def sizeHint(self) -> QSize:
        key = (self.count(), self.font().toString(), self.model())
        if self._hint is not None and self._hint[0] == key:
            return self._hint[1]
        n = self.count()
        hint = QSize(0, 0)
        for section in {*range(min(n, 3)), *range(max(n - 3, 0), n), self._widest_section()}:
            if 0 <= section < n and not self.isSectionHidden(section):
                hint = hint.expandedTo(self.sectionSizeFromContents(section))
        self._hint = (key, hint)
        return hint


class TextDelegate(QStyledItemDelegate):
    """A plain line editor, so that numbers keep their precision and the engine judges the text."""

    def __init__(self, completions: Sequence[str] = (), parent: Any = None) -> None:
        super().__init__(parent)
        self.completions = list(completions)

    def createEditor(self, parent: QWidget, option: Any, index: QModelIndex) -> QWidget:
        editor = QLineEdit(parent)
        if self.completions:
            completer = QCompleter(self.completions, editor)
            completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
            editor.setCompleter(completer)
        return editor

    def setEditorData(self, editor: QWidget, index: QModelIndex) -> None:
        value = index.data(Qt.ItemDataRole.EditRole)
        editor.setText(repr(value) if isinstance(value, float) else str(value or ""))  # type: ignore[attr-defined]

    def setModelData(self, editor: QWidget, model: Any, index: QModelIndex) -> None:
        model.setData(index, editor.text(), Qt.ItemDataRole.EditRole)  # type: ignore[attr-defined]


class AssetClassDelegate(QStyledItemDelegate):
    def createEditor(self, parent: QWidget, option: Any, index: QModelIndex) -> QWidget:
        combo = QComboBox(parent)
        combo.addItems(list(ASSET_CLASSES))
        return combo

    def setEditorData(self, editor: QWidget, index: QModelIndex) -> None:
        editor.setCurrentText(str(index.data(Qt.ItemDataRole.EditRole)))  # type: ignore[attr-defined]

    def setModelData(self, editor: QWidget, model: Any, index: QModelIndex) -> None:
        model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)  # type: ignore[attr-defined]
