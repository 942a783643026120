//! The chart of a run: throughput and CPU per message of every consumer at QoS 0 and
//! QoS 1 (the medians of the table), as an SVG written by hand (no drawing dependency),
//! which the README shows. Drawn at the end of a run, or again later from the report a
//! run printed (`flask-mqtt-bench chart REPORT [--chart PATH]`), so that a change of the
//! drawing does not need a new run.

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

/// What the chart says about the run it shows.
struct Header {
    mode: String,
    messages: u64,
    rounds: usize,
    /// When it ran, and on what.
    date: String,
    machine: String,
}

/// Writes the chart of `r` to `path`.
pub(crate) fn write(path: &Path, plan: &Plan, r: &Results) -> Result<(), String> {
    // 3m (metrics off) is a control for 3, not a peer: it is in the tables only.
    let rows: Vec<(Kind, Medians)> = Kind::ALL
        .into_iter()
        .map(|k| (k, [r.median(k, 0), r.median(k, 1)]))
        .collect();
    let header = Header {
        mode: plan.mode.to_owned(),
        messages: plan.messages,
        rounds: plan.rounds,
        date: report::command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        machine: report::machine(),
    };
    draw(path, &header, rows)
}

/// Draws the chart of a report that a run printed (its header lines and its end-to-end
/// table) to `path`.
pub(crate) fn redraw(report: &str, path: &Path) -> Result<(), String> {
    let mut header = Header {
        mode: String::new(),
        messages: 0,
        rounds: 0,
        date: String::new(),
        machine: String::new(),
    };
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in report.lines() {
        if let Some(rest) = line.strip_prefix("## flask-mqtt-bench ") {
            header.mode = rest.split_whitespace().next().unwrap_or("").to_owned();
        } else if let Some(rest) = line.strip_prefix("- ").filter(|r| r.contains(" UTC, ")) {
            let (date, rest) = rest.split_once(", ").unwrap_or((rest, ""));
            header.date = date.to_owned();
            header.machine = rest.split(';').next().unwrap_or("").to_owned();
        } else if let Some(rest) = line
            .strip_prefix("- ")
            .filter(|r| r.contains(" messages of "))
        {
            header.messages = rest
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        } else if let Some(rest) = line.strip_prefix("Median of ") {
            header.rounds = rest
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        } else if line.starts_with("### ") {
            in_table = line.starts_with("### End to end");
        } else if in_table {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // `| consumer | rate | lost | CPU | rate | lost | CPU | idle | peak |`
            let Some(kind) = cells
                .get(1)
                .and_then(|name| Kind::ALL.into_iter().find(|k| k.name() == *name))
            else {
                continue;
            };
            let median = |rate: usize| -> Option<(f64, Option<f64>)> {
                let figure = cells.get(rate)?.split(" [").next()?.replace(',', "");
                let cpu = cells.get(rate + 2)?.strip_suffix(" us")?.parse().ok();
                Some((figure.parse().ok()?, cpu))
            };
            rows.push((kind, [median(2), median(5)]));
        }
    }
    if header.mode.is_empty() || header.messages == 0 {
        return Err("not a report of flask-mqtt-bench (no `## flask-mqtt-bench` header, or no message count)".into());
    }
    draw(path, &header, rows)
}

fn draw(path: &Path, header: &Header, rows: Vec<(Kind, Medians)>) -> Result<(), String> {
    let rows: Vec<(Kind, Medians)> = rows
        .into_iter()
        .filter(|(k, m)| !k.is_variant() && m.iter().any(Option::is_some))
        .collect();
    if rows.is_empty() {
        return Err("no consumer has a median".into());
    }
    let panel = 70.0 + ROW * rows.len() as f64;
    let height = 108.0 + 2.0 * panel;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">"##
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="12" y="22" font-size="15" font-weight="bold">End to end through a loopback Mosquitto (flask-mqtt-bench {})</text>"##,
        escape(&header.mode)
    );
    let _ = writeln!(
        s,
        r##"<text x="12" y="40" fill="#555">{} messages of 64 B over 10 topics; the frameworks with 100 filters, 10 handler calls per message</text>"##,
        report::rate(header.messages as f64)
    );
    let _ = writeln!(
        s,
        r##"<text x="12" y="56" fill="#555">{} ({}, shared); median of {} rounds per consumer and QoS, all in one run</text>"##,
        escape(&header.date),
        escape(&header.machine),
        header.rounds,
    );
    for (i, (qos, color)) in [(0, COLORS[0]), (1, COLORS[1])].into_iter().enumerate() {
        let x = LABEL + 10.0 + 90.0 * i as f64;
        let _ = writeln!(
            s,
            r##"<rect x="{x}" y="66" width="12" height="12" fill="{color}"/><text x="{}" y="76">QoS {qos}</text>"##,
            x + 16.0
        );
    }
    let mut y = 96.0;
    let throughput = |m: &(f64, Option<f64>)| Some(m.0);
    let cpu = |m: &(f64, Option<f64>)| m.1;
    draw_panel(
        &mut s,
        y,
        "Throughput, messages/s from the first publish to the last handler call (higher is better)",
        &rows,
        throughput,
        Axis::Linear,
        report::rate,
    );
    y += panel;
    draw_panel(
        &mut s,
        y,
        "CPU time of the consumer process per message, microseconds, logarithmic scale (lower is better)",
        &rows,
        cpu,
        Axis::Log,
        |v| format!("{v:.1} us"),
    );
    s.push_str("</svg>\n");
    std::fs::write(path, s).map_err(|e| format!("{}: {e}", path.display()))
}

