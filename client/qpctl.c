/*
 * qpctl: talk to quickpaged over its socket (docs/protocol.md).
 * Exit status: 0 success (a job succeeded), 1 a job failed or the daemon
 * refused, 2 bad usage, 3 the daemon cannot be reached, 4 job cancelled.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qp_build.h"
#include "base/dotenv.h"
#include "progress.h"
#include "protocol.h"
#include "base/xmalloc.h"

enum { EX_OK, EX_FAILED, EX_USAGE, EX_UNREACHABLE, EX_CANCELLED };

#define REPLY_TIMEOUT_S	60

struct conn {
	int	 fd;
	char	*buf;
	size_t	 len, cap;
	const char *path;
};

static int json_out;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: qpctl [--socket PATH] [--json] COMMAND\n"
	    "  submit create-index (SITE | -c|--config FILE) [--quick] "
	    "[--wait | --follow]\n"
	    "         [--no-cache | --refresh] [--output-dir DIR]\n"
	    "         (create-list: neuView's name for create-index; without\n"
	    "         SITE or --config, ./config.yaml, as neuView reads)\n"
	    "  status [ID]      a job, or every queued and running job\n"
	    "  list             recent jobs\n"
	    "  cancel ID\n"
	    "  watch ID         follow a job until it ends\n"
	    "  stats [--prometheus]  daemon figures; --prometheus: the metrics as\n"
	    "                        Prometheus text (as the metrics_file holds them)\n"
	    "  cache stats [SITE]   entries, bytes, versions, hit rate\n"
	    "  cache clear [SITE]   drop the cache (root or the daemon's user)\n"
	    "  ping\n"
	    "The socket is --socket, else $QUICKPAGED_SOCKET, else "
	    PROTO_DEFAULT_SOCKET ".\n");
}

static int
unreachable(const struct conn *c, int err)
{
	fprintf(stderr, "qpctl: cannot reach quickpaged at %s: %s\n", c->path,
	    strerror(err));
	if (err == EACCES || err == EPERM)
		fprintf(stderr, "qpctl: the socket's group decides who may "
		    "talk to the daemon; ask to be added to it\n");
	else
		fprintf(stderr, "qpctl: is it running? (systemctl status "
		    "quickpaged.socket quickpaged), or pass --socket PATH\n");
	return EX_UNREACHABLE;
}

static int
conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(c, 0, sizeof(*c));
	c->path = path;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(c->fd);
		c->fd = -1;
		return -e;
	}
	return 0;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
}

static void
set_timeout(struct conn *c, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static int
conn_send(struct conn *c, cJSON *msg)
{
	size_t len, off = 0;
	ssize_t n;
	char *line;

	line = proto_encode(msg, &len);
	cJSON_Delete(msg);
	while (off < len) {
		n = send(c->fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(line);
			return -errno;
		}
		off += (size_t)n;
	}
	assert(off == len);	/* send never reports more than asked */
	free(line);
	return 0;
}

/* The next message; -EPIPE when the daemon hung up. */
static int
conn_recv(struct conn *c, cJSON **out)
{
	char *nl;
	ssize_t n;
	size_t k;
	int rc;

	for (;;) {
		assert(c->len <= c->cap);	/* recv reads into the room left */
		if (c->len && (nl = memchr(c->buf, '\n', c->len)) != NULL) {
			k = (size_t)(nl - c->buf);
			if (json_out)
				printf("%.*s\n", (int)k, c->buf);
			rc = proto_parse_reply(c->buf, k, out);
			memmove(c->buf, nl + 1, c->len - k - 1);
			c->len -= k + 1;
			return rc;
		}
		if (c->cap - c->len < 65536) {
			if (c->cap > 16 * PROTO_MAX_LINE)
				return -EMSGSIZE;
			c->cap += 65536;
			c->buf = xrealloc(c->buf, c->cap);
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		c->len += (size_t)n;
	}
}

/* Say what the daemon refused and what to do; returns the exit status. */
static int
report_error(const cJSON *r)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");
	const char *code = proto_str(e, "code"), *msg = proto_str(e, "message");
	int k = proto_err_parse(code);

	if (!json_out)
		fprintf(stderr, "qpctl: %s (%s)\n", msg ? msg : "error",
		    code ? code : "?");
	switch (k) {
	case PROTO_E_INVALID:
		return EX_USAGE;
	case PROTO_E_BUSY:
	case PROTO_E_STOPPING:
		if (!json_out)
			fprintf(stderr, "qpctl: try again in a moment\n");
		return EX_UNREACHABLE;
	default:
		return EX_FAILED;
	}
}

