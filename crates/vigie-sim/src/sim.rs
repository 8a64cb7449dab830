//! The day loop: calls drawn from the model and planned through vigie-core's calling
//! rules (`check_call`) and SMS timing (`plan_sms`), placed on numbers by the policy
//! (the seed's pools through vigie-core's own `PoolState`, or the baseline's round
//! robin), outcomes and reports drawn from the model, the server's monitoring on those
//! outcomes (`watch.rs`), incidents opened and closed by vigie-core's `Incident` and
//! `Playbook`, apps labelling numbers at the end of each day.
//!
//! Deterministic: one ChaCha8 stream from the seed, numbers and people in vectors, no
//! hash-map iteration. A broken invariant ends the run with an error naming the seed,
//! so the run can be replayed.

use jiff::civil::{Weekday, date};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vigie_core::{
    ANNOUNCED_PURPOSES, AlarmAction, BloctelState, Calendar, CallContext, CallSignal, CallSpec, Catalog,
    ComplianceRules, Date, DesignError, E164, FacilityId, Incident, IncidentTrigger, NumberId, NumberSlot,
    NumberStatus, Outcome, Playbook, PoolState, Purpose, PurposeClass, RuleRefusal, SignedDuration, SipCode, SmsPlan,
    SmsTiming, Territory, Timestamp, add_days, check_call, next, plan_sms,
};

use crate::model::Model;
use crate::report::{DayFigures, Report, Summary};
use crate::watch::Watch;

mod incidents;

/// The first simulated day (a Monday).
pub const START_DAY: Date = date(2026, 1, 5);

/// The seed's purposes, in the order of the model's mix.
const PURPOSES: [&str; 4] = ["appointment_reminder", "results_followup", "coordination", "satisfaction_survey"];
/// Their classes for the calling rules, as vigie-store's defaults set them.
const CLASSES: [PurposeClass; 4] =
    [PurposeClass::Care, PurposeClass::Care, PurposeClass::Care, PurposeClass::SurveyPure];
/// Coordination calls go to professionals.
const COORDINATION: usize = 2;
/// The baseline's one shared pool.
const BASELINE_POOL: &str = "ALL";
/// Who the simulator records as closing incidents and doing playbook steps.
const ACTOR: &str = "vigie-sim";

/// The policies the simulator compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// One shared pool, round robin, no caps, no SMS, plain numbers, labels found late.
    Baseline,
    /// The seed's practices: four pools under vigie-core's rules, facility names, SMS,
    /// quarantine on two reports a day, community databases polled, the pool's answer
    /// rate watched.
    Seed,
    /// The seed's practices plus Vigie's own: each number's CUSUM chart quarantines a
    /// number whose calls go bad, and a patient's calls of a pool stay on one number
    /// (affinity).
    Vigie,
}

impl PolicyKind {
    /// Every policy.
    pub const ALL: [PolicyKind; 3] = [PolicyKind::Baseline, PolicyKind::Seed, PolicyKind::Vigie];

    /// The policy's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Baseline => "baseline",
            PolicyKind::Seed => "seed",
            PolicyKind::Vigie => "vigie",
        }
    }

    /// Parses a policy's name.
    pub fn parse(text: &str) -> Option<PolicyKind> {
        PolicyKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// How a policy finds that an app labels one of its numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Detection {
    /// By hand, uniformly between these many days after the label shows; the number
    /// is then retired and replaced (the seed's "before").
    Late {
        /// At the earliest.
        min_days: u32,
        /// At the latest.
        max_days: u32,
    },
    /// vigie-core's monitoring: external sources polled every hour (a label of an app
    /// they see quarantines the number), the pool's chart (alerts), and, when
    /// `number_charts`, each number's chart (an alarm quarantines the number).
    Monitor {
        /// Each number's CUSUM chart quarantines on its alarm.
        number_charts: bool,
    },
}

/// What a policy does; built from a [`PolicyKind`] and changed field by field for
/// experiments (for example the seed without SMS).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySpec {
    /// Its name in reports.
    pub name: String,
    /// The seed's pools under vigie-core's engine, or else one round-robin pool.
    pub engine: bool,
    /// Patient calls announced by SMS.
    pub sms: bool,
    /// Numbers registered with the facility's name.
    pub branded: bool,
    /// A patient's next call of a pool prefers the number that last called them.
    pub affinity: bool,
    /// Numbers quarantined on the day's reports (vigie-core's rule).
    pub quarantine_on_reports: bool,
    /// How labels are found.
    pub detection: Detection,
}

