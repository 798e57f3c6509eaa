//! Lines per second through `normalize_line` on one core, for `docs/benchmarks.md`.
//!
//! `cargo run --release -p webqx-events --example normalize_bench -- FILE [FORMAT] [REPEAT]`
//!
//! Reads FILE into memory (REPEAT times over, default 1), normalizes every line in
//! FORMAT (default: detected), and prints lines, seconds, lines per second, refusals and
//! `raw` events. The events are dropped as they are made (what a pipeline does once it
//! has handed them on); their JSON is not serialized.

use std::time::Instant;

use webqx_events::normalize::{Format, Options, RejectCounts, normalize_line};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: normalize_bench FILE [FORMAT] [REPEAT]");
        std::process::exit(2);
    };
    let data = match std::fs::read(&path) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(2);
        }
    };
    let format = match args.next() {
        Some(name) => Format::from_name(&name).unwrap_or_else(|| {
            eprintln!("unknown format {name}");
            std::process::exit(2)
        }),
        None => Format::detect(&data),
    };
    let repeat: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(1);
    let options = Options::default();

    let (mut lines, mut raw, mut rejected) = (0u64, 0u64, RejectCounts::default());
    let start = Instant::now();
    for _ in 0..repeat {
        for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            lines += 1;
            match normalize_line(line, format, &options) {
                Ok(event) => {
                    if event.get_str("event.dataset") == Some("raw") {
                        raw += 1;
                    }
                }
                Err(e) => rejected.add(&e),
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "format={} lines={lines} seconds={seconds:.3} lines_per_second={:.0} raw={raw} rejected={}",
        format.name(),
        lines as f64 / seconds,
        rejected.total()
    );
}