type Medians = [Option<(f64, Option<f64>)>; 2];

/// How values map to bar lengths.
#[derive(Clone, Copy)]
enum Axis {
    /// Proportional, from 0.
    Linear,
    /// Logarithmic, over the decades the values span (a line and a label per decade):
    /// for values three orders of magnitude apart.
    Log,
}

fn draw_panel(
    s: &mut String,
    top: f64,
    title: &str,
    rows: &[(Kind, Medians)],
    value: impl Fn(&(f64, Option<f64>)) -> Option<f64>,
    axis: Axis,
    label: impl Fn(f64) -> String,
) {
    let _ = writeln!(
        s,
        r##"<text x="12" y="{}" font-size="13" font-weight="bold">{}</text>"##,
        top + 14.0,
        escape(title)
    );
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|(_, m)| m.iter().flatten().filter_map(&value))
        .filter(|v| *v > 0.0)
        .collect();
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let min = values.iter().copied().fold(max, f64::min);
    // Decades from below the smallest value to above the largest.
    let (lo, hi) = (
        min.log10().floor(),
        max.log10().ceil().max(min.log10().floor() + 1.0),
    );
    let length = |v: f64| match axis {
        Axis::Linear if max > 0.0 => v * BARS / max,
        Axis::Log if max > 0.0 => (v.log10() - lo) * BARS / (hi - lo),
        _ => 0.0,
    };
    let first = top + 28.0;
    let bottom = first + ROW * rows.len() as f64;
    let _ = writeln!(
        s,
        "<line x1=\"{LABEL}\" y1=\"{}\" x2=\"{LABEL}\" y2=\"{bottom}\" stroke=\"#999\"/>",
        first - 4.0
    );
    if let Axis::Log = axis {
        let mut decade = lo + 1.0;
        while decade <= hi && max > 0.0 {
            let x = LABEL + length(10f64.powf(decade));
            let _ = writeln!(
                s,
                "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{bottom}\" stroke=\"#ddd\"/><text x=\"{x:.1}\" y=\"{}\" font-size=\"10\" fill=\"#777\" text-anchor=\"middle\">{}</text>",
                first - 4.0,
                bottom + 12.0,
                label(10f64.powf(decade))
            );
            decade += 1.0;
        }
    }
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
                    let w = length(v).max(1.0);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The chart drawn from a printed report shows its figures and its run's header.
    #[test]
    fn a_report_is_drawn_again() {
        let report = "\n## flask-mqtt-bench full (release build)\n\n\
            - 2026-12-04 17:10 UTC, Some CPU, 2 cores; mosquitto version 2.0.11\n\
            - 200000 messages of 64 bytes, round robin\n\n\
            ### End to end: messages/s\n\nMedian of 3 run(s) per consumer\n\n\
            | consumer | QoS 0 msg/s | lost | CPU/msg | QoS 1 msg/s | lost | CPU/msg | idle RSS | peak RSS |\n\
            |---|---:|---:|---:|---:|---:|---:|---:|---:|\n\
            | 3. flask-mqtt (actix, 100 handlers) | 71,320 [46,091 - 75,497] | 0 | 6.8 us | 46,054 [43,671 - 46,469] | 0 | 12.1 us | 9.9 MB | 22.7 MB |\n\
            | 5. FastStream 0.7 MQTT (100 subscribers) | 173 [143 - 232] | 0 | 2281.0 us | FAILED | 0 | - | 45.1 MB | 48.9 MB |\n\n\
            ### Latency\n\n\
            | 3. flask-mqtt (actix, 100 handlers) | 1 | 2 | 3 | 4 | 5 |\n";
        let path =
            std::env::temp_dir().join(format!("bench-chart-test-{}.svg", std::process::id()));
        redraw(report, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        for expected in [
            "flask-mqtt-bench full",
            "200,000 messages",
            "2026-12-04 17:10 UTC (Some CPU, 2 cores, shared); median of 3 rounds",
            ">71,320<",
            ">46,054<",
            ">12.1 us<",
            ">2281.0 us<",
            "not measured",
        ] {
            assert!(svg.contains(expected), "{expected:?} not in\n{svg}");
        }
        assert!(redraw("no report here", &path).is_err());
    }
}
