"""Helpers shared by memtide's integration tests (no pytest fixtures here).

Programs and scripts mark their allocation sites with "@site:NAME" in a
comment; site_lines() maps each NAME to its 1-based line. C programs keep
their sizes in #defines; c_defines() reads them back so the expected
numbers come from the program's own source.
"""

import os
import re
from pathlib import Path

MAGIC = b"MEMTIDE\0"
FORMAT_VERSION = 2
KiB = 1024
MiB = 1024 * 1024

# Every kind `stats --json` may report, spelled as in its "allocators" object.
ALLOCATOR_KINDS = (
    "malloc", "calloc", "realloc", "reallocarray", "posix_memalign",
    "aligned_alloc", "memalign", "valloc", "pvalloc", "mmap", "mremap",
)

_SITE_RE = re.compile(r"@site:([A-Za-z0-9_]+)")
_DEFINE_RE = re.compile(r"^\s*#\s*define\s+([A-Z][A-Z0-9_]*)\s+(\d+)[uUlL]*\s*$")


def _text(src):
    if isinstance(src, Path) or (isinstance(src, str) and "\n" not in src
                                 and os.path.exists(src)):
        return Path(src).read_text()
    return src


def site_lines(src):
    """{name: line} for every "@site:name" marker in a file or a text."""
    lines = {}
    for number, line in enumerate(_text(src).splitlines(), start=1):
        for name in _SITE_RE.findall(line):
            assert name not in lines, f"site {name} marked twice"
            lines[name] = number
    return lines


def c_defines(path):
    """{NAME: int} for every "#define NAME <integer>" line of a C file."""
    out = {}
    for line in Path(path).read_text().splitlines():
        m = _DEFINE_RE.match(line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def _base(name):
    return os.path.basename(name or "")


def all_locations(stats):
    """The union of top_by_size and top_by_count, one row per location.

    A location that appears in both lists must have the same numbers in both.
    """
    rows = {}
    for key in ("top_by_size", "top_by_count"):
        for row in stats[key]:
            loc = (row["function"], row["file"], row["line"])
            if loc in rows:
                assert (rows[loc]["bytes"], rows[loc]["count"]) == \
                    (row["bytes"], row["count"]), \
                    f"{loc} differs between top_by_size and top_by_count: " \
                    f"{rows[loc]} vs {row}"
            else:
                rows[loc] = row
    return list(rows.values())


def locations(stats, function=None, file=None, line=None):
    """Rows for a function (and file basename, and line) from both top lists."""
    out = []
    for row in all_locations(stats):
        if function is not None and row["function"] != function:
            continue
        if file is not None and _base(row["file"]) != _base(file):
            continue
        if line is not None and row["line"] != line:
            continue
        out.append(row)
    return out


def describe(stats, limit=15):
    rows = sorted(all_locations(stats), key=lambda r: -r["bytes"])[:limit]
    return "\n".join(
        f"  {r['function']} at {r['file']}:{r['line']} -> "
        f"{r['bytes']} B in {r['count']}" for r in rows)


def site(stats, function, file=None, line=None):
    """The single location row of function (at file basename and line)."""
    rows = locations(stats, function, file, line)
    assert len(rows) == 1, (
        f"expected one location for {function} at {file}:{line}, got "
        f"{len(rows)}: {rows}\nlocations reported:\n{describe(stats)}")
    return rows[0]


def assert_site(stats, function, file, line, count, nbytes):
    row = site(stats, function, file, line)
    assert (row["count"], row["bytes"]) == (count, nbytes), (
        f"{function} at {file}:{line}: expected {count} allocations of "
        f"{nbytes} B in all, got {row['count']} allocations of "
        f"{row['bytes']} B\nlocations reported:\n{describe(stats)}")
    return row


def assert_no_function(stats, function):
    rows = locations(stats, function)
    assert not rows, f"{function} must not appear in this capture: {rows}"


def assert_one_line_error(result):
    """memtide failed with a one-line message that starts with "memtide:"."""
    err = result.stderr.decode(errors="replace")
    assert result.returncode != 0, \
        f"expected a non-zero exit, got 0; stderr={err!r}"
    assert result.returncode > 0, \
        f"memtide died by signal {-result.returncode}; stderr={err!r}"
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("memtide:"), \
        f"expected one stderr line starting with 'memtide:', got {err!r}"
    return lines[0]


# Layout from docs/FORMAT.md (include/memtide/format.h): a file header
# (magic[8], u16 version, u16 header size, u32 0), then chunks, each a
# 16-byte header (u32 "TCHK", u32 compressed size, u32 raw size, u32 0)
# followed by its zstd payload.
CHUNK_MAGIC = 0x4B484354
CHUNK_HEADER = 16


def chunk_spans(data):
    """[(start, end)] of every whole chunk of a capture's bytes."""
    import struct
    assert data[:8] == MAGIC
    off = struct.unpack_from("<H", data, 10)[0]
    spans = []
    while off + CHUNK_HEADER <= len(data):
        magic, zsize = struct.unpack_from("<II", data, off)
        assert magic == CHUNK_MAGIC, f"no chunk header at offset {off}"
        end = off + CHUNK_HEADER + zsize
        if end > len(data):
            break
        spans.append((off, end))
        off = end
    return spans


# --------------------------------------------------------------------------
# The Python package (memtide.Tracker, memtide.step, the IPython magics and
# the pytest plugin), importable from build/python after `make`.

def python_package_dir():
    """The directory to put on PYTHONPATH for `import memtide`
    ($MEMTIDE_PYTHONPATH, default <repo>/build/python)."""
    return Path(os.environ.get("MEMTIDE_PYTHONPATH")
                or Path(__file__).resolve().parent.parent / "build" / "python")


def package_env(extra=None):
    """The environment for a Python process that imports memtide: the
    tests' usual one (fixed hash seed, no startup file) with the package
    first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    env.pop("PYTHONSTARTUP", None)
    env.pop("PYTHONWARNINGS", None)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(python_package_dir()), os.environ.get("PYTHONPATH")]))
    if extra:
        env.update(extra)
    return env
