//! Incidents: the first 24 hours after a number is quarantined. A crisis playbook of
//! steps with deadlines (reserve, identity, delisting, facility, cause), each recorded
//! with who did it and when; the delisting requests' text; the cause analysis; and the
//! end of the incident, back to service after a cool-down and a clean check, or retired.

use std::fmt;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::alerting::spaced_number;
use crate::calendar::{Calendar, hours};
use crate::catalog::{InvalidField, PoolCode};
use crate::names::named_enum;
use crate::phone::E164;
use crate::reputation::AnswerCounts;
use crate::sms::Language;

named_enum!(
    /// A step of the crisis playbook, in the order they are usually done.
    PlaybookStep, "step", {
        /// A reserve number took the quarantined number's place in its pool.
        ReserveSwapped = "reserve_swapped",
        /// The displayed name and the callback number were checked on a handset.
        IdentityChecked = "identity_checked",
        /// Removal of the label was asked of each app and database that lists the number.
        DelistingRequested = "delisting_requested",
        /// The facility the number calls for was told.
        FacilityInformed = "facility_informed",
        /// Why the number was flagged was worked out (see [`analyse_cause`]).
        CauseAnalysed = "cause_analysed",
    }
);

/// The number of playbook steps.
pub const PLAYBOOK_STEPS: usize = 5;
const _: () = assert!(PlaybookStep::ALL.len() == PLAYBOOK_STEPS);

impl PlaybookStep {
    /// The step's place in [`PlaybookStep::ALL`] (and in [`Incident::steps`]).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The step in words, for people.
    pub fn label(self, language: Language) -> &'static str {
        match (self, language) {
            (PlaybookStep::ReserveSwapped, Language::Fr) => "Numéro de réserve mis à sa place",
            (PlaybookStep::ReserveSwapped, Language::En) => "Reserve number swapped in",
            (PlaybookStep::IdentityChecked, Language::Fr) => "Nom affiché et numéro de rappel vérifiés",
            (PlaybookStep::IdentityChecked, Language::En) => "Displayed name and callback checked",
            (PlaybookStep::DelistingRequested, Language::Fr) => "Retrait demandé aux applications et bases",
            (PlaybookStep::DelistingRequested, Language::En) => "Delisting asked of the apps and databases",
            (PlaybookStep::FacilityInformed, Language::Fr) => "Établissement informé",
            (PlaybookStep::FacilityInformed, Language::En) => "Facility informed",
            (PlaybookStep::CauseAnalysed, Language::Fr) => "Cause analysée",
            (PlaybookStep::CauseAnalysed, Language::En) => "Cause analysed",
        }
    }
}

named_enum!(
    /// The signal that quarantined the number; the names are those of the alert
    /// signals ([`crate::AlertSignal`]).
    IncidentTrigger, "trigger", {
        /// Reports of spam (patients, agents, apps) reached the day's threshold.
        Reports = "reports",
        /// The number's answer rate fell (the detection chart raised an alarm).
        AnswerRateDrop = "answer_rate_drop",
        /// An external source (app, community database, verification tool) lists it.
        ExternalFlag = "external_flag",
        /// An operator took it out of service.
        Manual = "manual",
    }
);

/// The longest a playbook deadline may lie after the incident's opening: the playbook
/// is about the first 24 hours.
pub const PLAYBOOK_HORIZON_HOURS: u32 = 24;
/// The longest cool-down, in days.
pub const COOL_DOWN_DAYS_MAX: u32 = 90;
/// The longest `by` (who did a step or closed the incident), in characters.
pub const BY_CHARS_MAX: usize = 100;
/// The longest note on a step, in characters.
pub const NOTE_CHARS_MAX: usize = 2000;

/// The crisis playbook: the deadline of each step, counted from the incident's opening,
/// and what a number must wait before it returns to service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Playbook {
    /// Reserve swapped in (default 15 minutes).
    pub reserve_swapped_within: SignedDuration,
    /// Displayed name and callback number checked (default 2 hours).
    pub identity_checked_within: SignedDuration,
    /// Delisting requested where the number is listed (default 4 hours).
    pub delisting_requested_within: SignedDuration,
    /// Facility informed (default 4 hours).
    pub facility_informed_within: SignedDuration,
    /// Cause analysed (default 24 hours).
    pub cause_analysed_within: SignedDuration,
    /// The least time between quarantine and a return to service (default 72 hours):
    /// the apps' scores decay with the reports' age, so a number put back at once
    /// would be flagged again by its first calls.
    pub cool_down: SignedDuration,
    /// The least answer rate of test calls (to staff phones with the anti-spam apps)
    /// for a clean check, when test calls were made (default 0.8: staff answer unless
    /// the call is blocked or labelled).
    pub test_answer_rate_min: f64,
}

