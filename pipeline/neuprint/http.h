/*
 * http: HTTPS POSTs on a libuv loop through libcurl's multi_socket
 * interface (uv_poll per socket, one uv_timer; no threads). Connections
 * are reused. The bearer token goes into a header and nowhere else.
 * Requests go through the environment's proxy (proxy.h), read once when
 * the client is made.
 */
#ifndef QP_HTTP_H
#define QP_HTTP_H

#include <stddef.h>

#include <uv.h>

struct http_client;		/* opaque; one per loop */
struct http_req;		/* opaque; lives until its callback returns */

struct http_opts {
	const char	*ca_file;		/* NULL: system store; verification always on */
	long		 connect_timeout_ms;
	long		 total_timeout_ms;
	long		 low_speed_time_s;	/* abort below 1 B/s for this long; 0: off */
	long		 max_host_connections;	/* 0: libcurl default */
	size_t		 max_body_bytes;	/* bigger answers fail (HTTP_ERR_TOO_BIG); 0: no cap */
};

enum http_fail {
	HTTP_OK = 0,		/* a response arrived (any status) */
	HTTP_ERR_CONNECT,	/* refused, unreachable, DNS */
	HTTP_ERR_TLS,		/* handshake or certificate verification */
	HTTP_ERR_TIMEOUT,	/* connect, total or low-speed time-out */
	HTTP_ERR_RESET,		/* connection reset or closed mid-response */
	HTTP_ERR_TOO_BIG,	/* the answer passed max_body_bytes: not read on */
	HTTP_ERR_PROXY,		/* the proxy answered CONNECT with no tunnel */
	HTTP_ERR_OTHER,
};

struct http_response {
	enum http_fail	 fail;
	long		 status;	/* 0 unless fail == HTTP_OK */
	const char	*body;		/* NUL-terminated, valid during the callback */
	size_t		 len;
	double		 retry_after_s;	/* Retry-After seconds, -1 if absent */
	double		 elapsed_s;	/* submit to completion */
	double		 ttfb_s;	/* to first response byte */
	const char	*error;		/* human text when fail != HTTP_OK (no secrets) */
	long		 proxy_status;	/* HTTP_ERR_PROXY: the proxy's answer to CONNECT */
	int		 proxy_auth;	/* HTTP_ERR_PROXY: credentials were sent to it */
	const char	*proxy;		/* the proxy used, no credentials; NULL: none */
};

typedef void (*http_cb)(void *arg, const struct http_response *res);

/* -EINVAL: the environment's proxy URL cannot be used (proxy_from_env). */
int	 http_client_new(uv_loop_t *loop, const struct http_opts *o,
	    struct http_client **out);
/*
 * Close: cancels requests in flight (their callbacks run with
 * HTTP_ERR_OTHER, "cancelled"), then frees once the uv handles are closed.
 */
void	 http_client_close(struct http_client *c);

/*
 * POST BODY (JSON) to URL with "Authorization: Bearer TOKEN". The body is
 * copied. CB runs exactly once on the loop unless http_cancel is called.
 */
int	 http_post(struct http_client *c, const char *url, const char *token,
	    const char *body, size_t len, http_cb cb, void *arg,
	    struct http_req **out);
/* Drop a request; its callback never runs. */
void	 http_cancel(struct http_req *r);

/*
 * Test seams: exported for tests/unit/test_http.c, read by nothing in the
 * pipeline.
 * http_get_stats: the client's counters.
 */
struct http_stats {
	unsigned long	 requests;
	unsigned long	 connections;	/* new connections opened */
	unsigned long long bytes_in;
	unsigned long long bytes_out;
	unsigned	 in_flight;
};
void	 http_get_stats(const struct http_client *c, struct http_stats *s);

#endif
