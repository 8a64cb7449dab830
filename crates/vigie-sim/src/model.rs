//! Every parameter of the simulated world, each with its source.
//!
//! Sources are files of `../shared/research/` (section numbers as there), the seed text
//! (`../shared/seed/healthcare-teleconsulting.txt`), or "assumption" when nothing was
//! found. `model.toml` holds the same values with the same comments; a `--model FILE`
//! overrides any subset of its keys.

use serde::Deserialize;

/// The embedded default model, the same values as [`Model::default`].
pub const MODEL_TOML: &str = include_str!("model.toml");

/// The simulated world.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Model {
    /// Who is called, how often, when.
    pub population: Population,
    /// The share of calls per purpose.
    pub mix: CallMix,
    /// Whether a call is answered.
    pub answer: Answer,
    /// Whether a call is reported as spam.
    pub reports: Reports,
    /// How anti-spam apps and community databases label a number.
    pub apps: Apps,
    /// When calls are planned, which decides whether vigie-core's SMS timing can
    /// announce them.
    pub sms: Sms,
    /// What the policies do that the engine does not decide.
    pub policies: Policies,
}

/// Who is called, how often, when.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Population {
    /// Outbound calls per day. Seed text: "10,000 outbound calls per day".
    pub calls_per_day: u32,
    /// Patients called. Assumption (about five calls per patient a month).
    pub patients: u32,
    /// Professionals called for coordination. Assumption.
    pub professionals: u32,
    /// Facilities the centre calls for. Assumption (the seed: "several").
    pub facilities: u32,
    /// Geographic zones 1 to 5 (ARCEP 01 to 05). research/regulatory.md numbering.
    pub zones: u8,
    /// First hour of calling, Europe/Paris. Assumption.
    pub day_start_hour: u8,
    /// Hour calling stops. Assumption.
    pub day_end_hour: u8,
    /// A Saturday's calls as a share of a weekday's. Assumption: the seed's "10,000
    /// calls per day" are taken as working days; vigie-core's care hours allow
    /// Saturdays, and its calling rules refuse Sundays and public holidays.
    pub saturday_share: f64,
}

impl Default for Population {
    fn default() -> Population {
        Population {
            calls_per_day: 10_000,
            patients: 50_000,
            professionals: 2_000,
            facilities: 8,
            zones: 5,
            day_start_hour: 9,
            day_end_hour: 18,
            saturday_share: 0.0,
        }
    }
}

/// The share of calls per purpose; the seed's mix (seed text, "The Context").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallMix {
    /// Appointment reminders (seed: 40 %).
    pub reminders: f64,
    /// Follow-up and results (seed: 25 %).
    pub results: f64,
    /// Coordination between professionals (seed: 20 %).
    pub coordination: f64,
    /// Satisfaction surveys (seed: 15 %).
    pub surveys: f64,
}

impl Default for CallMix {
    fn default() -> CallMix {
        CallMix { reminders: 0.40, results: 0.25, coordination: 0.20, surveys: 0.15 }
    }
}

