//! The calling rules in the store: what the centre configured (purpose classes, care
//! hours, each pool's dialling mode, the ARCEP ranges), the data the rules need about a
//! batch's solicitation calls (read once per batch inside the writer's transaction), the
//! consent register, the Bloctel opposition list and the numbers' identity.
//!
//! The decisions themselves are `vigie_core::check_call` and
//! `vigie_core::check_presentation`; this module only feeds them.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Row};
use vigie_core::{
    BloctelState, CallContext, CallRule, Catalog, ComplianceRules, ConsentRecord, Date, DiallingMode, E164, FacilityId,
    InvalidField, NumberStatus, NumberingRefusal, NumberingRules, PoolCode, PoolRole, Purpose, PurposeClass,
    RuleRefusal, SignedDuration, Territory, Timestamp, WeeklyHours, check_call, check_presentation,
    later_attempt_over_limit,
};

use crate::audit::{self, Entry};
use crate::crypto::PseudonymKey;
use crate::db::{Backend, TextList, day, day_text, instant, micros, values};
use crate::error::StoreError;
use crate::model::NewCall;
use crate::patients::CallsOf;
use crate::sql::{self, Conn};
use crate::{Shared, Store};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

// ----- configuration -----

/// What the centre configured for the calling rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceOptions {
    /// The thresholds, the solicitation and default care hours, the holidays and the
    /// consent switch date.
    pub rules: ComplianceRules,
    /// The class of each purpose. Every purpose an outbound pool serves must have one.
    pub classes: BTreeMap<Purpose, PurposeClass>,
    /// Care hours of a purpose, instead of `rules.care_hours`.
    pub care_hours_by_purpose: BTreeMap<Purpose, WeeklyHours>,
    /// Care hours of a facility; they take precedence over the purpose's.
    pub care_hours_by_facility: BTreeMap<FacilityId, WeeklyHours>,
    /// How each pool's calls are dialled; a pool not listed is dialled by agents.
    pub dialling: BTreeMap<PoolCode, DiallingMode>,
    /// The ARCEP ranges automated dialling may present.
    pub numbering: NumberingRules,
}

impl Default for ComplianceOptions {
    /// The law's figures, and the seed's purposes: reminders, results and coordination
    /// are care, the satisfaction survey is a pure survey (a survey with any promotion
    /// must be configured `survey_with_promotion`). Every pool dialled by agents.
    fn default() -> ComplianceOptions {
        let classes = [
            ("appointment_reminder", PurposeClass::Care),
            ("results_followup", PurposeClass::Care),
            ("coordination", PurposeClass::Care),
            ("satisfaction_survey", PurposeClass::SurveyPure),
        ]
        .into_iter()
        .filter_map(|(p, c)| Purpose::parse(p).ok().map(|p| (p, c)))
        .collect();
        ComplianceOptions {
            rules: ComplianceRules::default(),
            classes,
            care_hours_by_purpose: BTreeMap::new(),
            care_hours_by_facility: BTreeMap::new(),
            dialling: BTreeMap::new(),
            numbering: NumberingRules::default(),
        }
    }
}

impl ComplianceOptions {
    /// Checks the figures, that every purpose an outbound pool serves has a class, and
    /// that the dialling modes name configured pools.
    pub fn validate(&self, catalog: &Catalog) -> Result<(), InvalidField> {
        self.rules.validate()?;
        self.numbering.validate()?;
        for def in catalog.pools().filter(|d| d.role == PoolRole::Outbound) {
            for purpose in &def.purposes {
                if !self.classes.contains_key(purpose) {
                    return Err(InvalidField::new(
                        "purpose_class",
                        format!(
                            "purpose {purpose} (pool {}) has no class: set it to care, survey_pure, survey_with_promotion or commercial",
                            def.code
                        ),
                    ));
                }
            }
        }
        if let Some(code) = self.dialling.keys().find(|code| catalog.pool(code).is_none()) {
            return Err(InvalidField::new("dialling", format!("pool {code} is not configured")));
        }
        Ok(())
    }

    /// The class of a purpose's calls. A purpose without one (which `validate` refuses
    /// for served purposes) is treated as commercial, the strictest class.
    pub fn class_of(&self, purpose: &Purpose) -> PurposeClass {
        self.classes.get(purpose).copied().unwrap_or(PurposeClass::Commercial)
    }

    /// How a pool's calls are dialled.
    pub fn dialling_of(&self, pool: &PoolCode) -> DiallingMode {
        self.dialling.get(pool).copied().unwrap_or_default()
    }

    /// Whether a number may be presented by the calls of `pool`, dialled as the pool is.
    pub fn presentable(&self, pool: &PoolCode, number: &E164) -> Result<(), NumberingRefusal> {
        check_presentation(number, self.dialling_of(pool), &self.numbering)
    }

