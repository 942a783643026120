"""Consumer 4 of flask-mqtt-bench: a Flask app with Flask-MQTT 1.3.

The same 100 topic filters as the Rust app, each with an `@mqtt.on_topic` callback that
counts in shared state, subscribed at QoS 1 in `@mqtt.on_connect`, as Flask-MQTT's
documentation shows. Serves HTTP with the Werkzeug server, like `flask run`. Settings,
counting and the line protocol: bench_child.py.
"""

import logging

from flask import Flask
from flask_mqtt import Mqtt

import bench_child as child

app = Flask(__name__)
app.config["MQTT_BROKER_URL"] = child.HOST
app.config["MQTT_BROKER_PORT"] = child.PORT
app.config["MQTT_CLIENT_ID"] = child.CLIENT_ID
app.config["MQTT_KEEPALIVE"] = 60

# Shared state. Every callback runs on paho's network thread.
counters = child.Counters()

mqtt = Mqtt()


def make_handler(index):
    def handle(client, userdata, message):
        counters.hit(index, message.payload)

    return handle


for index, topic_filter in enumerate(child.FILTERS):
    mqtt.on_topic(topic_filter)(make_handler(index))


@mqtt.on_connect()
def handle_connect(client, userdata, flags, rc):
    for topic_filter in child.FILTERS:
        mqtt.subscribe(topic_filter, 1)


@app.route("/calls")
def calls():
    return str(counters.calls)


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    counters.start_reporting()
    mqtt.init_app(app)  # connects and starts paho's network thread
    app.run(host="127.0.0.1", port=0, use_reloader=False, debug=False)
