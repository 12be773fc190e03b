"""Bad capture files and bad command lines give a one-line error and a
non-zero exit; a capture cut anywhere after its file header reads as
truncated, with every record before the cut (tests/integration/test_reader.py
has the exact counts)."""

import os
import random
import struct
import subprocess

import pytest

from conftest import base_env
from mtlib import FORMAT_VERSION, MAGIC, assert_one_line_error, chunk_spans

HEADER = len(MAGIC) + 2  # magic, then the little-endian u16 format version


def check_bad(mt, path):
    """Both the text and the JSON report refuse the file in one line."""
    res = mt.stats(path)
    line = assert_one_line_error(res)
    res = mt.stats("--json", path)
    assert_one_line_error(res)
    assert res.stdout == b"", f"stats --json printed output for a bad file: {res.out[:500]!r}"
    return line


def test_sample_capture_has_magic_and_version(sample_capture):
    assert sample_capture[:8] == MAGIC
    assert struct.unpack_from("<H", sample_capture, 8)[0] == FORMAT_VERSION


def test_empty_file(mt):
    path = mt.cwd / "empty.tide"
    path.write_bytes(b"")
    check_bad(mt, path)


def test_header_only_cut_inside(mt, sample_capture):
    path = mt.cwd / "short.tide"
    path.write_bytes(sample_capture[:5])
    check_bad(mt, path)


def test_nonexistent_file(mt):
    line = check_bad(mt, mt.cwd / "no-such-file.tide")
    assert "no-such-file.tide" in line, line


def test_wrong_magic(mt, sample_capture):
    path = mt.cwd / "magic.tide"
    path.write_bytes(b"NOTTIDE\0" + sample_capture[8:])
    check_bad(mt, path)


def test_not_a_capture_at_all(mt):
    path = mt.cwd / "text.tide"
    path.write_text("this is a text file, not a capture\n" * 20)
    check_bad(mt, path)


@pytest.mark.parametrize("version", [0, FORMAT_VERSION + 1, 0xFFFF])
def test_wrong_version(mt, sample_capture, version):
    path = mt.cwd / "version.tide"
    path.write_bytes(MAGIC + struct.pack("<H", version) + sample_capture[HEADER:])
    line = check_bad(mt, path)
    assert str(version) in line, f"the error should name version {version}: {line}"


@pytest.fixture(scope="module")
def long_capture(memtide_bin, build, tmp_path_factory):
    """A capture of a 1.3 s run: several chunks, the last holding the end."""
    from conftest import Memtide
    d = tmp_path_factory.mktemp("long")
    res, path = Memtide(memtide_bin, d).capture(build.program("sleeper"), "1300")
    data = path.read_bytes()
    spans = chunk_spans(data)
    assert spans and spans[-1][1] == len(data), \
        f"the capture is not a whole number of chunks: {spans}, {len(data)} bytes"
    return data, spans


def test_long_capture_reads_whole(mt, long_capture):
    data, spans = long_capture
    path = mt.cwd / "whole.tide"
    path.write_bytes(data)
    stats = mt.stats_json(path)
    assert stats["truncated"] is False
    assert len(spans) >= 2, f"a 1.3 s run must flush at least two chunks: {spans}"


def test_cut_at_chunk_boundaries_reads_as_truncated(mt, long_capture):
    data, spans = long_capture
    previous = -1
    for start, _ in spans:
        path = mt.cwd / f"cut{start}.tide"
        path.write_bytes(data[:start])
        stats = mt.stats_json(path)
        assert stats["truncated"] is True, f"cut at {start} of {len(data)}"
        assert stats["total_allocations"] >= previous
        previous = stats["total_allocations"]


CUT = "the file ends inside a chunk: the disk was full or the file was cut"


@pytest.mark.parametrize("where", ["last-byte", "mid-payload", "mid-header"])
@pytest.mark.parametrize("chunk", ["first", "last"])
def test_truncated_in_the_middle_of_a_chunk(mt, long_capture, where, chunk):
    """What the chunk's complete zstd blocks hold is read; the rest is lost."""
    data, spans = long_capture
    start, end = spans[0] if chunk == "first" else spans[-1]
    cut = {"last-byte": end - 1, "mid-payload": (start + 16 + end) // 2,
           "mid-header": start + 7}[where]
    before = mt.stats_json(write(mt, "before.tide", data[:start]))["total_allocations"]
    after = mt.stats_json(write(mt, "after.tide", data[:end]))["total_allocations"]
    stats = mt.stats_json(write(mt, "cut.tide", data[:cut]))
    assert (stats["truncated"], stats["truncation"]) == (True, CUT), stats
    got = stats["total_allocations"]
    if where == "mid-header":
        assert got == before
    elif where == "last-byte":   # only the checksum is missing
        assert got == after
    else:
        assert before <= got <= after


def write(mt, name, data):
    path = mt.cwd / name
    path.write_bytes(data)
    return path


