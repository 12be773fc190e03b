"""The capture reader and the replay against hostile input: real captures
that used to crash the reports (0-byte blocks in a step, holes punched in
mappings), files cut off or left open by a killed writer, and crafted
captures with impossible ids and sizes.  Bad files get one line
("memtide: 'FILE': damaged capture: ...") and a non-zero exit."""

import json
import subprocess
import struct

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


# ---- files cut off, or left open by a killed writer -------------------------

KILLED = "the program was killed or the capture cut off"
CUT = "the file ends inside a chunk: the disk was full or the file was cut"
DAMAGED = "its last chunk is damaged"
ALLOC_KINDS = range(1, 13)      # MALLOC .. PYMALLOC (format.h)
MAPPING_KINDS = (10, 11, 14)    # MMAP, MREMAP, MUNMAP
FREE, STEP = 13, 15


def varint(b, i):
    v = shift = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7F) << shift
        shift += 7
        if x < 0x80:
            return v, i


def count_allocations(events):
    """Allocation events in the bytes of one EVENTS record."""
    i = n = 0
    while i < len(events):
        head = events[i]
        kind = head & 15
        i += 1
        if head & 0x20:
            _, i = varint(events, i)
        if kind in (FREE, STEP) or kind in MAPPING_KINDS:
            _, i = varint(events, i)
        if kind != FREE:
            _, i = varint(events, i)
        if kind == STEP:
            _, i = varint(events, i)
        if kind in ALLOC_KINDS:
            n += 1
            if not head & 0x10:
                _, i = varint(events, i)
    return n


def allocations_upto(raw):
    """[(end of each whole record in the stream, allocations up to it)]
    for a record stream (docs/FORMAT.md), parsed independently of memtide."""
    out, i, total = [], 0, 0

    def nums(i, k):
        for _ in range(k):
            _, i = varint(raw, i)
        return i

    def string(i):
        n, i = varint(raw, i)
        return i + n

    while i < len(raw):
        tag = raw[i]
        i += 1
        if tag == 1:
            i = string(string(i))
        elif tag == 2:
            i = string(i)
        elif tag == 3:
            i = nums(i, 4)
        elif tag == 4:
            i = nums(i, 1)
            kind, i = varint(raw, i)
            i = nums(i, 2 if kind == 1 else 1)
        elif tag == 5:
            i = string(string(nums(i, 2)))
            nseg, i = varint(raw, i)
            i = nums(i, 2 * nseg)
        elif tag == 6:
            i = nums(i, 2)
        elif tag == 7:
            i = string(nums(i, 2))
        elif tag == 8:
            n, i = varint(raw, i)
            total += count_allocations(raw[i:i + n])
            i += n
        elif tag in (9, 11):
            i = nums(i, 1)
        elif tag == 10:
            i = nums(i, 2)
        else:
            raise AssertionError(f"unknown record {tag} at {i - 1}")
        out.append((i, total))
    return out


def expected_allocations(records, stream_bytes):
    """Allocations in the whole records among the first stream_bytes."""
    n = 0
    for end, total in records:
        if end > stream_bytes:
            break
        n = total
    return n


