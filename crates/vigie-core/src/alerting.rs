//! Which alerts go out: what an alert says (number, pool, signal, evidence, action
//! taken), its text in French or English, and the gate that drops duplicates and holds
//! back floods. Delivery (e-mail, webhooks) is `vigie-alert`'s; acknowledgement is the
//! API's.

use std::collections::{HashMap, VecDeque};

use jiff::{SignedDuration, Timestamp};

use crate::calendar::{Calendar, hours};
use crate::catalog::{InvalidField, PoolCode};
use crate::finding::Finding;
use crate::names::named_enum;
use crate::phone::E164;
use crate::sms::Language;

named_enum!(
    /// What an alert is about.
    AlertSignal, "signal", {
        /// A number reached the day's reports threshold (two reports in a local day).
        Reports = "reports",
        /// A number's answer rate fell.
        AnswerRateDrop = "answer_rate_drop",
        /// A pool's answer rate fell.
        PoolAnswerRateDrop = "pool_answer_rate_drop",
        /// An external source (app, community database, verification tool) lists a number.
        ExternalFlag = "external_flag",
        /// An external source could not be checked.
        SourceFailing = "source_failing",
        /// An incident's playbook step is past its deadline.
        IncidentOverdue = "incident_overdue",
        /// A pool has too few numbers for its planned calls.
        CapacityShort = "capacity_short",
        /// An operator quarantined a number.
        Manual = "manual",
    }
);

named_enum!(
    /// How urgent an alert is, most urgent first.
    Severity, "severity", {
        /// Act now: a number was taken out of service, or calls will fail.
        Critical = "critical",
        /// Look today.
        Warning = "warning",
        /// For the record.
        Info = "info",
    }
);

named_enum!(
    /// What Vigie did when it raised the alert.
    AlertAction, "action", {
        /// The number was quarantined.
        Quarantined = "quarantined",
        /// Nothing changed in service; people are alerted.
        AlertOnly = "alert_only",
        /// No action applies (a source failing, a report).
        Nothing = "none",
    }
);

/// An alert: what happened, to which number or pool, on what evidence, and what Vigie
/// did about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// What it is about.
    pub signal: AlertSignal,
    /// How urgent.
    pub severity: Severity,
    /// The number concerned, if one is.
    pub number: Option<E164>,
    /// The pool concerned, if one is.
    pub pool: Option<PoolCode>,
    /// What else tells this alert apart from others of the same signal and number (or
    /// pool): the failing source's name, the incident and step that are overdue. Part
    /// of the dedup key, so that two failing sources are two alerts.
    pub about: Option<String>,
    /// What was found, written out in the alert's language.
    pub evidence: Finding,
    /// What was done.
    pub action: AlertAction,
    /// When it was raised.
    pub at: Timestamp,
}

/// An alert's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedAlert {
    /// One line, for an e-mail subject or a chat title.
    pub subject: String,
    /// The body: number, pool, signal, evidence, action taken, what to do next.
    pub text: String,
}

/// The longest evidence quoted in a subject, in characters; longer evidence gives way
/// to the signal's name there (the body always has it whole).
pub const SUBJECT_EVIDENCE_CHARS_MAX: usize = 60;

/// A number written for people: `+33 4 78 20 00 01` for a French number, E.164 as it
/// is otherwise.
pub(crate) fn spaced_number(number: &E164) -> String {
    let e164 = number.as_str();
    match e164.strip_prefix("+33").filter(|n| n.len() == 9) {
        Some(nsn) => {
            let (first, rest) = nsn.split_at(1);
            let pairs: Vec<&str> = rest.as_bytes().chunks(2).filter_map(|c| std::str::from_utf8(c).ok()).collect();
            format!("+33 {first} {}", pairs.join(" "))
        }
        None => e164.to_owned(),
    }
}

