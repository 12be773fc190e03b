"""Which frames reports show: one default for every report (the import
system, runpy, the interpreter's start-up path and memtide's own frames
hidden), --show-all-frames to show them, and a [no Python frame] node for
a Python program's memory allocated while no Python frame ran."""

import json
import re

import pytest

from mtlib import site_lines

NO_PYTHON = "[no Python frame]"
HIDDEN_FILE = re.compile(r"<frozen (importlib\.|runpy)|importlib/_bootstrap|/runpy\.py$")
DATA_RE = re.compile(r'<script type="application/json" id="memtide-data">(.*?)</script>', re.S)

MODULE = """\
def build():
    return bytearray(2_000_000)  # @site:build
kept = build()
top = bytearray(3_000_000)  # @site:toplevel
"""


def ok(mt, *args):
    res = mt.run(*args)
    assert res.returncode == 0, f"memtide {' '.join(map(str, args))} failed:\n{res}"
    return res


def tree(mt, path, *opts):
    return json.loads(ok(mt, "tree", "--json", "-b", "0", *opts, path).stdout)


def stats_rows(mt, path, *opts):
    doc = json.loads(ok(mt, "stats", "--json", "-n", "100000", *opts, path).stdout)
    return doc["top_by_size"]


def page(mt, path, *opts):
    out = mt.cwd / "page.html"
    ok(mt, "flamegraph", "-f", "-o", out, *opts, path)
    found = DATA_RE.findall(out.read_text())
    assert len(found) == 1
    return json.loads(found[0])


def walk(node, anc=()):
    yield node, anc
    for c in node.get("children", []):
        yield from walk(c, anc + (node,))


def find(doc, function, line):
    """(node, ancestors below the root) of the one tree node at MODULE's line."""
    found = [(n, a[1:]) for n, a in walk(doc["root"])
             if n["function"] == function and n["file"].endswith("mymod.py") and n["line"] == line]
    assert len(found) == 1, [(n["function"], n["file"], n["line"]) for n, _ in walk(doc["root"])]
    return found[0]


def shown(frame, show_all):
    return show_all or not frame[4]


def page_stack(doc, line):
    """The frame names of the one page stack whose Python frames end at line."""
    found = [s for s in doc["stacks"]
             if any(doc["frames"][i][1].endswith("mymod.py") and doc["frames"][i][2] == line
                    for i in s[0])]
    assert len(found) == 1, found
    return [doc["frames"][i] for i in found[0][0]]


@pytest.fixture
def mod_run(mt, system_python):
    (mt.cwd / "mymod.py").write_text(MODULE)
    return site_lines(MODULE)


def test_module_run_starts_at_the_users_module(mt, system_python, mod_run):
    """`-m`: no runpy or import frames above the module's code by default."""
    lines = mod_run
    _, path = mt.capture("-m", "mymod", options=["--python", system_python])

    doc = tree(mt, path)
    node, anc = find(doc, "<module>", lines["toplevel"])
    assert anc == () and (node["bytes"], node["count"]) == (3_000_001, 1), anc
    node, anc = find(doc, "build", lines["build"])
    assert [a["function"] for a in anc] == ["<module>"], anc
    assert not [n["file"] for n, _ in walk(doc["root"]) if HIDDEN_FILE.search(n["file"])]

    doc = tree(mt, path, "--show-all-frames")
    node, anc = find(doc, "<module>", lines["toplevel"])
    assert [a["function"] for a in anc][:2] == ["_run_module_as_main", "_run_code"], anc
    assert all(HIDDEN_FILE.search(a["file"]) for a in anc), anc

    rows = stats_rows(mt, path)
    assert not [r for r in rows if HIDDEN_FILE.search(r["file"])], rows
    mine = {(r["function"], r["line"]): (r["bytes"], r["count"]) for r in rows
            if r["file"].endswith("mymod.py")}
    assert mine == {("<module>", lines["toplevel"]): (3_000_001, 1),
                    ("build", lines["build"]): (2_000_001, 1)}, mine
    rows = stats_rows(mt, path, "--show-all-frames")
    assert [r for r in rows if HIDDEN_FILE.search(r["file"])], \
        "--show-all-frames: stats lists no site in the import system"

    frames = page_stack(page(mt, path), lines["toplevel"])
    first = [f for f in frames if shown(f, False)][0]
    assert (first[0], first[2]) == ("<module>", lines["toplevel"]), frames
    frames = page_stack(page(mt, path, "--show-all-frames"), lines["toplevel"])
    assert not any(f[4] for f in frames), frames
    assert frames[0][0] == "_run_module_as_main", frames


