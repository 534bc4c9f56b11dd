/*
 * cypher: the text of every query we send (docs/queries.md), literal
 * escaping, and parsing of neuPrint's {"columns", "data"} answers.
 */
#ifndef QP_CYPHER_H
#define QP_CYPHER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/buf.h"

/* Append S as a single-quoted Cypher string literal (':' as \u003A). */
void	 cy_quote(struct buf *b, const char *s);

/*
 * Query shapes, for the limiter: answers are compared by their size
 * (neurons) only within one shape, since each costs the server its own
 * amount per neuron.
 */
enum cy_shape {
	CY_CELLS,		/* cy_cells_query */
	CY_ROIS,		/* cy_rois_query */
	CY_NEURONS,		/* cy_type_query */
	CY_OTHER,		/* META, TYPES: size not known */
};

/*
 * The query generation: bump it whenever a query text below (or what
 * fetch makes of the answers) changes, so the persistent cache (cache.h)
 * never serves rows of another query.
 */
#define CY_QUERY_GENERATION	1

/* Query texts; each appends the whole text to b. */
void	 cy_meta_query(struct buf *b);
void	 cy_cells_query(struct buf *b, const char *const *types, size_t n);
void	 cy_rois_query(struct buf *b, const char *const *types, size_t n,
	    const char *const *primary, size_t nprimary);
void	 cy_types_query(struct buf *b);
void	 cy_type_query(struct buf *b, const char *type);
/*
 * The POST body {"cypher": TEXT, "dataset": DATASET}, appended to b.
 * -EILSEQ when either is not valid UTF-8 (the body would not be JSON).
 */
int	 cy_request_body(struct buf *b, const char *cypher, const char *dataset);
/* 1 when S is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int	 cy_utf8_valid(const char *s);

/* A parsed answer. Rows are cJSON arrays aligned with the columns. */
struct cy_result {
	cJSON	*root;
	cJSON	*columns;
	cJSON	*data;
	size_t	 nrows;
	size_t	 ncols;
	const cJSON **rows;	/* nrows row pointers: cy_row is O(1) */
};

/*
 * Parse an HTTP body. Returns 0; -EBADMSG when it is not a neuPrint answer
 * (message says what is wrong); -EPROTO when it is {"error": ...} or
 * DatasetGateway's {"message": ...} (message is the server's text, with
 * the terms-of-service URL when there is one, cut to errlen).
 */
int	 cy_parse(const char *body, size_t len, struct cy_result *res,
	    char *err, size_t errlen);
void	 cy_result_free(struct cy_result *res);
/* Column index of NAME, or -1. */
int	 cy_column(const struct cy_result *res, const char *name);
/* Row i as a cJSON array (borrowed), NULL past the end. */
const cJSON *cy_row(const struct cy_result *res, size_t i);
/* Cell accessors: NULL / 0 for null or a wrong type; *ok tells which. */
const char *cy_str(const cJSON *row, int col);
int64_t	 cy_int(const cJSON *row, int col, int *ok);

#endif
