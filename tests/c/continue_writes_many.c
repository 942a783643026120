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
 * too). What the harnesses share is in harness.h. */
#define HARNESS_NAME "continue-writes-many"
#include "harness.h"

#define PAYLOAD_LEN (8 * 1024 * 1024)
#define CLIENTS 10

extern Sockets mod_s;

static int sockets[CLIENTS];  /* the clients' sockets */
static int completing = 0;    /* 1: the wrapper holds client 0's completion */
static int destroyed = 0;     /* 1: client 9 is destroyed, the wrapper goes on */
static int completed = 0;     /* completions of the clients' writes */

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
		if (!wait_for(&destroyed, 20))
			fail("client 9 not destroyed within 20 s");
	}
	pthread_mutex_unlock(&lock);
	if (held)
		fprintf(stderr, "continue-writes-many: client 0's write completed, client 9 destroyed meanwhile\n");
	MQTTAsync_writeComplete(socket, rc);
}

int main(void)
{
	int listener, servers[CLIENTS], ok, i, listed;
	char uri[64], id[64];
	char* payload;
	MQTTAsync clients[CLIENTS];
	pthread_t readers[CLIENTS - 1];

	/* the whole run, whatever happens: longer than the steps' deadlines added up (160 s) */
	start_steps(180);
	listener = listen_loopback(CLIENTS, uri, sizeof(uri));
	if ((payload = malloc(PAYLOAD_LEN)) == NULL)
		fail("malloc");
	memset(payload, 'x', PAYLOAD_LEN);

	begin("ten clients connect", 40);
	for (i = 0; i < CLIENTS; ++i)
	{
		snprintf(id, sizeof(id), "continue-writes-many-%d", i);
		clients[i] = connect_client(listener, uri, id, &servers[i], 10);
		sockets[i] = ((MQTTAsyncs*)clients[i])->c->net.socket;
	}
	begin("ten 8 MiB publishes stay pending", 30);
	for (i = 0; i < CLIENTS; ++i)
		publish_until_pending(clients[i], sockets[i], payload, PAYLOAD_LEN);
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
	ok = wait_for(&completing, 25);
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
	ok = wait_until(&completed, CLIENTS - 1, 30);
	pthread_mutex_unlock(&lock);
	if (!ok)
		fail("the other clients' writes did not all complete within 30 s");
	fprintf(stderr, "continue-writes-many: %d writes completed\n", CLIENTS - 1);

	/* the last one stops Paho's threads, so the receive thread's walks are over */
	begin("clients 0 to 8 destroyed: Paho's threads stop", 15);
	for (i = 0; i < CLIENTS - 1; ++i)
		MQTTAsync_destroy(&clients[i]);
	begin("the end", 5);
	stop_draining();
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
