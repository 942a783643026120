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
 * whole run 150 s, more than the steps' deadlines added up (an alarm, exit code 3 too).
 * What the harnesses share is in harness.h. */
#define HARNESS_NAME "stop-gives-up"
#include "harness.h"

#define PAYLOAD_LEN (16 * 1024 * 1024)

extern mutex_type mqttasync_mutex;
extern enum MQTTAsync_threadStates sendThread_state;
extern enum MQTTAsync_threadStates receiveThread_state;
extern volatile int global_initialized; /* MQTTAsync.c: 1 while Paho's global state is set up */

static int watched = -1;      /* A's socket: its write completion is the one held */
static int holding = 0;       /* 1: the wrapper holds the receive thread */
static int released = 0;      /* 1: the main thread lets the wrapper go on */
static int watch_stop = 0;    /* 1: a stop's first wait is looked for in the trace */
static int stop_waiting = 0;  /* 1: that stop waits */
static int listener = -1;
static char uri[64];
static double took_d = 0.0;   /* "takeover": D's destroy */

/* A check that failed where the run can go on: the run goes on (what the threads then do
 * is the point of it), and fails at its end. */
static const char* problem = NULL;

static void note(const char* what)
{
	fprintf(stderr, "stop-gives-up: %s\n", what);
	if (problem == NULL)
		problem = what;
}

static double seconds_since(const struct timespec* start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
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

static int threads_stopped(void)
{
	int rc;

	MQTTAsync_lock_mutex(mqttasync_mutex);
	rc = sendThread_state == STOPPED && receiveThread_state == STOPPED;
	MQTTAsync_unlock_mutex(mqttasync_mutex);
	return rc;
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
	int server_a, server_c, ok;
	char* payload;
	MQTTAsync a, c;
	pthread_t reader, other;
	struct timespec start, tick = {0, 10000000L};
	double took;
	int reuse = argc > 1 && strcmp(argv[1], "reuse") == 0;
	int takeover = argc > 1 && strcmp(argv[1], "takeover") == 0;

	/* the whole run, whatever happens: longer than the steps' deadlines added up (125 s) */
	start_steps(150);
	listener = listen_loopback(4, uri, sizeof(uri));
	if ((payload = malloc(PAYLOAD_LEN)) == NULL)
		fail("malloc");
	memset(payload, 'x', PAYLOAD_LEN);

	/* before the first create: no Paho thread runs yet to read them */
	MQTTAsync_setTraceCallback(trace);
	MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_MINIMUM);
	begin("A connects and its 16 MiB publish stays pending", 30);
	a = connect_client(listener, uri, "stop-gives-up-a", &server_a, 10);
	watched = ((MQTTAsyncs*)a)->c->net.socket;
	publish_until_pending(a, watched, payload, PAYLOAD_LEN);
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
		c = start_client(listener, uri, "stop-gives-up-c", &server_c, 10);
		begin("the receive thread let go: C connects", 15);
		set(&released);
		finish_connect(server_c, 10);
	}
	else
	{
		begin("the receive thread let go: Paho's threads stop", 5);
		set(&released);
		while (!threads_stopped())
			nanosleep(&tick, NULL);
		begin("C created and connected", 25);
		c = connect_client(listener, uri, "stop-gives-up-c", &server_c, 10);
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
	stop_draining();
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