@pytest.fixture(scope="module")
def reflushed(memtide_bin, build, tmp_path_factory):
    """A capture of report_churn (20 rounds) rewritten as one chunk flushed
    every 1500 bytes of stream, open and closed: (open bytes, closed bytes,
    [(file offset, stream offset)] per flush, records of the stream)."""
    from conftest import CFLAGS, Memtide
    d = tmp_path_factory.mktemp("reflush")
    helper = d / "tide_reflush"
    build._compile(("prog", "tide_reflush"), helper,
                   CFLAGS + ["-o", str(helper), str(build.source("tide_reflush")), "-lzstd"])
    res, path = Memtide(memtide_bin, d).capture(build.program("report_churn"), "20")
    files = {}
    for how in ("open", "closed"):
        out = d / f"{how}.tide"
        proc = subprocess.run([str(helper), str(path), str(out), "1500", how],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        flushes = [tuple(map(int, line.split())) for line in proc.stdout.split("\n") if line]
        files[how] = out.read_bytes()
    raw = (d / "open.tide.raw").read_bytes()
    assert len(flushes) > 20, flushes
    return files["open"], files["closed"], flushes, allocations_upto(raw)


def read_cut(mt, data, name="cut.tide"):
    path = mt.cwd / name
    path.write_bytes(data)
    return mt.stats_json(path)


def test_open_chunk_keeps_every_whole_round(mt, reflushed):
    data, _, flushes, records = reflushed
    full = records[-1][1]
    assert full >= 100 + 20 * 1000, full  # KEEP_N + 20 x ROUND_N
    for fend, rend in flushes[::5] + flushes[-1:]:
        s = read_cut(mt, data[:fend])
        want = expected_allocations(records, rend)
        assert (s["truncated"], s.get("truncation"), s["total_allocations"]) == \
            (True, KILLED, want), f"cut after the round ending at {fend}"
    assert read_cut(mt, data)["total_allocations"] == full


def test_open_chunk_cut_inside_a_round(mt, reflushed):
    data, _, flushes, records = reflushed
    for (fend, rend), (nxt, _) in list(zip(flushes, flushes[1:]))[::5]:
        if nxt - fend < 2:
            continue
        s = read_cut(mt, data[:(fend + nxt) // 2])
        assert (s["truncated"], s.get("truncation"), s["total_allocations"]) == \
            (True, CUT, expected_allocations(records, rend)), f"cut at {(fend + nxt) // 2}"


def test_open_chunk_cut_in_its_headers(mt, reflushed):
    data = reflushed[0]
    for cut in (16 + 7, 32 + 2):   # the chunk header, the zstd frame header
        s = read_cut(mt, data[:cut])
        assert (s["truncated"], s.get("truncation"), s["total_allocations"]) == (True, CUT, 0)


def test_closed_chunk_cut_keeps_what_decodes(mt, reflushed):
    _, data, flushes, records = reflushed
    for fend, rend in flushes[::7]:
        s = read_cut(mt, data[:fend])
        assert (s["truncated"], s.get("truncation"), s["total_allocations"]) == \
            (True, CUT, expected_allocations(records, rend)), f"cut at {fend}"
    s = read_cut(mt, data[:-1])    # only the checksum is cut
    assert (s["truncated"], s["total_allocations"]) == (True, records[-1][1])


def test_closed_chunk_whole_reads_complete(mt, reflushed):
    _, data, _, records = reflushed
    s = read_cut(mt, data)
    assert (s["truncated"], s["total_allocations"]) == (False, records[-1][1])


def test_open_header_over_a_whole_frame_reads_complete(mt, reflushed):
    """Killed between ending the frame and writing the chunk's sizes."""
    _, data, _, records = reflushed
    data = data[:20] + b"\xff" * 8 + data[28:]
    s = read_cut(mt, data)
    assert (s["truncated"], s["total_allocations"]) == (False, records[-1][1])


def test_last_chunk_failing_its_checksum_keeps_its_records(mt, reflushed):
    _, data, _, records = reflushed
    data = data[:-4] + bytes(b ^ 0x5A for b in data[-4:])
    s = read_cut(mt, data)
    assert (s["truncated"], s.get("truncation"), s["total_allocations"]) == \
        (True, DAMAGED, records[-1][1])


def test_text_report_says_why_and_when(mt, reflushed):
    data, _, flushes, _ = reflushed
    path = mt.cwd / "cut.tide"
    path.write_bytes(data[:flushes[len(flushes) // 2][0]])
    res = mt.stats(path)
    assert res.returncode == 0, str(res)
    assert f"Note: the capture is truncated ({KILLED}); it ends at " in res.out, res.out
