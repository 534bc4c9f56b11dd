/*
 * http: libcurl's multi_socket interface on a libuv loop.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION: one
 * uv_poll per socket) and when to wake it (CURLMOPT_TIMERFUNCTION: one
 * uv_timer). When either fires we call curl_multi_socket_action and then
 * collect finished transfers. One multi handle per client keeps one
 * connection cache, so keep-alive connections are reused across requests.
 *
 * libcurl global state: http_client_new calls curl_global_init (through
 * xmalloc_curl_init, so libcurl allocates by our policy) and the
 * client's final free calls curl_global_cleanup. libcurl counts these
 * calls, so clients may come and go; create them from one thread only
 * (this module uses no threads).
 *
 * The bearer token only ever lives in the request's header list, which
 * is wiped before it is freed. Error text comes from curl's error code
 * and CURLOPT_ERRORBUFFER, which never hold request headers; it is still
 * checked for the token before it is handed out.
 *
 * The proxy: proxy.c reads the environment once per client and decides
 * for each request; libcurl is told the outcome (CURLOPT_PROXY, "" for
 * none, and CURLOPT_NOPROXY "" so that it does not decide again), so a
 * message can name the proxy that was used. libcurl reports a refused
 * CONNECT as a receive error; CURLINFO_HTTP_CONNECTCODE tells it apart.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <uv.h>

#include "base/buf.h"
#include "base/fio.h"
#include "neuprint/http.h"
#include "neuprint/proxy.h"
#include "base/xmalloc.h"

enum req_state {
	REQ_ACTIVE,		/* in the multi handle */
	REQ_DONE,		/* finished, waiting for its callback */
	REQ_CALLING,		/* its callback is running */
};

struct http_req {
	TAILQ_ENTRY(http_req)	 entry;	/* in c->active or c->done */
	struct http_client	*c;
	CURL			*easy;
	struct curl_slist	*hdrs;	/* holds the token */
	enum req_state		 state;
	http_cb			 cb;
	void			*arg;
	uint64_t		 t0;	/* uv_hrtime at submission */
	struct buf		 body;
	int			 too_big;
	double			 retry_after;
	const struct proxy	*px;	/* the client's, or NULL: direct */
	char			 target[128];	/* host:port, for CONNECT messages */
	char			 reason[96];	/* the last status line's code and text */
	struct http_response	 res;
	char			 errbuf[CURL_ERROR_SIZE];
	char			 errtext[CURL_ERROR_SIZE + 512];
};

TAILQ_HEAD(req_list, http_req);

/* One per socket curl asks us to watch. */
struct http_sock {
	LIST_ENTRY(http_sock)	 entry;
	uv_poll_t		 poll;
	struct http_client	*c;
	curl_socket_t		 fd;
};

struct http_client {
	uv_loop_t		*loop;
	CURLM			*multi;
	uv_timer_t		 timer;
	struct http_opts	 opts;
	char			*ca_file;
	struct proxy		 px;	/* from the environment */
	struct req_list		 active;
	struct req_list		 done;
	LIST_HEAD(, http_sock)	 socks;
	int			 closing;
	unsigned		 closes_pending;	/* uv_close callbacks to come */
	struct http_stats	 stats;
	struct fio		 io;	/* socket faults, QP_TEST_IO_FAULT */
};

static void	check_multi_info(struct http_client *);

/* Wipe the token before the header list goes back to the allocator. */
static void
free_headers(struct curl_slist *h)
{
	struct curl_slist *p;

	for (p = h; p != NULL; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(h);
}

static void
client_free(struct http_client *c)
{
	/* Freed once, by the last close callback, after http_client_close. */
	assert(c->closing && c->closes_pending == 0);
	free(c->ca_file);
	proxy_free(&c->px);
	free(c);
	curl_global_cleanup();
}

static void
on_handle_closed(struct http_client *c)
{
	assert(c->closes_pending > 0);	/* one per uv_close */
	if (--c->closes_pending == 0 && c->closing)
		client_free(c);
}

static void
sock_closed(uv_handle_t *h)
{
	struct http_sock *s = h->data;
	struct http_client *c = s->c;

	free(s);
	on_handle_closed(c);
}

static void
timer_closed(uv_handle_t *h)
{
	on_handle_closed(h->data);
}

static void
sock_close(struct http_sock *s)
{
	LIST_REMOVE(s, entry);
	s->c->closes_pending++;
	uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
	struct http_sock *s = h->data;
	struct http_client *c = s->c;
	int flags = 0, running;

	assert(!c->closing);	/* http_client_close closed every poll */
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, s->fd, flags, &running);
	check_multi_info(c);
}

