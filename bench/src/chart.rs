//! The chart of a run: throughput and CPU per message of every consumer at QoS 0 and
//! QoS 1 (the medians of the table), as an SVG written by hand (no drawing dependency),
//! which the README shows.

use std::fmt::Write as _;
use std::path::Path;

use crate::consumers::Kind;
use crate::report::{self, Results};
use crate::Plan;

const WIDTH: f64 = 860.0;
const LABEL: f64 = 250.0;
const BARS: f64 = 500.0;
const BAR: f64 = 13.0;
const ROW: f64 = 2.0 * BAR + 12.0;
const COLORS: [&str; 2] = ["#4e79a7", "#f28e2b"];

/// Writes the chart of `r` to `path`.
pub(crate) fn write(path: &Path, plan: &Plan, r: &Results) -> Result<(), String> {
    // 3m (metrics off) is a control for 3, not a peer: it is in the tables only.
    let rows: Vec<(Kind, Medians)> = Kind::ALL
        .into_iter()
        .filter(|k| *k != Kind::FrameworkNoMetrics)
        .map(|k| (k, [r.median(k, 0), r.median(k, 1)]))
        .filter(|(_, m)| m.iter().any(Option::is_some))
        .collect();
    if rows.is_empty() {
        return Err("no consumer has a median".into());
    }
    let panel = 58.0 + ROW * rows.len() as f64;
    let height = 92.0 + 2.0 * panel;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">"##
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="12" y="22" font-size="15" font-weight="bold">End to end through a loopback Mosquitto: {} messages of 64 B, 10 topics; handlers: 100 filters, 10 calls per message</text>"##,
        plan.messages
    );
    let _ = writeln!(
        s,
        r##"<text x="12" y="40" fill="#555">{} ({}); median of {} rounds per consumer and QoS; one run of flask-mqtt-bench {}, on a shared machine</text>"##,
        escape(&report::command_line(
            "date",
            &["-u", "+%Y-%m-%d %H:%M UTC"]
        )),
        escape(&report::machine()),
        plan.rounds,
        plan.mode,
    );
    for (i, (qos, color)) in [(0, COLORS[0]), (1, COLORS[1])].into_iter().enumerate() {
        let x = LABEL + 10.0 + 90.0 * i as f64;
        let _ = writeln!(
            s,
            r##"<rect x="{x}" y="50" width="12" height="12" fill="{color}"/><text x="{}" y="60">QoS {qos}</text>"##,
            x + 16.0
        );
    }
    let mut y = 80.0;
    let throughput = |m: &(f64, Option<f64>)| Some(m.0);
    let cpu = |m: &(f64, Option<f64>)| m.1;
    draw_panel(
        &mut s,
        y,
        "Throughput, messages/s from the first publish to the last handler call (higher is better)",
        &rows,
        throughput,
        report::rate,
    );
    y += panel;
    draw_panel(
        &mut s,
        y,
        "CPU time of the consumer process per message, microseconds (lower is better)",
        &rows,
        cpu,
        |v| format!("{v:.1} us"),
    );
    s.push_str("</svg>\n");
    std::fs::write(path, s).map_err(|e| format!("{}: {e}", path.display()))
}

type Medians = [Option<(f64, Option<f64>)>; 2];

fn draw_panel(
    s: &mut String,
    top: f64,
    title: &str,
    rows: &[(Kind, Medians)],
    value: impl Fn(&(f64, Option<f64>)) -> Option<f64>,
    label: impl Fn(f64) -> String,
) {
    let _ = writeln!(
        s,
        r##"<text x="12" y="{}" font-size="13" font-weight="bold">{}</text>"##,
        top + 14.0,
        escape(title)
    );
    let max = rows
        .iter()
        .flat_map(|(_, m)| m.iter().flatten().filter_map(&value))
        .fold(0.0_f64, f64::max);
    let scale = if max > 0.0 { BARS / max } else { 0.0 };
    let first = top + 28.0;
    let bottom = first + ROW * rows.len() as f64;
    let _ = writeln!(
        s,
        "<line x1=\"{LABEL}\" y1=\"{}\" x2=\"{LABEL}\" y2=\"{bottom}\" stroke=\"#999\"/>",
        first - 4.0
    );
    for (i, (kind, medians)) in rows.iter().enumerate() {
        let y = first + ROW * i as f64;
        let weight = if *kind == Kind::Framework {
            r##" font-weight="bold""##
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end"{weight}>{}</text>"##,
            LABEL - 8.0,
            y + BAR + 4.0,
            escape(kind.short())
        );
        for (q, median) in medians.iter().enumerate() {
            let by = y + BAR * q as f64;
            match median.as_ref().and_then(&value) {
                Some(v) => {
                    let w = (v * scale).max(1.0);
                    let _ = writeln!(
                        s,
                        r##"<rect x="{LABEL}" y="{by}" width="{w:.1}" height="{}" fill="{}"/><text x="{:.1}" y="{}" font-size="11">{}</text>"##,
                        BAR - 2.0,
                        COLORS[q],
                        LABEL + w + 4.0,
                        by + BAR - 3.0,
                        label(v)
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#999\">not measured</text>",
                        LABEL + 4.0,
                        by + BAR - 3.0
                    );
                }
            }
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
