"""Where the bundled resources live: relative to the package, from source and frozen alike."""

from __future__ import annotations

import os
from pathlib import Path

_ENV = "REBALANCER_RESOURCES"


def resources_dir() -> Path:
    """The ``resources/`` folder beside the ``engine`` package (overridable by $REBALANCER_RESOURCES).

    PyInstaller places ``resources/`` beside the frozen ``engine`` package too, so no
    ``sys._MEIPASS`` lookup is needed.
    """
    override = os.environ.get(_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "resources"


def market_dir() -> Path:
    return resources_dir() / "market"
