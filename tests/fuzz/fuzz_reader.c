/*
 * fuzz_reader.c - libFuzzer target for the capture reader and the replay:
 * each input is a capture file, read by the same entry points the reports
 * use (mt_replay_run, with temporal buckets so both passes run), then
 * every allocation key's stack is turned into display frames (without
 * symbolization, which would open the files a capture names).  A bad
 * input must come back as an error, never a crash, a hang or memory out
 * of proportion to the input.  `make fuzz` builds and runs it.
 *
 * An input that starts with the capture magic is the file itself; any
 * other input is a record stream, written here into a capture of one
 * valid chunk, so that mutations reach the records and the replay past
 * zstd's checksum (the *.stream seeds are such streams).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "memtide/format.h"

#include "../../src/analysis/frames.h"
#include "../../src/analysis/replay.h"

static int fd = -1;
static char path[64];
static ZSTD_CCtx *cctx;
static uint8_t *file;
static size_t file_cap;

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A capture holding the record stream raw[0..n) in one chunk. */
static size_t wrap(const uint8_t *raw, size_t n)
{
	size_t need = MT_FILE_HEADER_SIZE + MT_CHUNK_HEADER_SIZE + ZSTD_compressBound(n), z;

	if (need > file_cap && !(file = realloc(file, file_cap = need)))
		abort();
	memset(file, 0, MT_FILE_HEADER_SIZE + MT_CHUNK_HEADER_SIZE);
	memcpy(file, MT_MAGIC, 8);
	file[8] = MT_VERSION;
	file[10] = MT_FILE_HEADER_SIZE;
	z = ZSTD_compress2(cctx, file + 32, need - 32, raw, n);
	if (ZSTD_isError(z))
		abort();
	put32(file + 16, MT_CHUNK_MAGIC);
	put32(file + 20, (uint32_t)z);
	put32(file + 24, (uint32_t)n);
	return 32 + z;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fd = memfd_create("capture", 0);
	if (fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	cctx = ZSTD_createCCtx();
	if (!cctx || ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mt_dframe frames[MT_MAX_FRAMES];
	struct mt_replay_opts o = { .temporary_threshold = 1, .buckets = 16 };
	struct mt_replay r;
	char err[512];
	int rc;

	if (size > MT_CHUNK_RAW_MAX)
		return 0;
	if (size < 8 || memcmp(data, MT_MAGIC, 8)) {
		size = wrap(data, size);
		data = file;
	}
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	rc = mt_replay_run(path, &o, &r, err, sizeof(err));
	if (rc < 0 && r.c.aggregated) {
		/* an aggregated capture has no temporal pass: its figures instead */
		mt_replay_release(&r);
		o.buckets = 0;
		rc = mt_replay_run(path, &o, &r, err, sizeof(err));
	}
	if (rc == 0) {
		for (uint32_t k = 0; k < r.nkeys; k++)
			mt_stack_frames(&r.c, NULL, r.keys[k].stack, frames, MT_MAX_FRAMES);
		for (uint32_t i = 0; i < r.nsteps; i++)
			(void)mt_capture_string(&r.c, r.steps[i].name);
	}
	mt_replay_release(&r);
	return 0;
}
