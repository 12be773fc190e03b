"""The reports (tree, summary, flamegraph, table, transform, and the leak
and temporary-allocation totals of stats) on programs whose allocations are
known exactly: tests/programs/report_*.c and Python scripts written here.

Each program is captured once per module; the tests then run the report
commands on that capture in their own directory.
"""

import csv
import io
import json
import re
import textwrap

import pytest

from conftest import Memtide
from mtlib import (MiB, assert_one_line_error, c_defines, chunk_spans,
                   site_lines)

# What libc or the interpreter may add on their own to a total (never
# below the known numbers).
SLACK_ALLOCS = 64

DATA_RE = re.compile(
    r'<script type="application/json" id="memtide-data">(.*?)</script>', re.S)


# --------------------------------------------------------------------------
# Helpers

def base(path):
    return str(path).rsplit("/", 1)[-1]


def report(mt, *args):
    """`memtide ARGS...` that must succeed."""
    res = mt.run(*args)
    assert res.returncode == 0, f"memtide {' '.join(map(str, args))} failed:\n{res}"
    return res


def report_json(mt, *args):
    res = report(mt, *args)
    try:
        return json.loads(res.stdout)
    except ValueError as e:
        pytest.fail(f"memtide {' '.join(map(str, args))} printed invalid JSON "
                    f"({e}):\n{res.out[:3000]}")


def walk(node, ancestors=()):
    """(node, ancestors outermost first) for a tree --json node and below."""
    yield node, ancestors
    for child in node.get("children", []):
        yield from walk(child, ancestors + (node,))


def tree_nodes(doc, function, file=None, line=None):
    """[(node, ancestors)] of a tree --json document matching function ..."""
    out = []
    for node, anc in walk(doc["root"]):
        if node["function"] != function:
            continue
        if file is not None and base(node["file"]) != base(file):
            continue
        if line is not None and node["line"] != line:
            continue
        out.append((node, anc))
    return out


def tree_text(doc, limit=40):
    lines = []
    for node, anc in walk(doc["root"]):
        lines.append(f"{'  ' * len(anc)}{node['function']} at {node['file']}:"
                     f"{node['line']} {node['bytes']} B / {node['count']}")
    return "\n".join(lines[:limit])


def tree_node(doc, function, file=None, line=None):
    found = tree_nodes(doc, function, file, line)
    assert len(found) == 1, (f"expected one tree node {function} at {file}:{line}, "
                             f"got {len(found)}:\n{tree_text(doc)}")
    return found[0]


def summary_row(doc, function, file=None):
    rows = [r for r in doc["rows"] if r["function"] == function
            and (file is None or base(r["file"]) == base(file))]
    assert len(rows) == 1, f"expected one summary row for {function} ({file}), " \
        f"got {rows}\nrows: {[r['function'] for r in doc['rows']]}"
    return rows[0]


def html_data(path):
    """(page text, data document) of an HTML report."""
    html = path.read_text()
    found = DATA_RE.findall(html)
    assert len(found) == 1, f"{path.name}: expected one memtide-data element, " \
        f"found {len(found)}"
    try:
        return html, json.loads(found[0])
    except ValueError as e:
        pytest.fail(f"{path.name}: the embedded data is not JSON ({e}): {found[0][:500]}")


def frame_name(doc, index):
    return doc["frames"][index][0]


def stacks_ending_in(doc, function):
    """The stacks of an HTML data document whose innermost frame is function."""
    return [s for s in doc["stacks"] if s[0] and frame_name(doc, s[0][-1]) == function]


def one_stack(doc, function):
    found = stacks_ending_in(doc, function)
    shown = [[frame_name(doc, i) for i in s[0]][-4:] + s[2:4] for s in doc["stacks"][:30]]
    assert len(found) == 1, f"expected one stack ending in {function}, got " \
        f"{len(found)}: {found[:5]}\nstacks (last 4 frames, bytes, count): {shown}"
    return found[0]


def module_mt(memtide_bin, tmp_path_factory, name):
    return Memtide(memtide_bin, tmp_path_factory.mktemp(name))


def write(directory, name, text):
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


# --------------------------------------------------------------------------
# The native programs, captured once each

@pytest.fixture(scope="module")
def peak(memtide_bin, build, tmp_path_factory):
    """report_peak: f1 holds F1_N x F1_SIZE and f2 F2_N x F2_SIZE at the peak."""
    m = module_mt(memtide_bin, tmp_path_factory, "peak")
    src = build.source("report_peak")
    res, path = m.capture(build.program("report_peak"), out="peak.tide")
    d = c_defines(src)
    k = {"path": path, "src": src, "d": d, "lines": site_lines(src),
         "f1_bytes": d["F1_N"] * d["F1_SIZE"], "f2_bytes": d["F2_N"] * d["F2_SIZE"]}
    k["peak_bytes"] = k["f1_bytes"] + k["f2_bytes"]
    k["peak_count"] = d["F1_N"] + d["F2_N"]
    return k


@pytest.fixture(scope="module")
def leak(memtide_bin, build, tmp_path_factory):
    m = module_mt(memtide_bin, tmp_path_factory, "leak")
    src = build.source("report_leak")
    res, path = m.capture(build.program("report_leak"), out="leak.tide")
    return {"path": path, "src": src, "d": c_defines(src), "lines": site_lines(src)}


@pytest.fixture(scope="module")
def temps(memtide_bin, build, tmp_path_factory):
    m = module_mt(memtide_bin, tmp_path_factory, "temps")
    src = build.source("report_temps")
    prog = build.program("report_temps")
    res, loop = m.capture(prog, "loop", out="loop.tide")
    res, pairs = m.capture(prog, "pairs", out="pairs.tide")
    return {"loop": loop, "pairs": pairs, "src": src, "d": c_defines(src),
            "lines": site_lines(src)}


