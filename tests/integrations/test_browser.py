"""Tests for zigznote.integrations.browser: browser or paste mode, and launching (real processes)."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import pytest

from zigznote.integrations import browser
from zigznote.integrations.browser import browser_mode, open_browser

URL = "https://auth.example/authorize?client_id=c&state=s%20t&redirect_uri=https%3A%2F%2Flocalhost%3A8765%2Fcb"


class Recording(webbrowser.BaseBrowser):
    """A graphical browser stand-in that records what it was asked to open."""

    def __init__(self, name: str = "graphical", result: bool = True) -> None:
        super().__init__(name)
        self.opened: list[str] = []
        self.result = result

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.opened.append(url)
        return self.result


def script(directory: Path, name: str, *, exit_code: int = 0) -> tuple[Path, Path]:
    """An executable that writes its arguments (one per line) to a file: (script, output file)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{name}.out"
    path = directory / name
    path.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{out}"\nexit {exit_code}\n')
    path.chmod(0o755)
    return path, out


@pytest.fixture
def default(monkeypatch: pytest.MonkeyPatch) -> Recording:
    """webbrowser's default choice, pinned: the real one depends on this machine."""
    chosen = Recording()
    monkeypatch.setattr(browser, "_default_controller", lambda: chosen)
    return chosen


@pytest.mark.parametrize(
    ("env", "platform", "expected"),
    [
        ({"DISPLAY": ":0"}, "linux", "browser"),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", "browser"),
        ({}, "linux", "paste"),
        ({}, "freebsd14", "paste"),
        ({"DISPLAY": ""}, "linux", "paste"),
        ({"SSH_CONNECTION": "10.0.0.2 5000 10.0.0.1 22"}, "linux", "paste"),
        ({"SSH_TTY": "/dev/pts/1"}, "darwin", "paste"),
        ({"SSH_CONNECTION": "10.0.0.2 5000 10.0.0.1 22", "DISPLAY": "localhost:10.0"}, "linux", "browser"),
        ({}, "darwin", "browser"),
        ({}, "win32", "browser"),
        ({"BROWSER": "/opt/wrapper", "SSH_CONNECTION": "x"}, "linux", "browser"),
        ({"BROWSER": "/opt/wrapper"}, "linux", "browser"),
        ({"BROWSER": "lynx"}, "linux", "paste"),
        ({"BROWSER": "w3m:/usr/bin/links -g %s:  "}, "linux", "paste"),
        ({"BROWSER": "www-browser:/opt/wrapper"}, "linux", "browser"),
        ({"BROWSER": " "}, "linux", "paste"),
    ],
)
def test_browser_mode(env: dict[str, str], platform: str, expected: str, default: Recording) -> None:
    assert browser_mode(env, platform=platform) == expected
    assert default.opened == []  # deciding never opens anything


@pytest.mark.parametrize(
    "controller", [None, webbrowser.GenericBrowser("www-browser"), webbrowser.GenericBrowser("/usr/bin/w3m")]
)
def test_no_or_only_a_console_default_browser_means_paste(
    controller: webbrowser.BaseBrowser | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(browser, "_default_controller", lambda: controller)
    assert browser_mode({"DISPLAY": ":0"}, platform="linux") == "paste"
    assert open_browser(URL, {"DISPLAY": ":0"}) is False


def test_the_default_browser_is_used_without_browser_set(default: Recording) -> None:
    assert open_browser(URL, {"DISPLAY": ":0"}) is True
    assert default.opened == [URL]
    default.result = False
    assert open_browser(URL, {"DISPLAY": ":0"}) is False


def test_browser_command_gets_the_url(tmp_path: Path, default: Recording) -> None:
    command, out = script(tmp_path, "my-browser")
    assert open_browser(URL, {"BROWSER": str(command)}) is True
    assert out.read_text() == URL + "\n"
    assert default.opened == []  # BROWSER wins over the default


def test_browser_command_line_with_placeholder(tmp_path: Path) -> None:
    command, out = script(tmp_path, "wrapper")
    assert open_browser(URL, {"BROWSER": f"{command} --headless %s --flag"}) is True
    assert out.read_text().splitlines() == ["--headless", URL, "--flag"]


def test_browser_list_skips_missing_commands_and_console_browsers(tmp_path: Path) -> None:
    console, console_out = script(tmp_path / "bin", "lynx")
    good, good_out = script(tmp_path, "good")
    env = {"BROWSER": f"{tmp_path}/missing-browser:{console}:{good}"}
    assert open_browser(URL, env) is True
    assert good_out.read_text() == URL + "\n"
    assert not console_out.exists()


@pytest.mark.parametrize("name", ["lynx", "w3m", "links", "elinks", "www-browser"])
def test_console_browsers_are_never_launched(tmp_path: Path, name: str) -> None:
    console, out = script(tmp_path, name)
    assert open_browser(URL, {"BROWSER": str(console)}) is False
    assert open_browser(URL, {"BROWSER": f"{console} -dump %s"}) is False
    assert not out.exists()


def test_a_failing_or_missing_browser_command_reports_false(tmp_path: Path) -> None:
    failing, out = script(tmp_path, "failing", exit_code=1)
    assert open_browser(URL, {"BROWSER": str(failing)}) is False
    assert out.read_text() == URL + "\n"  # it did run
    assert open_browser(URL, {"BROWSER": str(tmp_path / "nowhere")}) is False
    assert open_browser(URL, {"BROWSER": 'unbalanced "quote'}) is False