    /// The care hours of a call for `facility` and `purpose`, when they are not the
    /// default: the facility's, else the purpose's.
    pub fn care_hours_for(&self, facility: &FacilityId, purpose: &Purpose) -> Option<&WeeklyHours> {
        self.care_hours_by_facility.get(facility).or_else(|| self.care_hours_by_purpose.get(purpose))
    }

    /// The state the engine is given for a number: a number its pool may not present
    /// is never active there, whatever its stored state (the configuration may have
    /// changed since it was added).
    pub(crate) fn engine_status(&self, pool: &PoolCode, number: &E164, status: NumberStatus) -> NumberStatus {
        if status == NumberStatus::Active && self.presentable(pool, number).is_err() {
            NumberStatus::Quarantined
        } else {
            status
        }
    }
}

// ----- what the rules need about a batch -----

/// A (pseudonymous patient, facility) pair: the person and the professional.
type Person = (String, String);

/// The rule data of one batch's solicitation calls, read inside its transaction.
#[derive(Default)]
pub(crate) struct RuleData {
    /// Solicitation calls per person, as (call_ref, dial_at), including those this
    /// batch has allocated.
    attempts: HashMap<Person, Vec<(String, Timestamp)>>,
    /// The latest refusal of solicitation per person.
    refusals: HashMap<Person, Timestamp>,
    /// The date of the Bloctel list, if one was imported.
    bloctel_date: Option<Date>,
    /// The keyed hashes of the batch's phones found on the Bloctel list.
    bloctel_listed: HashSet<String>,
    /// Consent records per person.
    consents: HashMap<Person, Vec<ConsentRecord>>,
}

/// Reads what the rules need about the solicitation calls among `calls`: one query for
/// their past calls (attempts and refusals), and, as the calls' dates require, one for
/// the Bloctel list and one for consents. Care calls need nothing.
pub(crate) async fn prefetch(shared: &Shared, tx: &mut Conn<'_>, calls: &[&NewCall]) -> Result<RuleData, StoreError> {
    let (backend, options, pseudonyms) = (shared.backend, &shared.compliance, &shared.pseudonyms);
    let mut data = RuleData::default();
    let solicitation: Vec<&NewCall> =
        calls.iter().copied().filter(|c| options.class_of(&c.purpose).is_solicitation()).collect();
    let Some(earliest) = solicitation.iter().map(|c| c.dial_at).min() else { return Ok(data) };
    let mut patients: Vec<&str> = solicitation.iter().map(|c| c.patient_ref.as_str()).collect();
    patients.sort_unstable();
    patients.dedup();
    let rules = &options.rules;
    // Two days beyond the longest look-back cover any daylight saving change and any
    // refusal recorded after its call's dial_at.
    let back_days = i64::from(rules.attempts_window_days.max(rules.refusal_cooldown_days)) + 2;
    let cutoff = micros(earliest - SignedDuration::from_hours(24 * back_days));
    let solicitation_classes: Vec<&str> =
        PurposeClass::ALL.iter().filter(|c| c.is_solicitation()).map(|c| c.as_str()).collect();
    for part in patients.chunks(500) {
        // The calls, and what erasure kept of an erased patient's (`oppositions`): an
        // attempt reads as a call without a call_ref, a refusal as a refused call.
        let of = CallsOf::new(backend, shared.patients.as_ref(), part);
        let k = of.params();
        let refs = TextList::new(backend, part.iter().copied());
        let sql = format!(
            "SELECT patient_ref, facility, call_ref, dial_at, class, refused_at FROM calls \
             WHERE {} AND cancelled_at IS NULL AND (dial_at >= {} OR refused_at >= {}) \
             UNION ALL SELECT patient_ref, facility, '', at, CASE WHEN kind = '{attempt}' THEN class END, \
             CASE WHEN kind = '{refusal}' THEN at END FROM oppositions \
             WHERE patient_ref {} AND kind IN ('{attempt}', '{refusal}') AND at >= {}",
            of.sql("", 1),
            backend.placeholder(k + 1),
            backend.placeholder(k + 2),
            refs.sql(k + 3),
            backend.placeholder(k + refs.params() + 3),
            attempt = OppositionKind::Attempt.as_str(),
            refusal = OppositionKind::Refusal.as_str(),
        );
        let q = refs.bind_to(of.bind_to(sql::query(sql)).bind(cutoff).bind(cutoff));
        for row in q.bind(cutoff).fetch_all(&mut *tx).await? {
            let person: Person = (row.get(0), row.get(1));
            let class: Option<String> = row.get(4);
            if class.as_deref().is_some_and(|c| solicitation_classes.contains(&c)) {
                data.attempts.entry(person.clone()).or_default().push((row.get(2), instant(row.get(3))?));
            }
            if let Some(refused) = row.get::<Option<i64>, _>(5) {
                let refused = instant(refused)?;
                let latest = data.refusals.entry(person).or_insert(refused);
                *latest = (*latest).max(refused);
            }
        }
    }
    let before_switch: Vec<&NewCall> =
        solicitation.iter().copied().filter(|c| !rules.consent_regime_at(c.dial_at)).collect();
    if !before_switch.is_empty() {
        let row = sql::query("SELECT file_date FROM bloctel_list WHERE id = 1").fetch_optional(&mut *tx).await?;
        data.bloctel_date = row.map(|r| day(&r.get::<String, _>(0))).transpose()?;
        if data.bloctel_date.is_some() {
            let mut hashes: Vec<String> =
                before_switch.iter().map(|c| pseudonyms.phone_hash(c.patient_phone.as_str())).collect();
            hashes.sort_unstable();
            hashes.dedup();
            for part in hashes.chunks(500) {
                let hashes = TextList::new(backend, part.iter().map(String::as_str));
                let sql = format!("SELECT hash FROM bloctel_numbers WHERE hash {}", hashes.sql(1));
                let q = hashes.bind_to(sql::query(sql));
                for row in q.fetch_all(&mut *tx).await? {
                    data.bloctel_listed.insert(row.get(0));
                }
            }
        }
    }
    if solicitation.iter().any(|c| rules.consent_regime_at(c.dial_at)) {
        for part in patients.chunks(500) {
            // With the consents an erasure ended: withdrawn at the instant kept, so that
            // the opposition still stands (`consent_withdrawn`).
            let refs = TextList::new(backend, part.iter().copied());
            let sql = format!(
                "SELECT patient_ref, facility, given_at, withdrawn_at FROM consents WHERE patient_ref {} \
                 UNION ALL SELECT patient_ref, facility, at, at FROM oppositions WHERE patient_ref {} AND kind = '{}'",
                refs.sql(1),
                refs.sql(refs.params() + 1),
                OppositionKind::ConsentEnded.as_str(),
            );
            let q = refs.bind_to(refs.bind_to(sql::query(sql)));
            for row in q.fetch_all(&mut *tx).await? {
                let record = ConsentRecord {
                    given_at: instant(row.get(2))?,
                    withdrawn_at: row.get::<Option<i64>, _>(3).map(instant).transpose()?,
                };
                data.consents.entry((row.get(0), row.get(1))).or_default().push(record);
            }
        }
    }
    Ok(data)
}

