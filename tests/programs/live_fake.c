/*
 * live_fake.c - a made-up live source for the terminal UI's tests
 * (tests/integration/test_tui.py): known rows in two threads, their
 * stacks, a program that "ends" when a file appears, a source that fails
 * when another one does.  Built by the tests together with src/live/tui.c
 * and src/report/output.c; not part of memtide.
 *
 *   live_fake [--end-file PATH] [--fail-file PATH] [--output PATH] [--rows N]
 *             [--churn] [--fail-after-end] [--stats PATH]   run the terminal UI
 *   live_fake --print WIDTH MAXROWS [--end-file PATH]  mt_live_print once
 *
 * The rows (all threads; heap = the sum of own = 64 MiB + 1124 B):
 *   main at app.c:50         total 60 MiB + 1 KiB (515 allocs), own 0
 *   thirty at app.c:30       30 MiB, 1 allocation
 *   twenty at app.c:20       20 MiB, 1 allocation
 *   ten at app.c:10          10 MiB, 1 allocation
 *   many_small at lib.c:7    1 KiB, 512 allocations
 *   loader_run at loader.c:5 4 MiB, 2 allocations (thread "loader")
 *   a row whose names hold an escape sequence and a tab: 100 B, 1 allocation
 * --rows N adds N rows gen_I at gen.c:I in thread "main"; --churn changes
 * their sizes at every snapshot (for the redraw measurement).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "live.h"
#include "tui.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define NFIXED 7

struct fake {
	const char *end_file, *fail_file;
	const char *output;
	int churn, fail_after_end, ended_once;
	uint32_t nextra;
	uint64_t snapshots, start_ns, end_ns, in_snapshot_ns;
	struct mt_live_row *all;	/* NFIXED + nextra rows */
	int *thread_of;	/* 0 main, 1 loader */
	char *names;
	struct mt_live_row *out;	/* the rows of the thread asked for */
};

static const struct mt_live_row fixed[NFIXED] = {
	{ 1, "main", "app.c", 50, 0, 0, 60 * MiB + KiB, 515 },
	{ 2, "thirty", "app.c", 30, 30 * MiB, 1, 30 * MiB, 1 },
	{ 3, "twenty", "app.c", 20, 20 * MiB, 1, 20 * MiB, 1 },
	{ 4, "ten", "app.c", 10, 10 * MiB, 1, 10 * MiB, 1 },
	{ 5, "many_small", "lib.c", 7, KiB, 512, KiB, 512 },
	{ 6, "loader_run", "loader.c", 5, 4 * MiB, 2, 4 * MiB, 2 },
	{ 7, "evil\x1b[31mred", "x\ty.c", 3, 100, 1, 100, 1 },
};

static const char *const threads[] = { "main", "loader" };
static const uint64_t history[] = { 0, 8 * MiB, 16 * MiB, 24 * MiB, 32 * MiB, 40 * MiB,
				    48 * MiB, 64 * MiB };

static const char *const stack_main[] = { "main at app.c:50", "__libc_start_main", "_start" };
static const char *const stack_thirty[] = { "thirty at app.c:30", "main at app.c:50",
					    "__libc_start_main", "_start" };
static const char *const stack_loader[] = { "loader_run at loader.c:5", "start_thread",
					    "clone3" };
static const char *const stack_other[] = { "(a leaf)", "main at app.c:50",
					   "__libc_start_main", "_start" };

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int snapshot_now(void *ctx, const struct mt_live_query *q, struct mt_live_snapshot *s,
		    char *err, size_t errlen)
{
	struct fake *f = ctx;
	uint32_t n = 0, total = NFIXED + f->nextra;
	int ended = f->end_file && access(f->end_file, F_OK) == 0;

	if (f->fail_file && access(f->fail_file, F_OK) == 0) {
		snprintf(err, errlen, "the connection to the program was lost");
		return -1;
	}
	if (ended && f->fail_after_end && f->ended_once) {
		snprintf(err, errlen, "connection closed");
		return -1;
	}
	if (ended && !f->ended_once) {
		f->ended_once = 1;
		f->end_ns = clock_ns(CLOCK_MONOTONIC);
	}
	f->snapshots++;
	memset(s, 0, sizeof(*s));
	s->command = "python3 app.py --size 10";
	s->pid = 4242;
	s->running = !ended;
	s->exit_status = 3;
	s->output_path = f->output;
	s->capture_path = "memtide-app.4242.tide";
	s->elapsed_ns = f->start_ns ? (ended ? f->end_ns : clock_ns(CLOCK_MONOTONIC)) - f->start_ns : 12300000000ull;
	s->rss_bytes = 70 * MiB;
	s->peak_heap_bytes = 64 * MiB + 1124;
	s->peak_heap_ns = 3500000000ull;
	s->heap_history = history;
	s->nheap_history = sizeof(history) / sizeof(history[0]);
	s->threads = threads;
	s->nthreads = 2;
	for (uint32_t i = 0; i < total; i++) {
		if (q->thread >= 0 && q->thread != f->thread_of[i])
			continue;
		f->out[n] = f->all[i];
		if (i >= NFIXED && f->churn)
			f->out[n].own_bytes = f->out[n].total_bytes =
				f->all[i].own_bytes + (f->snapshots * 7919 + i) % 65536;
		s->heap_bytes += f->out[n].own_bytes;
		s->live_allocs += f->out[n].own_count;
		n++;
	}
	s->rows = f->out;
	s->nrows = n;
	switch (q->stack_of) {
	case 0:
		break;
	case 1:
		s->stack = stack_main;
		s->nstack = 3;
		break;
	case 2:
		s->stack = stack_thirty;
		s->nstack = 4;
		break;
	case 6:
		s->stack = stack_loader;
		s->nstack = 3;
		break;
	default:
		s->stack = stack_other;
		s->nstack = 4;
	}
	return 0;
}

