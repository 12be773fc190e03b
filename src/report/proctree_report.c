/*
 * proctree_report.c - `memtide stats` on the captures of a run: the
 * process tree (command, pid, parent, peak, total, how each ended) and
 * the combined peak, and the steps of every process by name (with
 * memtide.dask: tasks by key prefix), as text or JSON.
 */
#include <stdio.h>
#include <string.h>

#include "output.h"
#include "proctree_report.h"

static const char *ending(const struct mt_proc *p, char *buf, size_t cap)
{
	if (p->truncated)
		return "truncated";
	if (!p->ended_by)
		return "exit";
	return mt_fmt_text(buf, cap, p->ended_by);
}

#define STEP_NAME_WIDTH 32	/* longer names are cut with "..." */

static size_t shown_steps(const struct mt_proctree *t, size_t top)
{
	return top < t->nsteps ? top : t->nsteps;
}

/* The step names whose runs rose highest above their start. */
static void print_steps_text(FILE *f, const struct mt_proctree *t, size_t top)
{
	size_t n = shown_steps(t, top);
	char name[4096], a[32], b[32], c[32];
	int wname = 4;

	for (size_t i = 0; i < n; i++) {
		int w = (int)strlen(mt_fmt_text(name, sizeof(name), t->steps[i].name));

		wname = w > wname ? w : wname;
	}
	wname = wname < STEP_NAME_WIDTH ? wname : STEP_NAME_WIDTH;
	fprintf(f, "\nTop steps by peak above their start (%zu of %zu %s; memtide.dask: tasks\n"
		   "by key prefix):\n\n  %-*s  %6s  %11s  %10s  %10s  %9s  %s\n",
		n, t->nsteps, mt_plural(t->nsteps, "name", "names"), wname, "STEP", "RUNS",
		"ABOVE START", "HEAP PEAK", "ALLOCATED", "TIME", "PID");
	for (size_t i = 0; i < n; i++) {
		const struct mt_step_total *s = &t->steps[i];
		size_t len = strlen(mt_fmt_text(name, sizeof(name), s->name));

		if (len > STEP_NAME_WIDTH)
			memcpy(name + STEP_NAME_WIDTH - 3, "...", 4);
		fprintf(f, "  %-*s  %6llu  %11s  %10s  %10s  %7.3f s  %llu\n", wname, name,
			(unsigned long long)s->runs, mt_fmt_size(a, sizeof(a), s->above),
			mt_fmt_size(b, sizeof(b), s->peak),
			mt_fmt_size(c, sizeof(c), s->allocated_bytes), (double)s->duration_ns / 1e9,
			(unsigned long long)s->above_pid);
	}
}

void mt_proctree_print_text(FILE *f, const struct mt_proctree *t, size_t top)
{
	char a[32], b[32], pid[64], end[512], text[4096];
	int wpid = 3, wcap = 7, wend = 5;

	for (size_t i = 0; i < t->n; i++) {
		const struct mt_proc *p = &t->procs[i];
		int w = snprintf(pid, sizeof(pid), "%*s%llu", 2 * p->depth, "",
				 (unsigned long long)p->pid);
		int wc = (int)strlen(mt_fmt_text(text, sizeof(text), p->path));
		int we = (int)strlen(ending(p, end, sizeof(end)));

		wpid = w > wpid ? w : wpid;
		wcap = wc > wcap ? wc : wcap;
		wend = we > wend ? we : wend;
	}
	fprintf(f, "Process tree: %zu %s", t->n, mt_plural(t->n, "process", "processes"));
	if (t->n && t->procs[0].session)
		fprintf(f, " (session %s)", mt_fmt_text(text, sizeof(text), t->procs[0].session));
	fprintf(f, "\n\n  %-*s  %-8s  %10s  %10s  %-*s  %-*s  %s\n", wpid, "PID", "PARENT", "PEAK",
		"TOTAL", wend, "ENDED", wcap, "CAPTURE", "COMMAND");
	for (size_t k = 0; k < t->n; k++) {
		const struct mt_proc *p = &t->procs[t->order[k]];
		char cap[4096];

		snprintf(pid, sizeof(pid), "%*s%llu", 2 * p->depth, "", (unsigned long long)p->pid);
		fprintf(f, "  %-*s  %-8llu  %10s  %10s  %-*s  %-*s  %s\n", wpid, pid,
			(unsigned long long)p->ppid, mt_fmt_size(a, sizeof(a), p->peak_bytes),
			mt_fmt_size(b, sizeof(b), p->total_bytes), wend, ending(p, end, sizeof(end)),
			wcap, mt_fmt_text(cap, sizeof(cap), p->path),
			mt_fmt_text(text, sizeof(text), p->command ? p->command : "?"));
	}
	fprintf(f, "\nCombined peak: %s at %.3f s (all processes alive at the same moment,\n"
		   "at the writer's 10 ms resolution)",
		mt_fmt_size(a, sizeof(a), t->combined_peak_bytes),
		(double)(t->combined_peak_unix_ns - t->first_start_ns) / 1e9);
	for (size_t k = 0, shown = 0; k < t->n; k++) {
		const struct mt_proc *p = &t->procs[t->order[k]];

		if (!p->at_combined_peak)
			continue;
		fprintf(f, "%s %llu: %s", shown++ ? "," : "\n  of which", (unsigned long long)p->pid,
			mt_fmt_size(a, sizeof(a), p->at_combined_peak));
	}
	fputc('\n', f);
	if (t->nsteps)
		print_steps_text(f, t, top);
}

