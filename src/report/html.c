/*
 * html.c - the self-contained HTML reports (flamegraph, table): the page
 * templates embedded at build time (web/, $(BUILD)/gen/assets.c) filled
 * with the title and the data document of docs/HTML.md.
 *
 * Every name from the profiled program goes out through mt_json_str, which
 * escapes '<', '>' and '&', so it can neither close the <script> element
 * holding the data nor become markup; the page puts names in the DOM as
 * text only.
 */
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "output.h"
#include "../format/xalloc.h"

#define TIMELINE_POINTS 2000

struct ranked {
	uint32_t key;
	uint64_t weight;
};

static int by_weight(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	return x->weight < y->weight ? 1 : x->weight > y->weight ? -1 : (x->key > y->key) - (x->key < y->key);
}

/*
 * What a thread runs, to tell threads apart: a thread that has no name of
 * its own (the main thread, a native one that kept the process's name) is
 * also named after its outermost Python function outside the threading
 * module.  Threads started by threading carry their Python name, shown as
 * it is.
 */
static const char *thread_entry(const struct mt_dframe *f, int n)
{
	for (int i = 0; i < n; i++) {
		size_t len = strlen(f[i].file);

		if (f[i].native || f[i].hidden || !f[i].file[0] ||
		    (len >= 12 && !strcmp(f[i].file + len - 12, "threading.py")))
			continue;
		return f[i].function;
	}
	return NULL;
}

static void write_meta(FILE *f, const struct mt_replay *r, const struct mt_html_opts *o,
		       uint32_t merged, int thinned)
{
	const char *mode = o->view == MT_VIEW_LEAKS ? "leaks" : o->view == MT_VIEW_TEMPORARY ?
			   "temporary" : "peak";
	int first = 1;

	fputs("{\"meta\": {\"title\": ", f);
	mt_json_str(f, o->title);
	fputs(", \"command\": ", f);
	mt_json_str(f, r->c.command ? r->c.command : "");
	fprintf(f, ", \"pid\": %llu, \"python\": ", (unsigned long long)r->c.pid);
	if (r->c.python) {	/* "3.11.2 (main, ...) [GCC ...]": the version is enough */
		char v[32];

		snprintf(v, sizeof(v), "%.*s", (int)strcspn(r->c.python, " "), r->c.python);
		mt_json_str(f, v);
	} else {
		fputs("null", f);
	}
	fprintf(f, ", \"mode\": \"%s\", \"peak_bytes\": %llu, \"peak_time_ms\": %.3f, "
		   "\"duration_ms\": %.3f, \"truncated\": %s, \"total_bytes\": %llu, "
		   "\"inverted\": %s, \"split_threads\": %s, \"notes\": [",
		mode, (unsigned long long)r->peak_bytes, (double)r->peak_ns / 1e6,
		(double)r->c.end_ns / 1e6, r->c.truncated ? "true" : "false",
		(unsigned long long)r->total_bytes, o->inverted ? "true" : "false",
		o->split_threads ? "true" : "false");
	if (merged) {
		char note[96];

		snprintf(note, sizeof(note), "%u smaller stacks are merged into <other>", merged);
		mt_json_str(f, note);
		first = 0;
	}
	if (r->c.sample_rate) {
		char note[96];

		fputs(first ? "" : ", ", f);
		mt_json_str(f, mt_fmt_sampled(note, sizeof(note), r->c.sample_rate));
		first = 0;
	}
	if (thinned)
		fprintf(f, "%s\"the heap and RSS series are thinned to %d points (maximum of "
			   "each interval)\"", first ? "" : ", ", TIMELINE_POINTS);
	fputs("]}", f);
}

static uint64_t timeline_value(const struct mt_replay *r, int series, size_t i)
{
	return series == 0 ? r->tl_ns[i] : series == 1 ? r->tl_heap[i] : r->tl_rss[i];
}

static void put_value(FILE *f, int series, uint64_t v, int first)
{
	if (series == 0)
		fprintf(f, "%s%.3f", first ? "" : ",", (double)v / 1e9);
	else
		fprintf(f, "%s%llu", first ? "" : ",", (unsigned long long)v);
}

void mt_html_timeline(FILE *f, const struct mt_replay *r)
{
	size_t n = r->ntl ? r->ntl - 1 : 0, step = (n + TIMELINE_POINTS - 1) / TIMELINE_POINTS;
	const char *keys[3] = { "t", "heap", "rss" };

	if (!step)
		step = 1;
	fputc('{', f);
	for (int s = 0; s < 3; s++) {
		fprintf(f, "%s\"%s\": [", s ? ", " : "", keys[s]);
		for (size_t i = 0; i < n; i += step) {
			size_t end = i + step < n ? i + step : n;
			uint64_t v = 0;

			for (size_t j = i; j < end; j++)
				v = timeline_value(r, s, j) > v ? timeline_value(r, s, j) : v;
			put_value(f, s, v, i == 0);
		}
		if (r->ntl)
			put_value(f, s, timeline_value(r, s, n), n == 0);
		fputc(']', f);
	}
	fputc('}', f);
}

