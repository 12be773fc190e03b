"""memtide's pytest plugin (`-p memtide.pytest_plugin`), run by pytest's own
`pytester` in a subprocess (so the inner session's trackers never meet the
outer one) with build/python on PYTHONPATH and TMPDIR in the test's
directory.

The inner tests allocate known sizes: bytearray(n) is one malloc of n + 1
bytes, and the plugin's sizes are powers of 1024 ("24 MB" = 24 MiB).
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


@pytest.mark.limit_memory("24 MB")
def test_over_limit():
    x = grow()  # @site:call_grow
    del x


@pytest.mark.limit_memory("24 MB")
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


@pytest.mark.limit_memory("64 MB")
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
    assert re.search(r"\b30\.00 MB\b", over) and re.search(r"\b24\.00 MB\b", over), over
    # The allocating function and line, under the test's own line.
    assert re.search(rf"grow at \S*test_limits\.py:{lines['grow']} -> 30\.00 MB", over), over
    assert re.search(rf"test_over_limit at \S*test_limits\.py:{lines['call_grow']}\b",
                     over), over

    leaks = section(res, "test_leaks_over")
    assert re.search(rf"leak_big at \S*test_limits\.py:{lines['leak_big']} -> 2\.00 MB",
                     leaks), leaks
    assert "leak_small" not in leaks, leaks

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
