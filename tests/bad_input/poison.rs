//! Poison messages (a handler that panics or fails on one message) and handlers stuck
//! in a slow loop.

use std::collections::HashSet;

use super::*;

// poison messages: each handler records the call before failing

#[mqtt::on_message("poison/+/+", qos = 1)]
fn poison_panics(c: mqtt::Mqtt, m: mqtt::Message) {
    let payload = String::from_utf8_lossy(m.payload()).into_owned();
    record(
        &c,
        "poison_panics",
        m.topic(),
        format!("{payload} {:?}", m.qos()),
    );
    if payload == "poison" {
        panic!("cannot digest `{payload}`");
    }
}

#[mqtt::on_message("poison/+/+", qos = 1)]
async fn poison_fails(c: mqtt::Mqtt, m: mqtt::Message) -> Result<(), String> {
    let payload = String::from_utf8_lossy(m.payload()).into_owned();
    record(
        &c,
        "poison_fails",
        m.topic(),
        format!("{payload} {:?}", m.qos()),
    );
    if payload == "poison" {
        return Err(format!("refusing `{payload}`"));
    }
    Ok(())
}

#[mqtt::on_message("poison/+/+", qos = 1)]
fn poison_bystander(c: mqtt::Mqtt, m: mqtt::Message) {
    let payload = String::from_utf8_lossy(m.payload()).into_owned();
    record(
        &c,
        "poison_bystander",
        m.topic(),
        format!("{payload} {:?}", m.qos()),
    );
}

// slow handlers: loop until the test releases their run (the topic's second level)

fn released() -> &'static Mutex<HashSet<String>> {
    static RELEASED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    RELEASED.get_or_init(|| Mutex::new(HashSet::new()))
}

fn is_released(topic: &str) -> bool {
    let run = topic.split('/').nth(1).unwrap_or_default();
    released().lock().unwrap().contains(run)
}

const LOOP_STEP: Duration = Duration::from_millis(2);

/// Blocks the calling thread until the test releases the run of `topic`.
fn block_until_released(topic: &str) {
    while !is_released(topic) {
        std::thread::sleep(LOOP_STEP);
    }
}

/// Records that `handler` started, blocks its thread until the run is released, and
/// records that it is done.
fn hold(c: &mqtt::Mqtt, handler: &'static str, topic: &str) {
    record(c, handler, topic, "started");
    block_until_released(topic);
    record(c, handler, topic, "done");
}

#[mqtt::on_message("slow/+/sync")]
fn slow_sync(c: mqtt::Mqtt, topic: mqtt::Topic) {
    hold(&c, "slow_sync", &topic);
}

#[mqtt::on_message("slow/+/async")]
async fn slow_async(c: mqtt::Mqtt, topic: mqtt::Topic) {
    record(&c, "slow_async", &topic, "started");
    while !is_released(&topic) {
        tokio::time::sleep(LOOP_STEP).await;
    }
    record(&c, "slow_async", &topic, "done");
}

/// The classic mistake: an async handler that blocks its thread.
#[mqtt::on_message("slow/+/blocking")]
async fn slow_blocking(c: mqtt::Mqtt, topic: mqtt::Topic) {
    hold(&c, "slow_blocking", &topic);
}

#[mqtt::on_message("slow/+/fast", qos = 1)]
fn fast(c: mqtt::Mqtt, topic: mqtt::Topic, text: mqtt::Text) {
    record(&c, "fast", &topic, text.into_string());
}

/// What the `fast` handler of client `id` got on `topic`, in the order it got it.
fn fast_in_order(id: &str, topic: &str) -> Vec<String> {
    EVENTS.with(|evs| {
        evs.iter()
            .filter_map(|e| match e {
                Ev::Handled {
                    client,
                    handler: "fast",
                    topic: t,
                    detail,
                } if client == id && t == topic => Some(detail.clone()),
                _ => None,
            })
            .collect()
    })
}

// ---- poison messages ----

