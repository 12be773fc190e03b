"""The capture reader and the replay against hostile input: real captures
that used to crash the reports (0-byte blocks in a step, holes punched in
mappings), files cut off or left open by a killed writer, and crafted
captures with impossible ids and sizes.  Bad files get one line
("memtide: 'FILE': damaged capture: ...") and a non-zero exit."""

import json
import os
import struct
import subprocess

import pytest

from mtlib import MAGIC, assert_one_line_error, assert_site, c_defines, site_lines

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


def column_heads(body):
    """The head bytes of a COLUMNS record's body: its first column."""
    lens, i = [], 0
    for _ in range(8):
        n, i = varint(body, i)
        lens.append(n)
    assert i + sum(lens) == len(body)
    return body[i:i + lens[0]]


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
        elif tag == 12:
            n, i = varint(raw, i)
            total += sum(1 for head in column_heads(raw[i:i + n])
                         if head & 15 in ALLOC_KINDS)
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


# ---- crafted captures ----------------------------------------------------------

def uv(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def rec(tag, *fields):
    """A record: ints are varints, bytes are strings."""
    return bytes([tag]) + b"".join(uv(len(f)) + f if isinstance(f, bytes) else uv(f)
                                   for f in fields)


def events(*evs):
    """An EVENTS record of events given as (head, field, ...)."""
    body = b"".join(bytes([e[0]]) + b"".join(uv(x) for x in e[1:]) for e in evs)
    return rec(8, len(body)) + body


def craft(*records):
    """A one-chunk capture of these records (compressed by the zstd tool)."""
    raw = b"".join(records)
    z = subprocess.run(["zstd", "-q", "-c", "--check"], input=raw, capture_output=True,
                       check=True, timeout=60).stdout
    return (MAGIC + struct.pack("<HHI", 1, 16, 0)
            + struct.pack("<IIII", 0x4B484354, len(z), len(raw), 0) + z)


META = (rec(1, b"format", b"memtide capture"), rec(1, b"command", b"crafted"),
        rec(9, 0), rec(7, 0, 1234, b"main"))
MALLOC, MMAP = 1, 10


def check_damaged(mt, data, what):
    path = mt.cwd / "crafted.tide"
    path.write_bytes(data)
    for cmd in REPORTS:
        res = report(mt, cmd, path)
        line = assert_one_line_error(res)
        assert f"'{path}': damaged capture: {what}" in line, f"{cmd}: {line}"
        assert res.returncode == 1, f"{cmd}: {res}"


def test_crafted_baseline_reads(mt):
    """The crafted captures below differ from this one in one field."""
    path = mt.cwd / "ok.tide"
    path.write_bytes(craft(*META, rec(4, 0, 1, 0x1000, 0),
                           events((MALLOC, 100, 1), (MALLOC | 0x10, 50)), rec(11, 5)))
    s = mt.stats_json(path)
    assert (s["total_allocations"], s["total_bytes"], s["truncated"]) == (2, 150, False), s


@pytest.mark.parametrize("index", [2**31 + 5, 2**32 - 3, 2**29, 2**28 + 1])
def test_thread_record_with_a_huge_index(mt, index):
    check_damaged(mt, craft(*META, rec(7, index, 99, b"t"), events((MALLOC, 8, 0)), rec(11, 1)),
                  f"thread index {index} after 1 thread records")


@pytest.mark.parametrize("index", [2**31 + 5, 2**29])
def test_event_of_a_huge_thread_index(mt, index):
    check_damaged(mt, craft(*META, events((MALLOC | 0x20, index, 8, 0)), rec(11, 1)),
                  f"an event of thread {index}, of 1 known")


def test_event_naming_a_stack_not_yet_defined(mt):
    check_damaged(mt, craft(*META, rec(4, 0, 1, 0x1000, 0), events((MALLOC, 8, 7)), rec(11, 1)),
                  "an event names stack 7, of 2")


@pytest.mark.parametrize("size", [2**63, 2**64 - 1])
def test_allocation_of_half_the_address_space(mt, size):
    check_damaged(mt, craft(*META, events((MALLOC, size, 0), (MALLOC, size, 0)), rec(11, 1)),
                  f"an allocation of {size} bytes")


def test_mapping_past_the_end_of_the_address_space(mt):
    check_damaged(mt, craft(*META, events((MMAP, 2**64 - 4096, 8192, 0)), rec(11, 1)),
                  "a mapping past the end of the address space")


def test_python_frame_id_out_of_range(mt):
    """A native evaluation-loop frame (python3's own _PyEval_EvalFrameDefault)
    with a Python frame that names a PYFRAME that does not exist."""
    py = "/usr/bin/python3"
    nm = subprocess.run(["nm", "-D", py], capture_output=True, text=True, timeout=60).stdout
    addr = [int(l.split()[0], 16) for l in nm.split("\n")
            if l.endswith(" _PyEval_EvalFrameDefault")]
    lo = subprocess.run(["readelf", "-lW", py], capture_output=True, text=True,
                        timeout=60).stdout
    if not addr or "DYN" in lo.split("Entry point")[0] or " 0x0000000000400000 " not in lo:
        pytest.skip("needs a non-PIE /usr/bin/python3 exporting _PyEval_EvalFrameDefault")
    data = craft(*META, rec(2, b"f"), rec(2, b"/x.py"),
                 rec(5, 0, 0, py.encode(), b"", 1, 0x400000, 0x800000),
                 rec(3, 1, 2, 7, 1),                       # pyframe 1: f at /x.py:7
                 rec(4, 0, 1, addr[0] + 0x11, 0),          # node 1: in the eval loop
                 rec(4, 1, 0, 1),                          # node 2: pyframe 1
                 rec(4, 2, 0, 2**40),                      # node 3: no such pyframe
                 events((MALLOC, 64, 3)), rec(11, 1))
    path = mt.cwd / "pyframe.tide"
    path.write_bytes(data)
    for cmd in REPORTS:
        res = report(mt, cmd, path)
        assert res.returncode == 0, f"{cmd}: {res}"
    s = mt.stats_json(path)
    assert s["total_allocations"] == 1


def test_many_modules_unloaded_stay_linear(mt):
    """200,000 modules then 200,000 UNLOADs (of other biases, then of theirs):
    each UNLOAD finds its modules by bias, not by scanning them all."""
    n = 200_000
    mods = b"".join(rec(5, 0, 0x10000 * (i + 1), b"", b"", 1, 0, 0x1000) for i in range(n))
    miss = b"".join(rec(6, 1, 0x10000 * (i + 1) + 1) for i in range(n))
    hit = b"".join(rec(6, 2, 0x10000 * (i + 1)) for i in range(n))
    path = mt.cwd / "modules.tide"
    path.write_bytes(craft(*META, mods, miss, hit, events((MALLOC, 8, 0)), rec(11, 1)))
    res = mt.run("stats", "--json", path, timeout=30)
    assert res.returncode == 0, str(res)
    assert json.loads(res.stdout)["total_allocations"] == 1


def test_fifo_is_refused_not_waited_on(mt):
    path = mt.cwd / "fifo.tide"
    os.mkfifo(path)
    res = mt.run("stats", path, timeout=20)
    assert "not a regular file" in assert_one_line_error(res)


def test_open_chunk_with_no_round_yet(mt, reflushed):
    """Killed after starting a chunk, before its first round."""
    s = read_cut(mt, reflushed[0][:32])
    assert (s["truncated"], s.get("truncation"), s["total_allocations"]) == (True, KILLED, 0)
