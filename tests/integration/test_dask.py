"""memtide.dask: a capture per Dask worker, a step per task, collect().

One Dask job (module fixture `job`) runs on a LocalCluster of worker
processes on loopback, one thread each, started with one worker; the
plugin is registered and a second worker joins afterwards, so it is set
up as a late joiner.  The job persists a dask.array of 8 chunks of
exactly 8 MiB (1 x 2**20 float64, made by `random_sample` tasks), sums it,
and, when pandas is there, runs a dask.dataframe groupby over 4
partitions.  It records what the client knows (worker pids, which worker
holds which chunk) and collect()s the captures into another directory.

The Dask runtime allocates beside the tasks (its event loop serializes
messages while a task runs), so a task's step holds at least its known
allocation, and the bounds above it are loose.  Debian's
python3-distributed works with /usr/bin/python3: tests skip without it.
"""

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import SYSTEM_PYTHON, memtide_path, run_process
from mtlib import package_env

MIB = 1 << 20
CHUNK = 8 * MIB      # one chunk: 2**20 float64
CHUNKS = 8
PARTITIONS = 4

JOB = """
import json
import os
import sys

import dask.array as da
from distributed import Client, LocalCluster, wait

import memtide.dask

try:
    import pandas as pd
except ImportError:
    pd = None


def facts(dask_worker):
    return {"pid": os.getpid(),
            "capture": os.path.basename(dask_worker.plugins["memtide"].path)}


if __name__ == "__main__":
    plugin = memtide.dask.MemtidePlugin("workers")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None, host="127.0.0.1") as cluster, \\
            Client(cluster) as client:
        register = getattr(client, "register_plugin", None) or client.register_worker_plugin
        register(plugin)
        cluster.scale(2)                        # a worker that joins later
        client.wait_for_workers(2)
        x = da.random.random((%(chunks)d, 1 << 20), chunks=(1, 1 << 20)).persist()
        wait(x)
        holds = {a: sum(1 for k in keys if "random_sample" in str(k))
                 for a, keys in client.has_what().items()}
        sums = (x * 2).sum(axis=1).compute()
        assert len(sums) == %(chunks)d
        dataframe = pd is not None
        if dataframe:
            import dask.dataframe as dd
            n = 400_000
            df = pd.DataFrame({"k": [i %% 7 for i in range(n)], "v": [1.0] * n})
            total = dd.from_pandas(df, npartitions=%(partitions)d).groupby("k").v.sum()
            assert total.compute().sum() == n
        workers = client.run(facts)
        memtide.dask.CHUNK_BYTES = 4096         # each capture comes in many pieces
        paths = memtide.dask.collect(client, "collected")
        print(json.dumps({"session": plugin.session, "workers": workers, "holds": holds,
                          "paths": paths, "dataframe": dataframe}))
""" % {"chunks": CHUNKS, "partitions": PARTITIONS}


def has_distributed():
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import distributed, dask.array"],
                          capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(
    not has_distributed(),
    reason="dask.distributed is not importable by /usr/bin/python3 (python3-distributed)")


def memtide_json(*args, cwd):
    res = run_process([memtide_path(), *args], cwd=cwd)
    assert res.returncode == 0, f"memtide {' '.join(map(str, args))} failed:\n{res}"
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def job(tmp_path_factory, memtide_bin):
    d = tmp_path_factory.mktemp("dask")
    (d / "job.py").write_text(textwrap.dedent(JOB).lstrip("\n"))
    res = run_process([SYSTEM_PYTHON, "job.py"], cwd=d, env=package_env())
    assert res.returncode == 0, f"the Dask job failed:\n{res}"
    facts = json.loads(res.out.strip().splitlines()[-1])
    facts["dir"] = d
    # per worker address: its capture's name, pid, chunks held, steps
    facts["by_addr"] = {
        addr: {"pid": w["pid"], "holds": facts["holds"].get(addr, 0),
               "name": w["capture"]}
        for addr, w in facts["workers"].items()}
    for w in facts["by_addr"].values():
        w["steps"] = memtide_json("steps", "--json", Path("collected") / w["name"], cwd=d)
    facts["stats"] = memtide_json("stats", "--json", "-n", "100", "collected", cwd=d)
    return facts


def runs(steps, name):
    return [s for s in steps if s["name"] == name]


def test_every_worker_has_a_capture(job):
    d = job["dir"]
    names = sorted(w["name"] for w in job["by_addr"].values())
    assert len(names) == 2
    for w in job["by_addr"].values():
        assert w["name"].startswith("worker-") and w["name"].endswith("-%d.tide" % w["pid"])
    assert sorted(os.path.basename(p) for p in job["paths"]) == names
    assert sorted(p.name for p in (d / "collected").iterdir()) == names
    for name in names:  # collected through the workers: the very bytes they wrote
        assert (d / "collected" / name).read_bytes() == (d / "workers" / name).read_bytes()
    stats = job["stats"]
    assert stats["session"] == job["session"]
    assert job["session"].startswith("dask-")
    assert sorted(p["pid"] for p in stats["processes"]) == sorted(
        w["pid"] for w in job["by_addr"].values())
    for p in stats["processes"]:
        assert not p["truncated"], p["capture"]