#[tokio::test]
async fn a_poison_message_is_logged_once_per_handler_and_never_redelivered() {
    let broker = Broker::builder().persistence(true).start();
    ALL_LINES.install();
    let run = unique("poison");
    let config = config(&broker).clean_session(false).build().unwrap();
    let first = Client::start(config.clone()).unwrap();
    let m = first.handle();
    wait_connects(&m, false, 1);

    let poison = format!("poison/{run}/p");
    let ok = format!("poison/{run}/ok");
    let obs = Observer::connect(&broker);
    obs.publish(&poison, "poison", 1);
    obs.publish(&ok, "ok-1", 1);
    let all_three = |detail: &str| {
        [
            ("poison_bystander", detail.to_owned()),
            ("poison_fails", detail.to_owned()),
            ("poison_panics", detail.to_owned()),
        ]
    };
    // Once the failing handlers ran the next message, they are done with the poison.
    assert!(
        wait_until(T, || handled(&ok).len() == 3),
        "{:?}",
        handled(&ok)
    );
    let poison_calls = all_three("poison AtLeastOnce");
    let poison_warnings = [
        warning(
            "poison::poison_fails",
            &poison,
            "returned an error: refusing `poison`",
        ),
        warning(
            "poison::poison_panics",
            &poison,
            "panicked: cannot digest `poison`",
        ),
    ];
    assert_eq!(handled(&poison), poison_calls);
    assert_eq!(warnings(&poison), poison_warnings);
    // Both acknowledged (the failed calls count as handled), as the broker saw: stopped
    // before it read the PUBACKs, it would rightly send them again with the session.
    let pubacks = format!("Received PUBACK from {} (Mid: ", m.client_id());
    assert!(
        broker.wait_for_log(&pubacks, 2, T),
        "the broker did not get the two PUBACKs\n{}",
        broker.log_tail(30)
    );

    // A reconnect with the session kept: the broker restarts (saving and reloading its
    // persistence database), the client reconnects to the same session.
    broker.stop();
    broker.start_again();
    wait_connects(&m, true, 1);
    let obs = Observer::connect(&broker);
    obs.publish(&ok, "ok-2", 1);
    assert!(
        wait_until(T, || handled(&ok).len() == 6),
        "{:?}",
        handled(&ok)
    );

    // A new client takes the session over (as after a process restart); a message
    // queued for the session meanwhile arrives, which shows the session persisted.
    first.shutdown().await;
    obs.publish(&ok, "while away", 1);
    let second = Client::start(config).unwrap();
    wait_connects(&second.handle(), false, 2);
    obs.publish(&ok, "ok-3", 1);
    let mut expected: Vec<_> = ["ok-1", "ok-2", "while away", "ok-3"]
        .into_iter()
        .flat_map(|p| all_three(&format!("{p} AtLeastOnce")))
        .collect();
    expected.sort();
    assert!(
        wait_until(T, || handled(&ok).len() == expected.len()),
        "{:?}",
        handled(&ok)
    );
    assert_eq!(handled(&ok), expected);
    // The poison: still one call and one warning per handler.
    assert_eq!(handled(&poison), poison_calls);
    assert_eq!(warnings(&poison), poison_warnings);
    assert_eq!(warnings(&ok), Vec::<String>::new());
    second.shutdown().await;
}

// ---- slow handlers ----

#[tokio::test]
async fn a_handler_stuck_in_a_slow_loop_does_not_stop_dispatch_to_the_others() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    let obs = Observer::connect(&broker);
    let run = unique("slow");
    let stuck = ["sync", "async", "blocking"].map(|kind| format!("slow/{run}/{kind}"));
    for topic in &stuck {
        obs.publish(topic, "loop", 1);
    }
    let started = |topic: &str| {
        handled(topic)
            .iter()
            .filter(|(_, d)| d == "started")
            .count()
    };
    for topic in &stuck {
        assert!(
            wait_until(T, || started(topic) == 1),
            "{topic} did not start"
        );
    }

    // All three loop; 200 messages for another handler get through meanwhile.
    let fast_topic = format!("slow/{run}/fast");
    for i in 0..200 {
        obs.publish(&fast_topic, i.to_string(), 1);
    }
    let expected: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    assert!(
        wait_until(T, || handled(&fast_topic).len() == 200),
        "{} of 200 while three handlers loop",
        handled(&fast_topic).len()
    );
    let id = m.client_id().to_owned();
    let in_order = fast_in_order(&id, &fast_topic);
    assert_eq!(in_order, expected, "in arrival order");
    for topic in &stuck {
        assert_eq!(handled(topic).len(), 1, "{topic} is still looping");
    }

    // Released, they finish, and take their next messages.
    released().lock().unwrap().insert(run.clone());
    for topic in &stuck {
        obs.publish(topic, "again", 1);
    }
    for topic in &stuck {
        assert!(
            wait_until(T, || handled(topic).len() == 4),
            "{topic}: {:?}",
            handled(topic)
        );
    }
    assert!(m.is_connected());
}

