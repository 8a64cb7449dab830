//! `vigie plan`: the capacity plan, printed with its arithmetic.

use anyhow::bail;
use clap::Args;
use vigie_core::{PlanInput, capacity_plan, parse_mix};

#[derive(Args, Debug)]
pub(crate) struct PlanArgs {
    /// Outbound calls per day.
    #[arg(long)]
    calls_per_day: u32,
    /// Share of the calls per pool, in percent (must add up to 100).
    #[arg(long, default_value = "A=40,B=25,C=20,D=15")]
    mix: String,
    /// Most calls per number per day.
    #[arg(long, default_value_t = 80)]
    cap: u32,
    /// Calls from which a day is intensive.
    #[arg(long, default_value_t = 70)]
    intensive: u32,
    /// Calls a number carries before the pool opens another (default: min(65, intensive - 1)).
    #[arg(long)]
    healthy: Option<u32>,
    /// Reserve margin over the expected demand, e.g. 10%.
    #[arg(long, default_value = "10%")]
    margin: String,
}

pub(crate) fn run(args: &PlanArgs) -> anyhow::Result<()> {
    let mut input = PlanInput::seed(args.calls_per_day);
    input.mix = parse_mix(&args.mix).map_err(|e| anyhow::anyhow!("--mix: {}", e.rule))?;
    input.calls_per_day_max = args.cap;
    input.intensive_calls_min = args.intensive;
    input.healthy_calls_per_day = args.healthy;
    let Ok(margin) = args.margin.trim().trim_end_matches('%').parse::<u32>() else {
        bail!("--margin: must be a percentage such as 10%");
    };
    input.reserve_margin_percent = margin;
    let plan = capacity_plan(&input).map_err(|e| anyhow::anyhow!("--{}: {}", e.field.replace('_', "-"), e.rule))?;
    for line in &plan.lines {
        println!("{line}");
    }
    Ok(())
}
