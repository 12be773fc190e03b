"""The hooks run on the program's own stacks: a Python thread started with
the smallest stack Python allows must still allocate, recursively, under
memtide run (with native stacks too)."""
import json
import subprocess

import pytest

SCRIPT = """
import threading
threading.stack_size(32768)

def deep(n):
    if n == 0:
        return [bytearray(1000) for _ in range(100)]
    return deep(n - 1)

out = []
t = threading.Thread(target=lambda: out.append(len(deep(20))))
t.start(); t.join()
print(out)
"""


@pytest.mark.parametrize("native", [False, True])
def test_thread_with_a_32k_stack(tmp_path, memtide_bin, native):
    (tmp_path / "small.py").write_text(SCRIPT)
    cap = tmp_path / "s.tide"
    cmd = [str(memtide_bin), "run", "-q", "-o", str(cap)] + (["--native"] if native else [])
    res = subprocess.run(cmd + [str(tmp_path / "small.py")], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "[100]\n"
    stats = json.loads(subprocess.run([str(memtide_bin), "stats", "--json", "-n", "50", str(cap)],
                                      capture_output=True, text=True, timeout=60).stdout)
    site = [s for s in stats["top_by_size"] if s["function"] == "<listcomp>" and s["line"] == 7]
    # 100 bytearrays of 1001 bytes, and the list that holds them growing
    assert site and site[0]["count"] >= 100 and site[0]["bytes"] >= 100 * 1001