impl Default for Playbook {
    fn default() -> Playbook {
        Playbook {
            reserve_swapped_within: SignedDuration::from_mins(15),
            identity_checked_within: hours(2),
            delisting_requested_within: hours(4),
            facility_informed_within: hours(4),
            cause_analysed_within: hours(24),
            cool_down: hours(72),
            test_answer_rate_min: 0.8,
        }
    }
}

impl Playbook {
    /// How long after the opening `step` is due.
    pub fn deadline(&self, step: PlaybookStep) -> SignedDuration {
        match step {
            PlaybookStep::ReserveSwapped => self.reserve_swapped_within,
            PlaybookStep::IdentityChecked => self.identity_checked_within,
            PlaybookStep::DelistingRequested => self.delisting_requested_within,
            PlaybookStep::FacilityInformed => self.facility_informed_within,
            PlaybookStep::CauseAnalysed => self.cause_analysed_within,
        }
    }

    /// Refuses deadlines that are not within 24 hours of the opening, a cool-down that
    /// is not positive or longer than 90 days, and a test answer rate outside [0, 1].
    pub fn validate(&self) -> Result<(), InvalidField> {
        let horizon = hours(PLAYBOOK_HORIZON_HOURS);
        for &step in PlaybookStep::ALL {
            let d = self.deadline(step);
            if d <= SignedDuration::ZERO || d > horizon {
                return Err(InvalidField::new(
                    step_field(step),
                    format!("must be more than 0 and at most {PLAYBOOK_HORIZON_HOURS} hours after the opening"),
                ));
            }
        }
        if self.cool_down <= SignedDuration::ZERO || self.cool_down > hours(24 * COOL_DOWN_DAYS_MAX) {
            return Err(InvalidField::new(
                "cool_down",
                format!("must be more than 0 and at most {COOL_DOWN_DAYS_MAX} days"),
            ));
        }
        if !(0.0..=1.0).contains(&self.test_answer_rate_min) {
            return Err(InvalidField::new("test_answer_rate_min", "must be between 0 and 1"));
        }
        Ok(())
    }
}

fn step_field(step: PlaybookStep) -> &'static str {
    match step {
        PlaybookStep::ReserveSwapped => "reserve_swapped_within",
        PlaybookStep::IdentityChecked => "identity_checked_within",
        PlaybookStep::DelistingRequested => "delisting_requested_within",
        PlaybookStep::FacilityInformed => "facility_informed_within",
        PlaybookStep::CauseAnalysed => "cause_analysed_within",
    }
}

/// Who did a step, when, and what they noted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDone {
    /// When it was done.
    pub at: Timestamp,
    /// Who did it (an operator's login).
    pub by: String,
    /// What they noted (never patient data: the API says so where notes are typed).
    pub note: String,
}

/// One step of an incident's playbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// The step.
    pub step: PlaybookStep,
    /// When it is due.
    pub deadline: Timestamp,
    /// Who did it and when, once done.
    pub done: Option<StepDone>,
}

impl StepRecord {
    /// Whether it was done after its deadline.
    pub fn done_late(&self) -> bool {
        self.done.as_ref().is_some_and(|d| d.at > self.deadline)
    }
}

/// How an incident ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The number went back to its pool after the cool-down and a clean check.
    ReturnedToService,
    /// The number was given up and replaced.
    Retired {
        /// What the replacement cost (number, porting, re-registration), in euro cents.
        replacement_cost_cents: u64,
    },
}

impl Resolution {
    /// The resolution's stable name: `returned_to_service` or `retired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::ReturnedToService => "returned_to_service",
            Resolution::Retired { .. } => "retired",
        }
    }
}

/// The end of an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    /// When it was closed.
    pub at: Timestamp,
    /// Who closed it.
    pub by: String,
    /// How.
    pub resolution: Resolution,
}

