"""memtide for pytest (registered by entry point; from a source tree use
`-p memtide.pytest_plugin`).

    @pytest.mark.limit_memory("24 MiB")  fails a test whose heap peak goes over 24 MiB
    @pytest.mark.limit_leaks("1 MB")     fails a test that leaves more than 1 MB
                                         allocated at one location when it ends

    --memtide                tracks every test; the end of the session lists
                             the tests with the biggest heap peaks
    --memtide-top N          how many tests that list shows (default 10; 0: all)
    --memtide-bin-path DIR   keeps each test's capture in DIR

Sizes mean what their units say: B, KB, MB, GB (powers of 1000) or KiB,
MiB, GiB (powers of 1024), any case, decimals allowed ("1.5 GiB"); a plain
number is bytes.  A limit that is not a size fails its test before it runs.
A test over its limit fails with the top allocation sites and their stacks,
and its short summary line says why ("peak 30.00 MiB > limit 24 MiB").
"""
import os
import re
import shutil
import tempfile

import pytest

from . import _cli
from ._measure import Session, format_size as _fmt, parse_size, short_path, size_label

_MARKERS = ("limit_memory", "limit_leaks")


class _Failure:
    """A failure report: the long text under the test's section, and the
    reason pytest puts on the test's short summary line."""

    class _Crash:
        def __init__(self, message):
            self.message = message

        def __str__(self):
            return self.message

    def __init__(self, text, reason):
        self.text = text
        self.reprcrash = self._Crash(reason)

    def toterminal(self, tw):
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self):
        return self.text


class _BadLimit(ValueError):
    """A limit marker whose argument is not one size; .short says so in
    a few words, for the short test summary."""

    def __init__(self, text, short):
        super().__init__(text)
        self.short = short


def _limit(item, name):
    """(bytes, label) of a limit marker on item, or None; _BadLimit when
    the marker does not hold exactly one size."""
    mark = item.get_closest_marker(name)
    if mark is None:
        return None
    args = list(mark.args) + list(mark.kwargs.values())
    call = "%s(%s)" % (name, ", ".join(map(repr, args)))
    if len(args) != 1 or set(mark.kwargs) - {"limit"}:
        raise _BadLimit("%s takes one size, e.g. %s('24 MiB')" % (call, name),
                        "%s is not one size" % call)
    try:
        return parse_size(args[0]), size_label(args[0])
    except ValueError as e:
        raise _BadLimit("%s: %s" % (call, e), "%s is not a size" % call) from None


def _is_decimal(label):
    """Whether a limit was given in decimal units (KB, MB...): sizes shown
    beside it use the same ones."""
    return not label.endswith("iB")


def pytest_addoption(parser):
    group = parser.getgroup("memtide", "memory profiling with memtide")
    group.addoption("--memtide", action="store_true", default=False,
                    help="track the allocations of every test and list the biggest")
    group.addoption("--memtide-top", type=int, default=10, metavar="N",
                    help="list the N tests with the biggest heap peaks (default 10; 0: all)")
    group.addoption("--memtide-bin-path", default=None, metavar="DIR",
                    help="keep each test's capture in DIR")


def pytest_configure(config):
    config.addinivalue_line("markers", "limit_memory(limit): fail when the test's heap "
                            "peak goes over limit (e.g. '24 MiB', '24 MB')")
    config.addinivalue_line("markers", "limit_leaks(limit): fail when the test leaves more "
                            "than limit allocated at one location")
    config._memtide_results = []


def pytest_collection_modifyitems(session, config, items):
    """Checks every limit before any test runs: a test with a bad one fails
    with the reason instead of running (see pytest_pyfunc_call)."""
    for item in items:
        for name in _MARKERS:
            try:
                _limit(item, name)
            except _BadLimit as e:
                item._memtide_error = ("memtide: %s" % e, "memtide: %s" % e.short)
                break


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if getattr(pyfuncitem, "_memtide_error", None):
        return True         # not run: pytest_runtest_makereport fails it
    return None


def _capture_path(item):
    """(path, keep): the capture of a test; kept only with --memtide-bin-path."""
    base = item.config.getoption("--memtide-bin-path")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)[:150] + ".tide"
    if base:
        os.makedirs(base, exist_ok=True)
        return os.path.join(base, name), True
    return os.path.join(tempfile.mkdtemp(prefix="memtide-"), name), False


def _leaks_by_location(capture):
    """{(function, file, line): bytes} still allocated at the end."""
    import csv
    fd, path = tempfile.mkstemp(prefix="memtide-leaks-", suffix=".csv")
    os.close(fd)
    try:
        _cli.run("transform", "csv", "--leaks", "-f", "-o", path, capture)
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    finally:
        os.unlink(path)
    out = {}
    for row in rows:
        first = (row["stack_trace"] or "<unknown>;;0").split("|")[0]
        func, _, rest = first.partition(";")
        file, _, line = rest.rpartition(";")
        key = (func, file, line)
        out[key] = out.get(key, 0) + int(row["size"])
    return out


