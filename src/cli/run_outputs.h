/*
 * run_outputs.h - the capture files of one `memtide run`: -o patterns,
 * the session id its captures share, the list printed at the end.
 */
#ifndef MT_RUN_OUTPUTS_H
#define MT_RUN_OUTPUTS_H

#include <stddef.h>
#include <time.h>

/* pattern with %p (pid), %h (host), %r (MPI rank), %% expanded into out;
 * 0, or the exit status after a one-line error. */
int run_output_name(const char *pattern, long pid, char *out, size_t cap);
/* Whether the pattern names the pid (the file is known once it runs). */
int run_output_has_pid(const char *pattern);
/* The id the captures of a run share (META session): the MPI or Slurm
 * job's when there is one (its ranks are one run), else random hex. */
void run_session_id(char *buf, size_t cap);
/* Prints on stderr out and every <stem>.<pid>[.<pid>...].tide beside it
 * written since `since`; returns how many. */
int run_list_captures(const char *out, time_t since);

#endif
