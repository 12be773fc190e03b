"""Process trees: --follow-fork and --follow-exec write one capture per
process (<stem>.<pid>.tide), sharing the run's session id and naming their
parent; `memtide stats` on several captures or a directory reports the
tree and the combined peak; -o patterns (%p, %h, %r, %%).

Pure-Python tests take the `python` fixture (every CPython found).
bytearray(n) makes one allocation of n + 1 bytes (see test_python.py).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import textwrap

import pytest

from conftest import PROGRAMS, base_env
from mtlib import assert_no_function, assert_site, c_defines, describe, locations, site_lines

SIZE = 100_000
BUF = SIZE + 1
N = 20


def clean_env():
    """The test's environment without MEMTIDE_* (MEMTIDE_BIN): children must
    show none of memtide's variables."""
    return {k: v for k, v in base_env().items() if not k.startswith("MEMTIDE_")}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def tree_json(mt, *paths):
    res = mt.stats("--json", *paths)
    assert res.returncode == 0, str(res)
    return json.loads(res.stdout)


def by_pid(tree):
    return {p["pid"]: p for p in tree["processes"]}


def child_capture(mt, pid, stem="out"):
    path = mt.cwd / f"{stem}.{pid}.tide"
    assert path.exists(), f"no capture {path.name}: {sorted(os.listdir(mt.cwd))}"
    return path


def check_tree(tree, root_pid):
    """One session; the root is root_pid's; every other process's parent is
    the capture of its parent process, or of the image it replaced."""
    caps = {p["capture"]: p for p in tree["processes"]}
    assert len({p["session"] for p in tree["processes"]}) == 1, tree["processes"]
    assert tree["session"] == tree["processes"][0]["session"] and tree["session"]
    for p in tree["processes"]:
        if p["parent_capture"] is None:
            assert p["pid"] == root_pid and p["depth"] == 0, p["capture"]
            continue
        parent = caps[p["parent_capture"]]
        assert parent["pid"] in (p["ppid"], p["pid"]), (p["capture"], parent["capture"])
        assert p["depth"] == parent["depth"] + 1
    return by_pid(tree)


# --------------------------------------------------------------------------
# exec from a native program: after fork, by posix_spawn, in place

def spawn_leaf(mt, build, how, parent_says=b""):
    """spawner HOW under --follow-exec: (source, its defines, its site
    lines, the root capture, the leaf's pid, the parent's pid)."""
    src = build.source("spawner")
    res, path = mt.capture(build.program("spawner"), how, options=["--follow-exec"],
                           env=clean_env())
    m = re.fullmatch(rb"leaf (\d+) preload - memtide 0\nparent (\d+)" + re.escape(parent_says) +
                     rb"\n", res.stdout)
    assert m, str(res)
    return src, c_defines(src), site_lines(src), path, int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("how", ["fork", "spawn"])
def test_native_exec_child(mt, build, how):
    src, d, lines, path, leaf, parent = spawn_leaf(mt, build, how)
    files = sorted(p.name for p in mt.cwd.glob("*.tide"))
    assert files == sorted(["out.tide", f"out.{leaf}.tide"]), files
    top = mt.stats_json(path)
    assert top["pid"] == parent
    assert_site(top, "parent_alloc", src, lines["parent_alloc"],
                d["PARENT_N"], d["PARENT_N"] * d["PARENT_SIZE"])
    assert_no_function(top, "leaf_alloc")
    child = mt.stats_json(child_capture(mt, leaf))
    assert child["pid"] == leaf and child["ppid"] == parent
    assert child["session"] == top["session"] and top["session"]
    assert child["truncated"] is False and child["ended_by"] is None
    assert_site(child, "leaf_alloc", src, lines["leaf_alloc"],
                d["LEAF_N"], d["LEAF_N"] * d["LEAF_SIZE"])
    assert_no_function(child, "parent_alloc")
    tree = tree_json(mt, mt.cwd)
    procs = check_tree(tree, parent)
    assert procs[leaf]["parent_capture"] == str(mt.cwd / "out.tide")
    assert [p["depth"] for p in tree["processes"]] == [0, 1]


