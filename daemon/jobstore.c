/*
 * jobstore: see jobstore.h.
 *
 * Threads: the loop queues struct jst_op on TODO; the writer takes them one
 * at a time, runs each on WDB, and puts it on DONE; the uv_async wakes the
 * loop, which runs the callbacks in order. The mutex guards TODO, DONE and
 * QUIT only; WDB belongs to the writer, RDB to the loop, the rest of an op
 * to whoever holds it (the loop until queued and after done, the writer
 * in between).
 */
#include <sys/queue.h>
#include <sys/stat.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "jobstore.h"
#include "base/xmalloc.h"

enum jst_kind { JST_INSERT, JST_UPDATE, JST_PRUNE, JST_SYNC };

struct jst_op {
	STAILQ_ENTRY(jst_op) entry;
	enum jst_kind	 kind;
	struct proto_job rec;		/* its own copy (and summary) */
	char		*config;
	char		*origin;
	double		 before;
	jst_cb		 cb;
	void		*arg;
	int		 rc;
	int64_t		 n;
	char		 err[256];
	unsigned long	 seq;		/* its place in the order of calls */
};

STAILQ_HEAD(jst_ops, jst_op);

struct jobstore {
	sqlite3		*db;		/* the loop's: reads */
	sqlite3		*wdb;		/* the writer's */
	uv_async_t	 async;
	uv_thread_t	 thread;
	uv_mutex_t	 mu;
	uv_cond_t	 cv;
	struct jst_ops	 todo, done;	/* under MU */
	int		 quit;		/* under MU */
	unsigned	 pending;	/* loop only: callbacks still to run */
	unsigned long	 queued, called;	/* loop only: ops so far, callbacks */
	uv_thread_t	 loop;		/* the loop's thread, which made S */
};

/* The caller is on the loop's thread: RDB and the callbacks are its. */
#define ON_LOOP(s)	uv_thread_equal(&(uv_thread_t){ uv_thread_self() }, \
			    &(s)->loop)

/* A new file: the schema as it is now (JST_SCHEMA_VERSION). */
static const char schema[] =
    "CREATE TABLE jobs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " site TEXT NOT NULL,"
    " config TEXT,"		/* client-sent config text, or NULL */
    " output_dir TEXT NOT NULL,"
    " quick INTEGER NOT NULL DEFAULT 0,"
    " uid INTEGER NOT NULL,"
    " state TEXT NOT NULL,"
    " created REAL NOT NULL,"
    " started REAL NOT NULL DEFAULT 0,"
    " finished REAL NOT NULL DEFAULT 0,"
    " stage TEXT NOT NULL DEFAULT 'queued',"
    " done INTEGER NOT NULL DEFAULT 0,"
    " total INTEGER NOT NULL DEFAULT 0,"
    " attempt INTEGER NOT NULL DEFAULT 0,"
    " summary TEXT,"
    " error TEXT,"
    /* where a client's config came from (jobs.c's JSON), or NULL */
    " origin TEXT);"
    "CREATE INDEX jobs_state ON jobs(state);"
    "PRAGMA user_version = 2;";

/*
 * A file of an older quickpaged, from version N to N + 1 (upgrade[N]).
 * 1 -> 2 (quickpage 0.2): where a client's config came from (its working
 * directory, its --output-dir), which a restart needs to resolve the
 * config's relative paths as the first run did.
 */
static const char *const upgrade[JST_SCHEMA_VERSION] = {
	[1] = "ALTER TABLE jobs ADD COLUMN origin TEXT;"
	    "PRAGMA user_version = 2;",
};

#define COLS "id, site, output_dir, quick, uid, state, created, started, " \
	"finished, stage, done, total, attempt, summary, error, config, origin"

/*
 * DB is never NULL: sqlite3_open_v2 leaves it NULL only when it cannot
 * allocate, and SQLite allocates by xmalloc (xmalloc_install).
 */
static int
db_error(sqlite3 *db, char *err, size_t errlen, const char *what)
{
	assert(db != NULL);	/* see above */
	snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
	return -EIO;
}

static int
exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

