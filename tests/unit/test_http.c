/*
 * http tests against tests/unit/http_server.py: a local HTTPS server with
 * a throwaway CA, started once for the whole group.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "neuprint/http.h"
#include "base/xmalloc.h"

#ifndef QP_TEST_SRCDIR
#define QP_TEST_SRCDIR "."
#endif

#define TOKEN	"qp-test-token-5ecret-0123456789abcdef"
#define NREC	32

static struct {
	pid_t	 pid;
	int	 in_fd;		/* its stdin: closing it stops it */
	int	 port;
	int	 proxy_port;	/* its CONNECT-only proxy */
	char	 dir[64];
	char	 ca[128], other_ca[128];
} srv;

/* What one callback saw, copied out (the response dies with it). */
struct rec {
	int	 called;
	enum http_fail fail;
	long	 status;
	char	*body;
	char	*error;
	double	 retry_after, elapsed, ttfb;
	long	 proxy_status;
	int	 proxy_auth;
	char	*proxy;
};

struct ctx {
	uv_loop_t	 loop;
	struct http_client *c;
	struct rec	 rec[NREC];
	int		 ncalled;
	int		 chain_left;	/* test_reuse: posts still to make */
	struct http_req	*victim;	/* cancelled by a callback */
	int		 close_in_cb;
};

static char *
url(const char *path)
{
	static char u[8][128];
	static int i;

	i = (i + 1) % 8;
	snprintf(u[i], sizeof(u[i]), "https://127.0.0.1:%d%s", srv.port, path);
	return u[i];
}

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)f;
	(void)flag;
	(void)sb;
	return remove(p);
}

