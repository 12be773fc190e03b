/*
 * cmd_live.c - `memtide live PORT`: the viewer of a program run with
 * `memtide run --live-remote`.  The terminal UI (src/live/tui.c) on a
 * client of the server (src/live/client.c), or with --snapshot the table
 * once as text (or JSON), for scripts.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "../live/client.h"
#include "../live/tui.h"
#include "../report/output.h"

#define RETRY_MS 250		/* between two tries while nothing listens */
#define DEFAULT_RETRY_S 5

static const char usage_text[] =
	"usage: memtide live [options] PORT\n"
	"\n"
	"Watches the memory of a program started with `memtide run --live-remote`:\n"
	"the allocation sites live now, with their own and total memory.\n"
	"\n"
	"      --host HOST     where the program is served (default: 127.0.0.1)\n"
	"      --snapshot      print the table once and exit (no terminal needed)\n"
	"      --json          with --snapshot: print it as JSON, every row\n"
	"      --thread N      with --snapshot: only thread N (an index, from 0)\n"
	"      --stack ID      with --snapshot: also the largest stack of row ID\n"
	"      --rows N        with --snapshot: at most N rows (default: 40)\n"
	"      --retry S       keep trying S seconds while nothing listens (default: 5)\n"
	"  -h, --help          show this help\n";

static int parse_number(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static void print_json(const struct mt_live_snapshot *s)
{
	printf("{\"command\": ");
	mt_json_str(stdout, s->command);
	printf(", \"pid\": %" PRIu64 ", \"running\": %s, \"exit_status\": %d, \"output_path\": ",
	       s->pid, s->running ? "true" : "false", s->exit_status);
	if (s->output_path)
		mt_json_str(stdout, s->output_path);
	else
		printf("null");
	printf(", \"capture_path\": ");
	mt_json_str(stdout, s->capture_path);
	printf(", \"elapsed_ns\": %" PRIu64 ", \"heap_bytes\": %" PRIu64 ", \"rss_bytes\": %" PRIu64
	       ", \"peak_heap_bytes\": %" PRIu64 ", \"peak_heap_ns\": %" PRIu64
	       ", \"live_allocations\": %" PRIu64 ", \"heap_history\": [",
	       s->elapsed_ns, s->heap_bytes, s->rss_bytes, s->peak_heap_bytes, s->peak_heap_ns,
	       s->live_allocs);
	for (uint32_t i = 0; i < s->nheap_history; i++)
		printf("%s%" PRIu64, i ? ", " : "", s->heap_history[i]);
	printf("], \"threads\": [");
	for (uint32_t i = 0; i < s->nthreads; i++) {
		printf("%s", i ? ", " : "");
		mt_json_str(stdout, s->threads[i]);
	}
	printf("], \"rows\": [");
	for (uint32_t i = 0; i < s->nrows; i++) {
		const struct mt_live_row *r = &s->rows[i];

		printf("%s\n  {\"id\": %u, \"function\": ", i ? "," : "", r->id);
		mt_json_str(stdout, r->function);
		printf(", \"file\": ");
		mt_json_str(stdout, r->file);
		printf(", \"line\": %u, \"own_bytes\": %" PRIu64 ", \"own_count\": %" PRIu64
		       ", \"total_bytes\": %" PRIu64 ", \"total_count\": %" PRIu64 "}",
		       r->line, r->own_bytes, r->own_count, r->total_bytes, r->total_count);
	}
	printf("], \"stack\": [");
	for (uint32_t i = 0; i < s->nstack; i++) {
		printf("%s", i ? ", " : "");
		mt_json_str(stdout, s->stack[i]);
	}
	printf("], \"sample_rate\": %" PRIu64 "}\n", s->sample_rate);
}

int cmd_live(int argc, char **argv)
{
	enum { HOST = 0x100, SNAPSHOT, JSON, THREAD, STACK, ROWS, RETRY };
	static const struct option opts[] = {
		{ "host", required_argument, NULL, HOST },
		{ "snapshot", no_argument, NULL, SNAPSHOT },
		{ "json", no_argument, NULL, JSON },
		{ "thread", required_argument, NULL, THREAD },
		{ "stack", required_argument, NULL, STACK },
		{ "rows", required_argument, NULL, ROWS },
		{ "retry", required_argument, NULL, RETRY },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *host = "127.0.0.1";
	struct mt_live_query q = { -1, 0 };
	struct mt_live_source src;
	struct mt_live_snapshot snap;
	long port, v, rows = 40, retry = DEFAULT_RETRY_S;
	int c, snapshot = 0, json = 0, rc, said = 0;
	char err[1024];
	struct timespec pause = { 0, RETRY_MS * 1000000L };

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case HOST:
			host = optarg;
			break;
		case SNAPSHOT:
			snapshot = 1;
			break;
		case JSON:
			json = 1;
			break;
		case THREAD:
			if (parse_number(optarg, 0, INT32_MAX, &v))
				return mt_usage_error("live", "--thread takes a thread index, not '%s'", optarg);
			q.thread = (int)v;
			break;
		case STACK:
			if (parse_number(optarg, 1, UINT32_MAX, &v))
				return mt_usage_error("live", "--stack takes a row id, not '%s'", optarg);
			q.stack_of = (uint32_t)v;
			break;
		case ROWS:
			if (parse_number(optarg, 1, INT32_MAX, &rows))
				return mt_usage_error("live", "--rows takes a positive number, not '%s'", optarg);
			break;
		case RETRY:
			if (parse_number(optarg, 0, 3600, &retry))
				return mt_usage_error("live", "--retry takes seconds (0 to 3600), not '%s'", optarg);
			break;
		case ':':
			return mt_usage_error("live", "%s needs a value", argv[optind - 1]);
		default:
			return mt_usage_error("live", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return mt_usage_error("live", "no port given (memtide run --live-remote prints it)");
	if (optind + 1 < argc)
		return mt_usage_error("live", "one port only, not '%s'", argv[optind + 1]);
	if (parse_number(argv[optind], 1, 65535, &port))
		return mt_usage_error("live", "'%s' is not a port (1 to 65535)", argv[optind]);
	if ((json || q.thread >= 0 || q.stack_of) && !snapshot)
		return mt_usage_error("live", "--json, --thread and --stack go with --snapshot");
	if (!snapshot && (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)))
		return mt_error("the live view needs a terminal; to print the table once, use "
				"memtide live %ld --snapshot", port);

	for (long waited = 0;; waited += RETRY_MS) {
		rc = mt_client_connect(host, (int)port, &src, err, sizeof(err));
		if (rc != MT_CLIENT_REFUSED)
			break;
		if (waited >= retry * 1000)
			return mt_error("nothing listens on %s:%ld: start the program with "
					"memtide run --live-remote --live-port %ld ...", host, port, port);
		if (!said++)
			fprintf(stderr, "memtide: nothing listens on %s:%ld yet; trying again for %ld s\n",
				host, port, retry);
		nanosleep(&pause, NULL);
	}
	if (rc < 0)
		return mt_error("%s", err);
	if (!snapshot) {
		rc = mt_tui_run(&src, err, sizeof(err));
		src.close(src.ctx);
		return rc < 0 ? mt_error("%s", err) : 0;
	}
	rc = src.snapshot(src.ctx, &q, &snap, err, sizeof(err));
	if (rc == 0) {
		if (json)
			print_json(&snap);
		else
			mt_live_print(stdout, &snap, mt_term_width(-1), (int)rows);
	}
	src.close(src.ctx);
	return rc < 0 ? mt_error("%s", err) : 0;
}
