//! Vigie's domain: numbers, pools, calls, reports and the rules that decide which
//! number takes a call. Pure: no I/O, no clock reads; the time is an argument.

mod calendar;
mod call;
mod catalog;
mod compliance;
mod engine;
mod holidays;
mod hours;
mod names;
mod numbering;
mod phone;
mod plan;
mod sms;
mod territory;

pub use calendar::{Calendar, add_days, next, prev};
pub use call::{DialWindow, Outcome, ReportSource, reports_quarantine};
pub use catalog::{Catalog, FacilityId, InvalidField, Policy, PoolCode, PoolDef, PoolRole, Purpose};
pub use compliance::{
    BloctelState, CallContext, CallRule, ComplianceRules, ConsentRecord, PurposeClass, RuleRefusal, check_call,
    later_attempt_over_limit,
};
pub use engine::{Allocation, CallSpec, NoCapacity, NumberId, NumberSlot, NumberStatus, PoolState, Rest};
pub use holidays::{EXTRA_HOLIDAYS_MAX, Holiday, HolidayCalendar, easter_sunday, public_holiday, public_holidays};
pub use hours::{RANGES_PER_DAY_MAX, TimeRange, WeeklyHours};
pub use jiff::civil::Date;
pub use jiff::{SignedDuration, Timestamp};
pub use numbering::{DiallingMode, NumberPrefix, NumberingRefusal, NumberingRules, PREFIXES_MAX, check_presentation};
pub use phone::{E164, NumberCategory, PhoneError};
pub use plan::{CapacityPlan, NaivePlan, PlanInput, PoolPlan, PoolShare, SensitivityRow, capacity_plan};
pub use sms::{
    ANNOUNCED_PURPOSES, DEFAULT_MAX_SEGMENTS, EncodedSms, FACILITY_CHARS_MAX, Language, Placeholder, QuietPolicy,
    RenderedSms, SMS_SEGMENTS_MAX, SenderChoice, SenderId, SmsEncoding, SmsFields, SmsLength, SmsPlan, SmsQuietHours,
    SmsSender, SmsStatus, SmsTiming, SmsTransitionError, SmsWindow, TEMPLATE_SEGMENTS_MAX, Template, TemplateError,
    TemplateProblem, Unannounceable, UnannouncedReason, decode_sms, default_template_text, encode_sms, is_gsm7,
    is_stop_reply, plan_sms, sms_encoding, sms_length,
};
pub use territory::Territory;
