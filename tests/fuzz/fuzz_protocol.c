/*
 * libFuzzer harness: one socket line as the daemon (proto_parse_request)
 * and qpctl (proto_parse_reply, proto_job_parse, the progress line) read it. Whatever parses
 * is re-encoded and parsed again: a message the daemon accepts must
 * survive its own encoder (replies echo request fields).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "protocol.h"
#include "base/xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A job record as qpctl reads it from a reply, and back. */
static void
job_round_trip(const cJSON *o)
{
	struct proto_job j;
	char *line, text[512];
	cJSON *back;
	size_t len;

	if (proto_job_parse(o, &j) < 0)
		return;
	progress_format(&j, text, sizeof(text));	/* qpctl --follow, watch */
	back = proto_job_json(&j);
	line = proto_encode(back, &len);
	if (len == 0 || line[len - 1] != '\n')
		abort();	/* proto_encode promises one line */
	free(line);
	cJSON_Delete(back);
	proto_job_clear(&j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	const cJSON *jobs, *e;
	enum proto_err code;
	enum proto_op op;
	char err[256], *enc;
	cJSON *o;
	size_t len;
	long id;

	if (proto_parse_request(line, size, &o, &op, &id, &code, err,
	    sizeof(err)) == 0) {
		if ((unsigned)op >= PROTO_NOPS)
			abort();
		/* The arguments server.c reads. */
		(void)proto_str(o, "kind");
		(void)proto_str(o, "site");
		(void)proto_str(o, "config");
		(void)proto_str(o, "cache");
		(void)proto_str(o, "action");
		(void)proto_bool(o, "quick", 0);
		(void)proto_int(o, "job_id", -1);
		(void)proto_int(o, "limit", 50);
		enc = proto_encode(o, &len);
		free(enc);
		cJSON_Delete(o);
	} else if ((unsigned)code >= PROTO_NERRS || err[0] == '\0')
		abort();	/* a refusal always says why */
	if (proto_parse_reply(line, size, &o) == 0) {
		job_round_trip(cJSON_GetObjectItemCaseSensitive(o, "job"));
		jobs = cJSON_GetObjectItemCaseSensitive(o, "jobs");
		cJSON_ArrayForEach(e, jobs)
			job_round_trip(e);
		job_round_trip(o);
		(void)proto_err_parse(proto_str(cJSON_GetObjectItemCaseSensitive(
		    o, "error"), "code"));
		(void)proto_state_parse(proto_str(o, "state"));
		cJSON_Delete(o);
	}
	return 0;
}
