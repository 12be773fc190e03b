"""The live view's terminal UI and its plain-text form (src/live/tui.c).

The UI is driven in tmux on a made-up source with known rows, threads and
stacks (tests/programs/live_fake.c, built here with tui.c and output.c):
the rows, their sizes and order after each key, the thread keys, the
filter, the stack view, pausing, resizing, a terminal too small, the
program's end, and that q gives the terminal back.  mt_live_print is
checked line by line.  Then the real thing: `memtide run --live` and
`memtide live PORT` on a program holding 10/20/30 MiB in three functions
(tests/programs/tui_hold.c).
"""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import PROGRAMS, REPO, run_process
from mtlib import KiB, MiB, c_defines, site_lines
from tmuxlib import Tmux

# The made-up rows of live_fake.c: id, function, file, line, own bytes,
# own count, total bytes, total count, thread (0 main, 1 loader).
ROWS = [
    (1, "main", "app.c", 50, 0, 0, 60 * MiB + KiB, 515, 0),
    (2, "thirty", "app.c", 30, 30 * MiB, 1, 30 * MiB, 1, 0),
    (3, "twenty", "app.c", 20, 20 * MiB, 1, 20 * MiB, 1, 0),
    (4, "ten", "app.c", 10, 10 * MiB, 1, 10 * MiB, 1, 0),
    (5, "many_small", "lib.c", 7, KiB, 512, KiB, 512, 0),
    (6, "loader_run", "loader.c", 5, 4 * MiB, 2, 4 * MiB, 2, 1),
    (7, "evil\x1b[31mred", "x\ty.c", 3, 100, 1, 100, 1, 0),
]
# The names as a terminal shows them: control characters escaped.
SAFE = {"evil\x1b[31mred": "evil\\x1b[31mred", "x\ty.c": "x\\ty.c"}


def size(n):
    """memtide's sizes (mt_fmt_size)."""
    if n < 1024:
        return f"{n} B"
    v, unit = float(n), -1
    while v >= 1024 and unit < 5:
        v /= 1024
        unit += 1
    return f"{v:.2f} {['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'][unit]}"


def site(r):
    return f"{SAFE.get(r[1], r[1])} at {SAFE.get(r[2], r[2])}:{r[3]}"


def rows_of(thread=None):
    return [r for r in ROWS if thread is None or r[8] == thread]


def heap_of(thread=None):
    return sum(r[4] for r in rows_of(thread))


def row_line(r, heap):
    return (f"{size(r[6]):>11} {100 * r[6] / heap:5.1f}% {size(r[4]):>11} "
            f"{100 * r[4] / heap:5.1f}% {r[7]:>11,}  {site(r)}")


HEADING = (f"{'total':>11} {'share':>6} {'own':>11} {'share':>6} {'allocs':>11}  "
           "function at file:line")


def by_total(rows):
    return sorted(rows, key=lambda r: (-r[6], r[0]))


def by_own(rows):
    return sorted(rows, key=lambda r: (-r[4], -r[6], r[0]))


def by_allocs(rows):
    return sorted(rows, key=lambda r: (-r[7], -r[6], r[0]))


