"""memtide.census(): what the live Python objects are, by type (and by the
line that allocated them), like guppy's hp.heap().

    c = memtide.census()            # now
    c.top(10)                       # the 10 biggest rows
    c.by_type["Node"].count         # one type (short or full name)
    d = memtide.census() - c        # what changed since c (signed figures)
    c.rows(); c.to_json()           # as plain data

The walk is the helper's (python/census.c): every object the garbage
collector tracks plus the untracked ones they hold (ints, strs, floats,
bytes...), each once; sizes are sys.getsizeof's, which for numpy arrays
that own their data includes the data.  While other threads change
containers during a census, its counts may be approximate.
"""
import gc
import json
from array import array

__all__ = ["census", "Census", "Row"]

_TYPE_SITE = ("type", "site")
_BY = {"type": (True, False), "site": (False, True), _TYPE_SITE: (True, True)}


_helper = None


def _ext():
    # imported once: an import allocates, and a census by site must not
    # hand the program blocks from the interpreter's free lists that it
    # allocated itself
    global _helper
    if _helper is None:
        from . import _memtide
        _helper = _memtide
    return _helper


class Row:
    """One row: type (None when by site alone), site (None when by type
    alone), count, size_bytes, share (of the census's total size, 0-1)."""

    __slots__ = ("type", "site", "count", "size_bytes", "share")

    def __init__(self, type, site, count, size_bytes, share):
        self.type, self.site = type, site
        self.count, self.size_bytes, self.share = count, size_bytes, share

    def as_dict(self):
        d = {"type": self.type, "count": self.count, "size_bytes": self.size_bytes,
             "share": self.share}
        if self.site is not None:
            d["site"] = self.site
        return d

    def __eq__(self, other):
        return isinstance(other, Row) and self.as_dict() == other.as_dict()

    def __repr__(self):
        where = (" site=%r" % self.site) if self.site is not None else ""
        return "Row(type=%r%s count=%d size_bytes=%d share=%.3f)" % (
            self.type, where, self.count, self.size_bytes, self.share)


def _short(name):
    """"__main__.Node" -> "Node", "dict of __main__.Node" -> "dict of Node"."""
    of = "dict of "
    if name.startswith(of):
        return of + _short(name[len(of):])
    return name.rsplit(".", 1)[-1]


class _ByType:
    """c.by_type[name]: the row of a type, summed over sites; name is the
    full name ("__main__.Node", "numpy.ndarray", "str", "dict of
    __main__.Node") or, when only one type has it, the short one ("Node",
    "ndarray", "dict of Node").  A type the census
    does not hold is a KeyError naming the closest ones."""

    def __init__(self, census):
        sums = {}
        for r in census._iter_rows():
            c, s = sums.get(r.type, (0, 0))
            sums[r.type] = (c + r.count, s + r.size_bytes)
        total = census.total_size
        self._rows = {t: Row(t, None, c, s, s / total if total else 0.0)
                      for t, (c, s) in sums.items()}

    def _resolve(self, name):
        if name in self._rows:
            return name
        short = [t for t in self._rows if t is not None and _short(t) == name]
        if len(short) == 1:
            return short[0]
        if short:
            raise KeyError("%r is ambiguous: %s" % (name, ", ".join(sorted(short))))
        return None

    def __getitem__(self, name):
        key = self._resolve(name)
        if key is None:
            import difflib
            near = difflib.get_close_matches(name, [t for t in self._rows if t], n=5, cutoff=0.5)
            raise KeyError("no type %r in the census%s" % (
                name, ("; near: " + ", ".join(near)) if near else ""))
        return self._rows[key]

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name):
        return self._resolve(name) is not None

    def __iter__(self):
        return iter(self._rows)

    def __len__(self):
        return len(self._rows)

    def keys(self):
        return self._rows.keys()

    def values(self):
        return self._rows.values()

    def items(self):
        return self._rows.items()


