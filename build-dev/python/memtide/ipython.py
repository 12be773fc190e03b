"""memtide in IPython and Jupyter: `%load_ext memtide`, then

    %memtide_watch on [--perf]|off
                                 after each cell: "In [4] used 762.9 MiB RAM in
                                 0.32s (system mean cpu 6%, single max cpu 100%),
                                 peaked 0.0 MiB above final usage, current RAM
                                 usage now 1595.5 MiB"; the figures of the last
                                 cell are in memtide.ipython.last; --perf adds
                                 cycles, instructions, IPC and cache misses
    %memit [-r N] [-q] [-o] statement / %%memit [-r N] [-q] [-o]
                                 peak memory and increment of a statement or
                                 cell; -r N runs it N times and keeps the
                                 biggest peak, -q prints nothing, -o returns
                                 the Measurement
    %%memtide_flamegraph [--leaks] [--temporal] [--native] [--inline] [-o FILE]
                                 runs the cell tracked and writes its flame
                                 graph, starting at the cell's own code, to
                                 FILE (default memtide-flamegraph-cell<N>.html
                                 in the directory the extension was loaded
                                 in); a notebook shows it in an IFrame, or
                                 embedded in the notebook with --inline (about
                                 0.5 MB per cell); a terminal prints the path
    %memtide_top [N] [--all]     the top allocation sites of the last measured
                                 cell; --all also shows IPython's own
    %memtide_lines -f FUNC [-m SIZE] statement
                                 runs the statement tracked and prints the
                                 memory of each line of FUNC (like %mprun)
    %memtide_census [-n N] [--diff] [--by type|site|type,site]
                                 the live Python objects by type, like guppy's
                                 hp.heap() (memtide.census()); --diff: what
                                 changed since the previous %memtide_census

The peaks come from memtide's own accounting of every allocation made by
the cell's code (a Tracker started when the cell's code starts, stopped
when it ends), not from polling the RSS, so short peaks are not missed and
IPython's own work around the cell (parsing, compiling, history) is not
counted.  Sizes are in binary units (MiB = 2^20 bytes).
"""
import ast
import html
import json
import linecache
import os
import re
import tempfile

from . import _cli
from ._measure import MiB, Session, format_size, rss_bytes, short_path

last = None         # Measurement of the last watched or measured cell
last_census = None  # Census of the last %memtide_census
_watch = None
_base_dir = None    # where the extension was loaded: the notebook's directory

# Files of the machinery that runs cells (codeop: IPython compiling each
# statement of the cell); %memtide_top hides rows there.
_IPYTHON_FILES = re.compile(r"[/\\](IPython|ipykernel|ipykernel_launcher\.py|jupyter_client|"
                            r"zmq|tornado|traitlets|prompt_toolkit|comm|debugpy|codeop\.py)"
                            r"([/\\]|$)")
# The magics that only report: a cell made of one of them is not measured.
_REPORTING = re.compile(r"\s*%(memtide_top|memtide_watch|memtide_census)\b[^\n]*\s*$")


def _discard(m):
    try:
        os.unlink(m.capture)
    except OSError:
        pass


def _set_last(m):
    """Keeps the newest measurement; the capture it replaces is removed."""
    global last
    if last is not None and last.capture != m.capture:
        _discard(last)
    last = m


def _abandon_watched_cell():
    """Stops the tracker of the cell being watched, and drops its capture:
    a magic that measures the cell itself takes over."""
    if _watch and _watch.session:
        session, _watch.session = _watch.session, None
        session.tracker.stop()
        try:
            os.unlink(session.path)
        except OSError:
            pass


def _line(count, m):
    return ("In [%s] used %.1f MiB RAM in %.2fs (system mean cpu %.0f%%, single max cpu "
            "%.0f%%), peaked %.1f MiB above final usage, current RAM usage now %.1f MiB" % (
                count, m.memory_delta, m.time_delta, m.cpu_mean, m.cpu_max, m.memory_peak,
                m.memory_usage))


def _cell_started():
    """Called by the first statement of a watched cell (see _Watcher)."""
    if _watch and _watch.armed:
        _watch.armed = False
        _watch.session = Session().start()
        if _watch.counters:
            _watch.perf0 = _watch.counters.read()