def test_each_chunk_is_a_step_of_the_worker_that_holds_it(job):
    assert sum(w["holds"] for w in job["by_addr"].values()) == CHUNKS
    for w in job["by_addr"].values():
        made = runs(w["steps"], "random_sample")
        assert len(made) == w["holds"], (w["name"], w["holds"], made)
        for s in made:  # an 8 MiB chunk, plus what Dask allocates meanwhile
            assert CHUNK <= s["peak_above_start_bytes"] < CHUNK + 2 * MIB, s
            assert s["allocated_bytes"] >= CHUNK, s
            # the chunks persist: each one leaves the heap 8 MiB higher
            assert s["heap_end_bytes"] - s["heap_start_bytes"] >= CHUNK - 64 * 1024, s
        # the sum of each chunk: one task per chunk, whatever Dask names it
    sums = [s for w in job["by_addr"].values() for s in w["steps"]
            if s["name"].startswith("sum") and s["peak_above_start_bytes"] >= CHUNK]
    assert len(sums) == CHUNKS, [s["name"] for s in sums]  # x * 2 makes 8 MiB


def test_dataframe_tasks(job):
    if not job["dataframe"]:
        pytest.skip("pandas is not importable by /usr/bin/python3 (python3-pandas)")
    steps = [s for w in job["by_addr"].values() for s in w["steps"]]
    assert len(runs(steps, "from_pandas")) == PARTITIONS
    assert any("groupby" in s["name"] for s in steps), sorted({s["name"] for s in steps})


def test_combined_figures_agree_with_the_workers(job):
    stats = job["stats"]
    procs = {p["pid"]: p for p in stats["processes"]}
    combined = stats["combined_peak_bytes"]
    assert combined == sum(p["heap_at_combined_peak_bytes"] for p in procs.values())
    assert max(p["peak_bytes"] for p in procs.values()) <= combined
    assert combined <= sum(p["peak_bytes"] for p in procs.values())
    # every chunk stays alive until collect(): all of them count at once
    assert combined >= CHUNKS * CHUNK
    for w in job["by_addr"].values():
        assert procs[w["pid"]]["heap_at_combined_peak_bytes"] >= w["holds"] * CHUNK

    # the steps of the directory: each name's runs over all the workers
    everyone = {}
    for w in job["by_addr"].values():
        for s in w["steps"]:
            everyone.setdefault(s["name"], []).append((w["pid"], s))
    assert stats["step_names"] == len(everyone)
    assert [t["name"] for t in stats["steps"]] == sorted(
        everyone, key=lambda n: (-max(s["peak_above_start_bytes"] for _, s in everyone[n]), n))
    for t in stats["steps"]:
        mine = everyone[t["name"]]
        top = max(s["peak_above_start_bytes"] for _, s in mine)
        assert t["runs"] == len(mine)
        assert t["peak_above_start_bytes"] == top
        assert t["pid"] in {pid for pid, s in mine if s["peak_above_start_bytes"] == top}
        assert t["peak_bytes"] == max(s["peak_bytes"] for _, s in mine)
        assert t["allocated_bytes"] == sum(s["allocated_bytes"] for _, s in mine)
        assert t["allocations"] == sum(s["allocations"] for _, s in mine)
    sample = next(t for t in stats["steps"] if t["name"] == "random_sample")
    assert sample["runs"] == CHUNKS


def test_stats_text_on_the_directory(job):
    res = run_process([memtide_path(), "stats", "-n", "3", "collected"], cwd=job["dir"])
    assert res.returncode == 0, res
    assert f"Process tree: 2 processes (session {job['session']})" in res.out
    assert "Top steps by peak above their start (3 of " in res.out
    table = res.out.split("Top steps by peak")[1].splitlines()[4:]
    assert len(table) == 3
    assert any(line.split()[0] == "random_sample" and line.split()[1] == str(CHUNKS)
               for line in table), res.out


TEARDOWN_JOB = """
import dask.array as da
from distributed import Client, LocalCluster

import memtide.dask

if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, host="127.0.0.1") as cluster, \\
            Client(cluster) as client:
        register = getattr(client, "register_plugin", None) or client.register_worker_plugin
        register(memtide.dask.MemtidePlugin("workers", session="my-job"))
        print(da.ones((4, 1 << 17), chunks=(1, 1 << 17)).sum().compute())
"""


def test_captures_end_when_the_cluster_closes(memtide_bin, tmp_path):
    """Without collect(): the workers' teardown ends their captures, in
    the plugin's directory, with the session asked for."""
    (tmp_path / "job.py").write_text(textwrap.dedent(TEARDOWN_JOB).lstrip("\n"))
    res = run_process([SYSTEM_PYTHON, "job.py"], cwd=tmp_path, env=package_env())
    assert res.returncode == 0, res
    assert res.out.split() == [str(4.0 * (1 << 17))]
    stats = memtide_json("stats", "--json", "workers", cwd=tmp_path)
    assert stats["session"] == "my-job"
    assert len(stats["processes"]) == 2
    assert all(not p["truncated"] for p in stats["processes"])
    assert sum(t["runs"] for t in stats["steps"]) >= 4


IN_PROCESS_JOB = """
from distributed import Client, LocalCluster

import memtide.dask

if __name__ == "__main__":
    with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster, \\
            Client(cluster) as client:
        register = getattr(client, "register_plugin", None) or client.register_worker_plugin
        try:
            register(memtide.dask.MemtidePlugin("workers"))
        except RuntimeError as e:
            print(e)
"""


def test_workers_sharing_a_process_are_refused(memtide_bin, tmp_path):
    (tmp_path / "job.py").write_text(textwrap.dedent(IN_PROCESS_JOB).lstrip("\n"))
    res = run_process([SYSTEM_PYTHON, "job.py"], cwd=tmp_path, env=package_env())
    assert res.returncode == 0, res
    assert "memtide: cannot record worker" in res.out, res
    assert "MemtidePlugin needs one worker per process" in res.out, res