/* One request, one reply. On success *OUT is the reply (ok true). */
static int
call(struct conn *c, cJSON *req, cJSON **out)
{
	int rc;

	*out = NULL;
	set_timeout(c, REPLY_TIMEOUT_S);
	if ((rc = conn_send(c, req)) < 0 || (rc = conn_recv(c, out)) < 0) {
		if (rc == -EPIPE || rc == -ECONNRESET)
			fprintf(stderr, "qpctl: quickpaged closed the "
			    "connection; see its log (journalctl -u "
			    "quickpaged)\n");
		else if (rc == -EAGAIN || rc == -EWOULDBLOCK)
			fprintf(stderr, "qpctl: quickpaged did not answer "
			    "within %d s\n", REPLY_TIMEOUT_S);
		else
			fprintf(stderr, "qpctl: talking to quickpaged: %s\n",
			    strerror(-rc));
		return EX_UNREACHABLE;
	}
	assert(*out != NULL);	/* a reply parsed */
	if (!proto_bool(*out, "ok", 0)) {
		rc = report_error(*out);
		cJSON_Delete(*out);
		*out = NULL;
		return rc;
	}
	return EX_OK;
}

static void
fmt_time(double t, char *buf, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;

	if (t <= 0) {
		snprintf(buf, len, "-");
		return;
	}
	localtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static int
state_status(enum proto_state s)
{
	return s == PROTO_SUCCEEDED ? EX_OK : s == PROTO_CANCELLED ?
	    EX_CANCELLED : s == PROTO_FAILED ? EX_FAILED : EX_OK;
}

/* The closing line of a job. */
static void
print_outcome(const struct proto_job *j)
{
	cJSON *s;

	if (json_out)
		return;		/* the end event was printed as it came */
	s = j->summary ? cJSON_Parse(j->summary) : NULL;
	switch (j->state) {
	case PROTO_SUCCEEDED:
		printf("job %lld %s succeeded: %lld entries (%lld types, %lld "
		    "unmatched, %lld failed) in %.1f s\n%s\n", (long long)j->id,
		    j->site, (long long)proto_int(s, "entries", 0),
		    (long long)proto_int(s, "types", 0),
		    (long long)proto_int(s, "unmatched", 0),
		    (long long)proto_int(s, "failed", 0),
		    j->finished - j->started, proto_str(s, "index") ?
		    proto_str(s, "index") : "");
		break;
	case PROTO_FAILED:
		printf("job %lld %s failed: %s\n", (long long)j->id, j->site,
		    j->error);
		fprintf(stderr, "qpctl: the previous index, if any, is "
		    "untouched; fix the cause and submit again\n");
		break;
	case PROTO_CANCELLED:
		printf("job %lld %s cancelled\n", (long long)j->id, j->site);
		break;
	default:
		printf("job %lld %s: %s\n", (long long)j->id, j->site,
		    proto_state_name(j->state));
	}
	cJSON_Delete(s);
	fflush(stdout);
}

static void
print_job(const struct proto_job *j)
{
	char c[32], s[32], f[32], line[512];

	if (json_out)
		return;
	fmt_time(j->created, c, sizeof(c));
	fmt_time(j->started, s, sizeof(s));
	fmt_time(j->finished, f, sizeof(f));
	printf("job %lld: create-index %s%s\n", (long long)j->id, j->site,
	    j->quick ? " --quick" : "");
	printf("  state:     %s\n", proto_state_name(j->state));
	if (j->state == PROTO_RUNNING) {
		progress_state(j, line, sizeof(line));
		printf("  progress:  %s\n", line);
	}
	printf("  output:    %s\n", j->output_dir);
	printf("  submitter: uid %ld\n", j->uid);
	printf("  created:   %s\n  started:   %s\n  finished:  %s\n", c, s, f);
	if (j->attempt > 1)
		printf("  attempts:  %u\n", j->attempt);
	if (j->error[0])
		printf("  error:     %s\n", j->error);
	if (j->summary)
		printf("  summary:   %s\n", j->summary);
}

static int
get_job(const cJSON *r, struct proto_job *j)
{
	if (proto_job_parse(cJSON_GetObjectItemCaseSensitive(r, "job"), j) < 0) {
		fprintf(stderr, "qpctl: the daemon's reply lacks a job\n");
		return -EBADMSG;
	}
	return 0;
}

/* Follow job ID on C until it ends; LIVE draws progress. */
static int
follow(struct conn *c, int64_t id, int live)
{
	struct progress p;
	struct proto_job j;
	const char *ev;
	cJSON *req, *m;
	int rc, status, end;

	req = proto_request(PROTO_WATCH, 1);
	cJSON_AddNumberToObject(req, "job_id", (double)id);
	if ((status = call(c, req, &m)) != EX_OK)
		return status;
	cJSON_Delete(m);
	set_timeout(c, 0);
	progress_init(&p, stdout);
	for (;;) {
		if ((rc = conn_recv(c, &m)) < 0) {
			progress_clear(&p);
			fprintf(stderr, "qpctl: lost quickpaged while following "
			    "job %lld; the job goes on or resumes when the "
			    "daemon is back: qpctl status %lld\n",
			    (long long)id, (long long)id);
			return EX_UNREACHABLE;
		}
		ev = proto_str(m, "event");
		if (ev && strcmp(ev, "stopping") == 0) {
			progress_clear(&p);
			fprintf(stderr, "qpctl: quickpaged is stopping; job %lld "
			    "stays queued and runs again when it starts: qpctl "
			    "status %lld\n", (long long)id, (long long)id);
			cJSON_Delete(m);
			return EX_UNREACHABLE;
		}
		end = ev != NULL && strcmp(ev, "end") == 0;
		if (ev == NULL || get_job(m, &j) < 0) {
			cJSON_Delete(m);
			continue;
		}
		cJSON_Delete(m);
		if (end) {
			progress_clear(&p);
			print_outcome(&j);
			status = state_status(j.state);
			proto_job_clear(&j);
			return status;
		}
		if (live && !json_out)
			progress_update(&p, &j);
		proto_job_clear(&j);
	}
}

static char *
read_file(const char *path, size_t *len)
{
	struct stat st;
	char *text;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "qpctl: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0 || st.st_size > PROTO_MAX_CONFIG) {
		fprintf(stderr, "qpctl: %s: a config is at most %d bytes\n",
		    path, PROTO_MAX_CONFIG);
		fclose(f);
		return NULL;
	}
	assert(st.st_size >= 0);	/* a size fstat gave */
	text = xcalloc(1, (size_t)st.st_size + 1);
	if ((*len = fread(text, 1, (size_t)st.st_size, f)) !=
	    (size_t)st.st_size) {
		fprintf(stderr, "qpctl: cannot read %s\n", path);
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

struct submit {
	const char	*kind;		/* create-index or create-list */
	const char	*site, *config, *output_dir, *cache;
	int		 quick, wait, follow;
};

/* A value option: --NAME VALUE or --NAME=VALUE (and SHORT VALUE). */
static int
valopt(int argc, char **argv, int *i, const char *name, const char *shrt,
    const char **dst)
{
	size_t n = strlen(name);

	if (*dst == NULL && ((strcmp(argv[*i], name) == 0 ||
	    (shrt && strcmp(argv[*i], shrt) == 0)) && *i + 1 < argc)) {
		*dst = argv[++*i];
		return 1;
	}
	if (*dst == NULL && strncmp(argv[*i], name, n) == 0 &&
	    argv[*i][n] == '=') {
		*dst = argv[*i] + n + 1;
		return 1;
	}
	return 0;
}

/* Options may come anywhere after "submit". */
static int
submit_args(int argc, char **argv, struct submit *a)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			a->quick = 1;
		else if (strcmp(argv[i], "--wait") == 0)
			a->wait = 1;
		else if (strcmp(argv[i], "--follow") == 0)
			a->follow = 1;
		else if (strcmp(argv[i], "--no-cache") == 0 && !a->cache)
			a->cache = "off";
		else if (strcmp(argv[i], "--refresh") == 0 && !a->cache)
			a->cache = "refresh";
		/* neuView minifies unless told not to; ours is compact. */
		else if (strcmp(argv[i], "--minify") == 0 ||
		    strcmp(argv[i], "--no-minify") == 0)
			;
		else if (valopt(argc, argv, &i, "--config", "-c", &a->config) ||
		    valopt(argc, argv, &i, "--output-dir", NULL,
		    &a->output_dir))
			;
		else if (argv[i][0] == '-') {
			fprintf(stderr, "qpctl: unknown option '%s'\n", argv[i]);
			return -1;
		} else if (!a->kind && (strcmp(argv[i], "create-index") == 0 ||
		    strcmp(argv[i], "create-list") == 0))
			a->kind = argv[i];
		else if (a->kind && a->site == NULL)
			a->site = argv[i];
		else {
			fprintf(stderr, "qpctl: submit what? The one job is "
			    "create-index (or create-list): qpctl submit "
			    "create-index SITE\n");
			return -1;
		}
	}
	if (!a->kind || (a->site && a->config) || (a->wait && a->follow)) {
		fprintf(stderr, "qpctl: usage: qpctl submit create-index|"
		    "create-list (SITE | -c FILE) [--quick] [--wait | "
		    "--follow] [--no-cache | --refresh] [--output-dir DIR]\n");
		return -1;
	}
	/* QuickPage and neuView read ./config.yaml when not told. */
	if (a->site == NULL && a->config == NULL)
		a->config = "config.yaml";
	/* A site or a config, never both: cmd_submit sends one of them. */
	assert((a->site == NULL) != (a->config == NULL));
	return 0;
}