impl PolicySpec {
    /// The policy as the model describes it.
    pub fn of(kind: PolicyKind, model: &Model) -> PolicySpec {
        let p = &model.policies;
        let name = kind.as_str().to_string();
        match kind {
            PolicyKind::Baseline => PolicySpec {
                name,
                engine: false,
                sms: false,
                branded: false,
                affinity: false,
                quarantine_on_reports: false,
                detection: Detection::Late {
                    min_days: p.baseline_detection_days_min,
                    max_days: p.baseline_detection_days_max,
                },
            },
            PolicyKind::Seed | PolicyKind::Vigie => PolicySpec {
                name,
                engine: true,
                sms: true,
                branded: true,
                affinity: kind == PolicyKind::Vigie,
                quarantine_on_reports: true,
                detection: Detection::Monitor { number_charts: kind == PolicyKind::Vigie },
            },
        }
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// vigie-core's `check_invariants`, an incident's rules or the simulator's own
    /// bookkeeping failed: the run is replayed with the same seed.
    #[error("invariant broken on {day} under policy {policy} (seed {seed}, replay with --seed {seed}): {what}")]
    Invariant {
        /// The seed of the run.
        seed: u64,
        /// The policy's name.
        policy: String,
        /// The simulated day.
        day: Date,
        /// What broke.
        what: String,
    },
    /// The monitoring charts could not be designed for a pool.
    #[error("the monitoring charts cannot be designed: {0}")]
    Design(#[from] DesignError),
}

/// A patient or professional.
#[derive(Debug, Clone)]
struct Person {
    facility: usize,
    zone: u8,
    app: Option<usize>,
    professional: bool,
    /// Their phone shows a registered caller name.
    sees_names: bool,
    /// Their two latest calls, newest first.
    recent: [Option<Timestamp>; 2],
    /// The number that last called them, per purpose.
    last_number: [Option<NumberId>; 4],
    /// The number of the latest call they answered.
    answered_by: Option<NumberId>,
}

/// A number as the simulated world sees it.
#[derive(Debug, Clone)]
struct Number {
    pool: usize,
    facility: usize,
    zone: u8,
    e164: E164,
    status: NumberStatus,
    /// Per app: since when it labels the number.
    labelled_since: Vec<Option<Timestamp>>,
    /// Per app: days in a row with no reports and no suspect pattern while labelled.
    quiet_days: Vec<u32>,
    /// Per app: its users' reports per day, a ring over the app's window.
    reports: Vec<Vec<u32>>,
    /// When the first of its current labels showed.
    first_label: Option<Timestamp>,
    /// Today's calls, answered calls, short calls, and reports the centre heard of.
    calls: u32,
    answered: u32,
    short: u32,
    reports_today: u32,
    /// The first report the centre heard of today.
    first_report_today: Option<Timestamp>,
}

impl Number {
    fn labelled_at(&self, app: usize, at: Timestamp) -> bool {
        self.labelled_since[app].is_some_and(|t| t <= at)
    }
}

/// An incident the policy has open, with the day it was opened.
struct Case {
    number: NumberId,
    incident: Incident,
}

/// How calls find a number.
enum Placer {
    RoundRobin { ids: Vec<NumberId>, cursor: usize },
    Engine { pools: Vec<PoolState>, by_purpose: [usize; 4] },
}

/// A call of the day, once the calling rules and the SMS timing have had their say.
#[derive(Debug, Clone, Copy)]
struct Planned {
    dial_at: Timestamp,
    purpose: usize,
    person: usize,
    announced: bool,
}

struct Sim<'a> {
    model: &'a Model,
    spec: &'a PolicySpec,
    seed: u64,
    rng: ChaCha8Rng,
    cal: Calendar,
    rules: ComplianceRules,
    timing: SmsTiming,
    playbook: Playbook,
    facilities: Vec<FacilityId>,
    purposes: [Purpose; 4],
    people: Vec<Person>,
    numbers: Vec<Number>,
    placer: Placer,
    /// Per engine pool, the server's monitoring (empty under late detection).
    watches: Vec<Watch>,
    /// Open incidents, oldest first.
    cases: Vec<Case>,
    /// Incidents opened today: judged at the end of the day (was the number labelled?).
    opened_today: Vec<(NumberId, SignedDuration)>,
    /// Late findings to act on, latest first (popped from the end).
    pending: Vec<(Timestamp, NumberId)>,
    today: DayFigures,
    day_index: u32,
    /// Passed calls of vigie-core's `check_invariants`.
    checks: u64,
}

/// Runs `days` days of `policy` from `seed` and measures them.
pub fn run(model: &Model, policy: &PolicySpec, seed: u64, days: u32) -> Result<Report, SimError> {
    run_with_progress(model, policy, seed, days, &mut |_| {})
}

/// [`run`], calling `on_day` with the number of days done after each day.
pub fn run_with_progress(
    model: &Model,
    policy: &PolicySpec,
    seed: u64,
    days: u32,
    on_day: &mut dyn FnMut(u32),
) -> Result<Report, SimError> {
    let mut sim = Sim::new(model, policy, seed)?;
    let mut figures = Vec::with_capacity(days as usize);
    let mut day = START_DAY;
    for done in 0..days {
        sim.day_index = done;
        figures.push(sim.day(day)?);
        on_day(done + 1);
        day = next(day);
    }
    let summary = Summary::of(&policy.name, &figures);
    Ok(Report { seed, days: figures, summary, invariant_checks: sim.checks })
}

impl<'a> Sim<'a> {
    fn new(model: &'a Model, spec: &'a PolicySpec, seed: u64) -> Result<Sim<'a>, SimError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let pop = &model.population;
        let facilities = (0..pop.facilities)
            .map(|i| {
                FacilityId::parse(&format!("facility-{i}"))
                    .unwrap_or_else(|e| unreachable!("a generated facility name is valid: {e}"))
            })
            .collect();
        let purposes =
            PURPOSES.map(|p| Purpose::parse(p).unwrap_or_else(|e| unreachable!("a seed purpose is valid: {e}")));
        let shares = &model.apps.user_shares;
        let name_shown = model.answer.name_shown_share.clamp(0.0, 1.0);
        let person = |professional: bool, rng: &mut ChaCha8Rng| {
            let draw: f64 = rng.random();
            let mut acc = 0.0;
            let app = shares.iter().position(|s| {
                acc += s;
                draw < acc
            });
            Person {
                facility: rng.random_range(0..pop.facilities as usize),
                zone: rng.random_range(1..=pop.zones),
                app,
                professional,
                sees_names: rng.random_bool(name_shown),
                recent: [None; 2],
                last_number: [None; 4],
                answered_by: None,
            }
        };
        let mut people = Vec::with_capacity((pop.patients + pop.professionals) as usize);
        for _ in 0..pop.patients {
            people.push(person(false, &mut rng));
        }
        for _ in 0..pop.professionals {
            people.push(person(true, &mut rng));
        }
        let placer = if spec.engine {
            let catalog = Catalog::seed_defaults();
            let mut by_purpose = [0; 4];
            let mut pools = Vec::new();
            for (i, purpose) in purposes.iter().enumerate() {
                let def =
                    catalog.pool_for(purpose).unwrap_or_else(|| unreachable!("the seed serves {purpose}")).clone();
                by_purpose[i] = pools.len();
                pools.push(PoolState::new(def));
            }
            Placer::Engine { pools, by_purpose }
        } else {
            Placer::RoundRobin { ids: Vec::new(), cursor: 0 }
        };
        let mut sim = Sim {
            model,
            spec,
            seed,
            rng,
            cal: Calendar::paris(),
            rules: ComplianceRules::default(),
            timing: SmsTiming::default(),
            playbook: Playbook::default(),
            facilities,
            purposes,
            people,
            numbers: Vec::new(),
            placer,
            watches: Vec::new(),
            cases: Vec::new(),
            opened_today: Vec::new(),
            pending: Vec::new(),
            today: DayFigures::default(),
            day_index: 0,
            checks: 0,
        };
        sim.provision();
        if let (Placer::Engine { pools, .. }, Detection::Monitor { .. }) = (&sim.placer, spec.detection) {
            for pool in pools {
                let active = pool.numbers().iter().filter(|n| n.status == NumberStatus::Active).count();
                let active = u32::try_from(active).unwrap_or(u32::MAX);
                sim.watches.push(Watch::new(pool.def(), active, sim.cal.clone(), sim.purposes.clone())?);
            }
        }
        Ok(sim)
    }

