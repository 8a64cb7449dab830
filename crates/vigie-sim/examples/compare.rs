//! Runs every policy on the default model and prints the seed's table for each:
//! `cargo run --release -p vigie-sim --example compare -- [DAYS] [SEED] [MODEL.toml]`.

use std::time::Instant;

use vigie_sim::{Model, PolicyKind, PolicySpec, run};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let days: u32 = args.first().map_or(Ok(30), |a| a.parse())?;
    let seed: u64 = args.get(1).map_or(Ok(1), |a| a.parse())?;
    let model = match args.get(2) {
        Some(path) => Model::from_toml(&std::fs::read_to_string(path)?)?,
        None => Model::default(),
    };
    for kind in PolicyKind::ALL {
        let started = Instant::now();
        let report = run(&model, &PolicySpec::of(kind, &model), seed, days)?;
        println!("{}  ({:.1} s)", report.summary, started.elapsed().as_secs_f64());
    }
    Ok(())
}