/// Whether a call is answered.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Answer {
    /// The phone shows the patient's own facility name. research/dynamics.md §2.1
    /// (Hiya 2019, identified business 53 %).
    pub known_name: f64,
    /// Share of phones that show a registered name at all: French carriers did not
    /// display a business name before Orange's Branded Calling (research/market.md §0,
    /// point 2, MWC 2026). The value is an assumption.
    pub name_shown_share: f64,
    /// A plain number. research/dynamics.md §2.1 (Hiya 2019, not in contacts 38 %).
    pub plain: f64,
    /// A spam label. research/dynamics.md §2.1 (Hiya 2019, 9 %).
    pub labelled: f64,
    /// Professionals answer more often than patients. Assumption, set so that the
    /// baseline lands on the seed's 41 % before.
    pub professional_factor: f64,
    /// A pre-call SMS. Seed text, "Systematic Pre-Call SMS": +34 % answers.
    pub sms_factor: f64,
    /// Calls before noon. research/dynamics.md §6.1 (DOHMH morning 22.4 %).
    pub morning_factor: f64,
    /// Calls from noon. research/dynamics.md §6.1 (DOHMH afternoon 29.8 %).
    pub afternoon_factor: f64,
    /// The number already called and was answered by this person. Assumption
    /// (research/market.md §0.4: a stable, recognisable identity).
    pub recognised_factor: f64,
    /// Answered calls hung up at the intro, unlabelled. research/dynamics.md §6.1.
    pub short_share: f64,
    /// The same, when the phone showed a label. research/dynamics.md §6.1.
    pub short_share_labelled: f64,
    /// A labelled number's calls rejected before they ring (SIP 607/608).
    /// Assumption (research/dynamics.md §6.1, "blocked means the call never rings").
    pub labelled_rejected_share: f64,
    /// An unlabelled number's unanswered calls that end in 607/608 (a patient marking
    /// a wanted call unwanted). Assumption, the healthy rate vigie-core's detector
    /// assumes too (`SignalModel`).
    pub rejected_share: f64,
    /// Unanswered calls of an unlabelled number that end within two seconds (phone
    /// off, busy, quick decline). Assumption, as vigie-core's `SignalModel`.
    pub quick_end_share: f64,
    /// The same for a labelled number's unanswered calls that were not rejected.
    /// Assumption (issue 5: a blocking app "ends it within a ring or two").
    pub quick_end_share_labelled: f64,
    /// An answered labelled call whose patient tells the agent it showed as spam.
    /// Assumption.
    pub agent_told_share: f64,
}

impl Default for Answer {
    fn default() -> Answer {
        Answer {
            known_name: 0.53,
            name_shown_share: 0.5,
            plain: 0.38,
            labelled: 0.09,
            professional_factor: 1.4,
            sms_factor: 1.34,
            morning_factor: 0.85,
            afternoon_factor: 1.12,
            recognised_factor: 1.15,
            short_share: 0.10,
            short_share_labelled: 0.30,
            labelled_rejected_share: 0.30,
            rejected_share: 0.002,
            quick_end_share: 0.06,
            quick_end_share_labelled: 0.50,
            agent_told_share: 0.30,
        }
    }
}

/// Whether a call is reported as spam (a patient's report to an app or to the centre).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Reports {
    /// Answered, normal length. Assumption, scaled so that the baseline lands on the
    /// seed's 0.8 % before (research/dynamics.md §6.2 gives 0.0002 for all callers).
    pub answered: f64,
    /// Answered and hung up at the intro. Assumption, scaled as above
    /// (research/dynamics.md §6.2: 25 times the answered rate).
    pub short: f64,
    /// Not answered. Assumption, scaled as above (research/dynamics.md §6.2).
    pub unanswered: f64,
    /// The phone showed a label. research/dynamics.md §6.2 (×2, assumption there).
    pub labelled_factor: f64,
    /// The call was announced by SMS. Seed text: "spam reports dropped by 72 %".
    pub sms_factor: f64,
    /// A third or later call to the person within 24 hours. research/dynamics.md §6.2.
    pub repeat_factor: f64,
    /// The phone showed the patient's own facility name. Assumption.
    pub known_name_factor: f64,
    /// Professionals report less. Assumption.
    pub professional_factor: f64,
}

impl Default for Reports {
    fn default() -> Reports {
        Reports {
            answered: 0.002,
            short: 0.05,
            unanswered: 0.009,
            labelled_factor: 2.0,
            sms_factor: 0.28,
            repeat_factor: 4.0,
            known_name_factor: 0.5,
            professional_factor: 0.2,
        }
    }
}

