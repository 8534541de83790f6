"""One engine, two faces: the engine must import no GUI or web framework, the API no Qt."""

from __future__ import annotations

import subprocess
import sys

import pytest

FORBIDDEN = {
    "engine": ("PySide6", "pyqtgraph", "flask", "werkzeug", "waitress", "api", "desktop"),
    "api": ("PySide6", "pyqtgraph", "desktop"),
}
ENGINE_MODULES = ["engine", "engine.service", "engine.schemas", "engine.errors"]


@pytest.mark.parametrize(("package", "modules"), [("engine", ENGINE_MODULES), ("api", ["api"])])
def test_package_does_not_import_forbidden_frameworks(package: str, modules: list[str]) -> None:
    code = (
        "import importlib, sys, pkgutil\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN[package]!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, f"importing {package} failed:\n{out.stderr}"
    assert out.stdout.strip() == "", f"{package} imported {out.stdout.strip()}"