@pytest.fixture(scope="module")
def churn(memtide_bin, build, tmp_path_factory):
    """Bytes and chunk spans of a capture of report_churn (several chunks)."""
    m = module_mt(memtide_bin, tmp_path_factory, "churn")
    res, path = m.capture(build.program("report_churn"), out="churn.tide")
    data = path.read_bytes()
    spans = chunk_spans(data)
    assert len(spans) >= 2 and spans[-1][1] == len(data), \
        f"report_churn should make at least two whole chunks: {spans}, {len(data)} B"
    return data, spans


# --------------------------------------------------------------------------
# tree

def test_tree_json_peak_owners(mt, peak):
    doc = report_json(mt, "tree", "--json", "-b", "0", peak["path"])
    stats = mt.stats_json(peak["path"])
    d, lines, src = peak["d"], peak["lines"], peak["src"]
    assert doc["view"] == "peak", doc.get("view")
    root = doc["root"]
    # -b 0 keeps every site: the root is everything live at the peak.
    assert (root["bytes"], root["count"]) == (doc["bytes"], doc["count"]), tree_text(doc)
    assert root["bytes"] == stats["peak_bytes"], \
        f"root {root['bytes']} B, stats peak_bytes {stats['peak_bytes']}\n{tree_text(doc)}"
    assert peak["peak_bytes"] <= root["bytes"], tree_text(doc)
    assert peak["peak_count"] <= root["count"] <= peak["peak_count"] + SLACK_ALLOCS

    for fn, nbytes, count, call in (("f1", peak["f1_bytes"], d["F1_N"], "outer_f1"),
                                    ("f2", peak["f2_bytes"], d["F2_N"], "outer_f2")):
        node, anc = tree_node(doc, fn, src)
        assert (node["bytes"], node["count"]) == (nbytes, count), \
            f"{fn}: {node['bytes']} B in {node['count']}, expected {nbytes} B in " \
            f"{count}\n{tree_text(doc)}"
        assert node["line"] == lines[fn], node
        assert node["native"] is True, node
        assert node["children"] == [], node
        outer, main = anc[-1], anc[-2]
        assert (outer["function"], outer["line"]) == ("outer", lines[call]), \
            f"{fn} is not called from outer at line {lines[call]}: {outer}"
        assert (main["function"], main["line"]) == ("main", lines["main_outer"]), \
            f"outer is not called from main at line {lines['main_outer']}: {main}"
        assert base(outer["file"]) == base(main["file"]) == base(src)
        assert anc[0] is root
    # The later, smaller phase is not live at the peak.
    for fn in ("later", "small_phase"):
        assert not tree_nodes(doc, fn), f"{fn} is not live at the peak:\n{tree_text(doc)}"


def test_tree_nodes_are_sums_of_children_and_sorted(mt, peak):
    doc = report_json(mt, "tree", "--json", "-b", "0", peak["path"])
    for node, _ in walk(doc["root"]):
        kids = node["children"]
        assert sum(k["bytes"] for k in kids) <= node["bytes"], node["function"]
        assert sum(k["count"] for k in kids) <= node["count"], node["function"]
        sizes = [k["bytes"] for k in kids]
        assert sizes == sorted(sizes, reverse=True), \
            f"children of {node['function']} are not biggest first: {sizes}"


def test_tree_biggest_sites(mt, peak):
    """-b 2 keeps exactly the two sites of f1 and f2."""
    doc = report_json(mt, "tree", "--json", "-b", "2", peak["path"])
    assert (doc["root"]["bytes"], doc["root"]["count"]) == \
        (peak["peak_bytes"], peak["peak_count"]), tree_text(doc)
    one = report_json(mt, "tree", "--json", "-b", "1", peak["path"])
    assert one["root"]["bytes"] == peak["f1_bytes"], tree_text(one)
    assert one["root"]["count"] in (peak["d"]["F1_N"], peak["d"]["F2_N"]), tree_text(one)


def test_tree_text(mt, peak):
    res = report(mt, "tree", peak["path"])
    text = res.out
    lines = peak["lines"]
    for fn in ("f1", "f2"):
        assert re.search(rf"\b{fn} at \S*report_peak\.c:{lines[fn]}\b", text), text
    assert re.search(rf"\bouter at \S*report_peak\.c:{lines['outer_f1']}\b", text), text
    assert re.search(rf"\bmain at \S*report_peak\.c:{lines['main_outer']}\b", text), text
    assert "20.00 MiB" in text, text
    # f1 and f2 are drawn below outer, outer below main.
    order = [re.search(rf"\b{fn} at ", text).start() for fn in ("main", "outer", "f1")]
    assert order == sorted(order), text

    out = mt.cwd / "tree.txt"
    res = report(mt, "tree", "-o", out, peak["path"])
    assert out.read_text() == text, "tree -o FILE differs from tree on stdout"


# --------------------------------------------------------------------------
# summary

def test_summary_json_peak(mt, peak):
    doc = report_json(mt, "summary", "--json", "-r", "0", peak["path"])
    d, src = peak["d"], peak["src"]
    f1 = summary_row(doc, "f1", src)
    f2 = summary_row(doc, "f2", src)
    outer = summary_row(doc, "outer", src)
    main = summary_row(doc, "main", src)
    assert (f1["own_bytes"], f1["total_bytes"], f1["own_count"], f1["total_count"]) == \
        (peak["f1_bytes"], peak["f1_bytes"], d["F1_N"], d["F1_N"]), f1
    assert (f2["own_bytes"], f2["total_bytes"], f2["own_count"], f2["total_count"]) == \
        (peak["f2_bytes"], peak["f2_bytes"], d["F2_N"], d["F2_N"]), f2
    assert outer["total_bytes"] >= 20 * MiB, outer
    assert (outer["own_bytes"], outer["total_bytes"], outer["own_count"],
            outer["total_count"]) == (0, peak["peak_bytes"], 0, peak["peak_count"]), outer
    assert main["total_bytes"] >= peak["peak_bytes"], main
    assert main["total_count"] >= peak["peak_count"], main
    for row in doc["rows"]:
        assert set(row) >= {"function", "file", "line", "bytes", "count", "own_bytes",
                            "total_bytes", "own_count", "total_count"}, row
        assert row["own_bytes"] <= row["total_bytes"], row
        assert row["own_count"] <= row["total_count"], row
    names = [r["function"] for r in doc["rows"]]
    assert "small_phase" not in names and "later" not in names, names
    # Own memory of every function adds up to everything live at the peak.
    assert sum(r["own_bytes"] for r in doc["rows"]) == doc["bytes"], doc["rows"]
    assert sum(r["own_count"] for r in doc["rows"]) == doc["count"], doc["rows"]


