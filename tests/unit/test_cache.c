/*
 * cache tests: the entry encoding round-trips every accumulator field and
 * refuses damaged bytes; versions are stored, found only by their whole
 * key, pruned and cleared; a bad file is moved aside; the file is 0600.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "store/cache.h"
#include "store/cachecodec.h"
#include "base/xmalloc.h"

static const char *hierarchy =
    "{\"name\": \"CNS\", \"children\": [{\"name\": \"ME(R)\"}, "
    "{\"name\": \"LO(R)\"}, {\"name\": \"FB\"}]}";
static const char *primary[] = { "ME(R)", "LO(R)", "FB" };

static struct roi_meta *
meta(void)
{
	struct roi_meta *m;
	char err[128];

	assert_int_equal(roi_meta_new(primary, 3, hierarchy, &m, err,
	    sizeof(err)), 0);
	return m;
}

/* An accumulator with every kind of field set from two CELLS rows. */
static void
filled(struct ts_acc *a, const struct roi_meta *m, const char *name)
{
	cJSON *cls = cJSON_Parse("[\"visual\", \"optic\"]");
	cJSON *fw = cJSON_Parse("\"Tm1,Tm1a\"");
	struct ts_row r = { 0 };

	ts_acc_init(a, name, m);
	r.root_side = "L";
	r.instance = "Tm1_L";
	r.first[TS_CONSENSUS_NT] = "acetylcholine";
	r.first[TS_SYNONYMS] = "syn: é ünicode";
	r.first_body = 1001;
	r.cells = 3;
	r.pre = 1234567890123LL;
	r.post = 7;
	r.list[TS_CLASS] = cls;
	r.list[TS_FLYWIRE] = fw;
	ts_acc_add_cells(a, TS_ADAPT_CNS, &r);
	r.root_side = NULL;
	r.soma_side = "R";
	r.first[TS_DIMORPHISM] = "sexually dimorphic";
	r.first_body = 17;
	ts_acc_add_cells(a, TS_ADAPT_CNS, &r);
	ts_acc_add_roi(a, m, "FB", 10, 20);
	ts_acc_add_roi(a, m, "ME(R)", 0, 5);
	cJSON_Delete(cls);
	cJSON_Delete(fw);
}

static void
same_acc(const struct ts_acc *x, const struct ts_acc *y)
{
	size_t i;
	int k;

	assert_string_equal(x->name, y->name);
	assert_memory_equal(x->count, y->count, sizeof(x->count));
	assert_memory_equal(x->count_inst, y->count_inst, sizeof(x->count_inst));
	assert_int_equal(x->side_prop, y->side_prop);
	assert_int_equal(x->seen, y->seen);
	assert_int_equal(x->pre, y->pre);
	assert_int_equal(x->post, y->post);
	for (k = 0; k < TS_NFIRST; k++) {
		if (x->first[k] == NULL)
			assert_null(y->first[k]);
		else
			assert_string_equal(x->first[k], y->first[k]);
		assert_int_equal(x->first_body[k], y->first_body[k]);
	}
	for (k = 0; k < TS_NLISTS; k++) {
		assert_int_equal(x->list[k].n, y->list[k].n);
		for (i = 0; i < x->list[k].n; i++)
			assert_string_equal(x->list[k].v[i], y->list[k].v[i]);
	}
	assert_int_equal(x->roi.n, y->roi.n);
	assert_memory_equal(x->roi.pre, y->roi.pre, x->roi.n * sizeof(int64_t));
	assert_memory_equal(x->roi.post, y->roi.post, x->roi.n * sizeof(int64_t));
}

static void
free_accs(struct ts_acc **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		ts_acc_free(v[i]);
		free(v[i]);
	}
	free(v);
}

