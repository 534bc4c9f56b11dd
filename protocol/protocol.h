/*
 * protocol: the messages quickpaged and qpctl exchange over the Unix
 * socket (docs/protocol.md). One JSON object per line, each carrying
 * "v": PROTO_VERSION. Requests have "op" and an optional "id" the reply
 * echoes; replies have "ok" and, when false, "error": {"code", "message"}.
 * Watch streams add "event" lines. Both sides build and read messages only
 * through this module.
 */
#ifndef QP_PROTOCOL_H
#define QP_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define PROTO_VERSION		1
#define PROTO_MAX_LINE		(1024 * 1024)	/* a request, '\n' excluded */
#define PROTO_MAX_CONFIG	(256 * 1024)	/* client-sent config text */
#define PROTO_DEFAULT_SOCKET	"/run/quickpaged/quickpaged.sock"

enum proto_op {
	PROTO_PING, PROTO_SUBMIT, PROTO_STATUS, PROTO_LIST, PROTO_CANCEL,
	PROTO_WATCH, PROTO_STATS, PROTO_CACHE, PROTO_NOPS
};

/* Error codes in replies ("error": {"code": ...}). */
enum proto_err {
	PROTO_E_BAD_REQUEST,	/* malformed: the connection is closed */
	PROTO_E_TOO_LARGE,	/* over PROTO_MAX_LINE: closed */
	PROTO_E_TIMEOUT,	/* idle or half-sent request: closed */
	PROTO_E_VERSION,	/* unsupported "v": closed */
	PROTO_E_UNKNOWN_OP,	/* closed */
	PROTO_E_INVALID,	/* a well-formed request with bad arguments */
	PROTO_E_NOT_FOUND,	/* no such job or site */
	PROTO_E_FORBIDDEN,	/* not the submitter, root or the daemon's user */
	PROTO_E_REFUSED,	/* the job may not run: output outside roots... */
	PROTO_E_BAD_CONFIG,	/* the site config does not load */
	PROTO_E_FINISHED,	/* cancel of a job that has ended */
	PROTO_E_BUSY,		/* too many connections */
	PROTO_E_STOPPING,	/* the daemon is shutting down */
	PROTO_E_INTERNAL,
	PROTO_NERRS
};

enum proto_state {
	PROTO_QUEUED, PROTO_RUNNING, PROTO_SUCCEEDED, PROTO_FAILED,
	PROTO_CANCELLED, PROTO_NSTATES
};

/* A job as replies carry it; the daemon's job store keeps the same. */
struct proto_job {
	int64_t		 id;
	char		 site[128];	/* site name, or "config:DATASET" */
	char		 output_dir[4096];
	int		 quick;
	long		 uid;		/* submitter */
	enum proto_state state;
	double		 created, started, finished;	/* Unix time, 0: not yet */
	char		 stage[16];	/* job_stage_name() */
	uint64_t	 done, total;	/* entries through the ROI stage */
	unsigned	 in_flight, limit;	/* of the job's neuPrint server */
	double		 eta_s;		/* < 0: unknown */
	unsigned	 attempt;	/* runs so far (restarts re-run) */
	char		*summary;	/* JSON object text or NULL (owned) */
	char		 error[512];
};

const char *proto_op_name(enum proto_op op);
int	 proto_op_parse(const char *name);		/* -1: unknown */
const char *proto_err_name(enum proto_err e);
int	 proto_err_parse(const char *name);		/* -1: unknown */
const char *proto_state_name(enum proto_state s);
int	 proto_state_parse(const char *name);		/* -1: unknown */

/*
 * Messages are built with cJSON allocating by xmalloc (xmalloc_install):
 * these never return NULL.
 */
/* {"v":1,"op":OP,"id":ID}; add arguments to it. */
cJSON	*proto_request(enum proto_op op, long id);
/* {"v":1,"id":ID,"ok":true} */
cJSON	*proto_reply(long id);
/* {"v":1,"id":ID,"ok":false,"error":{"code":..,"message":..}} */
cJSON	*proto_error(long id, enum proto_err code, const char *message);
/* {"v":1,"id":ID,"event":NAME} */
cJSON	*proto_event(long id, const char *name);

/* Encode MSG as one line with its '\n'; *LEN excludes the NUL. free() it. */
char	*proto_encode(const cJSON *msg, size_t *len);

/*
 * Parse one request line (no '\n'). On success *OUT is the object, *OP its
 * op and *ID its id (0 when absent). On failure returns -EBADMSG with
 * *CODE set and a message in err; *ID is set when it could be read.
 */
int	 proto_parse_request(const char *line, size_t len, cJSON **out,
	    enum proto_op *op, long *id, enum proto_err *code, char *err,
	    size_t errlen);
/* Parse a reply or event line; checks "v". -EBADMSG when malformed. */
int	 proto_parse_reply(const char *line, size_t len, cJSON **out);

/* Helpers to read arguments; they return DEF when absent or mistyped. */
const char *proto_str(const cJSON *o, const char *key);	/* NULL */
int64_t	 proto_int(const cJSON *o, const char *key, int64_t def);
int	 proto_bool(const cJSON *o, const char *key, int def);

/* Job records to and from JSON. The summary is embedded as an object. */
cJSON	*proto_job_json(const struct proto_job *j);
int	 proto_job_parse(const cJSON *o, struct proto_job *j);
void	 proto_job_clear(struct proto_job *j);	/* frees the summary */

#endif
