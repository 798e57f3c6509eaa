//! Measures the start-up cost of the built-in rule pack: loading the embedded rules
//! and compiling them into an engine (the regex automata of the web rules dominate).
//!
//! `cargo run -p webqx-detect --example pack_startup [rounds]`

use std::time::Instant;

use webqx_detect::{Context, Engine, Options, RuleSet};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3)
        .clamp(1, 100);
    let mut best = f64::MAX;
    for round in 1..=rounds {
        let start = Instant::now();
        let rules = RuleSet::builtin()?;
        let _engine = Engine::new(rules, Context::new(), Options::default())?;
        let secs = start.elapsed().as_secs_f64();
        best = best.min(secs);
        println!("round {round}: pack loaded and compiled in {secs:.3} s");
    }
    println!("best of {rounds}: {best:.3} s");
    Ok(())
}
