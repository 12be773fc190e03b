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
	uint32_t src, key;
	uint64_t weight;
};

static int by_weight(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->weight != y->weight)
		return x->weight < y->weight ? 1 : -1;
	if (x->src != y->src)
		return x->src < y->src ? -1 : 1;
	return (x->key > y->key) - (x->key < y->key);
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

/* What the page's header says: one capture's, or a run's several. */
struct page_meta {
	const char *command, *python;
	uint64_t pid, peak_bytes, peak_ns, end_ns, total_bytes;
	int truncated;
	uint64_t sample_rate;		/* sampled captures: figures are estimates */
	const char *note;		/* or NULL */
};

static void write_meta(FILE *f, const struct page_meta *pm, const struct mt_html_opts *o,
		       uint32_t merged, int thinned)
{
	const char *mode = o->view == MT_VIEW_LEAKS ? "leaks" : o->view == MT_VIEW_TEMPORARY ?
			   "temporary" : "peak";
	int first = 1;

	fputs("{\"meta\": {\"title\": ", f);
	mt_json_str(f, o->title);
	fputs(", \"command\": ", f);
	mt_json_str(f, pm->command ? pm->command : "");
	fprintf(f, ", \"pid\": %llu, \"python\": ", (unsigned long long)pm->pid);
	if (pm->python) {	/* "3.11.2 (main, ...) [GCC ...]": the version is enough */
		char v[32];

		snprintf(v, sizeof(v), "%.*s", (int)strcspn(pm->python, " "), pm->python);
		mt_json_str(f, v);
	} else {
		fputs("null", f);
	}
	fprintf(f, ", \"mode\": \"%s\", \"peak_bytes\": %llu, \"peak_time_ms\": %.3f, "
		   "\"duration_ms\": %.3f, \"truncated\": %s, \"total_bytes\": %llu, "
		   "\"inverted\": %s, \"split_threads\": %s, \"notes\": [",
		mode, (unsigned long long)pm->peak_bytes, (double)pm->peak_ns / 1e6,
		(double)pm->end_ns / 1e6, pm->truncated ? "true" : "false",
		(unsigned long long)pm->total_bytes, o->inverted ? "true" : "false",
		o->split_threads ? "true" : "false");
	if (pm->note) {
		mt_json_str(f, pm->note);
		first = 0;
	}
	if (merged) {
		char note[96];

		snprintf(note, sizeof(note), "%u smaller stacks are merged into <other>", merged);
		if (!first)
			fputs(", ", f);
		mt_json_str(f, note);
		first = 0;
	}
	if (pm->sample_rate) {
		char note[96];

		fputs(first ? "" : ", ", f);
		mt_json_str(f, mt_fmt_sampled(note, sizeof(note), pm->sample_rate));
		first = 0;
	}
	if (thinned)
		fprintf(f, "%s\"the heap and RSS series are thinned to %d points (maximum of "
			   "each interval)\"", first ? "" : ", ", TIMELINE_POINTS);
	fputs("]}", f);
}

static void put_value(FILE *f, int series, uint64_t v, int first)
{
	if (series == 0)
		fprintf(f, "%s%.3f", first ? "" : ",", (double)v / 1e9);
	else
		fprintf(f, "%s%llu", first ? "" : ",", (unsigned long long)v);
}

/* {"t", "heap", "rss"} of ntl points, thinned to TIMELINE_POINTS maxima. */
static void write_timeline(FILE *f, const uint64_t *const series[3], size_t ntl)
{
	size_t n = ntl ? ntl - 1 : 0, step = (n + TIMELINE_POINTS - 1) / TIMELINE_POINTS;
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
				v = series[s][j] > v ? series[s][j] : v;
			put_value(f, s, v, i == 0);
		}
		if (ntl)
			put_value(f, s, series[s][n], n == 0);
		fputc(']', f);
	}
	fputc('}', f);
}

void mt_html_timeline(FILE *f, const struct mt_replay *r)
{
	const uint64_t *const series[3] = { r->tl_ns, r->tl_heap, r->tl_rss };

	write_timeline(f, series, r->ntl);
}

/* One point of a process's timeline on the run's clock. */
struct clock_point {
	uint64_t t;			/* ns since the run's first start */
	uint32_t src;
	uint64_t heap, rss;
};

