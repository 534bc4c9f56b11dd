/* protocol: message building and parsing, see protocol.h. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "base/xmalloc.h"

static const char *const op_names[PROTO_NOPS] = {
	"ping", "submit", "status", "list", "cancel", "watch", "stats",
	"cache",
};

static const char *const err_names[PROTO_NERRS] = {
	"bad_request", "too_large", "timeout", "unsupported_version",
	"unknown_op", "invalid", "not_found", "forbidden", "refused",
	"bad_config", "finished", "busy", "stopping", "internal",
};

static const char *const state_names[PROTO_NSTATES] = {
	"queued", "running", "succeeded", "failed", "cancelled",
};

static int
lookup(const char *const *names, int n, const char *name)
{
	int i;

	if (name == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		assert(names[i] != NULL);	/* every enum value has its name */
		if (strcmp(names[i], name) == 0)
			return i;
	}
	return -1;
}

const char *
proto_op_name(enum proto_op op)
{
	return (unsigned)op < PROTO_NOPS ? op_names[op] : "?";
}

int
proto_op_parse(const char *name)
{
	return lookup(op_names, PROTO_NOPS, name);
}

const char *
proto_err_name(enum proto_err e)
{
	return (unsigned)e < PROTO_NERRS ? err_names[e] : "internal";
}

int
proto_err_parse(const char *name)
{
	return lookup(err_names, PROTO_NERRS, name);
}

const char *
proto_state_name(enum proto_state s)
{
	return (unsigned)s < PROTO_NSTATES ? state_names[s] : "?";
}

int
proto_state_parse(const char *name)
{
	return lookup(state_names, PROTO_NSTATES, name);
}

/*
 * cJSON allocates by xmalloc (xmalloc_install), so building a message
 * cannot fail: nothing here checks what cJSON_Add* returns.
 */
static cJSON *
header(long id)
{
	cJSON *o = cJSON_CreateObject();

	assert(o != NULL);	/* never NULL (protocol.h) */
	cJSON_AddNumberToObject(o, "v", PROTO_VERSION);
	cJSON_AddNumberToObject(o, "id", (double)id);
	return o;
}

cJSON *
proto_request(enum proto_op op, long id)
{
	cJSON *o = header(id);

	cJSON_AddStringToObject(o, "op", proto_op_name(op));
	return o;
}

cJSON *
proto_reply(long id)
{
	cJSON *o = header(id);

	cJSON_AddTrueToObject(o, "ok");
	return o;
}

cJSON *
proto_error(long id, enum proto_err code, const char *message)
{
	cJSON *o = header(id), *e;

	cJSON_AddFalseToObject(o, "ok");
	e = cJSON_AddObjectToObject(o, "error");
	assert(e != NULL);	/* likewise */
	cJSON_AddStringToObject(e, "code", proto_err_name(code));
	cJSON_AddStringToObject(e, "message", message ? message : "");
	return o;
}

cJSON *
proto_event(long id, const char *name)
{
	cJSON *o = header(id);

	cJSON_AddStringToObject(o, "event", name);
	return o;
}

char *
proto_encode(const cJSON *msg, size_t *len)
{
	char *txt = cJSON_PrintUnformatted(msg), *line;
	size_t n;

	assert(txt != NULL);	/* xmalloc: never NULL */
	n = strlen(txt);
	/* One line: unformatted, and cJSON escapes control characters. */
	assert(memchr(txt, '\n', n) == NULL);

	/* Room for the newline; the caller frees with free(), not cJSON_free. */
	line = xmalloc(n + 2);
	memcpy(line, txt, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	cJSON_free(txt);
	return line;
}

/* Version 1 messages carry "v": 1 exactly. */
static int
check_version(const cJSON *o)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "v");

	return cJSON_IsNumber(v) && v->valuedouble == PROTO_VERSION;
}

static cJSON *
parse_object(const char *line, size_t len)
{
	cJSON *o;

	if (len == 0 || memchr(line, '\0', len) != NULL)
		return NULL;
	if ((o = cJSON_ParseWithLength(line, len)) == NULL)
		return NULL;
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int
fail(enum proto_err *code, enum proto_err c, char *err, size_t errlen,
    const char *msg)
{
	*code = c;
	snprintf(err, errlen, "%s", msg);
	return -EBADMSG;
}

/* Names the ops from op_names, so the message never lags the table. */
static int
unknown_op(enum proto_err *code, char *err, size_t errlen)
{
	size_t i, at;

	*code = PROTO_E_UNKNOWN_OP;
	at = (size_t)snprintf(err, errlen, "unknown or missing \"op\" (");
	for (i = 0; i < PROTO_NOPS && at < errlen; i++)
		at += (size_t)snprintf(err + at, errlen - at, "%s%s",
		    i ? ", " : "", op_names[i]);
	if (at < errlen)
		snprintf(err + at, errlen - at, ")");
	return -EBADMSG;
}

int
proto_parse_request(const char *line, size_t len, cJSON **out,
    enum proto_op *op, long *id, enum proto_err *code, char *err,
    size_t errlen)
{
	const cJSON *v;
	cJSON *o;
	int k;

	*out = NULL;
	*id = 0;
	if ((o = parse_object(line, len)) == NULL)
		return fail(code, PROTO_E_BAD_REQUEST, err, errlen,
		    "a request is one JSON object on one line");
	v = cJSON_GetObjectItemCaseSensitive(o, "id");
	if (v != NULL) {
		if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)
		    || fabs(v->valuedouble) > 1e15) {
			cJSON_Delete(o);
			return fail(code, PROTO_E_BAD_REQUEST, err, errlen,
			    "\"id\" must be an integer");
		}
		*id = (long)v->valuedouble;
	}
	if (!check_version(o)) {
		cJSON_Delete(o);
		return fail(code, PROTO_E_VERSION, err, errlen,
		    "this daemon speaks protocol version 1 (\"v\": 1)");
	}
	k = proto_op_parse(proto_str(o, "op"));
	if (k < 0) {
		cJSON_Delete(o);
		return unknown_op(code, err, errlen);
	}
	assert(k < PROTO_NOPS && cJSON_IsObject(o));	/* parse_object's */
	*op = (enum proto_op)k;
	*out = o;
	return 0;
}

