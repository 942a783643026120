/* AddressSanitizer harness for flask-mqtt's Paho C patch 21 (docs/paho-fork.md, "Paho's
 * threads stopped while other clients restart them"): the stop that gives up. Built with
 * -fsanitize=address from Paho C's sources by tests/paho_stop_gives_up.rs; it needs no broker:
 * it is its own (a loopback listener that answers CONNECT with CONNACK and then reads only
 * what it is told to).
 *
 * When a destroy leaves no client, MQTTAsync_terminate stops Paho's threads (MQTTAsync_stop:
 * the stop flag set, up to 100 waits of 100 ms) and frees the library's global state. A stop
 * that found the threads still running after its 10 s used to clear the flag and free the
 * state under them: the threads ran on, on freed lists and poll arrays. Now it leaves the
 * flag set (the threads stop when they come back to it) and MQTTAsync_terminate keeps the
 * state ("Paho's threads still run: global state kept") for the next client.
 *
 * The receive thread is held outside Paho's lock for longer than the stop waits: where it
 * calls writecomplete (Socket_continueWrites, socket mutex released, Paho's lock not held),
 * as a slow completion would hold it.
 *
 * 1. Client A connects and publishes 16 MiB, which the listener does not read: the write
 *    stays pending.
 * 2. writecomplete is wrapped (Socket_setWriteCompleteCallback): when A's write completes (the
 *    listener now reads A's connection), the wrapper holds the receive thread until the main
 *    thread lets it go, then calls MQTTAsync_writeComplete as usual.
 * 3. The main thread destroys A, the last client: the stop waits its 10 s and gives up (the
 *    destroy must take at least 9 s, or nothing was forced).
 *    "takeover": A is destroyed while, on another thread, client D is created and
 *    destroyed once A's stop waits (no connect: no client is connected, so D's destroy,
 *    the last, starts a second stop, whenever A's stop wakes). A's stop must return at
 *    its next wake (within 5 s, "stop taken over by a later stop"), leaving the flag to
 *    D's, which gives up.
 *    In every order Paho's global state must still be there (global_initialized 1).
 * 4. "after" (the default) and "takeover": the wrapper is let go, and Paho's threads must
 *    stop (the flag still set) within 5 s; then client C is created and connects.
 *    "reuse": client C is created and starts its connect while the receive thread is still
 *    held (it reuses the state kept; its connect restarts the send thread), then the
 *    wrapper is let go and C's connect completes.
 * 5. C is destroyed and Paho's threads stop (within 5 s); the state kept must be freed now
 *    (global_initialized 0), then "stop-gives-up: done".
 * Without the patch the state is freed under the held receive thread, which goes on with
 * it: "after", MQTTAsync_writeComplete reads the freed list of clients (a SEGV); "reuse",
 * C's create sets the socket module's arrays up again under it and Socket_getReadySocket
 * reads its saved ones, now NULL (a SEGV, as first seen in isReady); "takeover", A's stop
 * waits its 10 s, then the same SEGV as "after". With the state kept but the flag cleared,
 * the threads do not stop ("after", "takeover"); without the numbering of the stops, A's
 * stop is not taken over ("takeover"); with a terminate that never frees the state, the
 * check of global_initialized fails. A check on a destroy's duration or on the state fails
 * the run at its end (exit code 2), so that what the threads do next is seen first; every
 * step has a deadline (a watchdog ends the run with exit code 3, naming the step), and the
 * whole run 150 s, more than the steps' deadlines added up (an alarm, exit code 3 too). */
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

#define PAYLOAD_LEN (16 * 1024 * 1024)

extern mutex_type socket_mutex;
extern mutex_type mqttasync_mutex;
extern enum MQTTAsync_threadStates sendThread_state;
extern enum MQTTAsync_threadStates receiveThread_state;
extern volatile int global_initialized; /* MQTTAsync.c: 1 while Paho's global state is set up */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond; /* on CLOCK_MONOTONIC (main sets it up first) */
static int connected = 0;     /* onSuccess of the connect in progress */
static int watched = -1;      /* A's socket: its write completion is the one held */
static int holding = 0;       /* 1: the wrapper holds the receive thread */
static int released = 0;      /* 1: the main thread lets the wrapper go on */
static int draining = 1;      /* the reader of A's connection runs while 1 */
static int watch_stop = 0;    /* 1: a stop's first wait is looked for in the trace */
static int stop_waiting = 0;  /* 1: that stop waits */
static int listener = -1;
static char uri[64];
static double took_d = 0.0;   /* "takeover": D's destroy */
static const char* volatile step = NULL; /* the step timed (under lock; read by on_alarm) */
static struct timespec step_end;

