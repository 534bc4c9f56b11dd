/*
 * proxy: the environment's proxy settings, and which hosts bypass them.
 * See proxy.h. The rules are libcurl's (7.88, lib/noproxy.c and
 * detect_proxy in lib/url.c), written down in docs/daemon.md, "Proxies":
 * quickpage decides by them itself and tells libcurl the outcome, so that
 * an error can name the proxy the request went through.
 */
#include <arpa/inet.h>

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "neuprint/proxy.h"
#include "base/xmalloc.h"

/* Earlier wins; an empty value counts as unset (as in curl). */
const char *const proxy_vars[PROXY_NVARS] = {
	"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
};
static const char *const no_proxy_vars[] = { "no_proxy", "NO_PROXY" };

/* What libcurl can tunnel through (CURLOPT_PROXY). */
static const char *const schemes[] = {
	"http", "https", "socks4", "socks4a", "socks5", "socks5h",
};

static const char *
first_set(const char *const *vars, size_t n, const char **val)
{
	const char *v;
	size_t i;

	for (i = 0; i < n; i++)
		if ((v = getenv(vars[i])) != NULL && *v != '\0') {
			*val = v;
			return vars[i];
		}
	return NULL;
}

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* A copy of PART of H (curl's string freed), or NULL. */
static char *
url_part(CURLU *h, CURLUPart part, unsigned flags)
{
	char *v = NULL, *copy;

	if (curl_url_get(h, part, &v, flags) != CURLUE_OK)
		return NULL;
	copy = xstrdup(v);
	explicit_bzero(v, strlen(v));
	curl_free(v);
	return copy;
}

static int
known_scheme(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strcasecmp(s, schemes[i]) == 0)
			return 1;
	return 0;
}

/*
 * base64("USER:PASSWORD"), the Proxy-Authorization: Basic value: a proxy
 * that echoes the request in its answer must not bring it into a message.
 */
static char *
basic_credentials(const char *user, const char *password)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *plain, *out;
	size_t len, i, o = 0;
	unsigned v;

	plain = xasprintf("%s:%s", user, password ? password : "");
	len = strlen(plain);
	out = xmalloc((len + 2) / 3 * 4 + 1);
	for (i = 0; i < len; i += 3) {
		v = (unsigned)(unsigned char)plain[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)(unsigned char)plain[i + 1] << 8;
		if (i + 2 < len)
			v |= (unsigned char)plain[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? b64[v & 63] : '=';
	}
	assert(o == (len + 2) / 3 * 4);	/* four characters per three bytes */
	out[o] = '\0';
	wipe_free(plain);
	return out;
}

/* P->url parsed: the shown form and the credentials. */
static int
parse_proxy(struct proxy *p, char *err, size_t errlen)
{
	CURLU *h;
	char *url, *scheme = NULL, *host = NULL, *port = NULL;
	int rc = -EINVAL;

	assert(p->url != NULL && p->var != NULL);	/* proxy_from_env found one */
	/* No scheme is http://, as for curl (the URL API would say https). */
	url = strstr(p->url, "://") ? xstrdup(p->url) :
	    xasprintf("http://%s", p->url);
	h = curl_url();
	if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) !=
	    CURLUE_OK || (scheme = url_part(h, CURLUPART_SCHEME, 0)) == NULL ||
	    (host = url_part(h, CURLUPART_HOST, 0)) == NULL) {
		snprintf(err, errlen, "%s is not a proxy URL (expected "
		    "http://[USER:PASSWORD@]HOST:PORT)", p->var);
		goto out;
	}
	if (!known_scheme(scheme)) {
		snprintf(err, errlen, "%s: unsupported proxy scheme \"%.20s\" "
		    "(http, https, socks4, socks4a, socks5 or socks5h)",
		    p->var, scheme);
		goto out;
	}
	port = url_part(h, CURLUPART_PORT, 0);
	p->shown = xasprintf("%s://%s%s%s", scheme, host, port ? ":" : "",
	    port ? port : "");
	p->user = url_part(h, CURLUPART_USER, CURLU_URLDECODE);
	p->password = url_part(h, CURLUPART_PASSWORD, CURLU_URLDECODE);
	if (p->user != NULL)
		p->basic = basic_credentials(p->user, p->password);
	rc = 0;
out:
	curl_url_cleanup(h);
	wipe_free(url);
	free(scheme);
	free(host);
	free(port);
	return rc;
}

