//! The measuring machinery of the chunk cache bench: alternating runs of each contender,
//! medians, ratio lines, and the thread and task drivers of the workloads.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::report::{self, duration, median, rounds, Figures, Line};
use crate::BenchResult;

/// One implementation under test: its `impl` name, the fields printed with its figures, and
/// a closure making one run.
pub struct Contender<'a> {
    pub name: &'static str,
    pub fields: Vec<(&'static str, report::Value)>,
    run: Box<dyn FnMut() -> Result<Figures, Box<dyn std::error::Error>> + 'a>,
}

impl<'a> Contender<'a> {
    pub fn new(
        name: &'static str,
        run: impl FnMut() -> Result<Figures, Box<dyn std::error::Error>> + 'a,
    ) -> Self {
        Self {
            name,
            fields: Vec::new(),
            run: Box::new(run),
        }
    }

    pub fn with(mut self, key: &'static str, value: impl Into<report::Value>) -> Self {
        self.fields.push((key, value.into()));
        self
    }
}

/// Runs every contender `rounds()` times, alternating so that a noisy neighbour hits each
/// alike, prints each one's median figures, then the ratio line of the first contender
/// (playlists) over the second (reference): the ratio of medians for each figure, the
/// smallest and largest ratio of two back-to-back runs, and whether each
/// `(figure, at_least)` target was met by the ratio of medians.
pub fn compare(
    bench: &str,
    mut contenders: Vec<Contender<'_>>,
    targets: &[(&str, f64)],
) -> BenchResult {
    let rounds = rounds();
    let mut runs: Vec<Vec<Figures>> = vec![Vec::new(); contenders.len()];
    for _ in 0..rounds {
        for (c, runs) in contenders.iter_mut().zip(&mut runs) {
            runs.push((c.run)()?);
        }
    }
    let keys: Vec<&'static str> = runs[0][0].iter().map(|(k, _)| *k).collect();
    let value = |runs: &[Figures], round: usize, key: &str| {
        runs[round].iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    };
    let mut medians = Vec::new();
    for (c, runs) in contenders.into_iter().zip(&runs) {
        let mut line = Line::new(bench, c.name);
        for &key in &keys {
            let mut xs: Vec<f64> = (0..rounds).filter_map(|r| value(runs, r, key)).collect();
            line = line.with(key, median(&mut xs));
        }
        line = line
            .with("runs", rounds)
            .with("secs_per_run", duration().as_secs_f64());
        for (k, v) in c.fields {
            line = line.with(k, v);
        }
        line.print();
        medians.push(line);
    }
    let mut line = Line::new(bench, "ratio");
    let mut met = true;
    let mut described = Vec::new();
    for &key in &keys {
        let r = medians[0]
            .num(key)
            .zip(medians[1].num(key))
            .map(|(a, b)| a / b);
        line = line.with(key, r);
        let mut per_round: Vec<f64> = (0..rounds)
            .filter_map(|i| Some(value(&runs[0], i, key)? / value(&runs[1], i, key)?))
            .collect();
        per_round.sort_by(f64::total_cmp);
        if let Some(&(_, at_least)) = targets.iter().find(|(k, _)| *k == key) {
            met &= r.is_some_and(|r| r >= at_least);
            described.push(format!("{key} >= {at_least}"));
            line = line
                .with(min_key(key), per_round.first().copied())
                .with(max_key(key), per_round.last().copied());
        }
    }
    if !targets.is_empty() {
        line = line
            .with("target", described.join(" and "))
            .with("met", met);
    }
    line.print();
    Ok(())
}

/// `"{key}_min"` for the figures that have targets.
fn min_key(key: &str) -> &'static str {
    match key {
        "writes_per_s" => "writes_per_s_min",
        "reads_per_s" => "reads_per_s_min",
        _ => "min",
    }
}

/// `"{key}_max"` for the figures that have targets.
fn max_key(key: &str) -> &'static str {
    match key {
        "writes_per_s" => "writes_per_s_max",
        "reads_per_s" => "reads_per_s_max",
        _ => "max",
    }
}

/// Runs `op` until `secs` have passed; returns (operations, seconds).
pub fn run_for(secs: Duration, mut op: impl FnMut()) -> (u64, f64) {
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        for _ in 0..8 {
            op();
        }
        n += 8;
        if start.elapsed() >= secs {
            return (n, start.elapsed().as_secs_f64());
        }
    }
}

/// Runs futures on a fresh 2-worker tokio runtime for `secs`: the ones `writers` and
/// `readers` make from the stop flag, each returning its operation count when the flag is
/// set. Returns (writes, reads, seconds).
pub fn tasks<WF, RF>(
    secs: Duration,
    writers: impl FnOnce(&Arc<AtomicBool>) -> Vec<WF>,
    readers: impl FnOnce(&Arc<AtomicBool>) -> Vec<RF>,
) -> Result<(u64, u64, f64), std::io::Error>
where
    WF: Future<Output = u64> + Send + 'static,
    RF: Future<Output = u64> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()?;
    let stop = Arc::new(AtomicBool::new(false));
    let (writes, reads, t) = rt.block_on(async {
        let ws: Vec<_> = writers(&stop).into_iter().map(tokio::spawn).collect();
        let rs: Vec<_> = readers(&stop).into_iter().map(tokio::spawn).collect();
        let t0 = Instant::now();
        tokio::time::sleep(secs).await;
        // Relaxed: the flag only ends the loops; the counts come back through the joins.
        stop.store(true, Ordering::Relaxed);
        let t = t0.elapsed().as_secs_f64();
        let (mut writes, mut reads) = (0, 0);
        for w in ws {
            writes += w.await.expect("writer task");
        }
        for r in rs {
            reads += r.await.expect("reader task");
        }
        (writes, reads, t)
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok((writes, reads, t))
}