impl AlertSignal {
    fn label(self, language: Language) -> &'static str {
        match (self, language) {
            (AlertSignal::Reports, Language::Fr) => "signalements de spam",
            (AlertSignal::Reports, Language::En) => "spam reports",
            (AlertSignal::AnswerRateDrop, Language::Fr) => "baisse du taux de décroché du numéro",
            (AlertSignal::AnswerRateDrop, Language::En) => "the number's answer rate fell",
            (AlertSignal::PoolAnswerRateDrop, Language::Fr) => "baisse du taux de décroché du pool",
            (AlertSignal::PoolAnswerRateDrop, Language::En) => "the pool's answer rate fell",
            (AlertSignal::ExternalFlag, Language::Fr) => "numéro signalé par une source externe",
            (AlertSignal::ExternalFlag, Language::En) => "number flagged by an external source",
            (AlertSignal::SourceFailing, Language::Fr) => "source de surveillance en échec",
            (AlertSignal::SourceFailing, Language::En) => "monitoring source failing",
            (AlertSignal::IncidentOverdue, Language::Fr) => "étape du plan de crise en retard",
            (AlertSignal::IncidentOverdue, Language::En) => "crisis playbook step overdue",
            (AlertSignal::CapacityShort, Language::Fr) => "capacité insuffisante",
            (AlertSignal::CapacityShort, Language::En) => "capacity short",
            (AlertSignal::Manual, Language::Fr) => "mise en quarantaine par un opérateur",
            (AlertSignal::Manual, Language::En) => "quarantined by an operator",
        }
    }

    fn next_step(self, language: Language) -> &'static str {
        match (self, language) {
            (AlertSignal::Reports | AlertSignal::ExternalFlag | AlertSignal::Manual, Language::Fr) => {
                "Vérifier l'étiquette dans l'application ou la base concernée, puis suivre le plan de crise \
                 (identité affichée et numéro de rappel, demandes de retrait, information de l'établissement)."
            }
            (AlertSignal::Reports | AlertSignal::ExternalFlag | AlertSignal::Manual, Language::En) => {
                "Check the label in the app or database concerned, then follow the crisis playbook \
                 (displayed name and callback number, delisting requests, informing the facility)."
            }
            (AlertSignal::AnswerRateDrop, Language::Fr) => {
                "Passer des appels de test vers des téléphones équipés des applications anti-spam : si le \
                 numéro s'affiche comme spam, le mettre en quarantaine et suivre le plan de crise."
            }
            (AlertSignal::AnswerRateDrop, Language::En) => {
                "Place test calls to phones with the anti-spam apps: if the number shows as spam, quarantine \
                 it and follow the crisis playbook."
            }
            (AlertSignal::PoolAnswerRateDrop, Language::Fr) => {
                "Voir si la baisse touche tous les numéros du pool (créneau, campagne, opérateur) ou quelques-uns, \
                 et tester ces derniers."
            }
            (AlertSignal::PoolAnswerRateDrop, Language::En) => {
                "See whether the fall touches all of the pool's numbers (time slot, campaign, operator) or a few, \
                 and test those."
            }
            (AlertSignal::SourceFailing, Language::Fr) => {
                "Vérifier l'accès à la source (identifiants, quota, disponibilité) : tant qu'elle échoue, ses \
                 signalements ne sont plus vus."
            }
            (AlertSignal::SourceFailing, Language::En) => {
                "Check the access to the source (credentials, quota, availability): while it fails, its flags \
                 go unseen."
            }
            (AlertSignal::IncidentOverdue, Language::Fr) => {
                "Faire l'étape en retard ou la confier à quelqu'un, et l'enregistrer dans l'incident."
            }
            (AlertSignal::IncidentOverdue, Language::En) => {
                "Do the overdue step or hand it to someone, and record it in the incident."
            }
            (AlertSignal::CapacityShort, Language::Fr) => {
                "Promouvoir des numéros de réserve ou en commander, et vérifier les plafonds du pool."
            }
            (AlertSignal::CapacityShort, Language::En) => {
                "Promote reserve numbers or order new ones, and check the pool's caps."
            }
        }
    }
}