class _Watcher(ast.NodeTransformer):
    """Measures each cell from its first statement to the end of the cell.

    pre_run_cell arms it; IPython then applies it, as an AST transformer, to
    the cell, and it puts a call to _cell_started() before the cell's first
    statement (after any `from __future__` import), so parsing and
    compiling the cell are not measured.  post_run_cell stops the tracker
    and prints the line."""

    def __init__(self, shell, perf=False):
        self.shell = shell
        self.session = None
        self.armed = False
        self.nested = 0     # cells run by the measured cell (run_cell inside it)
        self.counters = None    # hardware counters (--perf), when available
        if perf:
            from . import _perf
            try:
                self.counters = _perf.Counters()
            except _perf.Unavailable as e:
                print("perf counters unavailable: %s" % e)

    def visit_Module(self, node):
        if not self.armed:
            return node
        call = ast.parse("__import__('sys').modules['memtide.ipython']._cell_started()").body[0]
        at = 0
        while at < len(node.body) and isinstance(node.body[at], ast.ImportFrom) and \
                node.body[at].module == "__future__":
            at += 1
        node.body.insert(at, ast.copy_location(call, node.body[at] if at < len(node.body)
                                               else ast.Pass(lineno=1, col_offset=0)))
        return ast.fix_missing_locations(node)

    def pre(self, info=None):
        if self.session:        # a cell run by the measured cell: part of it
            self.nested += 1
            return
        raw = getattr(info, "raw_cell", None) or ""
        self.armed = not _REPORTING.fullmatch(raw)

    def post(self, result=None):
        if self.nested:
            self.nested -= 1
            return
        self.armed = False
        if not self.session:
            return
        session, self.session = self.session, None
        try:
            m = session.stop()
        except RuntimeError as e:
            print("memtide: %s" % e)
            return
        m.cell = getattr(getattr(result, "info", None), "raw_cell", None)
        m.count = getattr(result, "execution_count", None) or self.shell.execution_count
        line = _line(m.count, m)
        if self.counters:
            from . import _perf
            counts = _perf.delta(self.perf0, self.counters.read())
            m.__dict__.update(counts)
            line += "; " + _perf.describe(counts)
        _set_last(m)
        print(line)


def _unwatch(shell):
    global _watch
    if _watch:
        shell.events.unregister("pre_run_cell", _watch.pre)
        shell.events.unregister("post_run_cell", _watch.post)
        if _watch.counters:
            _watch.counters.close()
        if _watch in shell.ast_transformers:
            shell.ast_transformers.remove(_watch)
        _abandon_watched_cell()
        _watch = None


def _compile(shell, code):
    """(module code, last expression code or None, file name) of a cell or
    statement, transformed as IPython does (magics, !commands, the user's
    AST transformers) and named as IPython names cells, so its frames read
    like the cell's own."""
    source = shell.transform_cell(code)
    name = shell.compile.cache(source, shell.execution_count)
    tree = shell.transform_ast(shell.compile.ast_parse(source, filename=name))
    last_expr = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last_expr = compile(ast.Expression(tree.body.pop().value), name, "eval",
                            shell.compile.flags, dont_inherit=True)
    body = compile(tree, name, "exec", shell.compile.flags, dont_inherit=True)
    return body, last_expr, name


def _measure(shell, code, native=False):
    """Runs code in the user's namespace with a tracker on from its first
    statement to its last; returns (measurement, value of the last
    expression, the code's file name, the exception it raised or None)."""
    body, last_expr, name = _compile(shell, code)
    session = Session(native=native).start()
    value = error = None
    try:
        exec(body, shell.user_global_ns, shell.user_ns)
        if last_expr:
            value = eval(last_expr, shell.user_global_ns, shell.user_ns)
    except Exception as e:
        error = e
    finally:
        m = session.stop()
        m.cell, m.count = code, shell.execution_count
    return m, value, name, error


def _lines_table(code, capture, min_size=None):
    """`memtide lines` for one function of a capture, with its source
    from linecache (where IPython keeps cells that are not files)."""
    args = ["lines", "--function", code.co_name, "--file", code.co_filename, "-w", "0"]
    if min_size:
        args += ["--min", min_size]
    source = None
    if not os.path.isfile(code.co_filename):
        lines = linecache.getlines(code.co_filename)
        if lines:
            fd, source = tempfile.mkstemp(prefix="memtide-source-", suffix=".py")
            with os.fdopen(fd, "w") as f:
                f.writelines(lines)
            args += ["--source", source]
    try:
        return _cli.run(*args, capture).rstrip("\n")
    except RuntimeError as e:
        return "%%memtide_lines: %s" % str(e).replace("memtide: ", "", 1)
    finally:
        if source:
            os.unlink(source)


