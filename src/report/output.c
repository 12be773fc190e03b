/*
 * output.c - formatting shared by the reports (see output.h).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "output.h"

const char *mt_fmt_size(char *buf, size_t cap, uint64_t bytes)
{
	static const char *units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, "%.2f %s", v, units[u]);
	return buf;
}

int mt_parse_size(const char *text, uint64_t *bytes)
{
	static const char *units[] = { "k", "m", "g", "t", "p" };
	const char *p = text;
	uint64_t whole = 0, frac = 0, fscale = 1, unit = 1;
	int digits = 0;

	while (*p >= '0' && *p <= '9') {
		if (whole > (UINT64_MAX - 9) / 10)
			return -1;
		whole = whole * 10 + (uint64_t)(*p++ - '0');
		digits++;
	}
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (fscale < 1000000000000000ull) {	/* 15 decimals at most */
				frac = frac * 10 + (uint64_t)(*p - '0');
				fscale *= 10;
			}
	if (!digits)
		return -1;
	while (*p == ' ')
		p++;
	if (*p && *p != 'b' && *p != 'B') {
		int k = -1, binary = (p[1] == 'i' || p[1] == 'I');

		for (int i = 0; i < 5; i++)
			if (*p == units[i][0] || *p == units[i][0] - 'a' + 'A')
				k = i;
		if (k < 0 || (p[1 + binary] != 'b' && p[1 + binary] != 'B') || p[2 + binary])
			return -1;
		for (int i = 0; i <= k; i++)
			unit *= binary ? 1024 : 1000;
	} else if (*p && p[1]) {
		return -1;
	}
	if (whole > UINT64_MAX / unit)
		return -1;
	whole *= unit;
	/* frac / fscale of a unit, rounded down (in 128 bits: both below 2^51) */
	frac = (uint64_t)((unsigned __int128)frac * unit / fscale);
	if (whole > UINT64_MAX - frac)
		return -1;
	*bytes = whole + frac;
	return 0;
}

const char *mt_fmt_sampled(char *buf, size_t cap, uint64_t rate)
{
	static const char *units[2][4] = { { "bytes", "KiB", "MiB", "GiB" },
					   { "bytes", "KB", "MB", "GB" } };
	uint64_t v = rate;
	int u = 0, dec = 0;

	while (u < 3 && v && v % 1024 == 0)
		v /= 1024, u++;
	if (!u) {
		for (dec = 1; u < 3 && v && v % 1000 == 0; u++)
			v /= 1000;
		dec = u > 0;
	}
	snprintf(buf, cap, "sampled every ~%llu %s: figures are estimates",
		 (unsigned long long)v, units[dec][u]);
	return buf;
}

const char *mt_plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

const char *mt_fmt_count(char *buf, size_t cap, uint64_t n)
{
	char tmp[32];
	int len = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)n), o = 0;

	for (int i = 0; i < len && (size_t)o + 2 < cap; i++) {
		if (i && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
	return buf;
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static int utf8_len(const unsigned char *s)
{
	int n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 :
		(s[0] & 0xf8) == 0xf0 ? 4 : 0;

	if (n == 2 && s[0] < 0xc2)
		return 0;
	for (int i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

void mt_json_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");

	fputc('"', f);
	while (*s) {
		int n = utf8_len(s);

		if (n == 0) {
			fputs("\\ufffd", f);
			s++;
			continue;
		}
		if (n > 1) {
			fwrite(s, 1, (size_t)n, f);
			s += n;
			continue;
		}
		switch (*s) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\t': fputs("\\t", f); break;
		case '\r': fputs("\\r", f); break;
		case '<': case '>': case '&': case '\'':
			fprintf(f, "\\u%04x", *s);
			break;
		default:
			if (*s < 0x20 || *s == 0x7f)
				fprintf(f, "\\u%04x", *s);
			else
				fputc(*s, f);
		}
		s++;
	}
	fputc('"', f);
}

const char *mt_fmt_text(char *buf, size_t cap, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t o = 0;

	if (!cap)
		return buf;
	while (*s) {
		char esc[8];
		int n = utf8_len(s);
		size_t len;

		/* C0, DEL, C1 (U+0080-U+009F) and bytes that are not UTF-8 */
		if (n == 0 || (n == 1 && (*s < 0x20 || *s == 0x7f))) {
			if (*s == '\n' || *s == '\r' || *s == '\t')
				len = (size_t)snprintf(esc, sizeof(esc), "\\%c",
						       *s == '\n' ? 'n' : *s == '\r' ? 'r' : 't');
			else
				len = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *s);
			n = 1;
		} else if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0) {
			len = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", s[1]);
		} else {
			memcpy(esc, s, (size_t)n);
			len = (size_t)n;
		}
		if (o + len >= cap)
			break;
		memcpy(buf + o, esc, len);
		o += len;
		s += n;
	}
	buf[o] = '\0';
	return buf;
}