@pytest.mark.parametrize("column,key", [("total_memory", "total_bytes"),
                                        ("own_memory", "own_bytes"),
                                        ("total_allocations", "total_count"),
                                        ("own_allocations", "own_count")])
def test_summary_sort_and_rows(mt, peak, column, key):
    doc = report_json(mt, "summary", "--json", "-r", "0", "-s", column, peak["path"])
    values = [r[key] for r in doc["rows"]]
    assert values == sorted(values, reverse=True), f"-s {column}: {values}"
    two = report_json(mt, "summary", "--json", "-r", "2", "-s", column, peak["path"])
    assert len(two["rows"]) == 2, two["rows"]
    assert [r[key] for r in two["rows"]] == values[:2]
    if column == "own_allocations":
        assert doc["rows"][0]["function"] == "f1", doc["rows"][0]


def test_summary_text(mt, peak):
    text = report(mt, "summary", peak["path"]).out
    assert re.search(r"\bf1 at \S*report_peak\.c", text), text
    assert re.search(r"\bouter at \S*report_peak\.c", text), text
    assert "10.00 MiB" in text and "20.00 MiB" in text, text


# --------------------------------------------------------------------------
# leaks

def test_leaks(mt, leak):
    d, src, lines = leak["d"], leak["src"], leak["lines"]
    leaked_bytes, leaked_n = d["LEAK_N"] * d["LEAK_SIZE"], d["LEAK_N"]
    stats = mt.stats_json(leak["path"])
    assert leaked_bytes <= stats["leaked_bytes"], stats["leaked_bytes"]
    assert leaked_n <= stats["leaked_allocations"] <= leaked_n + SLACK_ALLOCS, \
        stats["leaked_allocations"]

    doc = report_json(mt, "tree", "--leaks", "--json", "-b", "0", leak["path"])
    assert doc["view"] == "leaks", doc.get("view")
    assert (doc["root"]["bytes"], doc["root"]["count"]) == \
        (stats["leaked_bytes"], stats["leaked_allocations"]), tree_text(doc)
    node, anc = tree_node(doc, "leak_it", src)
    assert (node["bytes"], node["count"]) == (leaked_bytes, leaked_n), tree_text(doc)
    assert node["line"] == lines["leak_it"], node
    assert anc[-1]["function"] == "main", anc[-1]
    assert not tree_nodes(doc, "tidy"), f"tidy frees everything:\n{tree_text(doc)}"

    text = report(mt, "tree", "--leaks", leak["path"]).out
    assert re.search(rf"\bleak_it at \S*report_leak\.c:{lines['leak_it']}\b", text), text
    assert "tidy" not in text, text

    summ = report_json(mt, "summary", "--leaks", "--json", "-r", "0", leak["path"])
    row = summary_row(summ, "leak_it", src)
    assert (row["own_bytes"], row["own_count"]) == (leaked_bytes, leaked_n), row
    assert not [r for r in summ["rows"] if r["function"] == "tidy"], summ["rows"]


def test_text_stats_mention_leaks_and_temporaries(mt, leak):
    text = report(mt, "stats", leak["path"]).out
    assert re.search(r"(?i)leak", text), text
    assert re.search(r"(?i)temporar", text), text


# --------------------------------------------------------------------------
# temporary allocations

def test_temporaries_of_a_malloc_free_loop(mt, temps):
    d, src, lines = temps["d"], temps["src"], temps["lines"]
    n = d["TEMP_N"]
    stats = mt.stats_json(temps["loop"])
    assert n <= stats["temporary_allocations"] <= n + SLACK_ALLOCS, \
        stats["temporary_allocations"]
    doc = report_json(mt, "summary", "--temporary-allocations", "--json", "-r", "0",
                      temps["loop"])
    assert doc["view"] == "temporary", doc.get("view")
    row = summary_row(doc, "temp_loop", src)
    assert (row["own_count"], row["own_bytes"]) == (n, n * d["TEMP_SIZE"]), row
    tree = report_json(mt, "tree", "--temporary-allocations", "--json", "-b", "0",
                       temps["loop"])
    node, _ = tree_node(tree, "temp_loop", src)
    assert (node["count"], node["bytes"], node["line"]) == \
        (n, n * d["TEMP_SIZE"], lines["temp_loop"]), node