def _from_cell(error, name):
    """The cell's exception with its traceback starting at the cell's code
    (memtide's frames dropped)."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != name:
        tb = tb.tb_next
    return error.with_traceback(tb) if tb is not None else error


def _rich_front_end(shell):
    """True in a notebook (or any front end that shows HTML)."""
    return "text/html" in getattr(shell.display_formatter, "active_types", ())


def _cell_title(count, cell):
    first = next((line.strip() for line in cell.splitlines() if line.strip()), "")
    if len(first) > 80:
        first = first[:77] + "..."
    return "cell [%s]: %s" % (count, first)


_DATA_RE = re.compile(r'(<script type="application/json" id="memtide-data">)(.*?)(</script>)',
                      re.S)


def _start_at_cell(page, cell_file, title):
    """The flame graph page with every stack of the cell starting at the
    cell's own code (the frames of ipykernel, asyncio, IPython and memtide
    above it hidden), and the cell as its title.  Stacks of this thread
    that never reached the cell's code become one `[outside the cell]`
    frame; other threads' stacks stay as they are."""
    found = _DATA_RE.search(page)
    if not found:
        return page
    doc = json.loads(found.group(2))
    frames = doc["frames"]
    outside = None
    for stack in doc["stacks"]:
        ids = stack[0]
        at = next((i for i, f in enumerate(ids) if frames[f][1] == cell_file), None)
        if at is not None:
            stack[0] = ids[at:]
        elif any(frames[f][1] == __file__ or frames[f][1].endswith(
                os.sep + os.path.join("memtide", "ipython.py")) for f in ids):
            if outside is None:
                frames.append(["[outside the cell]", "", 0, 0, 0])
                outside = len(frames) - 1
            stack[0] = [outside]
    doc["meta"]["title"] = doc["meta"]["command"] = title
    doc["meta"].setdefault("notes", []).append("frames above the cell's code are hidden")
    data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page = page[:found.start(2)] + data + page[found.end(2):]
    return re.sub(r"<title>.*?</title>", lambda _: "<title>%s</title>" % html.escape(
        "memtide flamegraph: " + title), page, count=1, flags=re.S)


try:
    from IPython.core.magic import Magics, line_cell_magic, line_magic, cell_magic, magics_class
    from IPython.core.error import UsageError
except ImportError:     # IPython is optional
    Magics = object
    UsageError = ValueError

    def magics_class(c):
        return c

    def line_magic(f):
        return f

    cell_magic = line_cell_magic = line_magic