def test_native_exec_in_place(mt, build):
    """The image an exec replaced is the parent of the new one (same pid)."""
    src = build.source("spawner")
    d, lines = c_defines(src), site_lines(src)
    res, path = mt.capture(build.program("spawner"), "self", options=["--follow-exec"],
                           env=clean_env())
    m = re.fullmatch(rb"leaf (\d+) preload - memtide 0\n", res.stdout)
    assert m, str(res)
    pid = int(m.group(1))
    before = mt.stats_json(path)
    assert before["pid"] == pid and before["ended_by"] == "exec /proc/self/exe"
    assert_site(before, "parent_alloc", src, lines["parent_alloc"],
                d["PARENT_N"], d["PARENT_N"] * d["PARENT_SIZE"])
    after = mt.stats_json(child_capture(mt, pid))
    assert_site(after, "leaf_alloc", src, lines["leaf_alloc"],
                d["LEAF_N"], d["LEAF_N"] * d["LEAF_SIZE"])
    assert_no_function(after, "parent_alloc")
    tree = tree_json(mt, path, child_capture(mt, pid))
    assert [(p["capture"], p["depth"]) for p in tree["processes"]] == \
        [(str(path), 0), (str(child_capture(mt, pid)), 1)]


@pytest.mark.parametrize("how", ["system", "popen"])
def test_native_system_and_popen_children(mt, build, how):
    """glibc starts the shell of system() and popen() where no exec hook
    sees it: the shell and what it execs are tracked all the same, named
    out.PID.tide then out.PID.2.tide (same pid), and the program's own
    environment holds none of memtide's variables afterwards."""
    src, d, lines, path, leaf, parent = spawn_leaf(mt, build, how, b" env 0")
    files = sorted(p.name for p in mt.cwd.glob("*.tide"))
    assert files == sorted(["out.tide", f"out.{leaf}.tide", f"out.{leaf}.2.tide"]), files
    shell = mt.stats_json(mt.cwd / f"out.{leaf}.tide")
    assert shell["ended_by"].startswith("exec ") and shell["ppid"] == parent
    child = mt.stats_json(mt.cwd / f"out.{leaf}.2.tide")
    assert child["pid"] == leaf and child["truncated"] is False
    assert_site(child, "leaf_alloc", src, lines["leaf_alloc"],
                d["LEAF_N"], d["LEAF_N"] * d["LEAF_SIZE"])
    tree = tree_json(mt, mt.cwd)
    check_tree(tree, parent)
    assert [p["depth"] for p in tree["processes"]] == [0, 1, 2]


def test_python_os_system_child(mt, tmp_path):
    """os.system() calls libc's system(): its Python child is tracked with
    its Python stack."""
    script = write(tmp_path, "sys_parent.py", """\
        import os, sys
        child = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sys_child.py")
        rc = os.system(f"exec {sys.executable} {child}")
        print("parent", os.getpid(), rc, sum(k.startswith("MEMTIDE_") for k in os.environ))
        """)
    child_script = write(tmp_path, "sys_child.py", """\
        import os
        def grow():
            out = []
            for _ in range(40):
                out.append(bytearray(100_000))  # @site:grow
            return out
        keep = grow()
        print("child", os.getpid(), flush=True)
        """)
    res, path = mt.capture(script, options=["--follow-exec"], env=clean_env())
    m = re.fullmatch(rb"child (\d+)\nparent (\d+) 0 0\n", res.stdout)
    assert m, str(res)
    leaf = int(m.group(1))
    child = mt.stats_json(mt.cwd / f"out.{leaf}.2.tide")
    assert_site(child, "grow", child_script, site_lines(child_script)["grow"], 40, 40 * 100_001)


def test_exec_child_samples_as_its_parent(mt, build):
    """--sample-rate reaches the programs --follow-exec tracks."""
    res, path = mt.capture(build.program("spawner"), "spawn",
                           options=["--follow-exec", "--sample-rate", "4KiB"], env=clean_env())
    leaf = int(re.match(rb"leaf (\d+) ", res.stdout).group(1))
    assert mt.stats_json(path)["sample_rate"] == 4096
    assert mt.stats_json(child_capture(mt, leaf))["sample_rate"] == 4096


def test_without_follow_exec_children_are_not_tracked(mt, build):
    res, path = mt.capture(build.program("spawner"), "fork", env=clean_env())
    assert re.match(rb"leaf \d+ preload - memtide 0\n", res.stdout), str(res)
    assert sorted(p.name for p in mt.cwd.glob("*.tide")) == ["out.tide"]


