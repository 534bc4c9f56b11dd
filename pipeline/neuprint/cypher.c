/*
 * cypher: the text of every query we send (docs/queries.md), literal
 * escaping, and parsing of neuPrint's {"columns", "data"} answers.
 */
#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "neuprint/cypher.h"
#include "base/xmalloc.h"

/* Bytes of a bad body quoted back in a message, at most. */
#define CY_SNIPPET	60

void
cy_quote(struct buf *b, const char *s)
{
	const unsigned char *p;
	const char *esc;
	char u[8];

	buf_putc(b, '\'');
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '\\': esc = "\\\\"; break;
		case '\'': esc = "\\'"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		/*
		 * neuPrintHTTP 1.9 rewrites ":Neuron", ":Meta", ... into
		 * dataset labels by plain text replacement, string literals
		 * included: no ':' may reach it inside one.
		 */
		case ':': esc = "\\u003A"; break;
		default:
			if (*p < 0x20) {
				snprintf(u, sizeof(u), "\\u%04X", *p);
				esc = u;
			} else
				esc = NULL;
		}
		if (esc)
			buf_puts(b, esc);
		else
			buf_putc(b, (char)*p);
	}
	buf_putc(b, '\'');
}

/* ['a', 'b', ...] */
static void
cy_list(struct buf *b, const char *const *v, size_t n)
{
	size_t i;

	buf_putc(b, '[');
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_puts(b, ", ");
		cy_quote(b, v[i]);
	}
	buf_putc(b, ']');
}

void
cy_meta_query(struct buf *b)
{
	buf_puts(b, "MATCH (m:Meta) RETURN m.primaryRois AS primaryRois, "
	    "m.roiHierarchy AS roiHierarchy, m.uuid AS uuid, "
	    "m.lastDatabaseEdit AS lastDatabaseEdit");
}

void
cy_cells_query(struct buf *b, const char *const *types, size_t n)
{
	buf_puts(b, "UNWIND ");
	cy_list(b, types, n);
	buf_puts(b, " AS t MATCH (n:Neuron) WHERE n.type = t "
	    "RETURN n.type AS type, n.rootSide AS rootSide, "
	    "n.somaSide AS somaSide, n.side AS side, n.instance AS instance, "
	    "n.consensusNt AS nt, "
	    "coalesce(n.celltypePredictedNt, n.predictedNt) AS pnt, "
	    "n.dimorphism AS dimorphism, n.synonyms AS synonyms, "
	    "min(n.bodyId) AS first, count(n) AS cells, "
	    "sum(n.pre) AS pre, sum(n.post) AS post, "
	    "collect(DISTINCT n.superclass) AS superclass, "
	    "collect(DISTINCT n.class) AS class, "
	    "collect(DISTINCT n.subclass) AS subclass, "
	    "collect(DISTINCT n.flywireType) AS flywireType, "
	    "collect(DISTINCT n.somaNeuromere) AS somaNeuromere, "
	    "collect(DISTINCT n.trumanHl) AS trumanHl");
}

void
cy_rois_query(struct buf *b, const char *const *types, size_t n,
    const char *const *primary, size_t nprimary)
{
	buf_puts(b, "UNWIND ");
	cy_list(b, types, n);
	buf_puts(b, " AS t MATCH (n:Neuron) WHERE n.type = t "
	    "WITH n.type AS type, apoc.convert.fromJsonMap(n.roiInfo) AS ri "
	    "UNWIND keys(ri) AS roi WITH type, roi, ri[roi] AS c "
	    "WHERE roi IN ");
	cy_list(b, primary, nprimary);
	buf_puts(b, " RETURN type, roi, sum(c.pre) AS pre, "
	    "sum(c.post) AS post");
}

void
cy_types_query(struct buf *b)
{
	buf_puts(b, "MATCH (n:Neuron) WHERE n.type IS NOT NULL "
	    "RETURN DISTINCT n.type AS type");
}

void
cy_type_query(struct buf *b, const char *type)
{
	buf_puts(b, "MATCH (n:Neuron) WHERE n.type = ");
	cy_quote(b, type);
	buf_puts(b, " RETURN n.bodyId AS bodyId, n.type AS type, "
	    "n.instance AS instance, n.somaSide AS somaSide, "
	    "n.status AS status, n.pre AS pre, n.post AS post, "
	    "n.consensusNt AS consensusNt, n.roiInfo AS roiInfo, "
	    "n.rootSide AS rootSide, n.side AS side, "
	    "coalesce(n.celltypePredictedNt, n.predictedNt) AS pnt, "
	    "n.dimorphism AS dimorphism, n.synonyms AS synonyms, "
	    "n.superclass AS superclass, n.class AS class, "
	    "n.subclass AS subclass, n.flywireType AS flywireType, "
	    "n.somaNeuromere AS somaNeuromere, n.trumanHl AS trumanHl");
}