@pytest.fixture(scope="session")
def live_fake(tmp_path_factory, memtide_bin):
    """live_fake built with the UI; with ASan+UBSan when memtide_bin has them."""
    out = tmp_path_factory.mktemp("tui") / "live_fake"
    san = []
    if b"__asan_init" in memtide_bin.read_bytes():
        san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
               "-fno-omit-frame-pointer"]
    cmd = [os.environ.get("CC") or "cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror",
           "-Wno-missing-field-initializers", "-O1", "-g", "-D_GNU_SOURCE", *san,
           "-I", str(REPO / "src" / "live"), "-o", str(out),
           str(PROGRAMS / "live_fake.c"), str(REPO / "src" / "live" / "tui.c"),
           str(REPO / "src" / "report" / "output.c"), "-lncursesw", "-ltinfo"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"compiling live_fake failed:\n{proc.stderr}"
    return out


@pytest.fixture
def tui(live_fake, tmp_path):
    """tui(*args, width=, height=) -> a Tmux running live_fake ARGS."""
    started = []

    def start(*args, width=100, height=30, env=None):
        t = Tmux([live_fake, *args], width=width, height=height, env=env, cwd=tmp_path)
        started.append(t)
        return t

    yield start
    for t in started:
        t.close()


def table(lines):
    """The table rows on screen: the lines after the heading, up to the footer."""
    i = next(i for i, line in enumerate(lines) if line == HEADING)
    out = []
    for line in lines[i + 1:]:
        if not line or line.startswith("q quit") or line.startswith("program output:"):
            break
        out.append(line)
    return out


def expect_rows(t, rows, thread=None):
    heap = heap_of(thread)
    want = [row_line(r, heap) for r in rows]
    t.wait_for(lambda lines: HEADING in lines and table(lines) == want,
               what="rows\n" + "\n".join(want))


def reverse_lines(t):
    """The lines whose first character is in reverse video (tmux carries
    attributes over from one line to the next in capture-pane -e)."""
    out, reverse = [], False
    for line in t.screen(escapes=True):
        first = None
        for m in re.finditer(r"\x1b\[([0-9;]*)m|([^\x1b])", line):
            if m.group(2) is not None:
                first = reverse if first is None else first
                continue
            for code in (m.group(1) or "0").split(";"):
                if code in ("0", ""):
                    reverse = False
                elif code == "7":
                    reverse = True
                elif code == "27":
                    reverse = False
        if first:
            out.append(re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip())
    return out


def selected(t):
    """The table row shown in reverse video."""
    rows = [line for line in reverse_lines(t)
            if line != HEADING and not line.startswith("q quit")]
    return rows[0] if rows else None


# --------------------------------------------------------------------------
# mt_live_print


def test_print_exact(live_fake, tmp_path):
    res = run_process([live_fake, "--print", "100", "4"], tmp_path)
    assert res.returncode == 0, res
    heap = heap_of()
    assert heap == 64 * MiB + 1124
    expected = [
        "pid 4242  elapsed 12.3 s  python3 app.py --size 10",
        "heap 64.00 MiB  RSS 70.00 MiB  peak 64.00 MiB at 3.5 s  live allocations 518",
        "heap over time  \u2582\u2583\u2584\u2585\u2585\u2586\u2588",
        "",
        HEADING,
        *[row_line(r, heap) for r in by_total(ROWS)[:4]],
        "(3 more sites)",
    ]
    assert res.out.split("\n")[:-1] == expected
    # one row spelled out, as a check of the helpers above
    assert expected[6] == ("  30.00 MiB  46.9%   30.00 MiB  46.9%           1  "
                           "thirty at app.c:30")


def test_print_all_rows_no_width(live_fake, tmp_path):
    res = run_process([live_fake, "--print", "0", "-1"], tmp_path)
    lines = res.out.split("\n")[:-1]
    i = lines.index(HEADING)
    assert lines[i + 1:] == [row_line(r, heap_of()) for r in by_total(ROWS)]
    # the escape sequence from the program is shown, never sent
    assert "\x1b" not in res.out and "evil\\x1b[31mred at x\\ty.c:3" in res.out


def test_print_fits_width_and_says_ended(live_fake, tmp_path):
    (tmp_path / "end").touch()
    res = run_process([live_fake, "--print", "60", "2", "--end-file", "end"], tmp_path)
    lines = res.out.split("\n")[:-1]
    assert lines[3] == "program ended, exit status 3"
    assert all(len(line) <= 60 for line in lines), lines
    row = row_line(by_total(ROWS)[0], heap_of())
    assert lines[lines.index(HEADING[:57] + "...") + 1] == row[:57] + "..."
    assert lines[-1] == "(5 more sites)"


# --------------------------------------------------------------------------
# No terminal


def test_no_terminal(live_fake, tmp_path):
    res = run_process([live_fake], tmp_path)
    assert res.returncode == 1
    assert res.err == "live_fake: the live view needs a terminal: standard input is not one\n"


@pytest.mark.parametrize("env, reason", [
    (["-u", "TERM"], "the live view needs a terminal: TERM is not set"),
    (["TERM=no-such-terminal"], "the live view does not know terminal type 'no-such-terminal'"),
    (["TERM=dumb"], "the live view cannot move the cursor on terminal type 'dumb'"),
])
def test_unusable_terminal(live_fake, tmp_path, env, reason):
    t = Tmux(["env", *env, live_fake], cwd=tmp_path)
    try:
        t.wait_text("[exit 1]")
        assert f"live_fake: {reason}" in t.screen()
    finally:
        t.close()


# --------------------------------------------------------------------------
# The terminal UI in tmux


def test_rows_sizes_and_sort_keys(tui):
    t = tui()
    expect_rows(t, by_total(ROWS))
    lines = t.screen()
    assert lines[0].startswith("pid 4242  elapsed ")
    assert lines[0].endswith("python3 app.py --size 10")
    assert lines[1] == ("heap 64.00 MiB  RSS 70.00 MiB  peak 64.00 MiB at 3.5 s  "
                        "live allocations 518")
    assert lines[2] == "heap over time  \u2582\u2583\u2584\u2585\u2585\u2586\u2588"
    assert lines[3] == "7 sites  sorted by total  thread: all"
    assert lines[-1].startswith("q quit  t/o/a sort")
    t.keys("o")
    expect_rows(t, by_own(ROWS))
    assert "sorted by own" in t.screen()[3]
    t.keys("a")
    expect_rows(t, by_allocs(ROWS))
    t.keys("t")
    expect_rows(t, by_total(ROWS))
    t.keys("q")
    t.wait_text("[exit 0]")
    assert "live_fake: quit" in t.text()
    assert not t.alternate_screen()


def test_threads_by_name(tui):
    t = tui()
    expect_rows(t, by_total(ROWS))
    t.keys("n")
    expect_rows(t, by_total(rows_of(0)), thread=0)
    assert t.screen()[3] == "6 sites  sorted by total  thread: main (1 of 2)"
    assert t.screen()[1].startswith(f"heap {size(heap_of(0))}  ")
    t.keys("n")
    expect_rows(t, rows_of(1), thread=1)
    assert t.screen()[3] == "1 site  sorted by total  thread: loader (2 of 2)"
    t.keys("n")
    expect_rows(t, by_total(ROWS))
    assert t.screen()[3].endswith("thread: all")
    t.keys("m")
    expect_rows(t, rows_of(1), thread=1)
    t.keys("m")
    expect_rows(t, by_total(rows_of(0)), thread=0)


def test_filter(tui):
    t = tui()
    expect_rows(t, by_total(ROWS))
    t.keys("/")
    t.type("app.c")
    expect_rows(t, [r for r in by_total(ROWS) if r[2] == "app.c"])
    t.keys("BSpace", "BSpace", "BSpace", "BSpace", "BSpace")
    t.type("THI")     # case does not matter; q typed here would not quit
    expect_rows(t, [ROWS[1]])
    assert "filter: THI_" in t.screen()[-1]
    t.keys("Enter")
    t.wait_for(lambda lines: lines[-1].startswith("q quit"), what="the keys again")
    assert t.screen()[3].endswith("filter: THI")
    t.keys("Escape")
    expect_rows(t, by_total(ROWS))
    t.keys("/")
    t.type("nothing-like-this")
    t.wait_text("(no site matches the filter)")
    t.keys("Escape")
    expect_rows(t, by_total(ROWS))


def test_stack_of_selected_row(tui):
    t = tui()
    expect_rows(t, by_total(ROWS))
    heap = heap_of()
    assert selected(t) == row_line(by_total(ROWS)[0], heap)
    t.keys("Down")
    t.wait_for(lambda _: selected(t) == row_line(ROWS[1], heap), what="thirty selected")
    t.keys("Enter")
    lines = t.wait_text("#0   thirty at app.c:30")
    i = next(i for i, line in enumerate(lines) if line.startswith("stack of "))
    assert lines[i] == "stack of thirty at app.c:30, innermost first    Enter/Esc back"
    assert lines[i + 1:i + 5] == ["#0   thirty at app.c:30", "#1   main at app.c:50",
                                  "#2   __libc_start_main", "#3   _start"]
    t.keys("Escape")
    expect_rows(t, by_total(ROWS))
    assert selected(t) == row_line(ROWS[1], heap)
    t.keys("Enter")
    t.wait_text("#0   thirty at app.c:30")
    t.keys("Enter")
    expect_rows(t, by_total(ROWS))


def test_pause(tui):
    t = tui()
    expect_rows(t, by_total(ROWS))
    t.keys("p")
    t.wait_for(lambda lines: lines[0].endswith("PAUSED"), what="PAUSED")
    first = t.screen()[0]
    time.sleep(0.6)
    assert t.screen()[0] == first, "the elapsed time moved while paused"
    t.keys("o")        # sorting works on the frozen rows
    expect_rows(t, by_own(ROWS))
    t.keys("p")
    t.wait_for(lambda lines: not lines[0].endswith("PAUSED") and lines[0] != first,
               what="the display running again")


def test_scrolling(tui):
    t = tui("--rows", "200", height=30)
    t.wait_text("207 sites")
    gen = [(100 + i, f"gen_{i}", "gen.c", i + 1, (i * 2654435761) % (1 << 32) % 100000 + 1)
           for i in range(200)]
    smallest = min(gen, key=lambda g: (g[4], -g[0]))
    t.keys("End")
    t.wait_for(lambda _: (selected(t) or "").endswith(f"gen_{smallest[0] - 100} at gen.c:"
                                                      f"{smallest[3]}"),
               what="the last row selected")
    t.keys("Home")
    t.wait_for(lambda _: (selected(t) or "").endswith("main at app.c:50"), what="first row")
    t.keys("NPage")
    page = len(table(t.screen()))
    assert page == 30 - 4 - 1 - 1
    t.wait_for(lambda lines: table(lines)[-1] == selected(t), what="a page down")
    t.keys("PPage", "Down", "Down", "Up")
    t.wait_for(lambda lines: table(lines)[1] == selected(t), what="the second row")


def test_resize_and_too_small(tui):
    t = tui(width=100, height=30)
    expect_rows(t, by_total(ROWS))
    t.resize(80, 24)
    heap = heap_of()
    want = [row_line(r, heap) for r in by_total(ROWS)]
    lines = t.wait_for(lambda lines: len(lines) == 24 and HEADING in lines
                       and table(lines) == want, what="the table at 80x24")
    assert all(len(line) <= 80 for line in lines)
    assert lines[-1].startswith("q quit")
    t.resize(160, 40)
    lines = t.wait_for(lambda lines: len(lines) == 40 and table(lines) == want,
                       what="the table at 160x40")
    t.resize(60, 20)
    t.wait_text("memtide live needs a terminal of at least 80x24; this one is")
    assert "60x20. Enlarge it, or press q to quit." in t.text().replace("\n", " ")
    t.resize(100, 30)
    expect_rows(t, by_total(ROWS))
    t.resize(60, 20)
    t.wait_text("this one is")
    t.keys("q")
    t.wait_text("[exit 0]")


def test_program_end_and_output_path(tui, tmp_path):
    out = tmp_path / "program-output.txt"
    t = tui("--end-file", "end", "--output", str(out))
    expect_rows(t, by_total(ROWS))
    assert f"program output: {out}" in t.text()
    (tmp_path / "end").touch()
    lines = t.wait_text("program ended, exit status 3 \u2014 press q")
    assert lines[3].startswith("program ended, exit status 3 \u2014 press q  7 sites")
    first = lines[0]
    time.sleep(0.5)
    assert t.screen()[0] == first, "elapsed moved after the end"
    t.keys("n")       # the final state still answers thread keys
    expect_rows(t, by_total(rows_of(0)), thread=0)
    t.keys("q")
    t.wait_text("[exit 0]")
    assert not t.alternate_screen()


def test_source_lost_after_end_keeps_state(tui, tmp_path):
    t = tui("--end-file", "end", "--fail-after-end")
    expect_rows(t, by_total(ROWS))
    (tmp_path / "end").touch()
    t.wait_text("live source lost: connection closed")
    expect_rows(t, by_total(ROWS))
    assert "program ended, exit status 3" in t.text()
    t.keys("o")
    expect_rows(t, by_own(ROWS))
    t.keys("q")
    t.wait_text("[exit 0]")


def test_source_lost_while_running(tui, tmp_path):
    t = tui("--fail-file", "fail")
    expect_rows(t, by_total(ROWS))
    (tmp_path / "fail").touch()
    t.wait_text("[exit 1]")
    assert "live_fake: the connection to the program was lost" in t.screen()
    assert not t.alternate_screen()


def test_ascii_terminal(tui):
    t = tui(env={**os.environ, "LANG": "C", "LC_ALL": "C"})
    expect_rows(t, by_total(ROWS))
    assert t.screen()[2] == "heap over time  .-:==+#"
    assert "p pause  arrows scroll" in t.screen()[-1]


# --------------------------------------------------------------------------
# End to end: `memtide run --live` on a program holding 10/20/30 MiB


def test_run_live_end_to_end(mt, build, tmp_path):
    prog = build.program("tui_hold")
    src = build.source("tui_hold")
    d, lines_at = c_defines(src), site_lines(src)
    heap = d["TEN"] + d["TWENTY"] + d["THIRTY"]
    assert heap == 60 * MiB

    def row(name, own, count):
        total = heap if name == "main" else own
        return (f"{size(total):>11} {100 * total / heap:5.1f}% {size(own):>11} "
                f"{100 * own / heap:5.1f}% {count:>11,}  {name} at ", f"tui_hold.c:{lines_at[name]}")

    main = row("main", 0, 3)
    thirty, twenty, ten = (row("thirty", d["THIRTY"], 1), row("twenty", d["TWENTY"], 1),
                           row("ten", d["TEN"], 1))

    def shows(want):
        def pred(lines):
            if HEADING not in lines:
                return False
            rows = table(lines)
            return len(rows) == len(want) and all(
                r.startswith(a) and r.endswith(b) for r, (a, b) in zip(rows, want))
        return pred

    t = Tmux([mt.bin, "run", "-o", "live.tide", "--live", prog, "stop"], cwd=tmp_path)
    try:
        t.wait_for(shows([main, thirty, twenty, ten]), what="the rows by total")
        lines = t.screen()
        assert lines[0].endswith("tui_hold stop")
        assert lines[1].startswith("heap 60.00 MiB  RSS ")
        assert "live allocations 3" in lines[1]
        assert "program output: " in t.text() and "live.out" in t.text()
        t.keys("o")
        t.wait_for(shows([thirty, twenty, ten, main]), what="the rows by own")
        t.keys("a")
        t.wait_for(shows([main, thirty, twenty, ten]), what="the rows by allocations")
        t.keys("t", "/")
        t.type("twenty")
        t.wait_for(shows([twenty]), what="the filter")
        t.keys("Escape")
        t.wait_for(shows([main, thirty, twenty, ten]), what="the filter cleared")
        t.keys("Down", "Enter")
        lines = t.wait_text("#0   thirty at ")
        stack = [line for line in lines if line.startswith("#")]
        assert stack[0].endswith(f"tui_hold.c:{lines_at['thirty']}")
        assert stack[1].startswith("#1   main at ")
        assert stack[1].endswith(f"tui_hold.c:{lines_at['main']}")
        t.keys("Escape", "n")
        t.wait_for(lambda lines: "(1 of 1)" in lines[3], what="the program's one thread")
        t.wait_for(shows([main, thirty, twenty, ten]), what="the rows of that thread")
        t.keys("n")
        t.wait_for(lambda lines: lines[3].endswith("thread: all"), what="all threads")
        t.resize(80, 24)
        t.wait_for(lambda lines: len(lines) == 24 and shows([main, thirty, twenty, ten])(lines),
                   what="the rows at 80x24")
        (tmp_path / "stop").touch()
        t.wait_text("program ended, exit status 5 \u2014 press q")
        t.keys("q")
        t.wait_text("[exit 5]")
        assert not t.alternate_screen()
    finally:
        t.close()
    stats = mt.stats_json(tmp_path / "live.tide")
    assert stats["peak_bytes"] == heap


def test_remote_viewers_in_tmux(mt, build, tmp_path):
    """`memtide live PORT` in tmux on a --live-remote program: two viewers at
    once, one killed with SIGKILL and started again, the end seen by both."""
    prog = build.program("tui_hold")
    d = c_defines(build.source("tui_hold"))
    heap = d["TEN"] + d["TWENTY"] + d["THIRTY"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = subprocess.Popen([str(mt.bin), "run", "-q", "-o", "remote.tide", "--live-remote",
                            "--live-port", str(port), "--no-wait", str(prog), "stop"],
                           cwd=str(tmp_path), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           start_new_session=True)
    viewers = []

    def viewer():
        v = Tmux([mt.bin, "live", str(port)], cwd=tmp_path)
        viewers.append(v)
        return v

    def shows_rows(v):
        def pred(lines):
            rows = table(lines) if HEADING in lines else []
            return (len(rows) == 4 and rows[0].startswith(f"{size(heap):>11} 100.0% ")
                    and [r.split("  ")[-1].split(" at ")[0] for r in rows]
                    == ["main", "thirty", "twenty", "ten"])
        return v.wait_for(pred, what="the four rows")

    try:
        a, b = viewer(), viewer()
        shows_rows(a)
        shows_rows(b)
        # the viewer itself, not its shell: SIGKILL leaves no chance to clean up
        shell = int(a._tmux("display-message", "-p", "-t", "t", "#{pane_pid}").strip())
        child = int(subprocess.run(["pgrep", "-P", str(shell)], capture_output=True,
                                   text=True).stdout.split()[0])
        os.kill(child, signal.SIGKILL)
        a.wait_text("[exit 137]")
        c = viewer()
        shows_rows(c)
        shows_rows(b)
        (tmp_path / "stop").touch()
        for v in (b, c):
            v.wait_text("program ended, exit status 5 \u2014 press q")
            v.keys("q")
            v.wait_text("[exit 0]")
        _, err = run.communicate(timeout=30)
        assert run.returncode == 5, err.decode(errors="replace")
    finally:
        for v in viewers:
            v.close()
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.communicate()


def test_terminal_closed_ends_the_viewer(mt, build, tmp_path):
    """The window goes away (tmux killed) while `run --live` shows a
    program: the UI ends instead of waiting for keys that cannot come."""
    t = Tmux([mt.bin, "run", "-q", "-o", "live.tide", "--live", build.program("tui_hold"),
              "stop"], cwd=tmp_path)
    try:
        t.wait_text("main at ")
        shell = int(t._tmux("display-message", "-p", "-t", "t", "#{pane_pid}").strip())
        pid = int(subprocess.run(["pgrep", "-P", str(shell)], capture_output=True,
                                 text=True).stdout.split()[0])
    finally:
        t.close()
    end = time.monotonic() + 20
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < end:
        time.sleep(0.1)
    if os.path.exists(f"/proc/{pid}"):
        os.kill(pid, signal.SIGKILL)
        pytest.fail("memtide run --live kept running after its terminal was closed")
    assert (tmp_path / "live.tide").exists()
