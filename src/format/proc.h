/*
 * proc.h - what the kernel says of a process on this machine (/proc):
 * when it started, to tell it from another that reused its pid.
 */
#ifndef MT_PROC_H
#define MT_PROC_H

/* The start time of process pid in clock ticks since boot (field 22 of
 * /proc/PID/stat); 0 when there is no such process or it has ended (a
 * zombie). */
unsigned long long mt_proc_start_ticks(long pid);

#endif
