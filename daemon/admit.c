/*
 * admit: see admit.h. The kernel's permission rule first (acc_*), then
 * the daemon's: roots, a client's paths as its user, a site's admission,
 * cancels and privilege.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <assert.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admit.h"
#include "siteup.h"
#include "base/xmalloc.h"

int
admit_who_peer(int fd, struct admit_who *w)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	size_t i;

	assert(fd >= 0);	/* a connected socket the server holds */
	memset(w, 0, sizeof(*w));
	w->uid = w->gid = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	w->uid = (long)cr.uid;
	w->gid = (long)cr.gid;
	len = sizeof(w->groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, w->groups, &len) < 0) {
		/* More groups than we keep: the user's primary group only. */
		w->ngroups = 0;
		return errno == ERANGE ? 0 : -errno;
	}
	w->ngroups = len / sizeof(gid_t);
	/* the kernel filled at most LEN */
	assert(w->ngroups <= ADMIT_GROUPS_MAX);
	for (i = 0; i < w->ngroups; i++)
		if (w->groups[i] == (gid_t)-1)
			w->ngroups = i;
	return 0;
}

int
admit_who_user(long uid, struct admit_who *w)
{
	struct passwd pw, *p = NULL;
	char buf[4096];
	int n = ADMIT_GROUPS_MAX;

	memset(w, 0, sizeof(*w));
	w->uid = uid;
	w->gid = -1;
	if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &p) != 0 ||
	    p == NULL)
		return -ENOENT;		/* no groups: owner and other bits */
	w->gid = (long)p->pw_gid;
	if (getgrouplist(p->pw_name, p->pw_gid, w->groups, &n) < 0)
		n = 0;
	/* getgrouplist never reports more than it was given room for */
	assert(n >= 0 && n <= ADMIT_GROUPS_MAX);
	w->ngroups = (size_t)n;
	return 0;
}

static int
in_group(const struct admit_who *w, gid_t g)
{
	size_t i;

	if (w->gid >= 0 && (gid_t)w->gid == g)
		return 1;
	for (i = 0; i < w->ngroups; i++)
		if (w->groups[i] == g)
			return 1;
	return 0;
}

/* The kernel's rule: the first class that matches decides, alone. */
static int
allowed(const struct admit_who *w, const struct stat *st, int mode)
{
	unsigned bits;

	assert((mode & ~7) == 0);	/* R_OK, W_OK, X_OK only */
	if (w->uid == 0)
		return 1;
	if ((uid_t)w->uid == st->st_uid)
		bits = (st->st_mode >> 6) & 7;
	else if (in_group(w, st->st_gid))
		bits = (st->st_mode >> 3) & 7;
	else
		bits = st->st_mode & 7;
	return ((unsigned)mode & ~bits & 7) == 0;
}

static const char *
mode_words(int mode)
{
	if (mode & W_OK)
		return "write to";
	if (mode & R_OK)
		return "read";
	return "enter";
}

int
admit_check(const struct admit_who *w, const char *path, int mode, int is_dir,
    char *err, size_t errlen)
{
	char p[PATH_MAX];
	struct stat st;
	size_t n = strlen(path), i;

	/* R_OK, W_OK, X_OK or'ed: F_OK means nothing here */
	assert(mode != 0 && (mode & ~(R_OK | W_OK | X_OK)) == 0);
	if (path[0] != '/' || n >= sizeof(p))
		return -EINVAL;
	memcpy(p, path, n + 1);
	/* "/" and every parent after it: search permission. */
	for (i = 0; i < n; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		if (stat(i == 0 ? "/" : p, &st) < 0)
			return -errno;
		if (!allowed(w, &st, X_OK)) {
			snprintf(err, errlen, "%s: user %ld may not enter it",
			    i == 0 ? "/" : p, w->uid);
			return -EACCES;
		}
		p[i] = '/';
	}
	if (lstat(path, &st) < 0)
		return -errno;
	if (is_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a %s", path,
		    is_dir ? "directory" : "regular file");
		return -EINVAL;
	}
	if (!allowed(w, &st, mode)) {
		snprintf(err, errlen, "%s: user %ld may not %s it", path,
		    w->uid, mode_words(mode));
		return -EACCES;
	}
	return 0;
}

/* ---- the daemon's rules ---- */

