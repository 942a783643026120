//! [`DeliveryTrace`]: whose fault a lost QoS 1 message is, from the broker log.

use std::collections::{HashMap, HashSet};
use std::fmt;

/// Mosquitto's log line for a save of its database.
const SAVING: &str = "Saving in-memory database";

/// What a Mosquitto log (`log_type all`, all runs of a [`Broker`](crate::Broker)
/// that was killed and started again) says about numbered QoS 1 messages, topics
/// `<prefix><n>`, from one publisher to one subscriber.
///
/// Mosquitto 2.0 logs, per message: `Received PUBLISH from <publisher> (.., m<id>,
/// '<topic>', ..)`, then `Sending PUBLISH to <subscriber> (.., m<id>, '<topic>', ..)`
/// for an online subscriber, then `Sending PUBACK to <publisher> (m<id>, rc0)`,
/// later `Received PUBACK from <subscriber> (Mid: <id>, RC:0)`; and `Saving
/// in-memory database to ...` when it starts a save. The PUBACK to the publisher
/// comes *before* the save that records the message, so a broker killed in between
/// has acknowledged a message it then forgets.
///
/// [`classify`](Self::classify) sorts missing numbers into [`Losses`]:
/// - **client**: the subscriber acknowledged the message, yet it is missing: the
///   subscribing client lost it;
/// - **broker**: the broker acknowledged the message to the publisher, the
///   subscriber never acknowledged it, and no save completed after that PUBACK
///   before the broker was killed (a save completed if any other line of the same
///   run follows its `Saving` line): the broker forgot a message it had accepted;
/// - **unexplained**: everything else (a save completed after the PUBACK, or the
///   broker never acknowledged the message at all).
#[derive(Debug, Default)]
pub struct DeliveryTrace {
    /// Line index of the last PUBACK the broker sent the publisher for number `n`.
    pubacked: HashMap<u64, usize>,
    /// Numbers the broker sent to the subscriber.
    sent: HashSet<u64>,
    /// Numbers the subscriber acknowledged.
    sub_acked: HashSet<u64>,
    /// For every line: the index where its broker run ends (the next `starting` line).
    run_end: Vec<usize>,
    /// Line indexes of saves that completed.
    saves: Vec<usize>,
}

/// Missing numbers by whose fault they are; see [`DeliveryTrace`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    /// Acknowledged by the subscriber, yet missing.
    pub client: Vec<u64>,
    /// Acknowledged by the broker to the publisher and forgotten in a crash.
    pub broker: Vec<u64>,
    /// Neither of the above.
    pub unexplained: Vec<u64>,
}

impl Losses {
    /// Whether nothing was lost.
    pub fn is_empty(&self) -> bool {
        self.client.is_empty() && self.broker.is_empty() && self.unexplained.is_empty()
    }
}

impl fmt::Display for Losses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn few(v: &[u64]) -> String {
            let more = if v.len() > 20 { " ..." } else { "" };
            format!("{:?}{more}", &v[..v.len().min(20)])
        }
        write!(
            f,
            "{} client losses (the subscriber acknowledged them) {}, {} broker losses \
             (acknowledged to the publisher, then the broker was killed before it saved \
             them) {}, {} unexplained {}",
            self.client.len(),
            few(&self.client),
            self.broker.len(),
            few(&self.broker),
            self.unexplained.len(),
            few(&self.unexplained),
        )
    }
}

impl DeliveryTrace {
    /// Reads `log` (the whole log, every run) for messages from `publisher` to
    /// `subscriber` (client ids) on topics `<prefix><n>`.
    pub fn read(log: &str, publisher: &str, subscriber: &str, prefix: &str) -> DeliveryTrace {
        let lines: Vec<&str> = log.lines().collect();
        let from_pub = format!("Received PUBLISH from {publisher} (");
        let puback_to_pub = format!("Sending PUBACK to {publisher} (m");
        let to_sub = format!("Sending PUBLISH to {subscriber} (");
        let puback_from_sub = format!("Received PUBACK from {subscriber} (Mid: ");
        // Packet identifiers are per client and per connection: the latest wins.
        let mut pub_ids: HashMap<u64, u64> = HashMap::new();
        let mut sub_ids: HashMap<u64, u64> = HashMap::new();
        let mut t = DeliveryTrace {
            run_end: vec![lines.len(); lines.len()],
            ..DeliveryTrace::default()
        };
        let mut run_start = 0;
        for (i, line) in lines.iter().enumerate() {
            if line.contains("mosquitto version") && line.trim_end().ends_with(" starting") {
                for end in &mut t.run_end[run_start..i] {
                    *end = i;
                }
                run_start = i;
            }
            if let Some(rest) = after(line, &from_pub) {
                if let Some((id, n)) = publish_fields(rest, prefix) {
                    pub_ids.insert(id, n);
                }
            } else if let Some(rest) = after(line, &puback_to_pub) {
                if let Some(n) = leading_number(rest).and_then(|id| pub_ids.get(&id)) {
                    t.pubacked.insert(*n, i);
                }
            } else if let Some(rest) = after(line, &to_sub) {
                if let Some((id, n)) = publish_fields(rest, prefix) {
                    sub_ids.insert(id, n);
                    t.sent.insert(n);
                }
            } else if let Some(rest) = after(line, &puback_from_sub) {
                if let Some(n) = leading_number(rest).and_then(|id| sub_ids.get(&id)) {
                    t.sub_acked.insert(*n);
                }
            } else if line.contains(SAVING) {
                t.saves.push(i);
            }
        }
        let run_end = &t.run_end;
        t.saves.retain(|&s| s + 1 < run_end[s]);
        t
    }

