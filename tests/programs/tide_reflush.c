/*
 * tide_reflush.c - test helper (not profiled): rewrites a capture the way
 * a writer that flushes its zstd stream every round lays it out, to test
 * how the reader recovers files cut off or left open by a killed writer.
 *
 *   tide_reflush IN OUT ROUND_BYTES open|closed
 *
 * IN is a whole capture.  OUT gets IN's file header and one chunk holding
 * IN's whole record stream, compressed as one zstd frame flushed
 * (ZSTD_e_flush) after every ROUND_BYTES of stream.  "open": the frame is
 * left unfinished and the chunk header says z = r = 0xFFFFFFFF (a writer
 * killed mid-chunk); "closed": the frame is ended (with its checksum) and
 * the header has the real sizes.  OUT.raw gets the record stream.  Prints
 * one line per flush: the file offset where that round's bytes end and
 * the stream offset it covers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	size_t cap = 0;

	*n = 0;
	if (!f)
		exit(2);
	for (;;) {
		if (*n == cap && !(p = realloc(p, cap = cap ? cap * 2 : 65536)))
			exit(2);
		size_t got = fread(p + *n, 1, cap - *n, f);
		if (!got)
			break;
		*n += got;
	}
	fclose(f);
	return p;
}

static uint32_t u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int main(int argc, char **argv)
{
	size_t n, raw_len = 0, off = 16, round, zlen = 0, zcap;
	uint8_t *in, *raw, *z;
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	char rawpath[4096];
	FILE *f;
	int open;

	if (argc != 5)
		return 2;
	in = slurp(argv[1], &n);
	round = strtoul(argv[3], NULL, 10);
	if (!round)
		return 2;
	open = !strcmp(argv[4], "open");
	for (size_t o = off; o + 16 <= n; o += 16 + u32(in + o + 4))
		raw_len += u32(in + o + 8);
	zcap = ZSTD_compressBound(raw_len) + 4096 + raw_len / round * 16;
	raw = malloc(raw_len + 1);
	z = malloc(zcap);
	if (!raw || !z)
		return 2;
	raw_len = 0;
	while (off + 16 <= n) {	/* every chunk's stream, in order */
		uint32_t zs = u32(in + off + 4), rs = u32(in + off + 8);
		size_t r = ZSTD_decompress(raw + raw_len, rs, in + off + 16, zs);

		if (ZSTD_isError(r) || r != rs)
			return 3;
		raw_len += r;
		off += 16 + zs;
	}
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	f = fopen(argv[2], "wb");
	fwrite(in, 1, 16, f);
	for (size_t pos = 0; pos < raw_len;) {
		size_t take = raw_len - pos < round ? raw_len - pos : round;
		ZSTD_inBuffer ib = { raw + pos, take, 0 };
		ZSTD_outBuffer ob = { z + zlen, zcap - zlen, 0 };

		while (ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_flush) != 0)
			;
		zlen += ob.pos;
		pos += take;
		printf("%zu %zu\n", 32 + zlen, pos);
	}
	if (!open) {
		ZSTD_inBuffer ib = { NULL, 0, 0 };
		ZSTD_outBuffer ob = { z + zlen, zcap - zlen, 0 };

		while (ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end) != 0)
			;
		zlen += ob.pos;
	}
	{
		uint8_t h[16] = { 0 };

		put32(h, 0x4b484354u);
		put32(h + 4, open ? 0xFFFFFFFFu : (uint32_t)zlen);
		put32(h + 8, open ? 0xFFFFFFFFu : (uint32_t)raw_len);
		fwrite(h, 1, 16, f);
		fwrite(z, 1, zlen, f);
	}
	fclose(f);
	snprintf(rawpath, sizeof(rawpath), "%s.raw", argv[2]);
	f = fopen(rawpath, "wb");
	fwrite(raw, 1, raw_len, f);
	fclose(f);
	ZSTD_freeCCtx(cc);
	return 0;
}