def _stacks(item, capture, *view):
    """The biggest allocation sites as a tree, from the test function down
    (pytest's own frames above it say nothing)."""
    tree = _cli.report("tree", "-b", "5", *view, capture)
    name = getattr(item, "originalname", None) or item.name
    starts = []

    def find(node):
        if node["function"] == name:
            starts.append(node)
            return
        for c in node["children"]:
            find(c)

    if tree["root"]:
        find(tree["root"])
    lines = []

    def show(node, depth):
        lines.append("  %s%s at %s:%s -> %s in %d allocations" % (
            "  " * depth, node["function"], short_path(node["file"]), node["line"],
            _fmt(node["bytes"]), node["count"]))
        for c in node["children"]:
            show(c, depth + 1)

    for node in starts or ([tree["root"]] if tree["root"] else []):
        show(node, 0)
    return "\n".join(lines)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    if getattr(item, "_memtide_error", None):
        yield
        return
    mem = _limit(item, "limit_memory")
    leaks = _limit(item, "limit_leaks")
    if not (mem or leaks or item.config.getoption("--memtide")):
        yield
        return
    path, keep = _capture_path(item)
    session = Session(path=path)
    try:
        session.start()
    except RuntimeError as e:       # e.g. memtide run is tracking already
        item.user_properties.append(("memtide", str(e)))
        yield
        return
    try:
        yield
    finally:
        m = session.stop()
    problems = []       # (text, short reason)
    if mem and m.heap_peak > mem[0]:
        peak = _fmt(m.heap_peak, _is_decimal(mem[1]))
        problems.append((
            "the heap peaked at %s, over the limit of %s; live at the peak:\n%s"
            % (peak, mem[1], _stacks(item, m.capture)),
            "peak %s > limit %s" % (peak, mem[1])))
    if leaks:
        over = {k: v for k, v in _leaks_by_location(m.capture).items() if v > leaks[0]}
        if over:
            ranked = sorted(over.items(), key=lambda kv: -kv[1])
            decimal = _is_decimal(leaks[1])
            sites = "\n".join("  %s at %s:%s -> %s" % (k[0], short_path(k[1]), k[2],
                                                         _fmt(v, decimal))
                              for k, v in ranked)
            (func, file, line), most = ranked[0]
            problems.append((
                "leaks over the limit of %s at one location:\n%s\nstacks:\n%s"
                % (leaks[1], sites, _stacks(item, m.capture, "--leaks")),
                "leaked %s at %s:%s > limit %s" % (
                    _fmt(most, decimal), os.path.basename(file), line, leaks[1])))
    if not keep:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
        m.capture = None
    item._memtide = (m, problems)
    item.config._memtide_results.append(
        (item.nodeid, m.heap_peak, m.stats["total_allocations"], m.stats["total_bytes"]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if call.when != "call":
        return
    error = getattr(item, "_memtide_error", None)
    if error:
        rep.outcome = "failed"
        rep.longrepr = _Failure(*error)
        return
    found = getattr(item, "_memtide", None)
    if not found:
        return
    m, problems = found
    where = m.capture or "not kept (--memtide-bin-path DIR keeps it)"
    rep.sections.append(("memtide", "heap peak %s, capture %s" % (_fmt(m.heap_peak), where)))
    if problems and rep.outcome == "passed":
        rep.outcome = "failed"
        rep.longrepr = _Failure("memtide: " + "\n\nmemtide: ".join(p[0] for p in problems),
                                "; ".join(p[1] for p in problems))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """With --memtide: the tests with the biggest heap peaks, as a table."""
    results = getattr(config, "_memtide_results", None)
    if not (results and config.getoption("--memtide")):
        return
    top = config.getoption("--memtide-top")
    rows = sorted(results, key=lambda r: (-r[1], r[0]))
    shown = rows[:top] if top > 0 else rows
    tr = terminalreporter
    tr.write_sep("=", "memtide: %d of %d tests by heap peak" % (len(shown), len(rows)))
    cells = [("Test", "Heap peak", "Allocations", "Total allocated")] + [
        (nodeid, _fmt(peak), "{:,}".format(count), _fmt(total))
        for nodeid, peak, count, total in shown]
    width = max(len(c[0]) for c in cells)
    for c in cells:
        tr.write_line("%-*s  %11s  %11s  %15s" % (width, c[0], c[1], c[2], c[3]))
