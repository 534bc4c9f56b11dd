/*
 * cypher tests: literal quoting, every query text byte for byte against
 * docs/queries.md, the request body, and parsing of good and bad answers.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "neuprint/cypher.h"
#include "base/xmalloc.h"

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	s = xmalloc((size_t)n + 1);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* TEXT must be one whole line of docs/queries.md (inside a code block). */
static void
assert_in_doc(const char *text)
{
	char *doc = slurp(QP_TEST_SRCDIR "/docs/queries.md");
	struct buf line = BUF_INIT;

	assert_int_equal(buf_printf(&line, "\n%s\n", text), 0);
	if (strstr(doc, line.data) == NULL)
		fail_msg("not in docs/queries.md: %s", text);
	buf_free(&line);
	free(doc);
}

static void
check_quote(const char *in, const char *want)
{
	struct buf b = BUF_INIT;

	cy_quote(&b, in);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static void
test_quote(void **state)
{
	(void)state;
	check_quote("LC10a", "'LC10a'");
	check_quote("", "''");
	check_quote("KCa'b'-ap1", "'KCa\\'b\\'-ap1'");
	check_quote("a\\b", "'a\\\\b'");
	check_quote("\\'", "'\\\\\\''");
	check_quote("say \"hi\"", "'say \"hi\"'");
	check_quote("DLMn a, b", "'DLMn a, b'");
	check_quote("Tergopleural/Pleural promotor MN",
	    "'Tergopleural/Pleural promotor MN'");
	check_quote("PEN_b(PEN2)+&.", "'PEN_b(PEN2)+&.'");
	check_quote("a\nb\rc\td\be\ff", "'a\\nb\\rc\\td\\be\\ff'");
	check_quote("\x01x\x1f\x1b", "'\\u0001x\\u001F\\u001B'");
	check_quote("\x7f", "'\x7f'");
	check_quote("\xc3\xa9t\xc3\xa9 \xe2\x86\x92", "'\xc3\xa9t\xc3\xa9 \xe2\x86\x92'");
	/* neuPrintHTTP 1.9 rewrites ":Neuron" etc. inside literals too. */
	check_quote("PN:Neuron_like", "'PN\\u003ANeuron_like'");
	check_quote("AB:`Neuron`", "'AB\\u003A`Neuron`'");
	check_quote("::", "'\\u003A\\u003A'");
}

static void
test_meta_types(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	cy_meta_query(&b);
	assert_string_equal(b.data, "MATCH (m:Meta) RETURN m.primaryRois AS "
	    "primaryRois, m.roiHierarchy AS roiHierarchy, m.uuid AS uuid, "
	    "m.lastDatabaseEdit AS lastDatabaseEdit");
	assert_in_doc(b.data);
	buf_reset(&b);
	cy_types_query(&b);
	assert_string_equal(b.data, "MATCH (n:Neuron) WHERE n.type IS NOT NULL "
	    "RETURN DISTINCT n.type AS type");
	assert_in_doc(b.data);
	buf_free(&b);
}

static void
test_cells(void **state)
{
	const char *types[] = { "LC10a", "KCa'b'-ap1" };
	struct buf b = BUF_INIT;

	(void)state;
	cy_cells_query(&b, types, 2);
	assert_string_equal(b.data, "UNWIND ['LC10a', 'KCa\\'b\\'-ap1'] AS t "
	    "MATCH (n:Neuron) WHERE n.type = t RETURN n.type AS type, "
	    "n.rootSide AS rootSide, n.somaSide AS somaSide, n.side AS side, "
	    "n.instance AS instance, n.consensusNt AS nt, "
	    "coalesce(n.celltypePredictedNt, n.predictedNt) AS pnt, "
	    "n.dimorphism AS dimorphism, n.synonyms AS synonyms, "
	    "min(n.bodyId) AS first, count(n) AS cells, sum(n.pre) AS pre, "
	    "sum(n.post) AS post, collect(DISTINCT n.superclass) AS superclass, "
	    "collect(DISTINCT n.class) AS class, "
	    "collect(DISTINCT n.subclass) AS subclass, "
	    "collect(DISTINCT n.flywireType) AS flywireType, "
	    "collect(DISTINCT n.somaNeuromere) AS somaNeuromere, "
	    "collect(DISTINCT n.trumanHl) AS trumanHl");
	assert_in_doc(b.data);
	buf_reset(&b);
	cy_cells_query(&b, types, 1);
	assert_true(strncmp(b.data, "UNWIND ['LC10a'] AS t ", 22) == 0);
	buf_free(&b);
}

static void
test_rois(void **state)
{
	const char *types[] = { "LC10a", "KCa'b'-ap1" };
	const char *prim[] = { "ME(R)", "LO(R)" };
	struct buf b = BUF_INIT;

	(void)state;
	cy_rois_query(&b, types, 2, prim, 2);
	assert_string_equal(b.data, "UNWIND ['LC10a', 'KCa\\'b\\'-ap1'] AS t "
	    "MATCH (n:Neuron) WHERE n.type = t WITH n.type AS type, "
	    "apoc.convert.fromJsonMap(n.roiInfo) AS ri UNWIND keys(ri) AS roi "
	    "WITH type, roi, ri[roi] AS c WHERE roi IN ['ME(R)', 'LO(R)'] "
	    "RETURN type, roi, sum(c.pre) AS pre, sum(c.post) AS post");
	assert_in_doc(b.data);
	buf_free(&b);
}

static void
test_type(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	cy_type_query(&b, "LC10a");
	assert_string_equal(b.data, "MATCH (n:Neuron) WHERE n.type = 'LC10a' "
	    "RETURN n.bodyId AS bodyId, n.type AS type, n.instance AS instance, "
	    "n.somaSide AS somaSide, n.status AS status, n.pre AS pre, "
	    "n.post AS post, n.consensusNt AS consensusNt, "
	    "n.roiInfo AS roiInfo, n.rootSide AS rootSide, n.side AS side, "
	    "coalesce(n.celltypePredictedNt, n.predictedNt) AS pnt, "
	    "n.dimorphism AS dimorphism, n.synonyms AS synonyms, "
	    "n.superclass AS superclass, n.class AS class, "
	    "n.subclass AS subclass, n.flywireType AS flywireType, "
	    "n.somaNeuromere AS somaNeuromere, n.trumanHl AS trumanHl");
	assert_in_doc(b.data);
	buf_reset(&b);
	cy_type_query(&b, "it's");
	assert_non_null(strstr(b.data, "n.type = 'it\\'s' RETURN"));
	buf_free(&b);
}

static void
test_request_body(void **state)
{
	(void)state;
	static const char *cypher = "MATCH (n) WHERE n.type = 'a\\'b\"c\\\\' "
	    "\t\n\x01 \xc3\xa9\xe2\x86\x92\xf0\x9f\x98\x80 RETURN n";
	struct buf b = BUF_INIT;
	cJSON *o;
	size_t i;

	assert_int_equal(cy_request_body(&b, cypher, "male-cns:v0.9"), 0);
	for (i = 0; i < b.len; i++)	/* unformatted: one line */
		assert_true(b.data[i] != '\n');
	o = cJSON_ParseWithLength(b.data, b.len);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "cypher")->valuestring,
	    cypher);
	assert_string_equal(cJSON_GetObjectItem(o, "dataset")->valuestring,
	    "male-cns:v0.9");
	assert_int_equal(cJSON_GetArraySize(o), 2);
	cJSON_Delete(o);
	/* Non-ASCII stays as UTF-8 bytes. */
	assert_non_null(strstr(b.data, "\xc3\xa9\xe2\x86\x92"));
	assert_non_null(strstr(b.data, "\\u0001"));
	buf_reset(&b);
	assert_int_equal(cy_request_body(&b, "bad \xff", "d"), -EILSEQ);
	assert_int_equal(cy_request_body(&b, "x", "\xc0\xaf"), -EILSEQ);
	buf_free(&b);

	assert_true(cy_utf8_valid("plain \xc3\xa9 \xf0\x9f\x98\x80"));
	assert_false(cy_utf8_valid("\xed\xa0\x80"));	/* surrogate */
	assert_false(cy_utf8_valid("\xe2\x86"));	/* cut short */
	assert_false(cy_utf8_valid("\xf4\x90\x80\x80"));	/* > U+10FFFF */
	assert_false(cy_utf8_valid("\xe0\x80\xaf"));	/* overlong */
}

