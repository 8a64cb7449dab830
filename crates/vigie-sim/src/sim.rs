//! The day loop: calls drawn from the model, placed on numbers by the policy (the
//! seed's pools through vigie-core's own `PoolState`, or the baseline's round robin),
//! outcomes and reports drawn from the model, apps labelling numbers at the end of
//! each day, the policy finding labels and replacing numbers.
//!
//! Deterministic: one ChaCha8 stream from the seed, numbers and people in vectors, no
//! hash-map iteration. A broken invariant panics with the seed, so the run can be
//! replayed.

use jiff::civil::date;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vigie_core::{
    Calendar, CallSpec, Catalog, Date, E164, FacilityId, NumberId, NumberSlot, NumberStatus, PoolState, Purpose,
    SignedDuration, Timestamp, add_days, next, reports_quarantine,
};

use crate::model::Model;
use crate::report::{DayFigures, Report, Summary};

/// The first simulated day (a Monday).
pub const START_DAY: Date = date(2026, 1, 5);

/// The seed's purposes, in the order of the model's mix.
const PURPOSES: [&str; 4] = ["appointment_reminder", "results_followup", "coordination", "satisfaction_survey"];
/// Coordination calls go to professionals and are not announced by SMS.
const COORDINATION: usize = 2;

/// The policies the simulator compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// One shared pool, round robin, no caps, no SMS, plain numbers, labels found late.
    Baseline,
    /// The seed's practices: four pools under vigie-core's rules, facility names, SMS,
    /// quarantine on two reports a day, labels found within hours.
    Seed,
    /// The seed's practices plus Vigie's own: a patient's calls of a pool stay on one
    /// number (affinity), and its monitor finds labels sooner.
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

/// When a policy finds that an app labels one of its numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Detection {
    /// Uniformly between these many days after the label shows.
    Days {
        /// At the earliest.
        min: u32,
        /// At the latest.
        max: u32,
    },
    /// Uniformly within these many hours.
    Hours(f64),
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
    /// Numbers quarantined on the pool's reports a day (vigie-core's rule).
    pub quarantine_on_reports: bool,
    /// How soon labels are found.
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
                detection: Detection::Days { min: p.baseline_detection_days_min, max: p.baseline_detection_days_max },
            },
            PolicyKind::Seed | PolicyKind::Vigie => PolicySpec {
                name,
                engine: true,
                sms: true,
                branded: true,
                affinity: kind == PolicyKind::Vigie,
                quarantine_on_reports: true,
                detection: Detection::Hours(if kind == PolicyKind::Vigie {
                    p.vigie_detection_hours
                } else {
                    p.seed_detection_hours
                }),
            },
        }
    }
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
    /// The day a quarantine on reports ends.
    back_on: Option<Date>,
}

/// How calls find a number.
enum Placer {
    RoundRobin { ids: Vec<NumberId>, cursor: usize },
    Engine { pools: Vec<PoolState>, by_purpose: [usize; 4] },
}

struct Sim<'a> {
    model: &'a Model,
    spec: &'a PolicySpec,
    seed: u64,
    rng: ChaCha8Rng,
    cal: Calendar,
    facilities: Vec<FacilityId>,
    people: Vec<Person>,
    numbers: Vec<Number>,
    placer: Placer,
    /// Label findings to act on, latest first (popped from the end).
    pending: Vec<(Timestamp, NumberId)>,
    today: DayFigures,
    /// Passed calls of vigie-core's `check_invariants`.
    checks: u64,
}

/// Runs `days` days of `policy` from `seed` and measures them.
///
/// Panics, naming the seed, when vigie-core's `check_invariants` or the simulator's
/// own bookkeeping fails after a day.
pub fn run(model: &Model, policy: &PolicySpec, seed: u64, days: u32) -> Report {
    let mut sim = Sim::new(model, policy, seed);
    let mut figures = Vec::with_capacity(days as usize);
    let mut day = START_DAY;
    for day_index in 0..days {
        figures.push(sim.day(day, day_index));
        day = next(day);
    }
    let summary = Summary::of(&policy.name, &figures);
    Report { seed, days: figures, summary, invariant_checks: sim.checks }
}