impl RuleData {
    /// Decides a call by the rules: its class, and the refusal if the rules refuse it.
    pub(crate) fn check(
        &self,
        options: &ComplianceOptions,
        pseudonyms: &PseudonymKey,
        call: &NewCall,
    ) -> (PurposeClass, Result<(), RuleRefusal>) {
        let class = options.class_of(&call.purpose);
        let care_hours = options.care_hours_for(&call.facility, &call.purpose);
        let territory = Territory::of(&call.patient_phone);
        if !class.is_solicitation() {
            let ctx = CallContext {
                class,
                dial_at: call.dial_at,
                territory,
                attempts: &[],
                last_refusal: None,
                bloctel: BloctelState::default(),
                consents: &[],
                care_hours,
            };
            return (class, check_call(&ctx, &options.rules));
        }
        let person: Person = (call.patient_ref.clone(), call.facility.as_str().to_owned());
        // The call's own row, when it is stored already and comes back for a number,
        // is not an earlier attempt.
        let attempts: Vec<Timestamp> = self
            .attempts
            .get(&person)
            .into_iter()
            .flatten()
            .filter(|(call_ref, _)| *call_ref != call.call_ref)
            .map(|(_, at)| *at)
            .collect();
        let bloctel = if options.rules.consent_regime_at(call.dial_at) {
            BloctelState::default()
        } else {
            BloctelState {
                listed: self.bloctel_listed.contains(&pseudonyms.phone_hash(call.patient_phone.as_str())),
                last_scrub: self.bloctel_date,
            }
        };
        let consents = self.consents.get(&person).map_or(&[][..], Vec::as_slice);
        let ctx = CallContext {
            class,
            dial_at: call.dial_at,
            territory,
            attempts: &attempts,
            last_refusal: self.refusals.get(&person).copied(),
            bloctel,
            consents,
            care_hours,
        };
        let verdict = check_call(&ctx, &options.rules).and_then(|()| {
            // A call planned before calls already planned must not make one of them an
            // attempt too many either; no next instant is computed for this case.
            match later_attempt_over_limit(&ctx, &options.rules) {
                Some(_) => Err(RuleRefusal { rule: CallRule::AttemptsLimit, next_allowed_at: None }),
                None => Ok(()),
            }
        });
        (class, verdict)
    }

    /// Counts an allocated solicitation call as an attempt for the rest of the batch.
    pub(crate) fn record(&mut self, class: PurposeClass, call: &NewCall) {
        if class.is_solicitation() {
            let person = (call.patient_ref.clone(), call.facility.as_str().to_owned());
            self.attempts.entry(person).or_default().push((call.call_ref.clone(), call.dial_at));
        }
    }
}