// ---- a trusted handler that blocks dispatch ----

/// Quick, until a payload `block` makes it block its thread (the classic mistake) until
/// the test releases its run.
#[mqtt::on_message("stall/+/blocking")]
async fn stall_blocking(c: mqtt::Mqtt, topic: mqtt::Topic, text: mqtt::Text) {
    if text.as_str() == "block" {
        record(&c, "stall_blocking", &topic, "blocking");
        block_until_released(&topic);
    }
    record(&c, "stall_blocking", &topic, text.into_string());
}

/// The `flask_mqtt::dispatch` warnings that start with `prefix`, in the order logged.
fn warnings_starting(prefix: &str) -> Vec<String> {
    DISPATCH_LOG
        .records()
        .into_iter()
        .filter(|l| l.level == log::Level::Warn && l.text.starts_with(prefix))
        .map(|l| l.text)
        .collect()
}

/// The `flask_mqtt::dispatch` warnings that name `handler`.
fn said_about(handler: &str) -> Vec<String> {
    warnings_starting(&format!("handler bad_input::poison::{handler} "))
}

/// An async handler that passed its probation (so its calls are made inline on the
/// dispatching task) and then blocks its thread holds up dispatch to every handler of
/// the client: the watchdog warns, naming it, while it blocks, and the client says when
/// it returned; the messages that came meanwhile are then handled, in order.
///
/// Whether the blocking call is made inline depends on the calls before it having been
/// quick (a poll the OS preempts sends the handler back to probation), so each attempt
/// first sends 50 quick ones; a blocking call on the handler's own task holds up no
/// dispatch and is not reported, and the next attempt starts over.
#[tokio::test]
async fn a_trusted_handler_that_blocks_dispatch_is_reported_and_dispatch_resumes() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    let obs = Observer::connect(&broker);
    let held = |m: &String| m.contains("has held the dispatching task for");
    for attempt in 0..5 {
        let run = unique("stall");
        let topic = format!("stall/{run}/blocking");
        for i in 0..50 {
            obs.publish(&topic, i.to_string(), 1);
        }
        assert!(
            wait_until(T, || handled(&topic).len() == 50),
            "{} of 50 quick calls",
            handled(&topic).len()
        );
        let warned_before = said_about("stall_blocking")
            .iter()
            .filter(|m| held(m))
            .count();
        obs.publish(&topic, "block", 1);
        assert!(
            wait_until(T, || handled(&topic).iter().any(|(_, d)| d == "blocking")),
            "the blocking call did not start"
        );
        // While it blocks: messages for another handler of the client.
        let fast_topic = format!("slow/{run}/fast");
        for i in 0..20 {
            obs.publish(&fast_topic, i.to_string(), 1);
        }
        let warned = wait_until(Duration::from_secs(5), || {
            said_about("stall_blocking")
                .iter()
                .filter(|m| held(m))
                .count()
                > warned_before
        });
        let stalled = m.health().dispatch_stalled();
        released().lock().unwrap().insert(run.clone());
        assert!(
            wait_until(T, || handled(&fast_topic).len() == 20),
            "{} of 20 after the handler returned",
            handled(&fast_topic).len()
        );
        let in_order = fast_in_order(m.client_id(), &fast_topic);
        let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        assert_eq!(in_order, expected, "in arrival order");
        if !warned {
            eprintln!(
                "attempt {attempt}: no warning (the blocking call ran on the handler's own task?)"
            );
            continue;
        }
        assert!(
            stalled.is_some_and(|d| d >= Duration::from_secs(1)),
            "health while it blocked: {stalled:?}"
        );
        let said = said_about("stall_blocking");
        let warning = said.iter().rev().find(|m| held(m)).unwrap();
        assert!(
            warning.contains("no handler gets events until it returns"),
            "{warning}"
        );
        assert!(
            wait_until(T, || said_about("stall_blocking")
                .iter()
                .any(|m| m.contains("returned after holding the dispatching task"))),
            "{:?}",
            said_about("stall_blocking")
        );
        assert_eq!(m.health().dispatch_stalled(), None, "after it returned");
        assert!(m.is_connected());
        return;
    }
    panic!(
        "no warning in 5 attempts: the blocking call was never made inline, or nothing reported it"
    );
}

