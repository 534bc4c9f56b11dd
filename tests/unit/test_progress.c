/*
 * progress tests: the line qpctl --follow and watch print for a job, from
 * the job as a reply carries it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "progress.h"
#include "protocol.h"

static void
line_for(double eta_s, char *buf, size_t len)
{
	struct proto_job j;

	memset(&j, 0, sizeof(j));
	j.id = 12;
	snprintf(j.site, sizeof(j.site), "cns");
	snprintf(j.stage, sizeof(j.stage), "fetch");
	j.state = PROTO_RUNNING;
	j.done = 40;
	j.total = 100;
	j.in_flight = 3;
	j.limit = 8;
	j.eta_s = eta_s;
	progress_format(&j, buf, len);
}

static void
test_eta(void **state)
{
	char b[200];

	(void)state;
	line_for(42, b, sizeof(b));
	assert_string_equal(b, "job 12 cns: fetch 40/100, 3 in flight, "
	    "limit 8, ETA 42s");
	line_for(75, b, sizeof(b));
	assert_non_null(strstr(b, "ETA 1m15s"));
	line_for(7300, b, sizeof(b));
	assert_non_null(strstr(b, "ETA 2h01m"));
	line_for(-1, b, sizeof(b));
	assert_non_null(strstr(b, "ETA ?"));
}

/*
 * A site named after a client's config ("config:DATASET") has a colon of
 * its own: qpctl status and list once cut the progress there and showed
 * "ns: fetch ..." (they now print progress_state, not a cut line).
 */
static void
test_state_apart_from_site(void **state)
{
	struct proto_job j;
	char b[200];

	(void)state;
	memset(&j, 0, sizeof(j));
	j.id = 3;
	snprintf(j.site, sizeof(j.site), "config:cns");
	snprintf(j.stage, sizeof(j.stage), "fetch");
	j.state = PROTO_RUNNING;
	j.done = 1;
	j.total = 2;
	j.limit = 4;
	j.eta_s = 5;
	progress_state(&j, b, sizeof(b));
	assert_string_equal(b, "fetch 1/2, 0 in flight, limit 4, ETA 5s");
	progress_format(&j, b, sizeof(b));
	assert_string_equal(b, "job 3 config:cns: fetch 1/2, 0 in flight, "
	    "limit 4, ETA 5s");
	j.state = PROTO_QUEUED;
	progress_state(&j, b, sizeof(b));
	assert_string_equal(b, "queued");
}

/*
 * Found with the protocol fuzz harness on a crafted input
 * (tests/fuzz/corpus/protocol/eta-huge): a reply with "eta_s": 1e300 made
 * the ETA's (int) conversion undefined (UBSan aborted qpctl). An estimate
 * past 1e9 s reads as unknown.
 */
static void
test_eta_huge(void **state)
{
	char b[200];

	(void)state;
	line_for(1e300, b, sizeof(b));
	assert_non_null(strstr(b, "ETA ?"));
	line_for(1e9, b, sizeof(b));
	assert_non_null(strstr(b, "ETA ?"));
	line_for(999999999, b, sizeof(b));
	assert_non_null(strstr(b, "ETA 277777h46m"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_apart_from_site),
		cmocka_unit_test(test_eta),
		cmocka_unit_test(test_eta_huge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
