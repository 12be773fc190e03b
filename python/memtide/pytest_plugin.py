"""memtide for pytest (registered by entry point; from a source tree use
`-p memtide.pytest_plugin`).

    @pytest.mark.limit_memory("24 MB")   fails a test whose heap peak reaches 24 MB
    @pytest.mark.limit_leaks("1 MB")     fails a test that leaves more than 1 MB
                                         allocated at one location when it ends

    --memtide                tracks every test (and reports the biggest users)
    --memtide-bin-path DIR   keeps each test's capture in DIR

Failures show the top allocation sites with their stacks.  Sizes take
B, KB, MB, GB, TB (powers of 1024; KiB, MiB... work too).
"""
import os
import re
import shutil
import tempfile

import pytest

from . import _cli
from ._measure import Session

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text):
    """'24 MB' -> 25165824."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", str(text), re.I)
    if not m:
        raise ValueError("not a size: %r (use e.g. '24 MB')" % (text,))
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def _fmt(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.2f %s" % (n, unit))
        n /= 1024.0


def pytest_addoption(parser):
    group = parser.getgroup("memtide", "memory profiling with memtide")
    group.addoption("--memtide", action="store_true", default=False,
                    help="track the allocations of every test")
    group.addoption("--memtide-bin-path", default=None, metavar="DIR",
                    help="keep each test's capture in DIR")


def pytest_configure(config):
    config.addinivalue_line("markers", "limit_memory(limit): fail when the test's heap "
                            "peak reaches limit (e.g. '24 MB')")
    config.addinivalue_line("markers", "limit_leaks(limit): fail when the test leaves more "
                            "than limit allocated at one location")


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
    import io
    out = {}
    for row in csv.DictReader(io.StringIO(_cli.run("transform", "csv", "-o", "-", "--leaks", capture))):
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
            "  " * depth, node["function"], node["file"], node["line"], _fmt(node["bytes"]),
            node["count"]))
        for c in node["children"]:
            show(c, depth + 1)

    for node in starts or ([tree["root"]] if tree["root"] else []):
        show(node, 0)
    return "\n".join(lines)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    mem = item.get_closest_marker("limit_memory")
    leaks = item.get_closest_marker("limit_leaks")
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
    problems = []
    if mem:
        limit = parse_size(mem.args[0] if mem.args else mem.kwargs["limit"])
        if m.heap_peak >= limit:
            problems.append("the heap peaked at %s, over the limit of %s; live at the peak:\n%s"
                            % (_fmt(m.heap_peak), _fmt(limit), _stacks(item, m.capture)))
    if leaks:
        limit = parse_size(leaks.args[0] if leaks.args else leaks.kwargs["limit"])
        over = {k: v for k, v in _leaks_by_location(m.capture).items() if v > limit}
        if over:
            sites = "\n".join("  %s at %s:%s -> %s" % (k[0], k[1], k[2], _fmt(v))
                              for k, v in sorted(over.items(), key=lambda kv: -kv[1]))
            problems.append("leaks over the limit of %s at one location:\n%s\nstacks:\n%s"
                            % (_fmt(limit), sites, _stacks(item, m.capture, "--leaks")))
    if not keep:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
        m.capture = None
    item._memtide = (m, problems)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    found = getattr(item, "_memtide", None)
    if call.when != "call" or not found:
        return
    m, problems = found
    where = m.capture or "not kept (--memtide-bin-path DIR keeps it)"
    rep.sections.append(("memtide", "heap peak %s, capture %s" % (_fmt(m.heap_peak), where)))
    if problems and rep.outcome == "passed":
        rep.outcome = "failed"
        rep.longrepr = "memtide: " + "\n\nmemtide: ".join(problems)
