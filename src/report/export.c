/*
 * export.c - gprof2dot JSON, CSV and speedscope exports (see export.h).
 * Every format lists the view's stacks (one per stack, thread and
 * allocator kind) with their bytes; frames are shared through one table.
 */
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "output.h"
#include "../format/xalloc.h"

struct stack_list {
	uint32_t *keys, n;
	const struct mt_usage *v;
};

static struct stack_list view_keys(const struct mt_replay *r, enum mt_view view)
{
	struct stack_list l = { mt_xcalloc(r->nkeys, sizeof(uint32_t)), 0, mt_view_values(r, view) };

	for (uint32_t k = 0; k < r->nkeys; k++)
		if (l.v[k].bytes || l.v[k].count)
			l.keys[l.n++] = k;
	return l;
}

/*
 * Frames of key k kept by the filter, outermost first, as frame indices.
 * A stack with none left (no stack recorded, or only hidden frames) gets
 * one "<unknown>" frame: the tools reject a sample without frames.
 */
static int key_frames(struct mt_calltree *t, const struct mt_replay *r, struct mt_symbols *syms,
		      uint32_t k, int show_hidden, uint32_t *idx, struct mt_dframe *f)
{
	static const struct mt_dframe unknown = { "<unknown>", "", 0, 0, 0 };
	int n = mt_stack_frames(&r->c, syms, r->keys[k].stack, f, MT_MAX_FRAMES), m = 0;

	for (int i = 0; i < n; i++)
		if (show_hidden || !f[i].hidden)
			idx[m++] = mt_calltree_frame(t, &f[i]);
	if (!m)
		idx[m++] = mt_calltree_frame(t, &unknown);
	return m;
}

static void export_csv(FILE *f, struct mt_calltree *t, const struct mt_replay *r,
		       struct mt_symbols *syms, const struct stack_list *l, int show_hidden,
		       uint32_t *idx, struct mt_dframe *fr)
{
	fputs("allocator,num_allocations,size,tid,thread_name,stack_trace\n", f);
	for (uint32_t i = 0; i < l->n; i++) {
		uint32_t k = l->keys[i], th = r->keys[k].thread;
		int n = key_frames(t, r, syms, k, show_hidden, idx, fr);
		const struct mt_thread_info *ti = th < r->c.nthreads ? &r->c.threads[th] : NULL;
		char *trace = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&trace, &len);

		fprintf(f, "%s,%llu,%llu,%llu,", mt_event_kind_name(r->keys[k].kind),
			(unsigned long long)l->v[k].count, (unsigned long long)l->v[k].bytes,
			(unsigned long long)(ti ? ti->tid : 0));
		mt_csv_str(f, ti && ti->name ? ti->name : "");
		fputc(',', f);
		for (int j = n - 1; m && j >= 0; j--) {	/* innermost first */
			const struct mt_dframe *d = &t->frames[idx[j]];

			fprintf(m, "%s%s;%s;%u", j == n - 1 ? "" : "|", d->function, d->file, d->line);
		}
		if (m) {
			fclose(m);
			mt_csv_str(f, trace);
		}
		free(trace);
		fputc('\n', f);
	}
}

static void export_gprof2dot(FILE *f, struct mt_calltree *t, const struct mt_replay *r,
			     struct mt_symbols *syms, const struct stack_list *l, int show_hidden,
			     uint32_t *idx, struct mt_dframe *fr)
{
	fputs("{\"version\": 0, \"costs\": [{\"description\": \"Memory\", \"unit\": \"bytes\"}], "
	      "\"events\": [", f);
	for (uint32_t i = 0; i < l->n; i++) {
		uint32_t k = l->keys[i];
		int n = key_frames(t, r, syms, k, show_hidden, idx, fr);

		fprintf(f, "%s\n  {\"callchain\": [", i ? "," : "");
		for (int j = n - 1; j >= 0; j--)	/* callee first */
			fprintf(f, "%s%u", j == n - 1 ? "" : ", ", idx[j] - 1);
		fprintf(f, "], \"cost\": [%llu]}", (unsigned long long)l->v[k].bytes);
	}
	fputs("\n], \"functions\": [", f);
	for (uint32_t i = 1; i < t->nframes; i++) {
		const struct mt_dframe *d = &t->frames[i];
		size_t len = strlen(d->function) + strlen(d->file) + 32;
		char *name = mt_xrealloc(NULL, len);

		if (d->file[0])
			snprintf(name, len, "%s at %s:%u", d->function, d->file, d->line);
		else	/* [no Python frame] */
			snprintf(name, len, "%s", d->function);
		fprintf(f, "%s\n  {\"name\": ", i > 1 ? "," : "");
		mt_json_str(f, name);
		free(name);
		fputs(", \"module\": ", f);
		mt_json_str(f, d->file);
		fputc('}', f);
	}
	fputs("\n]}\n", f);
}