    /// Sorts `missing` numbers by whose fault they are.
    pub fn classify(&self, missing: &[u64]) -> Losses {
        let mut losses = Losses::default();
        for &n in missing {
            if self.sub_acked.contains(&n) {
                losses.client.push(n);
                continue;
            }
            let Some(&at) = self.pubacked.get(&n) else {
                losses.unexplained.push(n);
                continue;
            };
            let end = self.run_end[at];
            if self.saves.iter().any(|&s| s > at && s < end) {
                losses.unexplained.push(n);
            } else {
                losses.broker.push(n);
            }
        }
        losses
    }

    /// Whether the broker ever sent number `n` to the subscriber.
    pub fn was_sent(&self, n: u64) -> bool {
        self.sent.contains(&n)
    }

    /// Whether the broker ever acknowledged number `n` to the publisher.
    pub fn was_acknowledged(&self, n: u64) -> bool {
        self.pubacked.contains_key(&n)
    }
}

/// The rest of `line` after `needle`.
fn after<'a>(line: &'a str, needle: &str) -> Option<&'a str> {
    line.find(needle).map(|i| &line[i + needle.len()..])
}

/// `(id, n)` from `d0, q1, r0, m12, '<prefix>12', ... (2 bytes))`.
fn publish_fields(rest: &str, prefix: &str) -> Option<(u64, u64)> {
    let id = leading_number(&rest[rest.find(", m")? + 3..])?;
    let topic = after(rest, "'")?;
    let topic = &topic[..topic.find('\'')?];
    let n = topic.strip_prefix(prefix)?.parse().ok()?;
    Some((id, n))
}

fn leading_number(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_broker_losses_from_client_losses() {
        let log = "\
1: mosquitto version 2.0.11 starting
1: Received PUBLISH from pub (d0, q1, r0, m1, 'x/1', ... (1 bytes))
1: Sending PUBLISH to sub (d0, q1, r0, m7, 'x/1', ... (1 bytes))
1: Sending PUBACK to pub (m1, rc0)
1: Received PUBACK from sub (Mid: 7, RC:0)
1: Received PUBLISH from pub (d0, q1, r0, m2, 'x/2', ... (1 bytes))
1: Sending PUBACK to pub (m2, rc0)
1: Saving in-memory database to /tmp/x/mosquitto.db.
1: Received PUBLISH from pub (d0, q1, r0, m3, 'x/3', ... (1 bytes))
1: Sending PUBACK to pub (m3, rc0)
1: Saving in-memory database to /tmp/x/mosquitto.db.
2: mosquitto version 2.0.11 starting
2: Received PUBLISH from pub (d1, q1, r0, m1, 'x/4', ... (1 bytes))
";
        let trace = DeliveryTrace::read(log, "pub", "sub", "x/");
        let losses = trace.classify(&[1, 2, 3, 4]);
        assert_eq!(losses.client, vec![1]);
        // 3: the save after its PUBACK was cut short by the kill.
        assert_eq!(losses.broker, vec![3]);
        // 2: saved after its PUBACK, yet never sent; 4: never acknowledged.
        assert_eq!(losses.unexplained, vec![2, 4]);
        assert!(trace.was_sent(1) && !trace.was_sent(2));
        assert!(trace.was_acknowledged(3) && !trace.was_acknowledged(4));
        assert!(!losses.is_empty());
        assert!(DeliveryTrace::read(log, "pub", "sub", "x/")
            .classify(&[])
            .is_empty());
    }

    #[test]
    fn other_clients_and_topics_are_ignored() {
        let log = "\
1: mosquitto version 2.0.11 starting
1: Received PUBLISH from pub2 (d0, q1, r0, m1, 'x/1', ... (1 bytes))
1: Sending PUBACK to pub2 (m1, rc0)
1: Received PUBLISH from pub (d0, q1, r0, m1, 'y/1', ... (1 bytes))
1: Sending PUBACK to pub (m1, rc0)
";
        let trace = DeliveryTrace::read(log, "pub", "sub", "x/");
        assert!(!trace.was_acknowledged(1));
    }
}