@pytest.mark.parametrize("threshold", [None, "1", "2", "3"])
def test_temporaries_threshold(mt, temps, threshold):
    """a = malloc; b = malloc; free(a); free(b): only b is freed before the
    next allocation; a is freed before the second one after it."""
    d, src, lines = temps["d"], temps["src"], temps["lines"]
    n = d["PAIRS_N"]
    opts = ["--temporary-allocations"]
    if threshold:
        opts += ["--temporary-allocation-threshold", threshold]
    both = threshold not in (None, "1")
    doc = report_json(mt, "summary", *opts, "--json", "-r", "0", temps["pairs"])
    row = summary_row(doc, "pairs", src)
    want_count = 2 * n if both else n
    want_bytes = n * (d["PAIR_A_SIZE"] + d["PAIR_B_SIZE"]) if both else n * d["PAIR_B_SIZE"]
    assert (row["own_count"], row["own_bytes"]) == (want_count, want_bytes), \
        f"threshold {threshold}: {row}"

    tree = report_json(mt, "tree", *opts, "--json", "-b", "0", temps["pairs"])
    b, _ = tree_node(tree, "pairs", src, lines["pair_b"])
    assert (b["count"], b["bytes"]) == (n, n * d["PAIR_B_SIZE"]), b
    a = tree_nodes(tree, "pairs", src, lines["pair_a"])
    if both:
        assert len(a) == 1 and (a[0][0]["count"], a[0][0]["bytes"]) == \
            (n, n * d["PAIR_A_SIZE"]), tree_text(tree)
    else:
        assert not a, f"the a's are not temporary with threshold 1:\n{tree_text(tree)}"


def test_stats_counts_temporaries_with_the_default_threshold(mt, temps):
    d = temps["d"]
    stats = mt.stats_json(temps["pairs"])
    assert d["PAIRS_N"] <= stats["temporary_allocations"] \
        <= d["PAIRS_N"] + SLACK_ALLOCS, stats["temporary_allocations"]


# --------------------------------------------------------------------------
# transform

def test_transform_csv(mt, peak):
    out = mt.cwd / "peak.csv"
    report(mt, "transform", "csv", "-o", out, peak["path"])
    text = out.read_text()
    assert text.splitlines()[0] == \
        "allocator,num_allocations,size,tid,thread_name,stack_trace", text[:300]
    rows = list(csv.DictReader(io.StringIO(text)))
    d, lines = peak["d"], peak["lines"]
    f1 = [r for r in rows if r["stack_trace"].split("|")[0].split(";")[0] == "f1"]
    assert len(f1) == 1, rows
    row = f1[0]
    assert (row["allocator"], int(row["num_allocations"]), int(row["size"])) == \
        ("malloc", d["F1_N"], peak["f1_bytes"]), row
    frames = [f.split(";") for f in row["stack_trace"].split("|")]
    assert [f[0] for f in frames[:3]] == ["f1", "outer", "main"], frames
    assert base(frames[0][1]) == "report_peak.c" and int(frames[0][2]) == lines["f1"], frames
    assert int(frames[1][2]) == lines["outer_f1"], frames
    assert int(row["tid"]) > 0, row
    assert sum(int(r["size"]) for r in rows) == mt.stats_json(peak["path"])["peak_bytes"]


def test_transform_speedscope(mt, peak):
    out = mt.cwd / "peak.speedscope.json"
    report(mt, "transform", "speedscope", "-o", out, peak["path"])
    doc = json.loads(out.read_text())
    tree = report_json(mt, "tree", "--json", "-b", "0", peak["path"])
    prof = doc["profiles"][0]
    assert len(prof["samples"]) == len(prof["weights"]), prof
    assert sum(prof["weights"]) == tree["root"]["bytes"], \
        f"weights sum to {sum(prof['weights'])}, the tree's root has {tree['root']['bytes']}"
    frames = doc["shared"]["frames"]
    names = [f["name"] for f in frames]
    assert "f1" in names and "f2" in names, names
    # One sample per stack, outermost first: the f1 one weighs 10 MiB.
    f1 = [w for s, w in zip(prof["samples"], prof["weights"]) if frames[s[-1]]["name"] == "f1"]
    assert f1 == [peak["f1_bytes"]], f1


def test_transform_gprof2dot(mt, peak):
    out = mt.cwd / "peak.gprof2dot.json"
    report(mt, "transform", "gprof2dot", "-o", out, peak["path"])
    doc = json.loads(out.read_text())
    assert doc["events"] and doc["functions"], doc
    names = [f["name"] for f in doc["functions"]]
    assert any(n.split(" ")[0] == "f1" for n in names), names
    stats = mt.stats_json(peak["path"])
    assert sum(e["cost"][0] for e in doc["events"]) == stats["peak_bytes"], doc["events"]
    for e in doc["events"]:
        assert all(0 <= i < len(doc["functions"]) for i in e["callchain"]), e


# --------------------------------------------------------------------------
# flamegraph and table

def check_peak_data(doc, peak, stats):
    d = peak["d"]
    meta = doc["meta"]
    assert meta["mode"] == "peak", meta
    assert meta["peak_bytes"] == stats["peak_bytes"], (meta, stats["peak_bytes"])
    assert meta["truncated"] is False
    assert sum(s[2] for s in doc["stacks"]) == meta["peak_bytes"], doc["stacks"]
    f1, f2 = one_stack(doc, "f1"), one_stack(doc, "f2")
    assert (f1[2], f1[3], f1[4]) == (peak["f1_bytes"], d["F1_N"], "malloc"), f1
    assert (f2[2], f2[3], f2[4]) == (peak["f2_bytes"], d["F2_N"], "malloc"), f2
    assert [frame_name(doc, i) for i in f1[0][-3:]] == ["main", "outer", "f1"], f1
    f1_frame = doc["frames"][f1[0][-1]]
    assert base(f1_frame[1]) == "report_peak.c" and f1_frame[2] == peak["lines"]["f1"], \
        f1_frame
    assert (f1_frame[3], f1_frame[4]) == (1, 0), f"f1 is native, not hidden: {f1_frame}"
    names = {f[0] for f in doc["frames"]}
    assert {"f1", "f2", "outer", "main"} <= names, names
    tl = doc["timeline"]
    assert len(tl["t"]) == len(tl["heap"]) == len(tl["rss"]) >= 1, tl
    assert tl["t"] == sorted(tl["t"]), tl["t"]
    assert max(tl["heap"]) == meta["peak_bytes"], \
        f"the heap chart never reaches the peak: {tl['heap']}"
    assert len(doc["threads"]) >= 1


