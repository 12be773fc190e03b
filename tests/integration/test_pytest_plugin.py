"""memtide's pytest plugin (`-p memtide.pytest_plugin`), run by pytest's own
`pytester` in a subprocess (so the inner session's trackers never meet the
outer one) with build/python on PYTHONPATH and TMPDIR in the test's
directory.

The inner tests allocate known sizes: bytearray(n) is one malloc of n + 1
bytes. Sizes mean what their units say: "24 MiB" is 24 * 2**20 bytes,
"1 MB" is 10**6.
"""

import re

import pytest

from mtlib import MiB, package_env, python_package_dir, site_lines

pytest_plugins = ["pytester"]

INNER = """
import pytest

MiB = 1024 * 1024
_kept = []


def grow():
    return bytearray(30 * MiB)  # @site:grow


def grow_small():
    return bytearray(10 * MiB)  # @site:grow_small


@pytest.mark.limit_memory("24 MiB")
def test_over_limit():
    x = grow()  # @site:call_grow
    del x


@pytest.mark.limit_memory("24 MiB")
def test_under_limit():
    x = grow_small()
    y = grow_small()
    del x, y


def leak_big():
    _kept.append(bytearray(2 * MiB))  # @site:leak_big


def leak_small():
    _kept.append(bytearray(512 * 1024))  # @site:leak_small


@pytest.mark.limit_leaks("1 MB")
def test_leaks_over():
    leak_big()


@pytest.mark.limit_leaks("1 MB")
def test_leaks_under():
    leak_small()


@pytest.mark.limit_leaks("1 MB")
def test_leaks_spread_under():
    # 2 MiB in all, but 512 KiB at each of four locations.
    _kept.append(bytearray(512 * 1024))
    _kept.append(bytearray(512 * 1024))
    _kept.append(bytearray(512 * 1024))
    _kept.append(bytearray(512 * 1024))


@pytest.mark.limit_memory("64 MiB")
def test_own_failure():
    n = len(grow_small())
    assert n == 5, "fails for its own reasons"


def test_unmarked():
    x = grow_small()
    del x
"""

OUTCOMES = {
    "test_over_limit": "failed",
    "test_under_limit": "passed",
    "test_leaks_over": "failed",
    "test_leaks_under": "passed",
    "test_leaks_spread_under": "passed",
    "test_own_failure": "failed",
    "test_unmarked": "passed",
}


@pytest.fixture
def inner(pytester, monkeypatch, memtide_bin):
    """(test file, its @site lines); the inner pytest imports memtide from
    build/python."""
    env = package_env()
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    monkeypatch.setenv("COLUMNS", "200")    # short summary lines are not cut
    tmp = pytester.path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    path = pytester.makepyfile(test_limits=INNER)
    assert (python_package_dir() / "memtide" / "pytest_plugin.py").exists(), \
        f"no memtide package in {python_package_dir()}: run `make`"
    return path, site_lines(path)


def run_inner(pytester, *args):
    res = pytester.runpytest_subprocess("-p", "memtide.pytest_plugin", "-p",
                                        "no:cacheprovider", "-rA", *args, timeout=120)
    return res


def outcomes(res):
    """{test name: outcome} from the -rA short summary."""
    found = {}
    for line in res.outlines:
        m = re.match(r"^(PASSED|FAILED|ERROR) \S*::(\w+)", line)
        if m:
            found[m.group(2)] = m.group(1).lower()
    return found


def section(res, test):
    """The failure section of one inner test."""
    text = "\n".join(res.outlines)
    m = re.search(rf"^_+ {test} _+$(.*?)(?=^_{{3,}} \w+ _+$|^=+ )", text, re.M | re.S)
    assert m, f"no failure section for {test}:\n{text[-4000:]}"
    return m.group(1)


def test_limits(pytester, inner):
    path, lines = inner
    res = run_inner(pytester)
    text = "\n".join(res.outlines + res.errlines)
    assert outcomes(res) == OUTCOMES, text[-5000:]
    assert res.ret == pytest.ExitCode.TESTS_FAILED, text[-3000:]

    over = section(res, "test_over_limit")
    assert "memtide" in over, over
    assert "the heap peaked at 30.00 MiB, over the limit of 24 MiB" in over, over
    # The allocating function and line, under the test's own line.
    assert re.search(rf"grow at \S*test_limits\.py:{lines['grow']} -> 30\.00 MiB", over), over
    assert re.search(rf"test_over_limit at \S*test_limits\.py:{lines['call_grow']}\b",
                     over), over

    leaks = section(res, "test_leaks_over")
    # 2 MiB + 1 byte, in the limit's own (decimal) units.
    assert re.search(rf"leak_big at \S*test_limits\.py:{lines['leak_big']} -> 2\.10 MB$",
                     leaks, re.M), leaks
    assert "leak_small" not in leaks, leaks

    # The short summary says why.
    assert "FAILED test_limits.py::test_over_limit - peak 30.00 MiB > limit 24 MiB" \
        in res.outlines, text[-3000:]
    assert (f"FAILED test_limits.py::test_leaks_over - leaked 2.10 MB at "
            f"test_limits.py:{lines['leak_big']} > limit 1 MB") in res.outlines, text[-3000:]

    own = section(res, "test_own_failure")
    assert "AssertionError" in own and "fails for its own reasons" in own, own
    assert "memtide:" not in own, own