static void fail(const char* what)
{
	fprintf(stderr, "stop-gives-up: %s\n", what);
	_exit(2);
}

/* A check that failed where the run can go on: the run goes on (what the threads then do
 * is the point of it), and fails at its end. */
static const char* problem = NULL;

static void note(const char* what)
{
	fprintf(stderr, "stop-gives-up: %s\n", what);
	if (problem == NULL)
		problem = what;
}

static struct timespec deadline(int seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += seconds;
	return ts;
}

static double seconds_since(const struct timespec* start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* waits (lock held) until *flag is set, at most `seconds`; 0 if it never was */
static int wait_for(int* flag, int seconds)
{
	struct timespec until = deadline(seconds);

	while (*flag == 0)
	{
		if (pthread_cond_timedwait(&cond, &lock, &until) == ETIMEDOUT)
			return *flag;
	}
	return 1;
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
	fprintf(stderr, "stop-gives-up: %s\n", name);
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
	static const char what[] = "stop-gives-up: the whole run past its 150 s, in step: ";
	const char* timed = step;
	ssize_t ignored;

	(void)sig;
	ignored = write(2, what, sizeof(what) - 1);
	if (timed != NULL)
		ignored = write(2, timed, strlen(timed));
	ignored = write(2, "\n", 1);
	(void)ignored;
	_exit(3);
}

/* 1 if Paho's global state is set up (read under Paho's lock) */
static int state_kept(void)
{
	int rc;

	MQTTAsync_lock_mutex(mqttasync_mutex);
	rc = global_initialized;
	MQTTAsync_unlock_mutex(mqttasync_mutex);
	return rc;
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
			fprintf(stderr, "stop-gives-up: step not finished in time: %s\n", timed);
			_exit(3);
		}
	}
	return NULL;
}

/* Paho's trace: the lines of the stop and the terminate, to standard error. */
static void trace(enum MQTTASYNC_TRACE_LEVELS level, char* message)
{
	(void)level;
	if (message && (strstr(message, "stop gave up") || strstr(message, "global state kept")
			|| strstr(message, "stop taken over")))
		fprintf(stderr, "stop-gives-up: paho: %s\n", message);
	if (message && strstr(message, "sleeping"))
	{
		pthread_mutex_lock(&lock);
		if (watch_stop)
		{
			stop_waiting = 1;
			pthread_cond_broadcast(&cond);
		}
		pthread_mutex_unlock(&lock);
	}
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
	fprintf(stderr, "stop-gives-up: connect failed: %d\n", response ? response->code : 0);
	_exit(2);
}

/* Where Paho calls writecomplete: socket mutex released, Paho's lock not held. */
static void hold_completion(SOCKET socket, int rc)
{
	int held = 0;

	pthread_mutex_lock(&lock);
	if (socket == watched && holding == 0)
	{
		holding = 1;
		held = 1;
		pthread_cond_broadcast(&cond);
		if (!wait_for(&released, 45))
			fail("the receive thread not let go within 45 s");
	}
	pthread_mutex_unlock(&lock);
	if (held)
		fprintf(stderr, "stop-gives-up: the receive thread let go\n");
	MQTTAsync_writeComplete(socket, rc);
}

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

/* Starts a client's connect through the listener; returns the listener's side in *server. */
static MQTTAsync start_client(int listener, const char* uri, const char* id, int* server)
{
	MQTTAsync client;
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	struct pollfd pfd = {listener, POLLIN, 0};

	if (MQTTAsync_create(&client, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) != MQTTASYNC_SUCCESS)
		fail("create");
	opts.onSuccess = on_connect;
	opts.onFailure = on_failure;
	opts.cleansession = 1;
	opts.keepAliveInterval = 0;
	if (MQTTAsync_connect(client, &opts) != MQTTASYNC_SUCCESS)
		fail("connect");
	if (poll(&pfd, 1, 10000) != 1 || (*server = accept(listener, NULL, NULL)) < 0)
		fail("no connection within 10 s");
	return client;
}

