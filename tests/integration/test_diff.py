"""`memtide diff BASE NEW`: two runs of a program compared location by
location, with exact figures.

tests/programs/diff_sites.c run as `base` and as `new`: grow() allocates
GROW_BY (10 MB) more in the new run, only_new() runs in the new run only,
only_base() in the base run only, steady() the same in both; nothing else
allocates.  A Python script does the same under a Tracker (bytearray(n) is
one malloc of n + 1 bytes), run from two directories with its lines moved
in the new run, for matching across machines and --ignore-lines.
"""

import json
import textwrap

import pytest

from mtlib import c_defines, package_env, site_lines

from test_reports import module_mt


def one_line_error(res):
    """A failure with one line on stderr: "memtide: ..." (what failed) or
    "memtide diff: ..." (how it was called)."""
    lines = res.err.rstrip("\n").split("\n")
    assert res.returncode > 0 and len(lines) == 1, str(res)
    assert lines[0].startswith(("memtide: ", "memtide diff: ")), str(res)
    return lines[0]



def sizes_text(n):
    """mt_fmt_size: bytes in binary units, as the text reports print them."""
    if n < 1024:
        return f"{n} B"
    v, units = float(n), ["KiB", "MiB", "GiB"]
    i = -1
    while v >= 1024 and i < len(units) - 1:
        v /= 1024
        i += 1
    return f"{v:.2f} {units[i]}"


@pytest.fixture(scope="module")
def native(memtide_bin, build, tmp_path_factory):
    m = module_mt(memtide_bin, tmp_path_factory, "diff")
    prog = build.program("diff_sites")
    src = build.source("diff_sites")
    _, base = m.capture(prog, "base", out="base.tide")
    _, new = m.capture(prog, "new", out="new.tide")
    return {"m": m, "base": base, "new": new, "src": str(src), "d": c_defines(src),
            "lines": site_lines(src)}


def diff(native, *args, expect_rc=0):
    res = native["m"].run("diff", *args, native["base"], native["new"])
    assert res.returncode == expect_rc, f"memtide diff {args} exited {res.returncode}:\n{res}"
    return res


def diff_json(native, *args):
    res = diff(native, "--json", *args)
    try:
        return json.loads(res.stdout)
    except ValueError as e:
        pytest.fail(f"diff --json printed invalid JSON ({e}):\n{res.out[:3000]}")


def rows(data):
    return [(r["function"], r["line"], r["base_bytes"], r["new_bytes"], r["delta_bytes"],
             r["base_count"], r["new_count"]) for r in data["locations"]]


def test_json_peak_by_location(native):
    d, ln = native["d"], native["lines"]
    data = diff_json(native, "-n", "0")
    base_peak = d["GROW_BASE"] + d["STEADY_A"] + d["STEADY_B"] + d["GONE_SIZE"]
    new_peak = d["GROW_BASE"] + d["GROW_BY"] + d["STEADY_A"] + d["STEADY_B"] + d["NEW_SIZE"]
    for side, peak in (("base", base_peak), ("new", new_peak)):
        t = data[side]
        assert (t["peak_bytes"], t["total_bytes"], t["allocations"]) == (peak, peak, 4), t
        assert (t["leaked_bytes"], t["leaked_allocations"]) == (d["STEADY_B"], 1), t
        assert t["truncated"] is False and t["peak_rss_bytes"] > 0, t
        assert t["file"] == str(native[side]) and t["command"].endswith(side), t
    assert set(data) == {"base", "new", "locations"}, data.keys()
    assert all(set(r) == {"function", "file", "line", "base_bytes", "new_bytes", "delta_bytes",
                          "base_count", "new_count"} for r in data["locations"]), data
    assert {r["file"] for r in data["locations"]} == {native["src"]}, data["locations"]
    assert d["GROW_BY"] == 10_000_000
    assert rows(data) == [
        ("grow", ln["grow"], d["GROW_BASE"], d["GROW_BASE"] + d["GROW_BY"], d["GROW_BY"], 1, 1),
        ("only_new", ln["only_new"], 0, d["NEW_SIZE"], d["NEW_SIZE"], 0, 1),
        ("steady", ln["steady_a"], d["STEADY_A"], d["STEADY_A"], 0, 1, 1),
        ("steady", ln["steady_b"], d["STEADY_B"], d["STEADY_B"], 0, 1, 1),
        ("only_base", ln["only_base"], d["GONE_SIZE"], 0, -d["GONE_SIZE"], 1, 0),
    ], json.dumps(data, indent=1)