def test_truncated_inside_the_small_capture(mt, sample_capture):
    whole = mt.stats_json(write(mt, "whole.tide", sample_capture))
    stats = mt.stats_json(write(mt, "cut.tide", sample_capture[:-1]))
    assert (stats["truncated"], stats["truncation"]) == (True, CUT), stats
    assert stats["total_allocations"] == whole["total_allocations"]


def test_garbage_after_header(mt):
    rng = random.Random(1234)
    path = mt.cwd / "garbage.tide"
    path.write_bytes(MAGIC + struct.pack("<H", FORMAT_VERSION)
                     + bytes(rng.randrange(256) for _ in range(8192)))
    check_bad(mt, path)


def test_corrupt_bytes_in_the_middle(mt, long_capture):
    """A damaged chunk that is not the last one: nothing after it can be read."""
    data, spans = long_capture
    data = bytearray(data)
    start, end = spans[0]
    mid = (start + 16 + end) // 2
    for i in range(mid, mid + 32):
        data[i] ^= 0xA5
    path = mt.cwd / "corrupt.tide"
    path.write_bytes(bytes(data))
    assert ": damaged capture: " in check_bad(mt, path)


def test_stats_without_file(mt):
    res = mt.stats()
    assert res.returncode != 0
    assert res.err.startswith("memtide") and res.err.count("\n") == 1, res.err


def test_unknown_command(mt):
    res = mt.run("no-such-command")
    assert res.returncode != 0
    assert "no-such-command" in res.err, res.err


def test_run_missing_program(mt):
    res = mt.run("run", "-q", "-o", mt.cwd / "out.tide", mt.cwd / "does-not-exist")
    assert res.returncode != 0
    assert "does-not-exist" in res.err, res.err


# --------------------------------------------------------------------------
# memtide run: programs it cannot track, and -o targets it cannot write,
# get a one-line reason and a non-zero exit, and are never run

def run_refused(mt, *args):
    out = mt.cwd / "out.tide"
    res = mt.run("run", "-q", "-o", out, *map(str, args))
    line = assert_one_line_error(res)
    assert res.stdout == b"", f"the program ran: {res.out!r}"
    assert not out.exists()
    return line


def copy_of(src, dst, mode=0o755):
    dst.write_bytes(open(src, "rb").read())
    dst.chmod(mode)
    return dst


def test_run_foreign_architecture(mt):
    prog = copy_of("/bin/echo", mt.cwd / "echo-arm")
    data = bytearray(prog.read_bytes())
    struct.pack_into("<H", data, 18, 183)  # e_machine = EM_AARCH64
    prog.write_bytes(bytes(data))
    line = run_refused(mt, prog, "ran")
    assert line == f"memtide: {prog}: ELF for aarch64, this machine runs x86_64", line


def test_run_32_bit(mt):
    # the loader would refuse the 64-bit tracker ("wrong ELF class") and run
    # the program untracked
    prog = copy_of("/bin/echo", mt.cwd / "echo-32")
    data = bytearray(prog.read_bytes())
    data[4] = 1                            # ELFCLASS32
    struct.pack_into("<H", data, 18, 3)    # EM_386
    prog.write_bytes(bytes(data))
    line = run_refused(mt, prog, "ran")
    assert line == f"memtide: {prog}: 32-bit ELF: memtide tracks 64-bit x86_64 programs only"


def test_run_not_executable(mt):
    prog = copy_of("/bin/echo", mt.cwd / "echo", mode=0o644)
    assert run_refused(mt, prog, "ran") == f"memtide: {prog}: not executable"


def test_run_script_without_shebang_not_handed_to_sh(mt):
    # execvp would run it with /bin/sh (ENOEXEC): the shell, not the script,
    # would be what memtide tracks
    prog = mt.cwd / "noshebang"
    prog.write_text("echo ran\n")
    prog.chmod(0o755)
    line = run_refused(mt, prog)
    assert "neither an ELF executable nor a script with a #! line" in line, line


def test_run_script_with_shebang_runs(mt):
    prog = mt.cwd / "hello.sh"
    prog.write_text("#!/bin/sh\necho ran\n")
    prog.chmod(0o755)
    res = mt.run("run", "-q", "-o", mt.cwd / "out.tide", prog)
    assert res.returncode == 0 and res.out == "ran\n", res


def test_run_env_shebang_tracks_the_interpreter(mt):
    # `#!/usr/bin/env sh` run as is: env would take the tracker and start sh
    # without it
    prog = mt.cwd / "hello.sh"
    prog.write_text("#!/usr/bin/env sh\necho \"ran $1\"\n")
    prog.chmod(0o755)
    res, path = mt.capture(prog, "one")
    assert res.out == "ran one\n", res
    sh = subprocess.run(["sh", "-c", "command -v sh"], capture_output=True, text=True).stdout
    assert mt.stats_json(path)["command"] == f"{sh.strip()} {prog} one"