/* PATH lies under ROOT, both resolved: component-wise, not string prefix. */
static int
under(const char *path, const char *root)
{
	size_t n = strlen(root);

	if (n == 1 && root[0] == '/')
		return 1;
	return strncmp(path, root, n) == 0 && (path[n] == '/' ||
	    path[n] == '\0');
}

/* Resolve PATH and check it lies under an allowed root. */
int
admit_path(const struct settings *set, const char *what, const char *path,
    char *resolved, enum proto_err *code, char *err, size_t errlen)
{
	char root[PATH_MAX];
	size_t i;

	/* a loaded config names its paths */
	assert(set != NULL && path != NULL);
	if (path[0] != '/') {
		*code = PROTO_E_REFUSED;
		snprintf(err, errlen, "%s '%s' is relative; the daemon takes "
		    "absolute paths only", what, path);
		return -EPERM;
	}
	if (realpath(path, resolved) == NULL) {
		*code = PROTO_E_BAD_CONFIG;
		snprintf(err, errlen, "%s '%s': %s", what, path,
		    strerror(errno));
		return -errno;
	}
	assert(resolved[0] == '/');	/* realpath's answer is absolute */
	for (i = 0; i < set->nroots; i++)
		if (realpath(set->roots[i], root) != NULL &&
		    under(resolved, root))
			return 0;
	*code = PROTO_E_REFUSED;
	snprintf(err, errlen, "%s '%s' (resolved: %s) is not under the "
	    "daemon's allowed_output_roots; ask the administrator to add its "
	    "parent directory there", what, path, resolved);
	return -EPERM;
}

/* cfg_origin's getenv over the NEUPRINT_* variables a client sent. */
static const char *
client_env(const void *arg, const char *name)
{
	const struct admit_from *f = arg;

	assert(f != NULL);	/* load_site passes its F */
	if (strcmp(name, "NEUPRINT_TOKEN") == 0)
		return f->token;
	if (strcmp(name, "NEUPRINT_APPLICATION_CREDENTIALS") == 0)
		return f->credentials;
	return NULL;
}

static void
replace_str(char **dst, const char *src)
{
	free(*dst);
	*dst = xstrdup(src);
}

/*
 * WHO may do MODE to PATH (resolved), WHAT in messages: else refused. The
 * daemon opens a client's paths only as that client could.
 */
static int
as_user(const struct admit_who *who, const char *what, const char *path,
    int mode, int is_dir, enum proto_err *code, char *err, size_t errlen)
{
	char why[PATH_MAX + 64];
	int rc;

	assert(who != NULL);	/* a submission's, or looked up by uid */
	assert(path[0] == '/');	/* resolved by admit_path first */
	why[0] = '\0';
	if ((rc = admit_check(who, path, mode, is_dir, why, sizeof(why))) == 0)
		return 0;
	*code = PROTO_E_REFUSED;
	snprintf(err, errlen, "%s: %s; the daemon reads and writes only what "
	    "the submitting user could", what, why[0] ? why : strerror(-rc));
	return rc;
}

/* A client's template_dir (resolved): the directory and each file in it. */
static int
check_templates(const struct admit_who *who, const char *dir,
    enum proto_err *code, char *err, size_t errlen)
{
	char p[PATH_MAX];
	const char *name;
	size_t i;
	int rc;

	if ((rc = as_user(who, "template_dir", dir, R_OK | X_OK, 1, code, err,
	    errlen)) < 0)
		return rc;
	for (i = 0; (name = siteup_tpl_name(i)) != NULL; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, name);
		if ((rc = as_user(who, "template_dir", p, R_OK, 0, code, err,
		    errlen)) < 0)
			return rc;
	}
	return 0;
}

/*
 * A client's config: each path it names, resolved, as its user could
 * use it. Its templates are then opened with no symlink in their path.
 */
static int
check_client_paths(const struct admit_who *who, struct cfg_site *site,
    enum proto_err *code, char *err, size_t errlen)
{
	int rc;

	if ((rc = as_user(who, "output directory", site->output_dir,
	    R_OK | W_OK | X_OK, 1, code, err, errlen)) < 0)
		return rc;
	if (site->ca_file && (rc = as_user(who, "ca_file", site->ca_file, R_OK,
	    0, code, err, errlen)) < 0)
		return rc;
	if (site->template_dir && (rc = check_templates(who,
	    site->template_dir, code, err, errlen)) < 0)
		return rc;
	/* Only a client's config gets here: a named site's paths are the
	 * administrator's. */
	assert(!site->strict_paths);
	site->strict_paths = 1;
	return 0;
}