def test_run_lists_every_capture(mt, build):
    res = mt.run("run", "-o", "out.tide", "--follow-exec", build.program("spawner"), "spawn",
                 env=clean_env())
    assert res.returncode == 0, str(res)
    leaf = int(re.match(rb"leaf (\d+)", res.stdout).group(1))
    lines = res.err.splitlines()
    assert lines[0] == "memtide: 2 captures written:", res.err
    assert re.fullmatch(r"memtide:   out\.tide \(.+\)", lines[1]), res.err
    assert re.fullmatch(rf"memtide:   out\.{leaf}\.tide \(.+\)", lines[2]), res.err
    assert lines[3] == "memtide: look at the process tree with: memtide stats out.tide out.*.tide"


# --------------------------------------------------------------------------
# Python: subprocess, multiprocessing spawn and forkserver, fork, Pool

SUBPROCESS_SCRIPT = f"""
import os, subprocess, sys

CHILD = '''
import os
def child_work():
    keep = []
    for i in range({N}):
        keep.append(bytearray({SIZE}))  # @site:child_work
    return keep
k = child_work()
print("child", os.getpid(), os.environ.get("LD_PRELOAD", "-"),
      sorted(k for k in os.environ if k.startswith("MEMTIDE_")), flush=True)
'''

def parent_work():
    keep = []
    for i in range(7):
        keep.append(bytearray({SIZE}))  # @site:parent_work
    return keep

k = parent_work()
print("parent", os.getpid(), sorted(k for k in os.environ if k.startswith("MEMTIDE_")),
      flush=True)
subprocess.run([sys.executable, "-c", CHILD], check=True)
env = dict(os.environ, LD_PRELOAD="libm.so.6")
subprocess.run([sys.executable, "-c", CHILD], check=True, env=env)
"""


def test_python_subprocess(mt, python, tmp_path):
    """Children see the environment the program gave them: no MEMTIDE_*,
    LD_PRELOAD as the program set it; each capture holds its own."""
    script = write(tmp_path, "sub.py", SUBPROCESS_SCRIPT)
    lines = site_lines(script)
    res, path = mt.capture(script, options=["--python", python, "--follow-exec"],
                           env=clean_env())
    m = re.fullmatch(rb"parent (\d+) \[\]\nchild (\d+) - \[\]\nchild (\d+) libm.so.6 \[\]\n",
                     res.stdout)
    assert m, str(res)
    parent, kids = int(m.group(1)), [int(m.group(2)), int(m.group(3))]
    top = mt.stats_json(path)
    assert_site(top, "parent_work", script, lines["parent_work"], 7, 7 * BUF)
    for pid in kids:
        child = mt.stats_json(child_capture(mt, pid))
        assert child["ppid"] == parent and child["python"]
        # the child's code is a -c string: its frames are named "<string>"
        rows = locations(child, "child_work")
        assert [(r["count"], r["bytes"]) for r in rows] == [(N, N * BUF)], describe(child)
        assert_no_function(child, "parent_work")
    tree = tree_json(mt, mt.cwd)
    procs = check_tree(tree, parent)
    assert sorted(procs) == sorted([parent] + kids)


def test_python_starts_native_program(mt, build, python, tmp_path):
    """A native program started by a Python one gets native stacks."""
    src = build.source("spawner")
    d, lines = c_defines(src), site_lines(src)
    script = write(tmp_path, "native.py", f"""
        import subprocess
        subprocess.run([{str(build.program("spawner"))!r}, "leaf"], check=True)
    """)
    res, path = mt.capture(script, options=["--python", python, "--follow-exec"],
                           env=clean_env())
    m = re.fullmatch(rb"leaf (\d+) preload - memtide 0\n", res.stdout)
    assert m, str(res)
    leaf = mt.stats_json(child_capture(mt, int(m.group(1))))
    assert leaf["python"] is None
    assert_site(leaf, "leaf_alloc", src, lines["leaf_alloc"],
                d["LEAF_N"], d["LEAF_N"] * d["LEAF_SIZE"])
    assert mt.stats_json(path)["python"]