/* Answers the client's CONNECT (sent by Paho's receive thread) and waits for onSuccess. */
static void finish_connect(int server)
{
	const unsigned char connack[] = {0x20, 0x02, 0x00, 0x00};

	read_packet(server);
	if (send(server, connack, sizeof(connack), 0) != (ssize_t)sizeof(connack))
		fail("CONNACK");
	pthread_mutex_lock(&lock);
	if (!wait_for(&connected, 10))
		fail("no onSuccess within 10 s");
	connected = 0;
	pthread_mutex_unlock(&lock);
}

static MQTTAsync connect_client(int listener, const char* uri, const char* id, int* server)
{
	MQTTAsync client = start_client(listener, uri, id, server);

	finish_connect(*server);
	return client;
}

static int pending(int socket)
{
	int rc;

	Paho_thread_lock_mutex(socket_mutex);
	rc = !Socket_noPendingWrites(socket);
	Paho_thread_unlock_mutex(socket_mutex);
	return rc;
}

static int threads_stopped(void)
{
	int rc;

	MQTTAsync_lock_mutex(mqttasync_mutex);
	rc = sendThread_state == STOPPED && receiveThread_state == STOPPED;
	MQTTAsync_unlock_mutex(mqttasync_mutex);
	return rc;
}

static void* drain(void* arg)
{
	int fd = *(int*)arg;
	static char buf[65536];

	for (;;)
	{
		struct pollfd pfd = {fd, POLLIN, 0};
		int go_on;

		pthread_mutex_lock(&lock);
		go_on = draining;
		pthread_mutex_unlock(&lock);
		if (!go_on)
			break;
		if (poll(&pfd, 1, 100) == 1 && recv(fd, buf, sizeof(buf), 0) <= 0)
			break;
	}
	return NULL;
}

/* "takeover": while A's stop waits, client D comes and goes on this thread, without a
 * connect: no client is connected, so D's destroy (the last client's) starts a second stop
 * whenever A's stop wakes. (A connect would clear the flag, and A's stop, waking between
 * D's connect and D's destroy, would leave on the cleared flag, not taken over.) */
static void* come_and_go(void* arg)
{
	MQTTAsync d;
	int ok;
	struct timespec start;

	(void)arg;
	pthread_mutex_lock(&lock);
	ok = wait_for(&stop_waiting, 5);
	pthread_mutex_unlock(&lock);
	if (!ok)
		fail("A's stop did not wait within 5 s");
	if (MQTTAsync_create(&d, uri, "stop-gives-up-d", MQTTCLIENT_PERSISTENCE_NONE, NULL)
			!= MQTTASYNC_SUCCESS)
		fail("create D");
	clock_gettime(CLOCK_MONOTONIC, &start);
	MQTTAsync_destroy(&d);
	took_d = seconds_since(&start);
	return NULL;
}