// ---- two async handlers that block both runtime threads ----

/// Blocks its thread (on its own task: its first calls are on probation) until the test
/// releases its run.
#[mqtt::on_message("hold/+/one")]
async fn hold_one(c: mqtt::Mqtt, topic: mqtt::Topic) {
    hold(&c, "hold_one", &topic);
}

/// Likewise, a second one: with both blocking, both of the client's runtime threads are
/// held.
#[mqtt::on_message("hold/+/two")]
async fn hold_two(c: mqtt::Mqtt, topic: mqtt::Topic) {
    hold(&c, "hold_two", &topic);
}

/// The `flask_mqtt::dispatch` warnings about client `id`.
fn said_about_client(id: &str) -> Vec<String> {
    warnings_starting(&format!("client `{id}`: "))
}

/// Two async handlers that block their threads hold both threads of the client's
/// runtime, so the dispatching task cannot run: the watchdog warns while messages wait,
/// and says when they are taken again; they are then handled, in order.
#[tokio::test]
async fn async_handlers_holding_every_runtime_thread_are_reported_and_dispatch_resumes() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    let id = m.client_id().to_owned();
    let obs = Observer::connect(&broker);
    let run = unique("hold");
    let holding = ["one", "two"].map(|h| format!("hold/{run}/{h}"));
    for topic in &holding {
        obs.publish(topic, "block", 1);
    }
    for topic in &holding {
        assert!(
            wait_until(T, || handled(topic).len() == 1),
            "{topic} did not start"
        );
    }
    let fast_topic = format!("slow/{run}/fast");
    for i in 0..20 {
        obs.publish(&fast_topic, i.to_string(), 1);
    }
    assert!(
        wait_until(T, || !said_about_client(&id).is_empty()),
        "no warning while both runtime threads are held"
    );
    let said = said_about_client(&id);
    assert!(
        said[0].contains("the dispatching task has taken no message for")
            && said[0].contains("async handlers that block their threads"),
        "{said:?}"
    );
    assert!(handled(&fast_topic).is_empty(), "the dispatching task ran");
    let stalled = m.health().dispatch_stalled();
    assert!(
        stalled.is_some_and(|d| d >= Duration::from_secs(1)),
        "health while both threads are held: {stalled:?}"
    );

    released().lock().unwrap().insert(run.clone());
    assert!(
        wait_until(T, || handled(&fast_topic).len() == 20),
        "{} of 20 after the handlers returned",
        handled(&fast_topic).len()
    );
    let in_order = fast_in_order(&id, &fast_topic);
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(in_order, expected, "in arrival order");
    assert!(
        wait_until(T, || said_about_client(&id)
            .iter()
            .any(|m| m.contains("takes messages again"))),
        "{:?}",
        said_about_client(&id)
    );
    assert_eq!(
        said_about_client(&id).len(),
        2,
        "{:?}",
        said_about_client(&id)
    );
    assert_eq!(m.health().dispatch_stalled(), None, "after they returned");
    for topic in &holding {
        assert!(wait_until(T, || handled(topic).len() == 2), "{topic}");
    }
}