static int
user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* One step of the schema, in its own transaction. */
static int
step(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	if (exec(db, "BEGIN IMMEDIATE") < 0 || exec(db, sql) < 0) {
		db_error(db, err, errlen, "upgrading the schema");
		exec(db, "ROLLBACK");
		return -EIO;
	}
	if (exec(db, "COMMIT") < 0)
		return db_error(db, err, errlen, "upgrading the schema");
	return 0;
}

/*
 * Bring the schema to JST_SCHEMA_VERSION: a new file gets it whole; one of
 * an older quickpaged is upgraded in place, a step at a time, and keeps
 * its jobs.
 */
static int
migrate(sqlite3 *db, char *err, size_t errlen)
{
	int v = user_version(db), rc;

	if (v < 0)
		return db_error(db, err, errlen, "reading the schema version");
	if (v > JST_SCHEMA_VERSION) {
		snprintf(err, errlen, "the job database has schema version %d, "
		    "newer than this quickpaged (%d): run the newer version or "
		    "move the database away", v, JST_SCHEMA_VERSION);
		return -EPROTO;
	}
	if (v == 0)
		return step(db, schema, err, errlen);
	for (; v < JST_SCHEMA_VERSION; v++) {
		assert(upgrade[v] != NULL);	/* a step for every old version */
		if ((rc = step(db, upgrade[v], err, errlen)) < 0)
			return rc;
	}
	return 0;
}

/* Create the file ourselves so it is 0600 from the start. */
static int
create_private(const char *path, char *err, size_t errlen)
{
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	fchmod(fd, 0600);
	close(fd);
	return 0;
}

/* One connection: WAL, FULL sync, BUSY_MS of patience for locks. */
static int
db_open(const char *path, int busy_ms, sqlite3 **out, char *err,
    size_t errlen)
{
	char pragma[64];

	if (sqlite3_open_v2(path, out, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK)
		return db_error(*out, err, errlen, path);
	/*
	 * WAL: a crash leaves the last committed state, and readers never
	 * wait for the writer. FULL: a commit survives power loss too; the
	 * fsyncs are the writer thread's, not the loop's.
	 */
	snprintf(pragma, sizeof(pragma), "PRAGMA busy_timeout=%d", busy_ms);
	if (exec(*out, "PRAGMA journal_mode=WAL") < 0 ||
	    exec(*out, "PRAGMA synchronous=FULL") < 0 ||
	    exec(*out, pragma) < 0)
		return db_error(*out, err, errlen, path);
	return 0;
}

static void writer(void *arg);
static void on_async(uv_async_t *h);

int
jst_open(uv_loop_t *loop, const char *dir, struct jobstore **out, char *err,
    size_t errlen)
{
	char path[PATH_MAX];
	struct jobstore *s;
	int rc;

	*out = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/jobs.db", dir) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	if ((rc = create_private(path, err, errlen)) < 0)
		return rc;
	s = xcalloc(1, sizeof(*s));
	s->loop = uv_thread_self();
	STAILQ_INIT(&s->todo);
	STAILQ_INIT(&s->done);
	/* The writer may wait for a lock (another process reading); a read
	 * on the loop gives up soon instead (it happens only while SQLite
	 * recovers a WAL, at open). */
	if ((rc = db_open(path, 2000, &s->wdb, err, errlen)) < 0 ||
	    (rc = migrate(s->wdb, err, errlen)) < 0 ||
	    (rc = db_open(path, 100, &s->db, err, errlen)) < 0)
		goto fail;
	uv_mutex_init(&s->mu);
	uv_cond_init(&s->cv);
	if ((rc = uv_thread_create(&s->thread, writer, s)) < 0) {
		snprintf(err, errlen, "cannot start the job store's writer: %s",
		    uv_strerror(rc));
		uv_cond_destroy(&s->cv);
		uv_mutex_destroy(&s->mu);
		goto fail;
	}
	uv_async_init(loop, &s->async, on_async);
	s->async.data = s;
	uv_unref((uv_handle_t *)&s->async);	/* no write out: no reason to run */
	assert(s->db != NULL && s->wdb != NULL);	/* the loop's and the writer's */
	*out = s;
	return 0;
fail:
	sqlite3_close(s->db);
	sqlite3_close(s->wdb);
	free(s);
	return rc;
}

static void
op_free(struct jst_op *op)
{
	free(op->rec.summary);
	free(op->config);
	free(op->origin);
	free(op);
}

static void
on_closed(uv_handle_t *h)
{
	free(h->data);
}

void
jst_close(struct jobstore *s)
{
	struct jst_op *op;

	if (s == NULL)
		return;
	uv_mutex_lock(&s->mu);
	s->quit = 1;
	uv_cond_signal(&s->cv);
	uv_mutex_unlock(&s->mu);
	uv_thread_join(&s->thread);	/* it commits what is queued first */
	assert(STAILQ_EMPTY(&s->todo));	/* the writer left nothing unwritten */
	while ((op = STAILQ_FIRST(&s->done)) != NULL) {
		STAILQ_REMOVE_HEAD(&s->done, entry);
		op_free(op);
	}
	uv_cond_destroy(&s->cv);
	uv_mutex_destroy(&s->mu);
	sqlite3_close(s->db);
	sqlite3_close(s->wdb);
	uv_close((uv_handle_t *)&s->async, on_closed);
}

static void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v && v[0])
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* ---- the writer thread ---- */