/*
 * A config goes with what the daemon needs to read it as neuView would
 * here: our working directory (its relative paths resolve there) and our
 * NEUPRINT_* variables, else ./.env's (its token when the file names
 * none; the daemon never lends out its own).
 */
static int
add_config(cJSON *req, const struct submit *a)
{
	static const char *const vars[] = {
		"NEUPRINT_TOKEN", "NEUPRINT_APPLICATION_CREDENTIALS"
	};
	char cwd[PATH_MAX], *text, *dot;
	cJSON *env;
	size_t len, i;
	const char *v;

	if ((text = read_file(a->config, &len)) == NULL)
		return -1;
	cJSON_AddStringToObject(req, "config", text);
	explicit_bzero(text, len);	/* it may hold the token */
	free(text);
	if (getcwd(cwd, sizeof(cwd)) != NULL)
		cJSON_AddStringToObject(req, "cwd", cwd);
	env = cJSON_AddObjectToObject(req, "env");
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if ((v = getenv(vars[i])) != NULL && *v) {
			cJSON_AddStringToObject(env, vars[i], v);
			continue;
		}
		/* ./.env, as neuView reads it (dotenv.h). */
		if ((dot = dotenv_get(".env", vars[i])) != NULL && *dot)
			cJSON_AddStringToObject(env, vars[i], dot);
		if (dot != NULL) {
			explicit_bzero(dot, strlen(dot));
			free(dot);
		}
	}
	return 0;
}

