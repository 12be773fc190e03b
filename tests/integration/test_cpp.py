"""C++ programs: demangled names, inlined frames from DWARF, the allocation
site past the standard library's inlined allocator code, and exceptions
still working with memtide's unwinder loaded."""
import json
import os
import shutil
import subprocess

import pytest

PROG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    "programs", "widgets.cpp")


@pytest.mark.skipif(not shutil.which("g++"), reason="needs g++")
def test_cpp_inlined_frames_and_exceptions(tmp_path, memtide_bin):
    exe = tmp_path / "widgets"
    subprocess.run(["g++", "-O1", "-g", "-o", str(exe), PROG], check=True, timeout=120)
    cap = tmp_path / "w.tide"
    run = subprocess.run([str(memtide_bin), "run", "-q", "-o", str(cap), str(exe)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "caught boom\n"
    stats = json.loads(subprocess.run([str(memtide_bin), "stats", "--json", "-n", "3", str(cap)],
                                      capture_output=True, text=True, timeout=60).stdout)
    top = stats["top_by_size"][0]
    # 100 widgets of 1000 doubles: the vector's buffer, inlined into the constructor
    assert top["function"] == "demo::Widget::Widget(unsigned long)"
    assert top["file"].endswith("widgets.cpp")
    assert (top["bytes"], top["count"]) == (800000, 100)
    tree = subprocess.run([str(memtide_bin), "tree", "--json", "-b", "1", str(cap)],
                          capture_output=True, text=True, timeout=60).stdout
    names = []

    def walk(n):
        names.append(n["function"])
        for c in n["children"]:
            walk(c)
    walk(json.loads(tree)["root"])
    assert "demo::build(int)" in names
    assert any(n.startswith("std::vector<double") for n in names)     # an inlined frame
    assert any(n.startswith("operator new") for n in names)
