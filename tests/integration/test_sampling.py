"""Sampled captures: `memtide run --sample-rate BYTES` and
Tracker(sample_rate=...).

A heap block of n bytes is recorded with probability p = 1 - exp(-n/R)
and stands for n/p bytes and 1/p allocations, so every figure is an
unbiased estimate.  For N blocks of n bytes, the estimate of their bytes
has variance N n^2 (1-p)/p and that of their number N (1-p)/p (plus at most
1/4 per recorded block for the rounding of counts to whole numbers).  The
tests compare each estimate with the exact figure, known from the
program's source or measured by a full capture of the same run, within
five standard deviations computed this way: with the seed fixed
(MEMTIDE_SAMPLE_SEED) the outcome is the same on every run, and five
standard deviations say that the seed was not picked to pass.
"""

import json
import math
import textwrap

import pytest

from conftest import TESTS, Memtide, base_env
from mtlib import assert_one_line_error, c_defines, package_env, site, site_lines

SEED = {"MEMTIDE_SAMPLE_SEED": "1"}
Z = 5  # standard deviations allowed


ARENA = 1 << 20  # a pymalloc arena (3.10+; 256 KiB before)

def p_sampled(n, rate):
    return -math.expm1(-n / rate)


def var_bytes(count, n, rate):
    p = p_sampled(n, rate)
    return count * n * n * (1 - p) / p


def var_count(count, n, rate):
    p = p_sampled(n, rate)
    return count * (1 - p) / p + count * p / 4


def assert_estimate(what, got, exact, variance, slack=0):
    """got within Z standard deviations of exact (slack: rounding, in the
    same unit)."""
    bound = Z * math.sqrt(variance) + slack
    assert abs(got - exact) <= bound, (
        f"{what}: estimate {got}, exact {exact}: off by {got - exact}, "
        f"more than {Z} standard deviations ({bound:.0f})")


def sites_src(build):
    src = build.source("sample_sites")
    return src, c_defines(src), site_lines(src)


# --------------------------------------------------------------------------
# A native program: 1,000 x 1 MB and 1,000,000 x 100 B at known sites

@pytest.fixture(scope="module")
def full_figures(memtide_bin, build, tmp_path_factory):
    """The exact figures of sample_sites, from a full capture."""
    m = Memtide(memtide_bin, tmp_path_factory.mktemp("full"))
    _, path = m.capture(build.program("sample_sites"))
    return m.stats_json(path), path


def test_full_capture_is_exact(build, full_figures):
    """The figures the estimates are checked against, exactly as the
    program's source says."""
    src, d, lines = sites_src(build)
    stats, _ = full_figures
    big, small = d["N_BIG"] * d["BIG_SIZE"], d["N_SMALL"] * d["SMALL_SIZE"]
    assert stats["sample_rate"] == 0 and "peak_bytes_stderr" not in stats
    assert (stats["total_bytes"], stats["total_allocations"]) == (big + small,
                                                                  d["N_BIG"] + d["N_SMALL"])
    assert stats["peak_bytes"] == big + small
    assert stats["leaked_bytes"] == d["N_LEAK"] * d["BIG_SIZE"]
    assert site(stats, "big_blocks", src.name, lines["big"])["bytes"] == big
    assert site(stats, "small_blocks", src.name, lines["small"])["count"] == d["N_SMALL"]


