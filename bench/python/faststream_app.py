"""Consumer 5 of flask-mqtt-bench: FastStream 0.7 with its MQTT broker.

The same 100 topic filters as the Rust app, each a `@broker.subscriber(..., qos=1)` whose
handler takes the payload as `bytes` and counts in shared state, as FastStream's
documentation shows a subscriber. Everything else is FastStream's default (MQTT 5,
`AckPolicy.ACK`: a QoS 1 message is acknowledged after its handler returned), except the
per-message log lines: `logger=None`, as flask-mqtt logs nothing per message at its
default level either (FastStream's default logs two INFO lines per handler call).
Settings, counting and the line protocol: bench_child.py.
"""

import asyncio

from faststream import FastStream
from faststream.mqtt import MQTTBroker, QoS

import bench_child as child

broker = MQTTBroker(
    f"mqtt://{child.HOST}:{child.PORT}", client_id=child.CLIENT_ID, logger=None
)

# Shared state. Every handler runs on the asyncio loop's thread.
counters = child.Counters()


def subscribe(index, topic_filter):
    @broker.subscriber(topic_filter, qos=QoS.AT_LEAST_ONCE)
    async def handle(body: bytes):
        counters.hit(index, body)


for index, topic_filter in enumerate(child.FILTERS):
    subscribe(index, topic_filter)

app = FastStream(broker, logger=None)

if __name__ == "__main__":
    counters.start_reporting()
    asyncio.run(app.run())
