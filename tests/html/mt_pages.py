"""Builds memtide's HTML report pages for the tests.

build_templates(dir) runs `node web/embed.js --html dir` (after `npm ci
--prefix web` when web/node_modules is missing or stale): the pages with
the libraries, CSS and page scripts in, {{TITLE}} and {{DATA}} left.
render(template, doc, out) fills those two as the C side does: the title
HTML-escaped, the JSON document with '<', '>' and '&' written as \\u003c,
\\u003e, \\u0026, in one pass.
"""

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
WEB = REPO / "web"
FIXTURES = HERE / "fixtures"
XSS = "</script><img src=x onerror=alert(1)>"


def _node():
    node = shutil.which("node")
    if not node:
        raise RuntimeError("node not found: run tests/html/setup.sh")
    return node


def ensure_node_modules():
    """npm ci --prefix web, when node_modules does not match the lock file."""
    lock = WEB / "package-lock.json"
    stamp = WEB / "node_modules" / ".package-lock.json"
    if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("npm not found: run tests/html/setup.sh")
    subprocess.run([npm, "ci", "--prefix", str(WEB), "--no-audit", "--no-fund"], check=True,
                   stdout=subprocess.DEVNULL)


def build_templates(outdir):
    ensure_node_modules()
    outdir = Path(outdir)
    subprocess.run([_node(), str(WEB / "embed.js"), "--html", str(outdir)], check=True)
    return {"flamegraph": outdir / "flamegraph.html", "table": outdir / "table.html"}


def json_for_html(doc):
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(template, doc, out, title=None):
    t = Path(template).read_text(encoding="utf-8")
    values = {"TITLE": html.escape(title if title is not None else doc["meta"].get("title", ""), quote=True),
              "DATA": json_for_html(doc)}
    page = re.sub(r"\{\{(TITLE|DATA)\}\}", lambda m: values[m.group(1)], t)
    Path(out).write_text(page, encoding="utf-8")
    return Path(out)


def load_fixture(name="sample.json"):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def large_doc(nodes=50000, seed=1):
    """A report with `nodes` distinct flame graph nodes (one stack per node)."""
    import random
    rnd = random.Random(seed)
    frames = [["", "", 0, 0, 0]]
    stacks = []
    paths = []
    for i in range(nodes):
        kind = 1 if rnd.random() < 0.3 else 0
        name = (f"native_fn_{i}" if kind else f"py_func_{i}")
        frames.append([name, f"/src/module_{i % 300}.{'c' if kind else 'py'}", 1 + i % 900, kind,
                       1 if rnd.random() < 0.02 else 0])
        if paths and rnd.random() < 0.97:
            # a child of a recent node: deep, bushy trees
            parent = paths[rnd.randrange(max(0, len(paths) - 400), len(paths))]
        else:
            parent = []
        if len(parent) >= 60:
            parent = []
        path = parent + [i + 1]
        paths.append(path)
        stacks.append([path, i % 4, rnd.randrange(64, 2_000_000), rnd.randrange(1, 50),
                       rnd.choice(["malloc", "calloc", "realloc", "mmap"])])
    n = 2000
    t = [i * 0.05 for i in range(n)]
    total = sum(s[2] for s in stacks)
    heap = [int(total * (0.6 + 0.4 * ((i * 7919) % 1000) / 1000) * min(1, i / 400)) for i in range(n)]
    heap[800] = total
    return {
        "meta": {"title": "large report", "command": "python3 big.py", "pid": 99, "python": "3.12.1",
                 "mode": "peak", "peak_bytes": total, "peak_time_ms": 40000, "duration_ms": 100000,
                 "truncated": False, "total_bytes": total * 10, "notes": [], "inverted": False,
                 "split_threads": False},
        "frames": frames,
        "threads": [[k, 1000 + k, f"worker-{k}"] for k in range(4)],
        "stacks": stacks,
        "timeline": {"t": t, "heap": heap, "rss": [h + 30_000_000 for h in heap]},
        "steps": [],
        "temporal": None,
    }
