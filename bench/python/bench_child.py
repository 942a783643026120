"""What the Python consumers of flask-mqtt-bench share: their settings, the counting
every handler does, and the bench's line protocol on stdout:

    count <messages> <calls>                       every 100 ms while it changes
    done <unix ns> <messages> <calls> <mismatched> when every expected call was made
    latency <samples> <p50 ns> <p99 ns> <max ns>   in latency mode, after done

A consumer exits when its stdin closes. The Rust consumers speak the same protocol
(bench/src/child.rs, bench/src/counters.rs).
"""

import math
import os
import sys
import threading
import time

HOST = os.environ["MQTT_BROKER_URL"]
MESSAGES = int(os.environ["BENCH_MESSAGES"])
PORT = int(os.environ["MQTT_BROKER_PORT"])
CLIENT_ID = os.environ["MQTT_CLIENT_ID"]
# The same 100 filters as the Rust app, one per line.
FILTERS = os.environ["BENCH_FILTERS"].split("\n")
# Calls each handler gets when every message arrives.
EXPECTED = [int(n) for n in os.environ["BENCH_EXPECTED"].split(",")]
LATENCY = os.environ.get("BENCH_LATENCY") == "1"


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Counters:
    """Calls per handler, in the handlers' one thread (paho's network thread, or the
    asyncio loop)."""

    def __init__(self):
        self.counts = [0] * len(FILTERS)
        self.calls = 0
        self.expected_total = sum(EXPECTED)
        self.latencies = []

    def messages(self):
        """Messages handled: calls scaled by messages / expected calls, so that a
        consumer that routes a message to the wrong handlers still shows how much it
        handled (the wrong counts are reported at `done`)."""
        return self.calls * MESSAGES // max(self.expected_total, 1)

    def hit(self, index, payload):
        if LATENCY:
            self.latencies.append(time.time_ns() - int(payload[17:37]))
        self.counts[index] += 1
        self.calls += 1
        if self.calls == self.expected_total:
            self.finish()

    def finish(self):
        end = time.time_ns()
        mismatched = sum(1 for got, want in zip(self.counts, EXPECTED) if got != want)
        say(f"done {end} {self.messages()} {sum(self.counts)} {mismatched}")
        if LATENCY:
            samples = sorted(self.latencies)
            n = len(samples)

            def at(q):
                if n == 0:
                    return 0
                rank = math.ceil(q * n)
                return samples[min(max(rank, 1), n) - 1]

            say(f"latency {n} {at(0.50)} {at(0.99)} {samples[-1] if n else 0}")

    def start_reporting(self):
        """Progress lines every 100 ms, and exit when stdin closes."""
        threading.Thread(target=self._report_progress, daemon=True).start()
        threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()

    def _report_progress(self):
        last = None
        while True:
            time.sleep(0.1)
            now = (self.messages(), self.calls)
            if now != last:
                say(f"count {now[0]} {now[1]}")
                last = now


def _exit_when_stdin_closes():
    sys.stdin.read()
    os._exit(0)
