/*
 * cache: the persistent fetch cache in SQLite. See cache.h and
 * docs/cache.md (schema and encoding).
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "base/fio.h"
#include "store/cache.h"
#include "base/xmalloc.h"

/*
 * PRAGMA application_id, so another program's database is told apart:
 * 0x51506368, "QPch".
 */
#define CACHE_APP_ID	1364222824
#define STR_(x)		#x
#define STR(x)		STR_(x)
#define UNUSED_DAYS	30		/* versions unused this long are dropped */
#define KEEP_RUNS	200		/* run records kept for stats */
#define BUSY_MS		30000

struct cache {
	sqlite3		*db;
	char		*path;
	struct fio	 io;	/* the test holds (base/fio.h) */
};

static const char schema[] =
    "CREATE TABLE versions("
    " id INTEGER PRIMARY KEY,"
    " server TEXT NOT NULL, dataset TEXT NOT NULL,"
    " uuid TEXT NOT NULL, edit TEXT NOT NULL,"
    " generation INTEGER NOT NULL, nprimary INTEGER NOT NULL,"
    " created REAL NOT NULL, used REAL NOT NULL,"
    " meta TEXT,"
    " UNIQUE(server, dataset, uuid, edit, generation, nprimary));"
    "CREATE TABLE stems("
    " version INTEGER NOT NULL, stem TEXT NOT NULL,"
    " sum INTEGER NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY(version, stem)) WITHOUT ROWID;"
    "CREATE TABLE runs("
    " id INTEGER PRIMARY KEY, at REAL NOT NULL,"
    " server TEXT NOT NULL, dataset TEXT NOT NULL, version TEXT NOT NULL,"
    " mode TEXT NOT NULL, hits INTEGER NOT NULL, misses INTEGER NOT NULL);"
    "PRAGMA application_id = " STR(CACHE_APP_ID) ";"
    "PRAGMA user_version = " STR(CACHE_SCHEMA_VERSION) ";";

char *
cache_server(const char *url, const char *ca_file)
{
	if (ca_file == NULL || ca_file[0] == '\0')
		return xstrdup(url);
	return xasprintf("%s (ca_file %s)", url, ca_file);
}

static int
db_err(sqlite3 *db, char *err, size_t errlen, const char *what)
{
	int code = db ? sqlite3_errcode(db) : SQLITE_NOMEM;

	assert(err != NULL && errlen > 0);	/* every caller wants the text */

	snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) :
	    "cannot open");
	if (code == SQLITE_FULL)
		return -ENOSPC;
	if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		return -EBUSY;
	if (code == SQLITE_READONLY || code == SQLITE_PERM ||
	    code == SQLITE_CANTOPEN)
		return -EACCES;
	return -EIO;
}

