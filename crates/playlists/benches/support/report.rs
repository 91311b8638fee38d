//! Output and measurement helpers of the chunk cache bench: one JSON object per line, the
//! resident set size, and the run-time knobs.
//!
//! JSON is written by hand: the lines are flat objects of strings and numbers, and a
//! serialisation crate would be the bench's only reason to depend on one.

use std::fmt::Write as _;
use std::time::Duration;

/// A value of one JSON field.
pub enum Value {
    Str(String),
    Num(f64),
    Int(u64),
    Bool(bool),
    Null,
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Num(x)
    }
}
impl From<u64> for Value {
    fn from(x: u64) -> Self {
        Value::Int(x)
    }
}
impl From<usize> for Value {
    fn from(x: usize) -> Self {
        Value::Int(x as u64)
    }
}
impl From<bool> for Value {
    fn from(x: bool) -> Self {
        Value::Bool(x)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(x: Option<T>) -> Self {
        x.map_or(Value::Null, Into::into)
    }
}

/// One output line, fields in insertion order.
#[derive(Default)]
pub struct Line(Vec<(&'static str, Value)>);

impl Line {
    /// A line for `bench` and `imp` (`"playlists"`, `"reference"`, `"ratio"`…).
    pub fn new(bench: &str, imp: &str) -> Self {
        Self(vec![("bench", bench.into()), ("impl", imp.into())])
    }

    /// Adds a field.
    pub fn with(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.0.push((key, value.into()));
        self
    }

    /// The number stored under `key`, if any.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| match v {
                Value::Num(x) => Some(*x),
                Value::Int(x) => Some(*x as f64),
                _ => None,
            })
    }

    /// Renders the line as one JSON object.
    pub fn render(&self) -> String {
        let mut out = String::from("{");
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "\"{key}\":");
            match value {
                Value::Str(s) => {
                    out.push('"');
                    for c in s.chars() {
                        match c {
                            '"' => out.push_str("\\\""),
                            '\\' => out.push_str("\\\\"),
                            c if (c as u32) < 0x20 => {
                                let _ = write!(out, "\\u{:04x}", c as u32);
                            }
                            c => out.push(c),
                        }
                    }
                    out.push('"');
                }
                // Rates are rounded to 3 significant decimals; JSON has no NaN or infinity.
                Value::Num(x) if x.is_finite() => {
                    let _ = write!(out, "{}", (x * 1000.0).round() / 1000.0);
                }
                Value::Num(_) | Value::Null => out.push_str("null"),
                Value::Int(x) => {
                    let _ = write!(out, "{x}");
                }
                Value::Bool(b) => {
                    let _ = write!(out, "{b}");
                }
            }
        }
        out.push('}');
        out
    }

    /// Prints the line on stdout (not in a smoke run, whose figures mean nothing).
    pub fn print(&self) {
        if !smoke() {
            println!("{}", self.render());
        }
    }
}

/// The resident set size of this process (`VmRSS` of `/proc/self/status`), `None` where the
/// kernel does not provide it.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn env_num(name: &str) -> Option<f64> {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
}

/// Whether this is a smoke run: `cargo test --all-targets` runs a `harness = false` bench
/// without the `--bench` argument that `cargo bench` passes. A smoke run checks the bench
/// still works in a fraction of a second per workload and prints nothing.
pub fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// How long one run of one implementation lasts: `PLAYLISTS_BENCH_SECS` (default 1; 20 ms in
/// a smoke run).
pub fn duration() -> Duration {
    let default = if smoke() { 0.02 } else { 1.0 };
    Duration::from_secs_f64(env_num("PLAYLISTS_BENCH_SECS").unwrap_or(default))
}

/// How many alternating runs each implementation gets per workload:
/// `PLAYLISTS_BENCH_ROUNDS` (default 3). Figures are the median run; the ratio line also
/// gives the smallest and largest ratio of two runs made back to back.
pub fn rounds() -> usize {
    env_num("PLAYLISTS_BENCH_ROUNDS")
        .map_or(3, |r| r as usize)
        .max(1)
}

/// Figures of one run: `(name, value)`.
pub type Figures = Vec<(&'static str, f64)>;

/// The median of `xs` (the mean of the middle two for an even count).
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Whether the workload `name` was selected: with no filter argument all are; otherwise a
/// name must contain one of the arguments (`cargo bench --bench chunk_cache -- w2 mem`).
pub fn selected(name: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}