/* Parse from an exact-size heap copy: no NUL after the body. */
static int
parse(const char *body, struct cy_result *r, char *err, size_t errlen)
{
	size_t n = strlen(body);
	char *copy = xmalloc(n ? n : 1);
	int rc;

	memcpy(copy, body, n);
	rc = cy_parse(copy, n, r, err, errlen);
	free(copy);
	return rc;
}

static void
test_parse_good(void **state)
{
	(void)state;
	static const char *body = "{\"columns\": [\"type\", \"n\", \"x\"], "
	    "\"data\": [[\"LC10a\", 12, null], [\"T4a\", 9007199254740992, 1.5],"
	    " [null, -3, \"s\"], [\"a\", 9007199254740994, 1e300]]}";
	struct cy_result r;
	char err[128];
	int ok;

	assert_int_equal(parse(body, &r, err, sizeof(err)), 0);
	assert_int_equal(r.nrows, 4);
	assert_int_equal(r.ncols, 3);
	assert_int_equal(cy_column(&r, "type"), 0);
	assert_int_equal(cy_column(&r, "x"), 2);
	assert_int_equal(cy_column(&r, "nope"), -1);
	assert_string_equal(cy_str(cy_row(&r, 0), 0), "LC10a");
	assert_null(cy_str(cy_row(&r, 0), 1));
	assert_null(cy_str(cy_row(&r, 2), 0));
	assert_null(cy_str(cy_row(&r, 0), 7));
	assert_null(cy_str(cy_row(&r, 0), -1));
	assert_null(cy_row(&r, 4));
	assert_null(cy_str(cy_row(&r, 4), 0));

	assert_int_equal(cy_int(cy_row(&r, 0), 1, &ok), 12);
	assert_true(ok);
	assert_int_equal(cy_int(cy_row(&r, 0), 2, &ok), 0);	/* null */
	assert_false(ok);
	assert_int_equal(cy_int(cy_row(&r, 1), 1, &ok), 9007199254740992LL);
	assert_true(ok);
	assert_int_equal(cy_int(cy_row(&r, 1), 2, &ok), 0);	/* 1.5 */
	assert_false(ok);
	assert_int_equal(cy_int(cy_row(&r, 2), 1, &ok), -3);
	assert_true(ok);
	assert_int_equal(cy_int(cy_row(&r, 2), 2, &ok), 0);	/* string */
	assert_false(ok);
	assert_int_equal(cy_int(cy_row(&r, 3), 1, &ok), 0);	/* > 2^53 */
	assert_false(ok);
	assert_int_equal(cy_int(cy_row(&r, 3), 2, &ok), 0);	/* 1e300 */
	assert_false(ok);
	assert_int_equal(cy_int(cy_row(&r, 0), 1, NULL), 12);
	cy_result_free(&r);
	assert_null(r.root);
	cy_result_free(&r);	/* twice is fine */

	assert_int_equal(parse(" {\"columns\": [], \"data\": []}\n", &r, err,
	    sizeof(err)), 0);
	assert_int_equal(r.nrows, 0);
	assert_null(cy_row(&r, 0));
	cy_result_free(&r);

	assert_int_equal(parse("{\"columns\": [\"a\"], \"data\": null}", &r,
	    err, sizeof(err)), 0);
	assert_int_equal(r.nrows, 0);
	assert_int_equal(cy_column(&r, "a"), 0);
	cy_result_free(&r);
}

