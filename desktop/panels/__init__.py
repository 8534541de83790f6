"""The result panels of the main window: Rebalance, Risk, Monte Carlo and Scenarios tabs.

Panels only display what the engine returned; the charts and formatters they share live in
:mod:`desktop.panels.charts` and :mod:`desktop.panels.formatting`.
"""

from __future__ import annotations
