"""Python thread names: a thread started with threading.Thread(name=...)
reads by that name in every report that shows threads (the CSV export's
thread_name column and the flame graph's thread list), under `memtide run`
and under memtide.Tracker, on every CPython 3.9-3.13 found. CPython never
gives these names to the OS, so the capture learns them from threading.

bytearray(n) makes one malloc of n + 1 bytes. The main thread's buffer is
made last and is the largest, so everything below is live at the peak.
"""

import csv
import io
import json
import re
import textwrap

import pytest

from mtlib import c_defines, package_env

DATA_RE = re.compile(
    r'<script type="application/json" id="memtide-data">(.*?)</script>', re.S)

WORK = """
def load():
    global loaded
    loaded = bytearray(300_000)  # @site:load


def write():
    global written
    written = bytearray(500_000)  # @site:write


def anon():
    global anon_buf
    anon_buf = bytearray(700_000)  # @site:anon


def rename():
    threading.current_thread().name = "renamed"
    global renamed
    renamed = bytearray(900_000)  # @site:rename


def work():
    threads = [threading.Thread(target=load, name="loader"),
               threading.Thread(target=write, name="writer"),
               threading.Thread(target=anon),
               threading.Thread(target=rename, name="before")]
    for t in threads:
        t.start()
        t.join()
    global top
    top = bytearray(4_000_000)  # @site:main
    return threads[2].name
"""

# memtide run: threading is imported from a function, once the program runs
# (unless a .pth file of the interpreter's site-packages imported it first).
RUN_SCRIPT = """
import sys

print("threading imported at start:", "threading" in sys.modules)
""" + WORK + """

def main():
    global threading
    import threading
    print("anon:", work())


main()
"""

TRACKER_SCRIPT = """
import sys
import threading

import memtide
""" + WORK + """

with memtide.Tracker(sys.argv[1]):
    print("anon:", work())
"""

SIZES = {"load": 300_001, "write": 500_001, "anon": 700_001, "rename": 900_001,
         "work": 4_000_001}