impl Severity {
    fn label(self, language: Language) -> &'static str {
        match (self, language) {
            (Severity::Critical, Language::Fr) => "critique",
            (Severity::Critical, Language::En) => "critical",
            (Severity::Warning, Language::Fr) => "avertissement",
            (Severity::Warning, Language::En) => "warning",
            (Severity::Info, _) => "info",
        }
    }
}

impl AlertAction {
    /// The action as the subject says it after the number ("mis en quarantaine").
    fn subject_words(self, language: Language) -> Option<&'static str> {
        match (self, language) {
            (AlertAction::Quarantined, Language::Fr) => Some("mis en quarantaine"),
            (AlertAction::Quarantined, Language::En) => Some("quarantined"),
            (AlertAction::AlertOnly, Language::Fr) => Some("à vérifier"),
            (AlertAction::AlertOnly, Language::En) => Some("to check"),
            (AlertAction::Nothing, _) => None,
        }
    }

    fn label(self, language: Language) -> &'static str {
        match (self, language) {
            (AlertAction::Quarantined, Language::Fr) => {
                "numéro mis en quarantaine, ses appels à venir passent sur d'autres numéros"
            }
            (AlertAction::Quarantined, Language::En) => "number quarantined, its coming calls move to other numbers",
            (AlertAction::AlertOnly, Language::Fr) => "alerte seule, rien n'a changé en service",
            (AlertAction::AlertOnly, Language::En) => "alert only, nothing changed in service",
            (AlertAction::Nothing, Language::Fr) => "aucune",
            (AlertAction::Nothing, Language::En) => "none",
        }
    }
}

impl Alert {
    /// What makes two alerts the same: the signal and the number, or else the pool,
    /// and what the alert is [about](Alert::about), if it says.
    pub fn dedup_key(&self) -> String {
        let base = match (&self.number, &self.pool) {
            (Some(number), _) => format!("{}:{}", self.signal, number),
            (None, Some(pool)) => format!("{}:pool:{}", self.signal, pool),
            (None, None) => self.signal.as_str().to_owned(),
        };
        match &self.about {
            Some(about) => format!("{base}:{about}"),
            None => base,
        }
    }

    /// The alert's subject and text in `language`, times in the calendar's zone.
    pub fn render(&self, language: Language, calendar: &Calendar) -> RenderedAlert {
        let number = self.number.as_ref().map(spaced_number);
        let evidence = self.evidence.render(language, calendar);
        RenderedAlert {
            subject: self.subject(language, number.as_deref(), &evidence),
            text: self.text(language, calendar, number.as_deref(), &evidence),
        }
    }

    /// "[Vigie] Numéro … mis en quarantaine (pool A) : <evidence>", the evidence
    /// replaced by the signal's name when it does not fit one short line.
    fn subject(&self, language: Language, number: Option<&str>, evidence: &str) -> String {
        let fr = language == Language::Fr;
        let evidence = evidence.trim();
        let short = !evidence.is_empty()
            && !evidence.contains(['\n', '\r'])
            && evidence.chars().count() <= SUBJECT_EVIDENCE_CHARS_MAX;
        let signal = self.signal.label(language);
        let mut head = String::from("[Vigie]");
        match (number, &self.pool) {
            (Some(n), pool) => {
                head.push_str(if fr { " Numéro " } else { " Number " });
                head.push_str(n);
                if let Some(words) = self.action.subject_words(language) {
                    head.push(' ');
                    head.push_str(words);
                }
                if let Some(p) = pool {
                    head.push_str(&format!(" (pool {p})"));
                }
            }
            (None, Some(p)) => head.push_str(&format!(" Pool {p}")),
            // Nothing to name but the signal: it leads, and the evidence follows.
            (None, None) if short => head.push_str(&format!(" {signal}")),
            (None, None) => return format!("{head} {signal}"),
        }
        let about = if short { evidence } else { signal };
        if fr { format!("{head} : {about}") } else { format!("{head}: {about}") }
    }