static int by_time(const void *a, const void *b)
{
	const struct clock_point *x = a, *y = b;

	return x->t < y->t ? -1 : x->t > y->t ? 1 : (x->src > y->src) - (x->src < y->src);
}

/* Heap and RSS over time, as the page's chart draws them. */
struct series {
	uint64_t *t, *heap, *rss;
	size_t n;
};

/*
 * The run's heap and RSS over wall-clock time: at each point of any
 * process's timeline, the sum of every process's latest figures (a
 * process counts for nothing after its capture ends).  Its highest point
 * is the process tree's combined peak.
 */
static void combined_timeline(const struct mt_html_source *src, size_t n, uint64_t first_start,
			      struct series *out)
{
	struct clock_point *p;
	uint64_t *cur_heap = mt_xcalloc(n, sizeof(uint64_t)), *cur_rss = mt_xcalloc(n, sizeof(uint64_t));
	uint64_t sum_heap = 0, sum_rss = 0;
	size_t np = 0;

	for (size_t i = 0; i < n; i++)
		np += src[i].r->ntl + 1;
	p = mt_xcalloc(np, sizeof(*p));
	np = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mt_replay *r = src[i].r;
		uint64_t off = r->c.start_unix_ns > first_start ? r->c.start_unix_ns - first_start : 0;

		/* round j's figures from its start, as the process tree's
		 * combined peak counts them (src/analysis/proctree.c) */
		for (size_t j = 0; j < r->ntl; j++)
			p[np++] = (struct clock_point){ off + (j ? r->tl_ns[j - 1] : 0), (uint32_t)i,
							 r->tl_heap[j], r->tl_rss[j] };
		if (r->ntl)	/* gone */
			p[np++] = (struct clock_point){ off + r->tl_ns[r->ntl - 1], (uint32_t)i, 0, 0 };
	}
	qsort(p, np, sizeof(*p), by_time);
	out->t = mt_xcalloc(np, sizeof(uint64_t));
	out->heap = mt_xcalloc(np, sizeof(uint64_t));
	out->rss = mt_xcalloc(np, sizeof(uint64_t));
	out->n = 0;
	for (size_t i = 0; i < np; i++) {
		sum_heap += p[i].heap - cur_heap[p[i].src];
		sum_rss += p[i].rss - cur_rss[p[i].src];
		cur_heap[p[i].src] = p[i].heap;
		cur_rss[p[i].src] = p[i].rss;
		if (i + 1 < np && p[i + 1].t == p[i].t)
			continue;	/* one point per moment */
		out->t[out->n] = p[i].t;
		out->heap[out->n] = sum_heap;
		out->rss[out->n++] = sum_rss;
	}
	free(p);
	free(cur_heap);
	free(cur_rss);
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

/*
 * The page's data document for one capture, or for a run's several (n > 1:
 * each under a frame naming its process, threads and steps named after
 * their process, heap and RSS summed on the run's clock).
 */