/// What a return to service is checked against, gathered by the store at the moment of
/// the request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CleanCheck {
    /// Reports of the number received since it was quarantined.
    pub reports_since_quarantine: u32,
    /// The external sources (apps, community databases, verification tools) whose
    /// latest check still lists or flags the number, by their configured names.
    pub still_listed: Vec<String>,
    /// Test calls made from the number to staff phones, if any were made.
    pub test_calls: Option<AnswerCounts>,
}

/// Why a number may not return to service yet.
#[derive(Debug, Clone, PartialEq)]
pub enum CleanFault {
    /// It was reported again while in quarantine.
    ReportedSinceQuarantine {
        /// How many reports.
        reports: u32,
    },
    /// Sources still list or flag it.
    StillListed {
        /// Their names.
        sources: Vec<String>,
    },
    /// Too few of its test calls were answered.
    TestCallsUnanswered {
        /// The test calls' counts.
        calls: AnswerCounts,
        /// The least answer rate required.
        rate_min: f64,
    },
    /// The playbook's identity check (displayed name, callback) was not done.
    IdentityNotChecked,
}

impl fmt::Display for CleanFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CleanFault::ReportedSinceQuarantine { reports } => {
                write!(f, "{reports} report(s) received since the quarantine")
            }
            CleanFault::StillListed { sources } => write!(f, "still listed by {}", sources.join(", ")),
            CleanFault::TestCallsUnanswered { calls, rate_min } => write!(
                f,
                "{} of {} test calls answered, below the required {:.0}%",
                calls.answered(),
                calls.calls(),
                rate_min * 100.0
            ),
            CleanFault::IdentityNotChecked => f.write_str("the identity check (displayed name, callback) is not done"),
        }
    }
}

/// The verdict of a clean check: clean when it has no fault.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CleanVerdict {
    /// Every reason the number is not clean, empty when it is.
    pub faults: Vec<CleanFault>,
}

impl CleanVerdict {
    /// Whether the check passes.
    pub fn passed(&self) -> bool {
        self.faults.is_empty()
    }
}

impl CleanCheck {
    /// The verdict on what the sources and test calls say (the incident adds its own
    /// condition, the identity check: see [`Incident::return_verdict`]).
    pub fn verdict(&self, playbook: &Playbook) -> CleanVerdict {
        let mut faults = Vec::new();
        if self.reports_since_quarantine > 0 {
            faults.push(CleanFault::ReportedSinceQuarantine { reports: self.reports_since_quarantine });
        }
        if !self.still_listed.is_empty() {
            faults.push(CleanFault::StillListed { sources: self.still_listed.clone() });
        }
        if let Some(calls) = self.test_calls
            && calls.rate().is_some_and(|r| r < playbook.test_answer_rate_min)
        {
            faults.push(CleanFault::TestCallsUnanswered { calls, rate_min: playbook.test_answer_rate_min });
        }
        CleanVerdict { faults }
    }
}

/// Why an incident refused a change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IncidentError {
    /// The incident is closed: nothing more can be recorded on it.
    #[error("the incident was closed at {at}")]
    Closed {
        /// When it was closed.
        at: Timestamp,
    },
    /// The step was already recorded.
    #[error("step {step} was already done at {at} by {by}")]
    AlreadyDone {
        /// The step.
        step: PlaybookStep,
        /// When it was done.
        at: Timestamp,
        /// By whom.
        by: String,
    },
    /// The time given lies before the incident's opening.
    #[error("{at} is before the incident's opening at {opened_at}")]
    BeforeOpening {
        /// The time given.
        at: Timestamp,
        /// The opening.
        opened_at: Timestamp,
    },
    /// The number is still cooling down.
    #[error("the number may return to service from {until}, after its cool-down")]
    CoolingDown {
        /// The end of the cool-down.
        until: Timestamp,
    },
    /// The clean check failed.
    #[error("the clean check fails: {}", faults_text(.faults))]
    NotClean {
        /// Every reason.
        faults: Vec<CleanFault>,
    },
    /// A field is not acceptable.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
}

