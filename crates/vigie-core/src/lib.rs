//! Vigie's domain: numbers, pools, calls, reports and the rules that decide which
//! number takes a call. Pure: no I/O, no clock reads; the time is an argument.

mod calendar;
mod call;
mod catalog;
mod engine;
mod phone;

pub use call::{reports_quarantine, DialWindow, Outcome, ReportSource};
pub use calendar::{add_days, next, prev, Calendar};
pub use catalog::{Catalog, FacilityId, InvalidField, PoolCode, PoolDef, PoolRole, Policy, Purpose};
pub use engine::{Allocation, CallSpec, NoCapacity, NumberId, NumberSlot, NumberStatus, PoolState, Rest};
pub use phone::{E164, NumberCategory, PhoneError};
pub use jiff::civil::Date;
pub use jiff::{SignedDuration, Timestamp};