MP_SCRIPT = f"""
import multiprocessing as mp, os, sys

def work(n):
    keep = []
    for i in range(n):
        keep.append(bytearray({SIZE}))  # @site:work
    print("worker", os.getpid(), sorted(k for k in os.environ if k.startswith("MEMTIDE_")),
          flush=True)

if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    procs = [ctx.Process(target=work, args=({N} + i,)) for i in range(2)]
    for p in procs:
        p.start()
        p.join()
        assert p.exitcode == 0
    print("done", os.getpid())
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_multiprocessing_start_methods(mt, python, tmp_path, method):
    """spawn workers are exec'd; forkserver workers are forked from an exec'd
    server (--follow-fork too): each worker's capture holds its own task."""
    script = write(tmp_path, "mpx.py", MP_SCRIPT)
    line = site_lines(script)["work"]
    res, path = mt.capture(script, method, options=["--python", python, "--follow-exec",
                                                    "--follow-fork"], env=clean_env())
    workers = [int(p) for p in re.findall(rb"^worker (\d+) \[\]$", res.stdout, re.M)]
    assert len(workers) == 2 and re.search(rb"^done \d+$", res.stdout, re.M), str(res)
    for i, pid in enumerate(workers):
        # Python 3.9's subprocess forks (later ones vfork): with
        # --follow-fork, the forked child before its exec has a capture too
        found = sorted(mt.cwd.glob(f"out.{pid}*.tide"), key=lambda p: len(p.name))
        assert 1 <= len(found) <= 2, (pid, sorted(os.listdir(mt.cwd)))
        if len(found) == 2:
            assert mt.stats_json(found[0])["ended_by"].startswith("exec ")
        stats = mt.stats_json(found[-1])
        assert stats["truncated"] is False
        assert_site(stats, "work", script, line, N + i, (N + i) * BUF)
    tree = tree_json(mt, mt.cwd)
    procs = check_tree(tree, int(re.search(rb"^done (\d+)$", res.stdout, re.M).group(1)))
    assert set(workers) <= set(procs)


POOL_SCRIPT = f"""
import glob, multiprocessing as mp, os, sys, time

def work(i):
    keep = []
    for j in range({N}):
        keep.append(bytearray({SIZE}))  # @site:work
    return os.getpid()

def block():
    open(f"{{os.getpid()}}.busy", "w").close()
    time.sleep(60)

if __name__ == "__main__":
    mp.set_start_method("fork")
    if sys.argv[1] == "short":
        # every worker runs one task and exits: short-lived processes
        with mp.Pool(2, maxtasksperchild=1) as pool:
            pids = pool.map(work, range(6), chunksize=1)
        print("workers", " ".join(map(str, sorted(set(pids)))))
    else:
        pool = mp.Pool(2)
        pids = pool.map(work, range(4), chunksize=1)
        for i in range(2):
            pool.apply_async(block)
        while len(glob.glob("*.busy")) < 2:  # both asleep: ended by SIGTERM
            time.sleep(0.01)
        pool.terminate()
        pool.join()
        print("workers", " ".join(sorted(p[:-5] for p in glob.glob("*.busy"))))
"""


@pytest.mark.parametrize("how", ["short", "terminate"])
def test_pool_workers(mt, python, tmp_path, how):
    """Short-lived workers (maxtasksperchild=1) and workers ended by
    Pool.terminate() (SIGTERM) leave complete captures with every task."""
    script = write(tmp_path, "pool.py", POOL_SCRIPT)
    line = site_lines(script)["work"]
    res, path = mt.capture(script, how, options=["--python", python, "--follow-fork"],
                           env=clean_env())
    m = re.fullmatch(rb"workers ([\d ]+)\n", res.stdout)
    assert m, str(res)
    tasks = 0
    for pid in m.group(1).split():
        stats = mt.stats_json(child_capture(mt, int(pid)))
        assert stats["truncated"] is False, stats["truncation"]
        if how == "terminate":
            assert stats["ended_by"] == "signal 15 (SIGTERM)"
        rows = locations(stats, "work", None, line)
        if not rows:
            continue
        assert rows[0]["count"] % N == 0 and rows[0]["bytes"] == rows[0]["count"] * BUF
        tasks += rows[0]["count"] // N
    if how == "short":  # every task's worker was a process of its own
        assert tasks == 6 and len(m.group(1).split()) == 6
    else:  # the pool's only two workers ran the four tasks
        assert tasks == 4
    # workers the pool started to replace others and then terminated too
    tree = tree_json(mt, mt.cwd)
    assert len(tree["processes"]) == len(list(mt.cwd.glob("*.tide")))
    assert not [p["capture"] for p in tree["processes"] if p["truncated"]]


# --------------------------------------------------------------------------
# The combined peak