static int
exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int64_t
pragma_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* FNV-1a, 64 bits: catches a flipped or lost byte in an entry. */
static int64_t
checksum(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *s++) * 0x100000001b3ULL;
	return (int64_t)h;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * Whether PATH-wal holds frames: then pages newer than the main file's
 * live there, and a checkpoint in flight (another connection's) writes
 * page 1, with the new page count, before the pages after it.
 */
static int
wal_busy(const char *path)
{
	struct stat sb;
	char *wal = xasprintf("%s-wal", path);
	int busy = stat(wal, &sb) == 0 && sb.st_size > 0;

	free(wal);
	return busy;
}

/*
 * What is wrong with the file at PATH as a SQLite database, from its
 * header alone: "" when nothing (or when it is absent or empty: a new
 * file), else why. The page count is believed only while no WAL holds
 * frames: beside a live WAL the file may be shorter for a moment (seen
 * with two jobs of one cache at once), and a crash's WAL is replayed by
 * SQLite itself.
 */
static void
check_header(const char *path, char *why, size_t len)
{
	unsigned char h[100];
	struct stat sb;
	uint32_t psz, pages;
	ssize_t n;
	int fd;

	why[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	if (fstat(fd, &sb) < 0 || sb.st_size == 0) {
		close(fd);
		return;
	}
	n = read(fd, h, sizeof(h));
	close(fd);
	if (n != (ssize_t)sizeof(h) || memcmp(h, "SQLite format 3", 16) != 0) {
		snprintf(why, len, "not a SQLite database");
		return;
	}
	psz = (uint32_t)h[16] << 8 | h[17];
	if (psz == 1)
		psz = 65536;
	pages = be32(h + 28);
	/* The page count is valid when the change counters agree. */
	if (be32(h + 24) == be32(h + 92) &&
	    (uint64_t)sb.st_size < (uint64_t)psz * pages && !wal_busy(path))
		snprintf(why, len, "truncated (%lld of %llu bytes)",
		    (long long)sb.st_size, (unsigned long long)psz * pages);
}

/* What is wrong with an open database as our cache: "" if nothing. */
static void
check_db(sqlite3 *db, int full, char *why, size_t len)
{
	sqlite3_stmt *st;
	int64_t app, ver, tables;
	const char *r;

	why[0] = '\0';
	app = pragma_int(db, "PRAGMA application_id");
	ver = pragma_int(db, "PRAGMA user_version");
	tables = pragma_int(db, "SELECT count(*) FROM sqlite_master");
	if (app < 0 || ver < 0 || tables < 0) {
		snprintf(why, len, "unreadable (%s)", sqlite3_errmsg(db));
		return;
	}
	if (app == 0 && ver == 0 && tables == 0)
		return;			/* a new, empty file */
	if (app != CACHE_APP_ID) {
		snprintf(why, len, "another program's database "
		    "(application_id %lld)", (long long)app);
		return;
	}
	/* Version 1 lacks versions.meta: db_setup adds it. */
	if (ver != CACHE_SCHEMA_VERSION && ver != 1) {
		snprintf(why, len, "schema version %lld, this quickpaged uses "
		    "%d", (long long)ver, CACHE_SCHEMA_VERSION);
		return;
	}
	if (!full)
		return;
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL) !=
	    SQLITE_OK) {
		snprintf(why, len, "unreadable (%s)", sqlite3_errmsg(db));
		return;
	}
	if (sqlite3_step(st) != SQLITE_ROW)
		snprintf(why, len, "unreadable (%s)", sqlite3_errmsg(db));
	else if ((r = (const char *)sqlite3_column_text(st, 0)) == NULL ||
	    strcmp(r, "ok") != 0)
		snprintf(why, len, "damaged (%.200s)", r ? r : "?");
	sqlite3_finalize(st);
}