/// How anti-spam apps and community databases label a number. Each app sees its own
/// users' reports and the number's whole calling pattern; it labels at the end of a
/// day, so a label shows from the next day (research/dynamics.md §1.2, Hiya's one-day
/// lag).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Apps {
    /// Share of the people called who use each app (Orange Téléphone, Truecaller, the
    /// phone's own filter). Assumption (research/dynamics.md §6.2: 0.3–0.6 can report).
    pub user_shares: Vec<f64>,
    /// Reports from its users within the window that label a number. Assumption
    /// (research/dynamics.md §1.2: no engine publishes a threshold), set so that the
    /// baseline lands near the seed's 4–6 blacklisted numbers a month.
    pub reports_to_label: u32,
    /// Days of reports the app counts. research/dynamics.md §6.3 (EWMA over 7 days).
    pub report_window_days: u32,
    /// Calls in a day above which the pattern counts. research/dynamics.md §6.3
    /// (C_soft 100); research/market.md §2 (HUHU: over 100 a day "spammer").
    pub volume_calls_per_day: u32,
    /// With that volume, an answer rate below this labels. research/market.md §2
    /// (HUHU: pickup under 5 % looks like spam; set higher here, assumption).
    pub pattern_answer_rate_max: f64,
    /// With that volume, a share of short calls above this labels.
    /// research/dynamics.md §1.3 (sub-10 s connects); the share is an assumption.
    pub pattern_short_share_min: f64,
    /// Days without reports or pattern after which a label goes. research/dynamics.md
    /// §6.3 (half-life of 7–14 days; the value is an assumption).
    pub delabel_quiet_days: u32,
    /// Per app: whether the centre's external sources (a community database, a
    /// verification tool, polled by `[[sources]]`) see its labels. Assumption: the
    /// first app's labels reach a community database, the others' (a private app
    /// database, the phone's own filter) do not.
    pub visible_to_sources: Vec<bool>,
}

impl Default for Apps {
    fn default() -> Apps {
        Apps {
            user_shares: vec![0.30, 0.20, 0.15],
            reports_to_label: 6,
            report_window_days: 7,
            volume_calls_per_day: 100,
            pattern_answer_rate_max: 0.15,
            pattern_short_share_min: 0.30,
            delabel_quiet_days: 10,
            visible_to_sources: vec![true, false, false],
        }
    }
}

/// When calls are planned and whether their SMS arrives. Whether and when a call's
/// SMS goes is vigie-core's `plan_sms` (window 30 to 15 minutes before the call, quiet
/// hours, Sundays and holidays); a call it cannot announce in time is moved to the
/// earliest time it can (the `sms_announcement` rule's `next_allowed_at`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sms {
    /// Hour of the evening before at which the day's calls are planned. Assumption.
    pub planned_hour: u8,
    /// Share of calls planned less than the SMS window ahead (call-backs, same-day
    /// requests), uniformly within `late_planned_minutes`. Assumption.
    pub late_planned_share: f64,
    /// How late those are planned at most, in minutes before the call. Assumption.
    pub late_planned_minutes: u32,
    /// Share of SMS delivered. Assumption.
    pub delivered_share: f64,
}

impl Default for Sms {
    fn default() -> Sms {
        Sms { planned_hour: 18, late_planned_share: 0.10, late_planned_minutes: 15, delivered_share: 0.97 }
    }
}

/// What the policies do beyond the engine's rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policies {
    /// Cost of replacing a labelled number, in euros. Derived from the seed's table:
    /// €12,000 a year for 4–6 blacklisted numbers a month (about €200 each).
    pub replacement_cost_eur: f64,
    /// Numbers of the baseline's one shared pool. Assumption (100 calls a number a
    /// day, research/dynamics.md §1.3 "practical safe threshold" 75–100).
    pub baseline_numbers: u32,
    /// The baseline finds a label this many days after it shows, at the earliest.
    /// Seed table: detection 5–10 days before.
    pub baseline_detection_days_min: u32,
    /// At the latest. Seed table.
    pub baseline_detection_days_max: u32,
    /// Days after its quarantine at which a number that still fails vigie-core's
    /// clean check (an external source still lists it) is retired and replaced.
    /// Assumption (research/dynamics.md: delisting "typically clears within a few
    /// business days", 3–5 for Hiya).
    pub retire_after_days: u32,
    /// Numbers per pool over its expected calls at the healthy volume. Seed text
    /// ("approximately 150 active numbers ... with a safety margin").
    pub pool_headroom: f64,
}

