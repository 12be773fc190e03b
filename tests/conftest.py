"""Fixtures for memtide's end-to-end tests.

The tests drive the real CLI: `memtide run` on small programs whose
allocations are known exactly (tests/programs/*.c, compiled here) and on
Python scripts written by the tests, then `memtide stats --json`.

Environment:
  MEMTIDE_BIN   the memtide binary (default: <repo>/build/bin/memtide)
  CC            the C compiler for the test programs (default: cc)

Fixtures:
  memtide_bin   path of the binary (the session fails if it is missing)
  build         compiles tests/programs/*.c: build.program(name),
                build.shared(src, libname, debug=True, defines=())
  mt            runs things in the test's own tmp_path: mt.run(*args),
                mt.plain(*cmd), mt.stats(*args), mt.stats_json(file),
                mt.spawn(*args); results are (returncode, stdout, stderr)
  python        parametrises a test over every CPython 3.9-3.13 found
  system_python Debian's /usr/bin/python3 (skips when absent)
  sample_capture the bytes of a small valid capture
"""

import glob
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

REPO = TESTS.parent
PROGRAMS = TESTS / "programs"
SYSTEM_PYTHON = "/usr/bin/python3"
PYENV_MINORS = ("3.9", "3.10", "3.11", "3.12", "3.13")
TIMEOUT = 60  # seconds for any one command; a hang fails its test only
CFLAGS = ["-O0", "-g", "-fno-omit-frame-pointer"]


def memtide_path():
    return Path(os.environ.get("MEMTIDE_BIN") or REPO / "build" / "bin" / "memtide")


class Result(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def out(self):
        return self.stdout.decode(errors="replace")

    @property
    def err(self):
        return self.stderr.decode(errors="replace")

    def __str__(self):
        return (f"returncode={self.returncode}\n--- stdout ---\n{self.out[-3000:]}"
                f"\n--- stderr ---\n{self.err[-3000:]}")


def _no_core():
    # Crash tests must not leave core files behind (nor spend time on them).
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def base_env(extra=None):
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"  # same dict sizes, same allocations, each run
    env.pop("PYTHONSTARTUP", None)
    env.pop("PYTHONWARNINGS", None)
    if extra:
        env.update(extra)
    return env


def run_process(cmd, cwd, input=b"", timeout=TIMEOUT, env=None,
                preexec_fn=None):
    """Run cmd; return Result. On timeout its whole process group is killed."""
    def preexec():
        _no_core()
        if preexec_fn:
            preexec_fn()

    proc = subprocess.Popen([str(c) for c in cmd], cwd=str(cwd),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env or base_env(),
                            preexec_fn=preexec, start_new_session=True)
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        pytest.fail(f"timed out after {timeout}s: {' '.join(map(str, cmd))}\n"
                    f"stdout: {out[-2000:]!r}\nstderr: {err[-2000:]!r}")
    return Result(proc.returncode, out, err)


# --------------------------------------------------------------------------
# The binary and the programs

@pytest.fixture(scope="session")
def memtide_bin():
    path = memtide_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"memtide binary not found at {path}: run `make` first "
                    f"(or set MEMTIDE_BIN)", pytrace=False)
    return path


class Builder:
    """Compiles tests/programs/*.c once per session into a temporary dir."""

    def __init__(self, outdir):
        self.outdir = Path(outdir)
        self.cc = os.environ.get("CC") or "cc"
        self._done = {}

    def _compile(self, key, out, args):
        if key in self._done:
            return self._done[key]
        cmd = [self.cc] + args
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            pytest.fail(f"compiling failed: {' '.join(cmd)}\n{proc.stderr}")
        self._done[key] = out
        return out

    def source(self, name):
        return PROGRAMS / (name if name.endswith(".c") else name + ".c")

    def program(self, name, libs=()):
        """Executable built from tests/programs/<name>.c (libs: more -l...)."""
        out = self.outdir / name
        return self._compile(("prog", name), out,
                             CFLAGS + ["-o", str(out), str(self.source(name)),
                                       "-lpthread", "-ldl", *libs])

    def shared(self, name, libname, debug=True, defines=()):
        """Shared library libname built from tests/programs/<name>.c."""
        out = self.outdir / libname
        flags = list(CFLAGS) if debug else [f for f in CFLAGS if f != "-g"] + ["-g0"]
        flags += ["-fPIC", "-shared"] + [f"-D{d}" for d in defines]
        return self._compile(("lib", name, libname), out,
                             flags + ["-o", str(out), str(self.source(name))])


@pytest.fixture(scope="session")
def build(tmp_path_factory):
    return Builder(tmp_path_factory.mktemp("programs"))


# --------------------------------------------------------------------------
# Running memtide