static void write_temporal(FILE *f, const struct mt_replay *r, const uint32_t *stack_of,
			   uint32_t other)
{
	struct mt_usage *last = mt_xcalloc(r->nkeys, sizeof(*last));
	struct mt_usage other_now = { 0, 0 }, other_sent = { 0, 0 };
	size_t i = 0;
	int first = 1;

	fputs(",\n\"temporal\": {\"t\": [", f);
	for (uint32_t b = 0; b < r->nbuckets; b++)
		fprintf(f, "%s%.3f", b ? "," : "", (double)r->bucket_end_ns[b] / 1e9);
	fputs("], \"peak\": [", f);
	for (uint32_t b = 0; b < r->nbuckets; b++)
		fprintf(f, "%s%llu", b ? "," : "", (unsigned long long)r->bucket_peak[b]);
	fputs("], \"live\": [", f);
	for (uint32_t b = 0; b < r->nbuckets; b++) {
		for (; i < r->nchanges && r->changes[i].bucket == b; i++) {
			const struct mt_bucket_change *c = &r->changes[i];
			uint32_t s = stack_of[c->key];

			if (s == other) {
				other_now.bytes += c->live.bytes - last[c->key].bytes;
				other_now.count += c->live.count - last[c->key].count;
			} else if (s != UINT32_MAX) {
				fprintf(f, "%s[%u,%u,%llu,%llu]", first ? "" : ",", s, b,
					(unsigned long long)c->live.bytes, (unsigned long long)c->live.count);
				first = 0;
			}
			last[c->key] = c->live;
		}
		if (other != UINT32_MAX && (other_now.bytes != other_sent.bytes ||
					    other_now.count != other_sent.count)) {
			fprintf(f, "%s[%u,%u,%llu,%llu]", first ? "" : ",", other, b,
				(unsigned long long)other_now.bytes, (unsigned long long)other_now.count);
			first = 0;
			other_sent = other_now;
		}
	}
	fputs("]}", f);
	free(last);
}