fn faults_text(faults: &[CleanFault]) -> String {
    faults.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

fn check_text(field: &'static str, text: &str, max: usize, required: bool) -> Result<(), InvalidField> {
    if required && text.trim().is_empty() {
        return Err(InvalidField::new(field, "must not be empty"));
    }
    if text.chars().count() > max {
        return Err(InvalidField::new(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

/// An incident: a quarantined number, its playbook's steps, and how it ended.
///
/// Built by [`Incident::open`] and changed by its methods, which keep its rules (a step
/// is done once, nothing changes once closed, no time before the opening). The fields
/// are public so that the store can rebuild one from its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// The quarantined number.
    pub number: E164,
    /// Its pool.
    pub pool: PoolCode,
    /// The signal that quarantined it.
    pub trigger: IncidentTrigger,
    /// When the first sign of trouble was seen (the first report, the first call of
    /// the alarm's run): the start of the time to detect.
    pub first_evidence_at: Timestamp,
    /// When it was quarantined and the incident opened.
    pub opened_at: Timestamp,
    /// The playbook's steps, in [`PlaybookStep::ALL`] order.
    pub steps: [StepRecord; PLAYBOOK_STEPS],
    /// How it ended, once it has.
    pub closed: Option<Closure>,
}

impl Incident {
    /// Opens the incident of a number quarantined at `opened_at`, with the playbook's
    /// deadlines counted from then.
    pub fn open(
        number: E164,
        pool: PoolCode,
        trigger: IncidentTrigger,
        first_evidence_at: Timestamp,
        opened_at: Timestamp,
        playbook: &Playbook,
    ) -> Result<Incident, InvalidField> {
        playbook.validate()?;
        if first_evidence_at > opened_at {
            return Err(InvalidField::new("first_evidence_at", "must not be after the opening"));
        }
        let steps = std::array::from_fn(|i| {
            let step = PlaybookStep::ALL[i];
            StepRecord { step, deadline: opened_at + playbook.deadline(step), done: None }
        });
        Ok(Incident { number, pool, trigger, first_evidence_at, opened_at, steps, closed: None })
    }

    /// The record of `step`.
    pub fn step(&self, step: PlaybookStep) -> &StepRecord {
        &self.steps[step.index()]
    }

    fn writable(&self, at: Timestamp) -> Result<(), IncidentError> {
        if let Some(c) = &self.closed {
            return Err(IncidentError::Closed { at: c.at });
        }
        if at < self.opened_at {
            return Err(IncidentError::BeforeOpening { at, opened_at: self.opened_at });
        }
        Ok(())
    }

    /// Records that `by` did `step` at `at`. A step done after its deadline is recorded
    /// all the same ([`StepRecord::done_late`] tells).
    pub fn complete_step(
        &mut self,
        step: PlaybookStep,
        at: Timestamp,
        by: &str,
        note: &str,
    ) -> Result<(), IncidentError> {
        self.writable(at)?;
        check_text("by", by, BY_CHARS_MAX, true)?;
        check_text("note", note, NOTE_CHARS_MAX, false)?;
        let record = &mut self.steps[step.index()];
        if let Some(done) = &record.done {
            return Err(IncidentError::AlreadyDone { step, at: done.at, by: done.by.clone() });
        }
        record.done = Some(StepDone { at, by: by.to_owned(), note: note.to_owned() });
        Ok(())
    }

    /// The steps not done whose deadline has passed at `now`, in playbook order (none
    /// once the incident is closed).
    pub fn overdue(&self, now: Timestamp) -> Vec<PlaybookStep> {
        if self.closed.is_some() {
            return Vec::new();
        }
        self.steps.iter().filter(|s| s.done.is_none() && s.deadline < now).map(|s| s.step).collect()
    }

    /// The earliest deadline of a step not done yet, if the incident is open.
    pub fn next_deadline(&self) -> Option<(PlaybookStep, Timestamp)> {
        if self.closed.is_some() {
            return None;
        }
        self.steps.iter().filter(|s| s.done.is_none()).map(|s| (s.step, s.deadline)).min_by_key(|&(_, at)| at)
    }

    /// When the number may return to service at the earliest.
    pub fn cool_down_ends(&self, playbook: &Playbook) -> Timestamp {
        self.opened_at + playbook.cool_down
    }

    /// The clean check's verdict with the incident's own condition: the identity
    /// check done.
    pub fn return_verdict(&self, check: &CleanCheck, playbook: &Playbook) -> CleanVerdict {
        let mut verdict = check.verdict(playbook);
        if self.step(PlaybookStep::IdentityChecked).done.is_none() {
            verdict.faults.push(CleanFault::IdentityNotChecked);
        }
        verdict
    }

    /// Closes the incident with the number back in service: refused during the
    /// cool-down, and unless the clean check passes (no report since the quarantine,
    /// no source still listing it, test calls answered, identity checked).
    pub fn close_returning(
        &mut self,
        now: Timestamp,
        by: &str,
        check: &CleanCheck,
        playbook: &Playbook,
    ) -> Result<(), IncidentError> {
        self.writable(now)?;
        check_text("by", by, BY_CHARS_MAX, true)?;
        let until = self.cool_down_ends(playbook);
        if now < until {
            return Err(IncidentError::CoolingDown { until });
        }
        let verdict = self.return_verdict(check, playbook);
        if !verdict.passed() {
            return Err(IncidentError::NotClean { faults: verdict.faults });
        }
        self.closed = Some(Closure { at: now, by: by.to_owned(), resolution: Resolution::ReturnedToService });
        Ok(())
    }

    /// Closes the incident with the number retired, recording what its replacement cost.
    pub fn close_retiring(
        &mut self,
        now: Timestamp,
        by: &str,
        replacement_cost_cents: u64,
    ) -> Result<(), IncidentError> {
        self.writable(now)?;
        check_text("by", by, BY_CHARS_MAX, true)?;
        self.closed =
            Some(Closure { at: now, by: by.to_owned(), resolution: Resolution::Retired { replacement_cost_cents } });
        Ok(())
    }

    /// From the first sign of trouble to the quarantine.
    pub fn time_to_detect(&self) -> SignedDuration {
        self.opened_at.duration_since(self.first_evidence_at)
    }

    /// From the quarantine to the closure, once closed.
    pub fn time_to_resolve(&self) -> Option<SignedDuration> {
        self.closed.as_ref().map(|c| c.at.duration_since(self.opened_at))
    }
}

// ---------------------------------------------------------------------------------
// Delisting requests.

named_enum!(
    /// Where a number can be listed as spam, and so where its removal is asked
    /// (market.md: Orange Téléphone and Truecaller in France, Hiya behind Samsung's
    /// Smart Call, Google's Phone app, community sites, the operators).
    ListingTarget, "target", {
        /// Orange Téléphone, Orange's caller-ID and anti-spam app.
        OrangeTelephone = "orange_telephone",
        /// Truecaller, whose spam list its users' reports build.
        Truecaller = "truecaller",
        /// Hiya, the labelling engine of several carriers and handsets.
        Hiya = "hiya",
        /// Google's Phone app (caller ID and spam on Android).
        GooglePhone = "google_phone",
        /// Samsung Smart Call (labels from Hiya).
        SamsungSmartCall = "samsung_smart_call",
        /// A community reporting site (Tellows-like, reverse lookups).
        CommunityDb = "community_db",
        /// The facility's telephone operator, when calls are blocked or labelled in
        /// the network.
        Carrier = "carrier",
    }
);

impl ListingTarget {
    /// Where the request goes. These are the channels the research found; a centre
    /// with an account manager at the vendor should prefer that contact.
    pub fn channel(self) -> &'static str {
        match self {
            ListingTarget::OrangeTelephone => {
                "Orange: the facility's Orange Business account manager or support (no public delisting form found)"
            }
            ListingTarget::Truecaller => {
                "https://support.truecaller.com (request: number mistakenly marked as spam, EU/EEA form)"
            }
            ListingTarget::Hiya => "https://hiyahelp.zendesk.com (Submit a request, Call Reputation Review)",
            ListingTarget::GooglePhone => "Google Phone app support (no public delisting form found)",
            ListingTarget::SamsungSmartCall => {
                "https://hiyahelp.zendesk.com (Smart Call labels come from Hiya: Call Reputation Review)"
            }
            ListingTarget::CommunityDb => "the site's contact form or its comment on the number (each site separately)",
            ListingTarget::Carrier => "the operator's business support, through the facility's account",
        }
    }

    fn label(self, language: Language) -> &'static str {
        match (self, language) {
            (ListingTarget::OrangeTelephone, _) => "Orange Téléphone",
            (ListingTarget::Truecaller, _) => "Truecaller",
            (ListingTarget::Hiya, _) => "Hiya",
            (ListingTarget::GooglePhone, Language::Fr) => "l'application Téléphone de Google",
            (ListingTarget::GooglePhone, Language::En) => "Google's Phone app",
            (ListingTarget::SamsungSmartCall, _) => "Samsung Smart Call",
            (ListingTarget::CommunityDb, Language::Fr) => "votre base de signalements",
            (ListingTarget::CommunityDb, Language::En) => "your reporting database",
            (ListingTarget::Carrier, Language::Fr) => "votre réseau",
            (ListingTarget::Carrier, Language::En) => "your network",
        }
    }
}

/// The longest facility name or city in a delisting request, in characters.
pub const CONTEXT_CHARS_MAX: usize = 80;

/// What a delisting request says about the caller. It holds no patient data, and the
/// request is built from nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelistingContext {
    /// The listed number.
    pub number: E164,
    /// The facility's display name (as the number presents it).
    pub facility_name: String,
    /// The facility's callback number, which reaches its reception.
    pub callback: E164,
    /// The facility's city.
    pub city: String,
    /// The request's language.
    pub language: Language,
}

/// A delisting request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelistingRequest {
    /// Where the number is listed.
    pub target: ListingTarget,
    /// Where to send the request ([`ListingTarget::channel`]).
    pub channel: &'static str,
    /// The subject (of the e-mail or the form).
    pub subject: String,
    /// The text.
    pub body: String,
}

