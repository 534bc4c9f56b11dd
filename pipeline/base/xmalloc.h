/*
 * xmalloc: the out-of-memory policy. quickpage does not try to go on
 * without memory: a failed allocation prints one line naming its size and
 * aborts, as chrony's Malloc() does. Every allocation in quickpage goes
 * through these, and the libraries' allocators point here (cJSON, libuv
 * and SQLite by xmalloc_install, libcurl by xmalloc_curl_init, libcyaml by
 * xmalloc_cyaml), so no caller has an ENOMEM branch to get wrong and none
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
 * Route cJSON's, libuv's and SQLite's allocations through the policy. Call
 * once, first thing in main(), before any of them is used.
 */
void	 xmalloc_install(void);
/*
 * curl_global_init with the policy's allocator: 0 or -EIO. libcurl counts
 * its inits, so this may run each time a client is made (http.c does).
 * It is in xmalloc_curl.c: qpctl, which links this library but not
 * libcurl, must not load libcurl and its dozens of libraries to start.
 */
int	 xmalloc_curl_init(void);
/*
 * libcyaml's allocator (cyaml_config_t.mem_fn), which it takes per call
 * rather than globally: realloc to N, or free P when N is 0.
 */
void	*xmalloc_cyaml(void *ctx, void *p, size_t n);

#endif
