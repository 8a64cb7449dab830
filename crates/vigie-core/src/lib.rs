//! Vigie's domain: numbers, pools, calls, reports and the rules that decide which
//! number takes a call. Pure: no I/O, no clock reads; the time is an argument.

mod calendar;
mod call;
mod catalog;
mod engine;
mod phone;
mod plan;

pub use calendar::{Calendar, add_days, next, prev};
pub use call::{DialWindow, Outcome, ReportSource, reports_quarantine};
pub use catalog::{Catalog, FacilityId, InvalidField, Policy, PoolCode, PoolDef, PoolRole, Purpose};
pub use engine::{Allocation, CallSpec, NoCapacity, NumberId, NumberSlot, NumberStatus, PoolState, Rest};
pub use jiff::civil::Date;
pub use jiff::{SignedDuration, Timestamp};
pub use phone::{E164, NumberCategory, PhoneError};
pub use plan::{CapacityPlan, NaivePlan, PlanInput, PoolPlan, PoolShare, SensitivityRow, capacity_plan};
