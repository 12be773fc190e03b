"""The capture reader and the replay against hostile input: real captures
that used to crash the reports (0-byte blocks in a step, holes punched in
mappings), files cut off or left open by a killed writer, and crafted
captures with impossible ids and sizes.  Bad files get one line
("memtide: 'FILE': damaged capture: ...") and a non-zero exit."""

import json
import struct
import zlib  # noqa: F401  (kept out: zstd frames come from the capture itself)

import pytest

from mtlib import (CHUNK_HEADER, MAGIC, assert_one_line_error, assert_site, c_defines,
                   chunk_spans, site_lines)

REPORTS = ("stats", "tree", "summary", "steps", "flamegraph")


def report(mt, cmd, path, *extra):
    args = [cmd, *extra, str(path)]
    if cmd == "flamegraph":
        args = [cmd, "-f", "-o", str(mt.cwd / "fg.html"), *extra, str(path)]
    return mt.run(*args)


# ---- bug 1: a step with 0-byte allocations ---------------------------------

def test_step_with_zero_byte_mallocs(mt, build):
    src = build.source("step_zero")
    d = c_defines(src)
    n = d["N_ZERO"]
    res, path = mt.capture(build.program("step_zero"))
    for cmd in REPORTS:
        r = report(mt, cmd, path)
        assert r.returncode == 0, f"{cmd}:\n{r}"
    stats = mt.stats_json(path)
    assert_site(stats, "make_zeros", src, site_lines(src)["make_zeros"], n, 0)
    r = mt.run("steps", "--json", path)
    assert r.returncode == 0, str(r)
    steps = json.loads(r.stdout)
    assert [s["name"] for s in steps] == ["zeros", "release"], steps
    assert steps[0]["allocations"] == n, steps[0]
    assert steps[0]["allocated_bytes"] == 0, steps[0]
    assert steps[1]["allocations"] == 0, steps[1]


# ---- bug 5: holes punched in mappings ---------------------------------------

PAGE = 4096


@pytest.mark.parametrize("mode", ["hole", "hole-keep", "remap-hole", "remap-hole-keep"])
def test_mapping_with_a_hole_is_one_allocation(mt, build, mode):
    src = build.source("unmap_holes")
    d = c_defines(src)
    lines = site_lines(src)
    res, path = mt.capture(build.program("unmap_holes"), mode)
    stats = mt.stats_json(path)
    remap = mode.startswith("remap")
    pages = d["GROWN_PAGES"] if remap else d["MAP_PAGES"]
    assert_site(stats, "map_holed", src, lines["map_holed"], 1, d["MAP_PAGES"] * PAGE)
    if remap:
        assert_site(stats, "remap_grown", src, lines["remap_grown"], 1, pages * PAGE)
    assert stats["peak_bytes"] == pages * PAGE, stats
    if mode.endswith("keep"):
        assert (stats["leaked_allocations"], stats["leaked_bytes"]) == \
            (1, (pages - d["HOLE_PAGES"]) * PAGE), stats
    else:
        assert (stats["leaked_allocations"], stats["leaked_bytes"]) == (0, 0), stats
    for cmd in REPORTS:
        r = report(mt, cmd, path)
        assert r.returncode == 0, f"{cmd}:\n{r}"
        assert "18,446,744" not in r.out and "18446744" not in r.out, r.out