static int
cmd_submit(struct conn *c, int argc, char **argv)
{
	struct submit a = { 0 };
	struct proto_job j;
	cJSON *req, *r;
	int status;

	if (submit_args(argc, argv, &a) < 0)
		return EX_USAGE;
	req = proto_request(PROTO_SUBMIT, 1);
	if (a.cache)
		cJSON_AddStringToObject(req, "cache", a.cache);
	cJSON_AddStringToObject(req, "kind", a.kind);
	if (a.site)
		cJSON_AddStringToObject(req, "site", a.site);
	else if (add_config(req, &a) < 0) {
		cJSON_Delete(req);
		return EX_USAGE;
	}
	if (a.output_dir)
		cJSON_AddStringToObject(req, "output_dir", a.output_dir);
	cJSON_AddBoolToObject(req, "quick", a.quick);
	if ((status = call(c, req, &r)) != EX_OK)
		return status;
	if (get_job(r, &j) < 0) {
		cJSON_Delete(r);
		return EX_FAILED;
	}
	if (!json_out)
		printf("job %lld %s%s\n", (long long)j.id,
		    proto_bool(r, "merged", 0) ? "(already queued: merged) " :
		    "", proto_state_name(j.state));
	fflush(stdout);
	cJSON_Delete(r);
	status = EX_OK;
	if (a.wait || a.follow)
		status = follow(c, j.id, a.follow);
	proto_job_clear(&j);
	return status;
}

