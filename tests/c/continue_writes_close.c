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
 *    heap-use-after-free in Socket_continueWrites.
 * Every step has a deadline (a watchdog ends the run with exit code 3, naming the step),
 * and the whole run 150 s, more than the steps' deadlines added up (an alarm, exit code 3
 * too). What the harnesses share is in harness.h. */
#define HARNESS_NAME "continue-writes"
#include "harness.h"

#define PAYLOAD_LEN (16 * 1024 * 1024)

static int watched = -1;      /* A's socket: its write completion is the one held */
static int completing = 0;    /* 1: the wrapper holds A's completion */
static int destroyed = 0;     /* 1: B is destroyed, the wrapper goes on */

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

int main(void)
{
	int listener, server_a, server_b, ok;
	char uri[64];
	char* payload;
	MQTTAsync a, b;
	pthread_t reader;

	/* the whole run, whatever happens: longer than the steps' deadlines added up (140 s) */
	start_steps(150);
	listener = listen_loopback(4, uri, sizeof(uri));
	if ((payload = malloc(PAYLOAD_LEN)) == NULL)
		fail("malloc");
	memset(payload, 'x', PAYLOAD_LEN);

	begin("A and B connect", 45);
	a = connect_client(listener, uri, "continue-writes-a", &server_a, 15);
	b = connect_client(listener, uri, "continue-writes-b", &server_b, 15);
	watched = ((MQTTAsyncs*)a)->c->net.socket;
	begin("A's and B's 16 MiB publishes stay pending", 35);
	publish_until_pending(a, watched, payload, PAYLOAD_LEN);
	publish_until_pending(b, ((MQTTAsyncs*)b)->c->net.socket, payload, PAYLOAD_LEN);
	Paho_thread_lock_mutex(socket_mutex); /* the receive thread reads it under this mutex */
	Socket_setWriteCompleteCallback(hold_completion);
	Paho_thread_unlock_mutex(socket_mutex);

	begin("the listener reads A's connection: B destroyed in A's completion", 35);
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
	begin("A destroyed: Paho's threads stop", 20);
	MQTTAsync_destroy(&a);
	begin("the end", 5);
	stop_draining();
	pthread_join(reader, NULL);
	close(server_a);
	close(server_b);
	close(listener);
	free(payload);
	end_steps();
	printf("continue-writes: done\n");
	return 0;
}