/// The audit detail of a refusal by the rules.
pub(crate) fn refusal_detail(refusal: &RuleRefusal, class: PurposeClass, call: &NewCall) -> String {
    format!(
        "rule={} class={class} facility={} purpose={} dial_at={} next_allowed_at={}",
        refusal.rule,
        call.facility,
        call.purpose,
        call.dial_at,
        refusal.next_allowed_at.map_or_else(|| "none".to_owned(), |t| t.to_string())
    )
}

// ----- consent register -----

/// Longest consent wording kept, in characters.
pub const CONSENT_WORDING_MAX: usize = 4_000;
/// Longest description of how consent was given, in characters.
pub const CONSENT_METHOD_MAX: usize = 64;
/// Longest proof of consent kept, in characters.
pub const CONSENT_PROOF_MAX: usize = 2_000;
/// Most consent records one patient listing returns.
const CONSENTS_LISTED_MAX: i64 = 1_000;

/// A consent to solicitation to record.
#[derive(Debug, Clone)]
pub struct NewConsent {
    /// The dialer's patient reference (pseudonymised before it is stored).
    pub patient_ref: String,
    /// The facility (the professional) the consent is given to.
    pub facility: FacilityId,
    /// When the patient gave it.
    pub given_at: Timestamp,
    /// The exact wording the patient was shown.
    pub wording: String,
    /// How it was given (`web_form`, `paper`, `phone`…).
    pub method: String,
    /// The proof of the positive act (a form reference, a signed document id…).
    pub proof: String,
}

/// A consent record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// Identity.
    pub id: i64,
    /// The patient's pseudonym.
    pub patient_ref: String,
    /// The facility it was given to.
    pub facility: FacilityId,
    /// When it was given.
    pub given_at: Timestamp,
    /// The wording shown.
    pub wording: String,
    /// How it was given.
    pub method: String,
    /// The proof.
    pub proof: String,
    /// When it was withdrawn, if it was.
    pub withdrawn_at: Option<Timestamp>,
    /// When Vigie recorded it.
    pub recorded_at: Timestamp,
    /// Who recorded it.
    pub recorded_by: String,
}

const CONSENT_COLUMNS: &str = "SELECT id, patient_ref, facility, given_at, wording, method, proof, withdrawn_at, recorded_at, recorded_by FROM consents";

fn consent_row(r: &AnyRow) -> Result<Consent, StoreError> {
    Ok(Consent {
        id: r.get(0),
        patient_ref: r.get(1),
        facility: FacilityId::parse(&r.get::<String, _>(2)).map_err(corrupt)?,
        given_at: instant(r.get(3))?,
        wording: r.get(4),
        method: r.get(5),
        proof: r.get(6),
        withdrawn_at: r.get::<Option<i64>, _>(7).map(instant).transpose()?,
        recorded_at: instant(r.get(8))?,
        recorded_by: r.get(9),
    })
}

fn bounded(field: &'static str, text: &str, max: usize) -> Result<(), StoreError> {
    if text.trim().is_empty() || text.chars().count() > max {
        return Err(InvalidField::new(field, format!("must be 1 to {max} characters")).into());
    }
    Ok(())
}

/// A patient's consent records, oldest first (at most 1,000).
pub(crate) async fn patient_consents(conn: &mut AnyConnection, pseudonym: &str) -> Result<Vec<Consent>, StoreError> {
    let sql = format!("{CONSENT_COLUMNS} WHERE patient_ref = $1 ORDER BY given_at, id LIMIT {CONSENTS_LISTED_MAX}");
    let rows = sqlx::query(AssertSqlSafe(sql)).bind(pseudonym).fetch_all(&mut *conn).await?;
    rows.iter().map(consent_row).collect()
}

// ----- what erasure keeps -----

/// What an opposition record, kept when a patient is erased, stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OppositionKind {
    /// A solicitation attempt: it counts towards the attempts limit for the window.
    Attempt,
    /// A refusal of solicitation during a call: the cooldown runs from it.
    Refusal,
    /// The end of the patient's consents for a facility (withdrawn, or ended by the
    /// erasure, which leaves no proof to rely on): an opposition until fresh consent.
    ConsentEnded,
}

impl OppositionKind {
    /// Every kind.
    pub const ALL: &'static [OppositionKind] =
        &[OppositionKind::Attempt, OppositionKind::Refusal, OppositionKind::ConsentEnded];

    /// Its stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            OppositionKind::Attempt => "attempt",
            OppositionKind::Refusal => "refusal",
            OppositionKind::ConsentEnded => "consent_ended",
        }
    }

    fn parse(text: &str) -> Option<OppositionKind> {
        OppositionKind::ALL.iter().copied().find(|k| k.as_str() == text)
    }
}

