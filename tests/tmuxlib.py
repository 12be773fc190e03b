"""Driving a terminal program in tmux, for the live view's tests.

Each Tmux has its own server (its own socket, no user configuration), one
session running one command in a shell that reports the command's exit
status and stays open, so that the screen after the program quit can be
read too.  close() kills the server and whatever still runs in it.
"""

import itertools
import os
import shlex
import shutil
import subprocess
import time

import pytest

_count = itertools.count()


def need_tmux():
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed (scripts/install-deps.sh installs it)")


class Tmux:
    def __init__(self, cmd, width=100, height=30, env=None, cwd=None):
        need_tmux()
        self.socket = f"memtide-test-{os.getpid()}-{next(_count)}"
        self.env = dict(env or os.environ)
        self.env.setdefault("LANG", "C.UTF-8")
        self.env.pop("TMUX", None)
        line = " ".join(shlex.quote(str(c)) for c in cmd)
        shell = f"{line}; echo \"[exit $?]\"; exec sleep 600"
        self._tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
                   "sh", "-c", shell, cwd=cwd)
        self._tmux("set-option", "-g", "status", "off")

    def _tmux(self, *args, cwd=None):
        proc = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, env=self.env, cwd=cwd,
                              timeout=20)
        if proc.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def screen(self, escapes=False):
        """The visible screen, one string per line, trailing blanks removed."""
        out = self._tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "t")
        if out.endswith("\n"):
            out = out[:-1]
        return [line.rstrip() for line in out.split("\n")]

    def text(self):
        return "\n".join(self.screen())

    def wait_for(self, pred, timeout=10, what="the screen"):
        """Waits until pred(lines) is true; returns the lines."""
        end = time.monotonic() + timeout
        while True:
            lines = self.screen()
            if pred(lines):
                return lines
            if time.monotonic() > end:
                pytest.fail(f"timed out waiting for {what}; screen:\n" + "\n".join(lines))
            time.sleep(0.05)

    def wait_text(self, text, timeout=10):
        return self.wait_for(lambda lines: text in "\n".join(lines), timeout, repr(text))

    def keys(self, *keys):
        """tmux key names ("Enter", "Escape", "Down", "NPage") or text (-l)."""
        for k in keys:
            self._tmux("send-keys", "-t", "t", k)

    def type(self, text):
        self._tmux("send-keys", "-t", "t", "-l", text)

    def resize(self, width, height):
        self._tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))

    def alternate_screen(self):
        return self._tmux("display-message", "-p", "-t", "t", "#{alternate_on}").strip() == "1"

    def close(self):
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=20)
