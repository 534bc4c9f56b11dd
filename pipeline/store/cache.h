/*
 * cache: what the fetch stage learned, kept across runs in one SQLite file
 * (DIR/cache.db, WAL, mode 0600), so a nightly rebuild of an unchanged
 * dataset asks the server only for its version (docs/cache.md).
 *
 * An entry is one page stem of one dataset version: the accumulators
 * (struct ts_acc) of every candidate type name that had rows, none for a
 * stem that names no type. Accumulators come before the ROI rules, so the
 * rule set and the threshold are applied to cached data as to fresh data
 * and are not part of the key. The key of a version is the server, the
 * dataset, Meta.uuid, Meta.lastDatabaseEdit and the query generation
 * (CY_QUERY_GENERATION in cypher.h).
 *
 * Every call blocks (file I/O, fsync, SQLite's locks): call them from a
 * worker thread, never from the loop (pipeline/store/cachework.c does). A handle
 * is used by one thread at a time; several handles, in one process or
 * many, share the file safely (SQLite's locking, busy time-out 30 s).
 */
#ifndef QP_CACHE_H
#define QP_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "index/roi.h"
#include "index/typeset.h"

/* PRAGMA user_version of the file; cache_open upgrades a version 1 file. */
#define CACHE_SCHEMA_VERSION	2
#define CACHE_FILE		"cache.db"

struct cache;

/*
 * The server of a key: the URL, and the CA file trusted for it when there
 * is one (what another CA vouches for is another server). Caller frees.
 */
char	*cache_server(const char *url, const char *ca_file);

struct cache_key {
	const char	*server;
	const char	*dataset;
	const char	*uuid;
	const char	*edit;		/* lastDatabaseEdit, "" if none */
	unsigned	 generation;	/* CY_QUERY_GENERATION */
	unsigned	 nprimary;	/* primary ROIs: the accumulators' width */
};

/*
 * Open or create DIR/CACHE_FILE (DIR is made, 0700, when missing). A file
 * that is not a sound cache of this schema (garbage, truncated, another
 * program's database, another schema, failing quick_check) is moved aside
 * to CACHE_FILE.bad-TIME and a new one made; NOTE then holds one line
 * saying what and where (else ""). Errors (negative errno, SQLite's text in
 * err): the directory or file cannot be made or written, e.g. -ENOSPC.
 * CACHE_OPEN_CHECK runs quick_check (reads the whole file); without it
 * only the header, application_id and schema version are checked, for a
 * store right after a checked load.
 */
#define CACHE_OPEN_CHECK	1
int	 cache_open(const char *dir, unsigned flags, struct cache **out,
	    char *note, size_t notelen, char *err, size_t errlen);
void	 cache_close(struct cache *c);

/* One stored stem: its name and its encoded entry (store/cachecodec.h). */
typedef int (*cache_each_cb)(void *arg, const char *stem, const void *data,
	    size_t len);
/*
 * Every entry of version K whose checksum holds; CB returning nonzero
 * stops. *BAD counts entries whose checksum failed (never handed out).
 * 0 (also when K is not stored), or a negative errno.
 */
int	 cache_load(struct cache *c, const struct cache_key *k,
	    cache_each_cb cb, void *arg, size_t *bad, char *err,
	    size_t errlen);

/*
 * The version of K's server, dataset and generation used last (K's uuid,
 * edit and nprimary are ignored): its uuid and edit into the buffers,
 * *NPRIMARY, and *META (caller frees; NULL if none was stored: see
 * cache_run). 0; -ENOENT when none is stored; another negative errno.
 */
int	 cache_latest(struct cache *c, const struct cache_key *k, char *uuid,
	    size_t uuidlen, char *edit, size_t editlen, unsigned *nprimary,
	    char **meta, char *err, size_t errlen);

struct cache_entry {
	const char	*stem;
	const void	*data;
	size_t		 len;
};

/* What a run did, for cache_stats. */
struct cache_run {
	const char	*mode;		/* "use", "refresh" */
	uint64_t	 hits, misses;
	/*
	 * The version's META answer as the job keys its ROI stage by it
	 * (job.c, meta_text), stored with the version; NULL: left as it is.
	 */
	const char	*meta;
};

/*
 * In one transaction: write the N entries of version K (replacing any
 * stored), note the run, mark K used, and when PRUNE drop every other
 * version of K's server and dataset (the caller has written its index).
 * Versions unused for 30 days go too. -ENOSPC when the disk is full.
 */
int	 cache_store(struct cache *c, const struct cache_key *k,
	    const struct cache_entry *e, size_t n, const struct cache_run *run,
	    int prune, char *err, size_t errlen);

/*
 * The cache's contents as a JSON object (caller frees): file bytes,
 * entries, versions [{server, dataset, version, generation, entries,
 * bytes, used}], runs (the last ones, newest first) and their hit rate.
 * SERVER and DATASET (both or neither) narrow it to one site.
 */
int	 cache_stats(struct cache *c, const char *server, const char *dataset,
	    struct cJSON **out, char *err, size_t errlen);
/* Drop every version (of SERVER and DATASET when given); *N: entries gone. */
int	 cache_clear(struct cache *c, const char *server, const char *dataset,
	    uint64_t *n, char *err, size_t errlen);

#endif