@magics_class
class MemtideMagics(Magics):
    @line_magic
    def memtide_watch(self, line):
        """%memtide_watch on [--perf] | off: the memory line after each cell;
        --perf adds the cell's hardware counters (cycles, instructions, IPC,
        cache references and misses), also in memtide.ipython.last."""
        global _watch
        args = line.lower().split()
        perf = "--perf" in args
        args = [a for a in args if a != "--perf"]
        if len(args) > 1 or (args and args[0] not in ("on", "off")) or \
                (perf and args == ["off"]):
            raise UsageError("usage: %memtide_watch on [--perf] | off")
        _unwatch(self.shell)
        if args != ["off"]:
            _watch = _Watcher(self.shell, perf=perf)
            self.shell.events.register("pre_run_cell", _watch.pre)
            self.shell.events.register("post_run_cell", _watch.post)
            self.shell.ast_transformers.append(_watch)

    @line_cell_magic
    def memit(self, line, cell=None):
        """%memit [-r N] [-q] [-o] statement / %%memit [-r N] [-q] [-o]

        The peak memory while the statement (or the cell) runs and its
        increment: the most its allocations held at once.  Prints
        "peak memory: X MiB, increment: Y MiB" (MiB = 2^20 bytes).

        -r N  run it N times (default 1) and report the biggest peak
        -q    print nothing
        -o    return the Measurement (of the run with the biggest peak)
        """
        _abandon_watched_cell()
        opts, stmt = self.parse_options(line, "r:t:i:cqo", posix=False, strict=False,
                                        preserve_non_opts=True)
        for o, why in (("t", "a timeout"), ("i", "a sampling interval (memtide records "
                                                   "every allocation)"),
                       ("c", "child processes")):
            if o in opts:
                raise UsageError("%%memit: -%s (%s) is not supported; options: -r N, -q, -o"
                                 % (o, why))
        try:
            repeat = int(opts.get("r", 1))
        except ValueError:
            repeat = 0
        if repeat < 1:
            raise UsageError("%%memit: -r takes a number of runs (1 or more), not %r"
                             % (opts.get("r"),))
        code = cell if cell is not None else stmt
        if not code.strip():
            raise UsageError("usage: %memit [-r N] [-q] [-o] statement")
        before = rss_bytes()
        best = None
        for _ in range(repeat):
            m, _, name, error = _measure(self.shell, code)
            if error is not None:
                _set_last(m)
                raise _from_cell(error, name)
            if best is None or m.heap_peak > best.heap_peak:
                best, m = m, best
            if m is not None:
                _discard(m)
        _set_last(best)
        if "q" not in opts:
            print("peak memory: %.2f MiB, increment: %.2f MiB" % (
                (before + best.heap_peak) / MiB, best.heap_peak / MiB))
        return best if "o" in opts else None

    @line_magic
    def memtide_lines(self, line):
        """%memtide_lines -f FUNC [-f FUNC ...] [-m SIZE] statement

        Runs the statement tracked and prints the memory of each line of
        the functions named with -f, as `memtide lines` does (like
        memory_profiler's %mprun, from exact allocation accounting).
        -m SIZE leaves out lines that allocated less (e.g. -m 1MiB)."""
        _abandon_watched_cell()
        opts, stmt = self.parse_options(line, "f:m:", posix=False, strict=False,
                                        list_all=True, preserve_non_opts=True)
        if not opts.get("f") or not stmt.strip():
            raise UsageError("usage: %memtide_lines -f FUNC [-f FUNC ...] [-m SIZE] statement")
        codes = []
        for name in opts["f"]:
            try:
                obj = eval(name, self.shell.user_global_ns, self.shell.user_ns)
            except Exception as e:
                raise UsageError("%%memtide_lines: -f %s: %s" % (name, e))
            code = getattr(getattr(obj, "__func__", obj), "__code__", None)
            if code is None:
                raise UsageError("%%memtide_lines: -f %s is not a Python function" % name)
            codes.append(code)
        m, _, name, error = _measure(self.shell, stmt)
        _set_last(m)
        for code in codes:
            print(_lines_table(code, m.capture, opts["m"][-1] if opts.get("m") else None))
        if error is not None:
            raise _from_cell(error, name)

    @cell_magic
    def memtide_flamegraph(self, line, cell):
        """%%memtide_flamegraph [--leaks] [--temporal] [--native] [--inline] [-o FILE]

        Runs the cell tracked and writes the flame graph of its memory at
        its peak (--leaks: what it left allocated; --temporal: pick a time
        range on the chart; --native: with C frames) to FILE, by default
        memtide-flamegraph-cell<N>.html in the directory the extension was
        loaded in (a notebook's own).  The graph starts at the cell's code.
        In a notebook it shows in an IFrame of that file, or embedded in the
        notebook with --inline (about 0.5 MB per cell, for front ends that
        cannot open the file); in a terminal the path is printed.
        """
        _abandon_watched_cell()
        opts, rest = self.parse_options(line, "o:", "leaks", "temporal", "native", "inline",
                                        "output=")
        if rest.strip():
            raise UsageError("usage: %%memtide_flamegraph [--leaks] [--temporal] [--native] "
                             "[--inline] [-o FILE]")
        count = self.shell.execution_count
        out = os.path.abspath(opts.get("o") or opts.get("output") or os.path.join(
            _base_dir or os.getcwd(), "memtide-flamegraph-cell%s.html" % count))
        # On an exception, the graph shows what the cell did until then.
        m, value, cell_file, error = _measure(self.shell, cell, native="native" in opts)
        _set_last(m)
        _cli.run("flamegraph", *["--" + o for o in ("leaks", "temporal") if o in opts],
                 "-f", "-o", out, m.capture)
        with open(out) as f:
            page = f.read()
        page = _start_at_cell(page, cell_file, _cell_title(count, cell))
        with open(out, "w") as f:
            f.write(page)
        print("memtide: flame graph in %s" % out)
        if _rich_front_end(self.shell):
            from IPython.display import IFrame, display
            rel = os.path.relpath(out, _base_dir or os.getcwd())
            if "inline" in opts or rel.startswith(os.pardir):
                display({"text/html": '<iframe srcdoc="%s" style="width:100%%;height:820px;'
                         'border:0"></iframe>' % html.escape(page, quote=True)}, raw=True)
            else:
                display(IFrame(rel.replace(os.sep, "/"), width="100%", height=820))
        if error is not None:
            raise _from_cell(error, cell_file)
        return value

    @line_magic
    def memtide_top(self, line):
        """%memtide_top [N] [--all]: the top N (default 10) allocation sites
        of the last measured cell; --all also lists those in IPython's and
        the kernel's own code (running the cell, other kernel threads)."""
        args = line.split()
        show_all = "--all" in args
        args = [a for a in args if a != "--all"]
        if len(args) > 1 or (args and not args[0].isdigit()):
            raise UsageError("usage: %memtide_top [N] [--all]")
        n = int(args[0]) if args else 10
        if last is None:
            print("memtide: no cell measured yet (%memtide_watch on, or %memit)")
            return
        stats = _cli.report("stats", "-n", str(n + 200), last.capture)
        for key, title in (("top_by_size", "Top %d locations by size:"),
                           ("top_by_count", "Top %d locations by number of allocations:")):
            rows = stats[key]
            shown = [r for r in rows if show_all or not _IPYTHON_FILES.search(r["file"] or "")]
            hidden = len(rows) - len(shown)
            shown = shown[:n]
            print(title % len(shown))
            for r in shown:
                if key == "top_by_size":
                    print("  - %s at %s:%s -> %s (%s allocations)" % (
                        r["function"], short_path(r["file"]), r["line"], format_size(r["bytes"]),
                        "{:,}".format(r["count"])))
                else:
                    print("  - %s at %s:%s -> %s (%s)" % (
                        r["function"], short_path(r["file"]), r["line"], "{:,}".format(r["count"]),
                        format_size(r["bytes"])))
            if hidden:
                print("  (%d in IPython's own code hidden: %%memtide_top --all shows them)"
                      % hidden)
            print()

    @line_magic
    def memtide_census(self, line):
        """%memtide_census [-n N] [--diff] [--by type|site|type,site]

        The live Python objects of the session by type, as a table like
        guppy's hp.heap(): count, size (sys.getsizeof's, numpy arrays with
        the data they own) and their shares, the N (default 10) biggest
        rows.  --diff: what changed since the previous %memtide_census
        (signed figures).  --by site (or type,site): by the line that
        allocated the objects, under a tracker that traces Python's
        allocators.  The census is in memtide.ipython.last_census.
        """
        global last_census
        opts, rest = self.parse_options(line, "n:", "diff", "by=")
        usage = "usage: %memtide_census [-n N] [--diff] [--by type|site|type,site]"
        by = {"type": "type", "site": "site", "type,site": ("type", "site")}.get(
            opts.get("by", "type").replace(" ", ""))
        try:
            n = int(opts.get("n", 10))
        except ValueError:
            n = 0
        if rest.strip() or by is None or n < 1:
            raise UsageError(usage)
        from ._census import census
        try:
            now = census(by=by)
        except RuntimeError as e:
            raise UsageError("%%memtide_census: %s" % e)
        shown = now
        if "diff" in opts:
            if last_census is None:
                print("memtide: no earlier %memtide_census to compare with: "
                      "this one is the reference")
            elif last_census.by != now.by:
                raise UsageError("%%memtide_census --diff: the previous census was by %r"
                                 % (last_census.by,))
            else:
                shown = now - last_census
        last_census = now
        print(shown.table(n))


def load_ipython_extension(ipython):
    global _base_dir
    _base_dir = os.getcwd()
    ipython.register_magics(MemtideMagics)


def unload_ipython_extension(ipython):
    _unwatch(ipython)
