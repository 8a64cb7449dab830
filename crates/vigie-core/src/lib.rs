//! Vigie's domain: numbers, pools, calls, reports and the rules that decide which
//! number takes a call. Pure: no I/O, no clock reads; the time is an argument.

mod alerting;
mod calendar;
mod call;
mod catalog;
mod compliance;
mod detect;
mod detect_bench;
mod engine;
mod finding;
mod holidays;
mod hours;
mod incident;
mod names;
mod number_audit;
mod numbering;
mod phone;
mod plan;
mod reputation;
mod sms;
mod territory;

pub use alerting::{
    ALERTS_PER_HOUR_MAX, Alert, AlertAction, AlertGate, AlertPolicy, AlertSignal, DEDUP_WINDOW_HOURS_MAX, Decision,
    RenderedAlert, SUBJECT_EVIDENCE_CHARS_MAX, SentAlert, Severity,
};
pub use calendar::{Calendar, add_days, next, prev};
pub use call::{DialWindow, Outcome, ReportSource, reports_quarantine};
pub use catalog::{Catalog, FacilityId, InvalidField, Policy, PoolCode, PoolDef, PoolRole, Purpose};
pub use compliance::{
    BloctelState, CallContext, CallRule, ComplianceRules, ConsentRecord, PurposeClass, RuleRefusal, check_call,
    later_attempt_over_limit,
};
pub use detect::{
    Alarm, AlarmAction, AlarmSignal, AlarmSubject, AnswerFall, Contributions, DesignError, DetectionFloor, Evidence,
    MonitorConfig, MonitorDesign, NumberDesign, NumberDetector, PoolDesign, PoolDetector, Reporting, SignalCounts,
    SignalModel, SignalRates, Step, call_llr, cusum_arl, cusum_run_length_quantile, cusum_threshold, detection_floor,
    fallen_rate, healthy_steps, kl_bernoulli, labelled_steps,
};
pub use detect_bench::{
    BenchConfig, BenchError, BenchReport, DelayFigures, FalseAlarmFigures, FloorRow, SweepRow, run_detection_bench,
};
pub use engine::{Allocation, CallSpec, NoCapacity, NumberId, NumberSlot, NumberStatus, PoolState, Rest};
pub use finding::Finding;
pub use holidays::{EXTRA_HOLIDAYS_MAX, Holiday, HolidayCalendar, easter_sunday, public_holiday, public_holidays};
pub use hours::{RANGES_PER_DAY_MAX, TimeRange, WeeklyHours};
pub use incident::{
    BY_CHARS_MAX, CAUSE_WINDOW_DAYS, CONTEXT_CHARS_MAX, COOL_DOWN_DAYS_MAX, Cause, CauseConfig, CauseFinding,
    CauseInput, CleanCheck, CleanFault, CleanVerdict, Closure, DelistingContext, DelistingRequest, Incident,
    IncidentError, IncidentTrigger, ListingTarget, NOTE_CHARS_MAX, PLAYBOOK_HORIZON_HOURS, PLAYBOOK_STEPS, Playbook,
    PlaybookStep, REPORT_MATCH_MINUTES, Resolution, Share, StepDone, StepRecord, USUAL_HOURS_END, USUAL_HOURS_START,
    analyse_cause, delisting_request, odd_hour, unmatched_reports,
};
pub use jiff::civil::Date;
pub use jiff::{SignedDuration, Timestamp};
pub use number_audit::{AUDIT_CALLS_MIN, AUDIT_CHECKS, AuditCheck, NumberFacts, Verdict, audit_number, audit_summary};
pub use numbering::{DiallingMode, NumberPrefix, NumberingRefusal, NumberingRules, PREFIXES_MAX, check_presentation};
pub use phone::{E164, NumberCategory, PhoneError};
pub use plan::{CapacityPlan, NaivePlan, PlanInput, PoolPlan, PoolShare, SensitivityRow, capacity_plan, parse_mix};
pub use reputation::{
    AnswerCounts, BASELINE_CALLS_MIN, Baseline, BaselineError, BaselineRate, BaselineSource, BaselineTable, CallSignal,
    ExternalCheck, ExternalKind, LocalHour, NumberLevel, RATE_MAX, RATE_MIN, RateWeight, Reason, ReasonCode,
    ReportEvent, ReputationScore, SHORT_CALL_SECS, ScoreInputs, SipCode, reputation_score, score_weights,
};
pub use sms::{
    ANNOUNCED_PURPOSES, DEFAULT_MAX_SEGMENTS, EncodedSms, FACILITY_CHARS_MAX, Language, Placeholder, QuietPolicy,
    RenderedSms, SMS_SEGMENTS_MAX, SenderChoice, SenderId, SmsEncoding, SmsFields, SmsLength, SmsPlan, SmsQuietHours,
    SmsSender, SmsStatus, SmsTiming, SmsTransitionError, SmsWindow, TEMPLATE_SEGMENTS_MAX, Template, TemplateError,
    TemplateProblem, Unannounceable, UnannouncedReason, decode_sms, default_template_text, encode_sms, is_gsm7,
    is_stop_reply, plan_sms, sms_encoding, sms_length,
};
pub use territory::Territory;