    /// One line per item: number, pool, signal, severity, evidence, action taken, what
    /// to do next, time.
    fn text(&self, language: Language, calendar: &Calendar, number: Option<&str>, evidence: &str) -> String {
        let fr = language == Language::Fr;
        let evidence = evidence.trim();
        let local = calendar.tz().to_datetime(self.at);
        let when =
            format!("{} ({})", local.strftime("%Y-%m-%d %H:%M"), calendar.tz().iana_name().unwrap_or("local time"));
        let dash = if fr { "—" } else { "-" };
        let number_line = number.unwrap_or(dash).to_owned();
        let pool_line = self.pool.as_ref().map_or_else(|| dash.to_owned(), ToString::to_string);
        let evidence_text = if evidence.is_empty() { dash } else { evidence };
        let lines: [(&str, &str, String); 8] = [
            ("Numéro", "Number", number_line),
            ("Pool", "Pool", pool_line),
            ("Signal", "Signal", format!("{} ({})", self.signal.label(language), self.signal)),
            ("Gravité", "Severity", self.severity.label(language).to_owned()),
            ("Constat", "Evidence", evidence_text.to_owned()),
            ("Action prise", "Action taken", self.action.label(language).to_owned()),
            ("À faire", "Next", self.signal.next_step(language).to_owned()),
            ("Heure", "Time", when),
        ];
        lines
            .iter()
            .map(
                |(label_fr, label_en, value)| {
                    if fr { format!("{label_fr} : {value}\n") } else { format!("{label_en}: {value}\n") }
                },
            )
            .collect()
    }
}

// ---------------------------------------------------------------------------------
// The gate.

/// The longest dedup window, in hours (a week).
pub const DEDUP_WINDOW_HOURS_MAX: u32 = 24 * 7;
/// The most alerts an hour a policy may allow.
pub const ALERTS_PER_HOUR_MAX: u32 = 10_000;

/// How alerts are thinned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertPolicy {
    /// An alert with the key of the latest one sent less than this long ago, and no
    /// more urgent than it, is a duplicate (default 6 hours). The window runs from the
    /// alert sent, not from its duplicates, so a lasting problem is recalled once a
    /// window; a more urgent alert (an escalation) goes out and opens a new window.
    pub dedup_window: SignedDuration,
    /// The most alerts sent in any hour (default 20).
    pub max_per_hour: u32,
    /// Whether critical alerts go out past the hourly limit (default true: a
    /// quarantine must never wait behind a flood of warnings).
    pub critical_bypasses_rate_limit: bool,
}

impl Default for AlertPolicy {
    fn default() -> AlertPolicy {
        AlertPolicy { dedup_window: hours(6), max_per_hour: 20, critical_bypasses_rate_limit: true }
    }
}

impl AlertPolicy {
    /// Refuses a window that is not positive or longer than a week, and an hourly
    /// limit of 0 or above 10,000.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if self.dedup_window <= SignedDuration::ZERO || self.dedup_window > hours(DEDUP_WINDOW_HOURS_MAX) {
            return Err(InvalidField::new(
                "dedup_window",
                format!("must be more than 0 and at most {DEDUP_WINDOW_HOURS_MAX} hours"),
            ));
        }
        if self.max_per_hour == 0 || self.max_per_hour > ALERTS_PER_HOUR_MAX {
            return Err(InvalidField::new("max_per_hour", format!("must be between 1 and {ALERTS_PER_HOUR_MAX}")));
        }
        Ok(())
    }
}

/// Whether an alert goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send it (then call [`AlertGate::record_sent`]).
    Send,
    /// An alert with the same key went out within the window.
    Duplicate {
        /// The shared key.
        of_key: String,
        /// When the earlier alert was sent.
        first_at: Timestamp,
    },
    /// The hourly limit is reached.
    RateLimited {
        /// When a place frees up.
        until: Timestamp,
    },
}

