"""Consumer 4 of flask-mqtt-bench: a Flask app with Flask-MQTT 1.3.

The same 100 topic filters as the Rust app (passed in BENCH_FILTERS, one per line),
each with an `@mqtt.on_topic` callback that counts in shared state, subscribed at QoS 1
in `@mqtt.on_connect`, as Flask-MQTT's documentation shows. Serves HTTP with the
Werkzeug server, like `flask run`. Speaks the bench's line protocol on stdout:

    count <messages> <calls>                       every 100 ms while it changes
    done <unix ns> <messages> <calls> <mismatched> when every expected call was made
    latency <samples> <p50 ns> <p99 ns> <max ns>   in latency mode, after done

and exits when stdin closes.
"""

import logging
import math
import os
import sys
import threading
import time

from flask import Flask
from flask_mqtt import Mqtt

FILTERS = os.environ["BENCH_FILTERS"].split("\n")
EXPECTED = [int(n) for n in os.environ["BENCH_EXPECTED"].split(",")]
EXPECTED_TOTAL = sum(EXPECTED)
LATENCY = os.environ.get("BENCH_LATENCY") == "1"
ALL = FILTERS.index("#")

app = Flask(__name__)
app.config["MQTT_BROKER_URL"] = os.environ["MQTT_BROKER_URL"]
app.config["MQTT_BROKER_PORT"] = int(os.environ["MQTT_BROKER_PORT"])
app.config["MQTT_CLIENT_ID"] = os.environ["MQTT_CLIENT_ID"]
app.config["MQTT_KEEPALIVE"] = 60

# Shared state. Every callback runs on paho's network thread.
counts = [0] * len(FILTERS)
state = {"calls": 0, "finished": False}
latencies = []

mqtt = Mqtt()


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def finish():
    end = time.time_ns()
    state["finished"] = True
    mismatched = sum(1 for got, want in zip(counts, EXPECTED) if got != want)
    say(f"done {end} {counts[ALL]} {sum(counts)} {mismatched}")
    if LATENCY:
        samples = sorted(latencies)
        n = len(samples)

        def at(q):
            if n == 0:
                return 0
            rank = math.ceil(q * n)
            return samples[min(max(rank, 1), n) - 1]

        say(f"latency {n} {at(0.50)} {at(0.99)} {samples[-1] if n else 0}")


def make_handler(index):
    def handle(client, userdata, message):
        if LATENCY:
            latencies.append(time.time_ns() - int(message.payload[17:37]))
        counts[index] += 1
        state["calls"] += 1
        if state["calls"] == EXPECTED_TOTAL:
            finish()

    return handle


for index, topic_filter in enumerate(FILTERS):
    mqtt.on_topic(topic_filter)(make_handler(index))


@mqtt.on_connect()
def handle_connect(client, userdata, flags, rc):
    for topic_filter in FILTERS:
        mqtt.subscribe(topic_filter, 1)


@app.route("/calls")
def calls():
    return str(state["calls"])


def report_progress():
    last = None
    while True:
        time.sleep(0.1)
        now = (counts[ALL], state["calls"])
        if now != last:
            say(f"count {now[0]} {now[1]}")
            last = now


def exit_when_stdin_closes():
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    threading.Thread(target=report_progress, daemon=True).start()
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    mqtt.init_app(app)  # connects and starts paho's network thread
    app.run(host="127.0.0.1", port=0, use_reloader=False, debug=False)