static void
test_round_trip(void **state)
{
	struct roi_meta *m = meta();
	struct ts_acc a, b, *in[2] = { &a, &b }, **out;
	struct buf e = BUF_INIT, again = BUF_INIT;
	size_t n;

	(void)state;
	filled(&a, m, "Tm1");
	ts_acc_init(&b, "Tm1/a", m);	/* seen nothing: all empty */
	cache_encode(&e, in, 2);
	assert_int_equal(cache_decode(e.data, e.len, 3, &out, &n), 0);
	assert_int_equal(n, 2);
	same_acc(&a, out[0]);
	same_acc(&b, out[1]);
	assert_int_equal(a.count[TS_LEFT], 3);	/* the fields were set */
	assert_non_null(a.list[TS_CLASS].n);
	cache_encode(&again, out, n);
	assert_int_equal(again.len, e.len);
	assert_memory_equal(again.data, e.data, e.len);
	free_accs(out, n);
	/* An entry of a stem that names no type. */
	buf_reset(&again);
	cache_encode(&again, NULL, 0);
	assert_int_equal(cache_decode(again.data, again.len, 3, &out, &n), 0);
	assert_int_equal(n, 0);
	free(out);
	ts_acc_free(&a);
	ts_acc_free(&b);
	buf_free(&e);
	buf_free(&again);
	roi_meta_free(m);
}

/* Every cut and every flipped byte is refused or decodes: never a crash. */
static void
test_damaged_entries(void **state)
{
	struct roi_meta *m = meta();
	struct ts_acc a, *in[1] = { &a }, **out;
	struct buf e = BUF_INIT;
	unsigned char *copy;
	size_t n, i;
	int bit;

	(void)state;
	filled(&a, m, "Tm1");
	cache_encode(&e, in, 1);
	for (i = 0; i < e.len; i++)
		assert_int_equal(cache_decode(e.data, i, 3, &out, &n), -EBADMSG);
	assert_int_equal(cache_decode(e.data, e.len, 4, &out, &n), -EBADMSG);
	copy = xmalloc(e.len);
	for (i = 0; i < e.len; i++)
		for (bit = 0; bit < 8; bit++) {
			memcpy(copy, e.data, e.len);
			copy[i] ^= (unsigned char)(1 << bit);
			if (cache_decode(copy, e.len, 3, &out, &n) == 0)
				free_accs(out, n);
		}
	free(copy);
	ts_acc_free(&a);
	buf_free(&e);
	roi_meta_free(m);
}

