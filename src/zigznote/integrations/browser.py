"""Browser or paste: how the user reaches the authorize URL, and opening a browser.

Opening goes through Python's :mod:`webbrowser` (so ``BROWSER`` is honoured as everywhere else),
with two rules of our own:

- A console browser (lynx, w3m, links, elinks, ``www-browser`` …) is never launched: it would take
  over the terminal the flow is printing to, and could not complete a provider's sign-in anyway.
- An explicit ``BROWSER`` is always honoured; otherwise, where no graphical browser can open (an
  SSH session without a forwarded display, Linux/BSD without ``DISPLAY``/``WAYLAND_DISPLAY``, or
  :func:`webbrowser.get` finding only a console browser), the flow falls back to paste mode.

``BROWSER`` is read from the mapping given (like ``webbrowser``: a ``os.pathsep``-separated list of
commands, ``%s`` standing for the URL), not from :mod:`webbrowser`'s registry, which is built once
per process from ``os.environ``.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
import webbrowser
from collections.abc import Mapping
from typing import Literal

__all__ = ["CONSOLE_BROWSERS", "browser_mode", "open_browser"]

log = logging.getLogger(__name__)

#: Command names (lower case) of text-mode browsers, never launched.
CONSOLE_BROWSERS = frozenset({"lynx", "w3m", "links", "links2", "elinks", "www-browser", "browsh", "carbonyl"})


def browser_mode(env: Mapping[str, str], *, platform: str | None = None) -> Literal["browser", "paste"]:
    """``"browser"`` when a graphical browser can be opened here, else ``"paste"``.

    ``BROWSER`` set (to anything but console browsers) → ``"browser"``. Otherwise ``"paste"``
    when ``SSH_CONNECTION``/``SSH_TTY`` is set without ``DISPLAY``/``WAYLAND_DISPLAY``, on
    Linux/BSD without either display, or when :func:`webbrowser.get` finds no browser or only a
    console one. ``platform`` defaults to ``sys.platform``.
    """
    platform = sys.platform if platform is None else platform
    configured = _browser_commands(env)
    if configured:
        return "browser" if any(not _is_console_command(c) for c in configured) else "paste"
    has_display = bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    if (env.get("SSH_CONNECTION") or env.get("SSH_TTY")) and not has_display:
        return "paste"
    # macOS and Windows open browsers without an X or Wayland display; other Unixes need one.
    if platform not in ("darwin", "win32", "cygwin") and not has_display:
        return "paste"
    controller = _default_controller()
    if controller is None or _is_console(controller):
        return "paste"
    return "browser"


def open_browser(url: str, env: Mapping[str, str]) -> bool:
    """Try to open ``url`` in a graphical browser; True when one accepted it.

    With ``BROWSER`` in ``env``, its commands are tried in order (console browsers skipped);
    otherwise :func:`webbrowser.get`'s default, unless that is a console browser. A command that
    waits for the browser to exit (``webbrowser.GenericBrowser``) blocks until then: call this
    from a thread that may block (the loopback server runs ``ready`` in one). Never raises for a
    failed launch: returns False.
    """
    configured = _browser_commands(env)
    if configured:
        for cmdline in configured:
            if _is_console_command(cmdline):
                log.info("not launching console browser %s", cmdline)
                continue
            controller = _controller_for(cmdline)
            if controller is not None and _open(controller, url):
                return True
        return False
    controller = _default_controller()
    if controller is None or _is_console(controller):
        return False
    return _open(controller, url)


def _open(controller: webbrowser.BaseBrowser, url: str) -> bool:
    try:
        return bool(controller.open(url, new=2))
    except (OSError, webbrowser.Error, ValueError):
        return False


def _browser_commands(env: Mapping[str, str]) -> list[str]:
    return [c.strip() for c in env.get("BROWSER", "").split(os.pathsep) if c.strip()]


def _command_name(cmdline: str) -> str:
    try:
        words = shlex.split(cmdline)
    except ValueError:
        words = cmdline.split()
    return os.path.basename(words[0]).lower() if words else ""


def _is_console_command(cmdline: str) -> bool:
    return _command_name(cmdline) in CONSOLE_BROWSERS


def _is_console(controller: webbrowser.BaseBrowser) -> bool:
    # webbrowser registers console browsers (and BROWSER commands) as GenericBrowser, whose
    # ``name`` is the command; graphical ones get their own classes (Mozilla, Chrome, …).
    return isinstance(controller, webbrowser.GenericBrowser) and _command_name(controller.name) in CONSOLE_BROWSERS


def _default_controller() -> webbrowser.BaseBrowser | None:
    """:func:`webbrowser.get`'s choice, or None when it finds no browser."""
    try:
        return webbrowser.get()
    except webbrowser.Error:
        return None


def _controller_for(cmdline: str) -> webbrowser.BaseBrowser | None:
    """The controller for one ``BROWSER`` entry, as :mod:`webbrowser` builds it.

    ``%s`` in the command → that command line (``&`` at the end: in the background); a known
    browser name (``firefox``) → its controller; any other command found on ``PATH`` → run with
    the URL as last argument. None when the command does not exist.
    """
    try:
        return webbrowser.get(cmdline)
    except webbrowser.Error:
        pass
    try:
        words = shlex.split(cmdline)
    except ValueError:
        return None
    if not words or shutil.which(words[0]) is None:
        return None
    return webbrowser.GenericBrowser([*words, "%s"])
