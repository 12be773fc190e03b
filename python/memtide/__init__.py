"""memtide: a memory profiler for Python and native programs.

The capture engine is libmemtide.so and the reports are the `memtide`
command; this package holds the per-version helper that reads Python
stacks for the tracker (memtide._memtide).
"""

__all__ = []