/* snapshot_now, its CPU time counted: --stats tells the UI's from the source's. */
static int snapshot(void *ctx, const struct mt_live_query *q, struct mt_live_snapshot *s,
		    char *err, size_t errlen)
{
	struct fake *f = ctx;
	uint64_t t0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	int rc = snapshot_now(ctx, q, s, err, errlen);

	f->in_snapshot_ns += clock_ns(CLOCK_PROCESS_CPUTIME_ID) - t0;
	return rc;
}

static void fake_close(void *ctx)
{
	(void)ctx;
}

static void fake_free(struct fake *f)
{
	free(f->all);
	free(f->out);
	free(f->thread_of);
	free(f->names);
}

static void usage(void)
{
	fprintf(stderr, "usage: live_fake [--end-file P] [--fail-file P] [--output P] [--rows N] "
		"[--churn] [--fail-after-end] [--stats P] | --print WIDTH MAXROWS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct fake f = { 0 };
	struct mt_live_source src = { snapshot, fake_close, &f };
	const char *stats = NULL;
	int print = 0, width = 0, max_rows = 0;
	char err[256];
	uint64_t t0, cpu0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--end-file") && i + 1 < argc)
			f.end_file = argv[++i];
		else if (!strcmp(a, "--fail-file") && i + 1 < argc)
			f.fail_file = argv[++i];
		else if (!strcmp(a, "--output") && i + 1 < argc)
			f.output = argv[++i];
		else if (!strcmp(a, "--rows") && i + 1 < argc)
			f.nextra = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--churn"))
			f.churn = 1;
		else if (!strcmp(a, "--fail-after-end"))
			f.fail_after_end = 1;
		else if (!strcmp(a, "--stats") && i + 1 < argc)
			stats = argv[++i];
		else if (!strcmp(a, "--print") && i + 2 < argc) {
			print = 1;
			width = atoi(argv[++i]);
			max_rows = atoi(argv[++i]);
		} else
			usage();
	}
	f.all = calloc(NFIXED + f.nextra, sizeof(*f.all));
	f.out = calloc(NFIXED + f.nextra, sizeof(*f.out));
	f.thread_of = calloc(NFIXED + f.nextra, sizeof(*f.thread_of));
	f.names = calloc(f.nextra + 1, 16);
	if (!f.all || !f.out || !f.thread_of || !f.names)
		return 1;
	memcpy(f.all, fixed, sizeof(fixed));
	f.thread_of[5] = 1;
	for (uint32_t i = 0; i < f.nextra; i++) {
		struct mt_live_row *r = &f.all[NFIXED + i];
		char *name = f.names + 16 * (size_t)i;

		snprintf(name, 16, "gen_%u", i);
		r->id = 100 + i;
		r->function = name;
		r->file = "gen.c";
		r->line = i + 1;
		r->own_bytes = r->total_bytes = (i * 2654435761u) % 100000 + 1;
		r->own_count = r->total_count = i % 7 + 1;
	}

	if (print) {
		struct mt_live_query q = { -1, 0 };
		struct mt_live_snapshot s;

		snapshot(&f, &q, &s, err, sizeof(err));
		mt_live_print(stdout, &s, width, max_rows);
		fake_free(&f);
		return 0;
	}
	f.start_ns = t0 = clock_ns(CLOCK_MONOTONIC);
	cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	if (mt_tui_run(&src, err, sizeof(err)) < 0) {
		fprintf(stderr, "live_fake: %s\n", err);
		fake_free(&f);
		return 1;
	}
	fake_free(&f);
	if (stats) {
		/* the CPU time of mt_tui_run, the snapshots' share apart */
		FILE *o = fopen(stats, "w");

		if (o) {
			fprintf(o, "snapshots %llu snapshot_cpu_ms %.1f cpu_ms %.1f wall_ms %.1f\n",
				(unsigned long long)f.snapshots, (double)f.in_snapshot_ns / 1e6,
				(double)(clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / 1e6,
				(double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6);
			fclose(o);
		}
	}
	printf("live_fake: quit\n");
	return 0;
}