def test_flamegraph_html(mt, peak):
    out = mt.cwd / "fg.html"
    report(mt, "flamegraph", "-o", out, peak["path"])
    html, doc = html_data(out)
    assert html.lstrip().lower().startswith("<!doctype html"), html[:100]
    check_peak_data(doc, peak, mt.stats_json(peak["path"]))
    assert doc["temporal"] is None, doc["temporal"]
    # Works offline: nothing is fetched from elsewhere.
    assert not re.search(r'<script[^>]+src=["\']?https?:', html), "page loads remote scripts"
    assert not re.search(r'<link[^>]+href=["\']?https?:', html), "page loads remote styles"


def check_temporal(doc):
    """Each bucket's peak is the sum of what every stack had live then.

    temporal.live holds [stack, bucket, bytes, count] where a stack's live
    usage changed, in any order; a stack keeps its last value in the
    buckets after (docs/HTML.md).
    """
    tp = doc["temporal"]
    assert tp is not None and set(tp) >= {"t", "peak", "live"}, tp
    assert len(tp["t"]) == len(tp["peak"]) >= 1, tp
    assert tp["t"] == sorted(tp["t"]), tp["t"]
    assert max(tp["peak"]) == doc["meta"]["peak_bytes"], (tp["peak"], doc["meta"])
    entries = sorted(tp["live"], key=lambda e: e[1])
    pairs = [(e[0], e[1]) for e in entries]
    assert len(set(pairs)) == len(pairs), "a stack listed twice in one bucket"
    live, i = {}, 0
    for b, peak_b in enumerate(tp["peak"]):
        while i < len(entries) and entries[i][1] == b:
            stack, _, nbytes, count = entries[i]
            assert 0 <= stack < len(doc["stacks"]), entries[i]
            live[stack] = nbytes
            i += 1
        assert sum(live.values()) == peak_b, \
            f"bucket {b}: the stacks live at its peak sum to {sum(live.values())}, " \
            f"its peak is {peak_b}"
    assert i == len(entries), f"temporal.live names buckets past {len(tp['t'])}"


def test_flamegraph_temporal(mt, peak):
    out = mt.cwd / "fgt.html"
    report(mt, "flamegraph", "--temporal", "-o", out, peak["path"])
    _, doc = html_data(out)
    check_peak_data(doc, peak, mt.stats_json(peak["path"]))
    check_temporal(doc)
    tp = doc["temporal"]
    # The later phase is not live at the peak but is in the time ranges.
    small = one_stack(doc, "small_phase")
    assert small[2] == 0, small
    d = peak["d"]
    idx = doc["stacks"].index(small)
    assert max(e[2] for e in tp["live"] if e[0] == idx) == d["SMALL_N"] * d["SMALL_SIZE"], \
        tp["live"]


def test_flamegraph_options_reach_the_page(mt, peak):
    out = mt.cwd / "inv.html"
    report(mt, "flamegraph", "--inverted", "--split-threads", "-o", out, peak["path"])
    _, doc = html_data(out)
    assert doc["meta"]["inverted"] is True and doc["meta"]["split_threads"] is True, \
        doc["meta"]


def test_flamegraph_leaks_and_temporaries(mt, leak, temps):
    out = mt.cwd / "leaks.html"
    report(mt, "flamegraph", "--leaks", "-o", out, leak["path"])
    _, doc = html_data(out)
    d = leak["d"]
    assert doc["meta"]["mode"] == "leaks", doc["meta"]
    s = one_stack(doc, "leak_it")
    assert (s[2], s[3]) == (d["LEAK_N"] * d["LEAK_SIZE"], d["LEAK_N"]), s
    assert not stacks_ending_in(doc, "tidy"), doc["stacks"]

    out = mt.cwd / "temps.html"
    report(mt, "flamegraph", "--temporary-allocations", "-o", out, temps["loop"])
    _, doc = html_data(out)
    d = temps["d"]
    assert doc["meta"]["mode"] == "temporary", doc["meta"]
    s = one_stack(doc, "temp_loop")
    assert (s[2], s[3]) == (d["TEMP_N"] * d["TEMP_SIZE"], d["TEMP_N"]), s


def test_table_html(mt, peak):
    out = mt.cwd / "table.html"
    report(mt, "table", "-o", out, peak["path"])
    html, doc = html_data(out)
    check_peak_data(doc, peak, mt.stats_json(peak["path"]))


@pytest.mark.parametrize("cmd,default", [("flamegraph", "memtide-flamegraph-peak.html"),
                                         ("table", "memtide-table-peak.html")])
def test_html_default_name(mt, peak, cmd, default):
    capture = mt.cwd / "peak.tide"
    capture.write_bytes(peak["path"].read_bytes())
    report(mt, cmd, "peak.tide")
    assert (mt.cwd / default).is_file(), sorted(p.name for p in mt.cwd.iterdir())


OUTPUT_COMMANDS = [
    ("tree",), ("tree", "--json"), ("summary",), ("summary", "--json"),
    ("flamegraph",), ("table",), ("transform", "csv"), ("transform", "speedscope"),
    ("transform", "gprof2dot"),
]


@pytest.mark.parametrize("cmd", OUTPUT_COMMANDS, ids=lambda c: "-".join(c))
def test_output_is_not_overwritten_without_force(mt, peak, cmd):
    out = mt.cwd / "exists.out"
    out.write_bytes(b"keep me")
    res = mt.run(*cmd, "-o", out, peak["path"])
    assert_one_line_error(res)
    assert out.read_bytes() == b"keep me"
    res = report(mt, *cmd, "-f", "-o", out, peak["path"])
    assert out.read_bytes() != b"keep me" and out.stat().st_size > 0


