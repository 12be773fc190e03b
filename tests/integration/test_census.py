"""memtide.census(): the live Python objects by type (and by allocating
site), and %memtide_census in IPython.

The scripts make known objects between two censuses: 100,000 instances of
class Node (each holding an int of its own), 1,000 strings of 1,000
characters and, with Debian's numpy, three arrays of 80 MiB and a view of
one of them.  The difference of the censuses must be exactly those
objects, each row's size the sum of sys.getsizeof over its objects as the
script computes it (an array owning its data counts it, the view does
not); pure-Python parts run on every CPython.
"""

import json
import re
import subprocess
import sys
import textwrap

import pytest

from mtlib import package_env

MiB = 1024 * 1024

# The objects, made between two censuses; the script prints what the
# difference says and what sys.getsizeof says, as JSON.
SCRIPT = textwrap.dedent("""\
    import json, sys
    import memtide
    try:
        import numpy as np
    except ImportError:
        np = None
    MiB = 1024 * 1024


    class Node:
        def __init__(self, i):
            self.i = i


    # every global bound before the first census: the module's dict keeps its size
    nodes = arrays = view = strings = before = after = None
    before = memtide.census()
    nodes = [Node(1000 + i) for i in range(100000)]
    if np is not None and WITH_NUMPY:
        arrays = [np.ones(80 * MiB // 8) for _ in range(3)]
        view = arrays[0][::2]
    strings = ["%08d" % i * 125 for i in range(1000)]
    after = memtide.census()


    def total(objs):
        objs = list(objs)
        return [len(objs), sum(map(sys.getsizeof, objs))]


    expect = {
        "__main__.Node": total(nodes),
        "int": total(n.i for n in nodes),
        "str": total(strings),
        "list": total([nodes, strings] + ([arrays] if arrays else [])),
    }
    if sys.version_info < (3, 11):  # instances' dicts exist from the start
        expect["dict of __main__.Node"] = total(n.__dict__ for n in nodes)
    if arrays:
        expect["numpy.ndarray"] = total(arrays + [view])
    d = after - before
    print(json.dumps({
        "rows": d.rows(), "expect": expect, "total": [d.total_count, d.total_size],
        "node": [d.by_type["Node"].count, d.by_type["__main__.Node"].size_bytes],
        "arrays": [[sys.getsizeof(a), a.nbytes] for a in arrays] if arrays else None,
        "view": sys.getsizeof(view) if arrays else None,
        "json": json.loads(d.to_json()), "top": d.top(2).rows(),
        "table": d.table(), "negative": (before - after).rows(),
    }))
""")


def run_script(python, tmp_path, source, name="script.py", args=(), env=None):
    script = tmp_path / name
    script.write_text(source)
    proc = subprocess.run([python, str(script), *args], cwd=str(tmp_path),
                          capture_output=True, text=True, env=package_env(env), timeout=120)
    assert proc.returncode == 0, f"{python} {name}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def census_diff(python, tmp_path, numpy):
    proc = run_script(python, tmp_path, SCRIPT.replace("WITH_NUMPY", str(numpy)))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_exact(out):
    rows = {r["type"]: [r["count"], r["size_bytes"]] for r in out["rows"]}
    # exactly what was added, nothing else
    assert rows == out["expect"], out["table"]
    assert out["total"] == [sum(v[0] for v in rows.values()), sum(v[1] for v in rows.values())]
    assert out["node"] == out["expect"]["__main__.Node"]
    assert out["node"][0] == 100000
    assert out["expect"]["str"][0] == 1000
    # the difference the other way round: the same rows, negative
    assert {r["type"]: [-r["count"], -r["size_bytes"]] for r in out["negative"]} == rows
    # as JSON, and the biggest rows first
    assert out["json"]["total_count"] == out["total"][0]
    assert out["json"]["total_size_bytes"] == out["total"][1]
    assert out["json"]["rows"] == out["rows"]
    sizes = [r["size_bytes"] for r in out["rows"]]
    assert sizes == sorted(sizes, reverse=True)
    assert out["top"] == out["rows"][:2]
    for r in out["rows"]:
        assert set(r) == {"type", "count", "size_bytes", "share"}
        assert r["share"] == pytest.approx(r["size_bytes"] / out["total"][1])


