/* What the AddressSanitizer harnesses of tests/c/ share (stop_gives_up.c,
 * continue_writes_close.c, continue_writes_many.c): a failure's exit, deadlines on
 * CLOCK_MONOTONIC, waits on flags and counts under one lock, the step watchdog and the
 * whole run's alarm, a client connected through the harness's own loopback listener (it
 * answers CONNECT with CONNACK, then reads only what it is told to), a publish that stays
 * a pending write, and the readers of the listener's connections.
 *
 * Each harness defines HARNESS_NAME (the prefix of its lines) before it includes this
 * header, and calls start_steps() first in main. Everything here is static: one copy per
 * harness, each compiled on its own with Paho C's sources (tests/harness/paho_c.rs,
 * build_paho_c_harness).
 *
 * Exit codes: 2 when the harness failed itself (fail), 3 when a step missed its deadline
 * or the whole run its alarm; the sanitizer's own is 66 (set by the Rust tests). */
#ifndef FLASK_MQTT_TESTS_C_HARNESS_H
#define FLASK_MQTT_TESTS_C_HARNESS_H

#ifndef HARNESS_NAME
#error "define HARNESS_NAME, the prefix of the harness's lines, before including harness.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "MQTTAsync.h"
#include "MQTTAsyncUtils.h"
#include "Socket.h"

extern mutex_type socket_mutex;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;   /* on CLOCK_MONOTONIC (start_steps sets it up first) */
static int connected = 0;     /* onSuccess of the connect in progress */
static int draining = 1;      /* the readers of the listener's connections run while 1 */
static const char* volatile step = NULL; /* the step timed (under lock; read by on_alarm) */
static struct timespec step_end;
static char alarm_line[160];  /* what on_alarm writes before the step's name */

/* The harness failed: exit code 2, at once (no atexit handler, no leak check of a run
 * cut short). */
static void fail(const char* what)
{
	fprintf(stderr, HARNESS_NAME ": %s\n", what);
	_exit(2);
}

static struct timespec deadline(int seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += seconds;
	return ts;
}

/* waits (lock held) until *value reaches at least `least`, at most `seconds`; 0 if not */
static int wait_until(int* value, int least, int seconds)
{
	struct timespec until = deadline(seconds);

	while (*value < least)
	{
		if (pthread_cond_timedwait(&cond, &lock, &until) == ETIMEDOUT)
			return *value >= least;
	}
	return 1;
}

/* waits (lock held) until *flag is set, at most `seconds`; 0 if it never was */
static int wait_for(int* flag, int seconds)
{
	return wait_until(flag, 1, seconds);
}

static void set(int* flag)
{
	pthread_mutex_lock(&lock);
	*flag = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* The watchdog times the step named last: past its deadline the run ends (exit code 3). */
static void begin(const char* name, int seconds)
{
	pthread_mutex_lock(&lock);
	step = name;
	step_end = deadline(seconds);
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	fprintf(stderr, HARNESS_NAME ": %s\n", name);
}

/* The last step done: the watchdog and the alarm time nothing more. */
static void end_steps(void)
{
	alarm(0);
	pthread_mutex_lock(&lock);
	step = NULL;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* The alarm (the whole run): says in which step, with async-signal-safe calls only. */
static void on_alarm(int sig)
{
	const char* timed = step;
	ssize_t ignored;

	(void)sig;
	ignored = write(2, alarm_line, strlen(alarm_line));
	if (timed != NULL)
		ignored = write(2, timed, strlen(timed));
	ignored = write(2, "\n", 1);
	(void)ignored;
	_exit(3);
}

static void* watchdog(void* arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;)
	{
		const char* timed = step;
		struct timespec until = step_end;

		if (timed == NULL)
			pthread_cond_wait(&cond, &lock);
		else if (pthread_cond_timedwait(&cond, &lock, &until) == ETIMEDOUT && step == timed
				&& step_end.tv_sec == until.tv_sec && step_end.tv_nsec == until.tv_nsec)
		{
			fprintf(stderr, HARNESS_NAME ": step not finished in time: %s\n", timed);
			_exit(3);
		}
	}
	return NULL;
}

/* Sets up the condition variable on CLOCK_MONOTONIC (a change of the wall clock moves no
 * deadline), the alarm that ends the whole run after `whole_run` seconds (more than the
 * steps' deadlines added up), and the watchdog's thread. First thing in main. */
static void start_steps(int whole_run)
{
	pthread_condattr_t clock;
	struct sigaction alarm_action;
	pthread_t dog;

	if (pthread_condattr_init(&clock) != 0 || pthread_condattr_setclock(&clock, CLOCK_MONOTONIC) != 0
			|| pthread_cond_init(&cond, &clock) != 0)
		fail("condition variable");
	snprintf(alarm_line, sizeof(alarm_line), HARNESS_NAME ": the whole run past its %d s, in step: ",
			whole_run);
	memset(&alarm_action, 0, sizeof(alarm_action));
	alarm_action.sa_handler = on_alarm;
	if (sigaction(SIGALRM, &alarm_action, NULL) != 0)
		fail("sigaction");
	alarm(whole_run);
	if (pthread_create(&dog, NULL, watchdog, NULL) != 0)
		fail("thread");
}

static void on_connect(void* context, MQTTAsync_successData* response)
{
	(void)context;
	(void)response;
	set(&connected);
}

static void on_failure(void* context, MQTTAsync_failureData* response)
{
	(void)context;
	fprintf(stderr, HARNESS_NAME ": connect failed: %d\n", response ? response->code : 0);
	_exit(2);
}

/* A loopback listener on a port of the kernel's choice, its URI in uri; its accepted
 * connections inherit a small receive buffer, so that a client's large write stays
 * pending sooner. */
static int listen_loopback(int backlog, char* uri, size_t uri_len)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int listener, rcvbuf = 65536;

	if ((listener = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		fail("socket");
	if (setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0)
		fail("SO_RCVBUF");
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listener, (struct sockaddr*)&addr, sizeof(addr)) != 0 || listen(listener, backlog) != 0
			|| getsockname(listener, (struct sockaddr*)&addr, &len) != 0)
		fail("listen");
	snprintf(uri, uri_len, "tcp://127.0.0.1:%d", ntohs(addr.sin_port));
	return listener;
}