static int
w_fail(struct jst_op *op, sqlite3 *db, const char *what)
{
	snprintf(op->err, sizeof(op->err), "%s: %s", what, sqlite3_errmsg(db));
	return -EIO;
}

static int
w_run(struct jst_op *op, sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE) {
		w_fail(op, db, what);
		sqlite3_finalize(st);
		return -EIO;
	}
	sqlite3_finalize(st);
	return 0;
}

static int
w_insert(sqlite3 *db, struct jst_op *op)
{
	const struct proto_job *j = &op->rec;
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, "INSERT INTO jobs (site, config, "
	    "output_dir, quick, uid, state, created, stage, attempt, origin) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL) !=
	    SQLITE_OK)
		return w_fail(op, db, "inserting a job");
	sqlite3_bind_text(st, 1, j->site, -1, SQLITE_STATIC);
	bind_text(st, 2, op->config);
	sqlite3_bind_text(st, 3, j->output_dir, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, j->quick);
	sqlite3_bind_int64(st, 5, j->uid);
	sqlite3_bind_text(st, 6, proto_state_name(j->state), -1,
	    SQLITE_STATIC);
	sqlite3_bind_double(st, 7, j->created);
	sqlite3_bind_text(st, 8, j->stage[0] ? j->stage : "queued", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int(st, 9, (int)j->attempt);
	bind_text(st, 10, op->origin);
	if (w_run(op, db, st, "inserting a job") < 0)
		return -EIO;
	op->n = sqlite3_last_insert_rowid(db);
	return 0;
}

static int
w_update(sqlite3 *db, struct jst_op *op)
{
	const struct proto_job *j = &op->rec;
	sqlite3_stmt *st;

	op->n = j->id;
	if (sqlite3_prepare_v2(db, "UPDATE jobs SET state = ?, started = ?,"
	    " finished = ?, stage = ?, done = ?, total = ?, attempt = ?, "
	    "summary = ?, error = ? WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return w_fail(op, db, "updating a job");
	sqlite3_bind_text(st, 1, proto_state_name(j->state), -1,
	    SQLITE_STATIC);
	sqlite3_bind_double(st, 2, j->started);
	sqlite3_bind_double(st, 3, j->finished);
	sqlite3_bind_text(st, 4, j->stage, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)j->done);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)j->total);
	sqlite3_bind_int(st, 7, (int)j->attempt);
	bind_text(st, 8, j->summary);
	bind_text(st, 9, j->error);
	sqlite3_bind_int64(st, 10, j->id);
	if (w_run(op, db, st, "updating a job") < 0)
		return -EIO;
	if (sqlite3_changes(db) != 1) {
		snprintf(op->err, sizeof(op->err), "no job %lld in the store",
		    (long long)j->id);
		return -ENOENT;
	}
	return 0;
}

static int
w_prune(sqlite3 *db, struct jst_op *op)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, "DELETE FROM jobs WHERE state NOT IN "
	    "('queued', 'running') AND finished < ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return w_fail(op, db, "pruning old jobs");
	sqlite3_bind_double(st, 1, op->before);
	if (w_run(op, db, st, "pruning old jobs") < 0)
		return -EIO;
	op->n = sqlite3_changes(db);
	return 0;
}

