/*
 * lines.c - memory line by line inside chosen functions (see lines.h).
 *
 * Only Python frames are matched: they are known while the capture is
 * read, so the replay can follow the chosen functions' own high-water
 * mark in its single pass (mt_replay_opts.focus).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "frames.h"
#include "hiding.h"
#include "lines.h"
#include "../format/xalloc.h"

static int file_matches(const char *file, const char *want)
{
	size_t n = strlen(file), m = strlen(want);

	if (!strcmp(file, want))
		return 1;
	return n > m && file[n - m - 1] == '/' && !strcmp(file + n - m, want);
}

static int frame_matches(const struct mt_dframe *f, const struct mt_lines_query *q)
{
	return !f->native && (!q->function || !strcmp(f->function, q->function)) &&
	       (!q->file || file_matches(f->file, q->file));
}

/* The innermost frame of stack the query matches, or -1; frames in fr. */
static int innermost_match(const struct mt_capture *c, uint32_t stack,
			   const struct mt_lines_query *q, struct mt_dframe *fr)
{
	int n = mt_stack_frames(c, NULL, stack, fr, MT_MAX_FRAMES);

	while (--n >= 0)
		if (frame_matches(&fr[n], q))
			return n;
	return -1;
}

static struct mt_dframe focus_frames[MT_MAX_FRAMES];

static int focus(void *ctx, const struct mt_capture *c, uint32_t stack)
{
	return innermost_match(c, stack, ctx, focus_frames) >= 0;
}

void mt_lines_focus(struct mt_replay_opts *o, struct mt_lines_query *q)
{
	o->focus = focus;
	o->focus_ctx = q;
}

static struct mt_lines_function *function_of(struct mt_lines *l, const struct mt_dframe *f)
{
	for (uint32_t i = 0; i < l->nfns; i++)
		if (!strcmp(l->fns[i].function, f->function) && !strcmp(l->fns[i].file, f->file))
			return &l->fns[i];
	l->fns = mt_xrealloc(l->fns, (l->nfns + 1) * sizeof(*l->fns));
	l->fns[l->nfns] = (struct mt_lines_function){
		.function = mt_xstrdup(f->function), .file = mt_xstrdup(f->file),
	};
	return &l->fns[l->nfns++];
}

static struct mt_line *line_of(struct mt_lines_function *fn, unsigned line)
{
	uint32_t i = 0;

	while (i < fn->nlines && fn->lines[i].line < line)
		i++;
	if (i < fn->nlines && fn->lines[i].line == line)
		return &fn->lines[i];
	fn->lines = mt_xrealloc(fn->lines, (fn->nlines + 1) * sizeof(*fn->lines));
	memmove(fn->lines + i + 1, fn->lines + i, (fn->nlines - i) * sizeof(*fn->lines));
	fn->nlines++;
	fn->lines[i] = (struct mt_line){ .line = line };
	return &fn->lines[i];
}

static int by_allocated(const void *a, const void *b)
{
	const struct mt_lines_function *x = a, *y = b;

	if (x->allocated_bytes != y->allocated_bytes)
		return x->allocated_bytes < y->allocated_bytes ? 1 : -1;
	return strcmp(x->file, y->file) ? strcmp(x->file, y->file) : strcmp(x->function, y->function);
}

void mt_lines_collect(const struct mt_replay *r, const struct mt_lines_query *q,
		      struct mt_lines *out)
{
	struct mt_dframe *fr = mt_xcalloc(MT_MAX_FRAMES, sizeof(*fr));
	memset(out, 0, sizeof(*out));
	for (uint32_t k = 0; k < r->nkeys; k++) {
		int i;
		struct mt_lines_function *fn;
		struct mt_line *ln;
		uint64_t peak = r->focus_peak ? r->focus_peak[k].bytes : 0;

		if (!r->total[k].count || (i = innermost_match(&r->c, r->keys[k].stack, q, fr)) < 0)
			continue;
		fn = function_of(out, &fr[i]);
		ln = line_of(fn, fr[i].line);
		ln->allocated_bytes += r->total[k].bytes;
		ln->allocations += r->total[k].count;
		ln->net_bytes += r->focus_net[k].bytes;
		ln->peak_bytes += peak;
		fn->allocated_bytes += r->total[k].bytes;
		fn->allocations += r->total[k].count;
		fn->net_bytes += r->focus_net[k].bytes;
		fn->peak_bytes += peak;
	}
	free(fr);
	if (out->nfns)
		qsort(out->fns, out->nfns, sizeof(*out->fns), by_allocated);
}

void mt_lines_release(struct mt_lines *l)
{
	for (uint32_t i = 0; i < l->nfns; i++) {
		free(l->fns[i].function);
		free(l->fns[i].file);
		free(l->fns[i].lines);
	}
	free(l->fns);
	memset(l, 0, sizeof(*l));
}

static int contains_nocase(const char *s, const char *needle)
{
	size_t n = strlen(needle);

	for (; *s; s++)
		if (!strncasecmp(s, needle, n))
			return 1;
	return 0;
}

/* Edit distance of a and b, ignoring case, or 3 when it is above 2. */
static int distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	int row[64], prev;

	if (m >= 64 || (n > m ? n - m : m - n) > 2)
		return 3;
	for (size_t j = 0; j <= m; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= n; i++) {
		prev = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= m; j++) {
			int sub = prev + (tolower((unsigned char)a[i - 1]) !=
					  tolower((unsigned char)b[j - 1]));
			int best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;

			prev = row[j];
			row[j] = sub < best ? sub : best;
		}
	}
	return row[m] > 3 ? 3 : row[m];
}

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

int mt_lines_near(const struct mt_capture *c, const char *name, int files, char *buf,
		  size_t cap, int max)
{
	int found = 0;
	size_t len = 0;
	const char *want = files ? base_name(name) : name;

	buf[0] = '\0';
	for (uint32_t i = 1; i < c->npyframes && found < max; i++) {
		const char *file = mt_capture_string(c, c->pyframes[i].file);
		const char *f = files ? file : mt_capture_string(c, c->pyframes[i].name);
		int dup = 0;

		if (!*f || mt_hidden_python(file) ||
		    !(contains_nocase(f, want) || contains_nocase(want, base_name(f)) ||
		      distance(base_name(f), want) <= 2))
			continue;
		for (uint32_t j = 1; j < i && !dup; j++)
			dup = !strcmp(mt_capture_string(c, files ? c->pyframes[j].file :
							 c->pyframes[j].name), f);
		if (dup)
			continue;
		len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%s",
					found ? ", " : "", f);
		found++;
	}
	if (len >= cap && cap > 4)
		strcpy(buf + cap - 4, "...");
	return found;
}