def write_script(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def csv_threads(mt, path):
    """{function of a buffer above: thread_name} from `transform csv -o -`."""
    res = mt.run("transform", "csv", "-o", "-", path)
    assert res.returncode == 0, f"memtide transform csv failed:\n{res}"
    rows = list(csv.DictReader(io.StringIO(res.out)))
    found = {}
    for function, size in SIZES.items():
        hits = [r for r in rows if int(r["size"]) == size
                and r["stack_trace"].startswith(function + ";")]
        assert len(hits) == 1 and hits[0]["num_allocations"] == "1", \
            f"expected one row of {size} B in {function}: {hits}"
        found[function] = hits[0]["thread_name"]
    return found


def flamegraph_threads(mt, path):
    """{function of a buffer above: thread label} from the flame graph's
    data, split by thread."""
    out = path.with_suffix(".html")
    res = mt.run("flamegraph", "--split-threads", "-f", "-o", out, path)
    assert res.returncode == 0, f"memtide flamegraph failed:\n{res}"
    doc = json.loads(DATA_RE.findall(out.read_text())[0])
    labels = {t[0]: t[2] for t in doc["threads"]}
    found = {}
    for function, size in SIZES.items():
        hits = [s for s in doc["stacks"] if s[0] and doc["frames"][s[0][-1]][0] == function
                and s[2] == size]
        assert len(hits) == 1, f"expected one stack of {size} B in {function}: {hits}"
        found[function] = labels[hits[0][1]]
    return found


def check_names(mt, path, anon_name):
    """Both reports say loader, writer, Python's own name for the unnamed
    thread, the name a thread gave itself (a later THREAD record wins),
    and, for the main thread, what they said before (not MainThread)."""
    expect = {"load": "loader", "write": "writer", "anon": anon_name, "rename": "renamed"}
    from_csv, from_html = csv_threads(mt, path), flamegraph_threads(mt, path)
    main = from_csv.pop("work")
    assert from_csv == expect, from_csv
    assert main not in ("MainThread", "") and not main.startswith("Thread-"), main
    assert from_html.pop("work").startswith(main + " ("), from_html
    assert from_html == expect, from_html


def anon_name(res):
    names = [line[len("anon: "):] for line in res.out.splitlines() if line.startswith("anon: ")]
    assert len(names) == 1 and names[0].startswith("Thread-"), res.out
    return names[0]


def test_thread_names_under_run(mt, python, tmp_path):
    script = write_script(tmp_path, "threads.py", RUN_SCRIPT)
    res, path = mt.capture(script, options=["--python", python])
    plain = mt.plain(python, script)
    assert res.out == plain.out, (res.out, plain.out)
    check_names(mt, path, anon_name(res))


def test_thread_names_under_tracker(mt, python, tmp_path):
    script = write_script(tmp_path, "threads.py", TRACKER_SCRIPT)
    path = tmp_path / "tracked.tide"
    res = mt.plain(python, script, path, env=package_env())
    assert res.returncode == 0, res
    check_names(mt, path, anon_name(res))


def test_program_that_never_imports_threading(mt, python, tmp_path):
    """Naming threads imports nothing into a program that has no threads."""
    script = write_script(tmp_path, "plain.py", """
        import sys
        buf = bytearray(1_000_000)
        print(sorted(m for m in ("threading", "_thread", "memtide") if m in sys.modules))
        """)
    res, _ = mt.capture(script, options=["--python", python])
    plain = mt.plain(python, script)
    assert res.out == plain.out, (res.out, plain.out)


def test_names_beyond_ascii(mt, python, tmp_path):
    """A UTF-8 name reads as given; a name that has no UTF-8 form (a lone
    surrogate) leaves the thread's earlier name and changes nothing for
    the program."""
    script = write_script(tmp_path, "names.py", """
        import threading


        def count():
            global counted
            counted = bytearray(600_000)  # @site:count


        def odd():
            global odd_buf
            odd_buf = bytearray(800_000)  # @site:odd


        for target, name in ((count, "zähler"), (odd, "x\\udcffy")):
            t = threading.Thread(target=target, name=name)
            t.start()
            t.join()
        print("done", ascii(t.name))
        """)
    res, path = mt.capture(script, options=["--python", python])
    assert res.out == mt.plain(python, script).out == "done 'x\\udcffy'\n", res.out
    rows = list(csv.DictReader(io.StringIO(mt.run("transform", "csv", "-o", "-", path).out)))
    names = {r["stack_trace"].split(";")[0]: r["thread_name"] for r in rows
             if int(r["size"]) in (600_001, 800_001)}
    assert names["count"] == "zähler", names
    assert names["odd"] not in ("", "zähler") and "x" not in names["odd"], names


RENAMED_BY_MAIN = """
    import threading

    started, named = threading.Event(), threading.Event()


    def work():
        global first, later
        first = bytearray(300_000)
        started.set()
        named.wait()
        later = bytearray(1_234_567)  # @site:later


    t = threading.Thread(target=work, name="before")
    t.start()
    started.wait()
    t.name = "renamed-by-main"
    named.set()
    t.join()
    t.name = "after-the-end"
    buf = bytearray(2_000_000)
    print("done", t.name)
    """


@pytest.mark.parametrize("how", ["run", "tracker"])
def test_thread_renamed_by_another(mt, python, tmp_path, how):
    """A live thread that another thread renames reads by its new name (the
    last name a thread had names it in reports); renaming it once it has
    ended changes no thread's name."""
    if how == "run":
        script = write_script(tmp_path, "renamed.py", RENAMED_BY_MAIN)
        res, path = mt.capture(script, options=["--python", python])
    else:
        script = write_script(tmp_path, "renamed.py", "import sys\nimport memtide\n"
                              "with memtide.Tracker(sys.argv[1]):\n" +
                              textwrap.indent(textwrap.dedent(RENAMED_BY_MAIN), "    "))
        path = tmp_path / "tracked.tide"
        res = mt.plain(python, script, path, env=package_env())
        assert res.returncode == 0, res
    assert res.out == "done after-the-end\n", res.out
    rows = list(csv.DictReader(io.StringIO(mt.run("transform", "csv", "-o", "-", path).out)))
    names = {int(r["size"]): r["thread_name"] for r in rows
             if int(r["size"]) in (300_001, 1_234_568, 2_000_001)}
    assert names[300_001] == names[1_234_568] == "renamed-by-main", names
    assert names[2_000_001] not in ("after-the-end", "renamed-by-main", "before"), names


def test_main_thread_renamed(mt, python, tmp_path):
    """The main thread keeps the process's name unless the program renames
    it; then its allocations read by the new name."""
    script = write_script(tmp_path, "main.py", """
        import threading

        threading.current_thread().name = "coordinator"
        buf = bytearray(2_000_000)  # @site:renamed_main
        """)
    _, path = mt.capture(script, options=["--python", python])
    rows = list(csv.DictReader(io.StringIO(mt.run("transform", "csv", "-o", "-", path).out)))
    hits = [r for r in rows if int(r["size"]) == 2_000_001]
    assert [(r["num_allocations"], r["thread_name"]) for r in hits] == [("1", "coordinator")], hits


def test_thread_named_by_another_thread(mt, build):
    """pthread_setname_np(other, name) after the other thread has already
    allocated: its later allocations read by the new name (a later THREAD
    record wins), in the CSV export as in stats."""
    prog = build.program("rename_other")
    d = c_defines(build.source("rename_other"))
    res, path = mt.capture(prog)
    rows = list(csv.DictReader(io.StringIO(mt.run("transform", "csv", "-o", "-", path).out)))
    after = [r for r in rows if r["stack_trace"].startswith("after_rename;")]
    assert len(after) == 1, after
    assert after[0]["thread_name"] == "renamed-late", after
    assert int(after[0]["num_allocations"]) == d["RN_AFTER_N"], after
    assert int(after[0]["size"]) == d["RN_AFTER_N"] * d["RN_AFTER_SIZE"], after