# --------------------------------------------------------------------------
# Python: known sizes at known lines, import machinery, hostile names

PEAK_SCRIPT = """
def make_temp():
    t = bytearray(5_000_000)  # @site:temp
    del t


def hold_big():
    keep = bytearray(10_000_000)  # @site:big
    make_temp()  # @site:call_temp
    return keep


x = hold_big()  # @site:call_big
del x
small = bytearray(100_000)
"""

IMPORTER = """
import sys

sys.path.insert(0, sys.argv[1])


def load():
    import heavymod  # @site:import
    return heavymod


m = load()  # @site:call_load
del m.DATA
"""

HEAVY_MODULE = """
DATA = bytearray(8_000_000)  # @site:data
"""

EVIL = "</script><img src=x onerror=alert(1)>"
EVIL_FILE = "<b>evil</b>.py"
EVIL_ARG = "</script><img src=x onerror=alert(2)>"
EVIL_THREAD = "</script><i>"  # 15 bytes at most: the kernel's limit

XSS_SCRIPT = f"""
import ctypes
import threading
import types

EVIL = {EVIL!r}
SRC = '''
def victim():
    return bytearray(1_000_000)
'''
ns = {{}}
exec(compile(SRC, {EVIL_FILE!r}, "exec"), ns)
code = ns["victim"].__code__.replace(co_name=EVIL)
if hasattr(code, "co_qualname"):
    code = code.replace(co_qualname=EVIL)
victim = types.FunctionType(code, ns, EVIL)
kept = []


def worker():
    ctypes.CDLL(None).prctl(15, {EVIL_THREAD.encode()!r}, 0, 0, 0)  # PR_SET_NAME
    kept.append(victim())


t = threading.Thread(target=worker)
t.start()
t.join()
"""


@pytest.fixture(scope="module")
def py(memtide_bin, system_python, tmp_path_factory):
    """Captures of the three scripts with Debian's python3."""
    m = module_mt(memtide_bin, tmp_path_factory, "py")
    d = m.cwd
    k = {}
    k["peak_script"] = write(d, "peak.py", PEAK_SCRIPT)
    res, k["peak"] = m.capture(k["peak_script"], out="peak.tide",
                               options=["--python", system_python])
    k["importer"] = write(d, "importer.py", IMPORTER)
    k["heavy"] = write(d, "heavymod.py", HEAVY_MODULE)
    res, k["import"] = m.capture(k["importer"], d, out="import.tide",
                                 options=["--python", system_python])
    k["xss_script"] = write(d, "xss.py", XSS_SCRIPT)
    res, k["xss"] = m.capture(k["xss_script"], EVIL_ARG, out="xss.tide",
                              options=["--python", system_python])
    return k


def test_python_tree_at_the_peak(mt, py):
    script, lines = py["peak_script"], site_lines(py["peak_script"])
    doc = report_json(mt, "tree", "--json", "-b", "0", py["peak"])
    big, anc = tree_node(doc, "hold_big", script, lines["big"])
    assert (big["bytes"], big["count"]) == (10_000_001, 1), tree_text(doc)
    assert big["native"] is False and big["children"] == [], big
    assert (anc[-1]["function"], anc[-1]["line"]) == ("<module>", lines["call_big"]), anc[-1]
    temp, anc = tree_node(doc, "make_temp", script, lines["temp"])
    assert (temp["bytes"], temp["count"]) == (5_000_001, 1), tree_text(doc)
    assert (anc[-1]["function"], anc[-1]["line"]) == ("hold_big", lines["call_temp"]), anc[-1]
    assert (anc[-2]["function"], anc[-2]["line"]) == ("<module>", lines["call_big"]), anc[-2]
    module, _ = tree_node(doc, "<module>", script, lines["call_big"])
    assert (module["bytes"], module["count"]) == (15_000_002, 2), module
    stats = mt.stats_json(py["peak"])
    assert doc["root"]["bytes"] == stats["peak_bytes"], (doc["root"], stats["peak_bytes"])

    summ = report_json(mt, "summary", "--json", "-r", "0", py["peak"])
    row = summary_row(summ, "hold_big", script)
    assert (row["own_bytes"], row["total_bytes"], row["own_count"], row["total_count"]) \
        == (10_000_001, 15_000_002, 1, 2), row
    row = summary_row(summ, "make_temp", script)
    assert (row["own_bytes"], row["own_count"]) == (5_000_001, 1), row


IMPORT_MACHINERY = re.compile(r"<frozen importlib\.|importlib/_bootstrap")


def test_flamegraph_merges_the_smallest_stacks(mt, py):
    """--max-stacks 3: the two biggest stacks, then one for all the others."""
    stats = mt.stats_json(py["peak"])
    out = mt.cwd / "all.html"
    report(mt, "flamegraph", "--temporal", "-o", out, py["peak"])
    _, full = html_data(out)
    assert len(full["stacks"]) > 3, full["stacks"]
    assert full["meta"]["notes"] == [], full["meta"]["notes"]
    check_temporal(full)

    out = mt.cwd / "merged.html"
    report(mt, "flamegraph", "--temporal", "--max-stacks", "3", "-o", out, py["peak"])
    _, doc = html_data(out)
    assert len(doc["stacks"]) == 3, doc["stacks"]
    assert sum(s[2] for s in doc["stacks"]) == doc["meta"]["peak_bytes"] \
        == stats["peak_bytes"], doc["stacks"]
    assert sum(s[3] for s in doc["stacks"]) == sum(s[3] for s in full["stacks"])
    assert (one_stack(doc, "hold_big")[2], one_stack(doc, "make_temp")[2]) == \
        (10_000_001, 5_000_001), doc["stacks"]
    other = doc["stacks"][2]
    assert len(other[0]) == 1, other
    # docs/HTML.md: the page draws "a frame named `<other>` with no file"
    # grey (web/flamegraph.js and table.js test f[0] === '<other>').
    assert doc["frames"][other[0][0]][:2] == ["<other>", ""], \
        f"the merged stack's frame is {doc['frames'][other[0][0]]}, the page " \
        f"recognises only ['<other>', '']"
    assert any("merged" in n for n in doc["meta"]["notes"]), doc["meta"]["notes"]
    check_temporal(doc)