    /// The numbers a policy starts with.
    fn provision(&mut self) {
        let pop = &self.model.population;
        let (facilities, zones) = (pop.facilities as usize, usize::from(pop.zones));
        let identity = |i: usize| (i % facilities, u8::try_from((i / facilities) % zones + 1).unwrap_or(1));
        let per_pool: Vec<usize> = match &self.placer {
            Placer::RoundRobin { .. } => vec![self.model.policies.baseline_numbers as usize],
            Placer::Engine { pools, .. } => {
                let m = &self.model.mix;
                let shares = [m.reminders, m.results, m.coordination, m.surveys];
                pools
                    .iter()
                    .zip(shares)
                    .map(|(pool, share)| {
                        let calls = f64::from(pop.calls_per_day) * share;
                        let healthy = f64::from(pool.def().policy.healthy_calls_per_day);
                        ((calls / healthy * self.model.policies.pool_headroom).ceil() as usize).max(2)
                    })
                    .collect()
            }
        };
        for (pool, count) in per_pool.into_iter().enumerate() {
            for i in 0..count {
                let (facility, zone) = identity(i);
                self.add_number(pool, facility, zone);
            }
        }
    }

    /// A new number in `pool` (at the start, a promotion, or a replacement).
    fn add_number(&mut self, pool: usize, facility: usize, zone: u8) -> NumberId {
        let apps = self.model.apps.user_shares.len();
        let window = self.model.apps.report_window_days as usize;
        let id = NumberId(self.numbers.len() as i64);
        // A geographic number of the facility's zone: 0Z 4x xx xx xx.
        let e164 = E164::parse(&format!("+33{zone}4{:07}", id.0))
            .unwrap_or_else(|e| unreachable!("a generated number is valid: {e}"));
        self.numbers.push(Number {
            pool,
            facility,
            zone,
            e164: e164.clone(),
            status: NumberStatus::Active,
            labelled_since: vec![None; apps],
            quiet_days: vec![0; apps],
            reports: vec![vec![0; window]; apps],
            first_label: None,
            calls: 0,
            answered: 0,
            short: 0,
            reports_today: 0,
            first_report_today: None,
        });
        match &mut self.placer {
            Placer::RoundRobin { ids, .. } => ids.push(id),
            Placer::Engine { pools, .. } => pools[pool].add_number(NumberSlot {
                id,
                e164,
                display_name: self.facilities[facility].to_string(),
                status: NumberStatus::Active,
                facility: Some(self.facilities[facility].clone()),
                zone: Some(zone),
                last_used: None,
                rests: Vec::new(),
            }),
        }
        id
    }

