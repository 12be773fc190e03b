/*
 * proctree.c - the captures of one run as a process tree, and their
 * combined peak (proctree.h).
 *
 * Each capture's heap is known per writer round (10 ms): the highest heap
 * of the round.  The combined peak is the highest sum, over the moments
 * where a round of some process starts, of each live process's current
 * round: a figure at the writer's resolution that never exceeds the sum
 * of the processes' own peaks.
 *
 * Steps are summed by name: a Dask job's workers run the tasks of one
 * kind (one key prefix) many times, on every worker.
 */
#include <stdlib.h>
#include <string.h>

#include "proctree.h"
#include "../format/xalloc.h"

static char *dup_or_null(const char *s)
{
	return s ? mt_xstrdup(s) : NULL;
}

/* The total of the steps called name, made if new. */
static struct mt_step_total *step_total(struct mt_proctree *t, const char *name)
{
	for (size_t i = 0; i < t->nsteps; i++)	/* a job has few step names */
		if (!strcmp(t->steps[i].name, name))
			return &t->steps[i];
	t->steps = mt_xrealloc(t->steps, (t->nsteps + 1) * sizeof(*t->steps));
	memset(&t->steps[t->nsteps], 0, sizeof(*t->steps));
	t->steps[t->nsteps].name = mt_xstrdup(name);
	return &t->steps[t->nsteps++];
}

static void add_steps(struct mt_proctree *t, const struct mt_replay *r)
{
	for (uint32_t i = 0; i < r->nsteps; i++) {
		const struct mt_step *s = &r->steps[i];
		struct mt_step_total *k = step_total(t, mt_capture_string(&r->c, s->name));
		uint64_t above = s->peak > s->heap_start ? s->peak - s->heap_start : 0;

		if (!k->runs++ || above > k->above) {
			k->above = above;
			k->above_pid = r->c.pid;
		}
		if (s->peak > k->peak)
			k->peak = s->peak;
		k->allocations += s->allocations;
		k->allocated_bytes += s->allocated_bytes;
		if (s->end_ns > s->start_ns)
			k->duration_ns += s->end_ns - s->start_ns;
	}
}

void mt_proctree_add(struct mt_proctree *t, const struct mt_replay *r, char *report)
{
	struct mt_proc *p;

	t->procs = mt_xrealloc(t->procs, (t->n + 1) * sizeof(*t->procs));
	p = &t->procs[t->n++];
	memset(p, 0, sizeof(*p));
	p->path = mt_xstrdup(r->c.path);
	p->command = dup_or_null(r->c.command);
	p->session = dup_or_null(r->c.session);
	p->ended_by = dup_or_null(r->c.ended_by);
	p->pid = r->c.pid;
	p->ppid = r->c.ppid;
	p->start_unix_ns = r->c.start_unix_ns;
	p->end_ns = r->c.end_ns;
	p->peak_bytes = r->peak_bytes;
	p->peak_ns = r->peak_ns;
	p->total_bytes = r->total_bytes;
	p->total_allocations = r->total_allocations;
	p->truncated = r->c.truncated;
	p->report = report;
	p->ntl = r->ntl;
	p->tl_ns = mt_xcalloc(r->ntl, sizeof(uint64_t));
	p->tl_heap = mt_xcalloc(r->ntl, sizeof(uint64_t));
	if (r->ntl) {
		memcpy(p->tl_ns, r->tl_ns, r->ntl * sizeof(uint64_t));
		memcpy(p->tl_heap, r->tl_heap, r->ntl * sizeof(uint64_t));
	}
	add_steps(t, r);
}

static int find_parent(const struct mt_proctree *t, size_t i)
{
	const struct mt_proc *p = &t->procs[i];
	int best = -1, exec = 0;

	for (size_t j = 0; j < t->n; j++) {
		const struct mt_proc *q = &t->procs[j];
		int by_exec = q->pid == p->pid && q->ended_by && !strncmp(q->ended_by, "exec ", 5);

		if (j == i || q->start_unix_ns > p->start_unix_ns)
			continue;
		if (!by_exec && (exec || q->pid != p->ppid))
			continue;
		/* the image this one replaced wins over the parent process */
		if (best < 0 || (by_exec && !exec) ||
		    q->start_unix_ns >= t->procs[best].start_unix_ns) {
			best = (int)j;
			exec = by_exec;
		}
	}
	return best;
}

static const struct mt_proctree *sort_tree;

