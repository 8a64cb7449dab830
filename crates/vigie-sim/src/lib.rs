//! Vigie's deterministic simulator: the real rules of vigie-core (calling rules, SMS
//! timing, the allocation engine, quarantine on reports, the monitoring charts,
//! incidents) driven through simulated days of a call centre under a policy, with
//! outcomes, spam reports and app labels drawn from a documented model; it reports the
//! seed's before/after table. `vigie sim` is its command.

mod model;
mod report;
mod sim;
mod watch;

pub use model::{Answer, Apps, CallMix, MODEL_TOML, Model, ModelError, Policies, Population, Reports, Sms};
pub use report::{DayFigures, Report, Summary};
pub use sim::{Detection, PolicyKind, PolicySpec, START_DAY, SimError, run, run_with_progress};

#[cfg(test)]
mod tests;