int
proxy_from_env(struct proxy *p, char *err, size_t errlen)
{
	const char *v = NULL;
	int rc;

	memset(p, 0, sizeof(*p));
	p->no_var = first_set(no_proxy_vars, 2, &v);
	if (p->no_var != NULL)
		p->no_proxy = xstrdup(v);
	p->var = first_set(proxy_vars, PROXY_NVARS, &v);
	if (p->var == NULL)
		return 0;
	p->url = xstrdup(v);
	if ((rc = parse_proxy(p, err, errlen)) < 0)
		proxy_free(p);
	/* A proxy in use always has its shown form: messages use only it. */
	assert(rc < 0 || p->shown != NULL);
	/* The Basic value exactly when there are credentials to scrub. */
	assert(rc < 0 || (p->user != NULL) == (p->basic != NULL));
	return rc;
}

void
proxy_free(struct proxy *p)
{
	wipe_free(p->url);
	wipe_free(p->user);
	wipe_free(p->password);
	wipe_free(p->basic);
	free(p->shown);
	free(p->no_proxy);
	memset(p, 0, sizeof(*p));
}

/* ADDR in NET/BITS; both of FAMILY's length N bytes. */
static int
in_net(const unsigned char *addr, const unsigned char *net, unsigned bits,
    size_t n)
{
	size_t whole = bits / 8;
	unsigned rest = bits % 8;
	unsigned char mask;

	if (bits > n * 8)
		return 0;
	assert(whole + (rest != 0) <= n);	/* ADDR and NET hold N bytes */
	if (memcmp(addr, net, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (addr[whole] & mask) == (net[whole] & mask);
}

/* An address host against one entry: the address itself, or ADDR/BITS. */
static int
match_addr(int family, const unsigned char *addr, const char *tok, size_t len)
{
	unsigned char net[16];
	char buf[64], *slash, *end;
	unsigned long bits;
	size_t n = family == AF_INET ? 4 : 16;

	assert(family == AF_INET || family == AF_INET6);	/* proxy_bypass's */
	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, tok, len);
	buf[len] = '\0';
	bits = n * 8;
	if ((slash = strchr(buf, '/')) != NULL) {
		*slash = '\0';
		bits = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || end == slash + 1)
			return 0;
		if (bits == 0)		/* as curl: /0 is the address alone */
			bits = n * 8;
	}
	if (inet_pton(family, buf, net) != 1)
		return 0;
	return in_net(addr, net, (unsigned)bits, n);
}

/* A name against one entry: itself, or a name under it. */
static int
match_name(const char *name, size_t nlen, const char *tok, size_t len)
{
	if (len > 0 && tok[len - 1] == '.')
		len--;
	if (len > 0 && tok[0] == '.') {
		tok++;
		len--;
	}
	if (len == 0)
		return 0;
	if (len == nlen)
		return strncasecmp(tok, name, len) == 0;
	return len < nlen && name[nlen - len - 1] == '.' &&
	    strncasecmp(tok, name + nlen - len, len) == 0;
}

int
proxy_bypass(const char *list, const char *host)
{
	unsigned char addr[16];
	char name[256];
	const char *p, *tok;
	size_t nlen, len;
	int family = 0;

	if (list == NULL || host == NULL)
		return 0;
	while (*list == ' ' || *list == '\t')
		list++;
	/* "*" alone: every host (and only alone, as in curl). */
	if (list[0] == '*' && list[1 + strspn(list + 1, " \t")] == '\0')
		return 1;
	nlen = strlen(host);
	if (host[0] == '[' && nlen > 2 && host[nlen - 1] == ']') {
		host++;
		nlen -= 2;
	}
	if (nlen == 0 || nlen >= sizeof(name))
		return 0;
	memcpy(name, host, nlen);
	name[nlen] = '\0';
	if (inet_pton(AF_INET, name, addr) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, name, addr) == 1)
		family = AF_INET6;
	else if (name[nlen - 1] == '.')
		name[--nlen] = '\0';	/* "example.org." is example.org */
	for (p = list; *p != '\0';) {
		p += strspn(p, " \t,");
		tok = p;
		p += strcspn(p, " \t,");
		if ((len = (size_t)(p - tok)) == 0)
			continue;
		if (family != 0 ? match_addr(family, addr, tok, len) :
		    match_name(name, nlen, tok, len))
			return 1;
	}
	return 0;
}

const struct proxy *
proxy_for(const struct proxy *p, const char *url)
{
	const struct proxy *use = p;
	CURLU *h;
	char *host = NULL;

	if (p == NULL || p->url == NULL)
		return NULL;
	if (p->no_proxy == NULL)
		return p;
	h = curl_url();
	if (curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    proxy_bypass(p->no_proxy, host))
		use = NULL;
	curl_free(host);
	curl_url_cleanup(h);
	assert(use == NULL || use->shown != NULL);	/* a proxy that can be named */
	return use;
}