static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct http_client *c = userp;
	struct http_sock *s = sockp;
	int events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		/* curl has not closed FD yet, so libuv can still unwatch it. */
		if (s != NULL) {
			curl_multi_assign(c->multi, fd, NULL);
			sock_close(s);
		}
		return 0;
	}
	if (c->closing)
		return 0;
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		s->c = c;
		s->fd = fd;
		s->poll.data = s;
		LIST_INSERT_HEAD(&c->socks, s, entry);
		curl_multi_assign(c->multi, fd, s);
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= UV_READABLE;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= UV_WRITABLE;
	if (uv_poll_start(&s->poll, events, on_poll) != 0)
		return -1;
	return 0;
}

static void
on_timer(uv_timer_t *t)
{
	struct http_client *c = t->data;
	int running;

	assert(!c->closing);	/* stopped, and never re-armed, on close */
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(c);
}

static int
on_curl_timer(CURLM *multi, long ms, void *userp)
{
	struct http_client *c = userp;

	(void)multi;
	if (c->closing)
		return 0;
	if (ms < 0) {
		uv_timer_stop(&c->timer);
		return 0;
	}
	/*
	 * 0 means "now", but we may be inside curl; and libuv 1.44 would
	 * run a 0 ms timer re-armed from its own callback in the same pass.
	 */
	if (ms == 0)
		ms = 1;
	return uv_timer_start(&c->timer, on_timer, (uint64_t)ms, 0) ? -1 : 0;
}

int
http_client_new(uv_loop_t *loop, const struct http_opts *o,
    struct http_client **out)
{
	struct http_client *c;
	char err[256];

	if (xmalloc_curl_init() < 0)
		return -EIO;
	c = xcalloc(1, sizeof(*c));
	/* The front ends checked it already (proxy_from_env) and said why. */
	if (proxy_from_env(&c->px, err, sizeof(err)) < 0) {
		free(c);
		curl_global_cleanup();
		return -EINVAL;
	}
	c->loop = loop;
	if (o != NULL)
		c->opts = *o;
	if (c->opts.ca_file != NULL)
		c->ca_file = xstrdup(c->opts.ca_file);
	c->opts.ca_file = c->ca_file;
	TAILQ_INIT(&c->active);
	TAILQ_INIT(&c->done);
	LIST_INIT(&c->socks);
	/* A malformed test hook is none (the test sees its fault not come);
	 * one not for sockets is the render's. */
	if (fio_from_env(&c->io) < 0 || c->io.only != FIO_SOCKET)
		fio_none(&c->io);
	/* libcurl allocates by xmalloc: NULL only for want of memory, an abort. */
	c->multi = curl_multi_init();
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	if (c->opts.max_host_connections > 0)
		curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
		    c->opts.max_host_connections);
	/* Cannot fail on a valid loop; done last so nothing needs undoing. */
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	*out = c;
	return 0;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct http_req *r = arg;
	size_t len = size * n;
	size_t max = r->c->opts.max_body_bytes;

	assert(r->state == REQ_ACTIVE);	/* curl writes only while it runs R */
	if (max > 0 && len > max - r->body.len) {
		r->too_big = 1;
		return 0;	/* curl fails the transfer: CURLE_WRITE_ERROR */
	}
	buf_append(&r->body, p, len);
	assert(max == 0 || r->body.len <= max);	/* memory stays bounded */
	return len;
}

