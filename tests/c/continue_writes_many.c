/* AddressSanitizer harness for flask-mqtt's Paho C patch 23 (docs/paho-fork.md, "a pending
 * write closed while another completes") with more pending writes than the walk keeps on the
 * stack (8): its allocation. Built with -fsanitize=address from Paho C's sources by
 * tests/paho_continue_writes_many.rs; it needs no broker: it is its own (a loopback listener
 * that answers CONNECT with CONNACK and then reads only what it is told to).
 *
 * Socket_continueWrites lists the sockets with a pending write before it continues them;
 * more than 8 take one allocation per walk (sized by the list's count, read once, and freed
 * at the walk's end). tests/c/continue_writes_close.c has two pending writes; this one has
 * CLIENTS (10), and the same close in the completion's window. The walks that see 10
 * pending writes (and allocate) are the few that continue client 0's write (two in a run
 * traced by hand), the last of them the one in whose writecomplete window client 9 is
 * closed: its array still holds client 9's socket, looked up again and skipped. Client 0's
 * entry is removed before that writecomplete and client 9's during it, so the later walks
 * see at most 8 and use the array on the stack.
 *
 * 1. Ten clients connect; each publishes 8 MiB, which the listener does not read, so all
 *    ten writes stay pending (client 0's first, client 9's last: the list's current
 *    element, as the last search of the list left it). The list must hold 10.
 * 2. writecomplete is wrapped (Socket_setWriteCompleteCallback): when client 0's write
 *    completes (the listener now reads its connection), the wrapper, running where
 *    writecomplete runs (socket mutex released, Paho's lock not held), has the main thread
 *    destroy client 9 and waits until that is done, then calls MQTTAsync_writeComplete as
 *    usual; every completion is counted.
 * 3. The listener reads clients 1 to 8: their eight writes must complete (continued by
 *    walks over 8 pending writes, then fewer), within 30 s.
 * 4. Clients 0 to 8 are destroyed (the last one stops Paho's threads), then
 *    "continue-writes-many: done". Without patch 23 AddressSanitizer reports a
 *    heap-use-after-free in Socket_continueWrites (client 9's list element); a wrong size
 *    of the walk's array would be a heap-buffer-overflow, a missed free a leak.
 * Every step has a deadline (a watchdog ends the run with exit code 3, naming the step),
 * and the whole run 180 s, more than the steps' deadlines added up (an alarm, exit code 3
 * too). */
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

#define PAYLOAD_LEN (8 * 1024 * 1024)
#define CLIENTS 10

extern mutex_type socket_mutex;
extern Sockets mod_s;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond; /* on CLOCK_MONOTONIC (main sets it up first) */
static int connected = 0;     /* onSuccess of the connect in progress */
static int sockets[CLIENTS];  /* the clients' sockets */
static int completing = 0;    /* 1: the wrapper holds client 0's completion */
static int destroyed = 0;     /* 1: client 9 is destroyed, the wrapper goes on */
static int completed = 0;     /* completions of the clients' writes */
static int draining = 1;      /* the readers of the connections run while 1 */
static const char* volatile step = NULL; /* the step timed (under lock; read by on_alarm) */
static struct timespec step_end;

static void fail(const char* what)
{
	fprintf(stderr, "continue-writes-many: %s\n", what);
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
static int wait_for(int* value, int least, int seconds)
{
	struct timespec until = deadline(seconds);

	while (*value < least)
	{
		if (pthread_cond_timedwait(&cond, &lock, &until) == ETIMEDOUT)
			return *value >= least;
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
	fprintf(stderr, "continue-writes-many: %s\n", name);
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
			fprintf(stderr, "continue-writes-many: step not finished in time: %s\n", timed);
			_exit(3);
		}
	}
	return NULL;
}

/* The alarm (the whole run): says in which step, with async-signal-safe calls only. */
static void on_alarm(int sig)
{
	static const char what[] = "continue-writes-many: the whole run past its 180 s, in step: ";
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

static void on_connect(void* context, MQTTAsync_successData* response)
{
	(void)context;
	(void)response;
	set(&connected);
}

static void on_failure(void* context, MQTTAsync_failureData* response)
{
	(void)context;
	fprintf(stderr, "continue-writes-many: connect failed: %d\n", response ? response->code : 0);
	_exit(2);
}

/* Where Paho calls writecomplete: socket mutex released, Paho's lock not held. */
static void count_completion(SOCKET socket, int rc)
{
	int held = 0, i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < CLIENTS - 1; ++i)
	{
		if (socket == sockets[i])
			++completed;
	}
	pthread_cond_broadcast(&cond);
	if (socket == sockets[0] && completing == 0)
	{
		completing = 1;
		held = 1;
		if (!wait_for(&destroyed, 1, 20))
			fail("client 9 not destroyed within 20 s");
	}
	pthread_mutex_unlock(&lock);
	if (held)
		fprintf(stderr, "continue-writes-many: client 0's write completed, client 9 destroyed meanwhile\n");
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

/* Connects a client through the listener; returns the listener's side in *server. */
static MQTTAsync connect_client(int listener, const char* uri, const char* id, int* server)
{
	MQTTAsync client;
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	const unsigned char connack[] = {0x20, 0x02, 0x00, 0x00};
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
	read_packet(*server);
	if (send(*server, connack, sizeof(connack), 0) != (ssize_t)sizeof(connack))
		fail("CONNACK");
	pthread_mutex_lock(&lock);
	if (!wait_for(&connected, 1, 10))
		fail("no onSuccess within 10 s");
	connected = 0;
	pthread_mutex_unlock(&lock);
	return client;
}

static int pending(int socket)
{
	int rc;

	Paho_thread_lock_mutex(socket_mutex);
	rc = !Socket_noPendingWrites(socket); /* found: also the list's current element */
	Paho_thread_unlock_mutex(socket_mutex);
	return rc;
}

static void publish_until_pending(MQTTAsync client, int socket, char* payload)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	struct timespec tick = {0, 1000000L};
	int i;

	msg.payload = payload;
	msg.payloadlen = PAYLOAD_LEN;
	msg.qos = 0;
	if (MQTTAsync_sendMessage(client, "big", &msg, NULL) != MQTTASYNC_SUCCESS)
		fail("publish");
	for (i = 0; i < 10000 && !pending(socket); ++i)
		nanosleep(&tick, NULL);
	if (!pending(socket))
		fail("the publish did not become a pending write within 10 s");
}

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