/// The minimal record an erasure keeps, under the patient's pseudonym, of what the
/// calling rules must go on honouring: no phone, no wording, no call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opposition {
    /// What it stands for.
    pub kind: OppositionKind,
    /// The facility (the professional) it applies to.
    pub facility: FacilityId,
    /// The purpose class of the call (attempts and refusals).
    pub class: Option<PurposeClass>,
    /// The attempt's `dial_at`, the refusal's instant, or when the consents ended.
    pub at: Timestamp,
}

/// The solicitation classes as an SQL list of literals (constants of the code).
pub(crate) fn solicitation_classes_sql() -> String {
    let classes: Vec<String> =
        PurposeClass::ALL.iter().filter(|c| c.is_solicitation()).map(|c| format!("'{}'", c.as_str())).collect();
    classes.join(", ")
}

/// Two days beyond a look-back, as the prefetch reads: any daylight saving change and
/// any `dial_at` a little in the past.
fn with_margin(days: u32) -> SignedDuration {
    SignedDuration::from_hours(24 * (i64::from(days) + 2))
}

impl ComplianceOptions {
    /// How long a solicitation attempt still counts: the attempts window, with margin.
    pub(crate) fn attempts_lookback(&self) -> SignedDuration {
        with_margin(self.rules.attempts_window_days)
    }

    /// How long a refusal still bars solicitation: the cooldown, with margin.
    pub(crate) fn refusals_lookback(&self) -> SignedDuration {
        with_margin(self.rules.refusal_cooldown_days)
    }
}

/// Part of a patient's erasure, inside its transaction, before their calls are cut
/// from them: keeps as [`Opposition`]s their solicitation attempts still in the window
/// (planned ones included), their latest refusal per facility still in the cooldown,
/// and, per facility, the end of their consents (the latest withdrawal, or now for a
/// consent still in force); then removes their consent records (wording, method,
/// proof). Returns the consent records removed and the oppositions kept.
pub(crate) async fn keep_oppositions(
    tx: &mut AnyConnection,
    backend: Backend,
    options: &ComplianceOptions,
    calls_of: &CallsOf,
    patient: &str,
    now: Timestamp,
) -> Result<(u64, u64), StoreError> {
    let attempts_from = micros(now - options.attempts_lookback());
    let refusals_from = micros(now - options.refusals_lookback());
    let k = calls_of.params();
    let sql = format!(
        "SELECT facility, class, dial_at, refused_at FROM calls WHERE {} AND cancelled_at IS NULL AND (dial_at >= ${} OR refused_at >= ${})",
        calls_of.sql("", 1),
        k + 1,
        k + 2
    );
    let q = calls_of.bind_sqlx(sqlx::query(AssertSqlSafe(sql)));
    let rows = q.bind(attempts_from).bind(refusals_from).fetch_all(&mut *tx).await?;
    let mut kept: Vec<(String, OppositionKind, Option<String>, i64)> = Vec::new();
    let mut refusals: BTreeMap<String, (i64, Option<String>)> = BTreeMap::new();
    for r in &rows {
        let facility: String = r.get(0);
        let class: Option<String> = r.get(1);
        let solicitation =
            class.as_deref().and_then(|c| PurposeClass::parse(c).ok()).is_some_and(PurposeClass::is_solicitation);
        let dial_at: i64 = r.get(2);
        if solicitation && dial_at >= attempts_from {
            kept.push((facility.clone(), OppositionKind::Attempt, class.clone(), dial_at));
        }
        if let Some(refused) = r.get::<Option<i64>, _>(3).filter(|t| *t >= refusals_from) {
            let latest = refusals.entry(facility).or_insert((refused, class.clone()));
            if refused > latest.0 {
                *latest = (refused, class);
            }
        }
    }
    kept.extend(refusals.into_iter().map(|(f, (at, class))| (f, OppositionKind::Refusal, class, at)));
    let mut ends: BTreeMap<String, i64> = BTreeMap::new();
    let now_us = micros(now);
    for r in sqlx::query("SELECT facility, withdrawn_at FROM consents WHERE patient_ref = $1")
        .bind(patient)
        .fetch_all(&mut *tx)
        .await?
    {
        let end = r.get::<Option<i64>, _>(1).unwrap_or(now_us).min(now_us);
        let latest = ends.entry(r.get(0)).or_insert(end);
        *latest = (*latest).max(end);
    }
    kept.extend(ends.into_iter().map(|(f, at)| (f, OppositionKind::ConsentEnded, None, at)));
    let consents = sqlx::query("DELETE FROM consents WHERE patient_ref = $1")
        .bind(patient)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    for chunk in kept.chunks(400) {
        let sql = format!(
            "INSERT INTO oppositions (patient_ref, facility, kind, class, at) VALUES {}",
            values(backend, chunk.len(), 5, 1)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (facility, kind, class, at) in chunk {
            q = q.bind(patient).bind(facility.as_str()).bind(kind.as_str()).bind(class.as_deref()).bind(*at);
        }
        q.execute(&mut *tx).await?;
    }
    Ok((consents, kept.len() as u64))
}

/// The opposition records kept for a patient, oldest first.
pub(crate) async fn patient_oppositions(
    conn: &mut AnyConnection,
    pseudonym: &str,
) -> Result<Vec<Opposition>, StoreError> {
    let rows = sqlx::query("SELECT kind, facility, class, at FROM oppositions WHERE patient_ref = $1 ORDER BY at, id")
        .bind(pseudonym)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Opposition {
                kind: OppositionKind::parse(&r.get::<String, _>(0))
                    .ok_or_else(|| corrupt("unknown opposition kind"))?,
                facility: FacilityId::parse(&r.get::<String, _>(1)).map_err(corrupt)?,
                class: r.get::<Option<String>, _>(2).map(|c| PurposeClass::parse(&c)).transpose().map_err(corrupt)?,
                at: instant(r.get(3))?,
            })
        })
        .collect()
}

