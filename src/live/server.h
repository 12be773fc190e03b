/*
 * server.h - serves a live engine's snapshots to viewers over TCP
 * (`memtide run --live-remote`; protocol in docs/LIVE.md).  Each viewer
 * gets a thread and a source of its own; up to MT_SERVER_VIEWERS watch at
 * once.  It runs in memtide, beside the engine: the program never waits
 * for it.
 */
#ifndef MT_SERVER_H
#define MT_SERVER_H

#include <stddef.h>

#include "engine.h"

#define MT_SERVER_VIEWERS 8

struct mt_server;

/*
 * Listens on host:port (port 0: one the system chooses).  Returns NULL
 * with a one-line reason in err ("cannot serve on 127.0.0.1:8000: Address
 * already in use").
 */
struct mt_server *mt_server_start(struct mt_engine *e, const char *host, int port,
				  char *err, size_t errlen);
/* The port it listens on. */
int mt_server_port(const struct mt_server *s);
/* Waits up to timeout_ms for the first viewer; 1 once one has connected. */
int mt_server_wait_viewer(struct mt_server *s, int timeout_ms);
/* Whether a viewer has ever connected (0 without a server: s NULL). */
int mt_server_watched(struct mt_server *s);
/*
 * After the program's end: waits up to timeout_ms until each viewer
 * connected has been sent the final state (or has left).
 */
void mt_server_finish(struct mt_server *s, int timeout_ms);
/* Closes every connection and the listening socket, and frees s. */
void mt_server_free(struct mt_server *s);

#endif