/* Retry-After: delta-seconds or an HTTP-date (RFC 9110 10.2.3). */
static double
parse_retry_after(const char *v, size_t len)
{
	char tmp[128], *end;
	double s;
	time_t t;

	while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
	    v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	if (tmp[0] >= '0' && tmp[0] <= '9') {
		s = strtod(tmp, &end);
		return *end == '\0' ? s : -1;
	}
	if ((t = curl_getdate(tmp, NULL)) == -1)
		return -1;
	s = difftime(t, time(NULL));
	return s > 0 ? s : 0;
}

/*
 * "407 Proxy Authentication Required" from a status line: what a proxy
 * that refuses CONNECT said. Its text is the proxy's: printable ASCII
 * only, cut short.
 */
static void
keep_reason(struct http_req *r, const char *p, size_t len)
{
	const char *sp = memchr(p, ' ', len);
	size_t i, n = 0;

	r->reason[0] = '\0';
	if (sp == NULL)
		return;
	len -= (size_t)(sp + 1 - p);
	p = sp + 1;
	for (i = 0; i < len && n + 1 < sizeof(r->reason); i++) {
		if (p[i] == '\r' || p[i] == '\n')
			break;
		r->reason[n++] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
	}
	r->reason[n] = '\0';
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	static const char name[] = "retry-after:";
	struct http_req *r = arg;
	size_t len = size * n, k = sizeof(name) - 1;

	/* A new status line (after a 100 Continue, say): forget the last. */
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		r->retry_after = -1;
		keep_reason(r, p, len);
	} else if (len > k && strncasecmp(p, name, k) == 0) {
		p += k;
		len -= k;
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		r->retry_after = parse_retry_after(p, len);
	}
	return size * n;
}

static int
valid_token(const char *t)
{
	for (; *t != '\0'; t++)
		if ((unsigned char)*t < 0x20 || *t == 0x7f)
			return 0;
	return 1;
}

/*
 * libcurl allocates by xmalloc (xmalloc_curl_init), so curl_slist_append
 * never returns NULL: it would have aborted.
 */
static void
make_headers(struct http_req *r, const char *token)
{
	struct buf auth = BUF_INIT;

	r->hdrs = curl_slist_append(r->hdrs, "Content-Type: application/json");
	r->hdrs = curl_slist_append(r->hdrs, "Accept: application/json");
	/* No 100-continue round trip. */
	r->hdrs = curl_slist_append(r->hdrs, "Expect:");
	assert(r->hdrs != NULL);	/* curl_slist_append cannot fail (above) */
	if (token == NULL || *token == '\0')
		return;
	buf_puts(&auth, "Authorization: Bearer ");
	buf_puts(&auth, token);
	r->hdrs = curl_slist_append(r->hdrs, auth.data);
	explicit_bzero(auth.data, auth.len);
	buf_free(&auth);
}

/*
 * Only with the test hook set: curl's sockets through the file seam, so a
 * test can fail the N-th (fio.h). SOCK_CLOEXEC, as curl's own socket().
 */
static curl_socket_t
on_opensocket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct http_client *c = arg;
	int fd;

	(void)purpose;
	fd = fio_socket(&c->io, a->family, a->socktype | SOCK_CLOEXEC,
	    a->protocol);
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static int
setup_easy(struct http_req *r, const char *url, const char *body, size_t len)
{
	const struct http_opts *o = &r->c->opts;
	CURL *e = r->easy;
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file != NULL)
		SET(CURLOPT_CAINFO, o->ca_file);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_PIPEWAIT, 0L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ACCEPT_ENCODING, "");	/* whatever curl can decode */
	SET(CURLOPT_HTTPHEADER, r->hdrs);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	SET(CURLOPT_COPYPOSTFIELDS, body != NULL ? body : "");
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, r);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_PRIVATE, r);
	/* proxy_for decided: libcurl neither reads the environment nor
	 * applies no_proxy again. */
	SET(CURLOPT_PROXY, r->px != NULL ? r->px->url : "");
	SET(CURLOPT_NOPROXY, "");
	if (fio_active(&r->c->io)) {
		SET(CURLOPT_OPENSOCKETFUNCTION, on_opensocket);
		SET(CURLOPT_OPENSOCKETDATA, r->c);
	}
	if (o->connect_timeout_ms > 0)
		SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	if (o->total_timeout_ms > 0)
		SET(CURLOPT_TIMEOUT_MS, o->total_timeout_ms);
	if (o->low_speed_time_s > 0) {
		SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
		SET(CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
	}
#undef SET
	return rc == CURLE_OK ? 0 : -EINVAL;
}

