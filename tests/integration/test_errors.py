"""Bad capture files and bad command lines give a one-line error and a
non-zero exit; a capture cut anywhere after its file header reads as
truncated, with every record before the cut (tests/integration/test_reader.py
has the exact counts)."""

import random
import struct

import pytest

from mtlib import FORMAT_VERSION, MAGIC, assert_one_line_error, chunk_spans

HEADER = len(MAGIC) + 2  # magic, then the little-endian u16 format version


def check_bad(mt, path):
    """Both the text and the JSON report refuse the file in one line."""
    res = mt.stats(path)
    line = assert_one_line_error(res)
    res = mt.stats("--json", path)
    assert_one_line_error(res)
    assert res.stdout == b"", f"stats --json printed output for a bad file: {res.out[:500]!r}"
    return line


def test_sample_capture_has_magic_and_version(sample_capture):
    assert sample_capture[:8] == MAGIC
    assert struct.unpack_from("<H", sample_capture, 8)[0] == FORMAT_VERSION


def test_empty_file(mt):
    path = mt.cwd / "empty.tide"
    path.write_bytes(b"")
    check_bad(mt, path)


def test_header_only_cut_inside(mt, sample_capture):
    path = mt.cwd / "short.tide"
    path.write_bytes(sample_capture[:5])
    check_bad(mt, path)


def test_nonexistent_file(mt):
    line = check_bad(mt, mt.cwd / "no-such-file.tide")
    assert "no-such-file.tide" in line, line


def test_wrong_magic(mt, sample_capture):
    path = mt.cwd / "magic.tide"
    path.write_bytes(b"NOTTIDE\0" + sample_capture[8:])
    check_bad(mt, path)


def test_not_a_capture_at_all(mt):
    path = mt.cwd / "text.tide"
    path.write_text("this is a text file, not a capture\n" * 20)
    check_bad(mt, path)


@pytest.mark.parametrize("version", [0, FORMAT_VERSION + 1, 0xFFFF])
def test_wrong_version(mt, sample_capture, version):
    path = mt.cwd / "version.tide"
    path.write_bytes(MAGIC + struct.pack("<H", version) + sample_capture[HEADER:])
    line = check_bad(mt, path)
    assert str(version) in line, f"the error should name version {version}: {line}"


@pytest.fixture(scope="module")
def long_capture(memtide_bin, build, tmp_path_factory):
    """A capture of a 1.3 s run: several chunks, the last holding the end."""
    from conftest import Memtide
    d = tmp_path_factory.mktemp("long")
    res, path = Memtide(memtide_bin, d).capture(build.program("sleeper"), "1300")
    data = path.read_bytes()
    spans = chunk_spans(data)
    assert spans and spans[-1][1] == len(data), \
        f"the capture is not a whole number of chunks: {spans}, {len(data)} bytes"
    return data, spans


def test_long_capture_reads_whole(mt, long_capture):
    data, spans = long_capture
    path = mt.cwd / "whole.tide"
    path.write_bytes(data)
    stats = mt.stats_json(path)
    assert stats["truncated"] is False
    assert len(spans) >= 2, f"a 1.3 s run must flush at least two chunks: {spans}"


def test_cut_at_chunk_boundaries_reads_as_truncated(mt, long_capture):
    data, spans = long_capture
    previous = -1
    for start, _ in spans:
        path = mt.cwd / f"cut{start}.tide"
        path.write_bytes(data[:start])
        stats = mt.stats_json(path)
        assert stats["truncated"] is True, f"cut at {start} of {len(data)}"
        assert stats["total_allocations"] >= previous
        previous = stats["total_allocations"]


CUT = "the file ends inside a chunk: the disk was full or the file was cut"


@pytest.mark.parametrize("where", ["last-byte", "mid-payload", "mid-header"])
@pytest.mark.parametrize("chunk", ["first", "last"])
def test_truncated_in_the_middle_of_a_chunk(mt, long_capture, where, chunk):
    """What the chunk's complete zstd blocks hold is read; the rest is lost."""
    data, spans = long_capture
    start, end = spans[0] if chunk == "first" else spans[-1]
    cut = {"last-byte": end - 1, "mid-payload": (start + 16 + end) // 2,
           "mid-header": start + 7}[where]
    before = mt.stats_json(write(mt, "before.tide", data[:start]))["total_allocations"]
    after = mt.stats_json(write(mt, "after.tide", data[:end]))["total_allocations"]
    stats = mt.stats_json(write(mt, "cut.tide", data[:cut]))
    assert (stats["truncated"], stats["truncation"]) == (True, CUT), stats
    got = stats["total_allocations"]
    if where == "mid-header":
        assert got == before
    elif where == "last-byte":   # only the checksum is missing
        assert got == after
    else:
        assert before <= got <= after


def write(mt, name, data):
    path = mt.cwd / name
    path.write_bytes(data)
    return path


def test_truncated_inside_the_small_capture(mt, sample_capture):
    whole = mt.stats_json(write(mt, "whole.tide", sample_capture))
    stats = mt.stats_json(write(mt, "cut.tide", sample_capture[:-1]))
    assert (stats["truncated"], stats["truncation"]) == (True, CUT), stats
    assert stats["total_allocations"] == whole["total_allocations"]


def test_garbage_after_header(mt):
    rng = random.Random(1234)
    path = mt.cwd / "garbage.tide"
    path.write_bytes(MAGIC + struct.pack("<H", FORMAT_VERSION)
                     + bytes(rng.randrange(256) for _ in range(8192)))
    check_bad(mt, path)


def test_corrupt_bytes_in_the_middle(mt, long_capture):
    """A damaged chunk that is not the last one: nothing after it can be read."""
    data, spans = long_capture
    data = bytearray(data)
    start, end = spans[0]
    mid = (start + 16 + end) // 2
    for i in range(mid, mid + 32):
        data[i] ^= 0xA5
    path = mt.cwd / "corrupt.tide"
    path.write_bytes(bytes(data))
    assert ": damaged capture: " in check_bad(mt, path)


def test_stats_without_file(mt):
    res = mt.stats()
    assert res.returncode != 0
    assert res.err.startswith("memtide") and res.err.count("\n") == 1, res.err


def test_unknown_command(mt):
    res = mt.run("no-such-command")
    assert res.returncode != 0
    assert "no-such-command" in res.err, res.err


def test_run_missing_program(mt):
    res = mt.run("run", "-q", "-o", mt.cwd / "out.tide", mt.cwd / "does-not-exist")
    assert res.returncode != 0
    assert "does-not-exist" in res.err, res.err
