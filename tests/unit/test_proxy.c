/*
 * proxy: which variable wins, what a message may show of the proxy URL,
 * and which hosts no_proxy sends direct (curl's rules, docs/daemon.md).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "neuprint/proxy.h"

static const char *const all_vars[] = {
	"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "http_proxy",
	"HTTP_PROXY", "no_proxy", "NO_PROXY",
};

static int
clear_env(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(all_vars) / sizeof(all_vars[0]); i++)
		unsetenv(all_vars[i]);
	return 0;
}

static void
test_none(void **state)
{
	struct proxy p;
	char err[256] = "";

	(void)state;
	/* http_proxy is for http:// URLs: ours are all https:// */
	setenv("http_proxy", "http://plain:3128", 1);
	setenv("HTTP_PROXY", "http://plain:3128", 1);
	setenv("https_proxy", "", 1);	/* empty: unset, as for curl */
	assert_int_equal(proxy_from_env(&p, err, sizeof(err)), 0);
	assert_null(p.url);
	assert_null(proxy_for(&p, "https://neuprint.janelia.org"));
	proxy_free(&p);
}

/* Each variable wins over every later one, and alone is used. */
static void
test_precedence(void **state)
{
	static const char *const order[] = {
		"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
	};
	struct proxy p;
	char err[256], url[64];
	size_t i, j;

	(void)state;
	for (i = 0; i < 4; i++) {
		clear_env(NULL);
		for (j = i; j < 4; j++) {
			snprintf(url, sizeof(url), "http://p%zu:3128", j);
			setenv(order[j], url, 1);
		}
		assert_int_equal(proxy_from_env(&p, err, sizeof(err)), 0);
		snprintf(url, sizeof(url), "http://p%zu:3128", i);
		assert_string_equal(p.url, url);
		assert_string_equal(p.shown, url);
		assert_string_equal(p.var, order[i]);
		proxy_free(&p);
	}
	clear_env(NULL);
	setenv("NO_PROXY", "upper.example", 1);
	setenv("https_proxy", "http://p:3128", 1);
	assert_int_equal(proxy_from_env(&p, err, sizeof(err)), 0);
	assert_string_equal(p.no_proxy, "upper.example");
	assert_string_equal(p.no_var, "NO_PROXY");
	proxy_free(&p);
	setenv("no_proxy", "lower.example", 1);
	assert_int_equal(proxy_from_env(&p, err, sizeof(err)), 0);
	assert_string_equal(p.no_proxy, "lower.example");
	assert_string_equal(p.no_var, "no_proxy");
	proxy_free(&p);
}

/* Credentials go to libcurl, never into the shown form. */
static void
test_shown(void **state)
{
	static const struct {
		const char *in, *shown, *user, *pass, *basic;
	} t[] = {
		{ "http://proxy.lab:3128", "http://proxy.lab:3128", NULL, NULL,
		    NULL },
		{ "proxy.lab:3128", "http://proxy.lab:3128", NULL, NULL, NULL },
		{ "http://proxy.lab", "http://proxy.lab", NULL, NULL, NULL },
		{ "http://alice:s%40cret@proxy.lab:3128/", "http://proxy.lab:3128",
		    "alice", "s@cret", "YWxpY2U6c0BjcmV0" },
		{ "socks5h://bob@10.0.0.1:1080", "socks5h://10.0.0.1:1080", "bob",
		    NULL, "Ym9iOg==" },
		{ "https://[fd00::1]:8443", "https://[fd00::1]:8443", NULL, NULL,
		    NULL },
	};
	struct proxy p;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		setenv("https_proxy", t[i].in, 1);
		assert_int_equal(proxy_from_env(&p, err, sizeof(err)), 0);
		assert_string_equal(p.url, t[i].in);
		assert_string_equal(p.shown, t[i].shown);
		if (t[i].user)
			assert_string_equal(p.user, t[i].user);
		else
			assert_null(p.user);
		if (t[i].pass)
			assert_string_equal(p.password, t[i].pass);
		else
			assert_null(p.password);
		/* What Basic sends, scrubbed from messages as the plain form. */
		if (t[i].basic)
			assert_string_equal(p.basic, t[i].basic);
		else
			assert_null(p.basic);
		proxy_free(&p);
	}
}

