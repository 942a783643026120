//! [`MetricsFormat`]: the two text formats Prometheus scrapes, and which one a scraper
//! asked for.

/// A text format for metrics.
///
/// ```
/// use flask_mqtt_core::MetricsFormat;
///
/// // What Prometheus 2.x and 3.x send when scraping (without protobuf).
/// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// assert_eq!(MetricsFormat::for_accept(Some(prometheus)), MetricsFormat::OpenMetrics);
/// // curl, a browser, an older scraper.
/// assert_eq!(MetricsFormat::for_accept(Some("*/*")), MetricsFormat::PrometheusText);
/// assert_eq!(MetricsFormat::for_accept(None), MetricsFormat::PrometheusText);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricsFormat {
    /// OpenMetrics 1.0 text (`application/openmetrics-text; version=1.0.0`): what
    /// Prometheus asks for first when it scrapes; ends with `# EOF`.
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4 (`text/plain; version=0.0.4`): for
    /// scrapers and people that do not ask for OpenMetrics.
    PrometheusText,
}

impl MetricsFormat {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            MetricsFormat::OpenMetrics => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
            MetricsFormat::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format for a request's `Accept` header: OpenMetrics when it lists
    /// `application/openmetrics-text` with a quality above 0 (Prometheus does, first;
    /// `q=0` or `Q=0` refuses it), the Prometheus text format otherwise.
    pub fn for_accept(accept: Option<&str>) -> MetricsFormat {
        let asks_openmetrics = accept.is_some_and(|accept| {
            accept.split(',').any(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next().unwrap_or_default();
                // The weight `q=` (RFC 9110, 12.4.2); parameter names are
                // case-insensitive, so `Q=0` refuses too.
                let refused = parts.any(|p| {
                    p.split_once('=')
                        .filter(|(name, _)| name.eq_ignore_ascii_case("q"))
                        .and_then(|(_, q)| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
            })
        });
        if asks_openmetrics {
            MetricsFormat::OpenMetrics
        } else {
            MetricsFormat::PrometheusText
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers() {
        for (accept, format) in [
            (
                Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
                MetricsFormat::OpenMetrics,
            ),
            (
                Some("text/plain;q=0.5, Application/OpenMetrics-Text ; version=0.0.1"),
                MetricsFormat::OpenMetrics,
            ),
            (
                Some("application/openmetrics-text;q=0"),
                MetricsFormat::PrometheusText,
            ),
            // RFC 9110: parameter names are case-insensitive, `q` as well.
            (
                Some("application/openmetrics-text;version=1.0.0;Q=0"),
                MetricsFormat::PrometheusText,
            ),
            (
                Some("text/plain, application/openmetrics-text ; Q=0.000"),
                MetricsFormat::PrometheusText,
            ),
            (
                Some("application/openmetrics-text;Q=0.5"),
                MetricsFormat::OpenMetrics,
            ),
            (Some("text/plain"), MetricsFormat::PrometheusText),
            (Some(""), MetricsFormat::PrometheusText),
            (None, MetricsFormat::PrometheusText),
        ] {
            assert_eq!(MetricsFormat::for_accept(accept), format, "{accept:?}");
        }
    }
}