class Census:
    """The result of memtide.census(): rows sorted by size, biggest first.

    Its figures live in bytes and strings (objects the garbage collector
    does not track, so not reached but through it), and censuses leave
    Census objects out of
    their walk: a census does not count the censuses kept before it, so
    the difference of two shows only what the program did in between.
    """

    __slots__ = ("_by", "_types", "_sites", "_counts", "_sizes", "_total_count",
                 "_total_size")

    def __init__(self, by, rows, total=None):
        """rows: (type, site, count, size) tuples; total: (count, size) of
        the whole census when rows are only part of it (top())."""
        merged = {}     # the stacks of one line are one site
        for t, s, n, z in rows:
            m = merged.get((t, s), (0, 0))
            merged[t, s] = (m[0] + n, m[1] + z)
        rows = sorted(((t, s, n, z) for (t, s), (n, z) in merged.items()),
                      key=lambda r: (-r[3], -r[2], r[0] or "", r[1] or ""))
        self._by = by if isinstance(by, str) else ",".join(by)     # no tuple of its own
        self._types = "\0".join(r[0] or "" for r in rows)
        self._sites = "\0".join(r[1] or "" for r in rows)
        self._counts = array("q", (r[2] for r in rows)).tobytes()
        self._sizes = array("q", (r[3] for r in rows)).tobytes()
        if total is None:
            total = (sum(r[2] for r in rows), sum(r[3] for r in rows))
        self._total_count, self._total_size = total

    @property
    def by(self):
        """"type", "site" or ("type", "site")."""
        return _TYPE_SITE if self._by == "type,site" else self._by

    @property
    def total_count(self):
        """Objects in the census (in a difference: how many more)."""
        return self._total_count

    @property
    def total_size(self):
        """Their size in bytes (in a difference: how much more)."""
        return self._total_size

    def __len__(self):
        return len(self._counts) // 8

    def _iter_rows(self):
        if not self._counts:
            return
        total = self._total_size
        types, sites = self._types.split("\0"), self._sites.split("\0")
        counts, sizes = array("q"), array("q")
        counts.frombytes(self._counts)
        sizes.frombytes(self._sizes)
        by_type, by_site = _BY[self.by]
        for t, s, c, z in zip(types, sites, counts, sizes):
            yield Row(t if by_type else None, s if by_site else None, c, z,
                      z / total if total else 0.0)

    def __iter__(self):
        return self._iter_rows()

    def __getitem__(self, i):
        return list(self._iter_rows())[i]

    def rows(self):
        """The rows as dicts: type, count, size_bytes, share (and site)."""
        return [r.as_dict() for r in self._iter_rows()]

    def to_json(self, **kw):
        return json.dumps({"by": self.by if isinstance(self.by, str) else list(self.by),
                           "total_count": self.total_count,
                           "total_size_bytes": self.total_size,
                           "rows": self.rows()}, **kw)

    @property
    def by_type(self):
        return _ByType(self)

    def top(self, n=10):
        """The n biggest rows, with the whole census's totals."""
        return Census(self.by, [(r.type, r.site, r.count, r.size_bytes)
                                for r in list(self._iter_rows())[:n]],
                      (self._total_count, self._total_size))

    def __sub__(self, other):
        if not isinstance(other, Census):
            return NotImplemented
        if other.by != self.by:
            raise ValueError("censuses by %r and by %r cannot be compared" % (self.by, other.by))
        rows = {}
        for sign, c in ((1, self), (-1, other)):
            for r in c._iter_rows():
                k = (r.type, r.site)
                n, z = rows.get(k, (0, 0))
                rows[k] = (n + sign * r.count, z + sign * r.size_bytes)
        return Census(self.by, [(t, s, n, z) for (t, s), (n, z) in rows.items() if n or z],
                      (self._total_count - other._total_count,
                       self._total_size - other._total_size))

    def table(self, n=None):
        """The text table, like guppy's; n: at most that many rows."""
        rows = list(self._iter_rows())
        more = len(rows) - n if n is not None and len(rows) > n else 0
        rows = rows[:n] if n is not None else rows
        by_type, by_site = _BY[self.by]
        tc, ts = self._total_count, self._total_size

        def pct(a, b):
            return "%d" % round(100.0 * a / b) if b else "-"

        cells, cum = [], 0
        for i, r in enumerate(rows):
            cum += r.size_bytes
            kind = r.type if by_type else r.site
            if by_type and by_site:
                kind = "%s at %s" % (r.type, r.site)
            cells.append((str(i), str(r.count), pct(r.count, tc), str(r.size_bytes),
                          pct(r.size_bytes, ts), str(cum), pct(cum, ts), kind))
        head = ("Index", "Count", "%", "Size", "%", "Cumulative", "%",
                "Site (file:line (function))" if not by_type else
                "Kind (class / dict of class)" + (" at site" if by_site else ""))
        widths = [max([len(head[k])] + [len(c[k]) for c in cells]) for k in range(7)]
        lines = ["Partition of a set of %d objects. Total size = %d bytes." % (tc, ts)]
        for row in [head] + cells:
            lines.append(" ".join(v.rjust(w) for v, w in zip(row, widths)) + " " + row[7])
        if more:
            lines.append("<%d more rows: .top(N) or .table() shows them>" % more)
        return "\n".join(lines)

    def __str__(self):
        return self.table()

    def __repr__(self):
        return self.table(10)

    def _repr_pretty_(self, p, cycle):
        p.text(self.table(10))


def _collect():
    # what a collection frees can leave garbage of its own (finalizers,
    # weakref callbacks): again while there is some, a few times at most
    for _ in range(3):
        if not gc.collect():
            break


def census(by="type", collect=True):
    """The live Python objects now, as a Census: by="type" (default),
    "site" (the line that allocated each object) or ("type", "site").
    collect: run the garbage collector first, so that the census holds
    what is reachable, not cycles that wait for it (as guppy does).

    By site needs Python's allocators traced: a running
    memtide.Tracker(..., trace_python_allocators=True) or
    `memtide run --trace-python-allocators`."""
    if isinstance(by, list):
        by = tuple(by)
    if by not in _BY:
        raise ValueError("census(by=...): 'type', 'site' or ('type', 'site'), not %r" % (by,))
    by_type, by_site = _BY[by]
    if collect and _helper is None:
        _collect()      # the first time, before the helper's import too
    helper = _ext()
    if collect:
        _collect()
    return helper.census((Census,), by_type, by_site, lambda rows: Census(by, rows))
