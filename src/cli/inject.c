/*
 * inject.c - what `memtide attach` and `memtide detach` share: the checks
 * on a target process that give a clear reason before gdb is started, and
 * gdb itself (Debian's, `gdb -batch -p PID`), which runs the Python script
 * below to call libmemtide.so's attach entry points inside the process
 * (src/capture/attach.c).
 *
 * The script stops the process (every thread) and picks a thread that is
 * blocked in a system call, with no frame of libc's allocator, loader
 * calls, thread creation or exit, nor of the loader or memtide on its
 * stack: the code it calls there (dlopen, the tracker's start, which
 * starts a thread; or the stop, which joins it) takes those locks, and a
 * thread that holds one would wait for itself.  When none is, as in a
 * program that computes, it lets the program run until a thread calls the
 * allocator from outside memtide and the allocator (a breakpoint at the
 * entry of malloc, calloc, realloc and free, as memray does): there it
 * holds no allocator lock yet, and it is at a call.  When that does not
 * come within WAIT_S seconds, gdb detaches and memtide tries again a
 * little later.  The other threads run during the calls
 * (scheduler-locking off), so a lock they hold is released.
 *
 * The calls are made by the script, not by gdb's `call`: gdb 13 restores
 * the whole register file after a call, vector state included, and fails
 * to on CPUs whose XSAVE area it does not know (AMX), leaving the thread
 * broken.  The script writes only the general registers (and puts them
 * back after): the thread sits in a system call made through a libc
 * function, or has just called the allocator, where a call may clobber
 * every vector register anyway.  The
 * return address is the program's entry point, where a breakpoint stops
 * the call; strings go on the thread's stack, below its red zone; the
 * interrupted system call is restarted as after any stop.  A signal that
 * would kill the program during a call (SIGSEGV...) stops it instead, and
 * every other signal goes to the program as usual.  Only the script's
 * "@@memtide" lines are read; the rest of gdb's output is shown only when
 * it fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "inject.h"
#include "../format/proc.h"

#define GDB_TIMEOUT_S 120	/* gdb attaching to a big program reads its symbols */
#define BUSY_TRIES 3		/* no thread at a safe point: try again */
#define WAIT_S 10		/* for a thread to call the allocator */
#define CAP_SYS_PTRACE 19

