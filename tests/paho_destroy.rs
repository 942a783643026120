//! Destroying a client from one of Paho's callbacks (docs/paho-fork.md, "destroying a client
//! from a callback"; paho.mqtt.rust #96/#212): when a callback holds the last reference to an
//! `AsyncClient` (a connect token's callbacks hold one), the client is dropped on Paho's send
//! or receive thread, which holds Paho's lock while it runs callbacks. Unpatched,
//! `MQTTAsync_destroy` then locked that lock again on the same thread and every Paho client
//! of the process hung for ever (the crate's own unit tests hung about one run in two). Each
//! test makes that drop happen for certain (the callback waits until the test has dropped
//! its own references) and then checks, with a deadline, that Paho still answers: a test
//! that would hang fails instead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use flask_mqtt_tests::paho_mqtt as paho;
use flask_mqtt_tests::{paho_client, unique, Broker};

const T: Duration = Duration::from_secs(10);

fn connect_options() -> paho::ConnectOptions {
    paho::ConnectOptionsBuilder::new()
        .connect_timeout(Duration::from_secs(5))
        .finalize()
}

/// Connects `cli` with callbacks that wait until the test has dropped its references, so
/// that the token's reference is the last one and is dropped on Paho's thread. Returns when
/// the callback has run (`Ok(())` for success, `Err(code)` for failure).
fn connect_and_drop_in_the_callback(cli: paho::AsyncClient) -> Result<(), i32> {
    let (dropped_tx, dropped_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<Result<(), i32>>();
    // Whichever callback runs waits for the drop, then reports.
    let wait = Arc::new(Mutex::new(dropped_rx));
    let (wait_ok, done_ok) = (Arc::clone(&wait), done_tx.clone());
    let token = cli.connect_with_callbacks(
        connect_options(),
        move |_, _| {
            let _ = wait_ok.lock().unwrap().recv_timeout(T);
            let _ = done_ok.send(Ok(()));
        },
        move |_, _, code| {
            let _ = wait.lock().unwrap().recv_timeout(T);
            let _ = done_tx.send(Err(code));
        },
    );
    // The token holds a reference to the client too.
    drop(token);
    drop(cli);
    dropped_tx.send(()).unwrap();
    done_rx.recv_timeout(T).expect("the connect callback ran")
}

/// Runs `scenario` on a thread of its own and fails (instead of hanging) when it has not
/// finished within `limit`: when Paho's lock is held for ever, every Paho call blocks.
fn within(limit: Duration, scenario: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let runner = thread::spawn(move || {
        scenario();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => runner.join().unwrap(),
        // The scenario panicked: show its message.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = runner.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("Paho hangs: a client dropped on Paho's thread left its lock held (deadlock)")
        }
    }
}

/// Paho still answers: a new client connects and disconnects.
fn assert_paho_still_answers(uri: &str) {
    let cli = paho_client(uri, &unique("after"));
    cli.connect(connect_options())
        .wait_for(T)
        .expect("a new client connects");
    cli.disconnect(None)
        .wait_for(T)
        .expect("a new client disconnects");
}

#[test]
fn a_client_dropped_in_a_connect_success_callback_is_destroyed_without_a_deadlock() {
    let broker = Arc::new(Broker::start());
    let b = Arc::clone(&broker);
    within(T * 3, move || {
        let id = unique("destroy-ok");
        let result = connect_and_drop_in_the_callback(paho_client(&b.uri(), &id));
        assert_eq!(result, Ok(()));
        assert_paho_still_answers(&b.uri());
        // It was destroyed, not leaked: destroying a connected client disconnects it.
        assert!(
            b.wait_for_log(&format!("Client {id} disconnected"), 1, T),
            "{}",
            b.log_tail(20)
        );
    });
}

#[test]
fn a_client_dropped_in_a_connect_failure_callback_is_destroyed_without_a_deadlock() {
    let broker = Arc::new(Broker::start());
    let b = Arc::clone(&broker);
    within(T * 3, move || {
        // A loopback port nobody listens on: the connect is refused.
        let refused = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let cli = paho_client(
            &format!("tcp://127.0.0.1:{refused}"),
            &unique("destroy-fail"),
        );
        let result = connect_and_drop_in_the_callback(cli);
        assert!(result.is_err(), "{result:?}");
        assert_paho_still_answers(&b.uri());
    });
}
