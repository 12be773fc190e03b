"""Step estimates: memtide.step(name, expect="10 MB") / expect_bytes=N, and
`memtide steps` setting the measured peak above each step's start against
them (measured/expected, flagged beyond --tolerance, 1.5 by default).

Each step makes one bytearray(n) (one malloc of n + 1 bytes) and frees it,
so its peak above its start is exactly n + 1.
"""

import json
import textwrap

import pytest

from mtlib import c_defines, package_env


def one_line_error(res):
    """A failure with one line on stderr: "memtide: ..." (what failed) or
    "memtide steps: ..." (how it was called)."""
    lines = res.err.rstrip("\n").split("\n")
    assert res.returncode > 0 and len(lines) == 1, str(res)
    assert lines[0].startswith(("memtide: ", "memtide steps: ")), str(res)
    return lines[0]


SCRIPT = """
import sys

import memtide

STEPS = [  # name, estimate (keyword, value), bytearray size
    ("exact", "expect_bytes", 10_000_001, 10_000_000),
    ("at limit", "expect", "10 MB", 14_999_999),
    ("over", "expect", "10MB", 15_000_002),
    ("under edge", "expect", "10 mb", 6_666_666),
    ("under", "expect", 10_000_000, 6_666_665),
    ("binary", "expect", "8 MiB", 8_388_607),
    ("none", None, None, 1_000_000),
    ("zero", "expect_bytes", 0, 0),
]


def work(n):
    if n:
        data = bytearray(n)
        del data


def pipeline():
    for name, key, value, size in STEPS:
        memtide.step(name, **({key: value} if key else {}))
        work(size)
    with memtide.step("block", expect_bytes=1000):
        work(1999)


if sys.argv[1] == "-":
    pipeline()
else:
    with memtide.Tracker(sys.argv[1]):
        pipeline()
"""

# name: (expected bytes or None, measured bytes)
EXPECTED = {
    "exact": (10_000_001, 10_000_001),
    "at limit": (10_000_000, 15_000_000),
    "over": (10_000_000, 15_000_003),
    "under edge": (10_000_000, 6_666_667),
    "under": (10_000_000, 6_666_666),
    "binary": (8 * 1024 * 1024, 8_388_608),
    "none": (None, 1_000_001),
    "zero": (0, 0),
    "block": (1000, 2000),
}


def off(expected, measured, tol):
    if expected is None:
        return None
    if expected == 0:
        return "over" if measured else None
    ratio = measured / expected
    return "over" if ratio > tol else "under" if ratio * tol < 1 else None


def write_script(tmp_path):
    path = tmp_path / "estimates.py"
    path.write_text(textwrap.dedent(SCRIPT).lstrip("\n"))
    return path


def steps_json(mt, path, *args):
    res = mt.run("steps", "--json", *args, path)
    assert res.returncode == 0, str(res)
    return json.loads(res.stdout)


def check(steps, tol=1.5):
    shown = json.dumps(steps, indent=1)
    assert [s["name"] for s in steps] == list(EXPECTED), shown
    for s in steps:
        expected, measured = EXPECTED[s["name"]]
        assert s["peak_above_start_bytes"] == measured, shown
        assert s["expected_bytes"] == expected, shown
        if expected:
            # the same double: measured / expected, correctly rounded, printed exactly
            assert s["measured_over_expected"] == measured / expected, shown
        else:
            assert s["measured_over_expected"] is None, shown
        assert s["off_estimate"] == off(expected, measured, tol), (s["name"], shown)


@pytest.fixture
def tracker_capture(mt, python, tmp_path):
    script = write_script(tmp_path)
    path = tmp_path / "estimates.tide"
    res = mt.plain(python, script, path, env=package_env())
    assert res.returncode == 0, str(res)
    return path


def test_estimates_under_tracker(mt, tracker_capture):
    steps = steps_json(mt, tracker_capture)
    check(steps)
    assert [s["name"] for s in steps if s["off_estimate"]] == ["over", "under", "block"]
    assert [s["measured_over_expected"] for s in steps[:2]] == [1.0, 1.5]


def test_tolerance(mt, tracker_capture):
    for tol in ("1.4", "1.6", "2", "1"):
        check(steps_json(mt, tracker_capture, "--tolerance", tol), float(tol))
    flagged = [s["name"] for s in steps_json(mt, tracker_capture, "--tolerance", "1.4")
               if s["off_estimate"]]
    assert flagged == ["at limit", "over", "under edge", "under", "block"], flagged


def test_text_columns(mt, tracker_capture):
    res = mt.run("steps", "-w", "0", tracker_capture)
    assert res.returncode == 0, str(res)
    lines = res.out.splitlines()
    head = lines[0]
    assert head.index("above start") < head.index("expected") < \
        head.index("measured/expected") < head.index("RSS at end"), head
    col = head.index("measured/expected")
    cells = {ln[:24].rstrip(): (ln[col - 12:col].strip(), ln[col:col + 17].strip())
             for ln in lines[1:] if ln[:24].strip() in EXPECTED}
    assert cells == {
        "exact": ("9.54 MiB", "1.00"),
        "at limit": ("9.54 MiB", "1.50"),
        "over": ("9.54 MiB", "1.50 over"),
        "under edge": ("9.54 MiB", "0.67"),
        "under": ("9.54 MiB", "0.67 under"),
        "binary": ("8.00 MiB", "1.00"),
        "none": ("-", "-"),
        "zero": ("0 B", "-"),
        "block": ("1000 B", "2.00 over"),
    }, res.out
    assert lines[-1] == ("over, under: the peak above the step's start is more than 1.5 "
                         "times the estimate, or below it by that much (--tolerance)"), res.out