static char *
tmpdir(void)
{
	char *d = xstrdup("/tmp/qp-cache-test-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static void
rmtree(const char *d)
{
	char *cmd = xasprintf("rm -rf '%s'", d);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

struct seen {
	char	 stems[64][32];
	size_t	 n;
};

static int
collect(void *arg, const char *stem, const void *data, size_t len)
{
	struct seen *s = arg;

	(void)data;
	(void)len;
	snprintf(s->stems[s->n++], sizeof(s->stems[0]), "%s", stem);
	return 0;
}

static size_t
load(struct cache *c, const struct cache_key *k)
{
	struct seen s = { .n = 0 };
	char err[256];
	size_t bad;

	assert_int_equal(cache_load(c, k, collect, &s, &bad, err, sizeof(err)),
	    0);
	assert_int_equal(bad, 0);
	return s.n;
}

static void
test_versions(void **state)
{
	struct cache_key k1 = { "https://np", "cns", "u1", "e1", 1, 3 };
	struct cache_key k2 = k1, k3 = k1;
	struct cache_entry e[2] = { { "Tm1", "\xc1\x00", 2 },
	    { "Mi1", "\xc1\x00", 2 } };
	struct cache_run run = { "use", 0, 2, NULL };
	struct cache *c;
	struct stat sb;
	char note[600], err[256], *path, *d = tmpdir(), *sub;
	cJSON *st;
	uint64_t gone;

	(void)state;
	sub = xasprintf("%s/a/b", d);	/* made, with its parents */
	assert_int_equal(cache_open(sub, CACHE_OPEN_CHECK, &c, note, sizeof(note), err,
	    sizeof(err)), 0);
	assert_string_equal(note, "");
	path = xasprintf("%s/%s", sub, CACHE_FILE);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(cache_store(c, &k1, e, 2, &run, 1, err, sizeof(err)),
	    0);
	assert_int_equal(load(c, &k1), 2);
	/* Only the whole key finds it: the edit, the generation, the width. */
	k2.edit = "e2";
	assert_int_equal(load(c, &k2), 0);
	k3.generation = 2;
	assert_int_equal(load(c, &k3), 0);
	k3 = k1;
	k3.nprimary = 4;
	assert_int_equal(load(c, &k3), 0);
	/* Another dataset is not pruned by k2; k1 is. */
	k3 = k1;
	k3.dataset = "hemibrain";
	assert_int_equal(cache_store(c, &k3, e, 1, &run, 1, err, sizeof(err)),
	    0);
	assert_int_equal(cache_store(c, &k2, e, 1, &run, 0, err, sizeof(err)),
	    0);
	assert_int_equal(load(c, &k1), 2);	/* no prune: kept */
	assert_int_equal(cache_store(c, &k2, e + 1, 1, &run, 1, err,
	    sizeof(err)), 0);
	assert_int_equal(load(c, &k1), 0);
	assert_int_equal(load(c, &k2), 2);
	assert_int_equal(load(c, &k3), 1);
	assert_int_equal(cache_stats(c, NULL, NULL, &st, err, sizeof(err)), 0);
	assert_int_equal(cJSON_GetObjectItem(st, "entries")->valuedouble, 3);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(st,
	    "versions")), 2);
	cJSON_Delete(st);
	assert_int_equal(cache_clear(c, "https://np", "cns", &gone, err,
	    sizeof(err)), 0);
	assert_int_equal(gone, 2);
	assert_int_equal(load(c, &k2), 0);
	assert_int_equal(load(c, &k3), 1);
	cache_close(c);
	free(path);
	free(sub);
	rmtree(d);
	free(d);
}

static void
test_bad_file_moved_aside(void **state)
{
	struct cache_key k = { "https://np", "cns", "u1", "", 1, 3 };
	struct cache_entry e = { "Tm1", "\xc1\x00", 2 };
	struct cache *c;
	char note[600], err[256], *path, *d = tmpdir();
	struct dirent *de;
	FILE *f;
	DIR *dir;
	int aside = 0;

	(void)state;
	path = xasprintf("%s/%s", d, CACHE_FILE);
	assert_non_null(f = fopen(path, "w"));
	fputs("this is not a database, but it is long enough to look like "
	    "one might be: a hundred bytes and more of plain text here.\n", f);
	fclose(f);
	assert_int_equal(cache_open(d, CACHE_OPEN_CHECK, &c, note, sizeof(note), err,
	    sizeof(err)), 0);
	assert_non_null(strstr(note, "not a SQLite database"));
	assert_non_null(strstr(note, "moved aside"));
	assert_int_equal(cache_store(c, &k, &e, 1, NULL, 1, err, sizeof(err)),
	    0);
	assert_int_equal(load(c, &k), 1);
	cache_close(c);
	assert_non_null(dir = opendir(d));
	while ((de = readdir(dir)) != NULL)
		aside += strncmp(de->d_name, CACHE_FILE ".bad-",
		    strlen(CACHE_FILE ".bad-")) == 0;
	closedir(dir);
	assert_int_equal(aside, 1);
	/* Now sound: opened again without a word. */
	assert_int_equal(cache_open(d, CACHE_OPEN_CHECK, &c, note, sizeof(note), err,
	    sizeof(err)), 0);
	assert_string_equal(note, "");
	cache_close(c);
	free(path);
	rmtree(d);
	free(d);
}

/* Set the main file's header to claim EXTRA pages more than it holds. */
static void
claim_pages(const char *path, unsigned extra)
{
	unsigned char h[100];
	struct stat sb;
	uint32_t psz, pages;
	FILE *f;
	int i;

	assert_int_equal(stat(path, &sb), 0);
	assert_non_null(f = fopen(path, "r+b"));
	assert_int_equal(fread(h, 1, sizeof(h), f), sizeof(h));
	psz = (uint32_t)h[16] << 8 | h[17];
	pages = (uint32_t)(sb.st_size / psz) + extra;
	for (i = 0; i < 4; i++) {
		h[28 + i] = (unsigned char)(pages >> (24 - 8 * i));
		h[92 + i] = h[24 + i];	/* the count is valid */
	}
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	assert_int_equal(fwrite(h, 1, sizeof(h), f), sizeof(h));
	fclose(f);
}

/*
 * Beside another connection's live WAL the main file may look short for a
 * moment (a checkpoint writes page 1 first): not a truncated file. With
 * no WAL the same header is one.
 */
static void
test_short_beside_live_wal(void **state)
{
	struct cache_key k = { "https://np", "cns", "u1", "", 1, 3 };
	struct cache_entry e[64];
	struct cache *c1, *c2;
	char note[600], err[256], stems[64][16], *path, *d = tmpdir();
	size_t i;

	(void)state;
	for (i = 0; i < 64; i++) {
		snprintf(stems[i], sizeof(stems[i]), "T%zu", i);
		e[i] = (struct cache_entry){ stems[i], "\xc1\x00", 2 };
	}
	path = xasprintf("%s/%s", d, CACHE_FILE);
	assert_int_equal(cache_open(d, CACHE_OPEN_CHECK, &c1, note,
	    sizeof(note), err, sizeof(err)), 0);
	assert_int_equal(cache_store(c1, &k, e, 64, NULL, 1, err,
	    sizeof(err)), 0);
	claim_pages(path, 5);
	assert_int_equal(cache_open(d, CACHE_OPEN_CHECK, &c2, note,
	    sizeof(note), err, sizeof(err)), 0);
	assert_string_equal(note, "");
	assert_int_equal(load(c2, &k), 64);
	cache_close(c2);
	cache_close(c1);

	claim_pages(path, 5);		/* no WAL now: truly short */
	assert_int_equal(cache_open(d, CACHE_OPEN_CHECK, &c1, note,
	    sizeof(note), err, sizeof(err)), 0);
	assert_non_null(strstr(note, "truncated"));
	cache_close(c1);
	free(path);
	rmtree(d);
	free(d);
}

/*
 * META's answer is kept with its version and comes back with the latest
 * version; a store without one leaves it. A version 1 file (no meta
 * column) is upgraded in place, its entries kept.
 */
static void
test_meta_and_upgrade(void **state)
{
	struct cache_key k = { "https://np", "cns", "u1", "e1", 1, 3 };
	struct cache_entry e = { "Tm1", "\xc1\x00", 2 };
	struct cache_run run = { "use", 0, 1, "[[\"FB\"],\"{}\"]" };
	struct cache *c;
	char note[600], err[256], uuid[64], edit[64], *m, *path, *d = tmpdir();
	unsigned np;
	sqlite3 *db;

	(void)state;
	assert_int_equal(cache_open(d, CACHE_OPEN_CHECK, &c, note,
	    sizeof(note), err, sizeof(err)), 0);
	assert_int_equal(cache_store(c, &k, &e, 1, &run, 1, err, sizeof(err)),
	    0);
	run.meta = NULL;
	assert_int_equal(cache_store(c, &k, &e, 1, &run, 1, err, sizeof(err)),
	    0);
	assert_int_equal(cache_latest(c, &k, uuid, sizeof(uuid), edit,
	    sizeof(edit), &np, &m, err, sizeof(err)), 0);
	assert_string_equal(uuid, "u1");
	assert_int_equal(np, 3);
	assert_non_null(m);
	assert_string_equal(m, "[[\"FB\"],\"{}\"]");
	free(m);
	cache_close(c);

	/* Back to version 1 as that quickpaged wrote it. */
	path = xasprintf("%s/%s", d, CACHE_FILE);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE versions DROP COLUMN "
	    "meta; PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(cache_open(d, CACHE_OPEN_CHECK, &c, note,
	    sizeof(note), err, sizeof(err)), 0);
	assert_string_equal(note, "");		/* not moved aside */
	assert_int_equal(load(c, &k), 1);
	assert_int_equal(cache_latest(c, &k, uuid, sizeof(uuid), edit,
	    sizeof(edit), &np, &m, err, sizeof(err)), 0);
	assert_null(m);
	cache_close(c);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "SELECT meta FROM versions", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
	rmtree(d);
	free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_damaged_entries),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_bad_file_moved_aside),
		cmocka_unit_test(test_short_beside_live_wal),
		cmocka_unit_test(test_meta_and_upgrade),
	};

	xmalloc_install();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