/// An alert sent, as the store keeps it: enough to rebuild the gate after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentAlert {
    /// Its [`Alert::dedup_key`].
    pub key: String,
    /// Its severity.
    pub severity: Severity,
    /// When it was sent.
    pub at: Timestamp,
}

/// The memory of recent alerts that decides what goes out. Pure: the time is passed in.
#[derive(Debug, Clone)]
pub struct AlertGate {
    policy: AlertPolicy,
    /// Per key, when the latest alert was sent and how urgent it was.
    by_key: HashMap<String, (Timestamp, Severity)>,
    /// The times of the alerts sent in the last hour, oldest first.
    last_hour: VecDeque<Timestamp>,
}

impl AlertGate {
    /// A gate that has sent nothing.
    pub fn new(policy: AlertPolicy) -> Result<AlertGate, InvalidField> {
        policy.validate()?;
        Ok(AlertGate { policy, by_key: HashMap::new(), last_hour: VecDeque::new() })
    }

    /// A gate that remembers `history` (the alerts the store sent recently, any order),
    /// as it stood at `now`.
    pub fn rebuild(
        policy: AlertPolicy,
        history: impl IntoIterator<Item = SentAlert>,
        now: Timestamp,
    ) -> Result<AlertGate, InvalidField> {
        let mut gate = AlertGate::new(policy)?;
        let mut sent: Vec<SentAlert> = history.into_iter().collect();
        sent.sort_by_key(|s| s.at);
        for s in sent {
            gate.remember(s.key, s.severity, s.at);
        }
        gate.forget_before(now);
        Ok(gate)
    }

    /// The policy.
    pub fn policy(&self) -> &AlertPolicy {
        &self.policy
    }

    /// Whether `alert` goes out at `now`: a duplicate first, then the hourly limit.
    pub fn decide(&self, alert: &Alert, now: Timestamp) -> Decision {
        let key = alert.dedup_key();
        if let Some(&(first_at, severity)) = self.by_key.get(&key)
            && now < first_at + self.policy.dedup_window
            && alert.severity >= severity
        {
            // `Severity` orders the most urgent first: a duplicate is no more urgent.
            return Decision::Duplicate { of_key: key, first_at };
        }
        let bypass = self.policy.critical_bypasses_rate_limit && alert.severity == Severity::Critical;
        let hour_ago = now - hours(1);
        let in_hour: Vec<Timestamp> = self.last_hour.iter().copied().filter(|&t| t > hour_ago && t <= now).collect();
        let max = self.policy.max_per_hour as usize;
        if !bypass && in_hour.len() >= max {
            // A place frees up when enough of the hour's alerts have aged out for
            // the count to fall below the limit.
            let freeing = in_hour.get(in_hour.len() - max).copied().unwrap_or(now);
            return Decision::RateLimited { until: freeing + hours(1) };
        }
        Decision::Send
    }

    /// Records that `alert` was sent at `now`.
    pub fn record_sent(&mut self, alert: &Alert, now: Timestamp) {
        self.remember(alert.dedup_key(), alert.severity, now);
        self.forget_before(now);
    }

    fn remember(&mut self, key: String, severity: Severity, at: Timestamp) {
        // The gate sends a key again only after its window or as an escalation; either
        // way the alert sent opens the key's new window.
        self.by_key.insert(key, (at, severity));
        let place = self.last_hour.partition_point(|&t| t <= at);
        self.last_hour.insert(place, at);
    }

    /// Drops what can no longer matter at `now`, which bounds the memory by what the
    /// window and the hour hold.
    fn forget_before(&mut self, now: Timestamp) {
        let window = self.policy.dedup_window;
        self.by_key.retain(|_, (first_at, _)| now < *first_at + window);
        let hour_ago = now - hours(1);
        while self.last_hour.front().is_some_and(|&t| t <= hour_ago) {
            self.last_hour.pop_front();
        }
    }
}

#[cfg(test)]
#[path = "alerting_tests.rs"]
mod tests;