def test_estimates_under_memtide_run(mt, system_python, tmp_path):
    script = write_script(tmp_path)
    res, path = mt.capture(script, "-", options=["--python", system_python],
                           env=package_env())
    check(steps_json(mt, path))


def test_steps_without_estimates_unchanged(mt, python, tmp_path):
    script = tmp_path / "plain.py"
    script.write_text(textwrap.dedent("""
        import sys
        import memtide
        with memtide.Tracker(sys.argv[1]):
            memtide.step("one")
            x = bytearray(1000)
    """))
    path = tmp_path / "plain.tide"
    assert mt.plain(python, script, path, env=package_env()).returncode == 0
    res = mt.run("steps", "-w", "0", path)
    assert "expected" not in res.out and "over, under" not in res.out, res.out
    (step,) = steps_json(mt, path)
    assert (step["expected_bytes"], step["measured_over_expected"], step["off_estimate"]) == \
        (None, None, None), step


@pytest.mark.parametrize("call,error", [
    ('memtide.step("a", expect="lots")', "ValueError: not a size: 'lots'"),
    ('memtide.step("a", expect="-5 MB")', "ValueError: not a size"),
    ('memtide.step("a", expect="1 MB", expect_bytes=5)', "TypeError: step() takes expect or "
     "expect_bytes, not both"),
    ('memtide.step("a", expect_bytes="5")', "TypeError: expect_bytes must be an int"),
    ('memtide.step("a", expect_bytes=-1)', "ValueError: an estimate of -1 bytes"),
    ('memtide.step("", expect_bytes=1)', "ValueError: a step with an estimate needs a name"),
])
def test_bad_estimates(mt, python, tmp_path, call, error):
    script = tmp_path / "bad.py"
    script.write_text(f"import sys\nimport memtide\nwith memtide.Tracker(sys.argv[1]):\n"
                      f"    {call}\n")
    res = mt.plain(python, script, tmp_path / "bad.tide", env=package_env())
    assert res.returncode == 1 and error in res.err.strip().splitlines()[-1], str(res)


@pytest.mark.parametrize("value", ["0.5", "abc", "", "1.5x", "nan"])
def test_bad_tolerance(mt, value):
    line = one_line_error(mt.run("steps", "--tolerance", value, "any.tide"))
    assert "--tolerance needs a number from 1" in line, line


def test_c_api(mt, build):
    """memtide_step_expect(name, bytes) from a C program under memtide run."""
    src = build.source("step_expect")
    d = c_defines(src)
    _, path = mt.capture(build.program("step_expect"))
    steps = steps_json(mt, path)
    assert [(s["name"], s["peak_above_start_bytes"], s["expected_bytes"],
             s["measured_over_expected"], s["off_estimate"]) for s in steps] == [
        ("fill", d["FILL_SIZE"], d["FILL_EXPECT"], 1.5, None),
        ("spike", d["SPIKE_SIZE"], d["SPIKE_EXPECT"], 2.0, "over"),
        ("plain", d["PLAIN_SIZE"], None, None, None),
    ], steps


# --------------------------------------------------------------------------
# The capture: META step_expected_bytes "ID BYTES" before the STEP it is for

MALLOC, FREE, STEP = 1, 13, 15  # event kinds (docs/FORMAT.md)


def test_crafted_estimates(mt):
    """An estimate applies to the next step of its name only; a value that
    makes no sense makes the capture damaged."""
    from test_reader import META, craft, events, rec

    names = (rec(2, b"load"), rec(2, b"save"))
    path = mt.cwd / "crafted.tide"
    path.write_bytes(craft(*META, *names, rec(1, b"step_expected_bytes", b"1 3000000"),
                           events((STEP, 1, 10, 1), (MALLOC, 3_000_001, 0), (FREE, 0),
                                  (STEP, 2, 20, 1), (STEP, 1, 30, 1), (STEP, 0, 40, 1)),
                           rec(11, 50)))
    steps = steps_json(mt, path)
    assert [(s["name"], s["expected_bytes"], s["off_estimate"]) for s in steps] == \
        [("load", 3_000_000, None), ("save", None, None), ("load", None, None)], steps
    assert steps[0]["measured_over_expected"] == 3_000_001 / 3_000_000, steps
    for value in (b"3 100", b"0 100", b"1", b"1 x", b"1 -5", b"x 1",
                  b"1 99999999999999999999"):
        path.write_bytes(craft(*META, *names, rec(1, b"step_expected_bytes", value),
                               events((STEP, 1, 10, 1)), rec(11, 50)))
        res = mt.run("steps", path)
        line = one_line_error(res)
        assert line == f"memtide: '{path}': damaged capture: malformed record 1", (value, line)