def test_native_run_starts_at_the_users_code(mt, system_python, mod_run):
    """--native: no _start/__libc_start_main/Py_BytesMain rows above the
    script's code by default; --show-all-frames brings them back."""
    lines = mod_run
    _, path = mt.capture("mymod.py", options=["--python", system_python, "--native"])

    doc = tree(mt, path)
    node, anc = find(doc, "<module>", lines["toplevel"])
    assert anc == () and (node["bytes"], node["count"]) == (3_000_001, 1), \
        [a["function"] for a in anc]
    node, anc = find(doc, "build", lines["build"])
    assert [a["function"] for a in anc if not a["native"]] == ["<module>"], anc
    outer = [n["function"] for n in doc["root"]["children"]]
    for boiler in ("_start", "__libc_start_main", "main", "Py_BytesMain", "Py_RunMain"):
        assert boiler not in outer, outer

    doc = tree(mt, path, "--show-all-frames")
    node, anc = find(doc, "<module>", lines["toplevel"])
    names = [a["function"] for a in anc]
    assert names[0] == "_start" and "__libc_start_main" in names and "Py_BytesMain" in names, names

    rows = stats_rows(mt, path)
    mine = {(r["function"], r["line"]): (r["bytes"], r["count"]) for r in rows
            if r["file"].endswith("mymod.py")}
    assert mine == {("<module>", lines["toplevel"]): (3_000_001, 1),
                    ("build", lines["build"]): (2_000_001, 1)}, mine

    frames = page_stack(page(mt, path), lines["toplevel"])
    first = [f for f in frames if shown(f, False)][0]
    assert (first[0], first[2]) == ("<module>", lines["toplevel"]), frames
    frames = page_stack(page(mt, path, "--show-all-frames"), lines["toplevel"])
    assert frames[0][0] == "_start" and not any(f[4] for f in frames), frames


@pytest.mark.parametrize("native", [False, True], ids=["python", "native"])
def test_memory_without_python_frame_has_a_node(mt, system_python, mod_run, native):
    """The root's children add up to the root: start-up and shutdown
    memory is under [no Python frame], in the tree and the page data."""
    opts = ["--python", system_python] + (["--native"] if native else [])
    _, path = mt.capture("mymod.py", options=opts)
    for view in ((), ("--leaks",), ("--show-all-frames",)):
        doc = tree(mt, path, *view)
        root, kids = doc["root"], doc["root"]["children"]
        assert (sum(k["bytes"] for k in kids), sum(k["count"] for k in kids)) == \
            (root["bytes"], root["count"]), (view, [(k["function"], k["bytes"]) for k in kids])
        if not view:
            assert NO_PYTHON in [k["function"] for k in kids], [k["function"] for k in kids]

    doc = page(mt, path)
    firsts = set()
    for s in doc["stacks"]:
        kept = [doc["frames"][i] for i in s[0] if shown(doc["frames"][i], False)]
        assert kept, f"a stack of {s[2]} B has no frame shown: " \
            f"{[doc['frames'][i][:3] for i in s[0]]}"
        firsts.add(kept[0][0])
    assert NO_PYTHON in firsts, firsts

    rows = stats_rows(mt, path)
    assert [r for r in rows if r["function"] == NO_PYTHON] or native, \
        [r["function"] for r in rows]
    assert "<unknown>" not in [r["function"] for r in rows]


LEAKER = """\
import ctypes, json, decimal
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
lost = libc.malloc(ctypes.c_size_t(777_777))  # @site:lost
held = [bytearray(500_000)]  # @site:held
"""


@pytest.mark.parametrize("native", [False, True], ids=["python", "native"])
def test_leaks_hide_the_interpreters_arenas(mt, system_python, native):
    """--leaks of a Python program: the pymalloc arenas Python keeps until
    it exits are not leaks by default; what the program held at exit was
    freed by the shutdown; malloc'ed memory nobody frees is a leak."""
    script = mt.cwd / "leaker.py"
    script.write_text(LEAKER)
    lines = site_lines(LEAKER)
    opts = ["--python", system_python] + (["--native"] if native else [])
    _, path = mt.capture(script, options=opts)

    def leak_nodes(doc):
        return {(n["function"], n["line"]): (n["bytes"], n["count"])
                for n, _ in walk(doc["root"]) if n["file"].endswith("leaker.py")
                and not n["native"]}

    doc = tree(mt, path, "--leaks")
    every = tree(mt, path, "--leaks", "--show-all-frames")
    assert leak_nodes(doc).get(("<module>", lines["lost"])) == (777_777, 1), leak_nodes(doc)
    assert ("<module>", lines["held"]) not in leak_nodes(doc)

    stats = json.loads(ok(mt, "stats", "--json", path).stdout)
    stats_all = json.loads(ok(mt, "stats", "--json", "--show-all-frames", path).stdout)
    arenas, n = stats["interpreter_arena_bytes"], stats["interpreter_arenas"]
    assert n >= 1 and arenas == n * (1 << 20), stats  # Python 3.11: 1 MiB arenas
    assert stats_all["interpreter_arenas"] == 0, stats_all
    assert stats["leaked_bytes"] + arenas == stats_all["leaked_bytes"]
    assert stats["leaked_allocations"] + n == stats_all["leaked_allocations"]
    # the tree and stats agree on what is hidden
    assert (every["root"]["bytes"] - doc["root"]["bytes"],
            every["root"]["count"] - doc["root"]["count"]) == (arenas, n)

    text = ok(mt, "tree", "--leaks", path).out
    assert "still allocated after the interpreter shut down" in text, text
    assert f"{n} pymalloc arenas" in text, text
    text = ok(mt, "stats", path).out
    assert f"not counting {n} pymalloc arenas" in text, text