/* Reads the client's CONNECT off the listener's side of its connection. */
static void read_packet(int fd)
{
	unsigned char byte;
	size_t remaining = 0;
	int shift = 0;
	char buf[512];

	if (recv(fd, &byte, 1, MSG_WAITALL) != 1)
		fail("no CONNECT");
	do
	{
		if (recv(fd, &byte, 1, MSG_WAITALL) != 1)
			fail("no CONNECT length");
		remaining |= (size_t)(byte & 0x7f) << shift;
		shift += 7;
	} while ((byte & 0x80) && shift < 28);
	while (remaining > 0)
	{
		size_t n = remaining < sizeof(buf) ? remaining : sizeof(buf);
		if (recv(fd, buf, n, MSG_WAITALL) != (ssize_t)n)
			fail("short CONNECT");
		remaining -= n;
	}
}

/* Starts a client's connect through the listener, waiting at most `seconds` for the
 * connection; returns the listener's side in *server. */
static MQTTAsync start_client(int listener, const char* uri, const char* id, int* server,
		int seconds)
{
	MQTTAsync client;
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	struct pollfd pfd = {listener, POLLIN, 0};
	char what[64];

	if (MQTTAsync_create(&client, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) != MQTTASYNC_SUCCESS)
		fail("create");
	opts.onSuccess = on_connect;
	opts.onFailure = on_failure;
	opts.cleansession = 1;
	opts.keepAliveInterval = 0;
	if (MQTTAsync_connect(client, &opts) != MQTTASYNC_SUCCESS)
		fail("connect");
	if (poll(&pfd, 1, seconds * 1000) != 1 || (*server = accept(listener, NULL, NULL)) < 0)
	{
		snprintf(what, sizeof(what), "no connection within %d s", seconds);
		fail(what);
	}
	return client;
}

/* Answers the client's CONNECT (sent by Paho's receive thread) and waits at most `seconds`
 * for onSuccess. */
static void finish_connect(int server, int seconds)
{
	const unsigned char connack[] = {0x20, 0x02, 0x00, 0x00};
	char what[64];

	read_packet(server);
	if (send(server, connack, sizeof(connack), 0) != (ssize_t)sizeof(connack))
		fail("CONNACK");
	pthread_mutex_lock(&lock);
	if (!wait_for(&connected, seconds))
	{
		snprintf(what, sizeof(what), "no onSuccess within %d s", seconds);
		fail(what);
	}
	connected = 0;
	pthread_mutex_unlock(&lock);
}

/* Connects a client through the listener, waiting at most `seconds` for the connection
 * and as long again for onSuccess (each harness keeps the waits it had before it shared
 * this header: 15 s in continue_writes_close.c, 10 s in the other two); returns the
 * listener's side in *server. */
static MQTTAsync connect_client(int listener, const char* uri, const char* id, int* server,
		int seconds)
{
	MQTTAsync client = start_client(listener, uri, id, server, seconds);

	finish_connect(*server, seconds);
	return client;
}

/* Whether `socket` has a pending write (Socket_noPendingWrites, under the socket mutex:
 * its search also leaves the list's current element at it). */
static int pending(int socket)
{
	int rc;

	Paho_thread_lock_mutex(socket_mutex);
	rc = !Socket_noPendingWrites(socket);
	Paho_thread_unlock_mutex(socket_mutex);
	return rc;
}

/* Publishes `len` bytes at QoS 0, which the listener does not read: waits (at most 15 s)
 * until the write is pending. */
static void publish_until_pending(MQTTAsync client, int socket, char* payload, int len)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	struct timespec tick = {0, 1000000L};
	int i;

	msg.payload = payload;
	msg.payloadlen = len;
	msg.qos = 0;
	if (MQTTAsync_sendMessage(client, "big", &msg, NULL) != MQTTASYNC_SUCCESS)
		fail("publish");
	for (i = 0; i < 15000 && !pending(socket); ++i)
		nanosleep(&tick, NULL);
	if (!pending(socket))
		fail("the publish did not become a pending write within 15 s");
}

/* A reader of one of the listener's connections (arg: its descriptor), until
 * stop_draining() or the connection's end. */
static void* drain(void* arg)
{
	int fd = *(int*)arg;
	char* buf = malloc(65536);

	if (buf == NULL)
		fail("malloc");
	for (;;)
	{
		struct pollfd pfd = {fd, POLLIN, 0};
		int go_on;

		pthread_mutex_lock(&lock);
		go_on = draining;
		pthread_mutex_unlock(&lock);
		if (!go_on)
			break;
		if (poll(&pfd, 1, 100) == 1 && recv(fd, buf, 65536, 0) <= 0)
			break;
	}
	free(buf);
	return NULL;
}

/* The readers end (within their next 100 ms poll). */
static void stop_draining(void)
{
	pthread_mutex_lock(&lock);
	draining = 0;
	pthread_mutex_unlock(&lock);
}

#endif