HOLD = 100_000_000
BOTH_SCRIPT = f"""
import os, time

r1, w1 = os.pipe()
r2, w2 = os.pipe()
pid = os.fork()
mine, theirs = (w2, r1) if pid == 0 else (w1, r2)
big = bytearray({HOLD})  # @site:big
os.write(mine, b"x")
os.read(theirs, 1)      # both hold 100 MB from here
more = bytearray(1_000_000)  # @site:more
time.sleep(0.5)
del big, more
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print("child", pid, flush=True)
time.sleep(0.2)
"""


def test_combined_peak_of_two_processes(mt, python, tmp_path):
    """Two processes each hold 100 MB at the same time: the combined peak is
    200 MB plus what else each held then, i.e. the sum of their peaks."""
    script = write(tmp_path, "both.py", BOTH_SCRIPT)
    lines = site_lines(script)
    res, path = mt.capture(script, options=["--python", python, "--follow-fork"],
                           env=clean_env())
    child = int(re.fullmatch(rb"child (\d+)\n", res.stdout).group(1))
    tree = tree_json(mt, path, child_capture(mt, child))
    procs = by_pid(tree)
    assert len(procs) == 2 and procs[child]["parent_capture"] == str(path)
    for p in procs.values():
        assert_site(p, "<module>", script, lines["big"], 1, HOLD + 1)
        assert p["peak_bytes"] >= HOLD + 1 + 1_000_001
    assert tree["combined_peak_bytes"] == sum(p["peak_bytes"] for p in procs.values())
    assert tree["combined_peak_bytes"] == \
        sum(p["heap_at_combined_peak_bytes"] for p in procs.values())
    first = min(p["start_unix_ns"] for p in procs.values())
    assert tree["combined_peak_time"] == (tree["combined_peak_unix_ns"] - first) // 1_000_000
    text = mt.stats(path, child_capture(mt, child))
    assert text.returncode == 0, str(text)
    assert re.search(r"^Combined peak: 19\d\.\d\d MiB at \d+\.\d{3} s", text.out, re.M), text.out


def test_process_tree_json_shape(mt, python, tmp_path):
    script = write(tmp_path, "both.py", BOTH_SCRIPT)
    res, path = mt.capture(script, options=["--python", python, "--follow-fork"],
                           env=clean_env())
    child = int(re.fullmatch(rb"child (\d+)\n", res.stdout).group(1))
    tree = tree_json(mt, mt.cwd)
    assert set(tree) == {"session", "processes", "combined_peak_bytes", "combined_peak_time",
                         "combined_peak_unix_ns", "step_names", "steps"}
    assert (tree["step_names"], tree["steps"]) == (0, [])  # no memtide.step here
    single = mt.stats_json(path, n=10)
    for p in tree["processes"]:
        assert set(p) == set(single) | {"capture", "parent_capture", "depth",
                                        "heap_at_combined_peak_bytes"}
        assert p["capture"] == p["file"]
    assert [p["pid"] for p in tree["processes"]] == [single["pid"], child]
    assert tree["processes"][0] == {**single, "capture": str(mt.cwd / "out.tide"),
                                    "file": str(mt.cwd / "out.tide"),
                                    "parent_capture": None, "depth": 0,
                                    "heap_at_combined_peak_bytes":
                                        tree["processes"][0]["heap_at_combined_peak_bytes"]}
    text = mt.stats(mt.cwd)
    assert text.returncode == 0, str(text)
    rows = text.out.splitlines()
    assert rows[0] == f"Process tree: 2 processes (session {tree['session']})"
    assert re.match(rf"  {single['pid']} +{single['ppid']} ", rows[3]), text.out
    assert re.match(rf"    {child} +{single['pid']} ", rows[4]), text.out


STEPS_SCRIPT = """
import os

import memtide

pid = os.fork()
if pid == 0:
    with memtide.step("load"):
        a = bytearray(5_000_000)
    with memtide.step("fit"):
        b = bytearray(1_000_000)
    os._exit(0)
with memtide.step("load"):
    a = bytearray(3_000_000)
os.waitpid(pid, 0)
with memtide.step("a step whose name is longer than the column"):
    pass
print("child", pid, flush=True)
"""


