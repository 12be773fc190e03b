"""pip install --no-build-isolation . works offline, into a virtual
environment of Debian's python, and gives a self-contained package: the
Tracker, the memtide command inside the package, and the pytest plugin
registered by entry point."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs Debian's python3")
def test_pip_install_offline(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    py = str(venv / "bin" / "python")
    res = subprocess.run([py, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-index",
                          REPO], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    script = tmp_path / "use.py"
    script.write_text(
        "import memtide, os\n"
        "with memtide.Tracker('out.tide'):\n"
        "    x = bytearray(1_234_567)\n"
        "print(os.path.dirname(memtide.__file__))\n")
    res = subprocess.run([py, str(script)], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, env={k: v for k, v in os.environ.items()
                                            if k != "PYTHONPATH"})
    assert res.returncode == 0, res.stderr
    pkg = res.stdout.strip().splitlines()[-1]
    assert pkg.startswith(str(venv))
    stats = subprocess.run([os.path.join(pkg, "bin", "memtide"), "stats", "--json", "-n", "1",
                            str(tmp_path / "out.tide")], capture_output=True, text=True,
                           timeout=60)
    assert stats.returncode == 0, stats.stderr
    assert '"bytes": 1234568' in stats.stdout
    helptext = subprocess.run([py, "-m", "pytest", "--help"], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path).stdout
    assert "--memtide-bin-path" in helptext


# --------------------------------------------------------------------------
# The memtide command and `python -m memtide` of an installed package, and
# the Python `memtide run` picks: the interpreter that runs memtide, else
# python3 on PATH (a venv's, pyenv's), with `import memtide` working in it

PYENV = os.path.expanduser("~/.pyenv")
SCRIPT = ("import os, sys, mt_marker, memtide\n"
          "memtide.step('load')\n"
          "x = bytearray(3_000_000)\n"
          "print(mt_marker.VALUE, sys.executable, sys.version_info[:2])\n"
          "print(sorted(k for k in os.environ if k.startswith('MEMTIDE')))\n")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MEMTIDE_BIN", "MEMTIDE_PYTHON")}
    env.update(extra)
    return env


def pyenv_python(minor):
    import glob
    found = sorted(glob.glob(os.path.join(PYENV, "versions", minor + ".*", "bin", "python3")))
    if not found:
        pytest.skip(f"no pyenv CPython {minor}")
    return found[-1]


def make_venv(python, where, system_site=False):
    subprocess.run([python, "-m", "venv", *(["--system-site-packages"] if system_site else []),
                    str(where)], check=True, timeout=120)
    py = str(where / "bin" / "python")
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # a package only this venv has
    with open(os.path.join(site, "mt_marker.py"), "w") as f:
        f.write("VALUE = 42\n")
    return py


def pip_install(py, *what, cwd):
    res = subprocess.run([py, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-index",
                          *what], capture_output=True, text=True, timeout=600, cwd=cwd,
                         env=clean_env())
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]


def check_run(cmd, tmp_path, py, version, env=None, prog=("script.py",)):
    """`CMD run -o out.tide PROG` ran SCRIPT with py and recorded it."""
    (tmp_path / "script.py").write_text(SCRIPT)
    out = tmp_path / "out.tide"
    res = subprocess.run([*cmd, "run", "-q", "-f", "-o", str(out), *prog],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env=env or clean_env())
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [f"42 {py} {version}", "[]"], res.stdout
    steps = subprocess.run([BIN, "steps", "--json", str(out)], capture_output=True, text=True,
                           timeout=60)
    assert steps.returncode == 0, steps.stderr
    assert '"load"' in steps.stdout, steps.stdout


BIN = os.environ.get("MEMTIDE_BIN") or os.path.join(REPO, "build", "bin", "memtide")


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs Debian's python3")
def test_console_script_and_python_m(tmp_path):
    venv = tmp_path / "venv"
    py = make_venv("/usr/bin/python3", venv, system_site=True)
    pip_install(py, REPO, cwd=tmp_path)
    script = str(venv / "bin" / "memtide")
    for cmd in ([script], [py, "-m", "memtide"]):
        res = subprocess.run([*cmd, "--version"], capture_output=True, text=True,
                             env=clean_env(), timeout=60)
        assert (res.returncode, res.stdout) == (0, "memtide 0.1.0\n"), res.stderr
        res = subprocess.run([*cmd, "stats"], capture_output=True, text=True,
                             env=clean_env(), timeout=60)
        assert res.returncode == 2 and res.stderr.startswith("memtide stats:"), res.stderr
        # the venv's python runs the script, not the PATH's nor Debian's
        check_run(cmd, tmp_path, py, "(3, 11)")


def test_pyenv_39_venv_install(tmp_path):
    venv = tmp_path / "venv"
    py = make_venv(pyenv_python("3.9"), venv)   # its venv has setuptools
    pip_install(py, REPO, cwd=tmp_path)
    check_run([str(venv / "bin" / "memtide")], tmp_path, py, "(3, 9)")


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs Debian's python3")
def test_pyenv_313_venv_wheel(tmp_path):
    # no setuptools in a 3.13 venv: the wheel Debian's python builds fits it
    venv = tmp_path / "venv"
    py = make_venv(pyenv_python("3.13"), venv)
    res = subprocess.run(["/usr/bin/python3", "-m", "pip", "wheel", "-q", "--no-build-isolation",
                          "--no-index", "--no-deps", "-w", str(tmp_path / "dist"), REPO],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path,
                         env=clean_env())
    assert res.returncode == 0, res.stderr[-2000:]
    wheels = list((tmp_path / "dist").glob("memtide-*-py3-none-linux_x86_64.whl"))
    assert len(wheels) == 1, list((tmp_path / "dist").iterdir())
    pip_install(py, str(wheels[0]), cwd=tmp_path)
    check_run([str(venv / "bin" / "memtide")], tmp_path, py, "(3, 13)")


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs Debian's python3")
def test_run_uses_python3_of_active_venv(tmp_path):
    # nothing installed into the venv: the build tree's memtide, the venv
    # first on PATH (as `activate` leaves it)
    venv = tmp_path / "venv"
    py = make_venv("/usr/bin/python3", venv)
    env = clean_env(PATH=f"{venv / 'bin'}:{os.environ['PATH']}", VIRTUAL_ENV=str(venv))
    check_run([BIN], tmp_path, str(venv / "bin" / "python3"), "(3, 11)", env=env)


def test_run_resolves_pyenv_shim(tmp_path):
    # pyenv's python3 on PATH is a shell script: were it run under the
    # tracker, the interpreter it starts would not be tracked
    shims = os.path.join(PYENV, "shims")
    if not os.path.exists(os.path.join(shims, "python3")):
        pytest.skip("no pyenv shims")
    real = pyenv_python("3.12")
    version = os.path.basename(os.path.dirname(os.path.dirname(real)))
    site = tmp_path / "site"
    site.mkdir()
    (site / "mt_marker.py").write_text("VALUE = 42\n")
    env = clean_env(PATH=f"{shims}:{os.environ['PATH']}", PYENV_VERSION=version,
                    PYTHONPATH=str(site))
    check_run([BIN], tmp_path, real, "(3, 12)", env=env)
    # the interpreter named on the command line, as users type it: the same
    # (the shim resolved, Python frames, memtide importable for its steps)
    check_run([BIN], tmp_path, real, "(3, 12)", env=env, prog=("python3", "script.py"))