def test_run_python_script_without_shebang_runs_python(mt):
    prog = mt.cwd / "x.py"
    prog.write_text("print('ran')\n")  # no #!, not executable
    res = mt.run("run", "-q", "-o", mt.cwd / "out.tide", "--python", "/usr/bin/python3", prog)
    assert res.returncode == 0 and res.out == "ran\n", res


def test_run_static_binary(mt, tmp_path):
    src = tmp_path / "st.c"
    src.write_text('#include <stdio.h>\nint main(void) { puts("ran"); return 3; }\n')
    prog = tmp_path / "st"
    cc = subprocess.run(["cc", "-static", "-o", str(prog), str(src)], capture_output=True)
    if cc.returncode:
        pytest.skip("no static libc to link with")
    line = run_refused(mt, prog)
    assert line == (f"memtide: {prog}: statically linked: there is no dynamic loader to "
                    "preload memtide's tracker into, so no capture could be written"), line


def test_run_script_with_static_interpreter(mt, tmp_path):
    src = tmp_path / "st.c"
    src.write_text('int main(void) { return 0; }\n')
    interp = tmp_path / "static-sh"
    if subprocess.run(["cc", "-static", "-o", str(interp), str(src)]).returncode:
        pytest.skip("no static libc to link with")
    prog = tmp_path / "script"
    prog.write_text(f"#!{interp}\n")
    prog.chmod(0o755)
    assert "statically linked" in run_refused(mt, prog)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a program another owner")
def test_run_setuid_other_user(mt):
    prog = copy_of("/bin/echo", mt.cwd / "echo-suid")
    os.chown(prog, 65534, -1)  # nobody
    prog.chmod(0o4755)
    line = run_refused(mt, prog, "ran")
    assert line == (f"memtide: {prog}: set-user-ID: the loader ignores LD_PRELOAD for it, "
                    "so memtide's tracker cannot run in it and no capture could be written"), line


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a program another group")
def test_run_setgid_other_group(mt):
    prog = copy_of("/bin/echo", mt.cwd / "echo-sgid")
    os.chown(prog, -1, 65534)
    prog.chmod(0o2755)
    assert "set-group-ID" in run_refused(mt, prog, "ran")


def test_run_setuid_own_program_is_tracked(mt):
    # set-user-ID to the caller itself changes nothing: the loader preloads
    prog = copy_of("/bin/echo", mt.cwd / "echo-suid-self")
    prog.chmod(0o4755)
    res, path = mt.capture(prog, "ran")
    assert res.out == "ran\n"
    assert mt.stats_json(path)["total_allocations"] > 0


def test_run_output_directory_refused_even_with_force(mt):
    d = mt.cwd / "adir"
    d.mkdir()
    res = mt.run("run", "-q", "-f", "-o", d, "/bin/echo", "ran")
    line = assert_one_line_error(res)
    assert line == f"memtide: '{d}' is a directory: -o names the capture file"
    assert res.stdout == b""


@pytest.mark.parametrize("force", [[], ["-f"]])
def test_run_output_fifo_refused(mt, force):
    fifo = mt.cwd / "fifo"
    os.mkfifo(fifo)
    res = mt.run("run", "-q", *force, "-o", fifo, "/bin/echo", "ran")  # must not block
    line = assert_one_line_error(res)
    assert "is not a regular file" in line and str(fifo) in line, line
    assert res.stdout == b""


# --------------------------------------------------------------------------
# The program's environment is its own: no MEMTIDE_* variable, no
# LD_PRELOAD entry of memtide's, whatever the mode

def env_of_console_script():
    """The environment `memtide` gets from its console script (MEMTIDE_BIN,
    the test harness's own variable, left out)."""
    env = base_env({"MEMTIDE_PYTHON": "/usr/bin/python3"})
    env.pop("MEMTIDE_BIN", None)
    return env


def leaked(text):
    return [line for line in text.splitlines()
            if "MEMTIDE" in line or "libmemtide" in line or line.startswith("LD_PRELOAD")]


@pytest.mark.parametrize("mode", [[], ["--native"], ["--follow-fork"], ["--trace-python-allocators"]])
def test_run_env_shows_nothing_of_memtide(mt, mode):
    env = env_of_console_script()
    res, _ = mt.capture(*mode, "/usr/bin/env", env=env)
    assert not leaked(res.out), leaked(res.out)
    assert "PATH=" in res.out


@pytest.mark.parametrize("mode", [[], ["--native"], ["--follow-fork"]])
def test_run_python_environ_shows_nothing_of_memtide(mt, mode):
    env = env_of_console_script()
    res, _ = mt.capture(*mode, "-c", "import os\nfor k, v in os.environ.items(): print(f'{k}={v}')",
                        env=env)
    assert not leaked(res.out), leaked(res.out)