def test_text_report(native):
    d, ln, src = native["d"], native["lines"], native["src"]
    out = diff(native, "-w", "0").out
    lines = out.splitlines()
    assert lines[0].startswith(f"Base: {native['base']} (") and lines[0].endswith(" base)"), out
    assert lines[1].startswith(f"New:  {native['new']} (") and lines[1].endswith(" new)"), out
    assert "Note:" not in out, out  # the same program
    base_peak = d["GROW_BASE"] + d["STEADY_A"] + d["STEADY_B"] + d["GONE_SIZE"]
    new_peak = base_peak + d["GROW_BY"] + d["NEW_SIZE"] - d["GONE_SIZE"]
    growth = (new_peak - base_peak) * 100 / base_peak
    peak_line = next(x for x in lines if x.startswith("Peak heap"))
    assert peak_line.split() == ["Peak", "heap", *sizes_text(base_peak).split(),
                                 *sizes_text(new_peak).split(),
                                 "+" + sizes_text(new_peak - base_peak).split()[0],
                                 sizes_text(new_peak - base_peak).split()[1],
                                 f"+{growth:.1f}%"], out
    alloc_line = next(x for x in lines if x.startswith("Allocations"))
    assert alloc_line.split() == ["Allocations", "4", "4", "0", "+0.0%"], out
    assert "Live at the peak of the heap, by location, biggest growth first:" in out, out
    table = lines[lines.index("Live at the peak of the heap, by location, "
                              "biggest growth first:") + 2:]
    grow = d["GROW_BASE"]
    assert [x.split() for x in table] == [
        [*sizes_text(grow).split(), *sizes_text(grow + d["GROW_BY"]).split(),
         "+9.54", "MiB", "3.00x", "grow", "at", f"{src}:{ln['grow']}"],
        ["0", "B", *sizes_text(d["NEW_SIZE"]).split(), "+1.91", "MiB", "new",
         "only_new", "at", f"{src}:{ln['only_new']}"],
        [*sizes_text(d["STEADY_A"]).split(), *sizes_text(d["STEADY_A"]).split(), "0", "B",
         "1.00x", "steady", "at", f"{src}:{ln['steady_a']}"],
        [*sizes_text(d["STEADY_B"]).split(), *sizes_text(d["STEADY_B"]).split(), "0", "B",
         "1.00x", "steady", "at", f"{src}:{ln['steady_b']}"],
        [*sizes_text(d["GONE_SIZE"]).split(), "0", "B", "-3.81", "MiB", "gone",
         "only_base", "at", f"{src}:{ln['only_base']}"],
    ], out


def test_top_n_keeps_the_biggest_changes(native):
    d = native["d"]
    data = diff_json(native, "-n", "2")
    assert [(r["function"], r["delta_bytes"]) for r in data["locations"]] == \
        [("grow", d["GROW_BY"]), ("only_base", -d["GONE_SIZE"])], data["locations"]
    out = diff(native, "-n", "2").out
    assert "(the 2 biggest changes of 5; -n 0 shows all)" in out, out


def test_by_function_and_file(native):
    d, src = native["d"], native["src"]
    data = diff_json(native, "--by", "function")
    assert [(r["function"], r["file"], r["line"], r["base_bytes"], r["new_bytes"],
             r["base_count"], r["new_count"]) for r in data["locations"]] == [
        ("grow", src, None, d["GROW_BASE"], d["GROW_BASE"] + d["GROW_BY"], 1, 1),
        ("only_new", src, None, 0, d["NEW_SIZE"], 0, 1),
        ("steady", src, None, d["STEADY_A"] + d["STEADY_B"], d["STEADY_A"] + d["STEADY_B"], 2, 2),
        ("only_base", src, None, d["GONE_SIZE"], 0, 1, 0),
    ], data["locations"]
    data = diff_json(native, "--by", "file")
    base_peak = data["base"]["peak_bytes"]
    assert [(r["function"], r["file"], r["line"], r["base_bytes"], r["new_bytes"],
             r["delta_bytes"], r["base_count"], r["new_count"]) for r in data["locations"]] == [
        (None, src, None, base_peak, data["new"]["peak_bytes"],
         d["GROW_BY"] + d["NEW_SIZE"] - d["GONE_SIZE"], 4, 4)], data["locations"]
    out = diff(native, "--by", "file", "-w", "0").out
    assert out.rstrip("\n").splitlines()[-1].split()[-2:] == ["1.62x", src], out


def test_total_and_leaks(native):
    d = native["d"]
    total = diff_json(native, "--total", "-n", "0")
    peak = diff_json(native, "--peak", "-n", "0")
    assert rows(total) == rows(peak), "everything allocated was live at the peak"
    leaks = diff_json(native, "--leaks", "-n", "0")
    assert [(r["function"], r["base_bytes"], r["new_bytes"]) for r in leaks["locations"]] == \
        [("steady", d["STEADY_B"], d["STEADY_B"])], leaks["locations"]
    assert "Leaked (still allocated at the end), by location" in diff(native, "--leaks").out


