"""A Dask job profiled with memtide.dask: two worker processes on this
machine, one thread each, a 64 MiB array in 8 chunks of 8 MiB held in
the workers' memory, then summed.  Needs python3-distributed.

    python3 examples/dask_job.py captures && memtide stats captures
"""
import sys

import dask.array as da
from distributed import Client, LocalCluster, wait

from memtide.dask import MemtidePlugin, collect

if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "captures"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, host="127.0.0.1") as cluster, \
            Client(cluster) as client:
        plugin = MemtidePlugin("/tmp/memtide-workers")  # on each worker's machine
        register = getattr(client, "register_plugin", None) or client.register_worker_plugin
        register(plugin)
        x = da.random.random((8, 1 << 20), chunks=(1, 1 << 20)).persist()
        wait(x)
        print("sum", round(float((x * 2).sum().compute())))
        for path in collect(client, out):
            print("collected", path)