fn check_line(field: &'static str, text: &str) -> Result<(), InvalidField> {
    let ok =
        !text.trim().is_empty() && text.chars().count() <= CONTEXT_CHARS_MAX && !text.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(InvalidField::new(field, format!("must be 1 to {CONTEXT_CHARS_MAX} characters on one line")))
    }
}

/// The request asking `target` to remove the spam label from the number: it says that
/// the number belongs to a healthcare facility that calls its own patients
/// (appointment reminders, follow-up and results), gives the facility's identity and
/// callback number, and asks for the label's removal. French unless asked otherwise.
pub fn delisting_request(target: ListingTarget, context: &DelistingContext) -> Result<DelistingRequest, InvalidField> {
    check_line("facility_name", &context.facility_name)?;
    check_line("city", &context.city)?;
    let number = spaced_number(&context.number);
    let callback = spaced_number(&context.callback);
    let facility = context.facility_name.trim();
    let city = context.city.trim();
    let listed_by = target.label(context.language);
    let (subject, body) = match context.language {
        Language::Fr => (
            format!("Demande de retrait d'étiquette spam : {number} ({facility})"),
            format!(
                "Bonjour,\n\n\
                 Le numéro {number} est signalé comme indésirable par {listed_by}.\n\n\
                 Ce numéro appartient à {facility}, établissement de santé situé à {city}. \
                 Il sert uniquement à appeler les patients de l'établissement : rappels de \
                 rendez-vous, suivi médical et résultats. Ces appels ne sont ni du démarchage \
                 ni de la prospection.\n\n\
                 Vous pouvez vérifier notre identité en appelant le {callback}, qui joint \
                 l'accueil de l'établissement.\n\n\
                 Nous vous demandons de retirer l'étiquette « spam » ou « démarchage » associée \
                 au numéro {number}.\n\n\
                 Avec nos remerciements,\n\
                 {facility}\n"
            ),
        ),
        Language::En => (
            format!("Request to remove a spam label: {number} ({facility})"),
            format!(
                "Hello,\n\n\
                 The number {number} is labelled as unwanted by {listed_by}.\n\n\
                 This number belongs to {facility}, a healthcare facility in {city}, France. \
                 It is used only to call the facility's own patients: appointment reminders, \
                 medical follow-up and results. These calls are neither telemarketing nor \
                 sales calls.\n\n\
                 You can check our identity by calling {callback}, which reaches the \
                 facility's reception.\n\n\
                 Please remove the spam or telemarketing label from the number {number}.\n\n\
                 Kind regards,\n\
                 {facility}\n"
            ),
        ),
    };
    Ok(DelistingRequest { target, channel: target.channel(), subject, body })
}

