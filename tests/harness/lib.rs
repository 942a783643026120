//! Test harness for the flask-mqtt integration tests.
//!
//! Everything here talks to a **real** Mosquitto broker on a loopback
//! address; nothing is mocked:
//!
//! * [`Broker`] — a private `mosquitto` process on a free `127.0.0.1` port,
//!   configured through a file in its own temporary directory, with helpers
//!   to kill / restart it and to inspect its log.
//! * [`Observer`] — an independent raw `paho_mqtt` client used as the test's
//!   peer: publish to the application, subscribe to what it sends.
//! * [`Recorder`] — a thread-safe event log that handlers push into and
//!   tests wait on.
//! * [`PausedClient`] — an app client started paused (`Client::start_paused`),
//!   holding QoS 1 messages that wait for `Mqtt::ready()`.
//! * [`LogLines`] — the test process's one `log` logger, and views of what it
//!   recorded by target and level, for the warnings a test expects.
//! * [`SessionPublisher`] — numbered QoS 1 messages from a persistent session
//!   that resends what was not acknowledged after the broker comes back.
//! * [`encode_connect`] / [`encode_publish`] / [`DISCONNECT`] — MQTT 3.1.1 packets
//!   for the publishers that write to a socket themselves
//!   ([`SessionPublisher`] and the benchmark's feeder).
//! * [`accept_v5`] / [`serve_v5`] — a loopback server playing an MQTT 5 broker, for
//!   what a real one does rarely or not on demand (ends a connection at a packet,
//!   keeps a session, takes a session over with [`encode_disconnect_v5`]).
//! * [`DeliveryTrace`] — reads the broker log to tell messages the broker
//!   forgot in a crash from messages a client lost.
//! * [`RmqttCluster`] — a 3-node RMQTT cluster (raft) on free loopback ports, with
//!   shared subscriptions across its nodes; [`rmqttd`] finds (or builds) the broker.
//! * [`AppProcess`] — an app of `tests/bin/` in a child process: its printed
//!   lines, SIGTERM, its exit.
//! * [`mosquitto_pub`] / [`MosquittoSub`] — Mosquitto's command-line clients as
//!   third-party peers.
//! * [`dynsec_plugin`] — Mosquitto's dynamic-security plugin, for a broker whose ACL
//!   refuses a SUBSCRIBE.
//! * [`spawn_will_client`] / [`expect_no_will`] — a process whose client has a last
//!   will, and the check that the broker published none.
//! * [`LatencyProxy`] — a TCP proxy that delays what the broker sends, for a broker
//!   that is not a fraction of a millisecond away.
//! * [`HoldProxy`] — a proxy (Unix-domain socket to the broker) that can stop reading
//!   what the client sends, so that its writes stay pending, can cut the connection,
//!   and records both directions for [`split_packets`].
//! * [`SocketClient`] — an MQTT 3.1.1 client written by hand over a plain socket that
//!   acknowledges nothing unless told to, for the embedded broker's sessions.
//! * [`ShareGroup`] / [`fill_window`] / [`router_cpu_while_idle`] — an embedded broker and
//!   the names of one shared subscription group on it, [`SocketClient`]s its members; a
//!   member's inflight window filled; what the broker's router does while no client does
//!   anything.
//! * [`paho_client`] / [`connected_consumer`] / [`paho_client_life`] / [`RawClient`] —
//!   a `paho_mqtt` client without persistence, one connected and subscribed to a topic
//!   of its own, its life from create to destroy, and a client of Paho C's own API, for
//!   the tests of our Paho fork.
//! * [`build_paho_c_harness`] / [`assert_sanitizer_clean`] / [`compile_c`] — Paho C's
//!   sources and a C harness of `tests/c/` compiled under ThreadSanitizer or
//!   AddressSanitizer, the verdict on its run; the C compiler's call.
//! * [`Chromedriver`] — headless Chromium behind chromedriver, for pages.
//! * [`Prometheus`] — a real Prometheus server scraping an app, queried through its
//!   HTTP API.
//! * [`asyncapi_verdict`] — the official AsyncAPI parser's verdict on a document.
//! * [`serve`] — an app's actix-web server on a free loopback port.
//! * [`wait_until`] / [`blocking`] / [`unique`] — small helpers for polling, for
//!   blocking steps in a single-threaded runtime, and for unique topic prefixes and
//!   client ids; [`wait_connected`] / [`wait_ready`] wait for an app client's connection.
//!
//! Failures panic with a message that says what failed and includes the tail
//! of the broker log.
//!
//! ```no_run
//! use std::time::Duration;
//! use flask_mqtt_tests::{unique, Broker, Observer};
//!
//! let broker = Broker::start();
//! let observer = Observer::connect(&broker);
//! let topic = format!("{}/hello", unique("doc"));
//! observer.subscribe(&topic, 1);
//! observer.publish(&topic, "hi", 1);
//! let msg = observer.expect_message(&topic, Duration::from_secs(5));
//! assert_eq!(msg.payload_str(), "hi");
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod app_process;
mod asyncapi;
mod broker;
mod chromium;
mod client;
mod delivery_trace;
mod dynsec;
mod hold_proxy;
mod http;
mod last_will;
mod latency_proxy;
mod log_lines;
mod loopback;
mod mosquitto_cli;
mod naming;
mod packet;
mod paho_c;
mod paho_raw;
mod paused;
mod prometheus;
mod recorder;
mod rmqtt;
mod server;
mod session_client;
mod session_publisher;
mod setup_script;
mod share_group;
mod socket_client;
mod sys;
mod tls;
mod wait;
mod ws_proxy;

