//! The targets, each a ratio between two consumers of the same run (medians of the
//! rounds), printed MET or MISSED with the measured figure. The limits are the issues'
//! (issue 18 for the first block); none is ever loosened here: a missed one stays MISSED.
//! A `quick` run (debug build, 5,000 messages) prints its figures but judges nothing.

use std::fmt::Write as _;

use crate::consumers::Kind;
use crate::report::{times, Results};
use crate::Plan;

/// How a measured ratio is held against its limit.
#[derive(Clone, Copy)]
enum Bound {
    /// `>= limit`.
    AtLeast(f64),
    /// `<= limit`.
    AtMost(f64),
    /// `> limit` ("ahead of").
    Above(f64),
    /// `< limit` ("less CPU than").
    Below(f64),
}

impl Bound {
    fn holds(self, v: f64) -> bool {
        match self {
            Bound::AtLeast(l) => v >= l,
            Bound::AtMost(l) => v <= l,
            Bound::Above(l) => v > l,
            Bound::Below(l) => v < l,
        }
    }

    fn text(self) -> String {
        match self {
            Bound::AtLeast(l) => format!(">= {l}"),
            Bound::AtMost(l) => format!("<= {l}"),
            Bound::Above(l) => format!("> {l}"),
            Bound::Below(l) => format!("< {l}"),
        }
    }
}

/// One target and what this run measured for it.
pub(crate) struct Target {
    /// Which issue set it.
    group: &'static str,
    what: String,
    bound: Bound,
    /// The measured ratio; `None` when a consumer it needs did not run (or failed).
    value: Option<f64>,
    /// Why it cannot be measured at all yet, if so.
    not_yet: Option<&'static str>,
}

const ISSUE_18: &str = "issue 18";
const EARLIER: &str = "earlier issues";

fn target(group: &'static str, what: String, bound: Bound, value: Option<f64>) -> Target {
    Target {
        group,
        what,
        bound,
        value,
        not_yet: None,
    }
}