    fn set_status(&mut self, id: NumberId, status: NumberStatus) {
        let n = &mut self.numbers[id.0 as usize];
        n.status = status;
        match &mut self.placer {
            Placer::RoundRobin { ids, .. } => {
                if status == NumberStatus::Retired {
                    ids.retain(|&i| i != id);
                }
            }
            Placer::Engine { pools, .. } => pools[n.pool].set_status(id, status),
        }
    }

    fn broken(&self, what: String) -> SimError {
        SimError::Invariant {
            seed: self.seed,
            policy: self.spec.name.clone(),
            day: self.today.day.unwrap_or(START_DAY),
            what,
        }
    }

    /// One day: incidents closed in the morning, the sources' polls, its calls in time
    /// order, then the apps' labels and the invariant checks.
    fn day(&mut self, day: Date) -> Result<DayFigures, SimError> {
        self.today = DayFigures { day: Some(day), ..DayFigures::default() };
        let opening =
            self.cal.start_of(day) + SignedDuration::from_hours(i64::from(self.model.population.day_start_hour));
        self.close_incidents(opening)?;
        self.poll_sources(day)?;
        for call in self.plan_calls(day) {
            self.act_on_findings(call.dial_at)?;
            match self.place(call.purpose, call.person, call.dial_at) {
                Some(number) => self.call(number, &call)?,
                None => self.today.unplaced += 1,
            }
        }
        self.act_on_findings(self.cal.end_of(day) - SignedDuration::from_secs(1))?;
        self.end_of_day(day);
        self.check(day)?;
        Ok(std::mem::take(&mut self.today))
    }

