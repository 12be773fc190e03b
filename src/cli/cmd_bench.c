/*
 * cmd_bench.c - `memtide bench`: runs a command for every combination of
 * parameter values (a benchmark matrix), each run under `memtide run` (this
 * binary, as a child process, so the program behaves exactly as it does
 * there), keeps the captures, the programs' output and how each run ended
 * in a directory (bench_store.h), and prints one table comparing them
 * (src/report/matrix.c).  `memtide bench --report DIR` prints the table of
 * a directory again.  A second invocation skips the runs that succeeded
 * before; --force runs them again.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_store.h"
#include "cli.h"
#include "../format/xalloc.h"
#include "../report/matrix.h"

static const char usage_text[] =
	"usage: memtide bench --param NAME=VALUE,VALUE... [--param ...] [options]\n"
	"                     -- COMMAND [ARGS...]\n"
	"       memtide bench --report DIR [--format md|csv|json|html] [--sort COL]\n"
	"\n"
	"Runs COMMAND under `memtide run` once for every combination of the\n"
	"parameters' values, {NAME} in its arguments replaced by the value ({{ and\n"
	"}} stand for braces), and prints a table of each combination's wall time,\n"
	"peak heap, peak RSS, total allocated, allocations, leaks, top site at the\n"
	"peak and steps.  Each run keeps its capture, output and exit status in\n"
	"DIR/NAME=VALUE/.../runN.{tide,stdout,stderr,status}.  Runs that succeeded\n"
	"before are skipped; failed ones run again.  Exits 1 when a run failed.\n"
	"\n"
	"  -p, --param NAME=V1,V2,...\n"
	"                       a parameter and its values (one option each)\n"
	"  -r, --repeat N       run each combination N times (default 1): the table\n"
	"                       shows medians and the range of wall times\n"
	"  -j, --jobs N         run N at a time (default 1: wall times are only\n"
	"                       comparable when each run has the machine alone)\n"
	"  -o, --output DIR     where the runs go (default memtide-bench)\n"
	"      --native         record native frames too (memtide run --native)\n"
	"      --python PATH    the interpreter of Python scripts (as memtide run)\n"
	"      --force          run again the runs that succeeded before\n"
	"      --report DIR     print the table of the runs in DIR, run nothing\n"
	"      --format FMT     md (default), csv, json, or html (a page with charts)\n"
	"      --sort COL       order rows by a parameter (ascending) or by status,\n"
	"                       wall_s, peak_bytes, peak_rss_bytes, total_bytes,\n"
	"                       allocations or leaked_bytes (biggest first)\n"
	"  -h, --help           show this help\n";

#define MAX_PARAMS 64
#define MAX_CELLS 100000
#define MAX_REPEAT 1000
#define MAX_JOBS 256

struct bench_opts {
	struct mt_matrix m;	/* params, repeat, command, dir */
	const char *report;	/* --report DIR */
	const char *sort;
	const char *python;	/* --python, handed to memtide run */
	enum mt_matrix_format format;
	int jobs, native, force;
	char **cmd;		/* the command, placeholders in */
	int ncmd;
};

/* ---------------------------------------------------------------- options */