def test_import_machinery_is_hidden_by_default(mt, py):
    importer, heavy = py["importer"], py["heavy"]
    il, hl = site_lines(importer), site_lines(heavy)
    doc = report_json(mt, "tree", "--json", "-b", "0", py["import"])
    hidden = [n["file"] for n, _ in walk(doc["root"]) if IMPORT_MACHINERY.search(n["file"])]
    assert not hidden, f"import machinery in the tree: {sorted(set(hidden))}"
    node, anc = tree_node(doc, "<module>", heavy, hl["data"])
    assert (node["bytes"], node["count"]) == (8_000_001, 1), tree_text(doc)
    # The import statement calls the module directly once the machinery is hidden.
    assert (anc[-1]["function"], anc[-1]["line"]) == ("load", il["import"]), anc[-1]
    text = report(mt, "tree", "-b", "0", py["import"]).out
    assert not IMPORT_MACHINERY.search(text), text
    assert "heavymod.py" in text, text

    summ = report_json(mt, "summary", "--json", "-r", "0", py["import"])
    hidden = [r for r in summ["rows"] if IMPORT_MACHINERY.search(r["file"])]
    assert not hidden, f"import machinery in the summary: {hidden}"
    text = report(mt, "summary", "-r", "0", py["import"]).out
    assert not IMPORT_MACHINERY.search(text), text
    out = mt.cwd / "imp.csv"
    report(mt, "transform", "csv", "-o", out, py["import"])
    assert not IMPORT_MACHINERY.search(out.read_text())


def test_import_machinery_is_marked_in_the_page(mt, py):
    """The page hides frames marked imp (docs/HTML.md); they are all there."""
    out = mt.cwd / "imp.html"
    report(mt, "flamegraph", "-o", out, py["import"])
    _, doc = html_data(out)
    machinery = [f for f in doc["frames"][1:] if IMPORT_MACHINERY.search(f[1])]
    assert machinery, f"the page has no import machinery frames to hide: {doc['frames']}"
    assert all(f[4] == 1 for f in machinery), [f for f in machinery if f[4] != 1]
    heavy = [f for f in doc["frames"] if base(f[1]) == "heavymod.py"]
    assert heavy and all((f[3], f[4]) == (0, 0) for f in heavy), heavy
    found = [st for st in doc["stacks"]
             if st[0] and base(doc["frames"][st[0][-1]][1]) == "heavymod.py"]
    assert len(found) == 1, f"expected one stack ending in heavymod.py: {found}"
    stack = found[0]
    names = [frame_name(doc, i) for i in stack[0]]
    assert "_find_and_load" in names, names
    assert (stack[2], stack[3]) == (8_000_001, 1), stack


def test_import_machinery_with_show_all_frames(mt, py):
    importer, heavy = py["importer"], py["heavy"]
    il, hl = site_lines(importer), site_lines(heavy)
    doc = report_json(mt, "tree", "--json", "-b", "0", "--show-all-frames", py["import"])
    node, anc = tree_node(doc, "<module>", heavy, hl["data"])
    assert (node["bytes"], node["count"]) == (8_000_001, 1), tree_text(doc)
    between = []
    for a in reversed(anc):
        if (a["function"], a["line"]) == ("load", il["import"]):
            break
        between.append(a)
    else:
        pytest.fail(f"heavymod is not below load:{il['import']}: {[a['function'] for a in anc]}")
    assert between and all(IMPORT_MACHINERY.search(a["file"]) for a in between), \
        [(a["function"], a["file"]) for a in between]
    assert "_find_and_load" in [a["function"] for a in between], between
    text = report(mt, "tree", "-b", "0", "--show-all-frames", py["import"]).out
    assert "<frozen importlib._bootstrap>" in text, text
    summ = report_json(mt, "summary", "--json", "-r", "0", "--show-all-frames", py["import"])
    assert [r for r in summ["rows"] if r["function"] == "_find_and_load"
            and IMPORT_MACHINERY.search(r["file"])], [r["function"] for r in summ["rows"]]


def check_hostile_page(path):
    html, doc = html_data(path)
    for raw in ("</script><img", "<img src=x", "<b>evil", "</script><i>"):
        assert raw not in html, f"{path.name} holds the raw text {raw!r} at " \
            f"{html.index(raw)}: {html[max(0, html.index(raw) - 200):html.index(raw) + 100]!r}"
    victim = one_stack(doc, EVIL)
    frame = doc["frames"][victim[0][-1]]
    assert (frame[0], frame[1]) == (EVIL, EVIL_FILE), frame
    assert (victim[2], victim[3]) == (1_000_001, 1), victim
    assert EVIL_ARG in doc["meta"]["command"], doc["meta"]
    assert EVIL_THREAD in [t[2] for t in doc["threads"]], doc["threads"]
    assert doc["threads"][victim[1]][2] == EVIL_THREAD, (victim, doc["threads"])
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    assert title and "&lt;/script&gt;&lt;img" in title.group(1), \
        title and title.group(1)
    return html, doc


@pytest.mark.parametrize("cmd", ["flamegraph", "table"])
def test_hostile_names_are_escaped_in_html(mt, py, cmd):
    out = mt.cwd / f"{cmd}.html"
    report(mt, cmd, "-o", out, py["xss"])
    check_hostile_page(out)