// ---------------------------------------------------------------------------------
// Cause analysis.

named_enum!(
    /// A likely cause of a number's flagging.
    Cause, "cause", {
        /// It made far more calls on a day than its pool's numbers usually do.
        VolumeSpike = "volume_spike",
        /// Fewer of its calls were announced by a delivered SMS than in its pool.
        MissingSms = "missing_sms",
        /// Many of its calls were dialled early, late or on a Sunday.
        OddHours = "odd_hours",
        /// It was reported for calls it never made: someone presents it.
        SpoofingSuspected = "spoofing_suspected",
    }
);

/// The local hour from which calls are usual (09:00).
pub const USUAL_HOURS_START: i8 = 9;
/// The local hour from which calls are unusual again (19:00).
pub const USUAL_HOURS_END: i8 = 19;
/// How far a report's time may be from one of the number's calls for the report to be
/// about that call.
pub const REPORT_MATCH_MINUTES: i64 = 10;
/// The days of history the analysis looks at.
pub const CAUSE_WINDOW_DAYS: usize = 14;

/// A part of a whole (calls announced, calls at odd hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Share {
    part: u32,
    whole: u32,
}

impl Share {
    /// A share, refused when the part exceeds the whole.
    pub fn new(part: u32, whole: u32) -> Result<Share, InvalidField> {
        if part <= whole {
            Ok(Share { part, whole })
        } else {
            Err(InvalidField::new("part", "must not exceed the whole"))
        }
    }
    /// The part.
    pub fn part(&self) -> u32 {
        self.part
    }
    /// The whole.
    pub fn whole(&self) -> u32 {
        self.whole
    }
    /// The part's share of the whole, when the whole is not zero.
    pub fn rate(&self) -> Option<f64> {
        (self.whole > 0).then(|| f64::from(self.part) / f64::from(self.whole))
    }
}