def test_bin_path_keeps_one_capture_per_test(pytester, inner, mt):
    path, lines = inner
    bins = pytester.path / "captures"
    res = run_inner(pytester, "--memtide", f"--memtide-bin-path={bins}")
    assert outcomes(res) == OUTCOMES, "\n".join(res.outlines[-80:])
    captures = sorted(bins.glob("*.tide"))
    assert len(captures) == len(OUTCOMES), [c.name for c in captures]
    for name in OUTCOMES:
        assert sum(name in c.name for c in captures) == 1, \
            f"not one capture for {name}: {[c.name for c in captures]}"

    def capture(test):
        return next(c for c in captures if c.name.endswith(f"{test}.tide")
                    or re.search(rf"\b{test}\b", c.name))

    stats = mt.stats_json(capture("test_over_limit"))
    rows = [r for r in stats["top_by_size"] if r["function"] == "grow"]
    assert [(r["line"], r["count"], r["bytes"]) for r in rows] == \
        [(lines["grow"], 1, 30 * MiB + 1)], stats["top_by_size"][:5]
    stats = mt.stats_json(capture("test_unmarked"))
    rows = [r for r in stats["top_by_size"] if r["function"] == "grow_small"]
    assert [(r["line"], r["count"], r["bytes"]) for r in rows] == \
        [(lines["grow_small"], 1, 10 * MiB + 1)], stats["top_by_size"][:5]
    # Each test's capture holds its own allocations only.
    assert not [r for r in stats["top_by_size"] if r["function"] == "grow"], \
        stats["top_by_size"][:5]


def test_bin_path_without_memtide_keeps_the_marked_tests_only(pytester, inner):
    bins = pytester.path / "captures"
    res = run_inner(pytester, "--memtide-bin-path", str(bins))
    assert outcomes(res) == OUTCOMES, "\n".join(res.outlines[-80:])
    names = sorted(c.name for c in bins.glob("*.tide"))
    assert len(names) == len(OUTCOMES) - 1, names
    assert not [n for n in names if "test_unmarked" in n], names


def test_no_captures_left_behind(pytester, inner):
    """Without --memtide-bin-path the captures are the plugin's business:
    none may pile up in the temporary directory, one per test."""
    res = run_inner(pytester, "--memtide")
    assert outcomes(res) == OUTCOMES, "\n".join(res.outlines[-80:])
    left = sorted(str(p.relative_to(pytester.path / "tmp"))
                  for p in (pytester.path / "tmp").rglob("*.tide"))
    assert not left, f"{len(left)} captures left in $TMPDIR: {left}"


TABLE_ROW_RE = re.compile(r"^(\S+::\w+)\s+([\d.]+ (?:B|KiB|MiB|GiB))\s+([\d,]+)\s+"
                          r"([\d.]+ (?:B|KiB|MiB|GiB))$")


def binary(n):
    """The plugin's way of writing a byte count (binary units)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024


def table(res):
    """The rows of the per-test table printed at the end of the session."""
    start = [i for i, line in enumerate(res.outlines) if "memtide:" in line
             and "tests by heap peak" in line]
    assert len(start) == 1, "\n".join(res.outlines[-60:])
    rows = []
    for line in res.outlines[start[0] + 2:]:
        m = TABLE_ROW_RE.match(line)
        if not m:
            break
        rows.append(m.groups())
    return res.outlines[start[0]], res.outlines[start[0] + 1], rows


def test_memtide_alone_prints_a_table_of_the_tests(pytester, inner, mt):
    """--memtide without -rA: a table at the end, biggest heap peak first,
    with each test's figures exactly as its capture has them."""
    bins = pytester.path / "captures"
    res = pytester.runpytest_subprocess("-p", "memtide.pytest_plugin", "-p",
                                        "no:cacheprovider", "--memtide",
                                        f"--memtide-bin-path={bins}", timeout=120)
    title, header, rows = table(res)
    assert "memtide: 7 of 7 tests by heap peak" in title, title
    assert header.split() == ["Test", "Heap", "peak", "Allocations", "Total", "allocated"]
    assert len(rows) == len(OUTCOMES), "\n".join(res.outlines[-40:])
    assert [r[0].split("::")[1] for r in rows[:3]] == \
        ["test_over_limit", "test_under_limit", "test_own_failure"], rows
    # 30 MiB + 1 byte, then two 10 MiB + 1 blocks live together.
    assert rows[0][1] == "30.00 MiB" and rows[1][1] == "20.00 MiB", rows
    peaks = []
    for nodeid, peak, count, total in rows:
        name = nodeid.split("::")[1]
        capture = next(c for c in bins.glob("*.tide") if c.name.endswith(f"{name}.tide"))
        stats = mt.stats_json(capture)
        assert (peak, count, total) == (
            binary(stats["peak_bytes"]), f"{stats['total_allocations']:,}",
            binary(stats["total_bytes"])), (nodeid, stats)
        peaks.append(stats["peak_bytes"])
    assert peaks == sorted(peaks, reverse=True), peaks