def test_hostile_names_in_json_and_text(mt, py):
    doc = report_json(mt, "tree", "--json", "-b", "0", py["xss"])
    node, _ = tree_node(doc, EVIL, EVIL_FILE)
    assert (node["bytes"], node["count"]) == (1_000_001, 1), node
    text = report(mt, "tree", "-b", "0", py["xss"]).out
    assert f"{EVIL} at {EVIL_FILE}:" in text, text
    summ = report_json(mt, "summary", "--json", "-r", "0", py["xss"])
    assert summary_row(summ, EVIL, EVIL_FILE)["own_bytes"] == 1_000_001
    out = mt.cwd / "xss.csv"
    report(mt, "transform", "csv", "-o", out, py["xss"])
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    mine = [r for r in rows if r["stack_trace"].startswith(f"{EVIL};{EVIL_FILE};")]
    assert len(mine) == 1, rows
    assert (mine[0]["thread_name"], mine[0]["size"]) == (EVIL_THREAD, "1000001"), mine[0]
    for fmt in ("speedscope", "gprof2dot"):
        out = mt.cwd / f"xss.{fmt}.json"
        report(mt, "transform", fmt, "-o", out, py["xss"])
        assert any(EVIL in v for v in _strings(json.loads(out.read_text()))), \
            f"{fmt}: the function name is not in the export"


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


# --------------------------------------------------------------------------
# Truncated and bad captures, --help

def report_commands(out):
    """Every report command, writing to out where it writes a file."""
    return [
        ("tree",), ("tree", "--json"), ("tree", "--leaks", "--json"),
        ("tree", "--temporary-allocations"), ("summary", "--json"), ("summary",),
        ("flamegraph", "-f", "-o", out), ("flamegraph", "--temporal", "-f", "-o", out),
        ("table", "-f", "-o", out), ("transform", "csv", "-f", "-o", out),
        ("transform", "speedscope", "-f", "-o", out),
        ("transform", "gprof2dot", "-f", "-o", out), ("stats",), ("stats", "--json"),
    ]


def test_reports_on_captures_cut_at_chunk_boundaries(mt, churn):
    data, spans = churn
    out = mt.cwd / "report.out"
    for start, _ in spans:
        path = mt.cwd / f"cut{start}.tide"
        path.write_bytes(data[:start])
        for cmd in report_commands(out):
            res = mt.run(*cmd, path)
            assert res.returncode == 0, \
                f"memtide {' '.join(map(str, cmd))} on a capture cut at byte {start} " \
                f"(chunk boundary, of {len(data)}):\n{res}"
            if "--json" in cmd:
                json.loads(res.stdout)
            if cmd[0] in ("flamegraph", "table"):
                _, doc = html_data(out)
                assert doc["meta"]["truncated"] is True, doc["meta"]
            if cmd[0] == "transform" and cmd[1] != "csv":
                json.loads(out.read_text())
        assert mt.stats_json(path)["truncated"] is True


def bad_captures(churn_data, spans):
    return {
        "empty": b"",
        "magic-only": churn_data[:5],
        "garbage": b"MEMTIDE\0" + bytes((i * 37 + 11) % 256 for i in range(4096)),
        "text": b"not a capture\n" * 50,
    }


def test_reports_on_a_capture_cut_inside_a_chunk(mt, churn):
    """A file that ends inside a chunk (a full disk) reads as truncated."""
    data, spans = churn
    start, end = spans[-1]
    path = mt.cwd / "mid-chunk.tide"
    path.write_bytes(data[:(start + 16 + end) // 2])
    out = mt.cwd / "report.out"
    for cmd in report_commands(out):
        res = mt.run(*cmd, path)
        assert res.returncode == 0, f"memtide {' '.join(map(str, cmd))}:\n{res}"
    assert mt.stats_json(path)["truncated"] is True


@pytest.mark.parametrize("kind", ["empty", "magic-only", "garbage", "text"])
def test_reports_on_bad_captures(mt, churn, kind):
    data, spans = churn
    path = mt.cwd / f"{kind}.tide"
    path.write_bytes(bad_captures(data, spans)[kind])
    out = mt.cwd / "report.out"
    for cmd in report_commands(out):
        res = mt.run(*cmd, path)
        try:
            assert_one_line_error(res)
        except AssertionError as e:
            raise AssertionError(f"memtide {' '.join(map(str, cmd))} on a {kind} "
                                 f"capture: {e}") from None
        assert res.stdout == b"", f"{cmd} printed output for a bad capture: {res.out[:300]!r}"
        assert not out.exists(), f"{cmd} wrote {out.name} for a bad capture"


@pytest.mark.parametrize("cmd", [("tree",), ("summary",), ("flamegraph",), ("table",),
                                 ("transform", "csv")], ids=lambda c: "-".join(c))
def test_reports_on_a_missing_file(mt, cmd):
    line = assert_one_line_error(mt.run(*cmd, mt.cwd / "no-such.tide"))
    assert "no-such.tide" in line, line


@pytest.mark.parametrize("cmd", ["run", "stats", "tree", "summary", "flamegraph", "table",
                                 "transform", "steps"])
def test_help(mt, cmd):
    res = mt.run(cmd, "--help")
    assert res.returncode == 0, str(res)
    assert re.match(rf"usage: memtide {cmd}\b", res.out), res.out[:300]
    res2 = mt.run(cmd, "-h")
    assert res2.returncode == 0 and res2.stdout == res.stdout, str(res2)


def test_top_level_help_lists_the_report_commands(mt):
    res = mt.run("--help")
    assert res.returncode == 0, str(res)
    assert res.out.startswith("usage: memtide"), res.out[:200]
    for cmd in ("tree", "summary", "flamegraph", "table", "transform", "stats"):
        assert re.search(rf"^\s+{cmd}\b", res.out, re.M), f"{cmd} missing:\n{res.out}"