static const char script[] =
	"# Run by gdb (-batch -p PID) for memtide attach/detach; speaks on lines\n"
	"# starting with @@memtide.  Parameters come in MEMTIDE_GDB_* variables.\n"
	"import os\n"
	"import struct\n"
	"import threading\n"
	"\n"
	"import gdb\n"
	"\n"
	"E = os.environ\n"
	"# libc's functions that hold a lock memtide's start or stop takes too (the\n"
	"# allocator's, the loader's, the thread stacks'); memtide's own and the\n"
	"# loader's frames are never safe.\n"
	"UNSAFE = ('alloc', 'free', 'dlopen', 'dlclose', 'dlsym', 'dlvsym', 'dladdr',\n"
	"          'dl_iterate_phdr', '_dl_', 'fork', 'pthread_create', 'exit')\n"
	"\n"
	"\n"
	"def say(kind, text=''):\n"
	"    gdb.write('@@memtide %s %s\\n' % (kind, str(text).replace('\\n', ' ')))\n"
	"    gdb.flush()\n"
	"\n"
	"\n"
	"REGS = ('rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10',\n"
	"        'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'eflags', 'orig_rax')\n"
	"ARGS = ('rdi', 'rsi', 'rdx', 'rcx', 'r8', 'r9')\n"
	"\n"
	"\n"
	"def reg(name):\n"
	"    return int(gdb.newest_frame().read_register(name))\n"
	"\n"
	"\n"
	"def blocker(t, f=None):\n"
	"    '''Why thread t may not run memtide code now, or None: its frames from\n"
	"    f outwards (f: the caller of the allocator it has just called), else\n"
	"    all of them, when it is blocked in a system call.'''\n"
	"    t.switch()\n"
	"    if f is None:\n"
	"        if reg('orig_rax') < 0:\n"
	"            return 'running code, in no system call nor allocator call'\n"
	"        try:\n"
	"            f = gdb.newest_frame()\n"
	"        except gdb.error as e:\n"
	"            return 'no stack (%s)' % e\n"
	"    for _ in range(512):\n"
	"        name = f.name() or ''\n"
	"        lib = os.path.basename(gdb.solib_name(f.pc()) or '')\n"
	"        if lib.startswith('libmemtide') or lib.startswith('ld-linux'):\n"
	"            return name or lib\n"
	"        if lib.startswith('libc.') and any(w in name.lower() for w in UNSAFE):\n"
	"            return name\n"
	"        try:\n"
	"            f = f.older()\n"
	"        except gdb.error:\n"
	"            break\n"
	"        if f is None:\n"
	"            break\n"
	"    return None\n"
	"\n"
	"\n"
	"def pick_thread():\n"
	"    why = []\n"
	"    for t in sorted(gdb.selected_inferior().threads(), key=lambda t: t.num):\n"
	"        b = blocker(t)\n"
	"        if b is None:\n"
	"            t.switch()\n"
	"            return t\n"
	"        why.append('thread %d: %s' % (t.ptid[1], b))\n"
	"    return at_allocator_entry() or say('busy', '; '.join(why))\n"
	"\n"
	"\n"
	"def at_allocator_entry():\n"
	"    '''A thread that has just called the allocator (libc's, or memtide's\n"
	"    hook) from outside memtide and the allocator: a call boundary, where\n"
	"    it holds no allocator lock yet (memray stops there too).  Waits\n"
	"    MEMTIDE_GDB_WAIT seconds at most.'''\n"
	"    bps, state = [], {'waiting': True, 'late': False}\n"
	"    for fn in ('malloc', 'calloc', 'realloc', 'free'):\n"
	"        try:\n"
	"            bps.append(gdb.Breakpoint(fn, internal=True))\n"
	"        except gdb.error:\n"
	"            pass\n"
	"\n"
	"    def interrupt():  # in gdb's own thread, from its event loop\n"
	"        if state['waiting']:\n"
	"            state['late'] = True\n"
	"            gdb.execute('interrupt')\n"
	"\n"
	"    timer = threading.Timer(float(E['MEMTIDE_GDB_WAIT']), gdb.post_event, (interrupt,))\n"
	"    timer.start()\n"
	"    try:\n"
	"        for _ in range(64):\n"
	"            hits = [b.hit_count for b in bps]\n"
	"            gdb.execute('continue')\n"
	"            if state['late'] or [b.hit_count for b in bps] == hits:\n"
	"                return None  # interrupted, or stopped by something else\n"
	"            t = gdb.selected_thread()\n"
	"            if t is not None and not blocker(t, gdb.newest_frame().older()):\n"
	"                return t\n"
	"    finally:\n"
	"        state['waiting'] = False\n"
	"        timer.cancel()\n"
	"        for b in bps:\n"
	"            b.delete()\n"
	"    return None\n"
	"\n"
	"\n"
	"class Caller:\n"
	"    '''Calls functions on a thread stopped in a system call, as a call\n"
	"    from the code it stopped in would: only the general registers are\n"
	"    written (and put back after), never the vector state, which a call\n"
	"    may clobber there; strings go on its stack, below the red zone.'''\n"
	"\n"
	"    def __init__(self, thread):\n"
	"        self.thread = thread\n"
	"        self.inf = gdb.selected_inferior()\n"
	"        self.saved = {r: reg(r) for r in REGS}\n"
	"        self.top = (self.saved['rsp'] - 256) & ~15\n"
	"        with open('/proc/%d/auxv' % self.inf.pid, 'rb') as f:\n"
	"            aux = f.read()\n"
	"        entry = [struct.unpack_from('<QQ', aux, i) for i in range(0, len(aux), 16)]\n"
	"        self.ret = dict(entry)[9]  # AT_ENTRY: never run again, so never hit but by us\n"
	"        self.bp = gdb.Breakpoint('*%d' % self.ret, internal=True)\n"
	"\n"
	"    def string(self, s):\n"
	"        data = s.encode() + b'\\0'\n"
	"        self.top = (self.top - len(data)) & ~15\n"
	"        self.inf.write_memory(self.top, data)\n"
	"        return self.top\n"
	"\n"
	"    def buffer(self, n):\n"
	"        self.top = (self.top - n) & ~15\n"
	"        return self.top\n"
	"\n"
	"    def read(self, addr, n=4096):\n"
	"        return self.inf.read_memory(addr, n).tobytes().split(b'\\0')[0].decode(errors='replace')\n"
	"\n"
	"    def call(self, fn, *args):\n"
	"        sp = ((self.top - 1024) & ~15) - 8\n"
	"        self.inf.write_memory(sp, struct.pack('<Q', self.ret))\n"
	"        for r, v in zip(ARGS, args):\n"
	"            gdb.execute('set $%s = %d' % (r, v))\n"
	"        for r, v in (('rax', 0), ('rsp', sp), ('orig_rax', -1), ('rip', fn)):\n"
	"            gdb.execute('set $%s = %d' % (r, v))\n"
	"        gdb.execute('continue')\n"
	"        t = gdb.selected_thread()\n"
	"        if t is None or t.num != self.thread.num or reg('rip') != self.ret:\n"
	"            raise gdb.error('the call stopped elsewhere: %s' % gdb.parse_and_eval('$_siginfo'))\n"
	"        return reg('rax')\n"
	"\n"
	"    def restore(self):\n"
	"        self.thread.switch()\n"
	"        for r in REGS:\n"
	"            gdb.execute('set $%s = %d' % (r, self.saved[r]))\n"
	"        self.bp.delete()\n"
	"\n"
	"\n"
	"def symbol(name):\n"
	"    return int(gdb.parse_and_eval('(long)&%s' % name))\n"
	"\n"
	"\n"
	"def memtide_fn(name):\n"
	"    '''[(library, address)] of an entry point in every libmemtide loaded.'''\n"
	"    out = []\n"
	"    for o in gdb.objfiles():\n"
	"        if not os.path.basename(o.filename or '').startswith('libmemtide'):\n"
	"            continue\n"
	"        s = o.lookup_global_symbol(name)\n"
	"        if s is not None:\n"
	"            out.append((o.filename, int(s.value().address)))\n"
	"    return out\n"
	"\n"
	"\n"
	"def active(c, name):\n"
	"    return [lib for lib, fn in memtide_fn(name) if c.call(fn) & 0xffffffff]\n"
	"\n"
	"\n"
	"def attach(c):\n"
	"    if active(c, 'memtide_attach_active'):\n"
	"        return say('already', 'memtide attach')\n"
	"    if active(c, 'memtide_tracker_active'):\n"
	"        return say('already', 'memtide run or a Tracker')\n"
	"    lib = c.string(E['MEMTIDE_GDB_LIB'])\n"
	"    h = c.call(symbol('dlopen'), lib, 2)\n"
	"    if not h:\n"
	"        return say('error', 'cannot load the tracker: %s' % c.read(c.call(symbol('dlerror'))))\n"
	"    fn = c.call(symbol('dlsym'), h, c.string('memtide_attach_start'))\n"
	"    if not fn:\n"
	"        return say('error', '%s is not a memtide tracker library' % E['MEMTIDE_GDB_LIB'])\n"
	"    err = c.buffer(2048)\n"
	"    out, pydir = c.string(E['MEMTIDE_GDB_OUTPUT']), c.string(E['MEMTIDE_GDB_PYDIR'])\n"
	"    rate = int(E['MEMTIDE_GDB_SAMPLE_RATE'])\n"
	"    if c.call(fn, out, int(E['MEMTIDE_GDB_NATIVE']), pydir, rate, err, 2048) & 0xffffffff:\n"
	"        return say('error', c.read(err))\n"
	"    say('ok')\n"
	"\n"
	"\n"
	"def detach(c):\n"
	"    for lib, fn in memtide_fn('memtide_attach_active'):\n"
	"        if not c.call(fn) & 0xffffffff:\n"
	"            continue\n"
	"        out = [f for l, f in memtide_fn('memtide_attach_output') if l == lib]\n"
	"        stop = [f for l, f in memtide_fn('memtide_attach_stop') if l == lib]\n"
	"        path = c.read(c.call(out[0]))\n"
	"        c.call(stop[0])\n"
	"        return say('ok', path)\n"
	"    if active(c, 'memtide_tracker_active'):\n"
	"        return say('notours')\n"
	"    say('none')\n"
	"\n"
	"\n"
	"def main():\n"
	"    gdb.execute('set scheduler-locking off')\n"
	"    gdb.execute('handle all nostop noprint pass')\n"
	"    for sig in ('SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGABRT'):\n"
	"        gdb.execute('handle %s stop print nopass' % sig)\n"
	"    c = None\n"
	"    try:\n"
	"        if not gdb.selected_inferior().pid:\n"
	"            return say('noprocess')\n"
	"        t = pick_thread()\n"
	"        if t is None:\n"
	"            return\n"
	"        c = Caller(t)\n"
	"        attach(c) if E['MEMTIDE_GDB_MODE'] == 'attach' else detach(c)\n"
	"    except gdb.error as e:\n"
	"        say('error', 'gdb: %s' % e)\n"
	"    finally:\n"
	"        if c is not None and gdb.selected_inferior().pid:\n"
	"            c.restore()\n"
	"        if gdb.selected_inferior().pid:\n"
	"            gdb.execute('detach')\n"
	"\n"
	"\n"
	"main()\n";