// ----- Bloctel -----

/// What a Bloctel import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BloctelImport {
    /// The date of the scrub file.
    pub file_date: Date,
    /// Numbers now on the list (each stored as a keyed hash).
    pub numbers: u64,
    /// Numbers of the previous list, replaced.
    pub replaced: u64,
}

/// Most numbers one Bloctel file may hold.
pub const BLOCTEL_NUMBERS_MAX: usize = 10_000_000;

// ----- number identity -----

/// A number's identity with the carrier and the directory, as the seed requires. The
/// callback route is the number's `callback`, which every number has (it is required
/// to add one), so a number is never presented without one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberIdentity {
    /// When the displayed name was registered with the carrier (CNAM).
    pub cnam_registered_at: Option<Timestamp>,
    /// When the number was listed in the reverse directory.
    pub directory_listed_at: Option<Timestamp>,
    /// The legal entity's name it is listed under.
    pub directory_name: Option<String>,
    /// Whether the carrier authenticates its calls (MAN, STIR/SHAKEN).
    pub man_authenticated: bool,
}

impl NumberIdentity {
    /// What the identity still lacks, by field name; empty when complete.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.cnam_registered_at.is_none() {
            out.push("cnam_registered_at");
        }
        if self.directory_listed_at.is_none() {
            out.push("directory_listed_at");
        }
        if self.directory_name.is_none() {
            out.push("directory_name");
        }
        if !self.man_authenticated {
            out.push("man_authenticated");
        }
        out
    }
}

/// A change to a number's identity; fields left `None` keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityUpdate {
    /// The name the carrier displays.
    pub display_name: Option<String>,
    /// The callback route: where a patient who calls the number back lands.
    pub callback: Option<E164>,
    /// When the displayed name was registered with the carrier.
    pub cnam_registered_at: Option<Timestamp>,
    /// When the number was listed in the reverse directory.
    pub directory_listed_at: Option<Timestamp>,
    /// The legal entity's name it is listed under.
    pub directory_name: Option<String>,
    /// Whether the carrier authenticates its calls.
    pub man_authenticated: Option<bool>,
}

impl IdentityUpdate {
    fn is_empty(&self) -> bool {
        *self == IdentityUpdate::default()
    }
}

/// A number's standing under the presentation rules: its identity, how its pool
/// dials, and why it may not be presented, if it may not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberCompliance {
    /// Its identity.
    pub identity: NumberIdentity,
    /// How its pool's calls are dialled.
    pub dialling: DiallingMode,
    /// Why its pool may not present it; `None` when it may.
    pub refusal: Option<NumberingRefusal>,
    /// Whether Orange Téléphone labels its range as canvassing by default.
    pub labelled_canvassing: bool,
}

/// Reads `cnam_registered_at, directory_listed_at, directory_name, man_authenticated`
/// from a row of `numbers`, starting at column `first`.
pub(crate) fn identity_of(r: &AnyRow, first: usize) -> Result<NumberIdentity, StoreError> {
    Ok(NumberIdentity {
        cnam_registered_at: r.get::<Option<i64>, _>(first).map(instant).transpose()?,
        directory_listed_at: r.get::<Option<i64>, _>(first + 1).map(instant).transpose()?,
        directory_name: r.get(first + 2),
        man_authenticated: r.get::<i64, _>(first + 3) != 0,
    })
}

impl ComplianceOptions {
    /// A number's standing under the presentation rules, for its pool.
    pub(crate) fn number_compliance(
        &self,
        pool: &PoolCode,
        number: &E164,
        identity: NumberIdentity,
    ) -> NumberCompliance {
        NumberCompliance {
            identity,
            dialling: self.dialling_of(pool),
            refusal: self.presentable(pool, number).err(),
            labelled_canvassing: self.numbering.orange_labels_as_canvassing(number),
        }
    }
}