static int is_name(const char *s, size_t n)
{
	if (!n || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

/* --param NAME=V1,V2,...: 0, or the exit status after an error. */
static int add_param(struct mt_matrix *m, const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct mt_matrix_param *p;
	const char *s;

	if (!eq)
		return mt_error("--param '%s': write it NAME=VALUE,VALUE,...", arg);
	if (!is_name(arg, (size_t)(eq - arg)))
		return mt_error("--param '%.*s': a name is letters, digits and _, not starting "
				"with a digit", (int)(eq - arg), arg);
	for (uint32_t i = 0; i < m->nparams; i++)
		if (strlen(m->params[i].name) == (size_t)(eq - arg) &&
		    !strncmp(m->params[i].name, arg, (size_t)(eq - arg)))
			return mt_error("--param %s is given twice: give all its values in one, "
					"separated by commas", m->params[i].name);
	if (m->nparams == MAX_PARAMS)
		return mt_error("more than %d parameters", MAX_PARAMS);
	if (!eq[1])
		return mt_error("--param %.*s has no values: the matrix would be empty",
				(int)(eq - arg), arg);
	m->params = mt_xrealloc(m->params, (m->nparams + 1) * sizeof(*m->params));
	p = &m->params[m->nparams++];
	p->name = strndup(arg, (size_t)(eq - arg));
	p->values = NULL;
	p->nvalues = 0;
	if (!p->name)
		mt_oom();
	for (s = eq + 1;;) {
		size_t n = strcspn(s, ",");

		if (!n)
			return mt_error("--param %s has an empty value in '%s'", p->name, eq + 1);
		for (uint32_t v = 0; v < p->nvalues; v++)
			if (strlen(p->values[v]) == n && !strncmp(p->values[v], s, n))
				return mt_error("--param %s gives the value '%.*s' twice", p->name,
						(int)n, s);
		p->values = mt_xrealloc(p->values, (p->nvalues + 1) * sizeof(char *));
		p->values[p->nvalues] = strndup(s, n);
		if (!p->values[p->nvalues++])
			mt_oom();
		if (!s[n])
			return 0;
		s += n + 1;
	}
}

static int parse(int argc, char **argv, struct bench_opts *o)
{
	enum { NATIVE = 0x100, FORCE, REPORT, FORMAT, SORT, PYTHON };
	static const struct option opts[] = {
		{ "param", required_argument, NULL, 'p' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "native", no_argument, NULL, NATIVE },
		{ "python", required_argument, NULL, PYTHON },
		{ "force", no_argument, NULL, FORCE },
		{ "report", required_argument, NULL, REPORT },
		{ "format", required_argument, NULL, FORMAT },
		{ "sort", required_argument, NULL, SORT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static const char *const formats[] = { "md", "csv", "json", "html" };
	const char *dir = NULL;
	int c, run_opts = 0, rc;
	long n;
	char *end;

	optind = 0;
	opterr = 0;
	o->m.repeat = 1;
	o->jobs = 1;
	/* "+": the command's own options are its own, after -- or not */
	while ((c = getopt_long(argc, argv, "+:p:r:j:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		case 'p':
			if ((rc = add_param(&o->m, optarg)))
				return rc;
			run_opts = 1;
			break;
		case 'r':
		case 'j':
			n = strtol(optarg, &end, 10);
			if (!*optarg || *end || n < 1 || n > (c == 'r' ? MAX_REPEAT : MAX_JOBS))
				return mt_usage_error("bench", "%s needs a number from 1 to %d",
						      c == 'r' ? "--repeat" : "--jobs",
						      c == 'r' ? MAX_REPEAT : MAX_JOBS);
			if (c == 'r')
				o->m.repeat = (uint32_t)n;
			else
				o->jobs = (int)n;
			run_opts = 1;
			break;
		case 'o':
			dir = optarg;
			run_opts = 1;
			break;
		case NATIVE:
		case FORCE:
			*(c == NATIVE ? &o->native : &o->force) = 1;
			run_opts = 1;
			break;
		case PYTHON:
			o->python = optarg;
			run_opts = 1;
			break;
		case REPORT:
			o->report = optarg;
			break;
		case FORMAT:
			for (n = 0; n < 4 && strcmp(optarg, formats[n]); n++)
				;
			if (n == 4)
				return mt_usage_error("bench", "--format is md, csv, json or html, "
						      "not '%s'", optarg);
			o->format = (enum mt_matrix_format)n;
			break;
		case SORT:
			o->sort = optarg;
			break;
		case ':':
			return mt_usage_error("bench", "%s needs a value", argv[optind - 1]);
		default:
			return mt_usage_error("bench", "unknown option '%s'", argv[optind - 1]);
		}
	}
	o->cmd = argv + optind;
	o->ncmd = argc - optind;
	if (o->report) {
		if (run_opts || o->ncmd)
			return mt_usage_error("bench", "--report prints the table of earlier runs: "
					      "it takes no --param, command or run options");
		return 0;
	}
	if (!o->m.nparams)
		return mt_error("no --param given: the matrix needs at least one parameter "
				"(--param NAME=VALUE,VALUE,...)");
	if (!o->ncmd)
		return mt_error("no command to run: give it after --, with {NAME} where a "
				"parameter's value goes");
	o->m.dir = mt_xstrdup(dir ? dir : "memtide-bench");
	if (!o->m.dir[0])
		return mt_error("-o needs a directory name");
	return 0;
}

/* ------------------------------------------------------------ the command */

/*
 * Writes s with its {NAME} placeholders replaced by cell's values to out
 * (NULL: only checks them); marks each parameter used.  {{ and }} are
 * braces; a brace that does not start {NAME} stays as it is.  Returns 0,
 * or -1 with an unknown name in bad.
 */
static int expand(const char *s, const struct mt_matrix *m, uint32_t cell, FILE *out,
		  int *used, char *bad, size_t badlen)
{
	while (*s) {
		size_t n;

		if ((s[0] == '{' && s[1] == '{') || (s[0] == '}' && s[1] == '}')) {
			if (out)
				fputc(s[0], out);
			s += 2;
			continue;
		}
		n = s[0] == '{' ? strcspn(s + 1, "}") : 0;
		if (n && s[1 + n] == '}' && is_name(s + 1, n)) {
			uint32_t p;

			for (p = 0; p < m->nparams; p++)
				if (strlen(m->params[p].name) == n && !strncmp(m->params[p].name, s + 1, n))
					break;
			if (p == m->nparams) {
				snprintf(bad, badlen, "%.*s", (int)n, s + 1);
				return -1;
			}
			used[p] = 1;
			if (out)
				fputs(m->params[p].values[mt_matrix_value(m, cell, p)], out);
			s += n + 2;
			continue;
		}
		if (out)
			fputc(*s, out);
		s++;
	}
	return 0;
}

/* The command of a cell (argv, NULL-terminated, malloc'ed strings). */
static char **cell_command(const struct bench_opts *o, uint32_t cell)
{
	char **args = mt_xcalloc((size_t)o->ncmd + 1, sizeof(char *));
	int used[MAX_PARAMS];
	char bad[8];

	for (int i = 0; i < o->ncmd; i++) {
		size_t len = 0;
		FILE *f = open_memstream(&args[i], &len);

		if (!f)
			mt_oom();
		expand(o->cmd[i], &o->m, cell, f, used, bad, sizeof(bad));
		fclose(f);
	}
	return args;
}

static void free_args(char **args)
{
	for (char **a = args; *a; a++)
		free(*a);
	free(args);
}

/* Everything that can be refused before anything runs: 0, or the exit status. */
static int check_matrix(struct bench_opts *o)
{
	int used[MAX_PARAMS] = { 0 };
	char bad[256], path[PATH_MAX];
	uint64_t cells = 1;

	for (uint32_t p = 0; p < o->m.nparams; p++) {
		const struct mt_matrix_param *mp = &o->m.params[p];

		cells *= mp->nvalues;
		if (cells > MAX_CELLS)
			return mt_error("the matrix has more than %d combinations", MAX_CELLS);
		/* each NAME=VALUE is a directory name, '/' and '%' written %2F, %25 */
		for (uint32_t v = 0; v < mp->nvalues; v++) {
			size_t len = strlen(mp->name) + 1;

			for (const char *c = mp->values[v]; *c; c++)
				len += *c == '/' || *c == '%' ? 3 : 1;
			if (len > NAME_MAX)
				return mt_error("--param %s: the value '%.40s...' is too long to name "
						"a directory", mp->name, mp->values[v]);
		}
	}
	o->m.ncells = (uint32_t)cells;
	for (int i = 0; i < o->ncmd; i++)
		if (expand(o->cmd[i], &o->m, 0, NULL, used, bad, sizeof(bad)) < 0)
			return mt_error("the command uses {%s} but no --param %s is given", bad, bad);
	for (uint32_t p = 0; p < o->m.nparams; p++)
		if (!used[p])
			return mt_error("--param %s is not used: write {%s} in the command where "
					"its value goes", o->m.params[p].name, o->m.params[p].name);
	if (o->sort && mt_matrix_sort_column(&o->m, o->sort) < 0)
		return mt_error("cannot sort by '%s': --sort takes %s", o->sort, mt_matrix_sort_help);
	for (uint32_t cell = 0; cell < o->m.ncells; cell++) {
		mt_matrix_run_file(&o->m, cell, o->m.repeat - 1, "stdout.tmp", path, sizeof(path));
		if (strlen(path) >= sizeof(path) - 1)
			return mt_error("the runs' paths under '%s' would be longer than %d bytes",
					o->m.dir, PATH_MAX);
	}
	o->m.command = bench_quote(o->cmd, o->ncmd);
	return 0;
}

/* ------------------------------------------------------------ the runs */

struct job {
	pid_t pid;
	uint32_t cell, rep;
	double start;
	char *command;		/* quoted, for the status file */
};

struct runner {
	struct bench_opts *o;
	char self[PATH_MAX];
	struct job *jobs;
	int running;
	double t0;
	uint32_t total, finished;	/* runs to do in this invocation, runs ended */
	double busy;			/* wall seconds of the finished runs */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *fmt_duration(char *buf, size_t cap, double s)
{
	long t = (long)(s + 0.5);

	if (t >= 3600)
		snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
	return buf;
}

/* "case=coal trees=50" */
static void cell_label(const struct mt_matrix *m, uint32_t cell, char *buf, size_t cap)
{
	size_t o = 0;

	buf[0] = '\0';
	for (uint32_t p = 0; p < m->nparams && o < cap; p++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%s=%s", p ? " " : "", m->params[p].name,
				      m->params[p].values[mt_matrix_value(m, cell, p)]);
}

static void progress(struct runner *r, uint32_t cell, uint32_t rep, const char *what)
{
	const struct mt_matrix *m = &r->o->m;
	char label[1024], el[32], left[32];
	double elapsed = now() - r->t0;

	cell_label(m, cell, label, sizeof(label));
	fprintf(stderr, "memtide bench: cell %u of %u (%s)", cell + 1, m->ncells, label);
	if (m->repeat > 1)
		fprintf(stderr, ", run %u of %u", rep + 1, m->repeat);
	fprintf(stderr, ": %s; %s elapsed", what, fmt_duration(el, sizeof(el), elapsed));
	if (r->finished) {
		double per = r->busy / r->finished;
		uint32_t todo = r->total - r->finished;

		fprintf(stderr, ", about %s left",
			fmt_duration(left, sizeof(left), per * todo / r->o->jobs));
	}
	fputc('\n', stderr);
}

/* Whether an earlier invocation completed this run with this command. */
static int done_before(struct runner *r, uint32_t cell, uint32_t rep, const char *command)
{
	char path[PATH_MAX];
	struct bench_status s;
	struct stat sb;
	int done;

	mt_matrix_run_file(&r->o->m, cell, rep, "status", path, sizeof(path));
	if (bench_read_status(path, &s) < 0)
		return 0;
	mt_matrix_run_file(&r->o->m, cell, rep, "tide", path, sizeof(path));
	done = s.state == MT_RUN_OK && !strcmp(s.command, command) && !stat(path, &sb) &&
	       s.capture_bytes && (uint64_t)sb.st_size == s.capture_bytes;
	bench_status_release(&s);
	return done;
}

static int open_out(const struct mt_matrix *m, uint32_t cell, uint32_t rep, const char *ext)
{
	char path[PATH_MAX];
	int fd;

	mt_matrix_run_file(m, cell, rep, ext, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		mt_error("cannot write '%s': %s", path, strerror(errno));
	return fd;
}

/* Starts `memtide run` for the run; 0, or the exit status after an error. */
static int start(struct runner *r, struct job *j, uint32_t cell, uint32_t rep, char **args,
		 char *command)
{
	const struct mt_matrix *m = &r->o->m;
	char dir[PATH_MAX], capture[PATH_MAX], err[PATH_MAX + 128];
	char **argv = mt_xcalloc((size_t)r->o->ncmd + 11, sizeof(char *));
	int k = 0, out, errfd, devnull;

	mt_matrix_cell_dir(m, cell, dir, sizeof(dir));
	if (bench_mkdirs(dir, err, sizeof(err)) < 0) {
		free(argv);
		return mt_error("%s", err);
	}
	/* what an earlier run left must not pass for this one's */
	for (int i = 0; i < 2; i++) {
		mt_matrix_run_file(m, cell, rep, i ? "tide" : "status", capture, sizeof(capture));
		if (unlink(capture) && errno != ENOENT) {
			free(argv);
			return mt_error("cannot remove '%s': %s", capture, strerror(errno));
		}
	}
	out = open_out(m, cell, rep, "stdout");
	errfd = out < 0 ? -1 : open_out(m, cell, rep, "stderr");
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (out < 0 || errfd < 0 || devnull < 0) {
		if (out >= 0)
			close(out);
		if (errfd >= 0)
			close(errfd);
		if (devnull >= 0)
			close(devnull);
		free(argv);
		return devnull < 0 ? mt_error("cannot open /dev/null: %s", strerror(errno)) : 1;
	}
	argv[k++] = "memtide";
	argv[k++] = "run";
	argv[k++] = "-q";
	argv[k++] = "-f";
	argv[k++] = "-o";
	argv[k++] = capture;
	if (r->o->native)
		argv[k++] = "--native";
	if (r->o->python) {
		argv[k++] = "--python";
		argv[k++] = (char *)r->o->python;
	}
	argv[k++] = "--";
	for (int i = 0; i < r->o->ncmd; i++)
		argv[k++] = args[i];

	fflush(NULL);
	j->pid = fork();
	if (j->pid == 0) {
		/* the runs share no terminal input: several may run at once */
		dup2(devnull, 0);
		dup2(out, 1);
		dup2(errfd, 2);
		execv(r->self, argv);
		fprintf(stderr, "memtide: cannot run '%s': %s\n", r->self, strerror(errno));
		_exit(127);
	}
	close(out);
	close(errfd);
	close(devnull);
	free(argv);
	if (j->pid < 0)
		return mt_error("cannot fork: %s", strerror(errno));
	j->cell = cell;
	j->rep = rep;
	j->start = now();
	j->command = command;
	r->running++;
	return 0;
}

/* Waits for one run to end and writes its status; 0, or the exit status. */
static int reap(struct runner *r)
{
	const struct mt_matrix *m = &r->o->m;
	struct bench_status s = { 0 };
	char path[PATH_MAX], err[PATH_MAX + 128], what[96], how[64];
	struct stat sb;
	struct job *j = NULL;
	int status, rc;
	pid_t pid;

	while ((pid = waitpid(-1, &status, 0)) < 0)
		if (errno != EINTR)
			return mt_error("lost the runs: %s", strerror(errno));
	for (int i = 0; i < r->o->jobs; i++)
		if (r->jobs[i].pid == pid)
			j = &r->jobs[i];
	if (!j)
		return 0;	/* not one of ours */
	s.wall_s = now() - j->start;
	s.jobs = r->o->jobs;
	s.command = j->command;
	if (WIFSIGNALED(status)) {
		s.state = MT_RUN_FAILED;
		s.signal = WTERMSIG(status);
		s.exit_status = 128 + s.signal;
	} else {
		s.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
		s.state = s.exit_status ? MT_RUN_FAILED : MT_RUN_OK;
	}
	snprintf(what, sizeof(what), "failed, %s",
		 mt_matrix_failure(how, sizeof(how), s.exit_status, s.signal));
	mt_matrix_run_file(m, j->cell, j->rep, "tide", path, sizeof(path));
	s.capture_bytes = stat(path, &sb) ? 0 : (uint64_t)sb.st_size;
	mt_matrix_run_file(m, j->cell, j->rep, "status", path, sizeof(path));
	rc = bench_write_status(path, &s, err, sizeof(err));
	r->running--;
	r->finished++;
	r->busy += s.wall_s;
	if (s.state == MT_RUN_FAILED)
		progress(r, j->cell, j->rep, what);
	free(j->command);
	memset(j, 0, sizeof(*j));
	return rc < 0 ? mt_error("%s", err) : 0;
}

static struct job *free_slot(struct runner *r)
{
	for (int i = 0; i < r->o->jobs; i++)
		if (!r->jobs[i].pid)
			return &r->jobs[i];
	return NULL;
}

/* Runs the whole matrix; 0, or the exit status after an error. */
static int run_matrix(struct bench_opts *o)
{
	struct runner r = { .o = o };
	const struct mt_matrix *m = &o->m;
	size_t nruns = (size_t)m->ncells * m->repeat;
	ssize_t n = readlink("/proc/self/exe", r.self, sizeof(r.self) - 1);
	uint8_t *skip;
	int rc = 0;

	if (n <= 0)
		return mt_error("cannot find memtide's own binary: %s", strerror(errno));
	r.self[n] = '\0';
	skip = mt_xcalloc(nruns, 1);
	r.jobs = mt_xcalloc((size_t)o->jobs, sizeof(*r.jobs));
	r.t0 = now();
	for (uint32_t cell = 0; cell < m->ncells; cell++) {
		char **args = cell_command(o, cell);
		char *command = bench_quote(args, o->ncmd);

		for (uint32_t k = 0; k < m->repeat; k++)
			if (!o->force && done_before(&r, cell, k, command))
				skip[(size_t)cell * m->repeat + k] = 1;
			else
				r.total++;
		free(command);
		free_args(args);
	}
	for (uint32_t cell = 0; cell < m->ncells && !rc; cell++) {
		char **args = cell_command(o, cell);

		for (uint32_t k = 0; k < m->repeat && !rc; k++) {
			struct job *j;
			char *command;

			if (skip[(size_t)cell * m->repeat + k]) {
				progress(&r, cell, k, "done before, skipped (--force runs it again)");
				continue;
			}
			while (!(j = free_slot(&r)) && !rc)
				rc = reap(&r);
			if (rc)
				break;
			progress(&r, cell, k, "running");
			command = bench_quote(args, o->ncmd);
			if ((rc = start(&r, j, cell, k, args, command)))
				free(command);
		}
		free_args(args);
	}
	while (r.running)
		if (reap(&r) && !rc)
			rc = 1;
	if (!rc) {
		char el[32];

		fprintf(stderr, "memtide bench: %u %s in %s", r.finished,
			r.finished == 1 ? "run" : "runs", fmt_duration(el, sizeof(el), now() - r.t0));
		if (r.total < nruns)
			fprintf(stderr, ", %zu done before", nruns - r.total);
		fputc('\n', stderr);
	}
	free(r.jobs);
	free(skip);
	return rc;
}

/* ----------------------------------------------------------- the report */

static int report(const char *dir, const struct bench_opts *o, int run)
{
	struct mt_matrix m;
	char err[PATH_MAX + 256];
	uint32_t failed = 0, runs = 0;

	if (bench_load(dir, &m, err, sizeof(err)) < 0)
		return mt_error("%s", err);
	if (o->sort && mt_matrix_sort_column(&m, o->sort) < 0) {
		mt_matrix_release(&m);
		return mt_error("cannot sort by '%s': --sort takes %s", o->sort, mt_matrix_sort_help);
	}
	if (mt_matrix_write(stdout, &m, o->format, o->sort) < 0) {
		mt_matrix_release(&m);
		return mt_error("the page template has no {{TITLE}} and {{DATA}} to fill");
	}
	for (size_t i = 0; i < (size_t)m.ncells * m.repeat; i++) {
		runs += m.runs[i].state != MT_RUN_MISSING;
		failed += m.runs[i].state == MT_RUN_FAILED;
	}
	mt_matrix_release(&m);
	if (fflush(stdout))
		return mt_error("cannot write the report: %s", strerror(errno));
	if (run && failed)
		return mt_error("%u of %u runs failed (each one's output is beside its capture)",
				failed, runs);
	return 0;
}

int cmd_bench(int argc, char **argv)
{
	struct bench_opts o = { 0 };
	char err[PATH_MAX + 128];
	int rc = parse(argc, argv, &o);

	if (rc || o.report) {
		mt_matrix_release(&o.m);
		return rc < 0 ? 0 : rc ? rc : report(o.report, &o, 0);
	}
	if ((rc = check_matrix(&o)))
		goto out;
	if (bench_mkdirs(o.m.dir, err, sizeof(err)) < 0 ||
	    bench_save_matrix(&o.m, err, sizeof(err)) < 0) {
		rc = mt_error("%s", err);
		goto out;
	}
	rc = run_matrix(&o);
	if (!rc)
		rc = report(o.m.dir, &o, 1);
out:
	mt_matrix_release(&o.m);
	return rc;
}
