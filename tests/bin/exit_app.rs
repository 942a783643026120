//! A child process for `tests/exit_while_running.rs`: a program that returns from `main`
//! while its MQTT client still runs or stops and while threads that used OpenSSL are
//! ending, as an actix app's are when `HttpServer::run` has returned (the worker that
//! built the first app, and so created the client, among them).
//!
//! The first thread starts the client, as an actix worker does (held in a static); every
//! thread then uses OpenSSL (its error queue, its random generator: what any TLS use
//! does) and waits. `main` then returns. Two exit handlers: one registered before the
//! client exists, so it runs after every handler registered later (OpenSSL's, if Paho's
//! initialisation let it register one), prints `openssl intact at exit` or `openssl
//! cleaned up at exit` (and `_exit(3)`s); one registered last, so it runs first, lets the
//! threads end: they run their thread-local destructors (OpenSSL's among them) while
//! `exit()` goes on.
//!
//! Usage: `exit_app THREADS [MODE]`, where MODE is
//! - `running` (the default): the client reconnects (nothing listens on port 1) and is
//!   left running;
//! - `openssl-first`: as `running`, but `main` initialises OpenSSL itself first,
//!   `OPENSSL_init_ssl(0, NULL)`, so OpenSSL's atexit cleanup *is* registered: the control
//!   run, which must print `openssl cleaned up at exit` (or crash), so a detector gone
//!   blind is seen;
//! - `tls URL CA`: the client is connected over TLS (`URL`, `mqtts://...`, verified with
//!   the CA file `CA`) and left running: Paho's threads hold OpenSSL connections at exit;
//! - `stopping URL`: the client is connected (`URL`), an async handler of a message it
//!   sent itself holds until exit, and its graceful stop has been asked for and waits for
//!   that handler: the client is stopping at exit (the handler ends, and the stop goes
//!   on, DISCONNECT and Paho's destroy, while `exit()` runs).

// atexit(3), `_exit(2)` and three OpenSSL calls: the exit handlers and OpenSSL use are
// what this program is about.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};
use std::pin::pin;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::say;

extern "C" {
    fn atexit(hook: extern "C" fn()) -> c_int;
    // libssl / libcrypto, linked through flask-mqtt-paho-sys.
    fn OPENSSL_init_ssl(opts: u64, settings: *const c_void) -> c_int;
    fn ERR_clear_error();
    fn RAND_bytes(buf: *mut u8, num: c_int) -> c_int;
}

/// The process-wide client: never dropped, so still running at exit (`stopping` takes it
/// out to stop it).
static CLIENT: Mutex<Option<mqtt::Client>> = Mutex::new(None);

/// Told once [`hold`] runs (`stopping`).
static HELD: Mutex<Option<mpsc::Sender<()>>> = Mutex::new(None);

/// The topic of the message `stopping` sends itself.
const HOLD_TOPIC: &str = "exit-app/hold";

/// How long `main` waits for each step (the client's start, its connection, the held
/// message, the stop request): three in a row stay within the parent's limit for a run
/// (60 s, `tests/exit_while_running.rs`), so a step's own message is what a failure shows.
const STEP: Duration = Duration::from_secs(15);

/// What the program is run as (see the usage above).
enum Mode {
    Running,
    OpensslFirst,
    Tls { url: String, ca: String },
    Stopping { url: String },
}

/// `stopping`: holds the message the client sent itself until the process exits, so the
/// stop asked for meanwhile waits for it.
#[mqtt::on_message("exit-app/hold", qos = 1)]
async fn hold(_msg: mqtt::Message) {
    let held = HELD.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(held) = held {
        let _ = held.send(());
    }
    let _ = tokio::task::spawn_blocking(wait_for_release).await;
}

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

/// Ends the process at once with `what` on stderr: a step of the program failed.
fn quit(what: &str) -> ! {
    eprintln!("exit_app: {what}");
    std::process::exit(2)
}

fn parse_args() -> Option<(usize, Mode)> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads = args.first()?.parse::<usize>().ok()?;
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let mode = match rest.as_slice() {
        [] | ["running"] => Mode::Running,
        ["openssl-first"] => Mode::OpensslFirst,
        ["tls", url, ca] => Mode::Tls {
            url: (*url).to_owned(),
            ca: (*ca).to_owned(),
        },
        ["stopping", url] => Mode::Stopping {
            url: (*url).to_owned(),
        },
        _ => return None,
    };
    Some((threads, mode))
}

