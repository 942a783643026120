//! What the publisher sends and how consumers read it back: topics, the 64-byte
//! payload with its send time, latency summaries and the line protocol children speak
//! on stdout.

use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes of every payload.
pub(crate) const PAYLOAD_LEN: usize = 64;

/// Messages go to `bench/0/value` .. `bench/9/value`, round robin.
pub(crate) const TOPICS: u64 = 10;

/// Where the send time sits in a payload (ASCII digits, right-aligned).
const SENT_AT: std::ops::Range<usize> = 17..37;

/// The topic of message `seq`.
pub(crate) fn topic(seq: u64) -> String {
    format!("bench/{}/value", seq % TOPICS)
}

/// Nanoseconds since the Unix epoch (the one clock every process on the machine shares).
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The payload of message `seq`, stamped with the current time: printable ASCII
/// without newlines (so `mosquitto_sub` prints one line per message), 64 bytes.
pub(crate) fn payload(seq: u64) -> Vec<u8> {
    let mut text = format!("{seq:>16} {:>20} ", now_ns());
    while text.len() < PAYLOAD_LEN {
        text.push('.');
    }
    text.truncate(PAYLOAD_LEN);
    text.into_bytes()
}

/// The send time stamped into `payload`, if it is one of ours.
pub(crate) fn sent_at(payload: &[u8]) -> Option<u64> {
    let digits = std::str::from_utf8(payload.get(SENT_AT)?).ok()?;
    digits.trim().parse().ok()
}

/// Latencies in nanoseconds, summarised.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LatencySummary {
    pub(crate) samples: u64,
    pub(crate) p50_ns: u64,
    pub(crate) p99_ns: u64,
    pub(crate) max_ns: u64,
}

impl LatencySummary {
    /// Summarises `samples` (sorted in place).
    pub(crate) fn of(samples: &mut [u64]) -> LatencySummary {
        samples.sort_unstable();
        let at = |q: f64| -> u64 {
            if samples.is_empty() {
                return 0;
            }
            let rank = (q * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1]
        };
        LatencySummary {
            samples: samples.len() as u64,
            p50_ns: at(0.50),
            p99_ns: at(0.99),
            max_ns: samples.last().copied().unwrap_or(0),
        }
    }

    /// The `latency ...` line of the child protocol.
    pub(crate) fn line(&self) -> String {
        format!(
            "latency {} {} {} {}",
            self.samples, self.p50_ns, self.p99_ns, self.max_ns
        )
    }
}

/// One line a consumer child prints on stdout.
///
/// ```text
/// count <messages> <handler calls>                              progress, every 100 ms
/// done <unix ns> <messages> <handler calls> <handlers off count> every expected call made
/// latency <samples> <p50 ns> <p99 ns> <max ns>                   latency mode, after done
/// split <calls inline> <calls on workers>                        feature `call-split`,
///                                                                after each count and done
/// ```
///
/// A `split` line is for whoever reads the child's output: [`Line::parse`] skips it.
#[derive(Debug)]
pub(crate) enum Line {
    Count {
        messages: u64,
        calls: u64,
    },
    Done {
        end_ns: u64,
        messages: u64,
        calls: u64,
        mismatched: u64,
    },
    Latency(LatencySummary),
}

impl Line {
    pub(crate) fn parse(line: &str) -> Option<Line> {
        let mut words = line.split_whitespace();
        let kind = words.next()?;
        let mut num = || -> Option<u64> { words.next()?.parse().ok() };
        match kind {
            "count" => Some(Line::Count {
                messages: num()?,
                calls: num()?,
            }),
            "done" => Some(Line::Done {
                end_ns: num()?,
                messages: num()?,
                calls: num()?,
                mismatched: num()?,
            }),
            "latency" => Some(Line::Latency(LatencySummary {
                samples: num()?,
                p50_ns: num()?,
                p99_ns: num()?,
                max_ns: num()?,
            })),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let before = now_ns();
        let p = payload(123_456);
        assert_eq!(p.len(), PAYLOAD_LEN);
        assert!(!p.contains(&b'\n'));
        let sent = sent_at(&p).unwrap();
        assert!(sent >= before && sent <= now_ns());
        assert_eq!(topic(123_456), "bench/6/value");
    }

    #[test]
    fn percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let s = LatencySummary::of(&mut v);
        assert_eq!(
            (s.samples, s.p50_ns, s.p99_ns, s.max_ns),
            (100, 50, 99, 100)
        );
        match Line::parse(&s.line()) {
            Some(Line::Latency(back)) => assert_eq!(back.p99_ns, 99),
            other => panic!("{other:?}"),
        }
    }
}