static void write_data(FILE *f, const struct mt_html_source *src, size_t n,
		       const struct page_meta *pm, const struct series *combined,
		       uint64_t first_start, const struct mt_html_opts *o)
{
	const struct mt_replay *r0 = src[0].r;
	uint32_t nkeys = 0, nthreads = 0, *thread0 = mt_xcalloc(n, sizeof(uint32_t));
	struct ranked *keys;
	uint32_t *stack_of = mt_xcalloc(r0->nkeys, sizeof(uint32_t));	/* temporal: one capture */
	uint64_t *bucket_max = o->temporal ? mt_xcalloc(r0->nkeys, sizeof(uint64_t)) : NULL;
	struct mt_dframe *fr = mt_xcalloc(MT_MAX_FRAMES, sizeof(*fr));
	const char **entry;
	struct mt_calltree t;
	uint32_t shown, other = UINT32_MAX, max = o->max_stacks ? o->max_stacks : 20000;
	struct mt_usage rest = { 0, 0 };
	char *stacks = NULL;
	size_t slen = 0;
	int first = 1;
	FILE *m;

	memset(&t, 0, sizeof(t));
	for (size_t i = 0; i < n; i++) {
		nkeys += src[i].r->nkeys;
		thread0[i] = nthreads;
		nthreads += src[i].r->c.nthreads;
	}
	keys = mt_xcalloc(nkeys, sizeof(*keys));
	entry = mt_xcalloc(nthreads, sizeof(*entry));
	for (size_t i = 0; bucket_max && i < r0->nchanges; i++)
		if (r0->changes[i].live.bytes > bucket_max[r0->changes[i].key])
			bucket_max[r0->changes[i].key] = r0->changes[i].live.bytes;
	nkeys = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mt_usage *v = mt_view_values(src[i].r, o->view);

		for (uint32_t j = 0; j < src[i].r->nkeys; j++) {
			uint64_t bm = bucket_max ? bucket_max[j] : 0;
			uint64_t w = v[j].bytes > bm ? v[j].bytes : bm;

			if (!i)
				stack_of[j] = UINT32_MAX;
			if (w || v[j].count)
				keys[nkeys++] = (struct ranked){ (uint32_t)i, j, w };
		}
	}
	qsort(keys, nkeys, sizeof(*keys), by_weight);
	shown = nkeys > max ? max - 1 : nkeys;

	/* stacks first, into memory: they number the frames */
	m = open_memstream(&stacks, &slen);
	if (!m)
		mt_oom();
	for (uint32_t i = 0; i < shown; i++) {
		const struct mt_html_source *sc = &src[keys[i].src];
		const struct mt_replay *r = sc->r;
		const struct mt_usage *v = mt_view_values(r, o->view);
		uint32_t key = keys[i].key, th = r->keys[key].thread;
		int nf = mt_stack_frames(&r->c, sc->syms, r->keys[key].stack, fr, MT_MAX_FRAMES);

		if (th < r->c.nthreads && !entry[thread0[keys[i].src] + th])
			entry[thread0[keys[i].src] + th] = thread_entry(fr, nf);
		if (!keys[i].src)
			stack_of[key] = i;
		fprintf(m, "%s\n[[", i ? "," : "");
		if (sc->root) {
			struct mt_dframe root = { .function = sc->root, .file = "" };

			fprintf(m, "%u%s", mt_calltree_frame(&t, &root), nf ? "," : "");
		}
		for (int j = 0; j < nf; j++)
			fprintf(m, "%s%u", j ? "," : "", mt_calltree_frame(&t, &fr[j]));
		fprintf(m, "],%u,%llu,%llu,\"%s\"]", thread0[keys[i].src] + th,
			(unsigned long long)v[key].bytes, (unsigned long long)v[key].count,
			mt_event_kind_name(r->keys[key].kind));
	}
	if (shown < nkeys) {
		struct mt_dframe d = { "<other>", "", 0, 0, 0 };

		other = shown;
		for (uint32_t i = shown; i < nkeys; i++) {
			const struct mt_usage *v = mt_view_values(src[keys[i].src].r, o->view);

			if (!keys[i].src)
				stack_of[keys[i].key] = other;
			rest.bytes += v[keys[i].key].bytes;
			rest.count += v[keys[i].key].count;
		}
		fprintf(m, "%s\n[[%u],0,%llu,%llu,\"malloc\"]", shown ? "," : "",
			mt_calltree_frame(&t, &d), (unsigned long long)rest.bytes,
			(unsigned long long)rest.count);
	}
	fclose(m);

	write_meta(f, pm, o, nkeys - shown,
		   (n > 1 ? combined->n : r0->ntl) > TIMELINE_POINTS);
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
	for (size_t s = 0; s < n; s++) {
		const struct mt_capture *c = &src[s].r->c;

		for (uint32_t i = 0; i < c->nthreads; i++) {
			const char *os = c->threads[i].name ? c->threads[i].name : "";
			const char *e = entry[thread0[s] + i];
			char *name = NULL;
			size_t len = 0;
			FILE *nm = open_memstream(&name, &len);

			if (!nm)
				mt_oom();
			if (n > 1)
				fprintf(nm, "[%llu] ", (unsigned long long)c->pid);
			/* a thread that was given a name of its own keeps it alone */
			if (e && (!i || !strcmp(os, c->threads[0].name ? c->threads[0].name : "")))
				fprintf(nm, "%s (%s)", os, e);
			else
				fputs(os, nm);
			fclose(nm);
			fprintf(f, "%s[%u,%llu,", first ? "" : ",", thread0[s] + i,
				(unsigned long long)c->threads[i].tid);
			mt_json_str(f, name);
			fputc(']', f);
			free(name);
			first = 0;
		}
	}
	fprintf(f, "],\n\"stacks\": [%s],\n\"steps\": [", stacks ? stacks : "");
	free(stacks);
	first = 1;
	for (size_t s = 0; s < n; s++) {
		const struct mt_replay *r = src[s].r;
		uint64_t off = n > 1 && r->c.start_unix_ns > first_start ?
			       r->c.start_unix_ns - first_start : 0;

		for (uint32_t i = 0; i < r->nsteps; i++) {
			char name[1024];

			if (n > 1)
				snprintf(name, sizeof(name), "[%llu] %s", (unsigned long long)r->c.pid,
					 mt_capture_string(&r->c, r->steps[i].name));
			fputs(first ? "{\"name\": " : ",{\"name\": ", f);
			mt_json_str(f, n > 1 ? name : mt_capture_string(&r->c, r->steps[i].name));
			fprintf(f, ", \"start\": %.6f, \"end\": %.6f}",
				(double)(off + r->steps[i].start_ns) / 1e9,
				(double)(off + r->steps[i].end_ns) / 1e9);
			first = 0;
		}
	}
	fputc(']', f);
	fputs(",\n\"timeline\": ", f);
	if (n > 1) {
		const uint64_t *const series[3] = { combined->t, combined->heap, combined->rss };

		write_timeline(f, series, combined->n);
	} else {
		mt_html_timeline(f, r0);
	}
	if (o->temporal && n == 1 && r0->nbuckets)
		write_temporal(f, r0, stack_of, other);
	else
		fputs(",\n\"temporal\": null", f);
	fputs("}", f);

	mt_calltree_release(&t);
	free(entry);
	free(keys);
	free(stack_of);
	free(bucket_max);
	free(fr);
	free(thread0);
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
	const struct mt_html_source *src;
	size_t n;
	struct page_meta pm;
	struct series combined;		/* n > 1 */
	uint64_t first_start;
	const struct mt_html_opts *o;
};