/* Whether path starts with dir and a '/'; the rest, or NULL. */
static const char *below(const char *path, const char *dir)
{
	size_t n = dir ? strlen(dir) : 0;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (!n || strncmp(path, dir, n) || path[n] != '/')
		return NULL;
	return path + n + 1;
}

/* The part after the last ".../lib/pythonX.Y/" of path, or NULL. */
static const char *in_stdlib(const char *path)
{
	const char *found = NULL;

	for (const char *p = strstr(path, "/lib"); p; p = strstr(p + 1, "/lib")) {
		const char *q = p + 4;

		if (!strncmp(q, "64", 2))
			q += 2;
		if (strncmp(q, "/python", 7))
			continue;
		q += 7;
		if (*q < '0' || *q > '9')
			continue;
		while ((*q >= '0' && *q <= '9') || *q == '.')
			q++;
		if (*q == '/')
			found = q + 1;
	}
	return found;
}

const char *mt_short_path(char *buf, size_t cap, const char *path, const char *cwd)
{
	const char *rest, *pkg = NULL;

	if (!path || path[0] != '/') {
		snprintf(buf, cap, "%s", path ? path : "");
		return buf;
	}
	for (const char *p = path; (p = strstr(p, "-packages/")); p++)
		if (p - path >= 5 && (!strncmp(p - 5, "/site", 5) || !strncmp(p - 5, "/dist", 5)))
			pkg = p - 4;
	if (pkg) {
		snprintf(buf, cap, "%s", pkg);
	} else if ((rest = below(path, cwd))) {
		snprintf(buf, cap, "%s", rest);
	} else if ((rest = in_stdlib(path))) {
		snprintf(buf, cap, "<stdlib>/%s", rest);
	} else {
		snprintf(buf, cap, "%s", path);
	}
	return buf;
}

int mt_term_width(int width)
{
	struct winsize ws;
	const char *env;

	if (width >= 0)
		return width;
	if (!isatty(STDOUT_FILENO))
		return 0;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	env = getenv("COLUMNS");
	width = env ? atoi(env) : 0;
	return width > 0 ? width : 80;
}

void mt_put_line(FILE *f, const char *line, int width)
{
	const unsigned char *s = (const unsigned char *)line;
	int cols = 0;
	size_t i = 0, cut = 0;

	if (width <= 0) {
		fprintf(f, "%s\n", line);
		return;
	}
	/* one column per character; the last three of a long line become "..." */
	while (s[i]) {
		int n = utf8_len(s + i);

		n = n ? n : 1;
		if (cols == width - 3)
			cut = i;
		cols++;
		i += (size_t)n;
		if (cols > width) {
			fprintf(f, "%.*s...\n", (int)cut, line);
			return;
		}
	}
	fprintf(f, "%s\n", line);
}

const char *mt_fmt_site(char *buf, size_t cap, const char *function, const char *file,
			unsigned line, const char *cwd)
{
	char fn[1024], path[1024], fpath[1024];

	mt_fmt_text(fn, sizeof(fn), function);
	mt_fmt_text(fpath, sizeof(fpath), mt_short_path(path, sizeof(path), file, cwd));
	if (!file || !file[0])	/* [no Python frame] */
		snprintf(buf, cap, "%s", fn);
	else if (line)
		snprintf(buf, cap, "%s at %s:%u", fn, fpath, line);
	else
		snprintf(buf, cap, "%s at %s", fn, fpath);
	return buf;
}

void mt_csv_str(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

void mt_xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}