/// Whether a call dialled at `at` is at an odd hour: before 09:00 or from 19:00 local
/// time, or on a Sunday. The store counts [`CauseInput::odd_hours`] with it.
pub fn odd_hour(calendar: &Calendar, at: Timestamp) -> bool {
    let local = calendar.tz().to_datetime(at);
    local.weekday() == jiff::civil::Weekday::Sunday
        || local.hour() < USUAL_HOURS_START
        || local.hour() >= USUAL_HOURS_END
}

/// How many reports have no call of the number within ±10 minutes: calls that Vigie
/// never placed. `calls` must be sorted.
pub fn unmatched_reports(reports: &[Timestamp], calls: &[Timestamp]) -> u32 {
    let tolerance = SignedDuration::from_mins(REPORT_MATCH_MINUTES);
    let unmatched = reports.iter().filter(|&&report| {
        let from = report - tolerance;
        let i = calls.partition_point(|&c| c < from);
        calls.get(i).is_none_or(|&c| c > report + tolerance)
    });
    u32::try_from(unmatched.count()).unwrap_or(u32::MAX)
}

/// What the analysis looks at, all of it cheap for the store to count.
#[derive(Debug, Clone, PartialEq)]
pub struct CauseInput {
    /// The number's calls per local day over the last 14 days (days without calls may
    /// be left out; more than 14 entries are cut to the latest 14).
    pub calls_per_day: Vec<(Date, u32)>,
    /// The median, over the pool's active numbers, of their calls per local day in
    /// the same window.
    pub pool_median_calls_per_day: f64,
    /// The number's calls of announced purposes, and how many had a delivered SMS.
    pub announced: Share,
    /// The same for the pool's calls.
    pub pool_announced: Share,
    /// The number's calls, and how many were dialled at an odd hour ([`odd_hour`]).
    pub odd_hours: Share,
    /// Reports of the number that have a time (patients', agents', apps'), and how
    /// many of them had no call from the number within ±10 minutes
    /// ([`unmatched_reports`]).
    pub reports_without_call: Share,
}

