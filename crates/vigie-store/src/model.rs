//! What goes into the store and what comes out of it. Plain data over core types; the
//! HTTP layer maps these to its DTOs.

use vigie_core::{Date, E164, FacilityId, NumberStatus, Outcome, PoolCode, Purpose, ReportSource, Timestamp};

/// A facility the centre calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facility {
    /// Slug.
    pub id: FacilityId,
    /// Legal or usual name.
    pub name: String,
    /// The name shown to patients (CNAM).
    pub display_name: String,
    /// City.
    pub city: String,
    /// The number patients can call back.
    pub callback: E164,
}

/// An outbound call the dialer asks a number for.
#[derive(Debug, Clone)]
pub struct NewCall {
    /// The dialer's idempotency key.
    pub call_ref: String,
    /// The facility called for.
    pub facility: FacilityId,
    /// Why.
    pub purpose: Purpose,
    /// Pseudonymous patient reference.
    pub patient_ref: String,
    /// The patient's phone (sealed before it is stored).
    pub patient_phone: E164,
    /// When it will be dialled.
    pub dial_at: Timestamp,
}

/// The answer to a call: the number to present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallAnswer {
    /// Store identity of the call.
    pub call_id: i64,
    /// The number to present; `None` when the call lost its number and none could
    /// replace it (it needs a new allocation).
    pub caller_number: Option<E164>,
    /// The name displayed with it.
    pub display_name: Option<String>,
    /// The pool that serves the call.
    pub pool: PoolCode,
    /// `true` when this request created the call, `false` when it was known.
    pub created: bool,
    /// When the call's SMS is planned to go, for a call this request created and whose
    /// purpose announces its calls (a known call's SMS is read with it).
    pub sms_at: Option<Timestamp>,
}

/// A call as stored.
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// Identity.
    pub id: i64,
    /// Dialer's key.
    pub call_ref: String,
    /// Facility.
    pub facility: FacilityId,
    /// Purpose.
    pub purpose: Purpose,
    /// Pool.
    pub pool: PoolCode,
    /// Pseudonymous patient reference.
    pub patient_ref: String,
    /// Patient phone, only when the reader may see it.
    pub patient_phone: Option<E164>,
    /// Dial time.
    pub dial_at: Timestamp,
    /// The number given, if it still has one.
    pub caller_number: Option<E164>,
    /// Displayed name of that number.
    pub display_name: Option<String>,
    /// When the call was first allocated.
    pub created_at: Timestamp,
    /// When it last moved to another number.
    pub reassigned_at: Option<Timestamp>,
    /// How it ended, once known.
    pub outcome: Option<OutcomeReport>,
    /// The GDPR Art. 9(2) basis recorded for it (`None` for calls stored before bases
    /// were recorded).
    pub legal_basis: Option<crate::privacy::LegalBasis>,
    /// The class of its purpose when it was allocated (`None` for calls stored before
    /// classes were recorded).
    pub class: Option<vigie_core::PurposeClass>,
    /// When the patient refused solicitation during it, if they did (the cooldown of
    /// D223-9 runs from there).
    pub solicitation_refused_at: Option<Timestamp>,
    /// When the dialer (or the patient's STOP) cancelled it, and why.
    pub cancelled: Option<(Timestamp, String)>,
}

/// What the dialer changes about a call not yet dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallChange {
    /// The call will not be made: it stops counting against its number's cap and as an
    /// attempt, and its SMS not yet sent is cancelled.
    Cancel,
    /// The call moves to another instant: its number is chosen again for that day
    /// (the same one when it is still eligible), and its SMS is planned again.
    Reschedule(Timestamp),
}

/// What a [`CallChange`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallChangeAnswer {
    /// The call.
    pub call_id: i64,
    /// Its dial time now.
    pub dial_at: Timestamp,
    /// The number it presents now (`None` once cancelled).
    pub caller_number: Option<E164>,
    /// The name displayed with it.
    pub display_name: Option<String>,
    /// Its pool.
    pub pool: PoolCode,
    /// When its new SMS goes, if one is planned.
    pub sms_at: Option<Timestamp>,
    /// SMS of the call cancelled before they were sent.
    pub sms_cancelled: u32,
    /// An SMS of the call already went to the patient (it announced the old time).
    pub sms_already_sent: bool,
}

/// What a patient's SMS opt-out did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptOutAnswer {
    /// It was new (not recorded before).
    pub recorded: bool,
    /// Calls not yet dialled that it cancelled (purposes whose calls stop with their SMS).
    pub calls_cancelled: u32,
    /// SMS not yet sent that it cancelled.
    pub sms_cancelled: u32,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeReport {
    /// The outcome.
    pub outcome: Outcome,
    /// Talk time in seconds.
    pub duration_s: u32,
    /// When it ended.
    pub ended_at: Timestamp,
    /// Seconds of ringing, when the dialer knows.
    pub ring_s: Option<u32>,
    /// Final SIP response code, when known.
    pub sip_code: Option<u16>,
    /// Agent note (`shown_as_spam` counts as a report).
    pub agent_note: Option<String>,
}

