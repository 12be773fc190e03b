/*
 * cmd_steps.c - `memtide steps`: the per-step table of a pipeline marked
 * with memtide.step(): how long each step took, the heap at its end, its
 * peak and how far above its start that peak went, the RSS at its end,
 * what it allocated and where most of it came from.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "view.h"
#include "../analysis/location.h"
#include "../analysis/symbols.h"
#include "../report/output.h"

static const char usage_text[] =
	"usage: memtide steps [--json] [-o FILE] FILE\n"
	"\n"
	"One row per step marked in the program with memtide.step(\"name\"):\n"
	"duration, heap at the end, peak inside the step and how much above the\n"
	"step's start, RSS at the end, allocations made and their bytes, and the\n"
	"site that allocated the most bytes in the step.\n"
	"\n"
	"      --json           a list of objects instead of the table\n"
	"  -o, --output FILE    write to FILE (-f to overwrite)\n"
	VIEW_WIDTH_HELP
	"  -h, --help           show this help\n";

static void site_text(char *buf, size_t cap, const struct mt_replay *r, struct mt_symbols *syms,
		      const struct mt_step *s, int json, int show_all)
{
	struct mt_location l;

	if (!s->top_bytes) {
		snprintf(buf, cap, "-");
		return;
	}
	mt_locate(&r->c, syms, r->keys[s->top_key].stack, show_all, &l);
	if (!l.file[0])		/* [no Python frame] */
		snprintf(buf, cap, "%s", l.function);
	else if (json)
		snprintf(buf, cap, "%s at %s:%u", l.function, l.file, l.line);
	else
		mt_fmt_site(buf, cap, l.function, l.file, l.line, r->c.cwd);
}

/* The name in a 24-column cell: made safe, cut with "..." or padded. */
static const char *step_name(char *buf, size_t cap, const char *name)
{
	size_t i, cut = 0;
	int cols = 0;

	mt_fmt_text(buf, cap - 24, name);
	for (i = 0; buf[i]; i++) {
		if (((unsigned char)buf[i] & 0xc0) == 0x80)
			continue;	/* inside a character */
		if (cols == 21)
			cut = i;
		if (++cols > 24) {
			strcpy(buf + cut, "...");
			return buf;
		}
	}
	while (cols++ < 24)
		buf[i++] = ' ';
	buf[i] = '\0';
	return buf;
}

int cmd_steps(int argc, char **argv)
{
	struct view_args a;
	struct mt_replay r;
	struct mt_symbols *syms;
	FILE *f;
	char line[4096];
	int rc, width;

	view_init(&a);
	{
		static const struct option opts[] = { VIEW_LONG_OPTIONS, { 0 } };
		const char **files[] = { &a.file };

		if ((rc = view_parse("steps", usage_text, argc, argv, VIEW_SHORT_OPTIONS, opts, &a,
				     NULL, NULL)) ||
		    (rc = view_files("steps", argc, argv, files, 1)))
			return rc < 0 ? 0 : rc;
	}
	if ((rc = view_load("steps", &a, &r)))
		return rc;
	syms = mt_symbols_new(&r.c);
	width = view_width(&a);
	f = view_open("steps", &a);
	if (!f) {
		rc = 1;
		goto out;
	}
	if (a.json)
		fputc('[', f);
	else if (!r.nsteps)
		fprintf(f, "No steps in %s: mark them in the program with memtide.step(\"name\").\n",
			mt_fmt_text(line, sizeof(line), a.file));
	else {
		/* the same widths as the rows below */
		snprintf(line, sizeof(line), "%-24s %9s %11s %11s %11s %11s %10s %11s  %s", "step",
			 "duration", "heap at end", "peak", "above start", "RSS at end", "allocs",
			 "allocated", "top site");
		mt_put_line(f, line, width);
	}
	for (uint32_t i = 0; i < r.nsteps; i++) {
		const struct mt_step *s = &r.steps[i];
		char site[2048], b[6][32], name[256];
		uint64_t above = s->peak > s->heap_start ? s->peak - s->heap_start : 0;
		double ms = (double)(s->end_ns - s->start_ns) / 1e6;

		site_text(site, sizeof(site), &r, syms, s, a.json, a.show_all);
		if (a.json) {
			fputs(i ? ",\n {\"name\": " : "\n {\"name\": ", f);
			mt_json_str(f, mt_capture_string(&r.c, s->name));
			fprintf(f, ", \"start_ms\": %.3f, \"duration_ms\": %.3f, \"heap_start_bytes\": %llu, "
				   "\"heap_end_bytes\": %llu, \"peak_bytes\": %llu, "
				   "\"peak_above_start_bytes\": %llu, \"rss_end_bytes\": %llu, "
				   "\"allocations\": %llu, \"allocated_bytes\": %llu, \"top_site\": ",
				(double)s->start_ns / 1e6, ms, (unsigned long long)s->heap_start,
				(unsigned long long)s->heap_end, (unsigned long long)s->peak,
				(unsigned long long)above, (unsigned long long)s->rss_end,
				(unsigned long long)s->allocations, (unsigned long long)s->allocated_bytes);
			mt_json_str(f, site);
			fprintf(f, ", \"top_site_bytes\": %llu}", (unsigned long long)s->top_bytes);
		} else {
			snprintf(line, sizeof(line), "%s %7.3f s %11s %11s %11s %11s %10s %11s  %s",
				 step_name(name, sizeof(name), mt_capture_string(&r.c, s->name)), ms / 1e3,
				 mt_fmt_size(b[0], sizeof(b[0]), s->heap_end),
				 mt_fmt_size(b[1], sizeof(b[1]), s->peak),
				 mt_fmt_size(b[2], sizeof(b[2]), above),
				 mt_fmt_size(b[3], sizeof(b[3]), s->rss_end),
				 mt_fmt_count(b[4], sizeof(b[4]), s->allocations),
				 mt_fmt_size(b[5], sizeof(b[5]), s->allocated_bytes), site);
			mt_put_line(f, line, width);
		}
	}
	if (a.json)
		fputs(r.nsteps ? "\n]\n" : "]\n", f);
	rc = view_close(&a, f);
out:
	mt_symbols_free(syms);
	mt_replay_release(&r);
	return rc;
}
