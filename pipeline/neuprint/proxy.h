/*
 * proxy: which HTTP proxy a request to an https:// URL goes through, read
 * from the environment once, as curl reads it: https_proxy, then
 * HTTPS_PROXY, then all_proxy, then ALL_PROXY (the first that is set and
 * not empty); no_proxy, then NO_PROXY, lists the hosts reached directly.
 * http.c decides with proxy_for and hands libcurl the answer
 * (CURLOPT_PROXY, "" for none), so what an error names is the proxy that
 * was used. The URL may hold a user and password: only `shown` (no
 * credentials) ever goes into a message.
 */
#ifndef QP_PROXY_H
#define QP_PROXY_H

#include <stddef.h>

/* The variables that may name the proxy, in order; they may hold a password. */
#define PROXY_NVARS	4
extern const char *const proxy_vars[PROXY_NVARS];

struct proxy {
	char		*url;		/* as given, for libcurl; NULL: none */
	char		*shown;		/* scheme://host[:port], no credentials */
	const char	*var;		/* the variable it came from */
	char		*user;		/* decoded, for scrubbing messages; NULL: none */
	char		*password;
	char		*basic;		/* base64(user:password), as sent; NULL: none */
	char		*no_proxy;	/* NULL: none */
	const char	*no_var;
};

/*
 * Fill P from the environment. A proxy URL that cannot be used is an
 * error: -EINVAL, with ERR naming the variable (never its credentials).
 */
int	 proxy_from_env(struct proxy *p, char *err, size_t errlen);
void	 proxy_free(struct proxy *p);

/* 1 when HOST (a name or an address, IPv6 with or without []) is in LIST. */
int	 proxy_bypass(const char *list, const char *host);

/* The proxy for URL (https://host[:port]/...): P's, or NULL for direct. */
const struct proxy *proxy_for(const struct proxy *p, const char *url);

#endif