int
proto_parse_reply(const char *line, size_t len, cJSON **out)
{
	cJSON *o;

	*out = NULL;
	if ((o = parse_object(line, len)) == NULL)
		return -EBADMSG;
	if (!check_version(o)) {
		cJSON_Delete(o);
		return -EPROTO;
	}
	*out = o;
	return 0;
}

const char *
proto_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int64_t
proto_int(const cJSON *o, const char *key, int64_t def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
	    fabs(v->valuedouble) > 9e15)
		return def;
	return (int64_t)v->valuedouble;
}

int
proto_bool(const cJSON *o, const char *key, int def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static double
num(const cJSON *o, const char *key, double def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static void
copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

cJSON *
proto_job_json(const struct proto_job *j)
{
	cJSON *o = cJSON_CreateObject(), *s;

	/* Records come from proto_job_parse, the store or the daemon: states
	 * they have all checked. */
	assert(o != NULL && (unsigned)j->state < PROTO_NSTATES);
	cJSON_AddNumberToObject(o, "job_id", (double)j->id);
	cJSON_AddStringToObject(o, "kind", "create-index");
	cJSON_AddStringToObject(o, "site", j->site);
	cJSON_AddStringToObject(o, "output_dir", j->output_dir);
	cJSON_AddBoolToObject(o, "quick", j->quick);
	cJSON_AddNumberToObject(o, "uid", (double)j->uid);
	cJSON_AddStringToObject(o, "state", proto_state_name(j->state));
	cJSON_AddNumberToObject(o, "created", j->created);
	cJSON_AddNumberToObject(o, "started", j->started);
	cJSON_AddNumberToObject(o, "finished", j->finished);
	cJSON_AddStringToObject(o, "stage", j->stage);
	cJSON_AddNumberToObject(o, "done", (double)j->done);
	cJSON_AddNumberToObject(o, "total", (double)j->total);
	cJSON_AddNumberToObject(o, "in_flight", j->in_flight);
	cJSON_AddNumberToObject(o, "limit", j->limit);
	cJSON_AddNumberToObject(o, "eta_s", j->eta_s);
	cJSON_AddNumberToObject(o, "attempt", j->attempt);
	if (j->summary && (s = cJSON_Parse(j->summary)) != NULL)
		cJSON_AddItemToObject(o, "summary", s);
	if (j->error[0])
		cJSON_AddStringToObject(o, "error", j->error);
	return o;
}

int
proto_job_parse(const cJSON *o, struct proto_job *j)
{
	const cJSON *s;
	int st;

	memset(j, 0, sizeof(*j));
	if (!cJSON_IsObject(o) || (st = proto_state_parse(proto_str(o,
	    "state"))) < 0 || proto_int(o, "job_id", -1) < 0)
		return -EBADMSG;
	j->id = proto_int(o, "job_id", 0);
	assert(j->id >= 0 && st < PROTO_NSTATES);	/* checked just above */
	j->state = (enum proto_state)st;
	copy(j->site, sizeof(j->site), proto_str(o, "site"));
	copy(j->output_dir, sizeof(j->output_dir), proto_str(o, "output_dir"));
	copy(j->stage, sizeof(j->stage), proto_str(o, "stage"));
	copy(j->error, sizeof(j->error), proto_str(o, "error"));
	j->quick = proto_bool(o, "quick", 0);
	j->uid = (long)proto_int(o, "uid", -1);
	j->created = num(o, "created", 0);
	j->started = num(o, "started", 0);
	j->finished = num(o, "finished", 0);
	j->done = (uint64_t)proto_int(o, "done", 0);
	j->total = (uint64_t)proto_int(o, "total", 0);
	j->in_flight = (unsigned)proto_int(o, "in_flight", 0);
	j->limit = (unsigned)proto_int(o, "limit", 0);
	j->eta_s = num(o, "eta_s", -1);
	j->attempt = (unsigned)proto_int(o, "attempt", 0);
	s = cJSON_GetObjectItemCaseSensitive(o, "summary");
	if (cJSON_IsObject(s)) {
		char *t = cJSON_PrintUnformatted(s);

		j->summary = xstrdup(t);	/* proto_job_clear uses free() */
		cJSON_free(t);
	}
	return 0;
}

void
proto_job_clear(struct proto_job *j)
{
	free(j->summary);
	j->summary = NULL;
}
