/*
 * view.c - options and loading shared by the report commands (view.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "../analysis/hiding.h"
#include "view.h"
#include "../format/xalloc.h"
#include "../report/output.h"

void view_init(struct view_args *a)
{
	memset(a, 0, sizeof(*a));
	a->replay.temporary_threshold = 1;
	a->width = -1;
	a->replay.progress = isatty(STDERR_FILENO);
}

const char *view_name(enum mt_view v)
{
	return v == MT_VIEW_LEAKS ? "leaks" : v == MT_VIEW_TEMPORARY ? "temporary" : "peak";
}

int view_number(const char *cmd, const char *opt, const char *arg, long min, long max,
		long *out)
{
	char *end = NULL;
	long n = arg ? strtol(arg, &end, 10) : min - 1;

	if (!arg || !*arg || *end || n < min || n > max) {
		mt_usage_error(cmd, "%s needs a number from %ld to %ld", opt, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

int view_parse(const char *cmd, const char *usage, int argc, char **argv,
	       const char *shortopts, const struct option *longopts, struct view_args *a,
	       int (*own)(void *ctx, int c, const char *arg), void *ctx)
{
	int c;

	optind = 0;	/* glibc: a full reset */
	opterr = 0;	/* errors are ours, one line each */
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		long n;
		int k;

		switch (c) {
		case VOPT_LEAKS:
			a->view = MT_VIEW_LEAKS;
			break;
		case VOPT_TEMPORARY:
			a->view = MT_VIEW_TEMPORARY;
			break;
		case VOPT_THRESHOLD:
			if (view_number(cmd, "--temporary-allocation-threshold", optarg, 1,
					1000000000L, &n) < 0)
				return 2;
			a->replay.temporary_threshold = (uint64_t)n;
			a->view = MT_VIEW_TEMPORARY;
			break;
		case VOPT_FILE_MAPPINGS:
			a->replay.include_file_mappings = 1;
			break;
		case VOPT_SHOW_ALL:
			a->show_all = 1;
			break;
		case VOPT_JSON:
			a->json = 1;
			break;
		case 'o':
			a->output = optarg;
			break;
		case 'f':
			a->force = 1;
			break;
		case 'w':
			if (view_number(cmd, "--width", optarg, 0, 100000, &n) < 0)
				return 2;
			a->width = (int)n;
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		case ':':
			return mt_usage_error(cmd, "%s needs a value", argv[optind - 1]);
		case '?':
			return mt_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		default:
			k = own ? own(ctx, c, optarg) : 0;
			if (k)
				return k;
		}
	}
	return 0;
}

int view_files(const char *cmd, int argc, char **argv, const char **names[], int n)
{
	int i;

	for (i = 0; optind + i < argc; i++) {
		if (i == n)
			return mt_usage_error(cmd, "one capture file at a time (not yet several: "
					      "memtide stats and memtide tree take a run's "
					      "captures)");
		*names[i] = argv[optind + i];
	}
	return 0;
}

/* The *.tide files of dir, in version order, appended to *files. */
static int add_dir(const char *dir, char ***files, size_t *n)
{
	struct dirent **list;
	int k = scandir(dir, &list, NULL, versionsort), found = 0;

	if (k < 0)
		return mt_error("cannot read the directory '%s': %s", dir, strerror(errno));
	for (int i = 0; i < k; i++) {
		size_t len = strlen(list[i]->d_name);
		char path[8192];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
		if (len > 5 && !strcmp(list[i]->d_name + len - 5, ".tide") &&
		    !stat(path, &sb) && S_ISREG(sb.st_mode)) {
			*files = mt_xrealloc(*files, (*n + 1) * sizeof(**files));
			(*files)[(*n)++] = mt_xstrdup(path);
			found++;
		}
		free(list[i]);
	}
	free(list);
	if (!found)
		return mt_error("'%s' holds no captures (*.tide)", dir);
	return 0;
}

int view_captures(int argc, char **argv, char ***files, size_t *n, int *dirs)
{
	struct stat sb;
	int rc = 0;

	*files = NULL;
	*n = 0;
	*dirs = 0;
	for (int i = optind; i < argc && !rc; i++) {
		if (!stat(argv[i], &sb) && S_ISDIR(sb.st_mode)) {
			rc = add_dir(argv[i], files, n);
			++*dirs;
		} else {
			*files = mt_xrealloc(*files, (*n + 1) * sizeof(**files));
			(*files)[(*n)++] = mt_xstrdup(argv[i]);
		}
	}
	return rc;
}

void view_captures_free(char **files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
}