/* host:port of URL (https://...), without any user part. */
static void
set_target(struct http_req *r, const char *url)
{
	const char *a = url + 8, *at, *host;
	size_t len = strcspn(a, "/?#");
	int port;

	assert(strncasecmp(url, "https://", 8) == 0);	/* http_post checked */
	if ((at = memchr(a, '@', len)) != NULL) {
		len -= (size_t)(at + 1 - a);
		a = at + 1;
	}
	/* After an IPv6 literal's ']', or anywhere in a name or IPv4. */
	host = len > 0 && a[0] == '[' ? memchr(a, ']', len) : a;
	port = host != NULL && memchr(host, ':', len - (size_t)(host - a));
	snprintf(r->target, sizeof(r->target), "%.*s%s", (int)len, a,
	    port ? "" : ":443");
}

static void
req_free(struct http_req *r)
{
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	free_headers(r->hdrs);
	buf_free(&r->body);
	free(r);
}

int
http_post(struct http_client *c, const char *url, const char *token,
    const char *body, size_t len, http_cb cb, void *arg,
    struct http_req **out)
{
	struct http_req *r;
	int rc;

	if (c->closing)
		return -ESHUTDOWN;
	if (url == NULL || cb == NULL || strncasecmp(url, "https://", 8) != 0)
		return -EINVAL;
	if (token != NULL && !valid_token(token))
		return -EINVAL;
	r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->cb = cb;
	r->arg = arg;
	r->retry_after = -1;
	r->px = proxy_for(&c->px, url);
	set_target(r, url);
	/* libcurl allocates by xmalloc: NULL only for want of memory, an abort. */
	r->easy = curl_easy_init();
	assert(r->easy != NULL);	/* see just above */
	make_headers(r, token);
	if ((rc = setup_easy(r, url, body, len)) < 0)
		goto fail;
	r->t0 = uv_hrtime();
	/*
	 * Fails only for a handle already added or a call from inside a curl
	 * callback, neither of which this module makes; say so if it happens.
	 */
	if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
		rc = -EIO;
		goto fail;
	}
	r->state = REQ_ACTIVE;
	TAILQ_INSERT_TAIL(&c->active, r, entry);
	c->stats.requests++;
	c->stats.in_flight++;
	if (out != NULL)
		*out = r;
	return 0;
fail:
	req_free(r);
	return rc;
}

static enum http_fail
classify(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return HTTP_OK;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return HTTP_ERR_CONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_USE_SSL_FAILED:
		return HTTP_ERR_TLS;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_ERR_TIMEOUT;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2_STREAM:
		return HTTP_ERR_RESET;
	default:
		return HTTP_ERR_OTHER;
	}
}

static double
secs_since(uint64_t t0)
{
	return (double)(uv_hrtime() - t0) / 1e9;
}

static int
holds(const char *text, const char *secret)
{
	return secret != NULL && *secret != '\0' && strstr(text, secret) != NULL;
}

/* Whether TEXT holds P's user or password, plain or as Basic sends them. */
static int
holds_credentials(const struct proxy *p, const char *text)
{
	return p != NULL && (holds(text, p->user) ||
	    holds(text, p->password) || holds(text, p->basic));
}

/*
 * The proxy answered CONNECT with STATUS: one line naming it (without
 * credentials), what it said, and what to do when that is plain.
 */
