/* jobstore: see jobstore.h. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "jobstore.h"

struct js {
	sqlite3		*db;
};

static const char schema_v1[] =
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
    " error TEXT);"
    "CREATE INDEX jobs_state ON jobs(state);"
    "PRAGMA user_version = 1;";

#define COLS "id, site, output_dir, quick, uid, state, created, started, " \
	"finished, stage, done, total, attempt, summary, error, config"

static int
db_error(sqlite3 *db, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) :
	    "out of memory");
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

/* Bring the schema to JS_SCHEMA_VERSION; each step is one transaction. */
static int
migrate(sqlite3 *db, char *err, size_t errlen)
{
	int v = user_version(db);

	if (v < 0)
		return db_error(db, err, errlen, "reading the schema version");
	if (v > JS_SCHEMA_VERSION) {
		snprintf(err, errlen, "the job database has schema version %d, "
		    "newer than this quickpaged (%d): run the newer version or "
		    "move the database away", v, JS_SCHEMA_VERSION);
		return -EPROTO;
	}
	if (v == 0) {
		if (exec(db, "BEGIN IMMEDIATE") < 0 || exec(db, schema_v1) < 0) {
			db_error(db, err, errlen, "creating the schema");
			exec(db, "ROLLBACK");
			return -EIO;
		}
		if (exec(db, "COMMIT") < 0)
			return db_error(db, err, errlen, "creating the schema");
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

int
js_open(const char *dir, struct js **out, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct js *s;
	int rc;

	*out = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/jobs.db", dir) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	if ((rc = create_private(path, err, errlen)) < 0)
		return rc;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		rc = db_error(s->db, err, errlen, path);
		goto fail;
	}
	/*
	 * WAL: a crash leaves the last committed state. FULL: a commit
	 * survives power loss too; commits are few (state changes and
	 * progress every few seconds), so the fsyncs cost nothing.
	 */
	if (exec(s->db, "PRAGMA journal_mode=WAL") < 0 ||
	    exec(s->db, "PRAGMA synchronous=FULL") < 0 ||
	    exec(s->db, "PRAGMA busy_timeout=2000") < 0) {
		rc = db_error(s->db, err, errlen, path);
		goto fail;
	}
	if ((rc = migrate(s->db, err, errlen)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	sqlite3_close(s->db);
	free(s);
	return rc;
}

void
js_close(struct js *s)
{
	if (s == NULL)
		return;
	sqlite3_close(s->db);
	free(s);
}

static void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v && v[0])
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int
run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int
js_insert(struct js *s, struct proto_job *j, const char *config)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(s->db, "INSERT INTO jobs (site, config, "
	    "output_dir, quick, uid, state, created, stage, attempt) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, j->site, -1, SQLITE_STATIC);
	bind_text(st, 2, config);
	sqlite3_bind_text(st, 3, j->output_dir, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, j->quick);
	sqlite3_bind_int64(st, 5, j->uid);
	sqlite3_bind_text(st, 6, proto_state_name(j->state), -1,
	    SQLITE_STATIC);
	sqlite3_bind_double(st, 7, j->created);
	sqlite3_bind_text(st, 8, j->stage[0] ? j->stage : "queued", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int(st, 9, (int)j->attempt);
	if (run(st) < 0)
		return -EIO;
	j->id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

int
js_update(struct js *s, const struct proto_job *j)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(s->db, "UPDATE jobs SET state = ?, started = ?,"
	    " finished = ?, stage = ?, done = ?, total = ?, attempt = ?, "
	    "summary = ?, error = ? WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
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
	if (run(st) < 0)
		return -EIO;
	return sqlite3_changes(s->db) == 1 ? 0 : -ENOENT;
}

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
	j->created = sqlite3_column_double(st, 6);
	j->started = sqlite3_column_double(st, 7);
	j->finished = sqlite3_column_double(st, 8);
	col_copy(st, 9, j->stage, sizeof(j->stage));
	j->done = (uint64_t)sqlite3_column_int64(st, 10);
	j->total = (uint64_t)sqlite3_column_int64(st, 11);
	j->attempt = (unsigned)sqlite3_column_int(st, 12);
	if ((sum = sqlite3_column_text(st, 13)) != NULL)
		j->summary = strdup((const char *)sum);
	col_copy(st, 14, j->error, sizeof(j->error));
	j->eta_s = -1;
}

int
js_get(struct js *s, int64_t id, struct proto_job *out)
{
	sqlite3_stmt *st;
	int rc;

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
each(sqlite3_stmt *st, js_each_cb cb, void *arg)
{
	struct proto_job j;
	int rc, stop = 0;

	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_job(st, &j);
		stop = cb(arg, &j, (const char *)sqlite3_column_text(st, 15));
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
js_list(struct js *s, size_t limit, js_each_cb cb, void *arg)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(s->db, "SELECT " COLS " FROM jobs ORDER BY id "
	    "DESC LIMIT ?", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
	return each(st, cb, arg);
}

int
js_unfinished(struct js *s, js_each_cb cb, void *arg)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(s->db, "SELECT " COLS " FROM jobs WHERE state "
	    "IN ('queued', 'running') ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	return each(st, cb, arg);
}

int
js_prune(struct js *s, double before)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(s->db, "DELETE FROM jobs WHERE state NOT IN "
	    "('queued', 'running') AND finished < ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return -EIO;
	sqlite3_bind_double(st, 1, before);
	if (run(st) < 0)
		return -EIO;
	return sqlite3_changes(s->db);
}

int
js_counts(struct js *s, uint64_t counts[PROTO_NSTATES])
{
	sqlite3_stmt *st;
	int k;

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