@pytest.mark.parametrize("rate,rate_bytes", [("512KiB", 524288), ("4 KiB", 4096)])
def test_native_estimates(mt, build, full_figures, rate, rate_bytes):
    """Totals, peak, leaks and both sites' bytes and counts within five
    standard deviations; the capture is a small fraction of the full one."""
    src, d, lines = sites_src(build)
    _, full_path = full_figures
    _, path = mt.capture(build.program("sample_sites"), options=["--sample-rate", rate],
                         env=base_env(SEED))
    stats = mt.stats_json(path)
    assert stats["sample_rate"] == rate_bytes
    nb, sb, ns, ss = d["N_BIG"], d["BIG_SIZE"], d["N_SMALL"], d["SMALL_SIZE"]
    vb_big, vb_small = var_bytes(nb, sb, rate_bytes), var_bytes(ns, ss, rate_bytes)
    vc_big, vc_small = var_count(nb, sb, rate_bytes), var_count(ns, ss, rate_bytes)
    # every byte rounded: half a byte per recorded block at most
    slack = (nb + ns) / 2

    assert_estimate("total bytes", stats["total_bytes"], nb * sb + ns * ss,
                    vb_big + vb_small, slack)
    assert_estimate("allocations", stats["total_allocations"], nb + ns, vc_big + vc_small)
    # everything is live at once: the estimated heap peaks when the last
    # small block is made
    assert_estimate("peak", stats["peak_bytes"], nb * sb + ns * ss, vb_big + vb_small, slack)
    assert_estimate("leaked bytes", stats["leaked_bytes"], d["N_LEAK"] * sb,
                    var_bytes(d["N_LEAK"], sb, rate_bytes), slack)
    assert_estimate("leaked blocks", stats["leaked_allocations"], d["N_LEAK"],
                    var_count(d["N_LEAK"], sb, rate_bytes))
    # the standard errors the reports give are the sampling's (estimated
    # from the recorded blocks; the seed is fixed)
    for key, var in (("peak_bytes_stderr", vb_big + vb_small),
                     ("leaked_bytes_stderr", var_bytes(d["N_LEAK"], sb, rate_bytes))):
        assert abs(stats[key] - var ** 0.5) <= 0.25 * var ** 0.5 + 1000, (key, stats[key],
                                                                            var ** 0.5)

    big = site(stats, "big_blocks", src.name, lines["big"])
    small = site(stats, "small_blocks", src.name, lines["small"])
    assert_estimate("big site bytes", big["bytes"], nb * sb, vb_big, nb / 2)
    assert_estimate("big site count", big["count"], nb, vc_big)
    assert_estimate("small site bytes", small["bytes"], ns * ss, vb_small, ns / 2)
    assert_estimate("small site count", small["count"], ns, vc_small)
    assert stats["max_size"] == sb and stats["min_size"] == ss

    # at 512 KiB, the capture is a fraction of the full one (whose
    # million equal small blocks compress to almost nothing themselves)
    if rate_bytes == 524288:
        assert path.stat().st_size * 5 < full_path.stat().st_size, \
            (path.stat().st_size, full_path.stat().st_size)


def test_everything_freed_goes_back_to_zero(mt, build):
    """Weighted bytes are added and taken away alike: a program that frees
    everything leaves exactly 0, and its heap ends at 0."""
    _, path = mt.capture(build.program("sample_sites"), "all",
                         options=["--sample-rate", "64KiB"], env=base_env(SEED))
    stats = mt.stats_json(path)
    assert stats["sample_rate"] == 65536
    assert (stats["leaked_bytes"], stats["leaked_allocations"]) == (0, 0)
    res = mt.run("plot", "--format", "html", "-o", "p.html", path)
    assert res.returncode == 0, res


def test_same_seed_same_capture(mt, build):
    """A fixed seed makes the same sample; another seed another one."""
    figures = []
    for seed in ("7", "7", "8"):
        _, path = mt.capture(build.program("sample_sites"), out=f"s{len(figures)}.tide",
                             options=["--sample-rate", "512KiB"],
                             env=base_env({"MEMTIDE_SAMPLE_SEED": seed}))
        s = mt.stats_json(path)
        figures.append((s["total_bytes"], s["total_allocations"], s["peak_bytes"],
                        s["leaked_bytes"], s["top_by_size"]))
    assert figures[0] == figures[1]
    assert figures[0] != figures[2]


def test_threads_free_each_others_blocks(mt, build):
    """Blocks freed by other threads than their own leave nothing live
    (the filter of recorded blocks is the process's, not a thread's)."""
    _, path = mt.capture(build.program("threads"), options=["--sample-rate", "1KiB"],
                         env=base_env(SEED))
    stats = mt.stats_json(path)
    d = c_defines(build.source("threads"))
    n, size = d["N_THREADS"] * d["PER_THREAD"], d["OBJ_SIZE"]
    row = site(stats, "thread_work")
    assert_estimate("thread_work bytes", row["bytes"], n * size, var_bytes(n, size, 1024), n / 2)
    assert stats["leaked_bytes"] < n * size / 10, stats