int main(int argc, char** argv)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int server_a, server_c, rcvbuf = 65536, ok;
	char* payload;
	MQTTAsync a, c;
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	pthread_t reader, dog, other;
	pthread_condattr_t clock;
	struct sigaction alarm_action;
	struct timespec start, tick = {0, 10000000L};
	double took;
	int reuse = argc > 1 && strcmp(argv[1], "reuse") == 0;
	int takeover = argc > 1 && strcmp(argv[1], "takeover") == 0;

	/* the deadlines are on CLOCK_MONOTONIC: a change of the wall clock moves none */
	if (pthread_condattr_init(&clock) != 0 || pthread_condattr_setclock(&clock, CLOCK_MONOTONIC) != 0
			|| pthread_cond_init(&cond, &clock) != 0)
		fail("condition variable");
	memset(&alarm_action, 0, sizeof(alarm_action));
	alarm_action.sa_handler = on_alarm;
	if (sigaction(SIGALRM, &alarm_action, NULL) != 0)
		fail("sigaction");
	/* the whole run, whatever happens: longer than the steps' deadlines added up (125 s) */
	alarm(150);
	if (pthread_create(&dog, NULL, watchdog, NULL) != 0)
		fail("thread");
	if ((listener = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		fail("socket");
	/* inherited by the accepted connections: the client's write stays pending sooner */
	if (setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0)
		fail("SO_RCVBUF");
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listener, (struct sockaddr*)&addr, sizeof(addr)) != 0 || listen(listener, 4) != 0
			|| getsockname(listener, (struct sockaddr*)&addr, &len) != 0)
		fail("listen");
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", ntohs(addr.sin_port));
	if ((payload = malloc(PAYLOAD_LEN)) == NULL)
		fail("malloc");
	memset(payload, 'x', PAYLOAD_LEN);

	/* before the first create: no Paho thread runs yet to read them */
	MQTTAsync_setTraceCallback(trace);
	MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_MINIMUM);
	begin("A connects and its 16 MiB publish stays pending", 30);
	a = connect_client(listener, uri, "stop-gives-up-a", &server_a);
	watched = ((MQTTAsyncs*)a)->c->net.socket;
	msg.payload = payload;
	msg.payloadlen = PAYLOAD_LEN;
	msg.qos = 0;
	if (MQTTAsync_sendMessage(a, "big", &msg, NULL) != MQTTASYNC_SUCCESS)
		fail("publish");
	while (!pending(watched))
		nanosleep(&tick, NULL);
	Paho_thread_lock_mutex(socket_mutex); /* the receive thread reads it under this mutex */
	Socket_setWriteCompleteCallback(hold_completion);
	Paho_thread_unlock_mutex(socket_mutex);

	begin("A's write completes and the receive thread is held", 30);
	if (pthread_create(&reader, NULL, drain, &server_a) != 0)
		fail("thread");
	pthread_mutex_lock(&lock);
	ok = wait_for(&holding, 25);
	pthread_mutex_unlock(&lock);
	if (!ok)
		fail("A's write did not complete within 25 s");

	if (takeover)
	{
		/* A's stop waits; D's destroy starts a second stop: A's stop returns, leaving the
		 * wait to D's, which gives up */
		begin("A destroyed while D comes and goes: A's stop taken over, D's gives up", 25);
		set(&watch_stop);
		if (pthread_create(&other, NULL, come_and_go, NULL) != 0)
			fail("thread");
		clock_gettime(CLOCK_MONOTONIC, &start);
		MQTTAsync_destroy(&a);
		took = seconds_since(&start);
		fprintf(stderr, "stop-gives-up: A's destroy took %.1f s\n", took);
		pthread_join(other, NULL);
		fprintf(stderr, "stop-gives-up: D's destroy took %.1f s\n", took_d);
		if (took >= 5.0)
			note("A's destroy took 5 s or more: its stop was not taken over by D's");
		if (took_d < 9.0)
			note("D's destroy took less than 9 s: its stop did not wait for the held receive thread");
	}
	else
	{
		begin("A, the last client, destroyed: the stop waits 10 s and gives up", 20);
		clock_gettime(CLOCK_MONOTONIC, &start);
		MQTTAsync_destroy(&a);
		took = seconds_since(&start);
		fprintf(stderr, "stop-gives-up: the destroy took %.1f s\n", took);
		if (took < 9.0)
			note("the destroy took less than 9 s: the stop did not wait for the held receive thread");
	}

	/* the stop gave up: the state is kept for the threads still running */
	if (!state_kept())
		note("Paho's global state freed after the stop gave up (global_initialized 0)");

	if (reuse)
	{
		/* the next client comes while the receive thread is still held: it reuses the state
		 * kept, and its connect restarts the send thread (the receive thread still runs) */
		begin("C created and connecting while the receive thread is held", 15);
		c = start_client(listener, uri, "stop-gives-up-c", &server_c);
		begin("the receive thread let go: C connects", 15);
		set(&released);
		finish_connect(server_c);
	}
	else
	{
		begin("the receive thread let go: Paho's threads stop", 5);
		set(&released);
		while (!threads_stopped())
			nanosleep(&tick, NULL);
		begin("C created and connected", 25);
		c = connect_client(listener, uri, "stop-gives-up-c", &server_c);
	}

	begin("C destroyed: Paho's threads stop", 5);
	clock_gettime(CLOCK_MONOTONIC, &start);
	MQTTAsync_destroy(&c);
	took = seconds_since(&start);
	fprintf(stderr, "stop-gives-up: C's destroy took %.1f s\n", took);
	while (!threads_stopped())
		nanosleep(&tick, NULL);
	/* the threads stopped and no client is left: the state kept is freed now */
	if (state_kept())
		note("Paho's global state still set up after the last destroy (global_initialized 1)");

	begin("the end", 5);
	pthread_mutex_lock(&lock);
	draining = 0;
	pthread_mutex_unlock(&lock);
	pthread_join(reader, NULL);
	close(server_a);
	close(server_c);
	close(listener);
	free(payload);
	end_steps();
	if (problem != NULL)
		fail(problem);
	printf("stop-gives-up: done\n");
	return 0;
}