    /// The day's calls, in time order: drawn from the model on the centre's days
    /// (weekdays, and Saturdays at the model's share), each dial time checked by
    /// vigie-core's calling rules and, for an announced purpose under an SMS policy,
    /// its SMS planned by vigie-core's `plan_sms` from when the call was planned.
    fn plan_calls(&mut self, day: Date) -> Vec<Planned> {
        let pop = &self.model.population;
        let volume = match day.weekday() {
            Weekday::Sunday => 0.0,
            Weekday::Saturday => f64::from(pop.calls_per_day) * pop.saturday_share,
            _ => f64::from(pop.calls_per_day),
        };
        let start = self.cal.start_of(day);
        let opening = start + SignedDuration::from_hours(i64::from(pop.day_start_hour));
        // A day the calling rules close from its opening (a public holiday) is not
        // planned at all.
        let closed = self
            .rule_refusal(CLASSES[0], opening)
            .is_some_and(|r| r.next_allowed_at.is_none_or(|at| self.cal.day_of(at) != day));
        if volume <= 0.0 || closed {
            return Vec::new();
        }
        let (from, to) = (i64::from(pop.day_start_hour) * 3600, i64::from(pop.day_end_hour) * 3600);
        let m = &self.model.mix;
        let bounds = [m.reminders, m.reminders + m.results, m.reminders + m.results + m.coordination];
        let (patients, professionals) = (pop.patients as usize, pop.professionals as usize);
        let sms = &self.model.sms;
        let evening = self.cal.start_of(add_days(day, -1)) + SignedDuration::from_hours(i64::from(sms.planned_hour));
        let late_secs = i64::from(sms.late_planned_minutes) * 60;
        let mut calls = Vec::with_capacity(volume as usize);
        for _ in 0..volume.round() as u64 {
            let draw: f64 = self.rng.random();
            let purpose = bounds.iter().position(|b| draw < *b).unwrap_or(3);
            let person = if purpose == COORDINATION {
                patients + self.rng.random_range(0..professionals)
            } else {
                self.rng.random_range(0..patients)
            };
            let mut dial_at = start + SignedDuration::from_secs(self.rng.random_range(from..to));
            let mut announced = false;
            let announces =
                self.spec.sms && !self.people[person].professional && ANNOUNCED_PURPOSES.contains(&PURPOSES[purpose]);
            if announces {
                let planned_at = if self.rng.random_bool(sms.late_planned_share) {
                    dial_at - SignedDuration::from_secs(self.rng.random_range(1..=late_secs))
                } else {
                    evening
                };
                // A call the SMS cannot announce in time is refused by the
                // `sms_announcement` rule; the dialer places it again at the earliest
                // time that can be announced, if that is still today.
                let earliest = match plan_sms(dial_at, planned_at, Territory::Metropolitan, &self.timing) {
                    SmsPlan::SendAt(_) => Some(dial_at),
                    SmsPlan::DialNotBefore(at) => Some(at),
                    SmsPlan::CannotAnnounce(u) => u.earliest_dial_at,
                };
                match earliest {
                    Some(at) if self.cal.day_of(at) == day => {
                        if at != dial_at {
                            self.today.moved_for_sms += 1;
                            dial_at = at;
                        }
                        announced = self.rng.random_bool(sms.delivered_share);
                        self.today.sms_sent += 1;
                    }
                    _ => {
                        self.today.deferred += 1;
                        continue;
                    }
                }
            }
            match self.rule_refusal(CLASSES[purpose], dial_at) {
                None => {}
                Some(RuleRefusal { next_allowed_at: Some(at), .. }) if self.cal.day_of(at) == day => dial_at = at,
                Some(_) => {
                    self.today.deferred += 1;
                    continue;
                }
            }
            calls.push(Planned { dial_at, purpose, person, announced });
        }
        calls.sort_by_key(|c| c.dial_at);
        calls
    }

