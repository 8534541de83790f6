"""The local API switch starts a real server on loopback, which answers, then stops."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

import pytest
from PySide6.QtGui import QGuiApplication

from desktop.api_switch import ApiSwitch


def _get(url: str, token: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_switch_starts_a_loopback_server_that_answers_and_stops(qtbot) -> None:
    switch = ApiSwitch()
    with qtbot.waitSignal(switch.started, timeout=30_000) as started:
        switch.toggle_action.trigger()
    url, token = switch.url, switch.token
    assert started.args == [url] and url.startswith("http://127.0.0.1:") and len(token) >= 32
    assert switch.toggle_action.isChecked() and switch.copy_url_action.isEnabled()
    status, health = _get(f"{url}/api/health")
    assert status == 200 and health
    assert _get(f"{url}/api/sample-portfolios")[0] == 401
    status, body = _get(f"{url}/api/sample-portfolios", token)
    assert status == 200 and "P3_PRE_COVID_DIVERSIFIED" in json.dumps(body)
    switch.copy_token_action.trigger()
    assert QGuiApplication.clipboard().text() == token
    with qtbot.waitSignal(switch.stopped):
        switch.toggle_action.trigger()
    assert not switch.running and not switch.copy_url_action.isEnabled()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/api/health", timeout=5)


def test_api_is_imported_only_when_the_server_starts() -> None:
    import subprocess

    code = ("import sys; import desktop.api_switch, desktop.main_window; "
            "print(any(m == 'api' or m.startswith(('api.', 'flask')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"QT_QPA_PLATFORM": "offscreen", "PYQTGRAPH_QT_LIB": "PySide6", "PATH": ""})
    assert out.stdout.strip() == "False"


def test_switching_off_stops_in_the_background_and_closing_waits(qtbot) -> None:
    switch = ApiSwitch()
    with qtbot.waitSignal(switch.started, timeout=60_000):
        switch.start()
    server = switch.server
    switch.stop()  # returns at once: the worker processes exit on a worker thread
    assert not switch.running and not switch.toggle_action.isChecked() and switch._stopping == [server]
    switch.stop(wait=True)  # closing the window: waits for the stop in progress
    assert not server.running and switch._stopping == []


def test_switching_off_while_starting_stops_the_new_server_unannounced(qtbot) -> None:
    switch = ApiSwitch()
    stopped: list[bool] = []
    switch.stopped.connect(lambda: stopped.append(True))
    switch.start()
    switch.toggle_action.setChecked(False)  # before the server is up
    qtbot.waitUntil(lambda: switch._starter is None and not switch._stopping, timeout=60_000)
    assert not switch.running and stopped == []