/*
 * A client's working directory: relative paths in its config resolve
 * against it (as QuickPage's and neuView's do against theirs). It is not
 * itself checked as the user: nothing is opened there, and each path
 * resolved against it is checked like any other (check_client_paths), so
 * a config of absolute paths works from wherever qpctl runs.
 */
static int
check_cwd(const char *cwd, enum proto_err *code, char *err, size_t errlen)
{
	if (cwd == NULL || cwd[0] == '/')
		return 0;
	*code = PROTO_E_INVALID;
	snprintf(err, errlen, "\"cwd\" '%.200s' is not an absolute path", cwd);
	return -EINVAL;
}

/* Read the site: by name as the daemon's, a client's text as F says. */
static int
load_site(const struct settings *set, const char *name, const char *text,
    size_t len, const struct admit_from *f, struct cfg_site **site,
    enum proto_err *code, char *err, size_t errlen)
{
	struct cfg_origin o = {
		.cwd = f->cwd, .no_cwd = "the client sent no working directory",
		.getenv = client_env, .env_arg = f,
		.output_dir = f->output_dir,
	};
	char cerr[512];
	int rc;

	if (name != NULL && f->output_dir != NULL) {
		*code = PROTO_E_INVALID;
		snprintf(err, errlen, "site '%s' writes where the daemon's "
		    "settings say; --output-dir goes with --config", name);
		return -EINVAL;
	}
	if (name != NULL)
		rc = settings_site_load(set, name, site, cerr,
		    sizeof(cerr));
	else
		rc = cfg_site_parse("client config", text, len, &o, site, cerr,
		    sizeof(cerr));
	if (rc == -ENOENT && name != NULL && settings_site(set, name) ==
	    NULL) {
		*code = PROTO_E_NOT_FOUND;
		snprintf(err, errlen, "%s", cerr);
		return rc;
	}
	if (rc < 0) {
		*code = PROTO_E_BAD_CONFIG;
		snprintf(err, errlen, "the site config does not load: %s", cerr);
		return rc;
	}
	/* A loaded config has its output directory (config.c refuses one
	 * without). */
	assert(*site != NULL && (*site)->output_dir != NULL);
	return rc;
}

/*
 * Load the site (by name or text), resolve and check its paths; a
 * client's config also as its user WHO, from where F says.
 */
int
admit_site(const struct settings *set, const char *name, const char *text,
    size_t len, const struct admit_from *f, const struct admit_who *who,
    struct cfg_site **out, enum proto_err *code, char *err, size_t errlen)
{
	char dir[PATH_MAX], p[PATH_MAX];
	struct cfg_site *site = NULL;
	int rc;

	/* A site or a text, never both nor neither (jobs_submit refuses
	 * that; a resumed job has one of them). */
	assert((name == NULL) != (text == NULL));
	/* a client's config comes with its user */
	assert(name != NULL || who != NULL);
	*out = NULL;
	if (name == NULL && (rc = check_cwd(f->cwd, code, err, errlen)) < 0)
		return rc;
	if ((rc = load_site(set, name, text, len, f, &site, code, err,
	    errlen)) < 0)
		return rc;
	if ((rc = admit_path(set, "output directory", site->output_dir,
	    dir, code, err, errlen)) < 0)
		goto fail;
	replace_str(&site->output_dir, dir);
	/* The daemon never opens a path a client names outside the roots. */
	if (name == NULL && site->ca_file) {
		if ((rc = admit_path(set, "ca_file", site->ca_file, p, code,
		    err, errlen)) < 0)
			goto fail;
		replace_str(&site->ca_file, p);
	}
	if (name == NULL && site->template_dir) {
		if ((rc = admit_path(set, "template_dir",
		    site->template_dir, p, code, err, errlen)) < 0)
			goto fail;
		replace_str(&site->template_dir, p);
	}
	if (name == NULL && (rc = check_client_paths(who, site, code, err,
	    errlen)) < 0)
		goto fail;
	*out = site;
	return 0;
fail:
	cfg_site_free(site);
	return rc;
}

int
admit_privileged(long uid)
{
	return uid == 0 || uid == (long)getuid();
}

int
admit_may_cancel(long uid, long owner)
{
	return uid == owner || admit_privileged(uid);
}