# The peak grew by 8,000,000 B (GROW_BY + NEW_SIZE - GONE_SIZE), +61.5%.
@pytest.mark.parametrize("limit,rc", [
    ("5%", 1), ("61%", 1), ("61.6%", 0), ("100%", 0),
    ("8MB", 0), ("8 MB", 0), ("7.9MB", 1), ("7999999", 1), ("8000000", 0),
    ("7.5MiB", 1), ("8MiB", 0), ("1GB", 0),
])
def test_fail_above(native, limit, rc):
    d = native["d"]
    assert d["GROW_BY"] + d["NEW_SIZE"] - d["GONE_SIZE"] == 8_000_000
    res = diff(native, "--fail-above", limit, expect_rc=rc)
    assert "biggest growth first" in res.out, res
    line = res.err.strip()
    assert line == (f"memtide: peak heap grew by 7.63 MiB (+61.54%), "
                    f"{'above' if rc else 'within'} the limit of {limit}"), res


def test_fail_above_other_measures(native):
    # the leak is the same in both runs: no growth, whatever the limit
    res = diff(native, "--leaks", "--fail-above", "0%")
    assert res.err.strip() == "memtide: leaked grew by 0 B (+0.00%), within the limit of 0%", res
    res = diff(native, "--total", "--json", "--fail-above", "1KiB", expect_rc=1)
    assert json.loads(res.stdout)["new"]["total_bytes"] == 21_000_000, res
    assert "total allocated grew by 7.63 MiB" in res.err, res
    # the other way round, the peak fell
    m = native["m"]
    res = m.run("diff", "--fail-above", "0%", native["new"], native["base"])
    assert res.returncode == 0, res
    assert res.err.strip() == ("memtide: peak heap fell by 7.63 MiB (-38.10%), within the "
                               "limit of 0%"), res


def test_native_matches_across_checkouts(mt, native, build):
    """The program built from two checkouts (as on two machines) and run
    from different directories: its files match under their common root."""
    import shutil
    import subprocess

    from conftest import CFLAGS

    progs = {}
    for side, root in (("base", "a/home/proj"), ("new", "b/builds/7/proj")):
        (mt.cwd / root).mkdir(parents=True)
        src = mt.cwd / root / "diff_sites.c"
        shutil.copy(native["src"], src)
        progs[side] = mt.cwd / root / "diff_sites"
        subprocess.run([build.cc, *CFLAGS, "-o", str(progs[side]), str(src)], check=True,
                       timeout=120)
    (mt.cwd / "run").mkdir()
    # the base run's files are outside its working directory, the new run's below it
    res, base = mt.capture(progs["base"], "base", out="base.tide", cwd=mt.cwd / "run")
    res, new = mt.capture(progs["new"], "new", out="new.tide")
    res = mt.run("diff", "--json", "-n", "0", base, new)
    assert res.returncode == 0, str(res)
    data = json.loads(res.stdout)
    d = native["d"]
    assert [(r["function"], r["file"], r["delta_bytes"]) for r in data["locations"]] == [
        ("grow", "proj/diff_sites.c", d["GROW_BY"]),
        ("only_new", "proj/diff_sites.c", d["NEW_SIZE"]),
        ("steady", "proj/diff_sites.c", 0),
        ("steady", "proj/diff_sites.c", 0),
        ("only_base", "proj/diff_sites.c", -d["GONE_SIZE"]),
    ], data["locations"]


# --------------------------------------------------------------------------
# Python: matching across directories, and --ignore-lines

SCRIPT = """
import sys

import memtide

MB = 1_000_000
{pad}

def grow(n):
    return bytearray(n)  # @site:grow


def steady():
    return bytearray(3 * MB)  # @site:steady


def only_new():
    return bytearray(2 * MB)  # @site:only_new


def only_base():
    return bytearray(4 * MB)  # @site:only_base


with memtide.Tracker(sys.argv[2]):
    new = sys.argv[1] == "new"
    kept = [grow(15 * MB if new else 5 * MB), steady()]
    kept.append(only_new() if new else only_base())
    del kept
"""


@pytest.fixture
def python_runs(mt, python, tmp_path):
    """The script run in a/ (base) and b/ (new, its lines 2 further down)."""
    out = {}
    for side, d, pad in (("base", "a", ""), ("new", "b", "# moved\n# down\n")):
        (tmp_path / d).mkdir()
        script = tmp_path / d / "prog.py"
        script.write_text(textwrap.dedent(SCRIPT).format(pad=pad).lstrip("\n"))
        res = mt.plain(python, "prog.py", side, tmp_path / f"{side}.tide",
                       cwd=tmp_path / d, env=package_env())
        assert res.returncode == 0, str(res)
        out[side] = tmp_path / f"{side}.tide"
        out[side + "_lines"] = site_lines(script)
    return out