/* Each statement is its own transaction: committed (fsynced) on return. */
static void
w_exec(sqlite3 *db, struct jst_op *op)
{
	switch (op->kind) {
	case JST_INSERT:
		op->rc = w_insert(db, op);
		break;
	case JST_UPDATE:
		op->rc = w_update(db, op);
		break;
	case JST_PRUNE:
		op->rc = w_prune(db, op);
		break;
	case JST_SYNC:
		op->rc = 0;
		break;
	}
	assert(op->rc <= 0);	/* 0 or a negative errno, ERR set with it */
}

static void
writer(void *arg)
{
	struct jobstore *s = arg;
	struct jst_op *op;

	uv_mutex_lock(&s->mu);
	for (;;) {
		while (STAILQ_EMPTY(&s->todo) && !s->quit)
			uv_cond_wait(&s->cv, &s->mu);
		if ((op = STAILQ_FIRST(&s->todo)) == NULL)
			break;		/* quit, and nothing left to write */
		STAILQ_REMOVE_HEAD(&s->todo, entry);
		uv_mutex_unlock(&s->mu);
		w_exec(s->wdb, op);
		uv_mutex_lock(&s->mu);
		STAILQ_INSERT_TAIL(&s->done, op, entry);
		if (!s->quit)
			uv_async_send(&s->async);
	}
	uv_mutex_unlock(&s->mu);
}

/* ---- the loop's side ---- */

static void
on_async(uv_async_t *h)
{
	struct jobstore *s = h->data;
	struct jst_ops done = STAILQ_HEAD_INITIALIZER(done);
	struct jst_op *op;

	assert(ON_LOOP(s));	/* callbacks run on the loop */
	uv_mutex_lock(&s->mu);
	STAILQ_CONCAT(&done, &s->done);
	uv_mutex_unlock(&s->mu);
	while ((op = STAILQ_FIRST(&done)) != NULL) {
		STAILQ_REMOVE_HEAD(&done, entry);
		assert(s->pending > 0);	/* each op was counted in queue() */
		/* Callbacks run once each, in the order the calls came. */
		assert(op->seq == s->called);
		s->called++;
		if (--s->pending == 0)
			uv_unref((uv_handle_t *)&s->async);
		op->cb(op->arg, op->rc, op->n, op->rc < 0 ? op->err : NULL);
		op_free(op);
	}
}

static void
queue(struct jobstore *s, struct jst_op *op, jst_cb cb, void *arg)
{
	assert(cb != NULL && ON_LOOP(s));	/* on_async calls it, on the loop */
	op->cb = cb;
	op->arg = arg;
	op->seq = s->queued++;
	if (s->pending++ == 0)
		uv_ref((uv_handle_t *)&s->async);
	uv_mutex_lock(&s->mu);
	STAILQ_INSERT_TAIL(&s->todo, op, entry);
	uv_cond_signal(&s->cv);
	uv_mutex_unlock(&s->mu);
}

static struct jst_op *
op_new(enum jst_kind kind, const struct proto_job *j)
{
	struct jst_op *op = xcalloc(1, sizeof(*op));

	op->kind = kind;
	if (j != NULL) {
		op->rec = *j;
		op->rec.summary = j->summary ? xstrdup(j->summary) : NULL;
	}
	return op;
}

void
jst_insert(struct jobstore *s, const struct proto_job *j, const char *config,
    const char *origin, jst_cb cb, void *arg)
{
	struct jst_op *op = op_new(JST_INSERT, j);

	assert((unsigned)j->state < PROTO_NSTATES);	/* a state the daemon set */
	op->config = config ? xstrdup(config) : NULL;
	op->origin = origin ? xstrdup(origin) : NULL;
	queue(s, op, cb, arg);
}

void
jst_update(struct jobstore *s, const struct proto_job *j, jst_cb cb, void *arg)
{
	assert((unsigned)j->state < PROTO_NSTATES);	/* a state the daemon set */
	queue(s, op_new(JST_UPDATE, j), cb, arg);
}

