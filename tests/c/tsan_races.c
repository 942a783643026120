/* ThreadSanitizer harness for flask-mqtt's Paho C patch 18 (docs/paho-fork.md, "two data
 * races on Paho's thread state"). Built with -fsanitize=thread from Paho C's sources by
 * tests/paho_tsan.rs, run against a broker: argv[1] is its server URI.
 *
 * 1. MQTTAsync_tostop: client A connects (Paho's send thread starts and reads it at each turn
 *    of its loop, without the lock); client B's MQTTAsync_connect writes it, and so does
 *    MQTTAsync_stop when the last client is destroyed (both under the lock; the report
 *    without the patch names MQTTAsync_stop).
 * 2. sendThread_id / receiveThread_id: once A's onSuccess has run (so both threads set their
 *    ids), this thread calls MQTTAsync_send, whose MQTTAsync_inCallback read both without the
 *    lock. The flag it waits on is relaxed, so that it orders nothing: ThreadSanitizer sees
 *    the accesses as they are in the library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "MQTTAsync.h"

static int connected = 0; /* relaxed atomics only */

static void on_connect(void* context, MQTTAsync_successData* response)
{
	(void)context;
	(void)response;
	__atomic_store_n(&connected, 1, __ATOMIC_RELAXED);
}

static void on_failure(void* context, MQTTAsync_failureData* response)
{
	(void)context;
	fprintf(stderr, "tsan-races: connect failed: %d\n", response ? response->code : 0);
	exit(2);
}

static void wait_connected(void)
{
	struct timespec step = {0, 1000000L};
	int i;

	for (i = 0; i < 15000 && __atomic_load_n(&connected, __ATOMIC_RELAXED) == 0; ++i)
		nanosleep(&step, NULL);
	if (__atomic_load_n(&connected, __ATOMIC_RELAXED) == 0)
	{
		fprintf(stderr, "tsan-races: no connect within 15 s\n");
		exit(2);
	}
	__atomic_store_n(&connected, 0, __ATOMIC_RELAXED);
}

static MQTTAsync connect_client(const char* uri, const char* id)
{
	MQTTAsync client;
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	int rc;

	if ((rc = MQTTAsync_create(&client, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL)) != MQTTASYNC_SUCCESS)
	{
		fprintf(stderr, "tsan-races: create: %d\n", rc);
		exit(2);
	}
	opts.onSuccess = on_connect;
	opts.onFailure = on_failure;
	opts.cleansession = 1;
	if ((rc = MQTTAsync_connect(client, &opts)) != MQTTASYNC_SUCCESS)
	{
		fprintf(stderr, "tsan-races: connect: %d\n", rc);
		exit(2);
	}
	return client;
}

int main(int argc, char** argv)
{
	MQTTAsync a, b;
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	char id[64];
	int rc;

	if (argc < 2)
	{
		fprintf(stderr, "usage: %s server-uri\n", argv[0]);
		return 2;
	}
	snprintf(id, sizeof(id), "tsan-a-%ld", (long)getpid());
	a = connect_client(argv[1], id);
	wait_connected();
	/* 2: the ids, read by MQTTAsync_send's MQTTAsync_inCallback */
	msg.payload = "x";
	msg.payloadlen = 1;
	if ((rc = MQTTAsync_sendMessage(a, "tsan/races", &msg, NULL)) != MQTTASYNC_SUCCESS)
	{
		fprintf(stderr, "tsan-races: send: %d\n", rc);
		return 2;
	}
	/* 1: B's connect and the last destroy write MQTTAsync_tostop */
	snprintf(id, sizeof(id), "tsan-b-%ld", (long)getpid());
	b = connect_client(argv[1], id);
	wait_connected();
	MQTTAsync_destroy(&b);
	MQTTAsync_destroy(&a);
	printf("tsan-races: done\n");
	return 0;
}