static void write_report(FILE *f, void *ctx)
{
	struct report *rp = ctx;

	write_data(f, rp->src, rp->n, &rp->pm, &rp->combined, rp->first_start, rp->o);
}

int mt_html_write(FILE *f, const char *tmpl, const struct mt_replay *r,
		  struct mt_symbols *syms, const struct mt_html_opts *o)
{
	struct mt_html_source one = { r, syms, NULL };
	struct report rp = { &one, 1, {
		.command = r->c.command, .python = r->c.python, .pid = r->c.pid,
		.peak_bytes = r->peak_bytes, .peak_ns = r->peak_ns, .end_ns = r->c.end_ns,
		.total_bytes = r->total_bytes, .truncated = r->c.truncated,
		.sample_rate = r->c.sample_rate,
	}, { 0 }, 0, o };

	return mt_html_fill(f, tmpl, o->title, write_report, &rp);
}

int mt_html_write_many(FILE *f, const char *tmpl, const struct mt_html_source *src, size_t n,
		       const struct mt_proctree *pt, const struct mt_html_opts *o)
{
	char command[512], note[160];
	struct report rp = { src, n, { 0 }, { 0 }, pt->first_start_ns, o };
	struct series *c = &rp.combined;
	int rc;

	combined_timeline(src, n, pt->first_start_ns, c);
	snprintf(command, sizeof(command), "%zu processes: %s", n,
		 src[0].r->c.command ? src[0].r->c.command : "?");
	snprintf(note, sizeof(note), "each process's stacks under its own root, %s",
		 o->view == MT_VIEW_PEAK ? "at that process's own peak" : "as that process left them");
	rp.pm.command = command;
	rp.pm.python = src[0].r->c.python;
	rp.pm.pid = src[0].r->c.pid;
	rp.pm.note = note;
	for (size_t i = 0; i < c->n; i++) {	/* the chart's peak: its first highest point */
		if (c->heap[i] > rp.pm.peak_bytes) {
			rp.pm.peak_bytes = c->heap[i];
			rp.pm.peak_ns = c->t[i];
		}
	}
	rp.pm.end_ns = c->n ? c->t[c->n - 1] : 0;
	for (size_t i = 0; i < n; i++) {
		rp.pm.total_bytes += src[i].r->total_bytes;
		rp.pm.truncated |= src[i].r->c.truncated;
		if (src[i].r->c.sample_rate > rp.pm.sample_rate)
			rp.pm.sample_rate = src[i].r->c.sample_rate;
	}
	rc = mt_html_fill(f, tmpl, o->title, write_report, &rp);
	free(c->t);
	free(c->heap);
	free(c->rss);
	return rc;
}