void
jst_prune(struct jobstore *s, double before, jst_cb cb, void *arg)
{
	struct jst_op *op = op_new(JST_PRUNE, NULL);

	op->before = before;
	queue(s, op, cb, arg);
}

void
jst_sync(struct jobstore *s, jst_cb cb, void *arg)
{
	queue(s, op_new(JST_SYNC, NULL), cb, arg);
}

/* ---- reads, on the loop ---- */

static void
col_copy(sqlite3_stmt *st, int i, char *dst, size_t n)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	snprintf(dst, n, "%s", v ? (const char *)v : "");
}

static void
row_job(sqlite3_stmt *st, struct proto_job *j)
{
	const unsigned char *sum;
	int k;

	memset(j, 0, sizeof(*j));
	j->id = sqlite3_column_int64(st, 0);
	col_copy(st, 1, j->site, sizeof(j->site));
	col_copy(st, 2, j->output_dir, sizeof(j->output_dir));
	j->quick = sqlite3_column_int(st, 3);
	j->uid = (long)sqlite3_column_int64(st, 4);
	k = proto_state_parse((const char *)sqlite3_column_text(st, 5));
	j->state = k < 0 ? PROTO_FAILED : (enum proto_state)k;
	assert((unsigned)j->state < PROTO_NSTATES);	/* a bad text reads FAILED */
	j->created = sqlite3_column_double(st, 6);
	j->started = sqlite3_column_double(st, 7);
	j->finished = sqlite3_column_double(st, 8);
	col_copy(st, 9, j->stage, sizeof(j->stage));
	j->done = (uint64_t)sqlite3_column_int64(st, 10);
	j->total = (uint64_t)sqlite3_column_int64(st, 11);
	j->attempt = (unsigned)sqlite3_column_int(st, 12);
	if ((sum = sqlite3_column_text(st, 13)) != NULL)
		j->summary = xstrdup((const char *)sum);
	col_copy(st, 14, j->error, sizeof(j->error));
	j->eta_s = -1;
}

int
jst_get(struct jobstore *s, int64_t id, struct proto_job *out)
{
	sqlite3_stmt *st;
	int rc;

	assert(ON_LOOP(s));	/* RDB is the loop's */
	if (sqlite3_prepare_v2(s->db, "SELECT " COLS " FROM jobs WHERE id = ?",
	    -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_job(st, out);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

static int
each(sqlite3_stmt *st, jst_each_cb cb, void *arg)
{
	struct proto_job j;
	int rc, stop = 0;

	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_job(st, &j);
		stop = cb(arg, &j, (const char *)sqlite3_column_text(st, 15),
		    (const char *)sqlite3_column_text(st, 16));
		proto_job_clear(&j);
	}
	if (!stop && rc != SQLITE_DONE) {
		sqlite3_finalize(st);
		return -EIO;
	}
	sqlite3_finalize(st);
	return 0;
}

int
jst_list(struct jobstore *s, size_t limit, jst_each_cb cb, void *arg)
{
	sqlite3_stmt *st;

	assert(ON_LOOP(s));	/* RDB is the loop's */
	if (sqlite3_prepare_v2(s->db, "SELECT " COLS " FROM jobs ORDER BY id "
	    "DESC LIMIT ?", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
	return each(st, cb, arg);
}

int
jst_unfinished(struct jobstore *s, jst_each_cb cb, void *arg)
{
	sqlite3_stmt *st;

	assert(ON_LOOP(s));	/* RDB is the loop's */
	if (sqlite3_prepare_v2(s->db, "SELECT " COLS " FROM jobs WHERE state "
	    "IN ('queued', 'running') ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	return each(st, cb, arg);
}

int
jst_counts(struct jobstore *s, uint64_t counts[PROTO_NSTATES])
{
	sqlite3_stmt *st;
	int k;

	assert(ON_LOOP(s));	/* RDB is the loop's */
	memset(counts, 0, PROTO_NSTATES * sizeof(counts[0]));
	if (sqlite3_prepare_v2(s->db, "SELECT state, count(*) FROM jobs GROUP "
	    "BY state", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW)
		if ((k = proto_state_parse((const char *)
		    sqlite3_column_text(st, 0))) >= 0)
			counts[k] = (uint64_t)sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	return 0;
}