static void
test_parse_error(void **state)
{
	struct cy_result r;
	char err[32];

	(void)state;
	assert_int_equal(parse("{\"error\": \"Neo.ClientError.Statement."
	    "SyntaxError: Invalid input 'X'\"}", &r, err, sizeof(err)),
	    -EPROTO);
	assert_string_equal(err, "Neo.ClientError.Statement.Synta");
	assert_null(r.root);
	assert_int_equal(parse("{\"error\": 42}", &r, err, sizeof(err)),
	    -EPROTO);
	assert_null(r.root);
}

/* DatasetGateway's {"message"}, with the terms-of-service URL when given. */
static void
test_parse_dsg(void **state)
{
	struct cy_result r;
	char err[200];

	(void)state;
	assert_int_equal(parse("{\"message\":\"invalid or expired token\"}",
	    &r, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "invalid or expired token");
	assert_null(r.root);
	assert_int_equal(parse("{\"dataset\":\"cns\",\"message\":\"Terms of "
	    "Service acceptance required for this dataset\",\"tos_required\":"
	    "true,\"tos_url\":\"https://dsg.example/tos/cns\"}", &r, err,
	    sizeof(err)), -EPROTO);
	assert_string_equal(err, "Terms of Service acceptance required for "
	    "this dataset: accept the terms of service at "
	    "https://dsg.example/tos/cns");
	/* An answer with columns is an answer, whatever else it carries. */
	assert_int_equal(parse("{\"columns\":[\"a\"],\"data\":[[1]],"
	    "\"message\":\"x\",\"debug\":\"MATCH ...\"}", &r, err,
	    sizeof(err)), 0);
	assert_int_equal(r.nrows, 1);
	cy_result_free(&r);
}

static void
check_bad(const char *body, const char *needle)
{
	struct cy_result r;
	char err[512];

	assert_int_equal(parse(body, &r, err, sizeof(err)), -EBADMSG);
	assert_null(r.root);
	assert_null(r.rows);
	assert_true(strlen(err) <= 120);
	if (strstr(err, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err, needle);
}

static void
test_parse_bad(void **state)
{
	struct buf html = BUF_INIT;
	int i;

	(void)state;
	buf_puts(&html, "<html><head><title>502 Bad Gateway"
	    "</title></head><body>");
	for (i = 0; i < 500; i++)
		buf_puts(&html, "padding padding ");
	buf_puts(&html, "</body></html>");
	check_bad(html.data, "HTML");
	check_bad(html.data, "502 Bad Gateway");
	buf_free(&html);

	check_bad("", "empty");
	check_bad("  \r\n", "empty");
	check_bad("{\"columns\": [\"a\"], \"data\": [[1], [2", "truncated");
	check_bad("{\"columns\": [\"a\", \"b\"], \"data\": [[1, 2], [3]]}",
	    "row 1 has 1 cells, expected 2");
	check_bad("{\"columns\": [\"a\"], \"data\": [[1], 2]}", "row 1");
	check_bad("{\"columns\": [\"a\", 3], \"data\": []}", "column 1");
	check_bad("{\"data\": []}", "columns");
	check_bad("{\"columns\": []}", "data");
	check_bad("{\"columns\": [], \"data\": {}}", "data");
	check_bad("[1, 2]", "not an object");
	check_bad("{\"columns\": [], \"data\": []} trailing", "after");
	check_bad("Service Unavailable", "not valid JSON");
	check_bad("{\"columns\" [], \"data\": []}", "not valid JSON");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_meta_types),
		cmocka_unit_test(test_cells),
		cmocka_unit_test(test_rois),
		cmocka_unit_test(test_type),
		cmocka_unit_test(test_request_body),
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_error),
		cmocka_unit_test(test_parse_dsg),
		cmocka_unit_test(test_parse_bad),
	};

	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