/* qpctl cache stats|clear [SITE] */
static int
cmd_cache(struct conn *c, int argc, char **argv)
{
	cJSON *req, *r, *o;
	char *txt;
	int status;

	if (argc < 2 || argc > 3 || (strcmp(argv[1], "stats") != 0 &&
	    strcmp(argv[1], "clear") != 0)) {
		fprintf(stderr, "qpctl: usage: qpctl cache stats|clear [SITE]\n");
		return EX_USAGE;
	}
	req = proto_request(PROTO_CACHE, 1);
	cJSON_AddStringToObject(req, "action", argv[1]);
	if (argc == 3)
		cJSON_AddStringToObject(req, "site", argv[2]);
	if ((status = call(c, req, &r)) != EX_OK)
		return status;
	o = cJSON_GetObjectItemCaseSensitive(r, "cache");
	if (!json_out && strcmp(argv[1], "clear") == 0)
		printf("cache cleared: %.0f entries\n",
		    cJSON_GetNumberValue(cJSON_GetObjectItem(o, "cleared")));
	else if (!json_out) {
		txt = cJSON_Print(o);
		printf("%s\n", txt ? txt : "{}");
		cJSON_free(txt);
	}
	cJSON_Delete(r);
	return EX_OK;
}

static int64_t
parse_id(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0) {
		fprintf(stderr, "qpctl: '%s' is not a job id (see qpctl list)\n",
		    s);
		return -1;
	}
	return v;
}

static void
print_list(const cJSON *r)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(r, "jobs"), *e;
	struct proto_job j;
	char c[32], line[512];

	if (json_out)
		return;
	if (cJSON_GetArraySize(a) == 0) {
		printf("no jobs\n");
		return;
	}
	printf("%-6s %-10s %-20s %-19s %s\n", "ID", "STATE", "SITE", "CREATED",
	    "PROGRESS");
	cJSON_ArrayForEach(e, a) {
		if (proto_job_parse(e, &j) < 0)
			continue;
		fmt_time(j.created, c, sizeof(c));
		line[0] = '\0';
		if (j.state == PROTO_RUNNING)
			progress_state(&j, line, sizeof(line));
		printf("%-6lld %-10s %-20s %-19s %s\n", (long long)j.id,
		    proto_state_name(j.state), j.site, c, j.state ==
		    PROTO_RUNNING ? line : j.error);
		proto_job_clear(&j);
	}
}