static void json_str_or_null(FILE *f, const char *s)
{
	if (s)
		mt_json_str(f, s);
	else
		fputs("null", f);
}

void mt_proctree_print_json(FILE *f, const struct mt_proctree *t, size_t top)
{
	fputs("{\n\"session\": ", f);
	json_str_or_null(f, t->n ? t->procs[0].session : NULL);
	fputs(",\n\"processes\": [", f);
	for (size_t k = 0; k < t->n; k++) {
		const struct mt_proc *p = &t->procs[t->order[k]];
		const char *rest = p->report ? strchr(p->report, '{') : NULL;

		fputs(k ? ",\n{\"capture\": " : "\n{\"capture\": ", f);
		mt_json_str(f, p->path);
		fputs(", \"parent_capture\": ", f);
		json_str_or_null(f, p->parent >= 0 ? t->procs[p->parent].path : NULL);
		fprintf(f, ", \"depth\": %d, \"heap_at_combined_peak_bytes\": %llu", p->depth,
			(unsigned long long)p->at_combined_peak);
		if (rest) {	/* the single capture's keys, as `stats --json FILE` */
			size_t len = strlen(rest + 1);

			while (len && (rest[len] == '\n' || rest[len] == ' '))
				len--;
			fprintf(f, ",%.*s", (int)len, rest + 1);
		} else {
			fputc('}', f);
		}
	}
	fprintf(f, "\n],\n\"combined_peak_bytes\": %llu,\n\"combined_peak_time\": %llu,\n"
		   "\"combined_peak_unix_ns\": %llu,\n\"step_names\": %zu,\n\"steps\": [",
		(unsigned long long)t->combined_peak_bytes,
		(unsigned long long)((t->combined_peak_unix_ns - t->first_start_ns) / 1000000),
		(unsigned long long)t->combined_peak_unix_ns, t->nsteps);
	for (size_t i = 0; i < shown_steps(t, top); i++) {
		const struct mt_step_total *s = &t->steps[i];

		fputs(i ? ",\n {\"name\": " : "\n {\"name\": ", f);
		mt_json_str(f, s->name);
		fprintf(f, ", \"runs\": %llu, \"peak_above_start_bytes\": %llu, \"pid\": %llu, "
			   "\"peak_bytes\": %llu, \"allocations\": %llu, \"allocated_bytes\": %llu, "
			   "\"duration_ms\": %.3f}",
			(unsigned long long)s->runs, (unsigned long long)s->above,
			(unsigned long long)s->above_pid, (unsigned long long)s->peak,
			(unsigned long long)s->allocations, (unsigned long long)s->allocated_bytes,
			(double)s->duration_ns / 1e6);
	}
	fputs("\n]\n}\n", f);
}
