//! `vigie plan`: the capacity plan, printed with its arithmetic.

use clap::Args;

#[derive(Args, Debug)]
pub(crate) struct PlanArgs {
    /// Outbound calls per day.
    #[arg(long)]
    calls_per_day: u32,
}

pub(crate) fn run(args: &PlanArgs) -> anyhow::Result<()> {
    anyhow::bail!("plan for {} calls: in progress", args.calls_per_day)
}