int main(void)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int listener, servers[CLIENTS], rcvbuf = 65536, ok, i, listed;
	char uri[64], id[64];
	char* payload;
	MQTTAsync clients[CLIENTS];
	pthread_t readers[CLIENTS - 1], dog;
	pthread_condattr_t clock;
	struct sigaction alarm_action;

	/* the deadlines are on CLOCK_MONOTONIC: a change of the wall clock moves none */
	if (pthread_condattr_init(&clock) != 0 || pthread_condattr_setclock(&clock, CLOCK_MONOTONIC) != 0
			|| pthread_cond_init(&cond, &clock) != 0)
		fail("condition variable");
	memset(&alarm_action, 0, sizeof(alarm_action));
	alarm_action.sa_handler = on_alarm;
	if (sigaction(SIGALRM, &alarm_action, NULL) != 0)
		fail("sigaction");
	/* the whole run, whatever happens: longer than the steps' deadlines added up (160 s) */
	alarm(180);
	if (pthread_create(&dog, NULL, watchdog, NULL) != 0)
		fail("thread");
	if ((listener = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		fail("socket");
	/* inherited by the accepted connections: the clients' writes stay pending sooner */
	if (setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0)
		fail("SO_RCVBUF");
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listener, (struct sockaddr*)&addr, sizeof(addr)) != 0
			|| listen(listener, CLIENTS) != 0
			|| getsockname(listener, (struct sockaddr*)&addr, &len) != 0)
		fail("listen");
	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", ntohs(addr.sin_port));
	if ((payload = malloc(PAYLOAD_LEN)) == NULL)
		fail("malloc");
	memset(payload, 'x', PAYLOAD_LEN);

	begin("ten clients connect", 40);
	for (i = 0; i < CLIENTS; ++i)
	{
		snprintf(id, sizeof(id), "continue-writes-many-%d", i);
		clients[i] = connect_client(listener, uri, id, &servers[i]);
		sockets[i] = ((MQTTAsyncs*)clients[i])->c->net.socket;
	}
	begin("ten 8 MiB publishes stay pending", 30);
	for (i = 0; i < CLIENTS; ++i)
		publish_until_pending(clients[i], sockets[i], payload);
	Paho_thread_lock_mutex(socket_mutex); /* the receive thread reads it under this mutex */
	listed = mod_s.write_pending->count;
	Socket_setWriteCompleteCallback(count_completion);
	Paho_thread_unlock_mutex(socket_mutex);
	fprintf(stderr, "continue-writes-many: %d pending writes\n", listed);
	if (listed != CLIENTS)
		fail("not every client's write is pending");

	begin("the listener reads client 0's connection: client 9 destroyed in its completion", 35);
	if (pthread_create(&readers[0], NULL, drain, &servers[0]) != 0)
		fail("thread");
	pthread_mutex_lock(&lock);
	ok = wait_for(&completing, 1, 25);
	pthread_mutex_unlock(&lock);
	if (!ok)
		fail("client 0's write did not complete within 25 s");
	MQTTAsync_destroy(&clients[CLIENTS - 1]);
	set(&destroyed);

	begin("clients 1 to 8's writes complete", 35);
	for (i = 1; i < CLIENTS - 1; ++i)
	{
		if (pthread_create(&readers[i], NULL, drain, &servers[i]) != 0)
			fail("thread");
	}
	pthread_mutex_lock(&lock);
	ok = wait_for(&completed, CLIENTS - 1, 30);
	pthread_mutex_unlock(&lock);
	if (!ok)
		fail("the other clients' writes did not all complete within 30 s");
	fprintf(stderr, "continue-writes-many: %d writes completed\n", CLIENTS - 1);

	/* the last one stops Paho's threads, so the receive thread's walks are over */
	begin("clients 0 to 8 destroyed: Paho's threads stop", 15);
	for (i = 0; i < CLIENTS - 1; ++i)
		MQTTAsync_destroy(&clients[i]);
	begin("the end", 5);
	pthread_mutex_lock(&lock);
	draining = 0;
	pthread_mutex_unlock(&lock);
	for (i = 0; i < CLIENTS - 1; ++i)
		pthread_join(readers[i], NULL);
	for (i = 0; i < CLIENTS; ++i)
		close(servers[i]);
	close(listener);
	free(payload);
	end_steps();
	printf("continue-writes-many: done\n");
	return 0;
}
