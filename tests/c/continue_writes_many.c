/* AddressSanitizer harness for flask-mqtt's Paho C patch 23 (docs/paho-fork.md, "a pending
 * write closed while another completes") with more pending writes than the walk keeps on the
 * stack (8): its allocation. Built with -fsanitize=address from Paho C's sources by
 * tests/paho_continue_writes_many.rs; it needs no broker: it is its own (a loopback listener
 * that answers CONNECT with CONNACK and then reads only what it is told to).
 *
 * Socket_continueWrites lists the sockets with a pending write before it continues them;
 * more than 8 take one allocation per walk (sized by the list's count, read once, and freed
 * at the walk's end). tests/c/continue_writes_close.c has two pending writes; this one has
 * CLIENTS (10), so every walk allocates, and the same close in the completion's window.
 *
 * 1. Ten clients connect; each publishes 8 MiB, which the listener does not read, so all
 *    ten writes stay pending (client 0's first, client 9's last: the list's current
 *    element, as the last search of the list left it). The list must hold 10.
 * 2. writecomplete is wrapped (Socket_setWriteCompleteCallback): when client 0's write
 *    completes (the listener now reads its connection), the wrapper, running where
 *    writecomplete runs (socket mutex released, Paho's lock not held), has the main thread
 *    destroy client 9 and waits until that is done, then calls MQTTAsync_writeComplete as
 *    usual; every completion is counted.
 * 3. The listener reads clients 1 to 8: their eight writes must complete (each continued
 *    by walks over 9 pending writes, then fewer), within 30 s.
 * 4. Clients 0 to 8 are destroyed (the last one stops Paho's threads), then
 *    "continue-writes-many: done". Without patch 23 AddressSanitizer reports a
 *    heap-use-after-free in Socket_continueWrites (client 9's list element); a wrong size
 *    of the walk's array would be a heap-buffer-overflow, a missed free a leak. */
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

#define PAYLOAD_LEN (8 * 1024 * 1024)
#define CLIENTS 10

extern mutex_type socket_mutex;
extern Sockets mod_s;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int connected = 0;     /* onSuccess of the connect in progress */
static int sockets[CLIENTS];  /* the clients' sockets */
static int completing = 0;    /* 1: the wrapper holds client 0's completion */
static int destroyed = 0;     /* 1: client 9 is destroyed, the wrapper goes on */
static int completed = 0;     /* completions of the clients' writes */
static int draining = 1;      /* the readers of the connections run while 1 */

static void fail(const char* what)
{
	fprintf(stderr, "continue-writes-many: %s\n", what);
	_exit(2);
}

static struct timespec deadline(int seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
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
	if (poll(&pfd, 1, 15000) != 1 || (*server = accept(listener, NULL, NULL)) < 0)
		fail("no connection within 15 s");
	read_packet(*server);
	if (send(*server, connack, sizeof(connack), 0) != (ssize_t)sizeof(connack))
		fail("CONNACK");
	pthread_mutex_lock(&lock);
	if (!wait_for(&connected, 1, 15))
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
	pthread_t readers[CLIENTS - 1];

	alarm(90); /* the whole run, whatever happens */
	if ((listener = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		fail("socket");
	/* inherited by the accepted connections: the clients' writes stay pending sooner */
	setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
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

	for (i = 0; i < CLIENTS; ++i)
	{
		snprintf(id, sizeof(id), "continue-writes-many-%d", i);
		clients[i] = connect_client(listener, uri, id, &servers[i]);
		sockets[i] = ((MQTTAsyncs*)clients[i])->c->net.socket;
	}
	for (i = 0; i < CLIENTS; ++i)
		publish_until_pending(clients[i], sockets[i], payload);
	Paho_thread_lock_mutex(socket_mutex); /* the receive thread reads it under this mutex */
	listed = mod_s.write_pending->count;
	Socket_setWriteCompleteCallback(count_completion);
	Paho_thread_unlock_mutex(socket_mutex);
	fprintf(stderr, "continue-writes-many: %d pending writes\n", listed);
	if (listed != CLIENTS)
		fail("not every client's write is pending");

	if (pthread_create(&readers[0], NULL, drain, &servers[0]) != 0)
		fail("thread");
	pthread_mutex_lock(&lock);
	ok = wait_for(&completing, 1, 30);
	pthread_mutex_unlock(&lock);
	if (!ok)
		fail("client 0's write did not complete within 30 s");
	MQTTAsync_destroy(&clients[CLIENTS - 1]);
	set(&destroyed);

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
	for (i = 0; i < CLIENTS - 1; ++i)
		MQTTAsync_destroy(&clients[i]);
	pthread_mutex_lock(&lock);
	draining = 0;
	pthread_mutex_unlock(&lock);
	for (i = 0; i < CLIENTS - 1; ++i)
		pthread_join(readers[i], NULL);
	for (i = 0; i < CLIENTS; ++i)
		close(servers[i]);
	close(listener);
	free(payload);
	printf("continue-writes-many: done\n");
	return 0;
}