pid_t mt_inject_pid(const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v <= 0 || v > INT_MAX)
		return -1;
	return (pid_t)v;
}

/* A "Key:\tvalue" line of /proc/PID/status; -1 when absent. */
static int status_field(pid_t pid, const char *key, char *out, size_t cap)
{
	char path[64], line[512];
	size_t klen = strlen(key);
	FILE *f;
	int found = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			char *v = line + klen + 1;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(out, cap, "%s", v);
			found = 0;
			break;
		}
	fclose(f);
	return found;
}

/* Does the process map the dynamic loader (i.e. can it dlopen)? */
static int maps_loader(pid_t pid)
{
	char path[64], line[4608];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (!found && fgets(line, sizeof(line), f)) {
		const char *base = strrchr(line, '/');

		found = base && !strncmp(base + 1, "ld-linux", 8);
	}
	fclose(f);
	return found;
}

static int find_gdb(char *out, size_t cap)
{
	const char *path = getenv("PATH");

	while (path && *path) {
		size_t n = strcspn(path, ":");

		if (n)
			snprintf(out, cap, "%.*s/gdb", (int)n, path);
		else
			snprintf(out, cap, "./gdb");
		if (access(out, X_OK) == 0)
			return 0;
		path += n + (path[n] == ':');
	}
	return -1;
}