impl Store {
    /// The calling rules as configured.
    pub fn compliance(&self) -> &ComplianceOptions {
        &self.shared.compliance
    }

    /// Records a consent to solicitation; the patient reference is pseudonymised as
    /// calls' are. Audited.
    pub async fn record_consent(&self, consent: NewConsent, actor: &str) -> Result<Consent, StoreError> {
        bounded("wording", &consent.wording, CONSENT_WORDING_MAX)?;
        bounded("method", &consent.method, CONSENT_METHOD_MAX)?;
        bounded("proof", &consent.proof, CONSENT_PROOF_MAX)?;
        let now = self.now();
        let patient = self.shared.pseudonyms.pseudonym(&consent.patient_ref);
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(self.shared.backend.begin_write()).await?;
        let known = sqlx::query("SELECT 1 FROM facilities WHERE id = $1")
            .bind(consent.facility.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Err(InvalidField::new("facility", format!("{} is not a known facility", consent.facility)).into());
        }
        let id: i64 = sqlx::query(
            "INSERT INTO consents (patient_ref, facility, given_at, wording, method, proof, withdrawn_at, recorded_at, recorded_by) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8) RETURNING id",
        )
        .bind(patient.as_str())
        .bind(consent.facility.as_str())
        .bind(micros(consent.given_at))
        .bind(consent.wording.as_str())
        .bind(consent.method.as_str())
        .bind(consent.proof.as_str())
        .bind(micros(now))
        .bind(actor)
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        let entry = Entry::new(
            now,
            actor,
            "consent.record",
            format!("consent:{id}"),
            format!(
                "patient={patient} facility={} given_at={} method={}",
                consent.facility, consent.given_at, consent.method
            ),
        );
        audit::append(&mut tx, self.shared.backend, &[entry]).await?;
        tx.commit().await?;
        Ok(Consent {
            id,
            patient_ref: patient,
            facility: consent.facility,
            given_at: consent.given_at,
            wording: consent.wording,
            method: consent.method,
            proof: consent.proof,
            withdrawn_at: None,
            recorded_at: now,
            recorded_by: actor.to_owned(),
        })
    }