static void
proxy_refused(struct http_req *r, long status)
{
	const struct proxy *p = r->px;
	const char *said = r->reason, *hint = "";
	char code[16];

	assert(p != NULL);	/* a CONNECT refused: only through a proxy */
	snprintf(code, sizeof(code), "%ld", status);
	/* The status line's text, or the code alone if it is not that line's. */
	if (strncmp(said, code, strlen(code)) != 0 ||
	    holds_credentials(p, said))
		said = code;
	if (status == 407 || status == 401)
		hint = p->user != NULL ? ": it refused the user and password "
		    "given in " : ": it wants a user and password, given as "
		    "http://USER:PASSWORD@HOST:PORT in ";
	else if (status == 403)
		hint = ": its rules refuse this client or destination";
	snprintf(r->errtext, sizeof(r->errtext), "proxy %s (from %s) "
	    "answered CONNECT %s with %s%s%s", p->shown, p->var, r->target,
	    said, hint, status == 407 || status == 401 ? p->var : "");
}

/* Fill R->res from the finished transfer while the easy handle lives. */
static void
finish(struct http_req *r, CURLcode rc, const char *token_hdr)
{
	struct http_client *c = r->c;
	struct http_response *res = &r->res;
	curl_off_t v = 0;
	long n = 0;
	const char *msg;

	assert(r->state == REQ_ACTIVE && r->easy != NULL);	/* finished once */
	res->fail = r->too_big ? HTTP_ERR_TOO_BIG : classify(rc);
	res->proxy = r->px != NULL ? r->px->shown : NULL;
	res->retry_after_s = r->retry_after;
	res->elapsed_s = secs_since(r->t0);
	if (curl_easy_getinfo(r->easy, CURLINFO_STARTTRANSFER_TIME_T, &v) == CURLE_OK)
		res->ttfb_s = (double)v / 1e6;
	if (curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &n) == CURLE_OK)
		c->stats.connections += (unsigned long)n;
	if (curl_easy_getinfo(r->easy, CURLINFO_HEADER_SIZE, &n) == CURLE_OK)
		c->stats.bytes_in += (unsigned long long)n;
	if (curl_easy_getinfo(r->easy, CURLINFO_SIZE_DOWNLOAD_T, &v) == CURLE_OK)
		c->stats.bytes_in += (unsigned long long)v;
	/*
	 * REQUEST_SIZE counts the body too when curl sent it along with the
	 * headers (small bodies); add the upload only when it plainly did not.
	 */
	n = 0;
	v = 0;
	curl_easy_getinfo(r->easy, CURLINFO_REQUEST_SIZE, &n);
	curl_easy_getinfo(r->easy, CURLINFO_SIZE_UPLOAD_T, &v);
	c->stats.bytes_out += (unsigned long long)n;
	if (v > n)
		c->stats.bytes_out += (unsigned long long)v;
	if (res->fail == HTTP_OK) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res->status);
		res->body = r->body.data != NULL ? r->body.data : "";
		res->len = r->body.len;
		return;
	}
	if (r->too_big) {
		snprintf(r->errtext, sizeof(r->errtext),
		    "response body larger than %zu bytes", c->opts.max_body_bytes);
		res->error = r->errtext;
	} else if (r->px != NULL && curl_easy_getinfo(r->easy,
	    CURLINFO_HTTP_CONNECTCODE, &n) == CURLE_OK && n != 0 &&
	    n / 100 != 2) {
		res->fail = HTTP_ERR_PROXY;
		res->proxy_status = n;
		res->proxy_auth = r->px->user != NULL;
		proxy_refused(r, n);
		res->error = r->errtext;
	} else {
		msg = r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(rc);
		/* Belt and braces: never hand out text holding a secret. */
		if ((token_hdr != NULL && strstr(msg, token_hdr) != NULL) ||
		    holds_credentials(r->px, msg))
			msg = curl_easy_strerror(rc);
		if (r->px != NULL)
			snprintf(r->errtext, sizeof(r->errtext), "%s (curl %d, "
			    "through the proxy %s from %s)", msg, (int)rc,
			    r->px->shown, r->px->var);
		else
			snprintf(r->errtext, sizeof(r->errtext), "%s (curl %d)",
			    msg, (int)rc);
		res->error = r->errtext;
	}
	res->body = "";
}

/* The token as it appears in the header list, or NULL. */
static const char *
token_of(const struct http_req *r)
{
	static const char pfx[] = "Authorization: Bearer ";
	const struct curl_slist *p;

	for (p = r->hdrs; p != NULL; p = p->next)
		if (strncmp(p->data, pfx, sizeof(pfx) - 1) == 0)
			return p->data + sizeof(pfx) - 1;
	return NULL;
}