static int
server_start(void **state)
{
	int in[2], out[2];
	char line[64];
	FILE *f;

	(void)state;
	snprintf(srv.dir, sizeof(srv.dir), "/tmp/qp-http-XXXXXX");
	if (mkdtemp(srv.dir) == NULL || pipe(in) < 0 || pipe(out) < 0)
		return -1;
	if ((srv.pid = fork()) < 0)
		return -1;
	if (srv.pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl("/usr/bin/python3", "python3",
		    QP_TEST_SRCDIR "/tests/unit/http_server.py", srv.dir, TOKEN,
		    (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	srv.in_fd = in[1];
	if ((f = fdopen(out[0], "r")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) == NULL ||
	    sscanf(line, "PORT %d", &srv.port) != 1 ||
	    fgets(line, sizeof(line), f) == NULL ||
	    sscanf(line, "PROXY %d", &srv.proxy_port) != 1) {
		fclose(f);
		return -1;
	}
	fclose(f);
	snprintf(srv.ca, sizeof(srv.ca), "%s/ca.pem", srv.dir);
	snprintf(srv.other_ca, sizeof(srv.other_ca), "%s/other-ca.pem",
	    srv.dir);
	return 0;
}

static int
server_stop(void **state)
{
	(void)state;
	if (srv.pid > 0) {
		close(srv.in_fd);
		kill(srv.pid, SIGTERM);
		waitpid(srv.pid, NULL, 0);
	}
	if (srv.dir[0] != '\0')
		nftw(srv.dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void
setup(struct ctx *x, const struct http_opts *o)
{
	struct http_opts def = {
		.ca_file = srv.ca,
		.connect_timeout_ms = 5000,
		.total_timeout_ms = 10000,
		.low_speed_time_s = 10,
	};

	memset(x, 0, sizeof(*x));
	assert_int_equal(uv_loop_init(&x->loop), 0);
	assert_int_equal(http_client_new(&x->loop, o ? o : &def, &x->c), 0);
}

/* Close the client, drain the loop, and check nothing is left on it. */
static void
teardown(struct ctx *x)
{
	int i;

	http_client_close(x->c);
	assert_int_equal(uv_run(&x->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&x->loop), 0);
	for (i = 0; i < NREC; i++) {
		free(x->rec[i].body);
		free(x->rec[i].error);
		free(x->rec[i].proxy);
	}
}

static void
run_until(struct ctx *x, int ncalled)
{
	while (x->ncalled < ncalled)
		uv_run(&x->loop, UV_RUN_ONCE);
}

static void
record(struct rec *r, const struct http_response *res)
{
	assert_int_equal(r->called, 0);	/* exactly once */
	r->called = 1;
	r->fail = res->fail;
	r->status = res->status;
	r->retry_after = res->retry_after_s;
	r->elapsed = res->elapsed_s;
	r->ttfb = res->ttfb_s;
	assert_non_null(res->body);
	assert_int_equal(strlen(res->body), res->len);
	r->body = xstrdup(res->body);
	r->proxy_status = res->proxy_status;
	r->proxy_auth = res->proxy_auth;
	if (res->proxy != NULL)
		r->proxy = xstrdup(res->proxy);
	if (res->fail != HTTP_OK) {
		assert_non_null(res->error);
		/* The token must never show up in error text. */
		assert_null(strstr(res->error, TOKEN));
		assert_null(strstr(res->error, "5ecret"));
		r->error = xstrdup(res->error);
	}
}

/* The test running now: callbacks get a struct rec and count here. */
static struct ctx *cur;

static void
on_rec(void *arg, const struct http_response *res)
{
	record(arg, res);
	cur->ncalled++;
}

static void
post(struct ctx *x, const char *path, const char *token, int i,
    struct http_req **out)
{
	static const char body[] = "{\"cypher\": \"MATCH (n) RETURN n\"}";

	assert_int_equal(http_post(x->c, url(path), token, body,
	    strlen(body), on_rec, &x->rec[i], out), 0);
}

static void
test_echo(void **state)
{
	struct ctx x;
	struct http_stats st;

	(void)state;
	cur = &x;
	setup(&x, NULL);
	post(&x, "/echo", TOKEN, 0, NULL);
	http_get_stats(x.c, &st);
	assert_int_equal(st.in_flight, 1);
	run_until(&x, 1);
	assert_int_equal(x.rec[0].fail, HTTP_OK);
	assert_int_equal(x.rec[0].status, 200);
	assert_non_null(strstr(x.rec[0].body,
	    "\"body\": \"{\\\"cypher\\\": \\\"MATCH (n) RETURN n\\\"}\""));
	assert_non_null(strstr(x.rec[0].body,
	    "\"content_type\": \"application/json\""));
	assert_non_null(strstr(x.rec[0].body, "\"accept\": \"application/json\""));
	assert_true(x.rec[0].retry_after == -1);
	assert_true(x.rec[0].ttfb > 0);
	assert_true(x.rec[0].elapsed >= x.rec[0].ttfb);
	http_get_stats(x.c, &st);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.connections, 1);
	assert_int_equal(st.in_flight, 0);
	assert_true(st.bytes_in > 100);
	assert_true(st.bytes_out > 33);
	teardown(&x);
}

static void
test_bad_token(void **state)
{
	struct ctx x;

	(void)state;
	cur = &x;
	setup(&x, NULL);
	post(&x, "/echo", "not-the-token", 0, NULL);
	post(&x, "/echo", NULL, 1, NULL);
	run_until(&x, 2);
	assert_int_equal(x.rec[0].fail, HTTP_OK);
	assert_int_equal(x.rec[0].status, 401);
	assert_int_equal(x.rec[1].status, 401);
	assert_non_null(strstr(x.rec[0].body, "bad token"));
	teardown(&x);
}

static void
test_retry_after(void **state)
{
	struct ctx x;

	(void)state;
	cur = &x;
	setup(&x, NULL);
	post(&x, "/busy", TOKEN, 0, NULL);
	post(&x, "/busydate", TOKEN, 1, NULL);
	run_until(&x, 2);
	assert_int_equal(x.rec[0].status, 503);
	assert_true(x.rec[0].retry_after == 2);
	assert_int_equal(x.rec[1].status, 503);
	assert_true(x.rec[1].retry_after >= 1 && x.rec[1].retry_after <= 4);
	teardown(&x);
}

/* Each callback posts the next request: re-entrancy and keep-alive. */
static void
on_chain(void *arg, const struct http_response *res)
{
	struct ctx *x = arg;

	record(&x->rec[x->ncalled], res);
	x->ncalled++;
	if (x->chain_left-- > 0)
		assert_int_equal(http_post(x->c, url("/echo"), TOKEN, "{}", 2,
		    on_chain, x, NULL), 0);
}

static void
test_reuse(void **state)
{
	struct ctx x;
	struct http_stats st;
	int i;

	(void)state;
	setup(&x, NULL);
	x.chain_left = 9;
	assert_int_equal(http_post(x.c, url("/echo"), TOKEN, "{}", 2, on_chain,
	    &x, NULL), 0);
	run_until(&x, 10);
	for (i = 0; i < 10; i++)
		assert_int_equal(x.rec[i].status, 200);
	http_get_stats(x.c, &st);
	assert_int_equal(st.requests, 10);
	assert_int_equal(st.connections, 1);
	teardown(&x);
}

static void
test_concurrent(void **state)
{
	struct ctx x;
	uint64_t t0;
	int i;

	(void)state;
	cur = &x;
	setup(&x, NULL);
	t0 = uv_hrtime();
	for (i = 0; i < 20; i++)
		post(&x, "/slow?ms=300", TOKEN, i, NULL);
	run_until(&x, 20);
	for (i = 0; i < 20; i++) {
		assert_int_equal(x.rec[i].fail, HTTP_OK);
		assert_int_equal(x.rec[i].status, 200);
		assert_true(x.rec[i].elapsed >= 0.3);
	}
	/* In parallel, not one after another (that would be 6 s). */
	assert_true((double)(uv_hrtime() - t0) / 1e9 < 3);
	teardown(&x);
}

static void
test_timeout(void **state)
{
	struct ctx x;

	(void)state;
	struct http_opts o = {
		.ca_file = srv.ca,
		.connect_timeout_ms = 5000,
		.total_timeout_ms = 300,
	};

	cur = &x;
	setup(&x, &o);
	post(&x, "/slow?ms=3000", TOKEN, 0, NULL);
	run_until(&x, 1);
	assert_int_equal(x.rec[0].fail, HTTP_ERR_TIMEOUT);
	assert_int_equal(x.rec[0].status, 0);
	assert_true(x.rec[0].elapsed < 2);
	teardown(&x);
}

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd, port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void
test_refused(void **state)
{
	struct ctx x;
	char u[64];

	(void)state;
	cur = &x;
	setup(&x, NULL);
	snprintf(u, sizeof(u), "https://127.0.0.1:%d/echo", free_port());
	assert_int_equal(http_post(x.c, u, TOKEN, "{}", 2, on_rec, &x.rec[0],
	    NULL), 0);
	run_until(&x, 1);
	assert_int_equal(x.rec[0].fail, HTTP_ERR_CONNECT);
	assert_int_equal(x.rec[0].status, 0);
	teardown(&x);
}

static void
test_wrong_ca(void **state)
{
	struct ctx x;

	(void)state;
	struct http_opts o = {
		.ca_file = srv.other_ca,
		.total_timeout_ms = 10000,
	};

	cur = &x;
	setup(&x, &o);
	post(&x, "/echo", TOKEN, 0, NULL);
	run_until(&x, 1);
	assert_int_equal(x.rec[0].fail, HTTP_ERR_TLS);
	teardown(&x);
	/* The system store does not know our CA either. */
	o.ca_file = NULL;
	setup(&x, &o);
	post(&x, "/echo", TOKEN, 0, NULL);
	run_until(&x, 1);
	assert_int_equal(x.rec[0].fail, HTTP_ERR_TLS);
	teardown(&x);
}

static void
test_reset(void **state)
{
	struct ctx x;

	(void)state;
	cur = &x;
	setup(&x, NULL);
	post(&x, "/reset", TOKEN, 0, NULL);
	post(&x, "/truncated", TOKEN, 1, NULL);
	run_until(&x, 2);
	assert_int_equal(x.rec[0].fail, HTTP_ERR_RESET);
	assert_int_equal(x.rec[1].fail, HTTP_ERR_RESET);
	assert_string_equal(x.rec[1].body, "");
	teardown(&x);
}

static void
test_max_body(void **state)
{
	struct ctx x;

	(void)state;
	struct http_opts o = {
		.ca_file = srv.ca,
		.total_timeout_ms = 10000,
		.max_body_bytes = 1000,
	};

	cur = &x;
	setup(&x, &o);
	post(&x, "/big", TOKEN, 0, NULL);
	post(&x, "/echo", TOKEN, 1, NULL);
	run_until(&x, 2);
	assert_int_equal(x.rec[0].fail, HTTP_ERR_TOO_BIG);
	assert_non_null(strstr(x.rec[0].error, "larger than 1000"));
	assert_int_equal(x.rec[1].status, 200);
	teardown(&x);
}

static void
test_bad_args(void **state)
{
	struct ctx x;

	(void)state;
	cur = &x;
	setup(&x, NULL);
	assert_int_equal(http_post(x.c, "http://127.0.0.1/echo", TOKEN, "{}",
	    2, on_rec, &x.rec[0], NULL), -EINVAL);
	assert_int_equal(http_post(x.c, url("/echo"), "tok\r\nX-Evil: 1",
	    "{}", 2, on_rec, &x.rec[0], NULL), -EINVAL);
	teardown(&x);
	assert_int_equal(x.ncalled, 0);
}

/* A timer that fires once and runs FN. */
struct later {
	uv_timer_t	 t;
	void		(*fn)(struct ctx *);
	struct ctx	*x;
	int		 fired;
};

static void
on_later(uv_timer_t *t)
{
	struct later *l = t->data;

	l->fired = 1;
	if (l->fn != NULL)
		l->fn(l->x);
	uv_close((uv_handle_t *)t, NULL);
}

static void
later(struct later *l, struct ctx *x, uint64_t ms, void (*fn)(struct ctx *))
{
	l->fn = fn;
	l->x = x;
	l->fired = 0;
	l->t.data = l;
	uv_timer_init(&x->loop, &l->t);
	uv_timer_start(&l->t, on_later, ms, 0);
}

static void
test_cancel(void **state)
{
	struct ctx x;
	struct http_req *r;
	struct http_stats st;
	struct later l;

	(void)state;
	cur = &x;
	setup(&x, NULL);
	post(&x, "/slow?ms=300", TOKEN, 0, &r);
	post(&x, "/slow?ms=300", TOKEN, 1, NULL);
	http_cancel(r);
	http_get_stats(x.c, &st);
	assert_int_equal(st.in_flight, 1);
	/* Past the time both would have answered. */
	later(&l, &x, 800, NULL);
	while (!l.fired)
		uv_run(&x.loop, UV_RUN_ONCE);
	assert_int_equal(x.rec[0].called, 0);
	assert_int_equal(x.rec[1].called, 1);
	assert_int_equal(x.ncalled, 1);
	http_get_stats(x.c, &st);
	assert_int_equal(st.in_flight, 0);
	teardown(&x);
}

static void
on_cancel_other(void *arg, const struct http_response *res)
{
	struct ctx *x = cur;

	on_rec(arg, res);
	if (x->victim != NULL)
		http_cancel(x->victim);
	x->victim = NULL;
	if (x->close_in_cb)
		http_client_close(x->c);
}

static void
test_cancel_from_callback(void **state)
{
	struct ctx x;
	struct later l;

	(void)state;
	cur = &x;
	setup(&x, NULL);
	post(&x, "/slow?ms=400", TOKEN, 1, &x.victim);
	assert_int_equal(http_post(x.c, url("/echo"), TOKEN, "{}", 2,
	    on_cancel_other, &x.rec[0], NULL), 0);
	later(&l, &x, 900, NULL);
	while (!l.fired)
		uv_run(&x.loop, UV_RUN_ONCE);
	assert_int_equal(x.rec[0].status, 200);
	assert_int_equal(x.rec[1].called, 0);
	teardown(&x);
}

static void
close_client(struct ctx *x)
{
	http_client_close(x->c);
}

static void
test_close_in_flight(void **state)
{
	struct ctx x;
	struct later l;
	int i;

	(void)state;
	cur = &x;
	setup(&x, NULL);
	for (i = 0; i < 5; i++)
		post(&x, "/slow?ms=2000", TOKEN, i, NULL);
	later(&l, &x, 200, close_client);
	/* Everything, client included, is gone when the loop runs dry. */
	assert_int_equal(uv_run(&x.loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(x.ncalled, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(x.rec[i].fail, HTTP_ERR_OTHER);
		assert_string_equal(x.rec[i].error, "cancelled");
	}
	assert_int_equal(uv_loop_close(&x.loop), 0);
	for (i = 0; i < NREC; i++) {
		free(x.rec[i].body);
		free(x.rec[i].error);
	}
}

static void
test_close_from_callback(void **state)
{
	struct ctx x;
	int i;

	(void)state;
	cur = &x;
	setup(&x, NULL);
	x.close_in_cb = 1;
	post(&x, "/slow?ms=2000", TOKEN, 1, NULL);
	assert_int_equal(http_post(x.c, url("/echo"), TOKEN, "{}", 2,
	    on_cancel_other, &x.rec[0], NULL), 0);
	assert_int_equal(uv_run(&x.loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(x.rec[0].status, 200);
	assert_int_equal(x.rec[1].fail, HTTP_ERR_OTHER);
	assert_int_equal(uv_loop_close(&x.loop), 0);
	for (i = 0; i < NREC; i++) {
		free(x.rec[i].body);
		free(x.rec[i].error);
	}
}

/* ---- through a proxy (proxy.c reads the environment per client) ---- */

static void
unset_proxy_env(void)
{
	static const char *const v[] = {
		"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
		"no_proxy", "NO_PROXY",
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		unsetenv(v[i]);
}

/* Each proxy test starts from none, even after one that failed half-way. */
static int
no_proxy_env(void **state)
{
	(void)state;
	unset_proxy_env();
	return 0;
}

static void
set_proxy(const char *userinfo)
{
	char u[128];

	snprintf(u, sizeof(u), "http://%s127.0.0.1:%d", userinfo,
	    srv.proxy_port);
	setenv("https_proxy", u, 1);
}

/* How many lines of the proxy's log are LINE. */
static int
proxy_log_count(const char *line)
{
	char path[128], buf[256];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/proxy.log", srv.dir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(buf, sizeof(buf), f) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		n += strcmp(buf, line) == 0;
	}
	fclose(f);
	return n;
}

static void
test_proxy_tunnel(void **state)
{
	struct ctx x;
	char line[64], shown[64];

	(void)state;
	cur = &x;
	snprintf(line, sizeof(line), "CONNECT 127.0.0.1:%d", srv.port);
	snprintf(shown, sizeof(shown), "http://127.0.0.1:%d", srv.proxy_port);
	set_proxy("");
	setup(&x, NULL);
	post(&x, "/echo", TOKEN, 0, NULL);
	run_until(&x, 1);
	/* TLS end to end to the server, through one tunnel. */
	assert_int_equal(x.rec[0].fail, HTTP_OK);
	assert_int_equal(x.rec[0].status, 200);
	assert_non_null(strstr(x.rec[0].body, "\"accept\": \"application/json\""));
	assert_string_equal(x.rec[0].proxy, shown);
	assert_int_equal(proxy_log_count(line), 1);
	teardown(&x);
	/* no_proxy naming the server: direct, the proxy sees nothing. */
	setenv("no_proxy", "localhost, 127.0.0.1", 1);
	setup(&x, NULL);
	post(&x, "/echo", TOKEN, 0, NULL);
	run_until(&x, 1);
	assert_int_equal(x.rec[0].status, 200);
	assert_null(x.rec[0].proxy);
	assert_int_equal(proxy_log_count(line), 1);
	teardown(&x);
	unset_proxy_env();
	cur = NULL;	/* X goes out of scope */
}

/* POST to https://HOST/echo through the proxy; the record in X->rec[0]
 * (teardown after). */
static void
post_host(struct ctx *x, const char *host)
{
	char u[128];

	snprintf(u, sizeof(u), "https://%s/echo", host);
	setup(x, NULL);
	assert_int_equal(http_post(x->c, u, TOKEN, "{}", 2, on_rec, &x->rec[0],
	    NULL), 0);
	run_until(x, 1);
	assert_int_equal(x->rec[0].fail, HTTP_ERR_PROXY);
	assert_int_equal(x->rec[0].status, 0);
}

/* One line naming the proxy (never its password) and what it answered. */
static void
test_proxy_refusals(void **state)
{
	static const struct {
		const char *userinfo, *host, *said, *hint, *logged;
		long status;
	} t[] = {
		{ "", "deny407.test", "407 Proxy Authentication Required",
		    ": it wants a user and password, given as "
		    "http://USER:PASSWORD@HOST:PORT in https_proxy",
		    "CONNECT deny407.test:443", 407 },
		{ "alice:pw-5ecret@", "deny407.test:8443",
		    "407 Proxy Authentication Required",
		    ": it refused the user and password given in https_proxy",
		    "CONNECT deny407.test:8443 auth", 407 },
		{ "", "deny403.test", "403 Filtered",
		    ": its rules refuse this client or destination",
		    "CONNECT deny403.test:443", 403 },
		{ "", "down502.test", "502 Bad Gateway", "",
		    "CONNECT down502.test:443", 502 },
		/* What the proxy said holds the password: its code alone. */
		{ "alice:pw-5ecret@", "leaky.test", "403",
		    ": its rules refuse this client or destination",
		    "CONNECT leaky.test:443 auth", 403 },
	};
	struct ctx x;
	char want[512], target[64];
	size_t i;

	(void)state;
	cur = &x;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		set_proxy(t[i].userinfo);
		post_host(&x, t[i].host);
		snprintf(target, sizeof(target), "%s%s", t[i].host,
		    strchr(t[i].host, ':') ? "" : ":443");
		snprintf(want, sizeof(want), "proxy http://127.0.0.1:%d (from "
		    "https_proxy) answered CONNECT %s with %s%s",
		    srv.proxy_port, target, t[i].said, t[i].hint);
		assert_string_equal(x.rec[0].error, want);
		assert_int_equal(x.rec[0].proxy_status, t[i].status);
		assert_int_equal(x.rec[0].proxy_auth, t[i].userinfo[0] != '\0');
		assert_null(strstr(x.rec[0].error, "alice"));
		assert_int_equal(proxy_log_count(t[i].logged), 1);
		teardown(&x);
		unset_proxy_env();
	}
	cur = NULL;	/* X goes out of scope */
}

static void
test_proxy_not_there(void **state)
{
	struct ctx x;
	char u[128], want[128];
	int port = free_port();

	(void)state;
	cur = &x;
	snprintf(u, sizeof(u), "http://alice:pw-5ecret@127.0.0.1:%d", port);
	setenv("HTTPS_PROXY", u, 1);
	setup(&x, NULL);
	post(&x, "/echo", TOKEN, 0, NULL);
	run_until(&x, 1);
	assert_int_equal(x.rec[0].fail, HTTP_ERR_CONNECT);
	snprintf(want, sizeof(want), "(curl 7, through the proxy "
	    "http://127.0.0.1:%d from HTTPS_PROXY)", port);
	assert_non_null(strstr(x.rec[0].error, want));
	assert_null(strstr(x.rec[0].error, "alice"));
	teardown(&x);
	unset_proxy_env();
	cur = NULL;	/* X goes out of scope */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_bad_token),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_wrong_ca),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_max_body),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_cancel_from_callback),
		cmocka_unit_test(test_close_in_flight),
		cmocka_unit_test(test_close_from_callback),
		cmocka_unit_test_setup(test_proxy_tunnel, no_proxy_env),
		cmocka_unit_test_setup(test_proxy_refusals, no_proxy_env),
		cmocka_unit_test_setup(test_proxy_not_there, no_proxy_env),
	};

	/* Only the proxy tests have a proxy, whatever the caller's environment. */
	unset_proxy_env();
	signal(SIGPIPE, SIG_IGN);
	xmalloc_install();	/* allocate as the daemon does */
	return cmocka_run_group_tests(tests, server_start, server_stop);
}