    /// Records the withdrawal of a consent; from `withdrawn_at` on it no longer covers
    /// any call. A consent is withdrawn once. Audited.
    pub async fn withdraw_consent(&self, id: i64, withdrawn_at: Timestamp, actor: &str) -> Result<Consent, StoreError> {
        let now = self.now();
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(self.shared.backend.begin_write()).await?;
        let sql = format!("{CONSENT_COLUMNS} WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *tx).await?;
        let Some(row) = row else { return Err(StoreError::NotFound { what: "consent", field: "consent_id" }) };
        let mut consent = consent_row(&row)?;
        if let Some(at) = consent.withdrawn_at {
            return Err(StoreError::Conflict {
                field: "consent_id",
                message: format!("the consent was already withdrawn at {at}"),
            });
        }
        if withdrawn_at < consent.given_at {
            return Err(InvalidField::new("withdrawn_at", "must not be before the consent was given").into());
        }
        sqlx::query("UPDATE consents SET withdrawn_at = $1 WHERE id = $2")
            .bind(micros(withdrawn_at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let entry = Entry::new(
            now,
            actor,
            "consent.withdraw",
            format!("consent:{id}"),
            format!("patient={} facility={} withdrawn_at={withdrawn_at}", consent.patient_ref, consent.facility),
        );
        audit::append(&mut tx, self.shared.backend, &[entry]).await?;
        tx.commit().await?;
        consent.withdrawn_at = Some(withdrawn_at);
        Ok(consent)
    }

    /// A patient's consent records, oldest first. The read is audited before the
    /// records are returned.
    pub async fn consents(&self, patient_ref: &str, actor: &str) -> Result<Vec<Consent>, StoreError> {
        let patient = self.shared.pseudonyms.pseudonym(patient_ref);
        let mut conn = self.shared.pool.acquire().await?;
        let consents = patient_consents(&mut conn, &patient).await?;
        let mut tx = conn.begin_with(self.shared.backend.begin_write()).await?;
        let entry = Entry::new(
            self.now(),
            actor,
            "consent.read",
            format!("patient:{patient}"),
            format!("records={}", consents.len()),
        );
        audit::append(&mut tx, self.shared.backend, &[entry]).await?;
        tx.commit().await?;
        Ok(consents)
    }

    /// Replaces the Bloctel opposition list with the numbers of a scrub file dated
    /// `file_date`. Numbers are stored only as keyed hashes of their E.164 form (with
    /// the pseudonym key, so a server started with the same key finds them). Audited.
    pub async fn import_bloctel(
        &self,
        numbers: &[E164],
        file_date: Date,
        actor: &str,
    ) -> Result<BloctelImport, StoreError> {
        if numbers.len() > BLOCTEL_NUMBERS_MAX {
            return Err(InvalidField::new("numbers", format!("a file holds at most {BLOCTEL_NUMBERS_MAX}")).into());
        }
        // A scrub file cannot be dated after today: its date decides how fresh the scrub is.
        if file_date > self.shared.calendar.day_of(self.now()) {
            return Err(InvalidField::new("file_date", format!("{file_date} is in the future")).into());
        }
        let mut hashes: Vec<String> = numbers.iter().map(|n| self.shared.pseudonyms.phone_hash(n.as_str())).collect();
        hashes.sort_unstable();
        hashes.dedup();
        let now = self.now();
        let backend = self.shared.backend;
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(backend.begin_write()).await?;
        let replaced = sqlx::query("DELETE FROM bloctel_numbers").execute(&mut *tx).await?.rows_affected();
        for chunk in hashes.chunks(500) {
            let sql = format!("INSERT INTO bloctel_numbers (hash) VALUES {}", values(backend, chunk.len(), 1, 1));
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for h in chunk {
                q = q.bind(h.as_str());
            }
            q.execute(&mut *tx).await?;
        }
        let count = hashes.len() as u64;
        sqlx::query(
            "INSERT INTO bloctel_list (id, file_date, imported_at, numbers) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET file_date = excluded.file_date, imported_at = excluded.imported_at, numbers = excluded.numbers",
        )
        .bind(day_text(file_date))
        .bind(micros(now))
        .bind(i64::try_from(count).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        let entry = Entry::new(
            now,
            actor,
            "bloctel.import",
            "bloctel",
            format!("file_date={file_date} numbers={count} replaced={replaced}"),
        );
        audit::append(&mut tx, backend, &[entry]).await?;
        tx.commit().await?;
        Ok(BloctelImport { file_date, numbers: count, replaced })
    }

    /// Updates a number's identity (displayed name, callback route, carrier and
    /// directory registrations, MAN), with the reason. Audited; the writer reloads the
    /// pools, so that a new displayed name is answered from the next batch on.
    pub async fn update_identity(
        &self,
        number: &E164,
        update: &IdentityUpdate,
        reason: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        if update.is_empty() {
            return Err(InvalidField::new("action", "an identity update must change at least one field").into());
        }
        if let Some(name) = &update.display_name {
            bounded("display_name", name, 64)?;
        }
        if let Some(name) = &update.directory_name {
            bounded("directory_name", name, 128)?;
        }
        let now = self.now();
        let backend = self.shared.backend;
        let mut conn = self.shared.pool.acquire().await?;
        let mut tx = conn.begin_with(backend.begin_write()).await?;
        sqlx::query(backend.lock_pools()).fetch_all(&mut *tx).await?;
        let id: Option<i64> = sqlx::query("SELECT id FROM numbers WHERE e164 = $1")
            .bind(number.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.get(0));
        let Some(id) = id else { return Err(StoreError::NotFound { what: "number", field: "number" }) };
        // One statement whatever the fields: a field left out keeps its value.
        sqlx::query(
            "UPDATE numbers SET display_name = COALESCE($1, display_name), callback = COALESCE($2, callback), \
             cnam_registered_at = COALESCE($3, cnam_registered_at), directory_listed_at = COALESCE($4, directory_listed_at), \
             directory_name = COALESCE($5, directory_name), man_authenticated = COALESCE($6, man_authenticated) WHERE id = $7",
        )
        .bind(update.display_name.as_deref().map(str::trim))
        .bind(update.callback.as_ref().map(|v| v.as_str()))
        .bind(update.cnam_registered_at.map(micros))
        .bind(update.directory_listed_at.map(micros))
        .bind(update.directory_name.as_deref().map(str::trim))
        .bind(update.man_authenticated.map(i64::from))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let changed: Vec<String> = [
            update.display_name.as_deref().map(|v| format!("display_name={}", v.trim())),
            update.callback.as_ref().map(|v| format!("callback={v}")),
            update.cnam_registered_at.map(|v| format!("cnam_registered_at={v}")),
            update.directory_listed_at.map(|v| format!("directory_listed_at={v}")),
            update.directory_name.as_deref().map(|v| format!("directory_name={}", v.trim())),
            update.man_authenticated.map(|v| format!("man_authenticated={v}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let entry = Entry::new(
            now,
            actor,
            "number.identity",
            format!("number:{number}"),
            format!("{} reason={reason}", changed.join(" ")),
        );
        audit::append(&mut tx, backend, &[entry]).await?;
        sqlx::query("UPDATE pools SET version = version + 1").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sqlite_partial_index_covers_the_solicitation_classes() {
        // SQLite uses a partial index only for a query whose condition matches its own.
        let migration = include_str!("../migrations/sqlite/0015_patient_calls_in_memory.sql");
        let condition = format!("WHERE class IN ({})", super::solicitation_classes_sql());
        assert!(migration.contains(&condition), "{condition} is not the index's condition");
    }
}