int
cy_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned c, min;
	int more;

	while (*p != '\0') {
		c = *p++;
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf) {
			more = 1;
			min = 0x80;
			c &= 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			min = 0x800;
			c &= 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			min = 0x10000;
			c &= 0x07;
		} else
			return 0;
		for (; more > 0; more--, p++) {
			if ((*p & 0xc0) != 0x80)
				return 0;
			c = (c << 6) | (*p & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return 0;
	}
	return 1;
}

/*
 * cJSON escapes '"', '\' and control characters and copies other bytes as
 * they are, so the body is valid JSON exactly when the strings are UTF-8.
 */
int
cy_request_body(struct buf *b, const char *cypher, const char *dataset)
{
	cJSON *o;
	char *s;

	if (!cy_utf8_valid(cypher) || !cy_utf8_valid(dataset))
		return -EILSEQ;
	/* cJSON allocates by xmalloc (xmalloc_install): none of these is NULL. */
	o = cJSON_CreateObject();
	assert(o != NULL);	/* xmalloc: never NULL (above) */
	cJSON_AddStringToObject(o, "cypher", cypher);
	cJSON_AddStringToObject(o, "dataset", dataset);
	s = cJSON_PrintUnformatted(o);
	assert(s != NULL);	/* likewise */
	cJSON_Delete(o);
	buf_puts(b, s);
	cJSON_free(s);
	return 0;
}

/* Up to CY_SNIPPET bytes of P, printable ASCII only, for a message. */
static void
snippet(char *dst, size_t dstlen, const char *p, size_t len)
{
	size_t i, j = 0;

	for (i = 0; i < len && i < CY_SNIPPET && j + 1 < dstlen; i++)
		dst[j++] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.';
	assert(j <= CY_SNIPPET && (dstlen == 0 || j < dstlen));	/* fits DST */
	if (dstlen > 0)
		dst[j] = '\0';
}

