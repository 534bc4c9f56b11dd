/*
 * ops: the protocol's operations (docs/protocol.md), above the server's
 * transport: ping, submit, status, list, cancel, watch, stats and cache,
 * each answered through the session (server.h) from the daemon's jobs,
 * its settings and its cache (cachework.h).
 */
#ifndef QP_OPS_H
#define QP_OPS_H

#include <cjson/cJSON.h>

#include "protocol.h"
#include "server.h"

/*
 * The server's request handler (srv_handler); ARG is the daemon's
 * struct jobs:
 *
 *	srv_open(loop, set, ops_handle, jobs, &srv, err, errlen);
 */
void	 ops_handle(void *arg, struct sess *s, long id, enum proto_op op,
	    const cJSON *req);

#endif
