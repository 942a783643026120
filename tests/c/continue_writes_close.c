/* AddressSanitizer harness for flask-mqtt's Paho C patch 23 (docs/paho-fork.md, "a pending
 * write closed while another completes"). Built with -fsanitize=address from Paho C's sources
 * by tests/paho_continue_writes.rs; it needs no broker: it is its own (a loopback listener
 * that answers CONNECT with CONNACK and then reads only what it is told to).
 *
 * Socket_continueWrites (Socket.c) walks the list of sockets with a pending write. When one
 * completes it calls writecomplete (MQTTAsync_writeComplete) with the socket mutex released,
 * holding a pointer to the next element of the list meanwhile. Another thread may take the
 * mutex then and close that next socket (MQTTAsync_destroy, a connect timeout, ...), which
 * frees the element: the walk then reads freed memory.
 *
 * 1. Clients A and B connect; each publishes 16 MiB, which the listener does not read, so
 *    both writes stay pending (A's first, then B's).
 * 2. writecomplete is wrapped (Socket_setWriteCompleteCallback): when A's write completes
 *    (the listener now reads A's connection), the wrapper, running where writecomplete runs
 *    (socket mutex released, Paho's lock not held), has the main thread destroy B and waits
 *    until that is done, then calls MQTTAsync_writeComplete as usual. The wrapper only makes
 *    the window as wide as it can be anyway: MQTTAsync_writeComplete waits for Paho's lock,
 *    which a destroying thread holds while it closes the socket.
 * 3. A is destroyed (the last client: Paho's threads stop, so the walk is over), then
 *    "continue-writes: done". Without the patch AddressSanitizer reports a
 *    heap-use-after-free in Socket_continueWrites. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
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

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int connected = 0;     /* onSuccess of the connect in progress */
static int watched = -1;      /* A's socket: its write completion is the one held */
static int completing = 0;    /* 1: the wrapper holds A's completion */
static int destroyed = 0;     /* 1: B is destroyed, the wrapper goes on */
static int draining = 1;      /* the reader of A's connection runs while 1 */

static void fail(const char* what)
{
	fprintf(stderr, "continue-writes: %s\n", what);
	exit(2);
}

static struct timespec deadline(int seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	return ts;
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

static void on_connect(void* context, MQTTAsync_successData* response)
{
	(void)context;
	(void)response;
	set(&connected);
}

static void on_failure(void* context, MQTTAsync_failureData* response)
{
	(void)context;
	fprintf(stderr, "continue-writes: connect failed: %d\n", response ? response->code : 0);
	exit(2);
}

/* Where Paho calls writecomplete: socket mutex released, Paho's lock not held. */
static void hold_completion(SOCKET socket, int rc)
{
	int held = 0;

	pthread_mutex_lock(&lock);
	if (socket == watched && completing == 0)
	{
		completing = 1;
		held = 1;
		pthread_cond_broadcast(&cond);
		if (!wait_for(&destroyed, 20))
			fail("B not destroyed within 20 s");
	}
	pthread_mutex_unlock(&lock);
	if (held)
		fprintf(stderr, "continue-writes: A's write completed, B destroyed meanwhile\n");
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
	if (poll(&pfd, 1, 15000) != 1 || (*server = accept(listener, NULL, NULL)) < 0)
		fail("no connection within 15 s");
	read_packet(*server);
	if (send(*server, connack, sizeof(connack), 0) != (ssize_t)sizeof(connack))
		fail("CONNACK");
	pthread_mutex_lock(&lock);
	if (!wait_for(&connected, 15))
		fail("no onSuccess within 15 s");
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
	struct timespec step = {0, 1000000L};
	int i;

	msg.payload = payload;
	msg.payloadlen = PAYLOAD_LEN;
	msg.qos = 0;
	if (MQTTAsync_sendMessage(client, "big", &msg, NULL) != MQTTASYNC_SUCCESS)
		fail("publish");
	for (i = 0; i < 15000 && !pending(socket); ++i)
		nanosleep(&step, NULL);
	if (!pending(socket))
		fail("the publish did not become a pending write within 15 s");
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

int main(void)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int listener, server_a, server_b, rcvbuf = 65536, ok;
	char uri[64];
	char* payload;
	MQTTAsync a, b;
	pthread_t reader;

	if ((listener = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		fail("socket");
	/* inherited by the accepted connections: the client's writes stay pending sooner */
	setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
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

	a = connect_client(listener, uri, "continue-writes-a", &server_a);
	b = connect_client(listener, uri, "continue-writes-b", &server_b);
	watched = ((MQTTAsyncs*)a)->c->net.socket;
	publish_until_pending(a, watched, payload);
	publish_until_pending(b, ((MQTTAsyncs*)b)->c->net.socket, payload);
	Paho_thread_lock_mutex(socket_mutex); /* the receive thread reads it under this mutex */
	Socket_setWriteCompleteCallback(hold_completion);
	Paho_thread_unlock_mutex(socket_mutex);

	if (pthread_create(&reader, NULL, drain, &server_a) != 0)
		fail("thread");
	pthread_mutex_lock(&lock);
	ok = wait_for(&completing, 30);
	pthread_mutex_unlock(&lock);
	if (!ok)
		fail("A's write did not complete within 30 s");
	MQTTAsync_destroy(&b);
	set(&destroyed);

	/* the last client: Paho's threads stop, so the receive thread's walk is over */
	MQTTAsync_destroy(&a);
	pthread_mutex_lock(&lock);
	draining = 0;
	pthread_mutex_unlock(&lock);
	pthread_join(reader, NULL);
	close(server_a);
	close(server_b);
	close(listener);
	free(payload);
	printf("continue-writes: done\n");
	return 0;
}