static void export_speedscope(FILE *f, struct mt_calltree *t, const struct mt_replay *r,
			      struct mt_symbols *syms, const struct stack_list *l, int show_hidden,
			      uint32_t *idx, struct mt_dframe *fr, enum mt_view view)
{
	uint64_t total = 0;

	/* frames are numbered while the samples are written, so samples first */
	char *samples = NULL;
	size_t slen = 0;
	FILE *m = open_memstream(&samples, &slen);

	if (!m)
		return;
	for (uint32_t i = 0; i < l->n; i++) {
		uint32_t k = l->keys[i];
		int n = key_frames(t, r, syms, k, show_hidden, idx, fr);

		fputs(i ? ", [" : "[", m);
		for (int j = 0; j < n; j++)
			fprintf(m, "%s%u", j ? ", " : "", idx[j] - 1);
		fputc(']', m);
		total += l->v[k].bytes;
	}
	fclose(m);
	fputs("{\"$schema\": \"https://www.speedscope.app/file-format-schema.json\", "
	      "\"exporter\": \"memtide\", \"name\": ", f);
	mt_json_str(f, r->c.command ? r->c.command : "memtide");
	fputs(", \"shared\": {\"frames\": [", f);
	for (uint32_t i = 1; i < t->nframes; i++) {
		fprintf(f, "%s\n  {\"name\": ", i > 1 ? "," : "");
		mt_json_str(f, t->frames[i].function);
		fputs(", \"file\": ", f);
		mt_json_str(f, t->frames[i].file);
		fprintf(f, ", \"line\": %u}", t->frames[i].line);
	}
	fputs("\n]}, \"profiles\": [{\"type\": \"sampled\", \"name\": ", f);
	mt_json_str(f, view == MT_VIEW_LEAKS ? "leaked memory" : view == MT_VIEW_TEMPORARY ?
		     "temporary allocations" : "memory at the peak");
	fprintf(f, ", \"unit\": \"bytes\", \"startValue\": 0, \"endValue\": %llu, \"samples\": [%s], "
		   "\"weights\": [", (unsigned long long)total, samples ? samples : "");
	for (uint32_t i = 0; i < l->n; i++)
		fprintf(f, "%s%llu", i ? ", " : "", (unsigned long long)l->v[l->keys[i]].bytes);
	fputs("]}]}\n", f);
	free(samples);
}

void mt_export(FILE *f, enum mt_export_format fmt, const struct mt_replay *r,
	       struct mt_symbols *syms, enum mt_view view, int show_hidden)
{
	struct stack_list l = view_keys(r, view);
	struct mt_calltree t;
	uint32_t *idx = mt_xcalloc(MT_MAX_FRAMES, sizeof(*idx));
	struct mt_dframe *fr = mt_xcalloc(MT_MAX_FRAMES, sizeof(*fr));

	memset(&t, 0, sizeof(t));
	if (fmt == MT_EXPORT_CSV)
		export_csv(f, &t, r, syms, &l, show_hidden, idx, fr);
	else if (fmt == MT_EXPORT_GPROF2DOT)
		export_gprof2dot(f, &t, r, syms, &l, show_hidden, idx, fr);
	else
		export_speedscope(f, &t, r, syms, &l, show_hidden, idx, fr, view);
	mt_calltree_release(&t);
	free(l.keys);
	free(idx);
	free(fr);
}