def check_table(out):
    lines = out["table"].splitlines()
    assert lines[0] == "Partition of a set of %d objects. Total size = %d bytes." % tuple(
        out["total"])
    assert lines[1].split() == ["Index", "Count", "%", "Size", "%", "Cumulative", "%", "Kind",
                                "(class", "/", "dict", "of", "class)"]
    cum = 0
    for i, (line, r) in enumerate(zip(lines[2:], out["rows"])):
        cum += r["size_bytes"]
        f = line.split(None, 7)
        assert f[0] == str(i) and f[1] == str(r["count"]) and f[3] == str(r["size_bytes"])
        assert f[5] == str(cum) and f[7] == r["type"]
    assert len(lines) == 2 + len(out["rows"])


def test_census_difference_is_exactly_what_was_made(python, tmp_path):
    out = census_diff(python, tmp_path, numpy=False)
    check_exact(out)
    check_table(out)


def test_census_counts_numpy_arrays_with_their_data(system_numpy, tmp_path):
    out = census_diff(system_numpy, tmp_path, numpy=True)
    check_exact(out)
    # each array: its 80 MiB of data plus its header; the view: its header
    for size, nbytes in out["arrays"]:
        assert nbytes == 80 * MiB and 0 < size - nbytes < 256
    assert 0 < out["view"] < 256
    assert out["expect"]["numpy.ndarray"] == [4, sum(s for s, _ in out["arrays"]) + out["view"]]
    assert out["rows"][0]["type"] == "numpy.ndarray"


BY_SITE = textwrap.dedent("""\
    import json, sys
    import memtide


    class Node:
        def __init__(self, i):
            self.i = i


    def census():
        c = memtide.census(by=("type", "site"))
        return [r.as_dict() for r in c if r.type in ("__main__.Node", "int")]


    def make():
        return [Node(1000 + i) for i in range(100000)]  # the Nodes' line


    out = {}
    try:
        memtide.census(by="site")
    except RuntimeError as e:
        out["untraced"] = str(e)
    if "--tracker" in sys.argv:
        with memtide.Tracker("inproc.tide", trace_python_allocators=True):
            nodes = make()
            out["rows"] = census()
            sites = memtide.census(by="site")
    else:
        nodes = make()
        out["rows"] = census()
        sites = memtide.census(by="site")
    out["size"] = sum(map(sys.getsizeof, nodes))
    out["sites"] = sites.rows()
    print(json.dumps(out))
""")


NODES_LINE = next(i for i, line in enumerate(BY_SITE.splitlines(), 1) if "the Nodes' line" in line)


def check_by_site(out, script):
    nodes = [r for r in out["rows"] if r["type"] == "__main__.Node"]
    assert len(nodes) == 1, out["rows"]
    row = nodes[0]
    assert row["count"] == 100000 and row["size_bytes"] == out["size"]
    # the line that made them, in the list comprehension (3.9-3.11) or in
    # make() itself, where 3.12+ inline it
    assert re.fullmatch(re.escape(str(script)) + r":%d \((<listcomp>|make)\)" % NODES_LINE,
                        row["site"]), row
    ints = [r for r in out["rows"] if r["type"] == "int" and r["site"] == row["site"]]
    assert len(ints) == 1 and ints[0]["count"] == 100000, out["rows"]
    # by site alone: the Nodes and their ints (and the list, unless the
    # interpreter reused one from its free list) in one row
    at_line = [r for r in out["sites"] if r["site"] == row["site"]]
    assert len(at_line) == 1 and at_line[0]["type"] is None
    assert at_line[0]["count"] in (200000, 200001), at_line


def test_census_by_site_under_a_tracker(python, tmp_path):
    proc = run_script(python, tmp_path, BY_SITE, args=["--tracker"])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["untraced"] == (
        "census by site needs Python's allocators traced: run it under "
        "memtide.Tracker(..., trace_python_allocators=True) or "
        "memtide run --trace-python-allocators")
    check_by_site(out, tmp_path / "script.py")


def test_census_by_site_under_memtide_run(python, mt, tmp_path):
    script = tmp_path / "script.py"
    script.write_text(BY_SITE)
    r = mt.run("run", "--python", python, "--trace-python-allocators", "-f", "-o", "out.tide",
               str(script))
    assert r.returncode == 0, r
    out = json.loads(r.out.strip().splitlines()[-1])
    assert "untraced" not in out
    check_by_site(out, script)