def test_steps_across_processes(mt, python, tmp_path):
    """stats on a run's captures sums the steps of every process by name:
    runs, the highest rise above a run's start (and where), bytes."""
    script = write(tmp_path, "steps.py", STEPS_SCRIPT)
    res, _ = mt.capture(script, options=["--python", python, "--follow-fork"],
                        env=clean_env())
    child = int(re.fullmatch(rb"child (\d+)\n", res.stdout).group(1))
    tree = tree_json(mt, mt.cwd)
    assert tree["step_names"] == 3
    shown = json.dumps(tree["steps"], indent=1)
    load, fit, long = tree["steps"]  # the highest rise first
    assert (load["name"], load["runs"], load["peak_above_start_bytes"], load["pid"],
            load["allocations"], load["allocated_bytes"]) == (
        "load", 2, 5_000_001, child, 2, 8_000_002), shown
    assert (fit["name"], fit["runs"], fit["peak_above_start_bytes"], fit["pid"],
            fit["allocations"], fit["allocated_bytes"]) == (
        "fit", 1, 1_000_001, child, 1, 1_000_001), shown
    assert (long["runs"], long["peak_above_start_bytes"], long["allocated_bytes"]) == (1, 0, 0)
    one = mt.stats("--json", "-n", "1", mt.cwd)
    assert [s["name"] for s in json.loads(one.stdout)["steps"]] == ["load"]
    text = mt.stats(mt.cwd).out
    assert "Top steps by peak above their start (3 of 3 names;" in text, text
    assert re.search(rf"\n  load +2 +4\.77 MiB .* {child}\n  fit +1 ", text), text
    assert "\n  a step whose name is longer t...       1          0 B " in text, text


# --------------------------------------------------------------------------
# Bad input

def one_line_error(res):
    assert res.returncode != 0, str(res)
    lines = res.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("memtide"), str(res)
    return lines[0]


def test_empty_directory(mt, tmp_path):
    (tmp_path / "empty").mkdir()
    assert one_line_error(mt.stats(tmp_path / "empty")) == \
        f"memtide: '{tmp_path / 'empty'}' holds no captures (*.tide)"


LAUNCHER_VARS = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID",
                 "PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid", "SLURM_JOB_ID", "SLURM_STEP_ID")


def no_launcher_env():
    return {k: v for k, v in base_env().items() if k not in LAUNCHER_VARS}


def test_mixed_sessions_are_refused(mt, build):
    prog = build.program("spawner")
    mt.capture(prog, "leaf", out="a.tide", env=no_launcher_env())
    mt.capture(prog, "leaf", out="b.tide", env=no_launcher_env())
    err = one_line_error(mt.stats(mt.cwd / "a.tide", mt.cwd / "b.tide"))
    assert "are captures of different runs" in err, err
    err = one_line_error(mt.stats("--json", mt.cwd))
    assert "are captures of different runs" in err, err


def test_other_reports_take_one_capture(mt, build):
    mt.capture(build.program("spawner"), "spawn", options=["--follow-exec"])
    for cmd in ("steps", "lines"):
        err = one_line_error(mt.run(cmd, "-F", "main", mt.cwd) if cmd == "lines"
                             else mt.run(cmd, mt.cwd))
        assert err == f"memtide: '{mt.cwd}' is a directory: memtide {cmd} reads one " \
                      f"capture at a time (stats, tree, summary, flamegraph and table " \
                      f"take a run's captures)"
        files = sorted(mt.cwd.glob("*.tide"))
        err = one_line_error(mt.run(cmd, *files))
        assert "one capture file at a time (not several" in err, err


# --------------------------------------------------------------------------
# tree on several captures

def find(node, function):
    """Every node of a tree --json subtree whose function is function."""
    out = [node] if node["function"] == function else []
    for child in node["children"]:
        out += find(child, function)
    return out


