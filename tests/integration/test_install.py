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
