//! What the origin says about itself: resident memory and CPU time from procfs (when its
//! process id is given), and its publish-delay histogram from `GET /metrics`.

use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The origin's resident set, in bytes.
pub(crate) fn rss_bytes(pid: Option<u32>) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{}/statm", pid?)).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The origin's CPU time (user + system), in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields are counted after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    // utime and stime are fields 14 and 15 of the line, 12th and 13th after the name.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The origin's CPU use since the start of the run, in percent of one core.
pub(crate) struct CpuClock {
    pid: Option<u32>,
    from: Option<(Instant, u64)>,
}

impl CpuClock {
    pub(crate) fn start(pid: Option<u32>) -> Self {
        let from = pid.and_then(cpu_ticks).map(|t| (Instant::now(), t));
        Self { pid, from }
    }

    /// Percent of one core used since [`start`](Self::start) (procfs counts in 100 Hz ticks on
    /// every Linux this runs on: `USER_HZ`).
    pub(crate) fn percent(&self) -> Option<f64> {
        let (at, ticks) = self.from?;
        let now = cpu_ticks(self.pid?)?;
        let secs = at.elapsed().as_secs_f64();
        (secs > 0.0).then(|| (now.saturating_sub(ticks)) as f64 / 100.0 / secs * 100.0)
    }
}

/// The origin's publish-delay histogram, summed over its streams.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PublishDelay {
    /// (upper bound in ms, cumulative parts), ascending; the last bound is infinite.
    buckets: Vec<(f64, u64)>,
    pub(crate) parts: u64,
    /// The longest delay of any stream.
    pub(crate) max_ms: f64,
}

impl PublishDelay {
    /// Reads `playlists_ingest_publish_delay_seconds` (a histogram per stream) and
    /// `…_max_seconds` out of the Prometheus text.
    pub(crate) fn parse(metrics: &str) -> Self {
        let mut by_bound: Vec<(f64, u64)> = Vec::new();
        let mut max_ms = 0f64;
        for line in metrics.lines() {
            if let Some(rest) = line.strip_prefix("playlists_ingest_publish_delay_seconds_bucket{")
            {
                let Some((labels, value)) = rest.rsplit_once("} ") else {
                    continue;
                };
                let Some(le) = labels
                    .split("le=\"")
                    .nth(1)
                    .and_then(|v| v.split('"').next())
                else {
                    continue;
                };
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse::<f64>().unwrap_or(f64::INFINITY) * 1000.0
                };
                let count = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
                match by_bound.iter_mut().find(|(b, _)| *b == bound) {
                    Some((_, n)) => *n += count,
                    None => by_bound.push((bound, count)),
                }
            } else if let Some(rest) =
                line.strip_prefix("playlists_ingest_publish_delay_max_seconds{")
            {
                if let Some((_, value)) = rest.rsplit_once("} ") {
                    max_ms = max_ms.max(value.trim().parse::<f64>().unwrap_or(0.0) * 1000.0);
                }
            }
        }
        by_bound.sort_by(|a, b| a.0.total_cmp(&b.0));
        let parts = by_bound.last().map_or(0, |b| b.1);
        Self {
            buckets: by_bound,
            parts,
            max_ms,
        }
    }

    /// The smallest bucket bound (ms) under which a fraction `q` of the parts were published;
    /// `None` without parts or when it lies above every bound.
    pub(crate) fn quantile_ms(&self, q: f64) -> Option<f64> {
        let rank = (self.parts as f64 * q).ceil() as u64;
        if self.parts == 0 {
            return None;
        }
        self.buckets
            .iter()
            .find(|(_, n)| *n >= rank)
            .map(|(bound, _)| *bound)
            .filter(|b| b.is_finite())
    }
}

/// A number of ms for a JSON line (`null` when unknown).
pub(crate) fn json_ms(ms: Option<f64>) -> String {
    ms.map_or("null".to_owned(), |ms| format!("{ms:.3}"))
}

/// `GET /metrics` from `authority`, read as [`PublishDelay`]; `None` when it cannot be read
/// (an nginx tier in front may not pass it on).
pub(crate) async fn publish_delay(authority: &str) -> Option<PublishDelay> {
    match scrape(authority).await {
        Ok(text) => Some(PublishDelay::parse(&text)),
        Err(e) => {
            eprintln!("loadgen: GET /metrics from {authority}: {e:#}");
            None
        }
    }
}

async fn scrape(authority: &str) -> Result<String> {
    let tcp = TcpStream::connect(authority).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let request = hyper::Request::get("/metrics")
        .header(http::header::HOST, authority)
        .body(Empty::<Bytes>::new())?;
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        sender.send_request(request),
    )
    .await
    .context("no answer within 10 s")??;
    if !response.status().is_success() {
        return Err(anyhow!("answered {}", response.status()));
    }
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_delays_of_all_streams_add_up() {
        let text = concat!(
            "# TYPE playlists_ingest_publish_delay_seconds histogram\n",
            "playlists_ingest_publish_delay_seconds_sum{stream=\"a\"} 0.01\n",
            "playlists_ingest_publish_delay_seconds_count{stream=\"a\"} 10\n",
            "playlists_ingest_publish_delay_seconds_bucket{stream=\"a\",le=\"0.001\"} 9\n",
            "playlists_ingest_publish_delay_seconds_bucket{stream=\"a\",le=\"0.002\"} 10\n",
            "playlists_ingest_publish_delay_seconds_bucket{stream=\"a\",le=\"+Inf\"} 10\n",
            "playlists_ingest_publish_delay_seconds_bucket{stream=\"b\",le=\"0.001\"} 80\n",
            "playlists_ingest_publish_delay_seconds_bucket{stream=\"b\",le=\"0.002\"} 80\n",
            "playlists_ingest_publish_delay_seconds_bucket{stream=\"b\",le=\"+Inf\"} 90\n",
            "playlists_ingest_publish_delay_max_seconds{stream=\"a\"} 0.0015\n",
            "playlists_ingest_publish_delay_max_seconds{stream=\"b\"} 0.3\n",
        );
        let d = PublishDelay::parse(text);
        assert_eq!(d.parts, 100);
        assert_eq!(d.quantile_ms(0.5), Some(1.0));
        assert_eq!(d.quantile_ms(0.9), Some(2.0));
        // 10 of 100 parts took longer than every bound.
        assert_eq!(d.quantile_ms(0.99), None);
        assert_eq!(d.max_ms, 300.0);
        assert_eq!(PublishDelay::parse("").quantile_ms(0.5), None);
    }

    #[test]
    fn this_process_has_cpu_time() {
        let pid = std::process::id();
        assert!(cpu_ticks(pid).is_some());
        assert!(rss_bytes(Some(pid)).unwrap() > 0);
    }
}