impl Default for Policies {
    fn default() -> Policies {
        Policies {
            replacement_cost_eur: 200.0,
            baseline_numbers: 100,
            baseline_detection_days_min: 5,
            baseline_detection_days_max: 10,
            retire_after_days: 7,
            pool_headroom: 1.15,
        }
    }
}

/// A model file that could not be read; `key` names the field at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelError {
    /// The dotted key (`answer.plain`), or empty for a syntax error.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() { write!(f, "{}", self.message) } else { write!(f, "{}: {}", self.key, self.message) }
    }
}

impl std::error::Error for ModelError {}

impl Model {
    /// Reads a model: any subset of `model.toml`'s keys, the rest from the defaults.
    pub fn from_toml(text: &str) -> Result<Model, ModelError> {
        let value: toml::Value =
            toml::from_str(text).map_err(|e| ModelError { key: String::new(), message: e.to_string() })?;
        let model: Model = serde_path_to_error::deserialize(value)
            .map_err(|e| ModelError { key: e.path().to_string(), message: e.inner().to_string() })?;
        model.validate()?;
        Ok(model)
    }

    /// Checks what the simulator relies on.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |key: &str, message: &str| Err(ModelError { key: key.into(), message: message.into() });
        let m = &self.mix;
        if [m.reminders, m.results, m.coordination, m.surveys].iter().any(|s| !(0.0..=1.0).contains(s))
            || (m.reminders + m.results + m.coordination + m.surveys - 1.0).abs() > 1e-6
        {
            return bad("mix", "shares must lie in 0..1 and add up to 1");
        }
        let p = &self.population;
        if p.patients == 0 || p.professionals == 0 || p.facilities == 0 || p.zones == 0 || p.zones > 5 {
            return bad("population", "patients, professionals, facilities must be positive; zones 1 to 5");
        }
        if p.day_start_hour >= p.day_end_hour || p.day_end_hour > 24 {
            return bad("population.day_end_hour", "must be after day_start_hour and at most 24");
        }
        if self.apps.user_shares.iter().sum::<f64>() > 1.0 || self.apps.user_shares.iter().any(|s| *s < 0.0) {
            return bad("apps.user_shares", "shares must be non-negative and add up to at most 1");
        }
        if !(0.0..=1.0).contains(&p.saturday_share) {
            return bad("population.saturday_share", "must lie in 0..1");
        }
        if self.apps.visible_to_sources.len() > self.apps.user_shares.len() {
            return bad("apps.visible_to_sources", "must have at most one entry per app of user_shares");
        }
        let s = &self.sms;
        if s.planned_hour > 23 {
            return bad("sms.planned_hour", "must be 0 to 23");
        }
        if !(0.0..=1.0).contains(&s.late_planned_share) || !(0.0..=1.0).contains(&s.delivered_share) {
            return bad("sms", "late_planned_share and delivered_share must lie in 0..1");
        }
        if s.late_planned_minutes == 0 || s.late_planned_minutes > 24 * 60 {
            return bad("sms.late_planned_minutes", "must be 1 to 1440");
        }
        if self.apps.report_window_days == 0 {
            return bad("apps.report_window_days", "must be at least 1");
        }
        let q = &self.policies;
        if q.baseline_numbers == 0 {
            return bad("policies.baseline_numbers", "must be at least 1");
        }
        if q.retire_after_days == 0 {
            return bad("policies.retire_after_days", "must be at least 1");
        }
        if q.baseline_detection_days_max > 365 {
            return bad("policies.baseline_detection_days_max", "must be at most 365");
        }
        if q.baseline_detection_days_min > q.baseline_detection_days_max {
            return bad("policies.baseline_detection_days_min", "must be at most baseline_detection_days_max");
        }
        if q.pool_headroom < 1.0 {
            return bad("policies.pool_headroom", "must be at least 1");
        }
        Ok(())
    }
}