def test_python_matches_across_directories(mt, python_runs):
    res = mt.run("diff", "--json", "-n", "0", "--by", "function",
                 python_runs["base"], python_runs["new"])
    assert res.returncode == 0, str(res)
    data = json.loads(res.stdout)
    assert (data["base"]["peak_bytes"], data["new"]["peak_bytes"]) == \
        (12_000_003, 20_000_003), data
    assert [(r["function"], r["file"], r["base_bytes"], r["new_bytes"], r["delta_bytes"])
            for r in data["locations"]] == [
        ("grow", "prog.py", 5_000_001, 15_000_001, 10_000_000),
        ("only_new", "prog.py", 0, 2_000_001, 2_000_001),
        ("steady", "prog.py", 3_000_001, 3_000_001, 0),
        ("only_base", "prog.py", 4_000_001, 0, -4_000_001),
    ], data["locations"]


def test_python_ignore_lines(mt, python_runs):
    bl, nl = python_runs["base_lines"], python_runs["new_lines"]
    assert nl["grow"] == bl["grow"] + 2
    res = mt.run("diff", "--json", "-n", "0", python_runs["base"], python_runs["new"])
    data = json.loads(res.stdout)
    # lines moved: every location is new or gone
    assert sorted((r["function"], r["line"], r["base_count"], r["new_count"])
                  for r in data["locations"]) == sorted(
        [(f, nl[f], 0, 1) for f in ("grow", "steady", "only_new")] +
        [(f, bl[f], 1, 0) for f in ("grow", "steady", "only_base")]), data["locations"]
    res = mt.run("diff", "--json", "-n", "0", "--ignore-lines",
                 python_runs["base"], python_runs["new"])
    data = json.loads(res.stdout)
    assert [(r["function"], r["file"], r["line"], r["delta_bytes"])
            for r in data["locations"]] == [
        ("grow", "prog.py", nl["grow"], 10_000_000),
        ("only_new", "prog.py", nl["only_new"], 2_000_001),
        ("steady", "prog.py", nl["steady"], 0),
        ("only_base", "prog.py", bl["only_base"], -4_000_001),
    ], data["locations"]
    out = mt.run("diff", "--ignore-lines", "-w", "0", python_runs["base"],
                 python_runs["new"]).out
    assert f"grow at prog.py:{nl['grow']} (was line {bl['grow']})" in out, out


# --------------------------------------------------------------------------
# Bad input

def test_different_programs_and_truncated(mt, native, python_runs):
    res = mt.run("diff", native["base"], python_runs["new"])
    assert res.returncode == 0, str(res)
    assert "Note: the captures are of different programs (diff_sites, python" in res.out, res.out
    data = native["base"].read_bytes()
    cut = mt.cwd / "cut.tide"
    cut.write_bytes(data[:len(data) - 7])
    res = mt.run("diff", "--json", native["base"], cut)
    assert res.returncode == 0, str(res)
    new = json.loads(res.stdout)["new"]
    assert new["truncated"] is True and new["truncation"], new
    res = mt.run("diff", native["base"], cut)
    assert "      truncated (" in res.out, res.out


@pytest.mark.parametrize("args,message", [
    (["missing.tide", "{base}"], "missing.tide"),
    (["{base}"], "needs two captures"),
    (["{base}", "{base}", "{base}"], "needs two captures"),
    (["--fail-above", "abc", "{base}", "{base}"], "--fail-above takes"),
    (["--fail-above", "5 XB", "{base}", "{base}"], "--fail-above takes"),
    (["--fail-above", "-5%", "{base}", "{base}"], "--fail-above takes"),
    (["--fail-above", "%", "{base}", "{base}"], "--fail-above takes"),
    (["--by", "module", "{base}", "{base}"], "--by takes location, function or file"),
    (["--by", "file", "--ignore-lines", "{base}", "{base}"], "--ignore-lines"),
    (["-n", "x", "{base}", "{base}"], "--top"),
    (["--temporary-allocations", "{base}", "{base}"], "not a measure"),
    (["--leaks", "--total", "{base}", "{base}"], "one measure at a time"),
    (["--bogus", "{base}", "{base}"], "unknown option"),
    (["{junk}", "{base}"], "junk.tide"),
])
def test_bad_input(mt, native, args, message):
    junk = mt.cwd / "junk.tide"
    junk.write_bytes(b"not a capture at all\n")
    args = [a.format(base=native["base"], junk=junk) for a in args]
    line = one_line_error(mt.run("diff", *args))
    assert message in line, line


def test_help(mt):
    res = mt.run("diff", "--help")
    assert res.returncode == 0 and res.out.startswith("usage: memtide diff"), res
