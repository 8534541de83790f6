"""Results for tabs nobody is looking at are rendered when the tab is next shown.

After every edit the engine answers for four tabs at once (trades, risk, Monte Carlo,
scenarios). Drawing the charts and tables of the three that are hidden cost the GUI thread
50–110 ms each time, more while a 5,000-holding document opens and the workers compete for the
GIL, and nobody saw them. So a hidden tab keeps only the latest thing to show (a result or an
error, whichever came last) and shows it when it becomes the current tab. A window that is not
on screen (offscreen renders, tests that never show it) renders at once.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QTabWidget, QWidget

__all__ = ["DeferredTabs"]


class DeferredTabs(QObject):
    """Deliver renders to the pages of ``tabs``: now if the page is showing, else on its next showing."""

    def __init__(self, tabs: QTabWidget) -> None:
        super().__init__(tabs)
        self._tabs = tabs
        self._pending: dict[QWidget, tuple[Callable[[], None], bool]] = {}  # page -> (render, is an error)
        tabs.currentChanged.connect(self._shown)

    def deliver(self, page: QWidget, render: Callable[[], None], *, error: bool = False) -> None:
        """Run ``render`` now if ``page`` is the current tab (or the tabs are not on screen), else
        keep it, replacing whatever was kept for ``page`` before. ``error``: it shows a failure,
        which :meth:`started` drops."""
        if self._tabs.currentWidget() is page or not self._tabs.isVisible():
            self._pending.pop(page, None)
            render()
        else:
            self._pending[page] = (render, error)

    def started(self, page: QWidget) -> None:
        """A new computation for ``page`` began: a failure kept from the one before is stale (shown
        now, it would sit beside the new run's busy state); a kept result still stands."""
        kept = self._pending.get(page)
        if kept is not None and kept[1]:
            del self._pending[page]

    def pending(self, page: QWidget) -> bool:
        return page in self._pending

    def _shown(self, index: int) -> None:
        kept = self._pending.pop(self._tabs.widget(index), None)
        if kept is not None:
            kept[0]()
