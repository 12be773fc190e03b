/*
 * tide_decode.c - a test tool, not a profiled program: writes the record
 * stream of a capture (every chunk decompressed, in order) to stdout,
 * decoding an open chunk (sizes 0xFFFFFFFF, still being written when the
 * program died) as far as its bytes go, and says on stderr
 * "chunks N open K bytes B".  Exit 1 on a damaged file.  Lets the tests
 * look at what the writer wrote independently of memtide's reader.
 * Build: cc -o tide_decode tide_decode.c -lzstd
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static uint32_t u32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

int main(int argc, char **argv)
{
	FILE *f = argc == 2 ? fopen(argv[1], "rb") : NULL;
	ZSTD_DStream *d = ZSTD_createDStream();
	size_t outcap = ZSTD_DStreamOutSize(), total = 0;
	uint8_t hdr[16], *out = malloc(outcap), *in = NULL;
	unsigned chunks = 0, open = 0;
	long size;

	if (!f || fread(hdr, 1, 16, f) != 16 || memcmp(hdr, "MEMTIDE", 8)) {
		fprintf(stderr, "usage: tide_decode CAPTURE (a memtide capture)\n");
		return 1;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 16, SEEK_SET);
	in = malloc((size_t)size);
	while (fread(hdr, 1, 16, f) == 16) {
		uint32_t z = u32(hdr + 4), r = u32(hdr + 8);
		size_t n, decoded = 0;
		ZSTD_inBuffer ib;

		if (u32(hdr) != 0x4b484354u) {
			fprintf(stderr, "bad chunk header\n");
			return 1;
		}
		if (z == 0xFFFFFFFFu && r == 0xFFFFFFFFu) {
			n = fread(in, 1, (size_t)size, f);	/* the rest of the file */
			open++;
		} else {
			n = fread(in, 1, z, f);
			if (n != z) {
				fprintf(stderr, "chunk cut short\n");
				return 1;
			}
		}
		chunks++;
		ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
		ib = (ZSTD_inBuffer){ in, n, 0 };
		while (ib.pos < ib.size) {
			ZSTD_outBuffer ob = { out, outcap, 0 };
			size_t rc = ZSTD_decompressStream(d, &ob, &ib);

			if (ZSTD_isError(rc)) {
				fprintf(stderr, "chunk %u does not decode: %s\n", chunks, ZSTD_getErrorName(rc));
				return 1;
			}
			fwrite(out, 1, ob.pos, stdout);
			decoded += ob.pos;
			if (rc == 0 && ib.pos < ib.size && z != 0xFFFFFFFFu) {
				fprintf(stderr, "chunk %u: bytes after its frame\n", chunks);
				return 1;
			}
			if (!ob.pos && rc != 0 && ib.pos == ib.size)
				break;
		}
		if (z != 0xFFFFFFFFu && decoded != r) {
			fprintf(stderr, "chunk %u: %zu bytes, header says %u\n", chunks, decoded, r);
			return 1;
		}
		total += decoded;
	}
	fprintf(stderr, "chunks %u open %u bytes %zu\n", chunks, open, total);
	return 0;
}
