/*
 * format.h - the memtide capture file format: constants shared by the
 * writer (inside the profiled process) and the reader (the reports).
 *
 * docs/FORMAT.md describes the layout in prose; this header and that
 * document change together, in one commit, with the format version.
 */
#ifndef MEMTIDE_FORMAT_H
#define MEMTIDE_FORMAT_H

#include <stdint.h>

#define MT_MAGIC "MEMTIDE"		/* 8 bytes on disk, with its NUL */
#define MT_VERSION 2			/* 2: COLUMNS records; version 1 still reads */
#define MT_FILE_HEADER_SIZE 16		/* magic[8] u16 version u16 hdrsize u32 0 */

#define MT_CHUNK_MAGIC 0x4b484354u	/* "TCHK" little-endian */
#define MT_CHUNK_HEADER_SIZE 16		/* magic u32, zsize u32, rawsize u32, 0 */
#define MT_CHUNK_RAW_MAX (8u << 20)	/* a reader refuses bigger chunks */
#define MT_CHUNK_OPEN 0xFFFFFFFFu	/* zsize and rawsize of a chunk still being written */

/* Record tags inside a decompressed chunk. */
enum mt_record {
	MT_REC_META = 1,	/* str key, str value */
	MT_REC_STRING = 2,	/* str; ids are implicit, from 1 */
	MT_REC_PYFRAME = 3,	/* name sid, file sid, line, flags; ids from 1 */
	MT_REC_NODE = 4,	/* parent, kind, value[, gen]; ids from 1 */
	MT_REC_MODULE = 5,	/* gen, bias, str path, str build-id, nseg, (vaddr,memsz)* */
	MT_REC_UNLOAD = 6,	/* gen, bias */
	MT_REC_THREAD = 7,	/* thread index, os tid, str name */
	MT_REC_EVENTS = 8,	/* byte length, packed events */
	MT_REC_TIME = 9,	/* ns since start of the events that follow */
	MT_REC_SAMPLE = 10,	/* ns since start, rss bytes */
	MT_REC_END = 11,	/* ns since start: clean end of the capture */
	MT_REC_COLUMNS = 12,	/* byte length, MT_NCOLS column lengths, columns (version 2) */
	/* aggregated captures only (memtide run --aggregate) */
	MT_REC_AGGREGATE = 13,	/* n, n numbers: the capture's figures */
	MT_REC_AGG_KEY = 14,	/* stack, thread, kind, total, peak, leaked, temporary */
	MT_REC_AGG_POINT = 15,	/* ns, heap, rss: one point of the timeline */
};

/* Stack node kinds (MT_REC_NODE). */
enum mt_node_kind {
	MT_NODE_PYTHON = 0,	/* value: python frame id */
	MT_NODE_NATIVE = 1,	/* value: instruction pointer; then module gen */
};

/* Python frame flags (MT_REC_PYFRAME). */
#define MT_PYFRAME_ENTRY 1	/* first frame of a C-level evaluation call */

/*
 * Event kinds: the low 4 bits of an event's first byte.  The allocator
 * kinds come first, so "kind < MT_EV_FREE" means "an allocation".
 *
 * Events are written in the order they happened, all threads merged.
 * Heap blocks are not named by address but by slot: every heap
 * allocation takes the most recently freed slot, or the next new one
 * (0, 1, 2, ...), and a free names its slot.  Mappings (mmap, mremap,
 * munmap) keep their addresses, since munmap can cut them.
 *
 *   heap allocation  head, size, [stack]
 *   MT_EV_MMAP/MREMAP head, address, size, [stack]
 *   MT_EV_FREE       head, slot
 *   MT_EV_MUNMAP     head, address, length
 *   MT_EV_STEP       head, string id of the step's name (0: no step), ns,
 *                    RSS in 4 KiB pages
 *
 * with the thread index right after the head when MT_EVF_THREAD is set.
 */