/// Every target with this run's figure.
pub(crate) fn evaluate(r: &Results) -> Vec<Target> {
    use Kind::{
        FastStream, Flask, Framework, FrameworkAckFirst, FrameworkNoMetrics, MosquittoSub, Paho,
        PahoStock, RustStream,
    };
    let mut out = vec![
        target(
            ISSUE_18,
            "QoS 0 CPU per message, flask-mqtt / raw paho on the same Paho C (3/2)".into(),
            Bound::AtMost(1.3),
            r.cpu_ratio(Framework, Paho, 0),
        ),
        target(
            ISSUE_18,
            "QoS 0 throughput, flask-mqtt / raw paho on the same Paho C (3/2)".into(),
            Bound::AtLeast(0.9),
            r.rate_ratio(Framework, Paho, 0),
        ),
        target(
            ISSUE_18,
            "QoS 0 throughput, flask-mqtt / mosquitto_sub (3/1)".into(),
            Bound::AtLeast(0.85),
            r.rate_ratio(Framework, MosquittoSub, 0),
        ),
        target(
            ISSUE_18,
            "QoS 0 throughput, flask-mqtt / Flask-MQTT (3/4)".into(),
            Bound::AtLeast(2.5),
            r.rate_ratio(Framework, Flask, 0),
        ),
        target(
            ISSUE_18,
            "QoS 1 CPU per message, flask-mqtt / Flask-MQTT (3/4)".into(),
            Bound::AtMost(0.4),
            r.cpu_ratio(Framework, Flask, 1),
        ),
    ];
    for (peer, name, n) in [(FastStream, "FastStream", 5), (RustStream, "ruststream", 6)] {
        for qos in [0, 1] {
            out.push(target(
                ISSUE_18,
                format!("QoS {qos} throughput ahead of {name}, flask-mqtt / {name} (3/{n})"),
                Bound::Above(1.0),
                r.rate_ratio(Framework, peer, qos),
            ));
            out.push(target(
                ISSUE_18,
                format!("QoS {qos} CPU per message below {name}'s, flask-mqtt / {name} (3/{n})"),
                Bound::Below(1.0),
                r.cpu_ratio(Framework, peer, qos),
            ));
        }
    }
    for qos in [0, 1] {
        out.push(target(
            ISSUE_18,
            format!(
                "QoS {qos} one-at-a-time publish, Mqtt::publish / raw paho AsyncClient::publish"
            ),
            Bound::AtLeast(0.9),
            r.publish_ratio(1, qos),
        ));
    }
    out.push(target(
        ISSUE_18,
        "QoS 1 throughput, flask-mqtt with acks after handling / on receipt (3/3f, issue 15)"
            .into(),
        Bound::AtLeast(0.9),
        r.rate_ratio(Framework, FrameworkAckFirst, 1),
    ));
    for qos in [0, 1] {
        out.push(target(
            ISSUE_18,
            format!("QoS {qos} CPU per message, flask-mqtt with metrics on / off (3/3m)"),
            Bound::Below(1.05),
            r.cpu_ratio(Framework, FrameworkNoMetrics, qos),
        ));
    }

    for qos in [0, 1] {
        out.push(target(
            EARLIER,
            format!("QoS {qos} throughput, flask-mqtt / raw paho on stock Paho C (3/2s)"),
            Bound::AtLeast(0.9),
            r.rate_ratio(Framework, PahoStock, qos),
        ));
    }
    out.push(target(
        EARLIER,
        "QoS 1 throughput, flask-mqtt / raw paho on the same Paho C (3/2)".into(),
        Bound::AtLeast(0.9),
        r.rate_ratio(Framework, Paho, 1),
    ));
    out.push(target(
        EARLIER,
        "QoS 1 throughput, flask-mqtt / mosquitto_sub (3/1)".into(),
        Bound::AtLeast(0.85),
        r.rate_ratio(Framework, MosquittoSub, 1),
    ));
    out.push(target(
        EARLIER,
        "QoS 1 throughput, flask-mqtt / Flask-MQTT (3/4)".into(),
        Bound::AtLeast(2.5),
        r.rate_ratio(Framework, Flask, 1),
    ));
    out.push(target(
        EARLIER,
        "idle RSS, flask-mqtt / Flask-MQTT".into(),
        Bound::AtMost(0.5),
        r.idle_rss_ratio(Framework, Flask),
    ));
    out
}

/// The targets section.
pub(crate) fn print(s: &mut String, plan: &Plan, targets: &[Target]) {
    let judged = plan.mode == "full" && !cfg!(debug_assertions);
    let _ = writeln!(
        s,
        "\n### Targets (ratios of this run's medians; the dispatcher's are in `cargo bench -p flask-mqtt-topic`)"
    );
    if !judged {
        let _ = writeln!(
            s,
            "\nNot judged: a {} run{} measures nothing worth a verdict. The figures are shown as measured.",
            plan.mode,
            if cfg!(debug_assertions) {
                " of a debug build"
            } else {
                ""
            }
        );
    }
    let mut group = "";
    let (mut met, mut missed) = (0, 0);
    for t in targets {
        if t.group != group {
            group = t.group;
            let _ = writeln!(s, "\n{group}:");
        }
        let verdict = match (t.not_yet, t.value) {
            (Some(_), _) => "NOT MEASURABLE YET",
            (None, None) => "NOT MEASURED",
            (None, Some(_)) if !judged => "NOT JUDGED",
            (None, Some(v)) if t.bound.holds(v) => {
                met += 1;
                "MET"
            }
            (None, Some(_)) => {
                missed += 1;
                "MISSED"
            }
        };
        let measured = match (t.not_yet, t.value) {
            (Some(why), _) => why.to_owned(),
            (None, None) => "a consumer it needs did not run or failed".to_owned(),
            (None, v) => format!("measured {}", times(v)),
        };
        let _ = writeln!(s, "- {verdict}: {} {} ({measured})", t.what, t.bound.text());
    }
    if judged {
        let _ = writeln!(s, "\n{met} met, {missed} missed.");
    }
}