impl<'a> Sim<'a> {
    fn new(model: &'a Model, spec: &'a PolicySpec, seed: u64) -> Sim<'a> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let pop = &model.population;
        let facilities = (0..pop.facilities)
            .map(|i| {
                FacilityId::parse(&format!("facility-{i}"))
                    .unwrap_or_else(|e| panic!("a generated facility name is valid: {e}"))
            })
            .collect();
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
            for (i, name) in PURPOSES.iter().enumerate() {
                let purpose = Purpose::parse(name).unwrap_or_else(|e| panic!("a seed purpose is valid: {e}"));
                let def = catalog.pool_for(&purpose).unwrap_or_else(|| panic!("the seed serves {name}")).clone();
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
            facilities,
            people,
            numbers: Vec::new(),
            placer,
            pending: Vec::new(),
            today: DayFigures::default(),
            checks: 0,
        };
        sim.provision();
        sim
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
        self.numbers.push(Number {
            pool,
            facility,
            zone,
            status: NumberStatus::Active,
            labelled_since: vec![None; apps],
            quiet_days: vec![0; apps],
            reports: vec![vec![0; window]; apps],
            first_label: None,
            calls: 0,
            answered: 0,
            short: 0,
            reports_today: 0,
            back_on: None,
        });
        match &mut self.placer {
            Placer::RoundRobin { ids, .. } => ids.push(id),
            Placer::Engine { pools, .. } => {
                // A geographic number of the facility's zone: 0Z 4x xx xx xx.
                let e164 = E164::parse(&format!("+33{zone}4{:07}", id.0))
                    .unwrap_or_else(|e| panic!("a generated number is valid: {e}"));
                pools[pool].add_number(NumberSlot {
                    id,
                    e164,
                    display_name: self.facilities[facility].to_string(),
                    status: NumberStatus::Active,
                    facility: Some(self.facilities[facility].clone()),
                    zone: Some(zone),
                    last_used: None,
                    rests: Vec::new(),
                });
            }
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

    /// One day: its calls in time order, then the apps' labels, returns from
    /// quarantine, and the invariant checks.
    fn day(&mut self, day: Date, day_index: u32) -> DayFigures {
        self.today = DayFigures { day: Some(day), ..DayFigures::default() };
        let pop = &self.model.population;
        let (from, to) = (i64::from(pop.day_start_hour) * 3600, i64::from(pop.day_end_hour) * 3600);
        let m = &self.model.mix;
        let bounds = [m.reminders, m.reminders + m.results, m.reminders + m.results + m.coordination];
        let (patients, professionals) = (pop.patients as usize, pop.professionals as usize);
        let mut calls: Vec<(i64, usize, usize)> = (0..pop.calls_per_day)
            .map(|_| {
                let draw: f64 = self.rng.random();
                let purpose = bounds.iter().position(|b| draw < *b).unwrap_or(3);
                let person = if purpose == COORDINATION {
                    patients + self.rng.random_range(0..professionals)
                } else {
                    self.rng.random_range(0..patients)
                };
                (self.rng.random_range(from..to), purpose, person)
            })
            .collect();
        calls.sort_by_key(|c| c.0);
        let start = self.cal.start_of(day);
        for (secs, purpose, person) in calls {
            let dial_at = start + SignedDuration::from_secs(secs);
            self.act_on_findings(dial_at);
            match self.place(purpose, person, dial_at) {
                Some(number) => self.call(number, purpose, person, dial_at, secs < 12 * 3600),
                None => self.today.unplaced += 1,
            }
        }
        self.end_of_day(day, day_index);
        self.act_on_findings(self.cal.end_of(day) - SignedDuration::from_secs(1));
        self.check(day);
        std::mem::take(&mut self.today)
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

    /// Draws a placed call's outcome and records it.
    fn call(&mut self, id: NumberId, purpose: usize, person: usize, dial_at: Timestamp, morning: bool) {
        let (a, r) = (&self.model.answer, &self.model.reports);
        let p = &self.people[person];
        let n = &self.numbers[id.0 as usize];
        let labelled = p.app.is_some_and(|app| n.labelled_since[app].is_some_and(|t| t <= dial_at));
        let known = !labelled && self.spec.branded && n.facility == p.facility && p.sees_names;
        let announced = self.spec.sms && purpose != COORDINATION && !p.professional;
        let third =
            p.recent.iter().all(|t| t.is_some_and(|t| dial_at.duration_since(t) < SignedDuration::from_hours(24)));
        let recognised = p.answered_by == Some(id);
        let professional = p.professional;
        let app = p.app;

        let rejected = labelled && self.rng.random_bool(a.labelled_rejected_share.clamp(0.0, 1.0));
        let (mut answered, mut short, mut reported, mut told) = (false, false, false, false);
        if !rejected {
            let mut pa = if labelled {
                a.labelled
            } else if known {
                a.known_name
            } else {
                a.plain
            };
            pa *= if morning { a.morning_factor } else { a.afternoon_factor };
            if professional {
                pa *= a.professional_factor;
            }
            if announced {
                pa *= a.sms_factor;
            }
            if recognised {
                pa *= a.recognised_factor;
            }
            answered = self.rng.random_bool(pa.clamp(0.0, 0.95));
            let short_share = if labelled { a.short_share_labelled } else { a.short_share };
            short = answered && self.rng.random_bool(short_share.clamp(0.0, 1.0));
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
            reported = self.rng.random_bool(pr.clamp(0.0, 1.0));
            told = answered && labelled && self.rng.random_bool(a.agent_told_share.clamp(0.0, 1.0));
        }

        let t = &mut self.today;
        t.calls += 1;
        t.answered += u64::from(answered);
        t.rejected += u64::from(rejected);
        t.spam_reports += u64::from(reported);
        t.shown_as_spam += u64::from(told);
        let slot = self.today_slot();
        let n = &mut self.numbers[id.0 as usize];
        n.calls += 1;
        n.answered += u32::from(answered);
        n.short += u32::from(short);
        n.reports_today += u32::from(reported) + u32::from(told);
        if reported && let Some(app) = app {
            n.reports[app][slot] += 1;
        }
        let p = &mut self.people[person];
        p.recent = [Some(dial_at), p.recent[0]];
        p.last_number[purpose] = Some(id);
        if answered {
            p.answered_by = Some(id);
        }
        if (reported || told) && self.spec.quarantine_on_reports {
            self.on_report(id, dial_at);
        }
    }

    /// The ring slot of today's reports.
    fn today_slot(&self) -> usize {
        let day = self.today.day.unwrap_or(START_DAY);
        let index = (day - START_DAY).get_days().max(0) as usize;
        index % self.model.apps.report_window_days as usize
    }

    /// vigie-core's quarantine rule on the day's reports.
    fn on_report(&mut self, id: NumberId, at: Timestamp) {
        let Placer::Engine { pools, .. } = &self.placer else { return };
        let n = &self.numbers[id.0 as usize];
        let threshold = pools[n.pool].def().policy.reports_per_day_to_quarantine;
        if n.status != NumberStatus::Active || !reports_quarantine(n.reports_today, threshold) {
            return;
        }
        if n.first_label.is_some() {
            self.found(id, at);
            return;
        }
        let back_on = add_days(self.cal.day_of(at), i32::try_from(self.model.policies.quarantine_days).unwrap_or(7));
        self.numbers[id.0 as usize].back_on = Some(back_on);
        self.set_status(id, NumberStatus::Quarantined);
        self.today.quarantined += 1;
    }

    /// The policy has found that `id` is labelled: it is retired and replaced.
    fn found(&mut self, id: NumberId, at: Timestamp) {
        let n = &self.numbers[id.0 as usize];
        let Some(since) = n.first_label else { return };
        if n.status == NumberStatus::Retired {
            return;
        }
        let (pool, facility, zone) = (n.pool, n.facility, n.zone);
        self.today.detected += 1;
        self.today.detection_hours += at.duration_since(since).as_secs_f64().max(0.0) / 3600.0;
        self.set_status(id, NumberStatus::Retired);
        self.today.replaced += 1;
        self.today.replacement_cost_eur += self.model.policies.replacement_cost_eur;
        self.add_number(pool, facility, zone);
    }

    fn act_on_findings(&mut self, now: Timestamp) {
        while let Some(&(at, id)) = self.pending.last()
            && at <= now
        {
            self.pending.pop();
            self.found(id, at);
        }
    }

    /// The apps' labels, the day's counters, returns from quarantine.
    fn end_of_day(&mut self, day: Date, day_index: u32) {
        let apps = &self.model.apps;
        let window = apps.report_window_days as usize;
        let slot = day_index as usize % window;
        let tomorrow = next(day);
        let label_at = self.cal.start_of(tomorrow);
        for i in 0..self.numbers.len() {
            let id = NumberId(i as i64);
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
                let delay_secs = match self.spec.detection {
                    Detection::Days { min, max } => i64::from(self.rng.random_range(min * 24..=max * 24)) * 3600,
                    Detection::Hours(h) => (self.rng.random::<f64>() * h.max(0.0) * 3600.0) as i64,
                };
                self.pending.push((label_at + SignedDuration::from_secs(delay_secs), id));
            }
            (n.calls, n.answered, n.short, n.reports_today) = (0, 0, 0, 0);
            if n.back_on == Some(tomorrow) && n.status == NumberStatus::Quarantined {
                n.back_on = None;
                if n.first_label.is_some() {
                    self.found(id, label_at);
                } else {
                    self.set_status(id, NumberStatus::Active);
                }
            }
        }
        self.pending.sort_by(|a, b| b.cmp(a));
    }

    /// vigie-core's invariants on every pool, and the simulator's own bookkeeping.
    fn check(&mut self, day: Date) {
        let fail = |what: String| -> ! {
            panic!("vigie-sim: invariant broken on {day} (policy {}, seed {}): {what}", self.spec.name, self.seed)
        };
        let mut checks = 0;
        match &self.placer {
            Placer::Engine { pools, .. } => {
                for pool in pools {
                    if let Err(e) = pool.check_invariants(&self.cal) {
                        fail(format!("pool {}: {e}", pool.def().code));
                    }
                    checks += 1;
                    let placed: u32 = pool.numbers().iter().map(|n| pool.calls_on(n.id, day)).sum();
                    if placed > pool.total_on(day) {
                        fail(format!("pool {} holds {placed} calls, over its total", pool.def().code));
                    }
                    for slot in pool.numbers() {
                        if slot.status != self.numbers[slot.id.0 as usize].status {
                            fail(format!("{} differs between the engine and the world", slot.e164));
                        }
                    }
                }
                let placed: u64 = pools.iter().map(|p| u64::from(p.total_on(day))).sum();
                if placed != self.today.calls {
                    fail(format!("the pools hold {placed} calls, the day {}", self.today.calls));
                }
            }
            Placer::RoundRobin { ids, .. } => {
                if ids.iter().any(|id| self.numbers[id.0 as usize].status == NumberStatus::Retired) {
                    fail("a retired number is still in the rotation".into());
                }
            }
        }
        self.checks += checks;
    }
}