static void write_data(FILE *f, const struct mt_replay *r, struct mt_symbols *syms,
		       const struct mt_html_opts *o)
{
	const struct mt_usage *v = mt_view_values(r, o->view);
	struct ranked *keys = mt_xcalloc(r->nkeys, sizeof(*keys));
	uint32_t *stack_of = mt_xcalloc(r->nkeys, sizeof(uint32_t));
	uint64_t *bucket_max = o->temporal ? mt_xcalloc(r->nkeys, sizeof(uint64_t)) : NULL;
	struct mt_dframe *fr = mt_xcalloc(MT_MAX_FRAMES, sizeof(*fr));
	const char **entry = mt_xcalloc(r->c.nthreads, sizeof(*entry));
	struct mt_calltree t;
	uint32_t n = 0, shown, other = UINT32_MAX, max = o->max_stacks ? o->max_stacks : 20000;
	struct mt_usage rest = { 0, 0 };
	char *stacks = NULL;
	size_t slen = 0;
	FILE *m;

	memset(&t, 0, sizeof(t));
	for (size_t i = 0; bucket_max && i < r->nchanges; i++)
		if (r->changes[i].live.bytes > bucket_max[r->changes[i].key])
			bucket_max[r->changes[i].key] = r->changes[i].live.bytes;
	for (uint32_t k = 0; k < r->nkeys; k++) {
		uint64_t bm = bucket_max ? bucket_max[k] : 0;
		uint64_t w = v[k].bytes > bm ? v[k].bytes : bm;

		stack_of[k] = UINT32_MAX;
		if (w || v[k].count)
			keys[n++] = (struct ranked){ k, w };
	}
	qsort(keys, n, sizeof(*keys), by_weight);
	shown = n > max ? max - 1 : n;

	/* stacks first, into memory: they number the frames */
	m = open_memstream(&stacks, &slen);
	if (!m)
		mt_oom();
	for (uint32_t i = 0; i < shown; i++) {
		uint32_t k = keys[i].key, th = r->keys[k].thread;
		int nf = mt_stack_frames(&r->c, syms, r->keys[k].stack, fr, MT_MAX_FRAMES);

		if (th < r->c.nthreads && !entry[th])
			entry[th] = thread_entry(fr, nf);
		stack_of[k] = i;
		fprintf(m, "%s\n[[", i ? "," : "");
		for (int j = 0; j < nf; j++)
			fprintf(m, "%s%u", j ? "," : "", mt_calltree_frame(&t, &fr[j]));
		fprintf(m, "],%u,%llu,%llu,\"%s\"]", r->keys[k].thread, (unsigned long long)v[k].bytes,
			(unsigned long long)v[k].count, mt_event_kind_name(r->keys[k].kind));
	}
	if (shown < n) {
		struct mt_dframe d = { "<other>", "", 0, 0, 0 };

		other = shown;
		for (uint32_t i = shown; i < n; i++) {
			stack_of[keys[i].key] = other;
			rest.bytes += v[keys[i].key].bytes;
			rest.count += v[keys[i].key].count;
		}
		fprintf(m, "%s\n[[%u],0,%llu,%llu,\"malloc\"]", shown ? "," : "",
			mt_calltree_frame(&t, &d), (unsigned long long)rest.bytes,
			(unsigned long long)rest.count);
	}
	fclose(m);

	write_meta(f, r, o, n - shown, r->ntl > TIMELINE_POINTS);
	fputs(",\n\"frames\": [[\"\",\"\",0,0,0]", f);
	for (uint32_t i = 1; i < t.nframes; i++) {
		const struct mt_dframe *d = &t.frames[i];

		fputs(",\n[", f);
		mt_json_str(f, d->function);
		fputc(',', f);
		mt_json_str(f, d->file);
		fprintf(f, ",%u,%u,%u]", d->line, d->native, d->hidden && !o->show_all);
	}
	fputs("],\n\"threads\": [", f);
	for (uint32_t i = 0; i < r->c.nthreads; i++) {
		const char *os = r->c.threads[i].name ? r->c.threads[i].name : "";
		char *name = NULL;
		size_t len = 0;
		FILE *nm = open_memstream(&name, &len);

		if (!nm)
			mt_oom();
		/* a thread that was given a name of its own keeps it alone */
		if (entry[i] && (!i || !strcmp(os, r->c.threads[0].name ? r->c.threads[0].name : "")))
			fprintf(nm, "%s (%s)", os, entry[i]);
		else
			fputs(os, nm);
		fclose(nm);
		fprintf(f, "%s[%u,%llu,", i ? "," : "", i, (unsigned long long)r->c.threads[i].tid);
		mt_json_str(f, name);
		fputc(']', f);
		free(name);
	}
	fprintf(f, "],\n\"stacks\": [%s],\n\"steps\": [", stacks ? stacks : "");
	free(stacks);
	for (uint32_t i = 0; i < r->nsteps; i++) {
		fputs(i ? ",{\"name\": " : "{\"name\": ", f);
		mt_json_str(f, mt_capture_string(&r->c, r->steps[i].name));
		fprintf(f, ", \"start\": %.6f, \"end\": %.6f}", (double)r->steps[i].start_ns / 1e9,
			(double)r->steps[i].end_ns / 1e9);
	}
	fputc(']', f);
	fputs(",\n\"timeline\": ", f);
	mt_html_timeline(f, r);
	if (o->temporal && r->nbuckets)
		write_temporal(f, r, stack_of, other);
	else
		fputs(",\n\"temporal\": null", f);
	fputs("}", f);

	mt_calltree_release(&t);
	free(entry);
	free(keys);
	free(stack_of);
	free(bucket_max);
	free(fr);
}

int mt_html_fill(FILE *f, const char *tmpl, const char *title_text,
		 void (*write)(FILE *f, void *ctx), void *ctx)
{
	const char *title = strstr(tmpl, "{{TITLE}}");
	const char *data = title ? strstr(title, "{{DATA}}") : NULL;

	if (!title || !data)
		return -1;
	fwrite(tmpl, 1, (size_t)(title - tmpl), f);
	mt_xml_text(f, title_text);
	title += strlen("{{TITLE}}");
	fwrite(title, 1, (size_t)(data - title), f);
	write(f, ctx);
	data += strlen("{{DATA}}");
	fputs(data, f);
	return 0;
}

struct report {
	const struct mt_replay *r;
	struct mt_symbols *syms;
	const struct mt_html_opts *o;
};

static void write_report(FILE *f, void *ctx)
{
	struct report *rp = ctx;

	write_data(f, rp->r, rp->syms, rp->o);
}

int mt_html_write(FILE *f, const char *tmpl, const struct mt_replay *r,
		  struct mt_symbols *syms, const struct mt_html_opts *o)
{
	struct report rp = { r, syms, o };

	return mt_html_fill(f, tmpl, o->title, write_report, &rp);
}