ODD = textwrap.dedent("""\
    import json, sys, threading
    import memtide


    class Raises:
        def __sizeof__(self):
            raise RuntimeError("broken __sizeof__")


    class Negative:
        def __sizeof__(self):
            return -5


    class NotAnInt:
        def __sizeof__(self):
            return "big"


    class Own:
        def __sizeof__(self):
            return 1000


    plain = object.__sizeof__(Own())
    objs = before = after = None
    before = memtide.census()
    objs = [Raises(), Raises(), Negative(), NotAnInt(), Own()]
    after = memtide.census()
    d = after - before
    out = {"rows": {r.type: [r.count, r.size_bytes] for r in d}, "plain": plain,
           "own": sys.getsizeof(objs[-1]), "list": sys.getsizeof(objs)}

    # other threads changing containers meanwhile: no crash
    stop = False
    shared, table = [], {}


    def churn(k):
        i = 0
        while not stop:
            shared.append(str(i) * 3)
            table[i % 1000] = [i, str(i)]
            if len(shared) > 5000:
                del shared[:2500]
            i += 1


    threads = [threading.Thread(target=churn, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    counts = [memtide.census().total_count for _ in range(5)]
    stop = True
    for t in threads:
        t.join()
    out["counts"] = counts
    print(json.dumps(out))
""")


def test_census_odd_sizeof_and_mutating_threads(python, tmp_path):
    proc = run_script(python, tmp_path, ODD)
    assert proc.stderr == ""
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    gc_head = out["own"] - 1000     # what getsizeof adds to __sizeof__ here
    # a __sizeof__ that raises or answers nonsense counts as object.__sizeof__
    assert out["rows"] == {
        "__main__.Raises": [2, 2 * (out["plain"] + gc_head)],
        "__main__.Negative": [1, out["plain"] + gc_head],
        "__main__.NotAnInt": [1, out["plain"] + gc_head],
        "__main__.Own": [1, out["own"]],
        "list": [1, out["list"]],
    }
    assert all(c > 1000 for c in out["counts"])


IPYTHON = textwrap.dedent("""\
    import contextlib, io, json, sys
    from IPython.testing.globalipapp import start_ipython

    cells = [
        "%load_ext memtide",
        "%memtide_census --diff -n 3",
        "class Node:\\n    pass\\nnodes = [Node() for i in range(100000)]",
        "%memtide_census --diff -n 3",
        "%memtide_census -n 2",
        "%memtide_census -n zero",
        "%memtide_census --by site",
        "import memtide.ipython as mi; mi.last_census.by_type['Node'].count",
    ]
    ip = start_ipython()
    out = []
    for code in cells:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            r = ip.run_cell(code, store_history=True)
        out.append({"out": buf.getvalue(), "ok": r.success, "result": repr(r.result),
                    "error": repr(r.error_in_exec or r.error_before_exec)})
    sys.stdout.write("@@" + json.dumps(out) + "\\n")
""")


def test_ipython_census_magic(system_python, tmp_path):
    ok = subprocess.run([system_python, "-c", "import IPython"], capture_output=True)
    if ok.returncode != 0:
        pytest.skip("IPython is not importable by /usr/bin/python3 (python3-ipython)")
    (tmp_path / "ipython-dir").mkdir()
    proc = run_script(system_python, tmp_path, IPYTHON, name="drive.py",
                      env={"IPYTHONDIR": str(tmp_path / "ipython-dir"), "TERM": "dumb"})
    cells = json.loads(proc.stdout[proc.stdout.rindex("@@") + 2:])
    assert [c["ok"] for c in cells] == [True, True, True, True, True, False, False, True], cells
    first = cells[1]["out"].splitlines()
    assert first[0] == ("memtide: no earlier %memtide_census to compare with: "
                        "this one is the reference")
    assert re.fullmatch(r"Partition of a set of \d+ objects\. Total size = \d+ bytes\.", first[1])
    assert len(first) == 2 + 1 + 3 + 1 and first[-1].startswith("<") and first[-1].endswith(
        "more rows: .top(N) or .table() shows them>"), first
    diff = cells[3]["out"].splitlines()
    # the 100,000 Nodes first (with their dicts before 3.11, not here)
    row = diff[2].split()
    assert row[0] == "0" and row[1] == "100000" and row[-1] == "__main__.Node", diff
    assert len(cells[4]["out"].splitlines()) == 2 + 2 + 1
    assert "UsageError" in cells[5]["error"] or "usage" in cells[5]["out"].lower()
    assert "census by site needs Python's allocators traced" in cells[6]["error"] + \
        cells[6]["out"]
    assert cells[7]["result"] == "100000"
