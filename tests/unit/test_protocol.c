/* protocol: names, request parsing, errors, job records. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol.h"
#include "base/xmalloc.h"

static void
test_names(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < PROTO_NOPS; i++)
		assert_int_equal(proto_op_parse(proto_op_name((enum proto_op)i)), i);
	for (i = 0; i < PROTO_NERRS; i++)
		assert_int_equal(proto_err_parse(proto_err_name((enum proto_err)i)), i);
	for (i = 0; i < PROTO_NSTATES; i++)
		assert_int_equal(proto_state_parse(
		    proto_state_name((enum proto_state)i)), i);
	assert_int_equal(proto_op_parse("reboot"), -1);
	assert_int_equal(proto_op_parse(NULL), -1);
}

/* The refusal lists every op the daemon takes, cache included. */
static void
unknown_op_names_every_op(void)
{
	static const char line[] = "{\"v\":1,\"op\":\"x\"}";
	char err[256];
	enum proto_err code;
	enum proto_op op;
	cJSON *o;
	long id;

	assert_int_equal(proto_parse_request(line, strlen(line), &o, &op, &id,
	    &code, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "unknown or missing \"op\" (ping, submit, "
	    "status, list, cancel, watch, stats, cache)");
}

static int
parse(const char *line, enum proto_op *op, long *id, enum proto_err *code)
{
	char err[256];
	cJSON *o;
	int rc;

	rc = proto_parse_request(line, strlen(line), &o, op, id, code, err,
	    sizeof(err));
	if (rc == 0)
		cJSON_Delete(o);
	else
		assert_true(err[0] != '\0');
	return rc;
}

static void
test_requests(void **state)
{
	enum proto_err code;
	enum proto_op op;
	long id;

	(void)state;
	assert_int_equal(parse("{\"v\":1,\"op\":\"watch\",\"id\":42}", &op,
	    &id, &code), 0);
	assert_int_equal(op, PROTO_WATCH);
	assert_int_equal(id, 42);
	assert_int_equal(parse("{\"v\":1,\"op\":\"ping\"}", &op, &id, &code), 0);
	assert_int_equal(id, 0);
	assert_int_equal(parse("nope", &op, &id, &code), -EBADMSG);
	assert_int_equal(code, PROTO_E_BAD_REQUEST);
	assert_int_equal(parse("[1]", &op, &id, &code), -EBADMSG);
	assert_int_equal(code, PROTO_E_BAD_REQUEST);
	assert_int_equal(parse("", &op, &id, &code), -EBADMSG);
	assert_int_equal(parse("{\"v\":2,\"op\":\"ping\",\"id\":3}", &op, &id,
	    &code), -EBADMSG);
	assert_int_equal(code, PROTO_E_VERSION);
	assert_int_equal(id, 3);
	assert_int_equal(parse("{\"op\":\"ping\"}", &op, &id, &code), -EBADMSG);
	assert_int_equal(code, PROTO_E_VERSION);
	assert_int_equal(parse("{\"v\":1,\"op\":\"x\"}", &op, &id, &code),
	    -EBADMSG);
	assert_int_equal(code, PROTO_E_UNKNOWN_OP);
	unknown_op_names_every_op();
	assert_int_equal(parse("{\"v\":1,\"op\":\"ping\",\"id\":1.5}", &op,
	    &id, &code), -EBADMSG);
	assert_int_equal(code, PROTO_E_BAD_REQUEST);
	assert_int_equal(parse("{\"v\":1,\"op\":7}", &op, &id, &code),
	    -EBADMSG);
}

static void
test_nul_inside(void **state)
{
	static const char line[] = "{\"v\":1,\"op\":\"ping\"}\0x";
	enum proto_err code;
	enum proto_op op;
	char err[64];
	cJSON *o;
	long id;

	(void)state;
	assert_int_equal(proto_parse_request(line, sizeof(line) - 1, &o, &op,
	    &id, &code, err, sizeof(err)), -EBADMSG);
}

static void
test_replies(void **state)
{
	cJSON *m, *back;
	size_t len;
	char *line;

	(void)state;
	m = proto_error(9, PROTO_E_REFUSED, "outside");
	line = proto_encode(m, &len);
	cJSON_Delete(m);
	assert_non_null(line);
	assert_int_equal(line[len - 1], '\n');
	assert_int_equal(strlen(line), len);
	assert_int_equal(proto_parse_reply(line, len - 1, &back), 0);
	assert_false(proto_bool(back, "ok", 1));
	assert_int_equal(proto_int(back, "id", 0), 9);
	assert_string_equal(proto_str(cJSON_GetObjectItem(back, "error"),
	    "code"), "refused");
	cJSON_Delete(back);
	free(line);
	assert_int_equal(proto_parse_reply("{\"v\":3}", 7, &back), -EPROTO);
	m = proto_event(4, "end");
	assert_string_equal(proto_str(m, "event"), "end");
	cJSON_Delete(m);
}

static void
test_job_roundtrip(void **state)
{
	struct proto_job j = { 0 }, k;
	cJSON *o;

	(void)state;
	j.id = 17;
	strcpy(j.site, "cns");
	strcpy(j.output_dir, "/srv/site");
	j.quick = 1;
	j.uid = 1000;
	j.state = PROTO_RUNNING;
	j.created = 1700000000.5;
	strcpy(j.stage, "fetch");
	j.done = 10;
	j.total = 400;
	j.in_flight = 3;
	j.limit = 16;
	j.eta_s = 2.5;
	j.attempt = 2;
	j.summary = xstrdup("{\"entries\":400}");
	o = proto_job_json(&j);
	assert_int_equal(proto_job_parse(o, &k), 0);
	cJSON_Delete(o);
	assert_int_equal(k.id, 17);
	assert_string_equal(k.site, "cns");
	assert_string_equal(k.output_dir, "/srv/site");
	assert_int_equal(k.state, PROTO_RUNNING);
	assert_int_equal(k.done, 10);
	assert_int_equal(k.total, 400);
	assert_int_equal(k.limit, 16);
	assert_int_equal(k.attempt, 2);
	assert_true(k.created == j.created);
	assert_string_equal(k.summary, "{\"entries\":400}");
	proto_job_clear(&j);
	proto_job_clear(&k);
	o = cJSON_Parse("{\"job_id\":1,\"state\":\"weird\"}");
	assert_int_equal(proto_job_parse(o, &k), -EBADMSG);
	cJSON_Delete(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_nul_inside),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_job_roundtrip),
	};

	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