/* qpctl stats [--prometheus] */
static int
cmd_stats(struct conn *c, int argc, char **argv)
{
	int prom = argc == 2 && strcmp(argv[1], "--prometheus") == 0;
	const char *text;
	cJSON *req, *r;
	char *txt;
	int status;

	if (argc > 2 || (argc == 2 && !prom)) {
		fprintf(stderr, "qpctl: usage: qpctl stats [--prometheus]\n");
		return EX_USAGE;
	}
	req = proto_request(PROTO_STATS, 1);
	if (prom)
		cJSON_AddStringToObject(req, "format", "prometheus");
	if ((status = call(c, req, &r)) != EX_OK)
		return status;
	if (json_out)
		;	/* conn_recv printed the reply */
	else if (prom) {
		if ((text = proto_str(r, "prometheus")) == NULL) {
			fprintf(stderr, "qpctl: the daemon's reply lacks the "
			    "metrics (an older quickpaged?)\n");
			status = EX_FAILED;
		} else
			fputs(text, stdout);
	} else {
		txt = cJSON_Print(cJSON_GetObjectItemCaseSensitive(r, "stats"));
		printf("%s\n", txt ? txt : "{}");
		cJSON_free(txt);
	}
	cJSON_Delete(r);
	return status;
}

static int
cmd_simple(struct conn *c, enum proto_op op, int argc, char **argv)
{
	struct proto_job j;
	int64_t id = 0;
	cJSON *req, *r;
	int status;

	if (argc > 2 || (argc == 2 && op != PROTO_STATUS && op !=
	    PROTO_CANCEL && op != PROTO_WATCH) || (argc == 1 && (op ==
	    PROTO_CANCEL || op == PROTO_WATCH))) {
		usage(stderr);
		return EX_USAGE;
	}
	if (argc == 2 && (id = parse_id(argv[1])) < 0)
		return EX_USAGE;
	if (op == PROTO_WATCH)
		return follow(c, id, 1);
	req = proto_request(op, 1);
	if (id > 0)
		cJSON_AddNumberToObject(req, "job_id", (double)id);
	if ((status = call(c, req, &r)) != EX_OK)
		return status;
	if (op == PROTO_PING && !json_out)
		printf("quickpaged %s (protocol %d, pid %lld) answers on %s\n",
		    proto_str(r, "version"), (int)proto_int(r, "protocol", 0),
		    (long long)proto_int(r, "pid", 0), c->path);
	else if ((op == PROTO_STATUS && id == 0) || op == PROTO_LIST)
		print_list(r);
	else if (op == PROTO_STATUS && get_job(r, &j) == 0) {
		print_job(&j);
		proto_job_clear(&j);
	} else if (op == PROTO_CANCEL && get_job(r, &j) == 0) {
		if (!json_out)
			printf("job %lld: cancel requested\n", (long long)j.id);
		proto_job_clear(&j);
	}
	cJSON_Delete(r);
	return status;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("QUICKPAGED_SOCKET");
	struct conn c;
	int ch, rc, k, status;

	xmalloc_install_cjson();	/* of the hooked libraries, qpctl uses cJSON alone */
	while ((ch = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1)
		switch (ch) {
		case 's': path = optarg; break;
		case 'j': json_out = 1; break;
		case 'h': usage(stdout); return EX_OK;
		case 'V': printf("qpctl %s\n", QP_VERSION); return EX_OK;
		default: usage(stderr); return EX_USAGE;
		}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (k = proto_op_parse(argv[0])) < 0) {
		if (argc >= 1)
			fprintf(stderr, "qpctl: unknown command '%s'\n",
			    argv[0]);
		usage(stderr);
		return EX_USAGE;
	}
	assert(k < PROTO_NOPS);	/* proto_op_parse's */
	if (path == NULL || path[0] == '\0')
		path = PROTO_DEFAULT_SOCKET;
	if ((rc = conn_open(&c, path)) < 0)
		return unreachable(&c, -rc);
	if (k == PROTO_SUBMIT)
		status = cmd_submit(&c, argc, argv);
	else if (k == PROTO_CACHE)
		status = cmd_cache(&c, argc, argv);
	else if (k == PROTO_STATS)
		status = cmd_stats(&c, argc, argv);
	else
		status = cmd_simple(&c, (enum proto_op)k, argc, argv);
	conn_close(&c);
	return status;
}
