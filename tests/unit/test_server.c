/*
 * server: the transport with a stand-in handler, a client on a plain
 * blocking socket and the loop run step by step. Each request reaches the
 * handler once, in order; a promised answer holds the next request back;
 * a session closed meanwhile waits for it; a watch keeps a half-closed
 * session open until it ends; the daemon's stop tells a watch; an idle
 * client is cut off; everything is freed.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server.h"

static uv_loop_t loop;
static struct settings set;
static struct srv *srv;
static char dir[64], path[96];	/* fits sun_path */

static long ids[64];
static size_t ncalls;
static struct sess *held;
static int token, unwatched, unwatch_stops;

static void
on_unwatch(struct sess *s, void *w, int daemon_stops)
{
	assert_ptr_equal(s, held);
	assert_ptr_equal(w, &token);
	unwatched++;
	unwatch_stops = daemon_stops;
}

/* submit: answered later; watch: held; anything else: answered now. */
static void
handler(void *arg, struct sess *s, long id, enum proto_op op,
    const cJSON *req)
{
	(void)arg;
	(void)req;
	assert_true(ncalls < 64);
	ids[ncalls++] = id;
	if (op == PROTO_SUBMIT) {
		held = s;
		sess_wait(s, id);
		return;
	}
	sess_send(s, proto_reply(id));
	if (op == PROTO_WATCH) {
		held = s;
		sess_watch(s, &token, on_unwatch);
	}
}

static int
setup(void **state)
{
	char err[256];

	(void)state;
	strcpy(dir, "/tmp/qp-srv-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	memset(&set, 0, sizeof(set));
	set.socket = path;
	set.idle_timeout_ms = 30000;
	set.max_clients = 128;
	set.max_clients_per_user = 32;
	ncalls = 0;
	held = NULL;
	unwatched = unwatch_stops = 0;
	uv_loop_init(&loop);
	return srv_open(&loop, &set, handler, NULL, &srv, err, sizeof(err));
}

/* Everything closes and frees itself: the loop ends with no handle. */
static int
teardown(void **state)
{
	(void)state;
	srv_free(srv);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		return -1;
	unlink(path);
	return rmdir(dir);
}

static int
cl_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void
cl_send(int fd, enum proto_op op, long id)
{
	cJSON *req = proto_request(op, id);
	size_t len;
	char *line = proto_encode(req, &len);

	assert_int_equal(write(fd, line, len), (ssize_t)len);
	cJSON_Delete(req);
	free(line);
}

/* Run the loop for about MS milliseconds while FD has nothing to read. */
static int
pump(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int i;

	for (i = 0; i < ms; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		if (poll(&p, 1, 1) > 0)
			return 1;
	}
	return 0;
}

/* The next line from the server (its id), or -1 at EOF. */
static long
cl_line(int fd, cJSON **out)
{
	char buf[4096];
	size_t n = 0;
	long id;
	cJSON *o;

	while (n < sizeof(buf) - 1) {
		assert_true(pump(fd, 5000));
		if (read(fd, buf + n, 1) != 1)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	o = cJSON_Parse(buf);
	assert_non_null(o);
	id = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "id"));
	if (out)
		*out = o;
	else
		cJSON_Delete(o);
	return id;
}

static void
test_each_once_in_order(void **state)
{
	int fd = cl_connect();
	long i;

	(void)state;
	for (i = 1; i <= 10; i++)
		cl_send(fd, PROTO_PING, i);
	for (i = 1; i <= 10; i++)
		assert_int_equal(cl_line(fd, NULL), i);
	assert_int_equal(ncalls, 10);
	for (i = 0; i < 10; i++)
		assert_int_equal(ids[i], i + 1);
	close(fd);
}

static void
test_answer_holds_next(void **state)
{
	int fd = cl_connect();

	(void)state;
	cl_send(fd, PROTO_SUBMIT, 1);
	cl_send(fd, PROTO_PING, 2);
	assert_false(pump(fd, 200));	/* nothing yet, the ping waits */
	assert_int_equal(ncalls, 1);
	assert_int_equal(sess_wait_id(held), 1);
	sess_answer(held, proto_reply(1));
	assert_int_equal(cl_line(fd, NULL), 1);
	assert_int_equal(cl_line(fd, NULL), 2);
	assert_int_equal(ncalls, 2);
	close(fd);
}

/* The daemon stops while an answer is due: the session waits closed. */
static void
test_answer_after_stop(void **state)
{
	int fd = cl_connect();

	(void)state;
	cl_send(fd, PROTO_SUBMIT, 1);
	assert_false(pump(fd, 100));
	assert_int_equal(ncalls, 1);
	srv_free(srv);
	srv = NULL;
	assert_int_equal(cl_line(fd, NULL), -1);	/* closed, not freed */
	uv_run(&loop, UV_RUN_NOWAIT);
	sess_answer(held, proto_reply(1));	/* nobody to tell: freed */
	close(fd);
}

static void
test_watch_holds_halfclosed(void **state)
{
	cJSON *o;
	int fd = cl_connect();

	(void)state;
	cl_send(fd, PROTO_WATCH, 7);
	shutdown(fd, SHUT_WR);
	assert_int_equal(cl_line(fd, NULL), 7);
	assert_false(pump(fd, 200));	/* held open: no EOF */
	assert_ptr_equal(sess_watching(held), &token);
	sess_watch_end(held, proto_event(7, "end"));
	assert_int_equal(cl_line(fd, &o), 7);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o,
	    "event")), "end");
	cJSON_Delete(o);
	assert_int_equal(cl_line(fd, NULL), -1);	/* then it ends */
	assert_int_equal(unwatched, 0);	/* an ended watch is not unwatched */
	close(fd);
}

static void
test_stop_tells_watch(void **state)
{
	int fd = cl_connect();

	(void)state;
	cl_send(fd, PROTO_WATCH, 3);
	assert_int_equal(cl_line(fd, NULL), 3);
	srv_free(srv);
	srv = NULL;
	assert_int_equal(unwatched, 1);
	assert_int_equal(unwatch_stops, 1);
	assert_int_equal(cl_line(fd, NULL), -1);
	close(fd);
}

static void
test_idle_cut_off(void **state)
{
	cJSON *o;
	int fd;

	(void)state;
	set.idle_timeout_ms = 50;
	srv_configure(srv, &set);
	fd = cl_connect();
	assert_int_equal(cl_line(fd, &o), 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(o, "error"), "code")), "timeout");
	cJSON_Delete(o);
	assert_int_equal(cl_line(fd, NULL), -1);
	assert_int_equal(ncalls, 0);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_each_once_in_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_answer_holds_next, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_answer_after_stop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_watch_holds_halfclosed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_tells_watch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_idle_cut_off, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
