/*
 * output.h - small helpers every report shares: human sizes and counts,
 * and JSON strings escaped so that names from the profiled program can
 * never break out of a JSON document or an HTML page that embeds one.
 */
#ifndef MT_OUTPUT_H
#define MT_OUTPUT_H

#include <stdint.h>
#include <stdio.h>

/* "512 B", "3.91 KiB", "1.50 GiB" (powers of 1024, named as such). */
const char *mt_fmt_size(char *buf, size_t cap, uint64_t bytes);
/*
 * A size as users write it: "512", "10MB" (10,000,000), "10 MiB"
 * (10,485,760), "1.5 GiB": a number, then B, KB, MB, GB, TB, PB (powers of
 * 1000) or KiB ... PiB (powers of 1024), in any case; a fraction of a byte
 * is dropped.  0, or -1 when text is not such a size or does not fit.
 */
int mt_parse_size(const char *text, uint64_t *bytes);
/*
 * The words every report shows for a sampled capture (rate: its
 * sample_rate): "sampled every ~512 KiB: figures are estimates", the rate
 * as users write it (KiB... when a whole number of them, else KB..., else
 * bytes).  Returns buf.
 */
const char *mt_fmt_sampled(char *buf, size_t cap, uint64_t rate);
/* one when n is 1, else many: "1 allocation", "2 allocations". */
const char *mt_plural(uint64_t n, const char *one, const char *many);
/* What mt_parse_size takes, for error messages. */
#define MT_SIZE_SYNTAX "a number of bytes, or a number and a unit: B, KB, MB, GB, TB " \
	"(powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)"
/* "1,234,567". */
const char *mt_fmt_count(char *buf, size_t cap, uint64_t n);
/* Writes s as one CSV field (RFC 4180): quoted when it holds a comma, a
 * quote or a line break, its quotes doubled. */
void mt_csv_str(FILE *f, const char *s);
/* Writes s as HTML/XML text or attribute value: <, >, &, " and ' escaped. */
void mt_xml_text(FILE *f, const char *s);
/* Writes s as a quoted JSON string; invalid UTF-8 becomes U+FFFD. */
void mt_json_str(FILE *f, const char *s);

/*
 * Text from the profiled program (names, paths, the command line) made
 * safe for a terminal: control characters (C0, DEL, C1) become \n, \r,
 * \t, \xNN or \u00NN, bytes that are not UTF-8 \xNN.  Cut short to fit
 * cap.  Returns buf.
 */
const char *mt_fmt_text(char *buf, size_t cap, const char *s);
/*
 * path as text reports show it: "site-packages/..." (or dist-packages)
 * for installed packages, relative to cwd below it, "<stdlib>/..." for
 * Python's standard library, else unchanged.  Returns buf.
 */
const char *mt_short_path(char *buf, size_t cap, const char *path, const char *cwd);
/*
 * "function at file:line" (":line" left out when line is 0) for a text
 * report: the function and the shortened path made safe as above.
 */
const char *mt_fmt_site(char *buf, size_t cap, const char *function, const char *file,
			unsigned line, const char *cwd);
/*
 * The width text lines should fit: width itself when >= 0 (an option),
 * else the terminal's when stdout is one, else 0 (no limit).
 */
int mt_term_width(int width);
/* Writes line and a newline, cut to width columns with "..." (0: whole). */
void mt_put_line(FILE *f, const char *line, int width);

#endif