static int may_ptrace_all(void)
{
	char caps[64];

	return status_field(getpid(), "CapEff", caps, sizeof(caps)) == 0 &&
	       (strtoull(caps, NULL, 16) >> CAP_SYS_PTRACE) & 1;
}

int mt_inject_check(pid_t pid, char *msg, size_t cap)
{
	char v[256], exe[PATH_MAX], gdb[PATH_MAX];
	int scope = 0, loader;
	FILE *f;

	if (pid == getpid())
		return snprintf(msg, cap, "cannot attach to memtide itself"), -1;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return snprintf(msg, cap, "no process with pid %d", (int)pid), -1;
	if (status_field(pid, "Tgid", v, sizeof(v)) < 0 || atoi(v) != pid)
		return snprintf(msg, cap, "no process with pid %d%s", (int)pid,
				status_field(pid, "Tgid", v, sizeof(v)) < 0 ? "" :
				" (it is a thread of another process)"), -1;
	if (!mt_proc_start_ticks(pid))
		return snprintf(msg, cap, "process %d has exited", (int)pid), -1;
	snprintf(v, sizeof(v), "/proc/%d/exe", (int)pid);
	if (readlink(v, exe, sizeof(exe)) < 0 && errno == ENOENT)
		return snprintf(msg, cap, "process %d is a kernel thread", (int)pid), -1;
	loader = maps_loader(pid);
	if (loader == 0)
		return snprintf(msg, cap, "process %d is statically linked: memtide can only "
				"attach to dynamically linked programs", (int)pid), -1;
	if (status_field(pid, "TracerPid", v, sizeof(v)) == 0 && atoi(v) > 0)
		return snprintf(msg, cap, "process %d is already being traced by process %s "
				"(a debugger?)", (int)pid, v), -1;
	if ((f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r"))) {
		if (fscanf(f, "%d", &scope) != 1)
			scope = 0;
		fclose(f);
	}
	if (scope == 3)
		return snprintf(msg, cap, "ptrace is disabled on this system "
				"(/proc/sys/kernel/yama/ptrace_scope is 3 until the next boot): "
				"memtide cannot attach"), -1;
	if (loader < 0 || (scope >= 1 && !may_ptrace_all()))
		return snprintf(msg, cap, "not allowed to ptrace process %d: run memtide as root "
				"(CAP_SYS_PTRACE)%s", (int)pid, scope == 1 ?
				", or allow it with 'echo 0 > /proc/sys/kernel/yama/ptrace_scope'" : ""), -1;
	if (find_gdb(gdb, sizeof(gdb)) < 0)
		return snprintf(msg, cap, "attaching needs gdb, which is not installed "
				"(apt install gdb)"), -1;
	return 0;
}

/* Runs gdb once; its whole output (stdout and stderr) into *out. */
static int run_gdb(const struct mt_inject *in, char **out, size_t *len)
{
	char gdb[PATH_MAX], pid[16], native[4], wait[16], rate[24];
	int fds[2], status;
	size_t cap = 65536;
	time_t deadline = time(NULL) + GDB_TIMEOUT_S;
	pid_t child;

	*len = 0;
	if (find_gdb(gdb, sizeof(gdb)) < 0 || pipe2(fds, O_CLOEXEC) < 0 ||
	    !(*out = malloc(cap)))
		return -1;
	snprintf(pid, sizeof(pid), "%d", (int)in->pid);
	snprintf(native, sizeof(native), "%d", in->native);
	snprintf(rate, sizeof(rate), "%llu", in->sample_rate);
	snprintf(wait, sizeof(wait), "%d", WAIT_S);
	fflush(NULL);
	child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		setenv("MEMTIDE_GDB_MODE", in->attach ? "attach" : "detach", 1);
		setenv("MEMTIDE_GDB_LIB", in->lib ? in->lib : "", 1);
		setenv("MEMTIDE_GDB_OUTPUT", in->output ? in->output : "", 1);
		setenv("MEMTIDE_GDB_PYDIR", in->pydir ? in->pydir : "", 1);
		setenv("MEMTIDE_GDB_NATIVE", native, 1);
		setenv("MEMTIDE_GDB_SAMPLE_RATE", rate, 1);
		setenv("MEMTIDE_GDB_WAIT", wait, 1);
		setenv("MEMTIDE_GDB_SCRIPT", script, 1);
		setpgid(0, 0);	/* the terminal's Ctrl-C is memtide's to handle */
		execl(gdb, "gdb", "-nx", "-batch", "-iex", "set auto-load off",
		      "-iex", "set debuginfod enabled off", "-iex", "set pagination off",
		      "-iex", "set confirm off", "-p", pid,
		      "-ex", "python exec(__import__('os').environ['MEMTIDE_GDB_SCRIPT'])",
		      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd p = { fds[0], POLLIN, 0 };
		ssize_t n;

		if (time(NULL) > deadline) {
			kill(child, SIGINT);	/* gdb detaches on its way out */
			deadline = time(NULL) + 3600;
		}
		if (poll(&p, 1, 1000) <= 0)
			continue;
		if (*len + 4096 > cap) {
			char *more = realloc(*out, cap * 2);

			if (!more)
				break;
			*out = more;
			cap *= 2;
		}
		n = read(fds[0], *out + *len, cap - *len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*len += (size_t)n;
	}
	(*out)[*len] = '\0';
	close(fds[0]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/* The value of the script's "@@memtide KIND text" line, or NULL. */
static const char *reply(const char *out, char *kind, size_t kcap)
{
	const char *p = out;

	while ((p = strstr(p, "@@memtide "))) {
		if (p == out || p[-1] == '\n') {
			size_t n;

			p += 10;
			n = strcspn(p, " \n");
			snprintf(kind, kcap, "%.*s", (int)n, p);
			return p[n] == ' ' ? p + n + 1 : p + n;
		}
		p++;
	}
	return NULL;
}

/* The lines of gdb's output that say what went wrong, on one line. */
static void excerpt(const char *out, char *msg, size_t cap)
{
	const char *line = out;
	size_t used = 0;

	msg[0] = '\0';
	while (*line && used + 4 < cap) {
		size_t n = strcspn(line, "\n");

		if (n && strncmp(line, "@@memtide", 9) &&
		    (strcasestr(line, "error") || strcasestr(line, "ptrace") ||
		     strcasestr(line, "not permitted") || strcasestr(line, "cannot") ||
		     strcasestr(line, "No such") || strcasestr(line, "warning: Unable")))
			used += (size_t)snprintf(msg + used, cap - used, "%s%.*s",
						 used ? "; " : "", (int)n, line);
		line += n + (line[n] == '\n');
	}
	if (!used) {	/* nothing that looks like an error: the last line */
		const char *end = out + strlen(out);

		while (end > out && end[-1] == '\n')
			end--;
		line = end;
		while (line > out && line[-1] != '\n')
			line--;
		snprintf(msg, cap, "%.*s", (int)(end - line), line);
		if (!*msg)
			snprintf(msg, cap, "it said nothing");
	}
	if (used >= cap - 4)
		strcpy(msg + cap - 4, "...");
}

int mt_inject_run(struct mt_inject *in)
{
	char kind[32], gdb_said[1024];
	const char *text;
	char *out = NULL;
	size_t len;

	for (int attempt = 0; attempt < BUSY_TRIES; attempt++) {
		struct timespec wait = { 0, 100000000 };

		free(out);
		out = NULL;
		if (run_gdb(in, &out, &len) < 0) {
			free(out);
			snprintf(in->message, sizeof(in->message), "cannot run gdb: %s", strerror(errno));
			return MT_INJECT_FAILED;
		}
		text = reply(out, kind, sizeof(kind));
		if (!text || strcmp(kind, "busy"))
			break;
		nanosleep(&wait, NULL);
	}
	if (!text || !strcmp(kind, "noprocess")) {
		excerpt(out, gdb_said, sizeof(gdb_said));
		if (strstr(out, "ptrace: Operation not permitted"))
			snprintf(in->message, sizeof(in->message), "not allowed to ptrace process %d: "
				 "run memtide as root (CAP_SYS_PTRACE), or allow it with "
				 "'echo 0 > /proc/sys/kernel/yama/ptrace_scope'", (int)in->pid);
		else
			snprintf(in->message, sizeof(in->message), "gdb could not %s process %d: %s",
				 in->attach ? "attach to" : "detach from", (int)in->pid, gdb_said);
		free(out);
		return MT_INJECT_FAILED;
	}
	snprintf(in->message, sizeof(in->message), "%.*s", (int)strcspn(text, "\n"), text);
	free(out);
	if (!strcmp(kind, "ok"))
		return MT_INJECT_OK;
	if (!strcmp(kind, "already"))
		return MT_INJECT_ALREADY;
	if (!strcmp(kind, "notours"))
		return MT_INJECT_NOT_OURS;
	if (!strcmp(kind, "none"))
		return MT_INJECT_NONE;
	if (!strcmp(kind, "busy")) {
		char why[sizeof(in->message)];

		snprintf(why, sizeof(why), "%s", in->message);
		snprintf(in->message, sizeof(in->message), "no thread stopped where memtide can "
			 "call into it (%.1500s): try again", why);
	}
	return MT_INJECT_FAILED;
}