fn config(mode: &Mode) -> mqtt::Config {
    let builder = mqtt::Config::builder().client_id(format!("exit-app-{}", std::process::id()));
    let builder = match mode {
        Mode::Running | Mode::OpensslFirst => builder.broker_url("127.0.0.1").port(1),
        Mode::Tls { url, ca } => builder.broker_url(url.as_str()).tls_ca_certs(ca),
        Mode::Stopping { url } => builder.broker_url(url.as_str()),
    };
    builder.build().unwrap_or_else(|e| quit(&e.to_string()))
}

/// The client's handle, once it is connected (`tls`, `stopping`).
fn connected() -> mqtt::Mqtt {
    let handle = CLIENT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(mqtt::Client::handle)
        .unwrap_or_else(|| quit("no client"));
    let deadline = Instant::now() + STEP;
    while !handle.is_connected() {
        if Instant::now() > deadline {
            quit(&format!(
                "not connected within {STEP:?}: {:?}",
                handle.last_connect_error()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    handle
}

/// `stopping`: has the client's handler hold a message of its own, then asks for the
/// client's graceful stop on a thread of its own, which waits for it; returns once the
/// stop request is sent.
fn stop_while_held(handle: &mqtt::Mqtt) {
    let (held_tx, held) = mpsc::channel();
    *HELD.lock().unwrap_or_else(|p| p.into_inner()) = Some(held_tx);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| quit(&e.to_string()));
    // Sent again each second until it arrives: the subscription may not be in place yet
    // when the client is connected.
    let deadline = Instant::now() + STEP;
    loop {
        let sent = rt.block_on(async {
            handle
                .publish(HOLD_TOPIC, "hold")
                .qos(mqtt::QoS::AtLeastOnce)
                .await
        });
        if let Err(e) = sent {
            quit(&format!("publish: {e}"));
        }
        if held.recv_timeout(Duration::from_secs(1)).is_ok() {
            break;
        }
        if Instant::now() > deadline {
            quit(&format!("the held message not handled within {STEP:?}"));
        }
    }
    let Some(client) = CLIENT.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        quit("no client");
    };
    let (requested_tx, requested) = mpsc::channel();
    let stopper = std::thread::Builder::new()
        .name("exit-app-stop".to_owned())
        .spawn(move || {
            rt.block_on(async {
                let mut stop = pin!(client.shutdown());
                // Its first poll sends the stop request; it then waits for the handler.
                let pending = futures::poll!(stop.as_mut()).is_pending();
                let _ = requested_tx.send(pending);
                stop.await;
            });
        });
    if let Err(e) = stopper {
        quit(&e.to_string());
    }
    match requested.recv_timeout(STEP) {
        Ok(true) => {}
        Ok(false) => quit("the stop ended before the held handler did"),
        Err(e) => quit(&format!("no stop request: {e}")),
    }
}

fn main() {
    let Some((threads, mode)) = parse_args() else {
        eprintln!("usage: exit_app THREADS [running | openssl-first | tls URL CA | stopping URL]");
        std::process::exit(2);
    };
    // SAFETY: records a function pointer valid for the life of the process.
    if unsafe { atexit(check_openssl) } != 0 {
        quit("atexit failed");
    }
    if let Mode::OpensslFirst = mode {
        // SAFETY: no options, no settings: OpenSSL's default initialisation, which
        // registers its atexit cleanup, as a program's own OpenSSL use before the client.
        if unsafe { OPENSSL_init_ssl(0, std::ptr::null()) } != 1 {
            quit("OPENSSL_init_ssl failed");
        }
    }
    let config = config(&mode);
    let (ready, readies) = mpsc::channel::<Result<(), String>>();
    for i in 0..threads.max(1) {
        let ready = ready.clone();
        let config = config.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("exit-app-{i}"))
            .spawn(move || {
                if i == 0 {
                    // The client's Paho C initialises OpenSSL: before any other OpenSSL
                    // use of the process, as in an app whose only TLS is its MQTT client's
                    // (but for `openssl-first`).
                    match mqtt::Client::start(config) {
                        Ok(client) => {
                            *CLIENT.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
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
            quit(&e.to_string());
        }
        if i == 0 {
            // The client first: the other threads' OpenSSL use comes after Paho's.
            match readies.recv_timeout(STEP) {
                Ok(Ok(())) => {}
                other => quit(&format!("the client did not start: {other:?}")),
            }
        }
    }
    for _ in 1..threads.max(1) {
        if readies.recv_timeout(STEP).is_err() {
            quit("a thread did not start");
        }
    }
    match &mode {
        Mode::Running | Mode::OpensslFirst => {}
        Mode::Tls { .. } => {
            connected();
        }
        Mode::Stopping { .. } => stop_while_held(&connected()),
    }
    // SAFETY: as above.
    if unsafe { atexit(release) } != 0 {
        quit("atexit failed");
    }
    say("exiting");
}