static int
db_connect(const char *path, sqlite3 **out, char *err, size_t errlen)
{
	char pragma[64];
	int fd, rc;

	/* Create it ourselves so it is 0600 from the start (SQLite: 0644). */
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	close(fd);
	*out = NULL;
	if (sqlite3_open_v2(path, out, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		rc = db_err(*out, err, errlen, path);
		sqlite3_close(*out);
		*out = NULL;
		return rc;
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA busy_timeout=%d", BUSY_MS);
	exec(*out, pragma);
	return 0;
}

/*
 * WAL: readers never wait for a writer, and a kill -9 or a crash leaves
 * the last committed state. NORMAL: a power cut may lose the last commit,
 * never consistency; a cache can afford that, not an fsync per page.
 */
static int
db_setup(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int rc;

	if (exec(db, "PRAGMA journal_mode=WAL") < 0 ||
	    exec(db, "PRAGMA synchronous=NORMAL") < 0)
		return db_err(db, err, errlen, path);
	if (pragma_int(db, "SELECT count(*) FROM sqlite_master") > 0 &&
	    pragma_int(db, "PRAGMA user_version") == CACHE_SCHEMA_VERSION)
		return 0;
	if (exec(db, "BEGIN IMMEDIATE") < 0)
		return db_err(db, err, errlen, path);
	/* Another process may have made or upgraded it meanwhile. */
	if ((pragma_int(db, "SELECT count(*) FROM sqlite_master") == 0 &&
	    exec(db, schema) < 0) ||
	    (pragma_int(db, "PRAGMA user_version") == 1 &&
	    exec(db, "ALTER TABLE versions ADD COLUMN meta TEXT;"
	    "PRAGMA user_version = " STR(CACHE_SCHEMA_VERSION)) < 0) ||
	    exec(db, "COMMIT") < 0) {
		rc = db_err(db, err, errlen, path);
		exec(db, "ROLLBACK");
		return rc;
	}
	return 0;
}

/* Move PATH (and its -wal, -shm) aside; NOTE says where and why. */
static void
move_aside(const char *path, const char *why, char *note, size_t notelen)
{
	char stamp[32], *to, *a, *b;
	struct tm tm;
	time_t now = time(NULL);

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	to = xasprintf("%s.bad-%s", path, stamp);
	if (rename(path, to) == 0)
		snprintf(note, notelen, "cache %s was %s: moved aside to %s, "
		    "starting a new one", path, why, to);
	else
		snprintf(note, notelen, "cache %s was %s and cannot be moved "
		    "aside (%s): removed, starting a new one", path, why,
		    strerror(errno));
	unlink(path);
	a = xasprintf("%s-wal", path);
	b = xasprintf("%s-shm", path);
	unlink(a);
	unlink(b);
	free(a);
	free(b);
	free(to);
}

/* mkdir -p DIR, each new level 0700 (~/.cache may not exist yet). */
static int
make_dirs(const char *dir)
{
	char *p = xstrdup(dir), *s, c;
	int rc = 0;

	for (s = p + 1; rc == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			rc = -1;
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

int
cache_open(const char *dir, unsigned flags, struct cache **out, char *note,
    size_t notelen, char *err, size_t errlen)
{
	struct cache *c;
	char why[300], *lock;
	int lfd, rc;

	note[0] = '\0';
	*out = NULL;
	if (make_dirs(dir) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cache directory %s: %s", dir,
		    strerror(errno));
		return rc;
	}
	c = xcalloc(1, sizeof(*c));
	c->path = xasprintf("%s/%s", dir, CACHE_FILE);
	(void)fio_from_env(&c->io);	/* only its holds are used */
	/*
	 * Check, move aside and create under a lock, so that one process
	 * never takes another's half-made file for garbage.
	 */
	lock = xasprintf("%s/%s.lock", dir, CACHE_FILE);
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(lock);
	if (lfd >= 0)
		while (flock(lfd, LOCK_EX) < 0 && errno == EINTR)
			;
	check_header(c->path, why, sizeof(why));
	if (why[0] == '\0') {
		if ((rc = db_connect(c->path, &c->db, err, errlen)) < 0)
			goto fail;
		check_db(c->db, (flags & CACHE_OPEN_CHECK) != 0, why,
		    sizeof(why));
		if (why[0] != '\0') {
			sqlite3_close(c->db);
			c->db = NULL;
		}
	}
	if (why[0] != '\0') {
		move_aside(c->path, why, note, notelen);
		if ((rc = db_connect(c->path, &c->db, err, errlen)) < 0)
			goto fail;
	}
	assert(c->db != NULL);	/* checked and kept, or made anew */
	if ((rc = db_setup(c->db, c->path, err, errlen)) < 0)
		goto fail;
	if (lfd >= 0)
		close(lfd);
	*out = c;
	return 0;
fail:
	if (lfd >= 0)
		close(lfd);
	cache_close(c);
	return rc;
}

void
cache_close(struct cache *c)
{
	if (c == NULL)
		return;
	sqlite3_close(c->db);
	free(c->path);
	free(c);
}

static int
prep(struct cache *c, const char *sql, sqlite3_stmt **st, char *err,
    size_t errlen)
{
	/* Every query goes through here, on a handle cache_open opened. */
	assert(c != NULL && c->db != NULL);
	if (sqlite3_prepare_v2(c->db, sql, -1, st, NULL) != SQLITE_OK)
		return db_err(c->db, err, errlen, "cache");
	return 0;
}

static void
bind_key(sqlite3_stmt *st, const struct cache_key *k)
{
	sqlite3_bind_text(st, 1, k->server, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, k->dataset, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, k->uuid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, k->edit ? k->edit : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, k->generation);
	sqlite3_bind_int64(st, 6, k->nprimary);
}

#define KEY_WHERE "server = ?1 AND dataset = ?2 AND uuid = ?3 AND " \
	"edit = ?4 AND generation = ?5 AND nprimary = ?6"

int
cache_load(struct cache *c, const struct cache_key *k, cache_each_cb cb,
    void *arg, size_t *bad, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	const void *data;
	size_t len;
	int rc, s;

	*bad = 0;
	assert(cb != NULL && k->uuid != NULL);	/* a load names its version */
	if ((rc = prep(c, "SELECT s.stem, s.sum, s.data FROM stems s JOIN "
	    "versions v ON v.id = s.version WHERE " KEY_WHERE, &st, err,
	    errlen)) < 0)
		return rc;
	bind_key(st, k);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *stem = (const char *)sqlite3_column_text(st, 0);

		data = sqlite3_column_blob(st, 2);
		len = (size_t)sqlite3_column_bytes(st, 2);
		if (stem == NULL || data == NULL ||
		    checksum(data, len) != sqlite3_column_int64(st, 1)) {
			++*bad;
			continue;
		}
		if (cb(arg, stem, data, len))
			break;
	}
	rc = s == SQLITE_DONE || s == SQLITE_ROW ? 0 :
	    db_err(c->db, err, errlen, "reading the cache");
	sqlite3_finalize(st);
	return rc;
}

int
cache_latest(struct cache *c, const struct cache_key *k, char *uuid,
    size_t uuidlen, char *edit, size_t editlen, unsigned *nprimary,
    char **meta, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	const char *m;
	int rc, s;

	*meta = NULL;
	if ((rc = prep(c, "SELECT uuid, edit, nprimary, meta FROM versions WHERE "
	    "server = ?1 AND dataset = ?2 AND generation = ?3 ORDER BY used "
	    "DESC, id DESC LIMIT 1", &st, err, errlen)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, k->server, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, k->dataset, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, k->generation);
	if ((s = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(uuid, uuidlen, "%s", sqlite3_column_text(st, 0));
		snprintf(edit, editlen, "%s", sqlite3_column_text(st, 1));
		*nprimary = (unsigned)sqlite3_column_int64(st, 2);
		if ((m = (const char *)sqlite3_column_text(st, 3)) != NULL)
			*meta = xstrdup(m);
		rc = 0;
	} else
		rc = s == SQLITE_DONE ? -ENOENT : db_err(c->db, err, errlen,
		    "reading the cache");
	sqlite3_finalize(st);
	return rc;
}

/* The id of version K, made if new. */
static int
version_id(struct cache *c, const struct cache_key *k, double now,
    int64_t *id, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prep(c, "INSERT INTO versions(server, dataset, uuid, edit, "
	    "generation, nprimary, created, used) VALUES(?1, ?2, ?3, ?4, ?5, "
	    "?6, ?7, ?7) ON CONFLICT DO UPDATE SET used = ?7", &st, err,
	    errlen)) < 0)
		return rc;
	bind_key(st, k);
	sqlite3_bind_double(st, 7, now);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 :
	    db_err(c->db, err, errlen, "writing the cache");
	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	if ((rc = prep(c, "SELECT id FROM versions WHERE " KEY_WHERE, &st,
	    err, errlen)) < 0)
		return rc;
	bind_key(st, k);
	rc = sqlite3_step(st) == SQLITE_ROW ? 0 :
	    db_err(c->db, err, errlen, "writing the cache");
	*id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	/* Ours are rowids SQLite chose: positive (put_meta, the prune key). */
	assert(rc < 0 || *id > 0);
	return rc;
}

/* META's answer for version ID (cache_run.meta). */
static int
put_meta(struct cache *c, int64_t id, const char *meta, char *err,
    size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prep(c, "UPDATE versions SET meta = ?1 WHERE id = ?2", &st,
	    err, errlen)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, meta, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 :
	    db_err(c->db, err, errlen, "writing the cache");
	sqlite3_finalize(st);
	return rc;
}

static int
put_entries(struct cache *c, int64_t id, const struct cache_entry *e,
    size_t n, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	size_t i;
	int rc;

	if ((rc = prep(c, "INSERT OR REPLACE INTO stems(version, stem, sum, "
	    "data) VALUES(?, ?, ?, ?)", &st, err, errlen)) < 0)
		return rc;
	assert(n == 0 || e != NULL);	/* N entries to write */
	for (i = 0; i < n && rc == 0; i++) {
		assert(e[i].stem != NULL && e[i].data != NULL);	/* NOT NULL columns */
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, e[i].stem, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, checksum(e[i].data, e[i].len));
		sqlite3_bind_blob(st, 4, e[i].data, (int)e[i].len,
		    SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = db_err(c->db, err, errlen, "writing the cache");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Run SQL with ?1 = A (text or NULL), ?2 = B, ?3 = X (number). */
static int
run_sql(struct cache *c, const char *sql, const char *a, const char *b,
    double x, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prep(c, sql, &st, err, errlen)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, x);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 :
	    db_err(c->db, err, errlen, "writing the cache");
	sqlite3_finalize(st);
	return rc;
}

/* Drop versions that match WHERE (over versions), with their entries. */
static int
drop_versions(struct cache *c, const char *where, const char *a,
    const char *b, double x, char *err, size_t errlen)
{
	char *s1, *s2;
	int rc;

	s1 = xasprintf("DELETE FROM stems WHERE version IN (SELECT id FROM "
	    "versions WHERE %s)", where);
	s2 = xasprintf("DELETE FROM versions WHERE %s", where);
	rc = run_sql(c, s1, a, b, x, err, errlen);
	if (rc == 0)
		rc = run_sql(c, s2, a, b, x, err, errlen);
	free(s1);
	free(s2);
	return rc;
}

static int
note_run(struct cache *c, const struct cache_key *k,
    const struct cache_run *r, double now, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char *ver;
	int rc;

	if ((rc = prep(c, "INSERT INTO runs(at, server, dataset, version, "
	    "mode, hits, misses) VALUES(?, ?, ?, ?, ?, ?, ?)", &st, err,
	    errlen)) < 0)
		return rc;
	ver = xasprintf("%s%s%s", k->uuid, k->edit && k->edit[0] ? "@" : "",
	    k->edit ? k->edit : "");
	sqlite3_bind_double(st, 1, now);
	sqlite3_bind_text(st, 2, k->server, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, k->dataset, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ver, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r->mode, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (int64_t)r->hits);
	sqlite3_bind_int64(st, 7, (int64_t)r->misses);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 :
	    db_err(c->db, err, errlen, "writing the cache");
	sqlite3_finalize(st);
	free(ver);
	if (rc == 0)
		rc = run_sql(c, "DELETE FROM runs WHERE id <= (SELECT max(id) "
		    "FROM runs) - ?3", NULL, NULL, KEEP_RUNS, err, errlen);
	return rc;
}

int
cache_store(struct cache *c, const struct cache_key *k,
    const struct cache_entry *e, size_t n, const struct cache_run *run,
    int prune, char *err, size_t errlen)
{
	double now = (double)time(NULL);
	int64_t id;
	int rc;

	/* A version is stored under its whole key (META was answered). */
	assert(k->server != NULL && k->dataset != NULL && k->uuid != NULL);
	if (exec(c->db, "BEGIN IMMEDIATE") < 0)
		return db_err(c->db, err, errlen, "writing the cache");
	rc = version_id(c, k, now, &id, err, errlen);
	if (rc == 0 && run && run->meta)
		rc = put_meta(c, id, run->meta, err, errlen);
	if (rc == 0)
		rc = put_entries(c, id, e, n, err, errlen);
	if (rc == 0 && run)
		rc = note_run(c, k, run, now, err, errlen);
	if (rc == 0 && prune)
		rc = drop_versions(c, "server = ?1 AND dataset = ?2 AND "
		    "id <> ?3", k->server, k->dataset, (double)id, err, errlen);
	if (rc == 0)
		rc = drop_versions(c, "used < ?3", NULL, NULL,
		    now - UNUSED_DAYS * 86400.0, err, errlen);
	if (rc == 0)
		fio_hold(&c->io, FIO_HOLD_CACHE_STORE);
	if (rc == 0 && exec(c->db, "COMMIT") < 0)
		rc = db_err(c->db, err, errlen, "writing the cache");
	if (rc < 0)
		exec(c->db, "ROLLBACK");
	return rc;
}

/* Add every row of SQL (?1, ?2 bound to server, dataset) as objects. */
static int
add_rows(struct cache *c, cJSON *arr, const char *sql, const char *server,
    const char *dataset, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	cJSON *o;
	int rc, i, s;

	if ((rc = prep(c, sql, &st, err, errlen)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, server, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, dataset, -1, SQLITE_STATIC);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		o = cJSON_CreateObject();
		for (i = 0; i < sqlite3_column_count(st); i++) {
			const char *name = sqlite3_column_name(st, i);

			if (sqlite3_column_type(st, i) == SQLITE_TEXT)
				cJSON_AddStringToObject(o, name, (const char *)
				    sqlite3_column_text(st, i));
			else
				cJSON_AddNumberToObject(o, name,
				    sqlite3_column_double(st, i));
		}
		cJSON_AddItemToArray(arr, o);
	}
	rc = s == SQLITE_DONE ? 0 : db_err(c->db, err, errlen,
	    "reading the cache");
	sqlite3_finalize(st);
	return rc;
}

#define SITE_WHERE "(?1 IS NULL OR (server = ?1 AND dataset = ?2))"

int
cache_stats(struct cache *c, const char *server, const char *dataset,
    cJSON **out, char *err, size_t errlen)
{
	cJSON *o, *v, *r, *e;
	double entries = 0, bytes = 0, hits = 0, misses = 0;
	struct stat sb;
	int rc;

	assert((server == NULL) == (dataset == NULL));	/* both or neither */
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "file", c->path);
	cJSON_AddNumberToObject(o, "file_bytes", stat(c->path, &sb) == 0 ?
	    (double)sb.st_size : 0);
	v = cJSON_AddArrayToObject(o, "versions");
	r = cJSON_AddArrayToObject(o, "runs");
	rc = add_rows(c, v, "SELECT v.server, v.dataset, v.uuid || "
	    "CASE v.edit WHEN '' THEN '' ELSE '@' || v.edit END AS version, "
	    "v.generation, count(s.stem) AS entries, "
	    "coalesce(sum(length(s.data)), 0) AS bytes, v.used FROM versions v "
	    "LEFT JOIN stems s ON s.version = v.id WHERE " SITE_WHERE
	    " GROUP BY v.id ORDER BY v.used DESC", server, dataset, err,
	    errlen);
	if (rc == 0)
		rc = add_rows(c, r, "SELECT at, server, dataset, version, mode, "
		    "hits, misses FROM runs WHERE " SITE_WHERE " ORDER BY id "
		    "DESC LIMIT 10", server, dataset, err, errlen);
	if (rc < 0) {
		cJSON_Delete(o);
		return rc;
	}
	cJSON_ArrayForEach(e, v) {
		entries += cJSON_GetObjectItem(e, "entries")->valuedouble;
		bytes += cJSON_GetObjectItem(e, "bytes")->valuedouble;
	}
	cJSON_ArrayForEach(e, r) {
		hits += cJSON_GetObjectItem(e, "hits")->valuedouble;
		misses += cJSON_GetObjectItem(e, "misses")->valuedouble;
	}
	cJSON_AddNumberToObject(o, "entries", entries);
	cJSON_AddNumberToObject(o, "bytes", bytes);
	if (hits + misses > 0)
		cJSON_AddNumberToObject(o, "hit_rate", hits / (hits + misses));
	else
		cJSON_AddNullToObject(o, "hit_rate");
	*out = o;
	return 0;
}

int
cache_clear(struct cache *c, const char *server, const char *dataset,
    uint64_t *n, char *err, size_t errlen)
{
	int rc;

	*n = 0;
	assert((server == NULL) == (dataset == NULL));	/* both or neither */
	if (exec(c->db, "BEGIN IMMEDIATE") < 0)
		return db_err(c->db, err, errlen, "clearing the cache");
	rc = run_sql(c, "DELETE FROM stems WHERE version IN (SELECT id FROM "
	    "versions WHERE " SITE_WHERE ")", server, dataset, 0, err, errlen);
	if (rc == 0)
		*n = (uint64_t)sqlite3_changes64(c->db);
	if (rc == 0)
		rc = run_sql(c, "DELETE FROM versions WHERE " SITE_WHERE,
		    server, dataset, 0, err, errlen);
	if (rc == 0)
		rc = run_sql(c, "DELETE FROM runs WHERE " SITE_WHERE,
		    server, dataset, 0, err, errlen);
	if (rc == 0 && exec(c->db, "COMMIT") < 0)
		rc = db_err(c->db, err, errlen, "clearing the cache");
	if (rc < 0)
		exec(c->db, "ROLLBACK");
	return rc;
}
