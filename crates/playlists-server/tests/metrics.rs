//! `GET /metrics` (Prometheus text format 0.0.4) and `GET /healthz`.

mod bad_input_common;
mod origin;

use http::StatusCode;
use origin::{settle, within, TestServer};
use playlists_server::ingest::PUBLISH_DELAY_BUCKETS_US;

fn value(metrics: &str, series: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Asserts that every series has a `# HELP` and a `# TYPE` line for its family, named as the
/// 0.0.4 format names them (a counter's family with its `_total`, a histogram's without
/// `_bucket`, `_sum` and `_count`).
fn assert_described(m: &str) {
    for line in m.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                let family = name.strip_suffix(suffix)?;
                m.contains(&format!("# TYPE {family} histogram\n"))
                    .then_some(family)
            })
            .unwrap_or(name);
        assert!(m.contains(&format!("# TYPE {family} ")), "{name}:\n{m}");
        assert!(m.contains(&format!("# HELP {family} ")), "{name}:\n{m}");
    }
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = TestServer::start().await;
    let resp = server.get("/healthz").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.text(), "ok\n");
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_waiters_bytes_and_stream_positions() {
    let server = TestServer::start().await;
    let last = server.publish("cam1", 0, 7);
    let part = server.get("/cam1/p0.mp4").await;
    server.get("/cam1/p495.mp4").await;
    server.get("/cam1/index.m3u8").await;
    // Not a directive (only `_HLS_msn` itself is): a plain playlist request, counted as one.
    server.get("/cam1/index.m3u8?_HLS_msnx=1").await;
    let addr = server.addr;
    let held = tokio::spawn(async move { origin::get(addr, "/cam1/p7.mp4", &[]).await });
    settle().await;

    let resp = server.get("/metrics").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let m = resp.text();
    assert_eq!(
        value(
            &m,
            "playlists_http_requests_total{route=\"part\",status=\"200\"}"
        ),
        Some(1),
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            "playlists_http_requests_total{route=\"part\",status=\"404\"}"
        ),
        Some(1)
    );
    assert_eq!(
        value(
            &m,
            "playlists_http_requests_total{route=\"playlist\",status=\"200\"}"
        ),
        Some(2)
    );
    assert_eq!(
        value(
            &m,
            "playlists_http_requests_total{route=\"blocking_playlist\",status=\"200\"}"
        ),
        None,
        "{m}"
    );
    assert_eq!(value(&m, "playlists_http_waiting_requests"), Some(1));
    assert_eq!(
        value(&m, "playlists_stream_waiting_requests{stream=\"cam1\"}"),
        Some(1)
    );
    assert!(value(&m, "playlists_http_response_bytes_total").unwrap() >= part.body.len() as u64);
    assert_eq!(
        value(
            &m,
            "playlists_stream_parts_published_total{stream=\"cam1\"}"
        ),
        Some(7)
    );
    assert_eq!(
        value(&m, "playlists_stream_last_msn{stream=\"cam1\"}"),
        Some(last.msn)
    );
    assert_eq!(
        value(&m, "playlists_stream_last_part{stream=\"cam1\"}"),
        Some(u64::from(last.part))
    );
    assert_eq!(value(&m, "playlists_streams_live"), Some(1));
    assert_described(&m);

    server.publish("cam1", 7, 1);
    within(held).await.unwrap();
    let m = server.get("/metrics").await.text();
    assert_eq!(value(&m, "playlists_http_waiting_requests"), Some(0));
    assert_eq!(
        value(
            &m,
            "playlists_stream_parts_published_total{stream=\"cam1\"}"
        ),
        Some(8)
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_carry_the_publish_delay_histogram_of_an_ingested_stream() {
    let server = TestServer::start().await;
    let body = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/h264.mp4"),
    )
    .unwrap();
    let resp = bad_input_common::put(server.addr, "/ingest/cam1", &body).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());

    let m = server.get("/metrics").await.text();
    let parts = value(
        &m,
        "playlists_stream_parts_published_total{stream=\"cam1\"}",
    )
    .unwrap();
    assert!(parts > 0, "{m}");
    let name = "playlists_ingest_publish_delay_seconds";
    // One bucket per bound and `+Inf`, in order, cumulative, the last holding every part.
    let buckets: Vec<(String, u64)> = m
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&format!("{name}_bucket{{stream=\"cam1\",le=\""))?;
            let (le, n) = rest.split_once("\"} ")?;
            Some((le.to_owned(), n.parse().ok()?))
        })
        .collect();
    assert_eq!(buckets.len(), PUBLISH_DELAY_BUCKETS_US.len() + 1, "{m}");
    for ((le, _), us) in buckets.iter().zip(PUBLISH_DELAY_BUCKETS_US) {
        assert_eq!(le.parse::<f64>().unwrap(), us as f64 / 1e6, "{le}");
    }
    assert_eq!(buckets.last().unwrap(), &("+Inf".to_owned(), parts));
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{m}");
    assert_eq!(
        value(&m, &format!("{name}_count{{stream=\"cam1\"}}")),
        Some(parts)
    );
    let seconds = |series: &str| -> f64 {
        m.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} not in:\n{m}"))
    };
    let sum = seconds(&format!("{name}_sum{{stream=\"cam1\"}}"));
    let max = seconds("playlists_ingest_publish_delay_max_seconds{stream=\"cam1\"}");
    assert!((0.0..=sum).contains(&max), "max {max}, sum {sum}");
    assert_described(&m);
    server.stop().await;
}