def test_tree_by_process(mt, build):
    """Each process's tree at its own peak, under a root per process, or
    merged across processes."""
    src = build.source("spawner")
    d = c_defines(src)
    res, path = mt.capture(build.program("spawner"), "fork", options=["--follow-exec"],
                           env=clean_env())
    m = re.fullmatch(rb"leaf (\d+) preload - memtide 0\nparent (\d+)\n", res.stdout)
    leaf, parent = int(m.group(1)), int(m.group(2))
    res = mt.run("tree", "--json", "-b", "0", mt.cwd)
    assert res.returncode == 0, str(res)
    tree = json.loads(res.stdout)
    singles = {pid: json.loads(mt.run("tree", "--json", "-b", "0", f).stdout)
               for pid, f in ((parent, path), (leaf, child_capture(mt, leaf)))}
    roots = {int(re.match(r"\[(\d+)\] ", c["function"]).group(1)): c
             for c in tree["root"]["children"]}
    assert sorted(roots) == sorted([parent, leaf])
    assert tree["bytes"] == sum(t["bytes"] for t in singles.values())
    for pid, root in roots.items():
        assert (root["bytes"], root["count"]) == (singles[pid]["bytes"], singles[pid]["count"])
    [p] = find(roots[parent], "parent_alloc")
    assert (p["bytes"], p["count"]) == (d["PARENT_N"] * d["PARENT_SIZE"], d["PARENT_N"])
    [l] = find(roots[leaf], "leaf_alloc")
    assert (l["bytes"], l["count"]) == (d["LEAF_N"] * d["LEAF_SIZE"], d["LEAF_N"])
    assert not find(roots[parent], "leaf_alloc") and not find(roots[leaf], "parent_alloc")

    res = mt.run("tree", "--json", "-b", "0", "--no-by-process", mt.cwd)
    merged = json.loads(res.stdout)
    assert merged["bytes"] == tree["bytes"]
    assert not [c for c in merged["root"]["children"] if c["function"].startswith("[")]
    [l] = find(merged["root"], "leaf_alloc")
    assert (l["bytes"], l["count"]) == (d["LEAF_N"] * d["LEAF_SIZE"], d["LEAF_N"])
    text = mt.run("tree", "-b", "0", path, child_capture(mt, leaf))
    assert text.returncode == 0, str(text)
    assert text.out.startswith("Live at the peak of the heap of each of 2 processes: "), text.out
    assert re.search(rf"── \[{leaf}\] .*spawner leaf$", text.out, re.M), text.out


def test_summary_by_process(mt, build):
    src = build.source("spawner")
    d = c_defines(src)
    res, path = mt.capture(build.program("spawner"), "fork", options=["--follow-exec"],
                           env=clean_env())
    m = re.fullmatch(rb"leaf (\d+) preload - memtide 0\nparent (\d+)\n", res.stdout)
    leaf, parent = int(m.group(1)), int(m.group(2))

    def summary(*args):
        res = mt.run("summary", "--json", "-r", "0", *args)
        assert res.returncode == 0, str(res)
        return json.loads(res.stdout)

    singles = {parent: summary(path), leaf: summary(child_capture(mt, leaf))}
    both = summary(mt.cwd)
    assert both["bytes"] == sum(s["bytes"] for s in singles.values())
    procs = {r["pid"]: r for r in both["rows"] if r["process"]}
    assert sorted(procs) == sorted([parent, leaf])
    for pid, row in procs.items():
        assert row["function"].startswith(f"[{pid}] ")
        assert (row["total_bytes"], row["total_count"]) == \
            (singles[pid]["bytes"], singles[pid]["count"])
        mine = [dict(r, pid=None, process=None) for r in both["rows"]
                if r["pid"] == pid and not r["process"]]
        assert sorted(mine, key=json.dumps) == \
            sorted((dict(r, pid=None, process=None) for r in singles[pid]["rows"]),
                   key=json.dumps)
    [p] = [r for r in both["rows"] if r["function"] == "parent_alloc"]
    assert (p["pid"], p["own_bytes"], p["own_count"]) == \
        (parent, d["PARENT_N"] * d["PARENT_SIZE"], d["PARENT_N"])
    [l] = [r for r in both["rows"] if r["function"] == "leaf_alloc"]
    assert (l["pid"], l["own_bytes"], l["own_count"]) == \
        (leaf, d["LEAF_N"] * d["LEAF_SIZE"], d["LEAF_N"])

    merged = summary("--no-by-process", path, child_capture(mt, leaf))
    assert merged["bytes"] == both["bytes"]
    assert all("pid" not in r for r in merged["rows"])
    [main] = [r for r in merged["rows"] if r["function"] == "main"]
    assert main["total_bytes"] == sum(r["total_bytes"] for s in singles.values()
                                      for r in s["rows"] if r["function"] == "main")
    text = mt.run("summary", "-r", "0", mt.cwd)
    assert text.returncode == 0, str(text)
    assert text.out.startswith("Per function, at the peak of each of 2 processes, by process: ")
    assert re.search(rf"  leaf_alloc at .*spawner\.c \[native\] \[pid {leaf}\]$", text.out,
                     re.M), text.out


