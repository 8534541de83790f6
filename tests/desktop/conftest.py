"""Shared fixtures of the desktop tests: the bundled sample, an isolated QSettings."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.app import SAMPLE_ID


@pytest.fixture(scope="session")
def sample():
    from engine import service

    return service.sample_portfolio(SAMPLE_ID)


@pytest.fixture(scope="session")
def catalogue():
    from engine import service

    return service.catalogue()


@pytest.fixture
def qsettings(tmp_path: Path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