static int
bad(struct cy_result *res, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
bad(struct cy_result *res, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	cy_result_free(res);
	return -EBADMSG;
}

static int
not_json(struct cy_result *res, const char *body, size_t len,
    const char *end, char *err, size_t errlen)
{
	char snip[CY_SNIPPET + 1];
	size_t i = 0, at;

	while (i < len && isspace((unsigned char)body[i]))
		i++;
	if (i == len)
		return bad(res, err, errlen, "empty answer");
	snippet(snip, sizeof(snip), body + i, len - i);
	if (body[i] == '<')
		return bad(res, err, errlen, "answer is not JSON (HTML?): %s",
		    snip);
	/* cJSON puts the error at the last byte when the text ran out. */
	at = end >= body && end < body + len ? (size_t)(end - body) : len;
	if (at + 1 >= len)
		return bad(res, err, errlen, "answer ends early (truncated "
		    "JSON, %zu bytes): %s", len, snip);
	return bad(res, err, errlen, "answer is not valid JSON (byte %zu "
	    "of %zu): %s", at, len, snip);
}

/*
 * {"error": "..."} (neuPrint) or {"message": "..."} (DatasetGateway, with
 * "tos_url" when the terms of service are not accepted): the server's own
 * words, cut to errlen.
 */
static int
server_error(struct cy_result *res, const cJSON *e, char *err, size_t errlen)
{
	const cJSON *tos = cJSON_GetObjectItemCaseSensitive(res->root, "tos_url");

	if (cJSON_IsString(e) && cJSON_IsString(tos))
		snprintf(err, errlen, "%s: accept the terms of service at %s",
		    e->valuestring, tos->valuestring);
	else if (cJSON_IsString(e))
		snprintf(err, errlen, "%s", e->valuestring);
	else
		snprintf(err, errlen, "server error without a message");
	cy_result_free(res);
	return -EPROTO;
}

static int
check_shape(struct cy_result *res, char *err, size_t errlen)
{
	const cJSON *c, *row;
	size_t ncols = 0, i = 0;

	cJSON_ArrayForEach(c, res->columns) {
		if (!cJSON_IsString(c))
			return bad(res, err, errlen, "column %zu is not a "
			    "string", ncols);
		ncols++;
	}
	cJSON_ArrayForEach(row, res->data)
		res->nrows++;
	if (res->nrows > 0)
		res->rows = xcalloc(res->nrows, sizeof(*res->rows));
	cJSON_ArrayForEach(row, res->data) {
		if (!cJSON_IsArray(row))
			return bad(res, err, errlen, "row %zu is not a list", i);
		if ((size_t)cJSON_GetArraySize(row) != ncols)
			return bad(res, err, errlen, "row %zu has %d cells, "
			    "expected %zu", i, cJSON_GetArraySize(row), ncols);
		res->rows[i++] = row;
	}
	assert(i == res->nrows);	/* every row has its pointer: cy_row is O(1) */
	res->ncols = ncols;
	return 0;
}

int
cy_parse(const char *body, size_t len, struct cy_result *res, char *err,
    size_t errlen)
{
	const char *end = NULL;
	const cJSON *e;

	memset(res, 0, sizeof(*res));
	if (body == NULL || len == 0)
		return bad(res, err, errlen, "empty answer");
	res->root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (res->root == NULL)
		return not_json(res, body, len, end, err, errlen);
	while (end != NULL && end < body + len && isspace((unsigned char)*end))
		end++;
	if (end != NULL && end < body + len)
		return bad(res, err, errlen, "answer has bytes after the JSON "
		    "value (at byte %zu)", (size_t)(end - body));
	if (!cJSON_IsObject(res->root))
		return bad(res, err, errlen, "answer is JSON but not an object");
	if ((e = cJSON_GetObjectItemCaseSensitive(res->root, "error")) != NULL)
		return server_error(res, e, err, errlen);
	if (cJSON_GetObjectItemCaseSensitive(res->root, "columns") == NULL &&
	    (e = cJSON_GetObjectItemCaseSensitive(res->root, "message")) != NULL)
		return server_error(res, e, err, errlen);
	res->columns = cJSON_GetObjectItemCaseSensitive(res->root, "columns");
	res->data = cJSON_GetObjectItemCaseSensitive(res->root, "data");
	if (!cJSON_IsArray(res->columns))
		return bad(res, err, errlen, "answer has no \"columns\" list");
	/* Go encodes an empty slice as null: that is zero rows. */
	if (!cJSON_IsArray(res->data) && !cJSON_IsNull(res->data))
		return bad(res, err, errlen, "answer has no \"data\" list");
	assert(res->root != NULL && cJSON_IsArray(res->columns));	/* checked */
	return check_shape(res, err, errlen);
}

void
cy_result_free(struct cy_result *res)
{
	cJSON_Delete(res->root);
	free(res->rows);
	memset(res, 0, sizeof(*res));
}

int
cy_column(const struct cy_result *res, const char *name)
{
	const cJSON *c;
	int i = 0;

	cJSON_ArrayForEach(c, res->columns) {
		if (cJSON_IsString(c) && strcmp(c->valuestring, name) == 0)
			return i;
		i++;
	}
	return -1;
}

const cJSON *
cy_row(const struct cy_result *res, size_t i)
{
	assert(res->nrows == 0 || res->rows != NULL);	/* nrows row pointers */
	return i < res->nrows ? res->rows[i] : NULL;
}

static const cJSON *
cell(const cJSON *row, int col)
{
	if (row == NULL || col < 0)
		return NULL;
	return cJSON_GetArrayItem(row, col);
}

const char *
cy_str(const cJSON *row, int col)
{
	const cJSON *c = cell(row, col);

	/* cJSON_IsString(NULL) is false, but say so where the analyzer sees it. */
	return c != NULL && cJSON_IsString(c) ? c->valuestring : NULL;
}

/* Integers up to 2^53 are exact in a double; beyond, we cannot trust it. */
int64_t
cy_int(const cJSON *row, int col, int *ok)
{
	const cJSON *c = cell(row, col);
	double d;

	if (ok != NULL)
		*ok = 0;
	if (c == NULL || !cJSON_IsNumber(c))
		return 0;
	d = c->valuedouble;
	if (!(fabs(d) <= 9007199254740992.0) || d != trunc(d))
		return 0;
	if (ok != NULL)
		*ok = 1;
	return (int64_t)d;
}