@pytest.mark.parametrize("cmd", ["tree", "summary"])
def test_refuses_mixed_sessions(mt, build, cmd):
    prog = build.program("spawner")
    mt.capture(prog, "leaf", out="a.tide", env=no_launcher_env())
    mt.capture(prog, "leaf", out="b.tide", env=no_launcher_env())
    err = one_line_error(mt.run(cmd, mt.cwd))
    assert "are captures of different runs" in err, err


# --------------------------------------------------------------------------
# -o patterns

def test_output_patterns(mt, build):
    prog = build.program("spawner")
    env = dict(no_launcher_env(), OMPI_COMM_WORLD_RANK="3")
    res = mt.run("run", "-q", "-o", "cap.%r.%h.%p.100%%.tide", prog, "leaf", env=env)
    assert res.returncode == 0, str(res)
    pid = int(re.match(rb"leaf (\d+)", res.stdout).group(1))
    name = f"cap.3.{socket.gethostname()}.{pid}.100%.tide"
    assert [p.name for p in mt.cwd.glob("*.tide")] == [name]
    assert mt.stats_json(mt.cwd / name)["pid"] == pid


@pytest.mark.parametrize("var", ["PMI_RANK", "PMIX_RANK", "SLURM_PROCID"])
def test_rank_from_other_launchers(mt, build, var):
    env = no_launcher_env()
    env[var] = "5"
    res = mt.run("run", "-q", "-o", "r%r.tide", build.program("spawner"), "leaf", env=env)
    assert res.returncode == 0, str(res)
    assert (mt.cwd / "r5.tide").exists()


def test_output_pattern_errors(mt, build):
    prog = build.program("spawner")
    env = no_launcher_env()
    err = one_line_error(mt.run("run", "-o", "c.%r.tide", prog, "leaf", env=env))
    assert err.startswith("memtide: -o 'c.%r.tide': %r is the MPI rank, but none of"), err
    err = one_line_error(mt.run("run", "-o", "c.%x.tide", prog, "leaf"))
    assert err == "memtide: -o 'c.%x.tide': unknown pattern '%x' (%p pid, %h host, " \
                  "%r MPI rank, %% a %)"
    assert not list(mt.cwd.glob("*.tide"))


# --------------------------------------------------------------------------
# MPI (Debian's openmpi-bin and libopenmpi-dev)

@pytest.fixture(scope="session")
def mpi_program(tmp_path_factory):
    if not (shutil.which("mpicc") and shutil.which("mpirun")):
        pytest.skip("no mpicc/mpirun (openmpi-bin, libopenmpi-dev)")
    out = tmp_path_factory.mktemp("mpi") / "mpi_ranks"
    src = PROGRAMS / "mpi_ranks.c"
    proc = subprocess.run(["mpicc", "-O0", "-g", "-fno-omit-frame-pointer", "-o", str(out),
                           str(src)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def test_mpi_ranks(mt, mpi_program):
    """mpirun -np 2 memtide run -o 'cap.%r.tide': one capture per rank with
    the rank's own allocations; the ranks are one job (one session)."""
    src = PROGRAMS / "mpi_ranks.c"
    d, line = c_defines(src), site_lines(src)["rank_alloc"]
    res = mt.plain("mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2",
                   mt.bin, "run", "-q", "-o", "cap.%r.tide", mpi_program,
                   env=no_launcher_env(), timeout=120)
    assert res.returncode == 0, str(res)
    pids = {int(r): int(p) for r, p in re.findall(rb"^rank (\d) pid (\d+)$", res.stdout, re.M)}
    assert sorted(pids) == [0, 1], str(res)
    assert sorted(p.name for p in mt.cwd.glob("*.tide")) == ["cap.0.tide", "cap.1.tide"]
    for rank, pid in pids.items():
        stats = mt.stats_json(mt.cwd / f"cap.{rank}.tide")
        assert stats["pid"] == pid and stats["session"].startswith("job-")
        n = (rank + 1) * d["RANK_N"]
        assert_site(stats, "rank_alloc", src, line, n, n * d["RANK_SIZE"])
    tree = tree_json(mt, mt.cwd)
    assert sorted(p["pid"] for p in tree["processes"]) == sorted(pids.values())
    assert all(p["depth"] == 0 for p in tree["processes"])  # two roots
    peaks = [p["peak_bytes"] for p in tree["processes"]]
    assert max(peaks) <= tree["combined_peak_bytes"] <= sum(peaks)
