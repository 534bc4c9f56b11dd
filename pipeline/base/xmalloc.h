/*
 * xmalloc: the out-of-memory policy. quickpage does not try to go on
 * without memory: a failed allocation prints one line naming its size and
 * aborts, as chrony's Malloc() does. Every allocation in quickpage goes
 * through these, and the libraries' allocators point here (cJSON, libuv
 * and SQLite by xmalloc_install_*, libcurl by xmalloc_curl_init, libcyaml
 * by xmalloc_cyaml), so no caller has an ENOMEM branch to get wrong and none
 * is left untested. libyaml alone has no allocator hook: when it runs
 * out, the file it reads is reported as bad YAML.
 */
#ifndef QP_XMALLOC_H
#define QP_XMALLOC_H

#include <stddef.h>

/*
 * Never NULL, and the compiler is told so. No malloc(free) deallocator
 * attribute: with it gcc 12's analyzer tracks these blocks and reports a
 * leak at nearly every store into a heap array (a[i] = xstrdup(...)),
 * a false positive; leaks are caught at run time instead (LeakSanitizer
 * in every test, the valgrind suite).
 */
#define XMALLOC_FN	__attribute__((malloc, returns_nonnull))

void	*xmalloc(size_t n) XMALLOC_FN __attribute__((alloc_size(1)));
void	*xcalloc(size_t n, size_t size) XMALLOC_FN
	    __attribute__((alloc_size(1, 2)));
void	*xrealloc(void *p, size_t n) __attribute__((returns_nonnull,
	    alloc_size(2)));
/* realloc to N * SIZE, checked for overflow. */
void	*xreallocarray(void *p, size_t n, size_t size)
	    __attribute__((returns_nonnull, alloc_size(2, 3)));
char	*xstrdup(const char *s) XMALLOC_FN;
char	*xstrndup(const char *s, size_t n) XMALLOC_FN;
char	*xasprintf(const char *fmt, ...) XMALLOC_FN
	    __attribute__((format(printf, 1, 2)));

/*
 * Route a library's allocations through the policy. Call each once, first
 * thing in main(), before the library is used. One per library, each in
 * its own file, so a program loads only the libraries it uses: qpctl
 * installs cJSON's alone (xmalloc.c); libuv's is in xmalloc_uv.c, SQLite's
 * in xmalloc_sqlite.c (the qpxmalloc_libs library, which qpctl does not
 * link).
 */
void	 xmalloc_install_cjson(void);
void	 xmalloc_install_uv(void);
void	 xmalloc_install_sqlite(void);
/*
 * The daemon's set: cJSON, libuv and SQLite (libcurl's is per client,
 * libcyaml's per call, below). quickpaged's main calls it, and so does
 * every test that allocates as the daemon does.
 */
static inline void
xmalloc_install(void)
{
	xmalloc_install_cjson();
	xmalloc_install_uv();
	xmalloc_install_sqlite();
}
/*
 * curl_global_init with the policy's allocator: 0 or -EIO. libcurl counts
 * its inits, so this may run each time a client is made (http.c does).
 * It is in xmalloc_curl.c: qpctl, which links xmalloc.c but not
 * libcurl, must not load libcurl and its dozens of libraries to start.
 */
int	 xmalloc_curl_init(void);
/*
 * libcyaml's allocator (cyaml_config_t.mem_fn), which it takes per call
 * rather than globally: realloc to N, or free P when N is 0.
 */
void	*xmalloc_cyaml(void *ctx, void *p, size_t n);

#endif