pub use app_process::{say, AppProcess};
pub use asyncapi::{asyncapi_problems, asyncapi_verdict};
pub use broker::{Broker, BrokerBuilder};
pub use chromium::Chromedriver;
pub use client::Observer;
pub use delivery_trace::{DeliveryTrace, Losses};
pub use dynsec::dynsec_plugin;
pub use hold_proxy::HoldProxy;
pub use http::http;
pub use last_will::{expect_no_will, spawn_will_client};
pub use latency_proxy::LatencyProxy;
pub use log_lines::{LogLine, LogLines};
pub use loopback::{accept_v5, serve_v5, LoopbackSeen};
pub use mosquitto_cli::{mosquitto_pub, try_mosquitto_pub, MosquittoSub};
pub use naming::unique;
pub use packet::{
    decode_subscribe_v5, decode_unsubscribe_v5, encode_connack_session_v5, encode_connack_v5,
    encode_connect, encode_disconnect_v5, encode_publish, encode_publish_v5, encode_suback_v5,
    encode_unsuback_v5, packet_id, read_packet, split_packets, DISCONNECT,
};
pub use paho_c::{assert_sanitizer_clean, build_paho_c_harness, compile_c, Sanitizer};
pub use paho_raw::{connected_consumer, paho_client, paho_client_life, RawClient};
pub use paused::PausedClient;
pub use prometheus::{Prometheus, Sample};
pub use recorder::Recorder;
pub use rmqtt::{rmqttd, RmqttCluster};
pub use server::{serve, Served};
pub use session_client::{SessionClient, SessionOptions};
pub use session_publisher::{PublisherReport, SessionPublisher};
pub use setup_script::installed_by;
pub use share_group::{fill_window, router_cpu_while_idle, ShareGroup};
pub use socket_client::{
    after_a_message_to, first_publish_by, first_publish_of, SocketClient, SOCKET_CLIENT_TIMEOUT,
};
pub use sys::{reset_connection, set_receive_buffer, without_terminal};
pub use tls::Pki;
pub use wait::{blocking, wait_connected, wait_ready, wait_until, wait_until_async};
pub use ws_proxy::{WsProxy, WsProxyBuilder};

/// Re-export of the `paho_mqtt` crate the harness is built on, so tests can
/// name `Message`, `QoS`, … without depending on it themselves.
pub use paho_mqtt;