# --------------------------------------------------------------------------
# Every report works on a sampled capture and says so

NOTE = "sampled every ~512 KiB: figures are estimates"


def test_reports_say_sampled(mt, build, full_figures):
    _, full_path = full_figures
    _, path = mt.capture(build.program("sample_sites"), options=["--sample-rate", "512KiB"],
                         env=base_env(SEED))
    res = mt.stats(path)
    assert res.returncode == 0 and f"Note: {NOTE}.\n" in res.out, res
    assert "Temporary allocations:   not known in a sampled capture" in res.out
    for args in (["tree"], ["tree", "--leaks"], ["summary"], ["summary", "--json"],
                 ["flamegraph", "-o", "f.html"], ["flamegraph", "--temporal", "-o", "t.html"],
                 ["table", "-o", "t.html", "-f"], ["steps"], ["plot", "-o", "p.svg"],
                 ["transform", "csv", "-o", "x.csv"], ["transform", "speedscope", "-o", "x.json"],
                 ["diff", str(full_path)]):
        res = mt.run(*args, path)
        assert res.returncode == 0, (args, str(res))
        assert NOTE in res.err, (args, str(res))
    html = (mt.cwd / "f.html").read_text()
    assert NOTE in html
    res = mt.run("flamegraph", "--temporary-allocations", path)
    assert "is a sampled capture: which allocations were temporary is not known" in \
        assert_one_line_error(res)


# --------------------------------------------------------------------------
# Python: Tracker(sample_rate=...) and memtide run --sample-rate

SCRIPT = """
import sys

import memtide

N_BIG, BIG = 200, 1_000_000
N_SMALL, SMALL = 200_000, 1_000


def big():
    keep = []
    for _ in range(N_BIG):
        b = bytearray(BIG)  # @site:big
        keep.append(b)
    return keep


def small():
    keep = []
    for _ in range(N_SMALL):
        b = bytearray(SMALL)  # @site:small
        keep.append(b)
    return keep


def work():
    memtide.step("big")
    a = big()
    memtide.step("small")
    b = small()
    memtide.step("")
    del a, b


if sys.argv[1] == "-":
    work()
else:
    rate = sys.argv[2] if len(sys.argv) > 2 else None
    with memtide.Tracker(sys.argv[1], sample_rate=rate):
        work()
"""


def python_sites(tmp_path):
    script = tmp_path / "sampled.py"
    script.write_text(textwrap.dedent(SCRIPT).lstrip("\n"))
    return script, site_lines(script)


def check_python(stats, exact, lines, rate):
    """bytearray(n) is one malloc of n + 1 bytes; the lines' other memory
    (pymalloc arenas, mapped: always recorded) is in both captures alike.
    The interpreter's other blocks live at the peak add to its variance
    at most rate x their bytes (n^2 (1-p)/p <= n rate for any block).  A
    pymalloc arena (1 MiB, mapped, so recorded alike) may be taken on a
    line in one run and not in the other: one arena of slack per site."""
    assert stats["sample_rate"] == rate
    var_sites = 0
    for name, n, size in (("big", 200, 1_000_001), ("small", 200_000, 1_001)):
        got = site(stats, name, "sampled.py", lines[name])
        want = site(exact, name, "sampled.py", lines[name])
        var_sites += var_bytes(n, size, rate)
        assert_estimate(f"{name} bytes", got["bytes"], want["bytes"], var_bytes(n, size, rate),
                        n / 2 + ARENA)
    other = exact["peak_bytes"] - 200 * 1_000_001 - 200_000 * 1_001
    assert_estimate("peak", stats["peak_bytes"], exact["peak_bytes"],
                    var_sites + rate * max(other, 0), 200_200 + other / 2)