int view_same_session(const struct mt_proctree *t)
{
	for (size_t i = 1; i < t->n; i++) {
		const char *a = t->procs[0].session, *b = t->procs[i].session;
		char sa[128], sb[128];

		if (a == b || (a && b && !strcmp(a, b)))
			continue;
		return mt_error("'%s' and '%s' are captures of different runs (session %s, %s): "
				"a process tree takes the captures of one run",
				t->procs[0].path, t->procs[i].path,
				mt_fmt_text(sa, sizeof(sa), a ? a : "none"),
				mt_fmt_text(sb, sizeof(sb), b ? b : "none"));
	}
	return 0;
}

int view_load_many(const char *cmd, struct view_args *a, char **files, size_t n,
		   struct view_many *m)
{
	int rc = 0;

	memset(m, 0, sizeof(*m));
	m->n = n;
	m->rs = mt_xcalloc(n, sizeof(*m->rs));
	m->syms = mt_xcalloc(n, sizeof(*m->syms));
	m->labels = mt_xcalloc(n, sizeof(*m->labels));
	for (; m->loaded < n; m->loaded++) {
		struct mt_replay *r = &m->rs[m->loaded];

		a->file = files[m->loaded];
		if ((rc = view_load(cmd, a, r)))
			return rc;
		mt_proctree_add(&m->pt, r, NULL);
		m->truncated |= r->c.truncated;
	}
	if ((rc = view_same_session(&m->pt)))
		return rc;
	mt_proctree_finish(&m->pt);
	for (size_t i = 0; i < n; i++) {
		m->syms[i] = mt_symbols_new(&m->rs[i].c);
		if (asprintf(&m->labels[i], "[%llu] %s", (unsigned long long)m->rs[i].c.pid,
			     m->rs[i].c.command ? m->rs[i].c.command : "?") < 0)
			mt_oom();
	}
	return 0;
}

void view_release_many(struct view_many *m)
{
	for (size_t i = 0; i < m->n; i++) {
		if (m->syms[i])
			mt_symbols_free(m->syms[i]);
		if (i < m->loaded)
			mt_replay_release(&m->rs[i]);
		free(m->labels[i]);
	}
	mt_proctree_release(&m->pt);
	free(m->rs);
	free(m->syms);
	free(m->labels);
	memset(m, 0, sizeof(*m));
}

int view_load(const char *cmd, struct view_args *a, struct mt_replay *r)
{
	char err[512];
	struct stat sb;

	if (!a->file)
		return mt_usage_error(cmd, "no capture file given");
	if (stat(a->file, &sb) == 0 && S_ISDIR(sb.st_mode))
		return mt_error("'%s' is a directory: memtide %s reads one capture at a time "
				"(memtide stats DIR and memtide tree DIR take a run's captures)",
				a->file, cmd);
	if (a->output && strcmp(a->output, "-") && !a->force && stat(a->output, &sb) == 0)
		return mt_error("'%s' already exists (use -f to overwrite it)", a->output);
	if (mt_replay_run(a->file, &a->replay, r, err, sizeof(err)) < 0) {
		mt_replay_release(r);
		return mt_error("%s", err);
	}
	if (!a->show_all)
		mt_hide_interpreter_arenas(r, &a->arenas);
	return 0;
}

FILE *view_open(const char *cmd, struct view_args *a)
{
	FILE *f;

	(void)cmd;
	if (!a->output || !strcmp(a->output, "-"))
		return stdout;
	f = fopen(a->output, "w");
	if (!f)
		mt_error("cannot write '%s': %s", a->output, strerror(errno));
	return f;
}

int view_close(struct view_args *a, FILE *f)
{
	int bad = ferror(f) | (f == stdout ? fflush(f) : fclose(f));

	if (bad)
		return mt_error("cannot write '%s'", a->output ? a->output : "the report");
	return 0;
}

int view_width(const struct view_args *a)
{
	if (a->width < 0 && a->output && strcmp(a->output, "-"))
		return 0;	/* a file: whole lines */
	return mt_term_width(a->width);
}

void view_default_output(struct view_args *a, const char *what, const char *ext,
			 char *buf, size_t cap)
{
	const char *base, *dot;
	int len;

	if (a->output || !a->file)
		return;
	base = strrchr(a->file, '/');
	base = base ? base + 1 : a->file;
	dot = strrchr(base, '.');
	len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
	snprintf(buf, cap, "memtide-%s-%.*s.%s", what, len, base, ext);
	a->output = buf;
}

int view_wrote(struct view_args *a)
{
	if (strcmp(a->output, "-"))
		fprintf(stderr, "memtide: wrote %s\n", a->output);
	return 0;
}
