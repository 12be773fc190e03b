"""Captures of each format version, made by an earlier build and kept in
tests/fixtures, must still load with the same figures (docs/FORMAT.md)."""
import json
import os
import subprocess


def run_json(memtide_bin, *args):
    res = subprocess.run([str(memtide_bin), *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)

FIX = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")


def test_native_fixture_v1(memtide_bin):
    s = run_json(memtide_bin, "stats", "--json", os.path.join(FIX, "blocks-v1.tide"))
    assert s["total_allocations"] == 1002
    assert s["total_bytes"] == 37654528
    assert s["peak_bytes"] == 37650432          # 1000 x 4096 B + 32 MiB mapping
    assert s["allocators"] == {"malloc": 1001, "mmap": 1}
    assert s["truncated"] is False


def test_python_fixture_v1(memtide_bin):
    path = os.path.join(FIX, "steps-v1.tide")
    s = run_json(memtide_bin, "stats", "--json", "-n", "1", path)
    top = s["top_by_size"][0]
    assert (top["function"], top["line"], top["bytes"], top["count"]) == ("make_big", 4, 3000001, 1)
    steps = run_json(memtide_bin, "steps", "--json", path)
    assert [x["name"] for x in steps] == ["alpha", "beta"]
    assert steps[0]["allocated_bytes"] >= 3000001
    assert steps[0]["peak_above_start_bytes"] >= 3000001
    assert steps[1]["heap_end_bytes"] <= steps[0]["heap_end_bytes"] - 3000001


def test_columns_fixture_v2(memtide_bin):
    # tests/programs/slot_churn.c built with -DLIVE=300 -DROUNDS=600, which
    # printed "allocations 2100 bytes 49668114 peak 7698604 leaked 7
    # leaked_bytes 38674": COLUMNS records, frees of the last slot, slots
    # and sizes above 255
    s = run_json(memtide_bin, "stats", "--json", os.path.join(FIX, "columns-v2.tide"))
    assert s["total_allocations"] == 2100
    assert s["total_bytes"] == 49668114
    assert s["peak_bytes"] == 7698604
    assert (s["leaked_allocations"], s["leaked_bytes"]) == (7, 38674)
    assert s["allocators"] == {"malloc": 1500, "realloc": 600}
    assert s["truncated"] is False
