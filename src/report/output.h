/*
 * output.h - small helpers every report shares: human sizes and counts,
 * and JSON strings escaped so that names from the profiled program can
 * never break out of a JSON document or an HTML page that embeds one.
 */
#ifndef MT_OUTPUT_H
#define MT_OUTPUT_H

#include <stdint.h>
#include <stdio.h>

/* "512 B", "3.91 KB", "1.50 GB" (powers of 1024). */
const char *mt_fmt_size(char *buf, size_t cap, uint64_t bytes);
/* "1,234,567". */
const char *mt_fmt_count(char *buf, size_t cap, uint64_t n);
/* Writes s as a quoted JSON string; invalid UTF-8 becomes U+FFFD. */
void mt_json_str(FILE *f, const char *s);

#endif