/// The agent note that counts as a spam report.
pub const SHOWN_AS_SPAM: &str = "shown_as_spam";

/// A spam report about a number.
#[derive(Debug, Clone)]
pub struct NewReport {
    /// The number reported.
    pub number: E164,
    /// Who reported it.
    pub source: ReportSource,
    /// When.
    pub reported_at: Timestamp,
    /// Free text (never medical content).
    pub detail: String,
}

/// What a report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportAnswer {
    /// Identity of the report.
    pub report_id: i64,
    /// Reports of the number on the report's local day, this one included.
    pub reports_that_day: u32,
    /// Whether this report quarantined the number.
    pub quarantined: bool,
    /// Calls moved to another number.
    pub reassigned: u32,
    /// Calls left without a number (no capacity).
    pub unassigned: u32,
}

/// A new number for the inventory.
#[derive(Debug, Clone)]
pub struct NewNumber {
    /// The number.
    pub number: E164,
    /// Its pool.
    pub pool: PoolCode,
    /// The facility it belongs to, if any.
    pub facility: Option<FacilityId>,
    /// Displayed name.
    pub display_name: String,
    /// Callback number.
    pub callback: E164,
}

/// An operator's change to a number.
#[derive(Debug, Clone)]
pub enum NumberChange {
    /// Take it out of service.
    Quarantine,
    /// Put it back in service.
    Release,
    /// Out of service for good.
    Retire,
    /// Move it to another pool.
    Move(PoolCode),
}

/// One state change of a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberEvent {
    /// When.
    pub at: Timestamp,
    /// The state entered (`active`, `resting`, `quarantined`, `reserve`, `retired`).
    pub state: String,
    /// The pool it was in after the change.
    pub pool: PoolCode,
    /// For a rest, when it ends.
    pub until: Option<Timestamp>,
    /// Why (English).
    pub reason: String,
    /// Why, in French (an operator's words as typed; English for older rows).
    pub reason_fr: String,
    /// Who (`engine`, an API key's name, `import`…).
    pub actor: String,
}

/// A number of the inventory, as read.
#[derive(Debug, Clone)]
pub struct NumberRecord {
    /// Store identity.
    pub id: i64,
    /// The number.
    pub number: E164,
    /// Its pool.
    pub pool: PoolCode,
    /// Its facility.
    pub facility: Option<FacilityId>,
    /// Displayed name.
    pub display_name: String,
    /// Callback number.
    pub callback: String,
    /// ARCEP category.
    pub category: String,
    /// Geographic zone.
    pub zone: Option<u8>,
    /// Lasting state.
    pub status: NumberStatus,
    /// When the state began.
    pub status_since: Timestamp,
    /// Why (English).
    pub status_reason: String,
    /// Why, in French (an operator's words as typed; English for older rows).
    pub status_reason_fr: String,
    /// The end of the rest it is in, if any.
    pub resting_until: Option<Timestamp>,
    /// Calls today (local day).
    pub calls_today: u32,
    /// Reports today (local day).
    pub reports_today: u32,
    /// Its identity and standing under the presentation rules.
    pub compliance: crate::compliance::NumberCompliance,
}

impl NumberRecord {
    /// The state to show: `resting` while in a rest, else the lasting state.
    pub fn state(&self) -> &'static str {
        match (self.status, self.resting_until) {
            (NumberStatus::Active, Some(_)) => "resting",
            (s, _) => s.as_str(),
        }
    }
}

/// Per-pool figures for the dashboard and `GET /v1/pools`.
#[derive(Debug, Clone)]
pub struct PoolSummary {
    /// The pool.
    pub code: PoolCode,
    /// Its role.
    pub role: &'static str,
    /// Purposes served.
    pub purposes: Vec<Purpose>,
    /// Numbers per shown state.
    pub active: u32,
    /// Resting now.
    pub resting: u32,
    /// Quarantined.
    pub quarantined: u32,
    /// In reserve.
    pub reserve: u32,
    /// Retired.
    pub retired: u32,
    /// Calls the active numbers may carry today (cap times active numbers).
    pub capacity_today: u32,
    /// Calls allocated today.
    pub used_today: u32,
    /// Answered calls over calls with an outcome, last 7 days (`None` without outcomes).
    pub answer_rate_7d: Option<f64>,
    /// Calls with an outcome over the last 7 days.
    pub outcomes_7d: u32,
    /// Today in the centre's calendar.
    pub today: Date,
}

/// A role an API key carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Admin,
    /// Allocations, outcomes, reports; sees patient phones.
    Dialer,
    /// Numbers, pools, facilities, reports.
    Ops,
    /// Reads only, patient phones masked.
    Auditor,
}

impl Role {
    /// Parses a role name.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "dialer" => Some(Role::Dialer),
            "ops" => Some(Role::Ops),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dialer => "dialer",
            Role::Ops => "ops",
            Role::Auditor => "auditor",
        }
    }
}

/// The holder of an API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// One bad row of a bulk request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// Index of the row in the request (0-based).
    pub index: usize,
    /// The field at fault.
    pub field: &'static str,
    /// Why.
    pub message: String,
}
