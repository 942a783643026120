//! A child process for `tests/exit_while_running.rs`: a program that returns from `main`
//! while its MQTT client still runs (reconnecting: nothing listens on port 1) and while
//! threads that used OpenSSL are ending, as an actix app's are when `HttpServer::run`
//! has returned (the worker that built the first app, and so created the client, among
//! them).
//!
//! The first thread starts the client, as an actix worker does, and leaves it running
//! (held in a static, never stopped); every thread then uses OpenSSL (its error queue,
//! its random generator: what any TLS use does) and waits. `main` then returns. Two exit
//! handlers: one registered before the client exists, so it runs after every handler
//! registered later (OpenSSL's, if Paho's initialisation let it register one), prints
//! `openssl intact at exit` or `openssl cleaned up at exit` (and `_exit(3)`s); one
//! registered last, so it runs first, lets the threads end: they run their thread-local
//! destructors (OpenSSL's among them) while `exit()` goes on.
//!
//! Usage: `exit_app THREADS`

// atexit(3), `_exit(2)` and three OpenSSL calls: the exit handlers and OpenSSL use are
// what this program is about.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::say;

extern "C" {
    fn atexit(hook: extern "C" fn()) -> c_int;
    // libssl / libcrypto, linked through flask-mqtt-paho-sys.
    fn OPENSSL_init_ssl(opts: u64, settings: *const c_void) -> c_int;
    fn ERR_clear_error();
    fn RAND_bytes(buf: *mut u8, num: c_int) -> c_int;
}

/// The process-wide client: never dropped, so still running at exit.
static CLIENT: OnceLock<mqtt::Client> = OnceLock::new();

/// Set by [`release`]: the threads may end.
static RELEASE: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

/// Runs last: whether OpenSSL is still set up (`OPENSSL_init_ssl` returns 0 once
/// `OPENSSL_cleanup` has run, 1 while OpenSSL is initialised).
extern "C" fn check_openssl() {
    // SAFETY: no options, no settings: a query of OpenSSL's initialisation, valid before
    // and after its cleanup.
    let initialised = unsafe { OPENSSL_init_ssl(0, std::ptr::null()) } == 1;
    if initialised {
        say("openssl intact at exit");
    } else {
        say("openssl cleaned up at exit");
        // SAFETY: ends the process at once, as exit(3) must not be called again here.
        unsafe { libc::_exit(3) };
    }
}

/// Runs first: lets the threads end while `exit()` goes on.
extern "C" fn release() {
    let (flag, cv) = &RELEASE;
    *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
    cv.notify_all();
}

/// What a thread that talks TLS leaves behind: OpenSSL state of its own, freed by
/// OpenSSL's thread-local destructor when the thread ends.
fn use_openssl() {
    let mut buf = [0u8; 16];
    // SAFETY: `buf` is 16 writable bytes; ERR_clear_error takes no arguments.
    unsafe {
        ERR_clear_error();
        RAND_bytes(buf.as_mut_ptr(), 16);
    }
}

fn wait_for_release() {
    let (flag, cv) = &RELEASE;
    let mut released = flag.lock().unwrap_or_else(|p| p.into_inner());
    while !*released {
        released = cv.wait(released).unwrap_or_else(|p| p.into_inner());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(threads) = args.get(1).and_then(|n| n.parse::<usize>().ok()) else {
        eprintln!("usage: exit_app THREADS");
        std::process::exit(2);
    };
    // SAFETY: records a function pointer valid for the life of the process.
    if unsafe { atexit(check_openssl) } != 0 {
        eprintln!("exit_app: atexit failed");
        std::process::exit(2);
    }
    let config = mqtt::Config::builder()
        .broker_url("127.0.0.1")
        .port(1)
        .client_id("exit-app")
        .build()
        .unwrap_or_else(|e| {
            eprintln!("exit_app: {e}");
            std::process::exit(2);
        });
    let (ready, readies) = mpsc::channel::<Result<(), String>>();
    for i in 0..threads.max(1) {
        let ready = ready.clone();
        let config = config.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("exit-app-{i}"))
            .spawn(move || {
                if i == 0 {
                    // The client's Paho C initialises OpenSSL: before any other OpenSSL
                    // use of the process, as in an app whose only TLS is its MQTT client's.
                    match mqtt::Client::start(config) {
                        Ok(client) => {
                            let _ = CLIENT.set(client);
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e.to_string()));
                            return;
                        }
                    }
                }
                use_openssl();
                let _ = ready.send(Ok(()));
                wait_for_release();
            });
        if let Err(e) = spawned {
            eprintln!("exit_app: {e}");
            std::process::exit(2);
        }
        if i == 0 {
            // The client first: the other threads' OpenSSL use comes after Paho's.
            match readies.recv_timeout(Duration::from_secs(30)) {
                Ok(Ok(())) => {}
                other => {
                    eprintln!("exit_app: the client did not start: {other:?}");
                    std::process::exit(2);
                }
            }
        }
    }
    for _ in 1..threads.max(1) {
        if readies.recv_timeout(Duration::from_secs(30)).is_err() {
            eprintln!("exit_app: a thread did not start");
            std::process::exit(2);
        }
    }
    // SAFETY: as above.
    if unsafe { atexit(release) } != 0 {
        eprintln!("exit_app: atexit failed");
        std::process::exit(2);
    }
    say("exiting");
}