def test_memtide_top_limits_the_table(pytester, inner):
    res = pytester.runpytest_subprocess("-p", "memtide.pytest_plugin", "-p",
                                        "no:cacheprovider", "--memtide", "--memtide-top=2",
                                        timeout=120)
    title, _, rows = table(res)
    assert "memtide: 2 of 7 tests by heap peak" in title, title
    assert [r[0].split("::")[1] for r in rows] == ["test_over_limit", "test_under_limit"], rows


def test_no_table_without_memtide(pytester, inner):
    res = run_inner(pytester)
    assert not [line for line in res.outlines if "tests by heap peak" in line]


BAD_LIMITS = """
import pytest

ran = []


@pytest.mark.limit_memory("24 MBB")
def test_bad_unit():
    ran.append("bad_unit")
    print("RAN test_bad_unit")


@pytest.mark.limit_leaks(limit=[1])
def test_bad_type():
    print("RAN test_bad_type")


@pytest.mark.limit_memory()
def test_no_size():
    print("RAN test_no_size")


@pytest.mark.limit_memory("1.5 GiB")
def test_good():
    print("RAN test_good")
"""


def test_bad_limit_fails_its_test_before_it_runs(pytester, inner):
    pytester.makepyfile(test_bad_limits=BAD_LIMITS)
    res = pytester.runpytest_subprocess("-p", "memtide.pytest_plugin", "-p",
                                        "no:cacheprovider", "-rA", "-s", "test_bad_limits.py",
                                        timeout=120)
    text = "\n".join(res.outlines + res.errlines)
    assert outcomes(res) == {"test_bad_unit": "failed", "test_bad_type": "failed",
                             "test_no_size": "failed", "test_good": "passed"}, text[-3000:]
    # Not run, and no traceback from inside the plugin.
    assert "RAN test_good" in text
    assert "RAN test_bad" not in text and "RAN test_no_size" not in text, text[-3000:]
    assert "Traceback" not in text and "pytest_plugin.py" not in text, text[-3000:]
    assert "FAILED test_bad_limits.py::test_bad_unit - memtide: limit_memory('24 MBB') " \
        "is not a size" in res.outlines, text[-3000:]
    assert "FAILED test_bad_limits.py::test_no_size - memtide: limit_memory() is not " \
        "one size" in res.outlines, text[-3000:]
    bad = section(res, "test_bad_unit")
    assert "memtide: limit_memory('24 MBB'): not a size: '24 MBB'" in bad, bad
    assert "KiB, MiB, GiB, TiB powers of 1024" in bad, bad


UNITS = """
import pytest

N = 10_240_000          # over 10 MB (10,000,000), under 10 MiB (10,485,760)


@pytest.mark.limit_memory("10 MB")
def test_ten_mb():
    x = bytearray(N - 1)
    del x


@pytest.mark.limit_memory("10 MiB")
def test_ten_mib():
    x = bytearray(N - 1)
    del x


@pytest.mark.limit_memory("10 mib")
def test_ten_mib_lower_case():
    x = bytearray(N - 1)
    del x


@pytest.mark.limit_memory("0.01 GB")
def test_decimal_gb():
    x = bytearray(N - 1)
    del x
"""


def test_mb_and_mib_give_different_verdicts(pytester, inner):
    """One block of 10,240,000 bytes: over "10 MB", under "10 MiB"."""
    pytester.makepyfile(test_units=UNITS)
    res = pytester.runpytest_subprocess("-p", "memtide.pytest_plugin", "-p",
                                        "no:cacheprovider", "-rA", "test_units.py",
                                        timeout=120)
    text = "\n".join(res.outlines + res.errlines)
    assert outcomes(res) == {"test_ten_mb": "failed", "test_ten_mib": "passed",
                             "test_ten_mib_lower_case": "passed",
                             "test_decimal_gb": "failed"}, text[-3000:]
    assert "FAILED test_units.py::test_ten_mb - peak 10.24 MB > limit 10 MB" in res.outlines, \
        text[-3000:]
    assert "FAILED test_units.py::test_decimal_gb - peak 10.24 MB > limit 0.01 GB" \
        in res.outlines, text[-3000:]
    assert "the heap peaked at 10.24 MB, over the limit of 10 MB" in \
        section(res, "test_ten_mb"), text[-3000:]