    /// vigie-core's calling rules on a care call or pure survey to a metropolitan
    /// patient (no attempts, refusals or consents: those concern solicitation only).
    fn rule_refusal(&self, class: PurposeClass, dial_at: Timestamp) -> Option<RuleRefusal> {
        let ctx = CallContext {
            class,
            dial_at,
            territory: Territory::Metropolitan,
            attempts: &[],
            last_refusal: None,
            bloctel: BloctelState::default(),
            consents: &[],
            care_hours: None,
        };
        check_call(&ctx, &self.rules).err()
    }

    /// The number for a call, or `None` when no number may take it even after a
    /// promotion.
    fn place(&mut self, purpose: usize, person: usize, dial_at: Timestamp) -> Option<NumberId> {
        let p = &self.people[person];
        let (facility, zone) = (p.facility, p.zone);
        let affinity = if self.spec.affinity { p.last_number[purpose] } else { None };
        let pool = match &mut self.placer {
            Placer::RoundRobin { ids, cursor } => {
                let n = ids.len();
                for _ in 0..n {
                    let id = ids[*cursor % n];
                    *cursor = (*cursor + 1) % n;
                    if self.numbers[id.0 as usize].status == NumberStatus::Active {
                        return Some(id);
                    }
                }
                return None;
            }
            Placer::Engine { by_purpose, .. } => by_purpose[purpose],
        };
        for attempt in 0..2 {
            let Placer::Engine { pools, .. } = &mut self.placer else { return None };
            let call = CallSpec { facility: &self.facilities[facility], patient_zone: Some(zone), affinity, dial_at };
            if let Ok(alloc) = pools[pool].allocate(&call, &self.cal, dial_at) {
                return Some(alloc.number);
            }
            if attempt == 0 {
                // The pool is short: promote a reserve number of the call's identity.
                self.add_number(pool, facility, zone);
                self.today.promoted += 1;
            }
        }
        None
    }

    /// Draws a placed call's outcome, records it, and hands it to the monitoring.
    fn call(&mut self, id: NumberId, planned: &Planned) -> Result<(), SimError> {
        let Planned { dial_at, purpose, person, announced } = *planned;
        let (a, r) = (&self.model.answer, &self.model.reports);
        let p = &self.people[person];
        let n = &self.numbers[id.0 as usize];
        let labelled = p.app.is_some_and(|app| n.labelled_at(app, dial_at));
        let known = !labelled && self.spec.branded && n.facility == p.facility && p.sees_names;
        let third =
            p.recent.iter().all(|t| t.is_some_and(|t| dial_at.duration_since(t) < SignedDuration::from_hours(24)));
        let recognised = p.answered_by == Some(id);
        let professional = p.professional;
        let app = p.app;

        let share = |x: f64| x.clamp(0.0, 1.0);
        let rejected = labelled && self.rng.random_bool(share(a.labelled_rejected_share));
        let (mut answered, mut short, mut reported, mut told) = (false, false, false, false);
        if !rejected {
            let mut pa = if labelled {
                a.labelled
            } else if known {
                a.known_name
            } else {
                a.plain
            };
            let morning = self.cal.tz().to_datetime(dial_at).hour() < 12;
            pa *= if morning { a.morning_factor } else { a.afternoon_factor };
            for (applies, factor) in
                [(professional, a.professional_factor), (announced, a.sms_factor), (recognised, a.recognised_factor)]
            {
                if applies {
                    pa *= factor;
                }
            }
            answered = self.rng.random_bool(pa.clamp(0.0, 0.95));
            let short_share = if labelled { a.short_share_labelled } else { a.short_share };
            short = answered && self.rng.random_bool(share(short_share));
            let mut pr = if !answered {
                r.unanswered
            } else if short {
                r.short
            } else {
                r.answered
            };
            for (applies, factor) in [
                (labelled, r.labelled_factor),
                (announced, r.sms_factor),
                (third, r.repeat_factor),
                (known, r.known_name_factor),
                (professional, r.professional_factor),
            ] {
                if applies {
                    pr *= factor;
                }
            }
            reported = self.rng.random_bool(share(pr));
            told = answered && labelled && self.rng.random_bool(share(a.agent_told_share));
        }
        let signal = self.signal(dial_at, labelled, rejected, answered, short, told);

        let t = &mut self.today;
        t.calls += 1;
        t.answered += u64::from(answered);
        t.announced += u64::from(announced);
        t.shown_labelled += u64::from(labelled);
        t.rejected += u64::from(rejected);
        t.spam_reports += u64::from(reported);
        t.shown_as_spam += u64::from(told);
        let slot = self.day_index as usize % self.model.apps.report_window_days as usize;
        let n = &mut self.numbers[id.0 as usize];
        n.calls += 1;
        n.answered += u32::from(answered);
        n.short += u32::from(short);
        let heard = u32::from(reported) + u32::from(told);
        if heard > 0 {
            n.reports_today += heard;
            n.first_report_today.get_or_insert(dial_at);
        }
        if reported && let Some(app) = app {
            n.reports[app][slot] += 1;
        }
        let p = &mut self.people[person];
        p.recent = [Some(dial_at), p.recent[0]];
        p.last_number[purpose] = Some(id);
        if answered {
            p.answered_by = Some(id);
        }
        if heard > 0 && self.spec.quarantine_on_reports {
            self.on_report(id, dial_at)?;
        }
        self.monitor(id, purpose, &signal)
    }

