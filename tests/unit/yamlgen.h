/*
 * yamlgen: YAML documents that attack a parser, for the tests of the two
 * readers of YAML from outside (test_config, test_settings), both bounded
 * by yf_check.
 */
#ifndef QP_TEST_YAMLGEN_H
#define QP_TEST_YAMLGEN_H

#include "base/buf.h"

/*
 * "Billion laughs": anchors a0 .. a(LEVELS-1), one a line, a0 a list of
 * ten scalars and each next one ten aliases of the one before, so the
 * last stands for 10^LEVELS values.
 */
void	yg_laughs(struct buf *b, int levels);
/* DEPTH times OPEN, then DEPTH times CLOSE unless CLOSE is '\0'. */
void	yg_nest(struct buf *b, int depth, char open, char close);

#endif