/* Take R out of curl; its connection stays in the cache for reuse. */
static void
detach(struct http_req *r)
{
	assert(r->easy != NULL);	/* taken out of curl once */
	curl_multi_remove_handle(r->c->multi, r->easy);
	curl_easy_cleanup(r->easy);
	r->easy = NULL;
	free_headers(r->hdrs);
	r->hdrs = NULL;
}

static void
run_callback(struct http_client *c, struct http_req *r)
{
	/* CB runs exactly once, and R counts as in flight until it does. */
	assert(r->state != REQ_CALLING && c->stats.in_flight > 0);
	c->stats.in_flight--;
	r->state = REQ_CALLING;
	r->cb(r->arg, &r->res);
	req_free(r);
}

/*
 * Move every finished transfer to the done list first, then call back:
 * a callback may post, cancel or close, and curl's message list must not
 * be walked while that happens.
 */
static void
check_multi_info(struct http_client *c)
{
	struct http_req *r;
	CURLMsg *m;
	char *priv;
	int left;

	while (!c->closing && (m = curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		r = (struct http_req *)priv;
		assert(r != NULL && r->state == REQ_ACTIVE);	/* done once */
		finish(r, m->data.result, token_of(r));
		detach(r);
		TAILQ_REMOVE(&c->active, r, entry);
		TAILQ_INSERT_TAIL(&c->done, r, entry);
		r->state = REQ_DONE;
	}
	while ((r = TAILQ_FIRST(&c->done)) != NULL) {
		TAILQ_REMOVE(&c->done, r, entry);
		run_callback(c, r);
	}
}

void
http_cancel(struct http_req *r)
{
	struct http_client *c;

	if (r == NULL)
		return;
	c = r->c;
	switch (r->state) {
	case REQ_ACTIVE:
		detach(r);
		TAILQ_REMOVE(&c->active, r, entry);
		break;
	case REQ_DONE:
		TAILQ_REMOVE(&c->done, r, entry);
		break;
	case REQ_CALLING:
		return;		/* freed when its callback returns */
	}
	assert(c->stats.in_flight > 0);	/* R was counted in http_post */
	c->stats.in_flight--;
	req_free(r);
}

static void
cancel_all(struct http_client *c, struct req_list *l)
{
	struct http_req *r;

	/* Pop one at a time: a callback may cancel others on the list. */
	while ((r = TAILQ_FIRST(l)) != NULL) {
		TAILQ_REMOVE(l, r, entry);
		if (r->easy != NULL)
			detach(r);
		memset(&r->res, 0, sizeof(r->res));
		r->res.fail = HTTP_ERR_OTHER;
		r->res.body = "";
		r->res.retry_after_s = -1;
		r->res.elapsed_s = secs_since(r->t0);
		r->res.error = "cancelled";
		run_callback(c, r);
	}
}

void
http_client_close(struct http_client *c)
{
	struct http_sock *s;

	if (c == NULL || c->closing)
		return;
	c->closing = 1;
	/*
	 * Close the polls while curl's sockets are still open, so libuv
	 * unwatches the right descriptors; curl closes them below.
	 */
	while ((s = LIST_FIRST(&c->socks)) != NULL) {
		curl_multi_assign(c->multi, s->fd, NULL);
		sock_close(s);
	}
	uv_timer_stop(&c->timer);
	cancel_all(c, &c->active);
	cancel_all(c, &c->done);
	/* Every callback ran, and none could post again (closing). */
	assert(TAILQ_EMPTY(&c->active) && TAILQ_EMPTY(&c->done));
	assert(c->stats.in_flight == 0 && LIST_EMPTY(&c->socks));
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	/* Whichever close callback runs last frees C. */
	c->closes_pending++;
	uv_close((uv_handle_t *)&c->timer, timer_closed);
}

void
http_get_stats(const struct http_client *c, struct http_stats *s)
{
	*s = c->stats;
}