/* A proxy that cannot be used is named by its variable, never its secret. */
static void
test_bad(void **state)
{
	static const struct { const char *in, *msg; } t[] = {
		{ "ftp://alice:pw-5ecr3t@proxy:21", "https_proxy: unsupported proxy "
		    "scheme \"ftp\" (http, https, socks4, socks4a, socks5 or socks5h)" },
		{ "http://alice:pw-5ecr3t@", "https_proxy is not a proxy URL "
		    "(expected http://[USER:PASSWORD@]HOST:PORT)" },
		{ "http://pw-5ecr3t proxy:3128", "https_proxy is not a proxy URL "
		    "(expected http://[USER:PASSWORD@]HOST:PORT)" },
	};
	struct proxy p;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		setenv("https_proxy", t[i].in, 1);
		assert_int_equal(proxy_from_env(&p, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, t[i].msg);
		assert_null(p.url);
	}
}

static void
test_bypass(void **state)
{
	static const struct { const char *list, *host; int direct; } t[] = {
		{ "*", "anything.example", 1 },
		{ " * ", "10.1.2.3", 1 },
		{ "example.org", "example.org", 1 },
		{ "example.org", "EXAMPLE.org", 1 },
		{ "example.org", "neuprint.example.org", 1 },
		{ ".example.org", "neuprint.example.org", 1 },
		{ ".example.org", "example.org", 1 },
		{ "example.org.", "example.org", 1 },
		{ "example.org", "example.org.", 1 },
		{ "example.org", "badexample.org", 0 },
		{ "example.org", "example.org.evil", 0 },
		{ "neuprint.example.org", "example.org", 0 },
		{ "a.example, b.example ,neuprint.example.org", "neuprint.example.org", 1 },
		{ "a.example b.example", "b.example", 1 },
		{ "a.example,,", "b.example", 0 },
		{ "", "example.org", 0 },
		/* "*" only alone, as in curl */
		{ "a.example,*", "b.example", 0 },
		/* addresses: themselves or a CIDR range, never by suffix */
		{ "127.0.0.1", "127.0.0.1", 1 },
		{ "127.0.0.1", "127.0.0.2", 0 },
		{ "10.0.0.0/8", "10.200.3.4", 1 },
		{ "10.0.0.0/8", "11.0.0.1", 0 },
		{ "192.168.4.0/22", "192.168.7.255", 1 },
		{ "192.168.4.0/22", "192.168.8.0", 0 },
		{ "0.0.1", "10.0.0.1", 0 },
		{ "localhost", "127.0.0.1", 0 },
		{ "::1", "[::1]", 1 },
		{ "::1", "::1", 1 },
		{ "fd00::/8", "[fd12:3456::1]", 1 },
		{ "fd00::/8", "[fe80::1]", 0 },
		{ "10.0.0.0/x", "10.0.0.1", 0 },
		{ "10.0.0.0/33", "10.0.0.1", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		print_message("\"%s\" against %s\n", t[i].list, t[i].host);
		assert_int_equal(proxy_bypass(t[i].list, t[i].host),
		    t[i].direct);
	}
	assert_int_equal(proxy_bypass(NULL, "example.org"), 0);
}

/* proxy_for reads the host out of the URL: port, path and IPv6 literal. */
static void
test_for(void **state)
{
	struct proxy p;
	char err[256];

	(void)state;
	setenv("https_proxy", "http://proxy.lab:3128", 1);
	assert_int_equal(proxy_from_env(&p, err, sizeof(err)), 0);
	assert_ptr_equal(proxy_for(&p, "https://127.0.0.1:8443/api/custom/custom"),
	    &p);
	proxy_free(&p);
	setenv("no_proxy", "localhost,127.0.0.0/8,::1,.internal", 1);
	assert_int_equal(proxy_from_env(&p, err, sizeof(err)), 0);
	assert_null(proxy_for(&p, "https://127.0.0.1:8443/api/custom/custom"));
	assert_null(proxy_for(&p, "https://[::1]:8443/api/custom/custom"));
	assert_null(proxy_for(&p, "https://np.internal/api/custom/custom"));
	assert_null(proxy_for(&p, "https://LOCALHOST"));
	assert_ptr_equal(proxy_for(&p, "https://neuprint.janelia.org/api"), &p);
	assert_ptr_equal(proxy_for(&p, "https://internal.example/api"), &p);
	proxy_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_none, clear_env),
		cmocka_unit_test_setup(test_precedence, clear_env),
		cmocka_unit_test_setup(test_shown, clear_env),
		cmocka_unit_test_setup(test_bad, clear_env),
		cmocka_unit_test_setup(test_bypass, clear_env),
		cmocka_unit_test_setup(test_for, clear_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
