"""Format version 2's COLUMNS records (docs/FORMAT.md): a program whose
figures are all known, with slots and sizes above one byte and frees of
the last slot taken, reads back exactly; the writer's stream holds its
events in COLUMNS records only, with each kind of field where the format
says."""
import collections
import re
import subprocess

from mtlib import FORMAT_VERSION

ALLOC_KINDS = set(range(1, 10)) | {12}
FREE = 13
LASTSLOT = 0x10


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def columns_records(stream, tags=None):
    """The columns of every COLUMNS record, and the EVENTS records seen;
    tags (a Counter) counts every record by tag."""
    found, events, i = [], 0, 0
    skip = {9: 1, 10: 2, 11: 1, 6: 2, 3: 4}
    while i < len(stream):
        tag = stream[i]
        i += 1
        if tags is not None:
            tags[tag] += 1
        if tag in (8, 12):
            n, i = varint(stream, i)
            body, i = stream[i:i + n], i + n
            if tag == 8:
                events += 1
                continue
            lens, j = [], 0
            for _ in range(8):
                k, j = varint(body, j)
                lens.append(k)
            assert j + sum(lens) == len(body)
            cols = []
            for k in lens:
                cols.append(body[j:j + k])
                j += k
            found.append(cols)
        elif tag in (1, 2):
            for _ in range(2 if tag == 1 else 1):
                n, i = varint(stream, i)
                i += n
        elif tag in skip:
            for _ in range(skip[tag]):
                _, i = varint(stream, i)
        elif tag == 4:
            _, i = varint(stream, i)
            kind, i = varint(stream, i)
            for _ in range(2 if kind == 1 else 1):
                _, i = varint(stream, i)
        elif tag == 5:
            for _ in range(2):
                _, i = varint(stream, i)
            for _ in range(2):
                n, i = varint(stream, i)
                i += n
            n, i = varint(stream, i)
            for _ in range(2 * n):
                _, i = varint(stream, i)
        elif tag == 7:
            for _ in range(2):
                _, i = varint(stream, i)
            n, i = varint(stream, i)
            i += n
        else:
            raise AssertionError(f"unknown record {tag} at {i - 1}")
    return found, events


def test_known_figures_through_columns(mt, build):
    res, cap = mt.capture(build.program("slot_churn"))
    m = re.search(r"allocations (\d+) bytes (\d+) peak (\d+) leaked (\d+) leaked_bytes (\d+)",
                  res.err)
    assert m, res.err
    allocations, nbytes, peak, leaked, leaked_bytes = map(int, m.groups())
    stats = mt.stats_json(cap)
    assert stats["total_allocations"] == allocations == 63000
    assert stats["total_bytes"] == nbytes
    assert stats["peak_bytes"] == peak
    assert stats["leaked_allocations"] == leaked
    assert stats["leaked_bytes"] == leaked_bytes

    data = cap.read_bytes()
    assert data[8] | data[9] << 8 == FORMAT_VERSION == 2
    tool = build.program("tide_decode", libs=["-lzstd"])
    stream = subprocess.run([str(tool), str(cap)], capture_output=True, timeout=60,
                            check=True).stdout
    records, events = columns_records(stream)
    assert records and events == 0
    heads = b"".join(c[0] for c in records)
    frees = [h for h in heads if h & 15 == FREE]
    last = sum(1 for h in frees if h & LASTSLOT)
    # each round's malloc freed at once frees the last slot taken
    assert last >= 20000
    # the other frees name their slot: a low byte each, and the rest
    assert sum(len(c[2]) for c in records) == len(frees) - last
    assert any(b for c in records for b in c[3])        # slots above 255
    assert sum(len(c[4]) for c in records) == sum(1 for h in heads if h & 15 in ALLOC_KINDS)
    assert any(b for c in records for b in c[5])        # sizes above 255


def test_idle_rounds_write_a_point_a_second(mt, build):
    """A writer round without events and with the RSS as it was writes
    nothing but a SAMPLE a second (docs/FORMAT.md): `sleep 2.5` leaves a
    few timeline points, not 250, and its capture still lasts 2.5 s."""
    _, cap = mt.capture("/bin/sleep", "2.5")
    assert 2500 <= mt.stats_json(cap)["duration_ms"] < 5000
    tool = build.program("tide_decode", libs=["-lzstd"])
    stream = subprocess.run([str(tool), str(cap)], capture_output=True, timeout=60,
                            check=True).stdout
    tags = collections.Counter()
    columns_records(stream, tags)
    assert tags[12] >= 1 and tags[9] <= 5 and 2 <= tags[10] <= 10, tags
