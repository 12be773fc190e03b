"""A long-running program to try `memtide attach` on: every half second
it handles a request that caches 1 MB, and it empties the cache at 20 MB."""
import time

cache = []


def handle():
    cache.append(bytearray(1_000_000))
    if len(cache) == 20:
        cache.clear()


while True:
    handle()
    time.sleep(0.5)