/// The thresholds of the cause analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CauseConfig {
    /// A day is a spike from this multiple of the pool's median (default 1.5).
    pub spike_ratio: f64,
    /// ... and from this many calls (default 30), so that a quiet pool's numbers are
    /// not accused of a spike of a handful of calls.
    pub spike_calls_min: u32,
    /// SMS are missing when the number's announced share is this far below the
    /// pool's (default 0.15, i.e. 15 points).
    pub sms_gap_min: f64,
    /// ... counted over at least this many announced-purpose calls (default 20).
    pub sms_calls_min: u32,
    /// Odd hours are a cause from this share of the calls (default 0.10).
    pub odd_share_min: f64,
    /// ... counted over at least this many calls (default 20).
    pub odd_calls_min: u32,
    /// Spoofing is suspected from this many reports without a call (default 2, like
    /// the quarantine rule: one report typed at the wrong time accuses nobody).
    pub spoofing_reports_min: u32,
}

impl Default for CauseConfig {
    fn default() -> CauseConfig {
        CauseConfig {
            spike_ratio: 1.5,
            spike_calls_min: 30,
            sms_gap_min: 0.15,
            sms_calls_min: 20,
            odd_share_min: 0.10,
            odd_calls_min: 20,
            spoofing_reports_min: 2,
        }
    }
}

/// A likely cause and what points to it.
#[derive(Debug, Clone, PartialEq)]
pub struct CauseFinding {
    /// The cause.
    pub cause: Cause,
    /// The evidence in words (English, for the incident's record).
    pub evidence: String,
    /// The figure observed: the busiest day's calls, the announced share, the odd-hour
    /// share, or the reports without a call.
    pub observed: f64,
    /// What it was compared with: the pool's median, the pool's announced share, the
    /// odd-hour share threshold, or the reports' total.
    pub reference: f64,
}

fn percent(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

/// The likely causes of a number's flagging, in [`Cause::ALL`] order; empty when
/// nothing stands out.
pub fn analyse_cause(input: &CauseInput, config: &CauseConfig) -> Vec<CauseFinding> {
    let mut findings = Vec::new();

    let skip = input.calls_per_day.len().saturating_sub(CAUSE_WINDOW_DAYS);
    let busiest = input.calls_per_day[skip..].iter().max_by_key(|&&(day, calls)| (calls, std::cmp::Reverse(day)));
    if let Some(&(day, calls)) = busiest {
        let median = input.pool_median_calls_per_day;
        if calls >= config.spike_calls_min && f64::from(calls) >= config.spike_ratio * median {
            findings.push(CauseFinding {
                cause: Cause::VolumeSpike,
                evidence: if median > 0.0 {
                    format!(
                        "{calls} calls on {day}, {:.1} times the pool's median of {median:.0} calls a day per number",
                        f64::from(calls) / median
                    )
                } else {
                    format!("{calls} calls on {day}, while the pool's median number makes no call a day")
                },
                observed: f64::from(calls),
                reference: median,
            });
        }
    }

    if let (Some(own), Some(pool)) = (input.announced.rate(), input.pool_announced.rate())
        && input.announced.whole() >= config.sms_calls_min
        && pool - own >= config.sms_gap_min
    {
        findings.push(CauseFinding {
            cause: Cause::MissingSms,
            evidence: format!(
                "{} of {} calls announced by a delivered SMS ({}), against {} in the pool",
                input.announced.part(),
                input.announced.whole(),
                percent(own),
                percent(pool)
            ),
            observed: own,
            reference: pool,
        });
    }

    if let Some(odd) = input.odd_hours.rate()
        && input.odd_hours.whole() >= config.odd_calls_min
        && odd >= config.odd_share_min
    {
        findings.push(CauseFinding {
            cause: Cause::OddHours,
            evidence: format!(
                "{} of {} calls ({}) dialled before {USUAL_HOURS_START}:00, from {USUAL_HOURS_END}:00 or on a Sunday",
                input.odd_hours.part(),
                input.odd_hours.whole(),
                percent(odd)
            ),
            observed: odd,
            reference: config.odd_share_min,
        });
    }

    let unmatched = input.reports_without_call;
    if unmatched.part() >= config.spoofing_reports_min.max(1) {
        findings.push(CauseFinding {
            cause: Cause::SpoofingSuspected,
            evidence: format!(
                "{} of {} reports have no call from the number within {REPORT_MATCH_MINUTES} minutes",
                unmatched.part(),
                unmatched.whole()
            ),
            observed: f64::from(unmatched.part()),
            reference: f64::from(unmatched.whole()),
        });
    }

    findings
}

#[cfg(test)]
#[path = "incident_tests.rs"]
mod tests;
