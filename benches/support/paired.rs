//! Paired rounds, for machines whose speed drifts between and within runs (these VMs: the same
//! case can take 30 % longer a minute later). Criterion measures one case after another, so a
//! ratio of two of its cases also measures the drift between them. Here every case runs once
//! per round, in an order rotated each round, and a ratio is taken per round, between two
//! cases of that round, then the median over the rounds: the drift moves both sides of a
//! ratio together.
//!
//! Shared by `benches/engine.rs` (`ENGINE_PAIRED=N`) and `benches/kvs_ingest.rs`
//! (`KVS_INGEST_PAIRED=N`); `scripts/bench.sh engine_paired` / `kvs_paired` run them.

use std::time::{Duration, Instant};

/// The round count in environment variable `var`, when it is set to a number: the bench then
/// runs its paired rounds instead of criterion.
pub fn rounds_from_env(var: &str) -> Option<usize> {
    std::env::var(var).ok().and_then(|r| r.parse().ok())
}

/// One case: a name and a closure that runs it once and returns the time to count.
type Case<'a> = (String, Box<dyn FnMut() -> Duration + 'a>);

/// The cases of one paired run, in the order they were added.
#[derive(Default)]
pub struct Rounds<'a> {
    cases: Vec<Case<'a>>,
}

impl<'a> Rounds<'a> {
    /// A case timed whole.
    pub fn case(&mut self, name: impl Into<String>, mut run: impl FnMut() + 'a) {
        self.timed(name, move || {
            let t = Instant::now();
            run();
            t.elapsed()
        });
    }

    /// A case that times itself (to leave its untimed set-up out).
    pub fn timed(&mut self, name: impl Into<String>, run: impl FnMut() -> Duration + 'a) {
        self.cases.push((name.into(), Box::new(run)));
    }

    /// One untimed warm-up round, then `rounds` rounds, case `k` of round `r` being
    /// `(k + r) % cases`.
    pub fn run(mut self, rounds: usize) -> Times {
        let n = self.cases.len();
        for (_, run) in &mut self.cases {
            run();
        }
        let mut times = vec![Vec::with_capacity(rounds); n];
        for r in 0..rounds {
            for k in 0..n {
                let i = (k + r) % n;
                let elapsed = (self.cases[i].1)();
                times[i].push(elapsed.as_secs_f64());
            }
        }
        Times {
            names: self.cases.into_iter().map(|(name, _)| name).collect(),
            times,
        }
    }
}

/// The times of every case in every round (seconds).
pub struct Times {
    names: Vec<String>,
    times: Vec<Vec<f64>>,
}

/// Median, lowest and highest of some figures.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub median: f64,
    pub lowest: f64,
    pub highest: f64,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Self {
        v.sort_by(f64::total_cmp);
        Self {
            median: v[v.len() / 2],
            lowest: v[0],
            highest: v[v.len() - 1],
        }
    }
}

impl Times {
    fn of(&self, name: &str) -> &[f64] {
        let i = self
            .names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no case named {name}"));
        &self.times[i]
    }

    /// The case's time per round (seconds).
    pub fn time(&self, name: &str) -> Spread {
        Spread::of(self.of(name).to_vec())
    }

    /// `base`'s time over `case`'s, per round: above 1 when `case` is faster.
    pub fn ratio(&self, base: &str, case: &str) -> Spread {
        let ratios = self
            .of(base)
            .iter()
            .zip(self.of(case))
            .map(|(b, c)| b / c)
            .collect();
        Spread::of(ratios)
    }

    /// Every case's median time, one line each.
    pub fn print_times(&self) {
        for name in &self.names {
            let t = self.time(name);
            println!(
                "{name}: median {:.3} ms (lowest {:.3}, highest {:.3})",
                t.median * 1e3,
                t.lowest * 1e3,
                t.highest * 1e3
            );
        }
    }

    /// One line: `label`, the median ratio `base / case` and its range over the rounds.
    pub fn print_ratio(&self, label: &str, base: &str, case: &str) {
        let r = self.ratio(base, case);
        println!(
            "{label}: {base} / {case} per round: median {:.2} (lowest {:.2}, highest {:.2}) over {} rounds",
            r.median,
            r.lowest,
            r.highest,
            self.of(base).len()
        );
    }
}