    /// What the dialer reports of a call: its outcome, ring time, SIP code, talk time
    /// and the agent's note, drawn from the model's rates.
    fn signal(
        &mut self,
        at: Timestamp,
        labelled: bool,
        rejected: bool,
        answered: bool,
        short: bool,
        told: bool,
    ) -> CallSignal {
        let a = &self.model.answer;
        if answered {
            let duration = if short { self.rng.random_range(2..10) } else { self.rng.random_range(30..400) };
            return CallSignal {
                duration_secs: Some(duration),
                shown_as_spam: Some(told),
                ring_ms: Some(self.rng.random_range(2_000..15_000)),
                ..CallSignal::new(at, Outcome::Answered)
            };
        }
        let unwanted = rejected || self.rng.random_bool(a.rejected_share.clamp(0.0, 1.0));
        if unwanted {
            let code = if self.rng.random_bool(0.5) { SipCode::UNWANTED } else { SipCode::REJECTED };
            return CallSignal {
                sip_code: Some(code),
                ring_ms: Some(self.rng.random_range(0..1_000)),
                ..CallSignal::new(at, Outcome::Refused)
            };
        }
        let quick = if labelled { a.quick_end_share_labelled } else { a.quick_end_share };
        let (code, ring) = if self.rng.random_bool(quick.clamp(0.0, 1.0)) {
            (486, self.rng.random_range(0..2_000))
        } else {
            (480, self.rng.random_range(20_000..40_000))
        };
        CallSignal {
            sip_code: SipCode::new(code).ok(),
            ring_ms: Some(ring),
            ..CallSignal::new(at, if code == 486 { Outcome::Busy } else { Outcome::NoAnswer })
        }
    }

    /// The server's monitoring of one outcome: the pool's chart alerts, the number's
    /// chart (when the policy runs it) quarantines.
    fn monitor(&mut self, id: NumberId, purpose: usize, signal: &CallSignal) -> Result<(), SimError> {
        let Detection::Monitor { number_charts } = self.spec.detection else { return Ok(()) };
        let n = &self.numbers[id.0 as usize];
        let in_service = number_charts && n.status == NumberStatus::Active;
        let Some(watch) = self.watches.get_mut(n.pool) else { return Ok(()) };
        let (pool_alarm, number_alarm) = watch.observe(id, purpose, signal, in_service);
        self.today.pool_alerts += u64::from(pool_alarm.is_some());
        if let Some(alarm) = number_alarm
            && alarm.action == AlarmAction::Quarantine
            && self.quarantine(id, IncidentTrigger::AnswerRateDrop, alarm.evidence.run_started_at, alarm.at)?
        {
            self.today.chart_quarantines += 1;
        }
        Ok(())
    }

