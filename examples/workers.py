"""Two worker processes (multiprocessing's spawn start method) build
tables while the parent keeps its own: for `memtide run --follow-exec`."""
import multiprocessing as mp


def build(n):
    table = [bytearray(1000) for i in range(n)]
    return sum(len(row) for row in table)


if __name__ == "__main__":
    keep = [bytearray(1000) for i in range(20_000)]
    with mp.get_context("spawn").Pool(2) as pool:
        sizes = pool.map(build, [30_000, 60_000])
    print("built", sizes)
