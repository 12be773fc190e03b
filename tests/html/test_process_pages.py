"""flamegraph and table on a run's several captures (--follow-fork): one
page, each process's stacks under a frame naming it, at its own peak; the
chart is the run's heap summed on the clock.  Checked in the data
document the page carries and in headless Chromium."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
from mt_fixtures import browser, page  # noqa: E402,F401
from test_pages import LABELS, LABELS_SET, READY  # noqa: E402

REPO = HERE.parent.parent
MEMTIDE = Path(os.environ.get("MEMTIDE_BIN", REPO / "build" / "bin" / "memtide"))
MiB = 1024 * 1024

# the parent holds 20 MiB, its forked child 30 MiB while the parent waits
SCRIPT = """
import os, time

def parent_work():
    return bytearray(20 * 1024 * 1024)

def child_work():
    return bytearray(30 * 1024 * 1024)

a = parent_work()
pid = os.fork()
if pid == 0:
    b = child_work()
    time.sleep(0.3)
    os._exit(0)
os.waitpid(pid, 0)
print("done")
"""


def memtide(*args, cwd):
    res = subprocess.run([str(MEMTIDE), *map(str, args)], capture_output=True, text=True,
                         timeout=120, cwd=cwd)
    assert res.returncode == 0, res.stderr
    return res


def data_of(path):
    return json.loads(path.read_text().split(
        '<script type="application/json" id="memtide-data">', 1)[1].split("</script>", 1)[0])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("fork")
    (d / "fk.py").write_text(SCRIPT)
    (d / "caps").mkdir()
    res = memtide("run", "-q", "--follow-fork", "--python", "/usr/bin/python3", "-o",
                  d / "caps" / "fk.tide", d / "fk.py", cwd=d)
    assert res.stdout == "done\n"
    assert len(list((d / "caps").glob("*.tide"))) == 2
    memtide("flamegraph", "-o", d / "flame.html", d / "caps", cwd=d)
    memtide("table", "-o", d / "table.html", d / "caps", cwd=d)
    return d


def test_data_of_several_processes(run):
    doc = data_of(run / "flame.html")
    stats = json.loads(memtide("stats", "--json", run / "caps", cwd=run).stdout)
    procs = {p["pid"]: p for p in stats["processes"]}
    frames = doc["frames"]
    roots = {}
    for frames_of, _, nbytes, _, _ in doc["stacks"]:
        roots[frames[frames_of[0]][0]] = roots.get(frames[frames_of[0]][0], 0) + nbytes
    # one root per process, each holding that process's own peak
    assert sorted(roots) == sorted(f"[{pid}] {p['command']}" for pid, p in procs.items())
    for pid, p in procs.items():
        assert roots[f"[{pid}] {p['command']}"] == p["peak_bytes"], (pid, roots)
    assert doc["meta"]["peak_bytes"] == stats["combined_peak_bytes"]
    assert max(doc["timeline"]["heap"]) == stats["combined_peak_bytes"]
    assert doc["meta"]["command"].startswith("2 processes: ")
    names = {t[2].split("]")[0] + "]" for t in doc["threads"]}
    assert names == {f"[{pid}]" for pid in procs}


def test_flamegraph_page_renders(run, page, tmp_path):
    page.goto((run / "flame.html").as_uri(), ready=READY)
    page.wait_for(LABELS_SET)
    labels = " ".join(page.eval(LABELS))
    assert "child_work" in labels and "parent_work" in labels, labels
    assert labels.count("fk.py") >= 2
    time.sleep(0.3)
    print("screenshot:", page.screenshot(tmp_path / "processes.png"))
    assert page.errors() == [] and page.alerts() == []


def test_table_page_renders(run, page):
    page.goto((run / "table.html").as_uri(), ready=READY)
    text = page.eval("document.body.innerText")
    assert "child_work" in text and "parent_work" in text
    assert page.errors() == []


def test_temporal_refused(run):
    res = subprocess.run([str(MEMTIDE), "flamegraph", "--temporal", run / "caps"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "--temporal reads one capture at a time" in res.stderr
