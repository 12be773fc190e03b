/*
 * client.h - the viewer's side of the live protocol (docs/LIVE.md): a
 * live source whose snapshots come from `memtide run --live-remote`.
 */
#ifndef MT_CLIENT_H
#define MT_CLIENT_H

#include <stddef.h>

#include "live.h"

/* mt_client_connect's answer when nothing listens there (yet). */
#define MT_CLIENT_REFUSED (-2)

/*
 * Connects to host:port and says hello.  Returns 0 with *out set, -1 with
 * a one-line reason in err (another protocol version, already watched,
 * not a memtide server), or MT_CLIENT_REFUSED when nothing listens.
 * Once the program has ended and the server has gone, out keeps giving
 * the final state.
 */
int mt_client_connect(const char *host, int port, struct mt_live_source *out,
		      char *err, size_t errlen);

#endif
