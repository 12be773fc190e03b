"""memtide in IPython and Jupyter: `%load_ext memtide`, then

    %memtide_watch on|off        after each cell: "In [4] used 762.9 MiB RAM in
                                 0.32s (system mean cpu 6%, single max cpu 100%),
                                 peaked 0.0 MiB above final usage, current RAM
                                 usage now 1595.5 MiB"; the figures of the last
                                 cell are in memtide.ipython.last
    %memit statement / %%memit   peak memory and increment of a statement or cell
    %%memtide_flamegraph [--leaks] [--temporal] [--native]
                                 runs the cell tracked and shows its flame graph
    %memtide_top [N]             the top allocation sites of the last measured cell

The peaks come from memtide's own accounting of every allocation made in
the cell (a Tracker around it), not from polling the RSS, so short peaks
are not missed.
"""
import html
import os
import shlex
import tempfile

from . import _cli
from ._measure import MiB, Session, rss_bytes

last = None         # Measurement of the last watched or measured cell
_watch = None


def _set_last(m):
    """Keeps the newest measurement; the capture it replaces is removed."""
    global last
    if last is not None and last.capture != m.capture:
        try:
            os.unlink(last.capture)
        except OSError:
            pass
    last = m


def _abandon_watched_cell():
    """Stops the tracker of the cell being watched, and drops its capture:
    a magic that measures the cell itself takes over."""
    if _watch and _watch.session:
        session, _watch.session = _watch.session, None
        session.tracker.stop()
        try:
            os.unlink(session.path)
        except OSError:
            pass


def _line(count, m):
    return ("In [%s] used %.1f MiB RAM in %.2fs (system mean cpu %.0f%%, single max cpu "
            "%.0f%%), peaked %.1f MiB above final usage, current RAM usage now %.1f MiB" % (
                count, m.memory_delta, m.time_delta, m.cpu_mean, m.cpu_max, m.memory_peak,
                m.memory_usage))


class _Watcher:
    def __init__(self, shell):
        self.shell = shell
        self.session = None

    def pre(self, *args):
        self.session = Session().start()

    def post(self, result=None):
        if not self.session:
            return
        session, self.session = self.session, None
        try:
            m = session.stop()
        except RuntimeError as e:
            print("memtide: %s" % e)
            return
        _set_last(m)
        count = getattr(result, "execution_count", None) or self.shell.execution_count
        print(_line(count, m))


def _unwatch(shell):
    global _watch
    if _watch:
        shell.events.unregister("pre_run_cell", _watch.pre)
        shell.events.unregister("post_run_cell", _watch.post)
        _abandon_watched_cell()
        _watch = None


def _measure(shell, code, native=False):
    session = Session(native=native).start()
    try:
        result = shell.run_cell(code, silent=True)
    finally:
        _set_last(session.stop())
    return result, last


try:
    from IPython.core.magic import Magics, line_cell_magic, line_magic, cell_magic, magics_class
except ImportError:     # IPython is optional
    Magics = object

    def magics_class(c):
        return c

    def line_magic(f):
        return f

    cell_magic = line_cell_magic = line_magic


@magics_class
class MemtideMagics(Magics):
    @line_magic
    def memtide_watch(self, line):
        """%memtide_watch on|off: the memory line after each cell."""
        global _watch
        arg = line.strip().lower()
        if arg not in ("on", "off", ""):
            print("usage: %memtide_watch on|off")
            return
        _unwatch(self.shell)
        if arg in ("on", ""):
            _watch = _Watcher(self.shell)
            self.shell.events.register("pre_run_cell", _watch.pre)
            self.shell.events.register("post_run_cell", _watch.post)

    @line_cell_magic
    def memit(self, line, cell=None):
        """%memit statement / %%memit: peak memory and increment."""
        _abandon_watched_cell()
        code = cell if cell is not None else line
        before = rss_bytes()
        _, m = _measure(self.shell, code)
        print("peak memory: %.2f MiB, increment: %.2f MiB" % (
            (before + m.heap_peak) / MiB, m.heap_peak / MiB))

    @cell_magic
    def memtide_flamegraph(self, line, cell):
        """%%memtide_flamegraph [--leaks] [--temporal] [--native]"""
        args = shlex.split(line)
        bad = [a for a in args if a not in ("--leaks", "--temporal", "--native")]
        if bad:
            print("usage: %%memtide_flamegraph [--leaks] [--temporal] [--native]")
            return
        _abandon_watched_cell()
        _, m = _measure(self.shell, cell, native="--native" in args)
        out = os.path.join(tempfile.mkdtemp(prefix="memtide-"), "flamegraph.html")
        opts = [a for a in args if a != "--native"]
        _cli.run("flamegraph", *opts, "-o", out, m.capture)
        print("memtide: flame graph in %s" % out)
        try:
            from IPython.display import HTML, display
            with open(out) as f:
                page = f.read()
            display(HTML('<iframe srcdoc="%s" style="width:100%%;height:820px;border:0">'
                         '</iframe>' % html.escape(page, quote=True)))
        except ImportError:
            pass

    @line_magic
    def memtide_top(self, line):
        """%memtide_top [N]: top allocation sites of the last measured cell."""
        if last is None:
            print("memtide: no cell measured yet (%memtide_watch on, or %memit)")
            return
        text = _cli.run("stats", "-n", line.strip() or "10", last.capture)
        print(text[text.find("Top "):])


def load_ipython_extension(ipython):
    ipython.register_magics(MemtideMagics)


def unload_ipython_extension(ipython):
    _unwatch(ipython)