    /// The apps' labels, the day's counters, the monitoring's baselines, the engine's
    /// history kept to what the rules read.
    fn end_of_day(&mut self, day: Date) {
        let apps = &self.model.apps;
        let window = apps.report_window_days as usize;
        let slot = self.day_index as usize % window;
        let tomorrow = next(day);
        let label_at = self.cal.start_of(tomorrow);
        for i in 0..self.numbers.len() {
            let n = &mut self.numbers[i];
            if n.status == NumberStatus::Retired {
                continue;
            }
            let pattern = n.calls >= apps.volume_calls_per_day
                && (f64::from(n.answered) < apps.pattern_answer_rate_max * f64::from(n.calls)
                    || f64::from(n.short) >= apps.pattern_short_share_min * f64::from(n.answered.max(1)));
            let mut newly = false;
            for app in 0..n.labelled_since.len() {
                let recent: u32 = n.reports[app].iter().sum();
                let trouble = pattern || n.reports[app][slot] > 0;
                if n.labelled_since[app].is_none() {
                    if pattern || recent >= apps.reports_to_label {
                        n.labelled_since[app] = Some(label_at);
                        n.quiet_days[app] = 0;
                        newly = true;
                    }
                } else if trouble {
                    n.quiet_days[app] = 0;
                } else {
                    n.quiet_days[app] += 1;
                    if n.quiet_days[app] >= apps.delabel_quiet_days {
                        n.labelled_since[app] = None;
                    }
                }
                n.reports[app][(slot + 1) % window] = 0;
            }
            if n.labelled_since.iter().all(Option::is_none) {
                n.first_label = None;
            } else if newly && n.first_label.is_none() {
                n.first_label = Some(label_at);
                self.today.labelled += 1;
                if let Detection::Late { min_days, max_days } = self.spec.detection {
                    let hours = self.rng.random_range(min_days * 24..=max_days * 24);
                    self.pending.push((label_at + SignedDuration::from_hours(i64::from(hours)), NumberId(i as i64)));
                }
            }
            (n.calls, n.answered, n.short, n.reports_today, n.first_report_today) = (0, 0, 0, 0, None);
        }
        self.pending.sort_by(|a, b| b.cmp(a));
        // Today's incidents: each one's time to detect (vigie-core's, from the first
        // evidence to the quarantine); a number labelled by now was caught as it was
        // labelled, one that is not was caught before any app labelled it (or was a
        // chart's false alarm).
        for (id, detect) in std::mem::take(&mut self.opened_today) {
            self.today.detection_hours += detect.as_secs_f64().max(0.0) / 3600.0;
            if self.numbers[id.0 as usize].first_label.is_some() {
                self.today.detected += 1;
            } else {
                self.today.cleared += 1;
            }
        }
        for watch in &mut self.watches {
            watch.end_of_day();
        }
        if let Placer::Engine { pools, .. } = &mut self.placer {
            for pool in pools {
                pool.trim_history(tomorrow, &self.cal);
            }
        }
    }

    /// vigie-core's invariants on every pool, and the simulator's own bookkeeping.
    fn check(&mut self, day: Date) -> Result<(), SimError> {
        let mut checks = 0;
        match &self.placer {
            Placer::Engine { pools, .. } => {
                for pool in pools {
                    if let Err(e) = pool.check_invariants(&self.cal) {
                        return Err(self.broken(format!("pool {}: {e}", pool.def().code)));
                    }
                    checks += 1;
                    let placed: u32 = pool.numbers().iter().map(|n| pool.calls_on(n.id, day)).sum();
                    if placed > pool.total_on(day) {
                        return Err(
                            self.broken(format!("pool {} holds {placed} calls, over its total", pool.def().code))
                        );
                    }
                    for slot in pool.numbers() {
                        if slot.status != self.numbers[slot.id.0 as usize].status {
                            return Err(self.broken(format!("{} differs between the engine and the world", slot.e164)));
                        }
                    }
                }
                let placed: u64 = pools.iter().map(|p| u64::from(p.total_on(day))).sum();
                if placed != self.today.calls {
                    return Err(self.broken(format!("the pools hold {placed} calls, the day {}", self.today.calls)));
                }
            }
            Placer::RoundRobin { ids, .. } => {
                if ids.iter().any(|id| self.numbers[id.0 as usize].status == NumberStatus::Retired) {
                    return Err(self.broken("a retired number is still in the rotation".into()));
                }
            }
        }
        for case in &self.cases {
            if self.numbers[case.number.0 as usize].status != NumberStatus::Quarantined {
                return Err(
                    self.broken(format!("{} has an open incident but is not quarantined", case.incident.number))
                );
            }
        }
        self.checks += checks;
        Ok(())
    }
}