static int by_start(const void *a, const void *b)
{
	const struct mt_proc *p = &sort_tree->procs[*(const size_t *)a];
	const struct mt_proc *q = &sort_tree->procs[*(const size_t *)b];

	if (p->start_unix_ns != q->start_unix_ns)
		return p->start_unix_ns < q->start_unix_ns ? -1 : 1;
	return p->pid < q->pid ? -1 : p->pid > q->pid;
}

/* Appends i and its children, depth first. */
static void visit(struct mt_proctree *t, const size_t *by_time, size_t i, int depth, size_t *k)
{
	t->procs[i].depth = depth;
	t->order[(*k)++] = i;
	for (size_t j = 0; j < t->n; j++)
		if (t->procs[by_time[j]].parent == (int)i && *k < t->n)
			visit(t, by_time, by_time[j], depth + 1, k);
}

/* A change of one process's heap at a moment of wall-clock time. */
struct change {
	uint64_t when;
	size_t proc;
	uint64_t heap;
};

static int by_when(const void *a, const void *b)
{
	const struct change *x = a, *y = b;

	return x->when < y->when ? -1 : x->when > y->when;
}

static int by_above(const void *a, const void *b)
{
	const struct mt_step_total *x = a, *y = b;

	if (x->above != y->above)
		return x->above > y->above ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void combined_peak(struct mt_proctree *t)
{
	size_t n = 0, cap = 0;
	struct change *ch = NULL;
	uint64_t *cur = mt_xcalloc(t->n, sizeof(uint64_t)), sum = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct mt_proc *p = &t->procs[i];

		if (n + p->ntl + 1 > cap) {
			cap = (n + p->ntl + 1) * 2;
			ch = mt_xrealloc(ch, cap * sizeof(*ch));
		}
		for (size_t k = 0; k < p->ntl; k++)	/* round k: (tl_ns[k-1], tl_ns[k]] */
			ch[n++] = (struct change){ p->start_unix_ns + (k ? p->tl_ns[k - 1] : 0),
						   i, p->tl_heap[k] };
		if (p->ntl)	/* gone */
			ch[n++] = (struct change){ p->start_unix_ns + p->tl_ns[p->ntl - 1], i, 0 };
	}
	if (n)
		qsort(ch, n, sizeof(*ch), by_when);	/* stable enough: ties are applied together */
	for (size_t k = 0; k < n;) {
		uint64_t when = ch[k].when;

		for (; k < n && ch[k].when == when; k++) {
			sum = sum - cur[ch[k].proc] + ch[k].heap;
			cur[ch[k].proc] = ch[k].heap;
		}
		if (sum > t->combined_peak_bytes) {
			t->combined_peak_bytes = sum;
			t->combined_peak_unix_ns = when;
			for (size_t i = 0; i < t->n; i++)
				t->procs[i].at_combined_peak = cur[i];
		}
	}
	free(cur);
	free(ch);
}

void mt_proctree_finish(struct mt_proctree *t)
{
	size_t *by_time = mt_xcalloc(t->n, sizeof(size_t)), k = 0;

	t->order = mt_xcalloc(t->n, sizeof(size_t));
	for (size_t i = 0; i < t->n; i++) {
		t->procs[i].parent = find_parent(t, i);
		by_time[i] = i;
		if (!i || t->procs[i].start_unix_ns < t->first_start_ns)
			t->first_start_ns = t->procs[i].start_unix_ns;
	}
	sort_tree = t;
	qsort(by_time, t->n, sizeof(size_t), by_start);
	for (size_t j = 0; j < t->n; j++)
		if (t->procs[by_time[j]].parent < 0)
			visit(t, by_time, by_time[j], 0, &k);
	for (size_t j = 0; j < t->n && k < t->n; j++) {	/* a loop of parents: shown as roots */
		size_t i = by_time[j], seen = 0;

		for (size_t m = 0; m < k; m++)
			seen |= t->order[m] == i;
		if (!seen) {
			t->procs[i].parent = -1;
			visit(t, by_time, i, 0, &k);
		}
	}
	free(by_time);
	combined_peak(t);
	if (t->nsteps)
		qsort(t->steps, t->nsteps, sizeof(*t->steps), by_above);
}

void mt_proctree_release(struct mt_proctree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct mt_proc *p = &t->procs[i];

		free(p->path);
		free(p->command);
		free(p->session);
		free(p->ended_by);
		free(p->report);
		free(p->tl_ns);
		free(p->tl_heap);
	}
	for (size_t i = 0; i < t->nsteps; i++)
		free(t->steps[i].name);
	free(t->steps);
	free(t->procs);
	free(t->order);
	memset(t, 0, sizeof(*t));
}