enum mt_event_kind {
	MT_EV_MALLOC = 1,
	MT_EV_CALLOC,
	MT_EV_REALLOC,
	MT_EV_REALLOCARRAY,
	MT_EV_POSIX_MEMALIGN,
	MT_EV_ALIGNED_ALLOC,
	MT_EV_MEMALIGN,
	MT_EV_VALLOC,
	MT_EV_PVALLOC,
	MT_EV_MMAP,
	MT_EV_MREMAP,
	MT_EV_PYMALLOC,		/* Python's object and memory domains */
	MT_EV_FREE,		/* address only */
	MT_EV_MUNMAP,		/* address and length */
	MT_EV_STEP,		/* a pipeline step begins: its name */
	/*
	 * Not a head value: an MMAP with MT_EVF_FILE on disk, a mapping of a
	 * file (no MAP_ANONYMOUS).  Captures without the flag read as before.
	 */
	MT_EV_MMAP_FILE,
	/*
	 * Nor these (docs/FORMAT.md, "Reserved address space"): a MUNMAP with
	 * MT_EVF_RESERVE, an anonymous mapping made PROT_NONE, which reserves
	 * addresses and is no memory; a MUNMAP with MT_EVF_DECOMMIT, an
	 * mprotect(PROT_NONE) that turns the anonymous mappings in its range
	 * back into reserved addresses; an MMAP with MT_EVF_COMMIT, an
	 * mprotect that makes a range accessible and so allocates the part of
	 * it that was reserved.
	 */
	MT_EV_RESERVE,
	MT_EV_DECOMMIT,
	MT_EV_COMMIT,
	MT_EV_KIND_COUNT
};

/* Flags: the high bits of an event's first byte. */
#define MT_EVF_SAMESTACK 0x10	/* stack is the previous allocation's */
#define MT_EVF_THREAD 0x20	/* a thread index follows; it holds until the next */
#define MT_EVF_FILE 0x40	/* MT_EV_MMAP only: the mapping is file-backed */
#define MT_EVF_COMMIT 0x80	/* MT_EV_MMAP only: an mprotect making it accessible */
#define MT_EVF_RESERVE 0x40	/* MT_EV_MUNMAP only: mapped PROT_NONE */
#define MT_EVF_DECOMMIT 0x80	/* MT_EV_MUNMAP only: an mprotect(PROT_NONE) */
_Static_assert(MT_EVF_FILE == MT_EVF_RESERVE && MT_EVF_COMMIT == MT_EVF_DECOMMIT,
	       "readers take MMAP's and MUNMAP's variants from the same two bits");
#define MT_EVF_LASTSLOT 0x10	/* MT_EV_FREE in COLUMNS only: the slot is the last allocation's */

/*
 * The columns of a COLUMNS record: the events' fields, each kind of field
 * in a column of its own, so that zstd codes each with a table of its own
 * (the writer ends a zstd block after each column of a big record).  A
 * number split in two goes as its low byte (column c) and the rest as a
 * varint (column c + 1).
 */
enum mt_column {
	MT_COL_HEAD,		/* one head byte per event */
	MT_COL_THREAD,		/* thread index, for heads with MT_EVF_THREAD */
	MT_COL_SLOT,		/* FREE's slot, split (none with MT_EVF_LASTSLOT) */
	MT_COL_SLOT_HI,
	MT_COL_SIZE,		/* size or length, split */
	MT_COL_SIZE_HI,
	MT_COL_STACK,		/* stack node, unless MT_EVF_SAMESTACK */
	MT_COL_OTHER,		/* mapping addresses; STEP's string id, ns, pages */
	MT_NCOLS
};

/* The head byte of an event of this kind, before the flags above. */
static inline uint8_t mt_event_head(unsigned kind)
{
	switch (kind) {
	case MT_EV_MMAP_FILE:
		return MT_EV_MMAP | MT_EVF_FILE;
	case MT_EV_COMMIT:
		return MT_EV_MMAP | MT_EVF_COMMIT;
	case MT_EV_RESERVE:
		return MT_EV_MUNMAP | MT_EVF_RESERVE;
	case MT_EV_DECOMMIT:
		return MT_EV_MUNMAP | MT_EVF_DECOMMIT;
	default:
		return (uint8_t)kind;
	}
}

/* Events with a size and a stack: allocations, and a COMMIT may be one. */
static inline int mt_event_is_alloc(unsigned kind)
{
	return (kind >= MT_EV_MALLOC && kind < MT_EV_FREE) || kind == MT_EV_MMAP_FILE ||
	       kind == MT_EV_COMMIT;
}

/* Events of address ranges, not of heap blocks: always recorded. */
static inline int mt_event_is_mmap(unsigned kind)
{
	return kind == MT_EV_MMAP || kind == MT_EV_MREMAP || kind == MT_EV_MUNMAP ||
	       (kind >= MT_EV_MMAP_FILE && kind < MT_EV_KIND_COUNT);
}

#endif