def test_python_tracker(mt, python, tmp_path):
    """Tracker(sample_rate="64 KiB") next to a full Tracker of the same run."""
    script, lines = python_sites(tmp_path)
    res = mt.plain(python, script, tmp_path / "full.tide", env=package_env())
    assert res.returncode == 0, res
    res = mt.plain(python, script, tmp_path / "s.tide", "64 KiB", env=package_env(SEED))
    assert res.returncode == 0, res
    check_python(mt.stats_json(tmp_path / "s.tide"), mt.stats_json(tmp_path / "full.tide"),
                 lines, 65536)


def test_python_run_and_reports(mt, system_python, tmp_path):
    """memtide run --sample-rate on a script; steps and lines read it."""
    script, lines = python_sites(tmp_path)
    mt.capture(system_python, script, "-", out="full.tide")
    _, path = mt.capture(system_python, script, "-", options=["--sample-rate", "64KiB"],
                         env=base_env(SEED))
    check_python(mt.stats_json(path), mt.stats_json(tmp_path / "full.tide"), lines, 65536)
    res = mt.run("steps", "--json", path)
    assert res.returncode == 0, res
    steps = json.loads(res.stdout)
    assert [s["name"] for s in steps] == ["big", "small"], steps
    res = mt.run("lines", "--function", "small", path)
    assert res.returncode == 0 and "sampled every ~64 KiB" in res.err, res


def test_python_bad_rates(mt, python, tmp_path):
    script = tmp_path / "bad.py"
    script.write_text(textwrap.dedent("""
        import memtide
        for rate in (0, -1, "5 parsecs", 2 ** 31, True):
            try:
                memtide.Tracker("x.tide", sample_rate=rate)
            except ValueError as e:
                print("refused", rate)
    """))
    res = mt.plain(python, script, env=package_env())
    assert res.returncode == 0, res
    assert res.out.count("refused") == 5, res


# --------------------------------------------------------------------------
# Bad input

@pytest.mark.parametrize("rate", ["0", "-1", "-512KiB", "12 parsecs", "0.5", "", "2GiB",
                                  "0KiB"])
def test_bad_sample_rate(mt, build, rate):
    res = mt.run("run", "-o", "x.tide", "--sample-rate", rate, build.program("sample_sites"))
    assert res.returncode == 2, res
    lines = res.err.rstrip("\n").split("\n")
    assert len(lines) == 1 and "--sample-rate takes a size" in lines[0], res
    assert not (mt.cwd / "x.tide").exists()


def test_help_mentions_sampling(mt):
    res = mt.run("run", "--help")
    assert res.returncode == 0 and "--sample-rate BYTES" in res.out


def test_live_view_of_a_sampled_run(mt, build):
    """run --live-remote --sample-rate: the live view says so; blocks far
    above the rate are recorded with probability 1 and weigh their size."""
    from test_live import LiveRun, holds, wait_for
    hold = build.program("live_hold")
    d = c_defines(build.source("live_hold"))
    run = LiveRun(mt, [hold], options=["--sample-rate", "64KiB"])
    try:
        run.wait_ready()
        snap = wait_for(mt, run.port, holds(["hold_a", "hold_b", "hold_c"],
                                            [d["HOLD_A"], d["HOLD_B"], d["HOLD_C"]]))
        assert snap["sample_rate"] == 65536
        res = mt.run("live", str(run.port), "--snapshot")
        assert res.returncode == 0 and "sampled every ~64 KiB: figures are estimates" in res.out, res
    finally:
        run.finish()


def test_sampled_fixture_reads_the_same(mt):
    """A sampled capture kept in tests/fixtures (sample_sites at 512 KiB,
    seed 1): the weights are the reader's (docs/FORMAT.md), so its figures
    must stay exactly these."""
    s = mt.stats_json(TESTS / "fixtures" / "sampled-v1.tide")
    assert s["sample_rate"] == 524288
    assert (s["total_bytes"], s["total_allocations"]) == (1110225564, 992008)
    assert s["peak_bytes"] == 1110225564
    assert (s["leaked_bytes"], s["leaked_allocations"]) == (100995132, 99)
    # by figures only: the program it was made of (/tmp/smp/sample_sites) is
    # not on the machine that runs the tests, so its functions have no names
    assert [(r["bytes"], r["count"]) for r in s["top_by_size"]] == \
        [(1011125682, 1017), (99099882, 990991)]