class Memtide:
    """Runs memtide and programs with the test's tmp_path as cwd."""

    def __init__(self, binary, cwd):
        self.bin = Path(binary)
        self.cwd = Path(cwd)

    def run(self, *args, cwd=None, input=b"", timeout=TIMEOUT, env=None,
            preexec_fn=None):
        """`memtide ARGS...` -> Result(returncode, stdout, stderr)."""
        return run_process([self.bin, *args], cwd or self.cwd, input=input,
                           timeout=timeout, env=env, preexec_fn=preexec_fn)

    def plain(self, *cmd, cwd=None, input=b"", timeout=TIMEOUT, env=None,
              preexec_fn=None):
        """The same program without memtide, for comparisons."""
        return run_process(list(cmd), cwd or self.cwd, input=input,
                           timeout=timeout, env=env, preexec_fn=preexec_fn)

    def spawn(self, *args, cwd=None, env=None):
        """`memtide ARGS...` started in the background (stdout piped)."""
        return subprocess.Popen([str(a) for a in (self.bin, *args)],
                                cwd=str(cwd or self.cwd),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env or base_env(), preexec_fn=_no_core,
                                start_new_session=True)

    def capture(self, *prog, out="out.tide", options=(), expect_rc=0, **kw):
        """`memtide run -q -o OUT OPTIONS... PROG...`; returns (Result, path)."""
        path = self.cwd / out
        res = self.run("run", "-q", "-o", path, *options, *prog, **kw)
        if expect_rc is not None:
            assert res.returncode == expect_rc, f"memtide run failed:\n{res}"
        return res, path

    def stats(self, *args, **kw):
        return self.run("stats", *args, **kw)

    def stats_json(self, path, n=50):
        """`memtide stats -n N --json FILE`, parsed; fails on a non-zero exit."""
        res = self.stats("-n", str(n), "--json", path)
        assert res.returncode == 0, f"memtide stats failed on {path}:\n{res}"
        try:
            return json.loads(res.stdout)
        except ValueError as e:
            pytest.fail(f"stats --json printed invalid JSON ({e}):\n{res.out[:3000]}")


@pytest.fixture
def mt(memtide_bin, tmp_path):
    return Memtide(memtide_bin, tmp_path)


@pytest.fixture(scope="session")
def sample_capture(memtide_bin, build, tmp_path_factory):
    """Bytes of a valid capture of tests/programs/basic.c."""
    d = tmp_path_factory.mktemp("sample")
    m = Memtide(memtide_bin, d)
    res, path = m.capture(build.program("basic"))
    data = path.read_bytes()
    assert data[:8] == b"MEMTIDE\0", f"capture does not start with the magic: {data[:16]!r}"
    return data


# --------------------------------------------------------------------------
# Interpreters

def _pyenv_root():
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True,
                             timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _version_key(path):
    return tuple(int(x) for x in re.findall(r"\d+", Path(path).parts[-3]))


def python_interpreters():
    """pytest params: Debian's python3 and pyenv's newest 3.9 ... 3.13."""
    params = []
    if os.access(SYSTEM_PYTHON, os.X_OK):
        params.append(pytest.param(SYSTEM_PYTHON, id="system"))
    else:
        params.append(pytest.param(SYSTEM_PYTHON, id="system",
                                   marks=pytest.mark.skip(reason="no /usr/bin/python3")))
    root = _pyenv_root()
    for minor in PYENV_MINORS:
        found = [p for p in glob.glob(str(root / "versions" / f"{minor}.*" / "bin" / "python3"))
                 if re.fullmatch(re.escape(minor) + r"\.\d+", Path(p).parts[-3])
                 and os.access(p, os.X_OK)]
        if found:
            params.append(pytest.param(max(found, key=_version_key), id=f"py{minor}"))
        else:
            params.append(pytest.param(None, id=f"py{minor}", marks=pytest.mark.skip(
                reason=f"no CPython {minor} under {root}/versions")))
    return params


def pytest_generate_tests(metafunc):
    if "python" in metafunc.fixturenames:
        metafunc.parametrize("python", python_interpreters())


@pytest.fixture(scope="session")
def system_python():
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip("no /usr/bin/python3")
    return SYSTEM_PYTHON


@pytest.fixture(scope="session")
def system_numpy(system_python):
    ok = subprocess.run([system_python, "-c", "import numpy"],
                        capture_output=True).returncode == 0
    if not ok:
        pytest.skip("numpy is not importable by /usr/bin/python3 (python3-numpy)")
    return system_python


@pytest.fixture
def nobody_dir():
    """A fresh directory that only root may write, reachable by everyone."""
    import tempfile
    d = Path(tempfile.mkdtemp(prefix="memtide-ro-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)
