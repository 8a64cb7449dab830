//! Tests of the allocation engine: scenarios written as small text fixtures whose
//! outcome is rendered as stable text, and property tests that drive a pool through
//! random operations (across both Europe/Paris DST changes of 2026) and compare it
//! after every step with a model computed independently from the calls given.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::{Date, DateTime};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::{Allocation, CallSpec, NoCapacity, NumberId, NumberSlot, NumberStatus, PoolState, Rest};
use crate::calendar::{Calendar, add_days, next};
use crate::catalog::{FacilityId, Policy, PoolCode, PoolDef, PoolRole, Purpose};
use crate::phone::E164;

// ---------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------

fn pool_def(code: &str, role: PoolRole, policy: Policy) -> PoolDef {
    PoolDef {
        code: PoolCode::parse(code).expect("pool code"),
        role,
        purposes: match role {
            PoolRole::Outbound => vec![Purpose::parse("appointment_reminder").expect("purpose")],
            _ => Vec::new(),
        },
        policy,
    }
}

fn facility(name: &str) -> FacilityId {
    FacilityId::parse(name).expect("facility slug")
}

/// A number of the fixtures: id `id`, a valid Paris geographic E.164 derived from it.
fn slot(id: i64, name: &str) -> NumberSlot {
    NumberSlot {
        id: NumberId(id),
        e164: E164::parse(&format!("+3314268{id:04}")).expect("valid fixture number"),
        display_name: name.to_owned(),
        status: NumberStatus::Active,
        facility: None,
        zone: None,
        last_used: None,
        rests: Vec::new(),
    }
}

fn local(cal: &Calendar, text: &str) -> Timestamp {
    let dt: DateTime = text.parse().expect("local date-time such as 2026-06-02T09:00");
    cal.tz().to_timestamp(dt).expect("local time in range")
}

fn render_ts(cal: &Calendar, at: Timestamp) -> String {
    at.to_zoned_datetime(cal.tz().clone()).strftime("%Y-%m-%dT%H:%M%:z").to_string()
}

fn render_rest(cal: &Calendar, rest: &Rest) -> String {
    format!("{}..{}", render_ts(cal, rest.from), render_ts(cal, rest.until))
}

/// A scenario being played: one pool, the numbers by name, and what was printed.
struct Play {
    cal: Calendar,
    policy: Policy,
    pool: Option<PoolState>,
    names: Vec<String>,
    now: Option<Timestamp>,
    out: Vec<String>,
}

impl Play {
    fn pool(&mut self) -> &mut PoolState {
        let policy = self.policy.clone();
        self.pool.get_or_insert_with(|| PoolState::new(pool_def("A", PoolRole::Outbound, policy)))
    }

    fn id(&self, name: &str) -> NumberId {
        match self.names.iter().position(|n| n == name) {
            Some(i) => NumberId(i as i64 + 1),
            None => panic!("unknown number {name}"),
        }
    }

    fn name(&self, id: NumberId) -> &str {
        &self.names[(id.0 - 1) as usize]
    }

    fn day(text: &str) -> Date {
        text.parse().expect("date such as 2026-06-02")
    }

    /// Places one call (at the scenario's `now`, or when it is dialled if none is set).
    fn call(&mut self, at: Timestamp, opts: &[(&str, &str)]) -> Result<Allocation, NoCapacity> {
        let mut fac = facility("clinique-x");
        let mut zone = None;
        let mut affinity = None;
        for (k, v) in opts {
            match *k {
                "facility" => fac = facility(v),
                "zone" => zone = Some(v.parse().expect("zone")),
                "affinity" => affinity = Some(self.id(v)),
                _ => panic!("unknown call option {k}"),
            }
        }
        let now = self.now.unwrap_or(at);
        let cal = self.cal.clone();
        let spec = CallSpec { facility: &fac, patient_zone: zone, affinity, dial_at: at };
        self.pool().allocate(&spec, &cal, now)
    }

    fn step(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        let Some(cmd) = words.next() else { return };
        let args: Vec<&str> = words.collect();
        let (pos, opts): (Vec<&str>, Vec<&str>) = args.iter().partition(|a| !a.contains('='));
        let opts: Vec<(&str, &str)> = opts.iter().map(|o| o.split_once('=').expect("key=value")).collect();
        match cmd {
            "policy" => {
                assert!(self.pool.is_none(), "policy must come first");
                for (k, v) in &opts {
                    let v: u32 = v.parse().expect("policy figure");
                    let p = &mut self.policy;
                    match *k {
                        "cap" => p.calls_per_day_max = v,
                        "intensive" => p.intensive_calls_min = v,
                        "healthy" => p.healthy_calls_per_day = v,
                        "before_rest" => p.intensive_days_before_rest = v,
                        "rest" => p.rest_hours = v,
                        "margin" => p.reserve_margin_percent = v,
                        _ => panic!("unknown policy figure {k}"),
                    }
                }
                self.policy.geographic = pos.contains(&"geographic");
                self.policy.validate().expect("valid policy");
            }
            "number" => {
                let name = pos[0];
                self.names.push(name.to_owned());
                let mut n = slot(self.names.len() as i64, name);
                if let Some(s) = pos.get(1) {
                    n.status = NumberStatus::parse(s).expect("status");
                }
                for (k, v) in &opts {
                    match *k {
                        "facility" => n.facility = Some(facility(v)),
                        "zone" => n.zone = Some(v.parse().expect("zone")),
                        "last" => n.last_used = Some(local(&self.cal, v)),
                        _ => panic!("unknown number option {k}"),
                    }
                }
                self.pool().add_number(n);
            }
            "load" => {
                let day = Self::day(pos[0]);
                for (name, calls) in &opts {
                    let id = self.id(name);
                    self.pool().load_calls(id, day, calls.parse().expect("calls"));
                }
            }
            "history" => {
                // history FIRST LAST TOTAL: the pool's total on every day of the range.
                let (first, last) = (Self::day(pos[0]), Self::day(pos[1]));
                let total: u32 = pos[2].parse().expect("total");
                let mut d = first;
                while d <= last {
                    self.pool().load_total(d, total);
                    d = next(d);
                }
            }
            "now" => self.now = Some(local(&self.cal, pos[0])),
            "status" => {
                let id = self.id(pos[0]);
                self.pool().set_status(id, NumberStatus::parse(pos[1]).expect("status"));
            }
            "unassign" => {
                let (id, at) = (self.id(pos[0]), local(&self.cal, pos[1]));
                let cal = self.cal.clone();
                self.pool().unassign(id, at, &cal);
            }
            "call" => {
                let at = local(&self.cal, pos[0]);
                let outcome = match self.call(at, &opts) {
                    Ok(a) => match a.rest {
                        Some(r) => format!("{}, rest {}", self.name(a.number), render_rest(&self.cal, &r)),
                        None => self.name(a.number).to_owned(),
                    },
                    Err(NoCapacity { retry_at: Some(t) }) => {
                        format!("no capacity, retry at {}", render_ts(&self.cal, t))
                    }
                    Err(NoCapacity { retry_at: None }) => "no capacity, never".to_owned(),
                };
                self.out.push(format!("{line} -> {outcome}"));
            }
            "calls" => {
                // calls START COUNT: COUNT calls one second apart from START.
                let start = local(&self.cal, pos[0]);
                let count: i64 = pos[1].parse().expect("count");
                let mut given: BTreeMap<NumberId, u32> = BTreeMap::new();
                let mut refused = 0;
                for i in 0..count {
                    match self.call(start + SignedDuration::from_secs(i), &opts) {
                        Ok(a) => *given.entry(a.number).or_default() += 1,
                        Err(_) => refused += 1,
                    }
                    let cal = self.cal.clone();
                    self.pool().check_invariants(&cal).expect("invariants");
                }
                let mut parts: Vec<String> = given.iter().map(|(id, c)| format!("{} {c}", self.name(*id))).collect();
                if refused > 0 {
                    parts.push(format!("refused {refused}"));
                }
                self.out.push(format!("{line} -> {}", parts.join(", ")));
            }
            "counts" => {
                let day = Self::day(pos[0]);
                let pool = self.pool.as_ref().expect("pool");
                let parts: Vec<String> =
                    pool.numbers().iter().map(|n| format!("{}={}", n.display_name, pool.calls_on(n.id, day))).collect();
                self.out.push(format!("{line} -> {} (total {})", parts.join(" "), pool.total_on(day)));
            }
            "working" => {
                let day = Self::day(pos[0]);
                let today = self.now.map_or(day, |t| self.cal.day_of(t));
                let w = self.pool.as_ref().expect("pool").working_set(day, today);
                self.out.push(format!("{line} -> {w}"));
            }
            "shortfall" => {
                let day = Self::day(pos[0]);
                let now = self.now.unwrap_or_else(|| self.cal.start_of(day));
                let s = self.pool.as_ref().expect("pool").shortfall(day, &self.cal, now);
                self.out.push(format!("{line} -> {s}"));
            }
            "rests" => {
                let id = self.id(pos[0]);
                let n = self.pool.as_ref().and_then(|p| p.number(id)).expect("number");
                let rests: Vec<String> = n.rests.iter().map(|r| render_rest(&self.cal, r)).collect();
                let shown = if rests.is_empty() { "none".to_owned() } else { rests.join(", ") };
                self.out.push(format!("{line} -> {shown}"));
            }
            _ => panic!("unknown scenario command {cmd}"),
        }
        if let Some(pool) = &self.pool
            && let Err(e) = pool.check_invariants(&self.cal)
        {
            panic!("invariants broken after `{line}`: {e}");
        }
    }
}

/// Plays a scenario (one command a line, `#` starts a comment) and compares what its
/// `call`, `calls`, `counts`, `working`, `shortfall` and `rests` lines print, each as
/// `<line> -> <outcome>`, with `expected`.
fn check(scenario: &str, expected: &str) {
    let mut play = Play {
        cal: Calendar::paris(),
        policy: Policy::default(),
        pool: None,
        names: Vec::new(),
        now: None,
        out: Vec::new(),
    };
    for line in scenario.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        play.step(line);
    }
    let got = play.out.join("\n");
    let want: Vec<&str> = expected.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let want = want.join("\n");
    assert!(got == want, "scenario outcome differs\n--- got ---\n{got}\n--- expected ---\n{want}\n");
}

// ---------------------------------------------------------------------------------
// Scenarios: which number takes the call
// ---------------------------------------------------------------------------------

#[test]
fn affinity_number_preferred_when_eligible() {
    check(
        "
        number n1 facility=clinique-a
        number n2
        number n3
        load 2026-06-02 n1=10 n2=10 n3=10
        # Affinity outranks the facility and the lighter load.
        call 2026-06-02T09:00 facility=clinique-a affinity=n3
        # Without it, the facility's number.
        call 2026-06-02T09:01 facility=clinique-a
        # Not when the affinity number is quarantined.
        status n3 quarantined
        call 2026-06-02T09:02 facility=clinique-a affinity=n3
        status n3 active
        # Not when it would push that number into its intensive day while n2 is below.
        load 2026-06-02 n3=69
        call 2026-06-02T09:03 affinity=n3
        ",
        "
        call 2026-06-02T09:00 facility=clinique-a affinity=n3 -> n3
        call 2026-06-02T09:01 facility=clinique-a -> n1
        call 2026-06-02T09:02 facility=clinique-a affinity=n3 -> n1
        call 2026-06-02T09:03 affinity=n3 -> n2
        ",
    );
}

#[test]
fn facility_preferred_over_lighter_load() {
    check(
        "
        number n1 facility=clinique-a
        number n2 facility=clinique-b
        number n3
        load 2026-06-02 n1=30 n2=5 n3=1
        call 2026-06-02T09:00 facility=clinique-a
        call 2026-06-02T09:01 facility=clinique-b
        call 2026-06-02T09:02 facility=clinique-c
        ",
        "
        call 2026-06-02T09:00 facility=clinique-a -> n1
        call 2026-06-02T09:01 facility=clinique-b -> n2
        call 2026-06-02T09:02 facility=clinique-c -> n3
        ",
    );
}

#[test]
fn zone_preferred_only_in_a_geographic_pool() {
    let numbers = "
        number n1 zone=1
        number n2 zone=3
        load 2026-06-02 n1=20 n2=5
        call 2026-06-02T09:00 zone=1
        call 2026-06-02T09:01 zone=3
        call 2026-06-02T09:02
    ";
    // Not geographic: the zone is ignored and the lighter number is taken.
    check(
        numbers,
        "
        call 2026-06-02T09:00 zone=1 -> n2
        call 2026-06-02T09:01 zone=3 -> n2
        call 2026-06-02T09:02 -> n2
        ",
    );
    // Geographic: the patient's zone first.
    check(
        &format!("policy geographic\n{numbers}"),
        "
        call 2026-06-02T09:00 zone=1 -> n1
        call 2026-06-02T09:01 zone=3 -> n2
        call 2026-06-02T09:02 -> n2
        ",
    );
}

#[test]
fn least_used_then_least_recently_used() {
    check(
        "
        number n1 last=2026-06-02T09:00
        number n2 last=2026-06-02T08:00
        number n3 last=2026-06-02T07:00
        load 2026-06-02 n1=5 n2=5 n3=6
        call 2026-06-02T10:00   # n1 and n2 have 5; n2 was used longer ago
        call 2026-06-02T10:01   # n1 alone has 5
        call 2026-06-02T10:02   # all have 6; n3 was used longest ago
        call 2026-06-02T10:03   # n2 (10:00) before n1 (10:01)
        ",
        "
        call 2026-06-02T10:00 -> n2
        call 2026-06-02T10:01 -> n1
        call 2026-06-02T10:02 -> n3
        call 2026-06-02T10:03 -> n2
        ",
    );
}

#[test]
fn never_pushes_a_number_into_its_intensive_day_while_another_is_below() {
    check(
        "
        number n1 facility=clinique-a
        number n2
        number n3
        load 2026-06-02 n1=69 n2=40 n3=80
        # n1 fits best but its 70th call would make the day intensive.
        call 2026-06-02T09:00 facility=clinique-a affinity=n1
        # Once n2 is also at 69, a number already intensive (n4) goes first.
        number n4
        load 2026-06-02 n2=69 n4=75
        call 2026-06-02T09:01 facility=clinique-a affinity=n1
        # With no other choice, a number is pushed into its intensive day.
        load 2026-06-02 n4=80
        call 2026-06-02T09:02 facility=clinique-a affinity=n1
        counts 2026-06-02
        ",
        "
        call 2026-06-02T09:00 facility=clinique-a affinity=n1 -> n2
        call 2026-06-02T09:01 facility=clinique-a affinity=n1 -> n4
        call 2026-06-02T09:02 facility=clinique-a affinity=n1 -> n1
        counts 2026-06-02 -> n1=70 n2=69 n3=80 n4=80 (total 299)
        ",
    );
}

#[test]
fn intensive_numbers_are_filled_before_another_is_pushed() {
    check(
        "
        number n1
        number n2
        calls 2026-06-02T08:00 150
        counts 2026-06-02
        ",
        "
        calls 2026-06-02T08:00 150 -> n1 80, n2 70
        counts 2026-06-02 -> n1=80 n2=70 (total 150)
        ",
    );
}

// ---------------------------------------------------------------------------------
// Scenarios: the working set
// ---------------------------------------------------------------------------------

#[test]
fn without_history_the_pool_fills_a_number_before_opening_another() {
    check(
        "
        number n1
        number n2
        number n3
        number n4
        number n5
        calls 2026-06-02T08:00 64
        calls 2026-06-02T09:00 1
        calls 2026-06-02T10:00 1
        calls 2026-06-02T11:00 134
        counts 2026-06-02
        ",
        "
        calls 2026-06-02T08:00 64 -> n1 64
        calls 2026-06-02T09:00 1 -> n1 1
        calls 2026-06-02T10:00 1 -> n2 1
        calls 2026-06-02T11:00 134 -> n2 64, n3 65, n4 5
        counts 2026-06-02 -> n1=65 n2=65 n3=65 n4=5 n5=0 (total 200)
        ",
    );
}

#[test]
fn with_history_the_pool_spreads_over_its_expected_working_set() {
    // Seven days of 130 calls at 65 a number: two numbers, not three.
    check(
        "
        number n1
        number n2
        number n3
        number n4
        history 2026-05-26 2026-06-01 130
        working 2026-06-02
        calls 2026-06-02T08:00 130
        counts 2026-06-02
        # The 131st call of the day goes beyond the expected demand: a third number.
        call 2026-06-02T18:00
        ",
        "
        working 2026-06-02 -> 2
        calls 2026-06-02T08:00 130 -> n1 65, n2 65
        counts 2026-06-02 -> n1=65 n2=65 n3=0 n4=0 (total 130)
        call 2026-06-02T18:00 -> n3
        ",
    );
    // 300 calls a day: ceil(300 / 65) = 5 numbers from the first calls on.
    check(
        "
        number n1
        number n2
        number n3
        number n4
        number n5
        number n6
        history 2026-05-26 2026-06-01 300
        working 2026-06-02
        calls 2026-06-02T08:00 5
        calls 2026-06-02T09:00 295
        counts 2026-06-02
        ",
        "
        working 2026-06-02 -> 5
        calls 2026-06-02T08:00 5 -> n1 1, n2 1, n3 1, n4 1, n5 1
        calls 2026-06-02T09:00 295 -> n1 59, n2 59, n3 59, n4 59, n5 59
        counts 2026-06-02 -> n1=60 n2=60 n3=60 n4=60 n5=60 n6=0 (total 300)
        ",
    );
    // The mean counts only days with traffic, over the last seven of them.
    check(
        "
        number n1
        history 2026-05-01 2026-05-20 520
        history 2026-05-21 2026-05-31 0
        history 2026-06-01 2026-06-01 520
        working 2026-06-02
        ",
        "
        working 2026-06-02 -> 8
        ",
    );
}

// ---------------------------------------------------------------------------------
// Scenarios: cap, status, rests
// ---------------------------------------------------------------------------------

#[test]
fn the_cap_is_never_exceeded_and_the_retry_is_the_next_local_day() {
    // 2026-03-29 is the spring DST change: the next day starts at 00:00+02:00.
    check(
        "
        number n1
        number n2
        calls 2026-03-29T08:00 161
        call 2026-03-29T20:00
        counts 2026-03-29
        call 2026-03-30T00:00
        ",
        "
        calls 2026-03-29T08:00 161 -> n1 80, n2 80, refused 1
        call 2026-03-29T20:00 -> no capacity, retry at 2026-03-30T00:00+02:00
        counts 2026-03-29 -> n1=80 n2=80 (total 160)
        call 2026-03-30T00:00 -> n1
        ",
    );
}

#[test]
fn quarantined_reserve_and_retired_numbers_are_never_chosen() {
    check(
        "
        number n1 quarantined facility=clinique-a
        number n2 reserve facility=clinique-a
        number n3 retired facility=clinique-a
        number n4 active
        call 2026-06-02T09:00 facility=clinique-a affinity=n1
        call 2026-06-02T09:01 facility=clinique-a affinity=n2
        call 2026-06-02T09:02 facility=clinique-a affinity=n3
        status n4 quarantined
        call 2026-06-02T09:03
        status n2 active
        call 2026-06-02T09:04
        ",
        "
        call 2026-06-02T09:00 facility=clinique-a affinity=n1 -> n4
        call 2026-06-02T09:01 facility=clinique-a affinity=n2 -> n4
        call 2026-06-02T09:02 facility=clinique-a affinity=n3 -> n4
        call 2026-06-02T09:03 -> no capacity, never
        call 2026-06-02T09:04 -> n2
        ",
    );
}

#[test]
fn rest_spans_the_spring_dst_change_as_exactly_48_hours() {
    // The third intensive day ends at 2026-03-29 00:00+01:00; 48 hours later the
    // clocks read 01:00+02:00, an hour later than a plain two days.
    check(
        "
        number n1
        load 2026-03-26 n1=70
        load 2026-03-27 n1=70
        load 2026-03-28 n1=69
        call 2026-03-28T18:00
        rests n1
        call 2026-03-29T10:00
        call 2026-03-31T00:30
        call 2026-03-31T01:00
        ",
        "
        call 2026-03-28T18:00 -> n1, rest 2026-03-29T00:00+01:00..2026-03-31T01:00+02:00
        rests n1 -> 2026-03-29T00:00+01:00..2026-03-31T01:00+02:00
        call 2026-03-29T10:00 -> no capacity, retry at 2026-03-31T01:00+02:00
        call 2026-03-31T00:30 -> no capacity, retry at 2026-03-31T01:00+02:00
        call 2026-03-31T01:00 -> n1
        ",
    );
}

#[test]
fn rest_spans_the_autumn_dst_change_as_exactly_48_hours() {
    // 2026-10-25 lasts 25 hours: 48 hours from its start end at 23:00 on the 26th.
    check(
        "
        number n1
        load 2026-10-22 n1=70
        load 2026-10-23 n1=70
        load 2026-10-24 n1=69
        call 2026-10-24T18:00
        call 2026-10-26T22:30
        call 2026-10-26T23:00
        ",
        "
        call 2026-10-24T18:00 -> n1, rest 2026-10-25T00:00+02:00..2026-10-26T23:00+01:00
        call 2026-10-26T22:30 -> no capacity, retry at 2026-10-26T23:00+01:00
        call 2026-10-26T23:00 -> n1
        ",
    );
}

#[test]
fn a_run_is_never_extended_nor_rested_over_calls_already_given() {
    check(
        "
        number n1
        # Three intensive days already: a fourth is refused.
        load 2026-06-01 n1=70
        load 2026-06-02 n1=70
        load 2026-06-03 n1=70
        load 2026-06-04 n1=69
        call 2026-06-04T09:00
        # Filling a gap between runs would make a run of four: refused.
        load 2026-06-10 n1=70
        load 2026-06-12 n1=70
        load 2026-06-13 n1=70
        load 2026-06-11 n1=69
        call 2026-06-11T09:00
        # The rest would fall on calls booked on the 23rd: refused.
        load 2026-06-20 n1=70
        load 2026-06-21 n1=70
        load 2026-06-22 n1=69
        load 2026-06-23 n1=1
        call 2026-06-22T09:00
        # Below the threshold the number still works.
        load 2026-06-22 n1=10
        call 2026-06-22T09:01
        ",
        "
        call 2026-06-04T09:00 -> no capacity, retry at 2026-06-05T00:00+02:00
        call 2026-06-11T09:00 -> no capacity, retry at 2026-06-12T00:00+02:00
        call 2026-06-22T09:00 -> no capacity, retry at 2026-06-23T00:00+02:00
        call 2026-06-22T09:01 -> n1
        ",
    );
}

#[test]
fn after_a_full_last_intensive_day_the_retry_is_the_end_of_the_rest() {
    check(
        "
        number n1
        load 2026-06-01 n1=70
        load 2026-06-02 n1=70
        load 2026-06-03 n1=69
        call 2026-06-03T09:00
        calls 2026-06-03T10:00 10
        call 2026-06-03T20:00
        ",
        "
        call 2026-06-03T09:00 -> n1, rest 2026-06-04T00:00+02:00..2026-06-06T00:00+02:00
        calls 2026-06-03T10:00 10 -> n1 10
        call 2026-06-03T20:00 -> no capacity, retry at 2026-06-06T00:00+02:00
        ",
    );
}

#[test]
fn a_run_completed_out_of_order_rests_after_its_last_day() {
    check(
        "
        policy before_rest=2 rest=24
        number n1
        load 2026-06-03 n1=70
        load 2026-06-02 n1=69
        call 2026-06-02T09:00
        call 2026-06-04T09:00
        ",
        "
        call 2026-06-02T09:00 -> n1, rest 2026-06-04T00:00+02:00..2026-06-05T00:00+02:00
        call 2026-06-04T09:00 -> no capacity, retry at 2026-06-05T00:00+02:00
        ",
    );
}

#[test]
fn a_rest_is_recorded_once_when_a_day_becomes_intensive_again() {
    check(
        "
        policy before_rest=2 rest=24
        number n1
        load 2026-06-02 n1=70
        load 2026-06-03 n1=69
        call 2026-06-03T09:00
        unassign n1 2026-06-03T09:00
        call 2026-06-03T09:01
        rests n1
        ",
        "
        call 2026-06-03T09:00 -> n1, rest 2026-06-04T00:00+02:00..2026-06-05T00:00+02:00
        call 2026-06-03T09:01 -> n1, rest 2026-06-04T00:00+02:00..2026-06-05T00:00+02:00
        rests n1 -> 2026-06-04T00:00+02:00..2026-06-05T00:00+02:00
        ",
    );
}

// ---------------------------------------------------------------------------------
// Scenarios: shortfall and promotion
// ---------------------------------------------------------------------------------

#[test]
fn shortfall_when_capacity_left_is_below_demand_plus_margin() {
    // Two numbers at 80: 160 calls of capacity. 145 × 1.1 = 159.5 → 160 fits;
    // 146 × 1.1 = 160.6 → 161 does not, short of one number.
    check(
        "
        number n1
        number n2
        history 2026-05-26 2026-06-01 145
        now 2026-06-02T07:00
        shortfall 2026-06-02
        ",
        "
        shortfall 2026-06-02 -> 0
        ",
    );
    check(
        "
        number n1
        number n2
        number n3 quarantined
        history 2026-05-26 2026-06-01 146
        now 2026-06-02T07:00
        shortfall 2026-06-02
        # Calls already made count against both sides.
        load 2026-06-02 n1=60 n2=60
        shortfall 2026-06-02
        # With no capacity left at all, the 41 calls still expected need one number.
        status n1 quarantined
        status n2 quarantined
        shortfall 2026-06-02
        ",
        "
        shortfall 2026-06-02 -> 1
        shortfall 2026-06-02 -> 1
        shortfall 2026-06-02 -> 1
        ",
    );
}

#[test]
fn shortfall_ignores_numbers_resting_the_whole_day() {
    check(
        "
        policy before_rest=1 rest=48
        number n1
        number n2
        history 2026-05-26 2026-05-31 100
        load 2026-06-01 n1=69 n2=80
        call 2026-06-01T09:00
        now 2026-06-02T07:00
        shortfall 2026-06-02
        ",
        "
        call 2026-06-01T09:00 -> n1, rest 2026-06-02T00:00+02:00..2026-06-04T00:00+02:00
        shortfall 2026-06-02 -> 1
        ",
    );
}

#[test]
fn promotion_order_puts_fitting_reserve_numbers_first() {
    let cal = Calendar::paris();
    let at = |t: &str| local(&cal, t);
    let mut target =
        PoolState::new(pool_def("A", PoolRole::Outbound, Policy { geographic: true, ..Policy::default() }));
    for (id, fac, zone) in [(1, "clinique-a", 1), (2, "clinique-a", 1), (3, "clinique-b", 2)] {
        target.add_number(NumberSlot { facility: Some(facility(fac)), zone: Some(zone), ..slot(id, "t") });
    }
    let mut reserve = PoolState::new(pool_def("R", PoolRole::Reserve, Policy::default()));
    let candidates = [
        // (id, facility, zone, last used, status)
        (11, Some("clinique-z"), Some(1), None, NumberStatus::Reserve),
        (12, Some("clinique-b"), Some(3), Some("2026-05-01T10:00"), NumberStatus::Reserve),
        (13, Some("clinique-a"), Some(1), Some("2026-05-20T10:00"), NumberStatus::Reserve),
        (14, Some("clinique-a"), Some(1), Some("2026-05-02T10:00"), NumberStatus::Reserve),
        (15, Some("clinique-a"), Some(4), None, NumberStatus::Reserve),
        (16, Some("clinique-a"), Some(1), None, NumberStatus::Quarantined),
        (17, None, None, None, NumberStatus::Retired),
        (18, None, None, Some("2026-05-01T09:00"), NumberStatus::Active),
    ];
    for (id, fac, zone, last, status) in candidates {
        reserve.add_number(NumberSlot {
            facility: fac.map(facility),
            zone,
            last_used: last.map(at),
            status,
            ..slot(id, "r")
        });
    }
    let order: Vec<i64> = reserve.promotion_order(&target).into_iter().map(|id| id.0).collect();
    // Facility and main zone (1) fit: 14 then 13 (least recently used first); facility
    // only: 15 and 12 (clinique-b is served by number 3); then the rest by last use.
    assert_eq!(order, vec![14, 13, 15, 12, 11, 18]);

    // In a pool that is not geographic the zone does not matter.
    let mut plain = PoolState::new(pool_def("B", PoolRole::Outbound, Policy::default()));
    plain.add_number(NumberSlot { facility: Some(facility("clinique-a")), ..slot(1, "t") });
    let order: Vec<i64> = reserve.promotion_order(&plain).into_iter().map(|id| id.0).collect();
    assert_eq!(order, vec![15, 14, 13, 11, 18, 12]);
}

// ---------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------

/// One step of a random walk.
#[derive(Debug, Clone)]
enum Op {
    /// `count` calls a minute apart, the first dialled `offset` seconds after the window
    /// opens, each decided `lead` seconds before it is dialled.
    Allocate { offset: i64, count: i64, lead: i64, facility: usize, zone: Option<u8>, affinity: Option<usize> },
    /// Takes back the `pick`-th (modulo) call still given.
    Unassign { pick: usize },
    /// Changes a number's status.
    SetStatus { number: usize, status: NumberStatus },
    /// Gives a number another identity (facility and zone) in place, as an operator's
    /// edit reloaded by the store does.
    Reidentify { number: usize, facility: Option<usize>, zone: Option<u8> },
    /// Moves a number out of the pool and back, its calls loaded again day by day, as
    /// a move and its undoing do.
    MoveOutAndBack { number: usize },
}

/// A random pool: its policy, its numbers and the window its calls fall in.
#[derive(Debug, Clone)]
struct Walk {
    policy: Policy,
    numbers: Vec<(Option<usize>, Option<u8>, NumberStatus)>,
    /// First local day of the ten-day window.
    first_day: Date,
    ops: Vec<Op>,
}

const FACILITIES: [&str; 3] = ["clinique-a", "clinique-b", "clinique-c"];
const WINDOW_DAYS: i32 = 10;

fn policy_strategy() -> impl Strategy<Value = Policy> {
    (5u32..=10)
        .prop_flat_map(|cap| (Just(cap), 3..=cap, 1..=cap, 1u32..=3, 24u32..=72, 0u32..=50, any::<bool>()))
        .prop_map(|(cap, intensive, healthy, before_rest, rest, margin, geographic)| Policy {
            calls_per_day_max: cap,
            intensive_calls_min: intensive,
            intensive_days_before_rest: before_rest,
            rest_hours: rest,
            healthy_calls_per_day: healthy,
            reports_per_day_to_quarantine: 2,
            reserve_margin_percent: margin,
            geographic,
        })
}

fn status_strategy() -> impl Strategy<Value = NumberStatus> {
    prop_oneof![
        6 => Just(NumberStatus::Active),
        2 => Just(NumberStatus::Quarantined),
        1 => Just(NumberStatus::Reserve),
        1 => Just(NumberStatus::Retired),
    ]
}

fn walk_strategy(max_ops: usize) -> impl Strategy<Value = Walk> {
    let numbers = proptest::collection::vec(
        (
            proptest::option::of(0..FACILITIES.len()),
            proptest::option::of(1u8..=5),
            prop_oneof![8 => Just(NumberStatus::Active), 1 => status_strategy()],
        ),
        2..=6,
    );
    // Windows around the spring (2026-03-29) and autumn (2026-10-25) changes.
    let first_day = prop_oneof![
        (0i32..=4).prop_map(|d| add_days(jiff::civil::date(2026, 3, 22), d)),
        (0i32..=4).prop_map(|d| add_days(jiff::civil::date(2026, 10, 18), d)),
    ];
    (policy_strategy(), numbers, first_day).prop_flat_map(move |(policy, numbers, first_day)| {
        let n = numbers.len();
        let op = prop_oneof![
            16 => (
                (0i64..i64::from(WINDOW_DAYS) * 86_400, 1i64..=6),
                0i64..3 * 86_400,
                0..FACILITIES.len() + 1,
                proptest::option::of(1u8..=5),
                proptest::option::of(0..n),
            )
                .prop_map(|((offset, count), lead, facility, zone, affinity)| Op::Allocate {
                    offset,
                    count,
                    lead,
                    facility,
                    zone,
                    affinity,
                }),
            2 => any::<usize>().prop_map(|pick| Op::Unassign { pick }),
            1 => (0..n, status_strategy()).prop_map(|(number, status)| Op::SetStatus { number, status }),
            1 => (0..n, proptest::option::of(0..FACILITIES.len()), proptest::option::of(1u8..=5))
                .prop_map(|(number, facility, zone)| Op::Reidentify { number, facility, zone }),
            1 => (0..n).prop_map(|number| Op::MoveOutAndBack { number }),
        ];
        let ops = proptest::collection::vec(op, 1..max_ops);
        (Just(policy), Just(numbers), Just(first_day), ops).prop_map(|(policy, numbers, first_day, ops)| Walk {
            policy,
            numbers,
            first_day,
            ops,
        })
    })
}

/// What a walk did, for the coverage test.
#[derive(Debug, Default)]
struct WalkStats {
    calls: usize,
    refused: usize,
    rests: usize,
    rests_across_dst: usize,
}

/// The model of the pool kept by the test: every call still given, and every rest
/// the day counts have called for so far (rests are never withdrawn).
struct Model {
    cal: Calendar,
    policy: Policy,
    given: Vec<(NumberId, Timestamp)>,
    expected_rests: BTreeMap<NumberId, BTreeSet<(Timestamp, Timestamp)>>,
    days: Vec<Date>,
}

impl Model {
    fn counts(&self) -> BTreeMap<(NumberId, Date), u32> {
        let mut counts = BTreeMap::new();
        for (id, at) in &self.given {
            *counts.entry((*id, self.cal.day_of(*at))).or_default() += 1;
        }
        counts
    }

    /// Places one call on the pool and checks the choice against the rules: the number
    /// was active, not resting and below the cap; it is pushed into its intensive day
    /// only when no number could take the call otherwise; an eligible affinity number
    /// wins; a refusal means no number plainly could take it.
    fn place(
        &mut self,
        pool: &mut PoolState,
        spec: &CallSpec<'_>,
        now: Timestamp,
        stats: &mut WalkStats,
    ) -> Result<(), String> {
        let p = &self.policy;
        let dial_at = spec.dial_at;
        let day = self.cal.day_of(dial_at);
        let counts = self.counts();
        let calls = |id: NumberId| counts.get(&(id, day)).copied().unwrap_or(0);
        // Numbers that plainly may take the call: active, not resting, below the cap,
        // and either below the threshold or already intensive.
        let free = |n: &NumberSlot| n.status == NumberStatus::Active && !n.rests.iter().any(|r| r.covers(dial_at));
        let below = |n: &NumberSlot| free(n) && calls(n.id) + 1 < p.intensive_calls_min;
        let plain = |n: &NumberSlot| {
            below(n) || (free(n) && calls(n.id) >= p.intensive_calls_min && calls(n.id) < p.calls_per_day_max)
        };
        let before = pool.clone();
        let reference = before.choose_by_scan(spec, &self.cal, now);
        let chosen = before.choose(spec, &self.cal, now).ok();
        if chosen != reference {
            return Err(format!("the indexed choice {chosen:?} differs from reading every number: {reference:?}"));
        }
        let alloc = match pool.allocate(spec, &self.cal, now) {
            Ok(alloc) => alloc,
            Err(NoCapacity { retry_at }) => {
                stats.refused += 1;
                if let Some(o) = before.numbers().iter().find(|o| plain(o)) {
                    return Err(format!("no capacity while {:?} could take the call", o.id));
                }
                let any_active = before.numbers().iter().any(|n| n.status == NumberStatus::Active);
                return match retry_at {
                    Some(t) if any_active && t > dial_at => Ok(()),
                    None if !any_active => Ok(()),
                    other => Err(format!("retry_at {other:?} for a call at {dial_at}")),
                };
            }
        };
        stats.calls += 1;
        let n = before.number(alloc.number).ok_or("allocated an unknown number")?;
        if n.status != NumberStatus::Active {
            return Err(format!("{:?} given a call while {:?}", n.id, n.status));
        }
        if let Some(r) = n.rests.iter().find(|r| r.covers(dial_at)) {
            return Err(format!("{:?} given a call at {dial_at} in its rest {r:?}", n.id));
        }
        if calls(n.id) >= p.calls_per_day_max {
            return Err(format!("{:?} given a call over the cap", n.id));
        }
        if calls(n.id) + 1 == p.intensive_calls_min {
            if let Some(o) = before.numbers().iter().find(|o| plain(o)) {
                return Err(format!("{:?} pushed into its intensive day while {:?} could take the call", n.id, o.id));
            }
        } else if alloc.rest.is_some() {
            return Err("a rest from a call that makes no day intensive".into());
        }
        if let Some(a) = spec.affinity.and_then(|a| before.number(a))
            && below(a)
            && a.id != n.id
        {
            return Err(format!("affinity {:?} was eligible, {:?} chosen", a.id, n.id));
        }
        if let Some(r) = alloc.rest {
            stats.rests += 1;
            if self.cal.tz().to_offset(r.from) != self.cal.tz().to_offset(r.until) {
                stats.rests_across_dst += 1;
            }
        }
        self.given.push((alloc.number, dial_at));
        Ok(())
    }

    /// Checks the pool against the model; returns an error naming what differs.
    fn check(&mut self, pool: &PoolState) -> Result<(), String> {
        pool.check_invariants(&self.cal)?;
        let p = &self.policy;
        let counts = self.counts();
        for n in pool.numbers() {
            for &day in &self.days {
                let calls = counts.get(&(n.id, day)).copied().unwrap_or(0);
                if pool.calls_on(n.id, day) != calls {
                    return Err(format!("{:?} on {day}: engine {} model {calls}", n.id, pool.calls_on(n.id, day)));
                }
                if calls > p.calls_per_day_max {
                    return Err(format!("{:?} has {calls} calls on {day}, over the cap", n.id));
                }
            }
            // Every maximal run of intensive days; a run of exactly N calls for a
            // rest from the end of its last day, lasting rest_hours as instants.
            let mut run: Vec<Date> = Vec::new();
            for &day in &self.days {
                let intensive = counts.get(&(n.id, day)).copied().unwrap_or(0) >= p.intensive_calls_min;
                if intensive {
                    run.push(day);
                }
                if !intensive || Some(&day) == self.days.last() {
                    let len = u32::try_from(run.len()).unwrap_or(u32::MAX);
                    if len > p.intensive_days_before_rest {
                        return Err(format!("{:?} has a run of {len} intensive days", n.id));
                    }
                    if len == p.intensive_days_before_rest {
                        let last = run[run.len() - 1];
                        let from = self.cal.end_of(last);
                        let until = Timestamp::from_second(from.as_second() + i64::from(p.rest_hours) * 3600)
                            .map_err(|e| e.to_string())?;
                        self.expected_rests.entry(n.id).or_default().insert((from, until));
                    }
                    run.clear();
                }
            }
            let got: Vec<(Timestamp, Timestamp)> = n.rests.iter().map(|r| (r.from, r.until)).collect();
            let want: Vec<(Timestamp, Timestamp)> =
                self.expected_rests.get(&n.id).map(|s| s.iter().copied().collect()).unwrap_or_default();
            if got != want {
                return Err(format!("{:?} rests {got:?}, expected (oldest first, once each) {want:?}", n.id));
            }
        }
        // No call given ever falls in a rest of its number, even one recorded later.
        for (id, at) in &self.given {
            let n = pool.number(*id).ok_or("a given call's number left the pool")?;
            if let Some(r) = n.rests.iter().find(|r| r.covers(*at)) {
                return Err(format!("{id:?} has a call at {at} inside its rest {r:?}"));
            }
        }
        Ok(())
    }
}

/// Plays a walk, checking the pool against the model after every step.
fn play_walk(walk: &Walk) -> Result<WalkStats, String> {
    let cal = Calendar::paris();
    let mut pool = PoolState::new(pool_def("A", PoolRole::Outbound, walk.policy.clone()));
    for (i, (fac, zone, status)) in walk.numbers.iter().enumerate() {
        pool.add_number(NumberSlot {
            facility: fac.map(|f| facility(FACILITIES[f])),
            zone: *zone,
            status: *status,
            ..slot(i as i64 + 1, &format!("n{}", i + 1))
        });
    }
    let window_start = cal.start_of(walk.first_day);
    // The model looks one day beyond the window on either side.
    let days: Vec<Date> = (-1..=WINDOW_DAYS).map(|d| add_days(walk.first_day, d)).collect();
    let mut model = Model {
        cal: cal.clone(),
        policy: walk.policy.clone(),
        given: Vec::new(),
        expected_rests: BTreeMap::new(),
        days,
    };
    let mut stats = WalkStats::default();
    let facilities: Vec<FacilityId> = FACILITIES.iter().chain(["clinique-z"].iter()).map(|f| facility(f)).collect();
    for (step, op) in walk.ops.iter().enumerate() {
        match op {
            Op::Allocate { offset, count, lead, facility, zone, affinity } => {
                for i in 0..*count {
                    let dial_at = window_start + SignedDuration::from_secs(*offset + 60 * i);
                    let spec = CallSpec {
                        facility: &facilities[*facility],
                        patient_zone: *zone,
                        affinity: affinity.map(|a| NumberId(a as i64 + 1)),
                        dial_at,
                    };
                    let now = dial_at - SignedDuration::from_secs(*lead);
                    model
                        .place(&mut pool, &spec, now, &mut stats)
                        .and_then(|()| model.check(&pool))
                        .map_err(|e| format!("step {step} ({op:?}), call {i}: {e}"))?;
                }
            }
            Op::Unassign { pick } => {
                if !model.given.is_empty() {
                    let (id, at) = model.given.swap_remove(pick % model.given.len());
                    pool.unassign(id, at, &cal);
                }
            }
            Op::SetStatus { number, status } => pool.set_status(NumberId(*number as i64 + 1), *status),
            Op::Reidentify { number, facility: fac, zone } => {
                if let Some(n) = pool.number(NumberId(*number as i64 + 1)) {
                    let facility = fac.map(|f| facility(FACILITIES[f]));
                    pool.add_number(NumberSlot { facility, zone: *zone, ..n.clone() });
                }
            }
            Op::MoveOutAndBack { number } => {
                let id = NumberId(*number as i64 + 1);
                if let Some(n) = pool.remove_number(id) {
                    pool.add_number(n);
                    for ((called, day), calls) in model.counts() {
                        // The pool's day totals kept these calls and count them
                        // twice from now on: a busier history, which the rules allow.
                        if called == id {
                            pool.load_calls(id, day, calls);
                        }
                    }
                }
            }
        }
        model.check(&pool).map_err(|e| format!("after step {step} ({op:?}): {e}"))?;
    }
    Ok(stats)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    /// Random walks keep every invariant and rest exactly as the day counts say.
    #[test]
    fn random_walks_keep_the_rules(walk in walk_strategy(300)) {
        if let Err(e) = play_walk(&walk) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// The walks above are not vacuous: with a fixed seed, many of them rest numbers, some
/// of those rests across a DST change, and some calls find no capacity.
#[test]
fn random_walks_really_rest_numbers() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = walk_strategy(300);
    let mut totals = WalkStats::default();
    let mut walks_with_rests = 0;
    for _ in 0..40 {
        let walk = strategy.new_tree(&mut runner).expect("walk").current();
        let stats = play_walk(&walk).expect("walk keeps the rules");
        walks_with_rests += usize::from(stats.rests > 0);
        totals.calls += stats.calls;
        totals.refused += stats.refused;
        totals.rests += stats.rests;
        totals.rests_across_dst += stats.rests_across_dst;
    }
    assert!(walks_with_rests >= 10, "only {walks_with_rests} of 40 walks rested a number: {totals:?}");
    assert!(totals.rests_across_dst > 0, "no rest crossed a DST change: {totals:?}");
    assert!(totals.refused > 0, "no call was ever refused: {totals:?}");
}

#[test]
fn rests_last_rest_hours_as_instants_across_both_changes() {
    let cal = Calendar::paris();
    for (last, expected_until) in [
        // Spring: 2026-03-28 ends at 00:00+01:00; 48 h later it is 01:00+02:00.
        ("2026-03-28", "2026-03-31T01:00+02:00"),
        // Autumn: 2026-10-24 ends at 00:00+02:00; 48 h later it is 23:00+01:00.
        ("2026-10-24", "2026-10-26T23:00+01:00"),
        // No change: midnight to midnight.
        ("2026-06-01", "2026-06-04T00:00+02:00"),
    ] {
        let mut pool = PoolState::new(pool_def("A", PoolRole::Outbound, Policy::default()));
        pool.add_number(slot(1, "n1"));
        let last: Date = last.parse().expect("date");
        pool.load_calls(NumberId(1), add_days(last, -2), 70);
        pool.load_calls(NumberId(1), add_days(last, -1), 70);
        pool.load_calls(NumberId(1), last, 69);
        let dial_at = cal.start_of(last) + SignedDuration::from_hours(10);
        let spec = CallSpec { facility: &facility("clinique-a"), patient_zone: None, affinity: None, dial_at };
        let alloc = pool.allocate(&spec, &cal, dial_at).expect("allocated");
        let rest = alloc.rest.expect("third intensive day starts a rest");
        assert_eq!(rest.from, cal.end_of(last));
        assert_eq!(rest.until.duration_since(rest.from), SignedDuration::from_hours(48));
        assert_eq!(render_ts(&cal, rest.until), expected_until);
        assert_eq!(pool.number(NumberId(1)).map(|n| n.rests.clone()), Some(vec![rest]));
    }
}

/// A pool trimmed every evening decides every call as the same pool holding its whole
/// history, rests included, and stays consistent.
#[test]
fn trimming_the_history_changes_no_decision() {
    let cal = Calendar::paris();
    let mut full = PoolState::new(pool_def("A", PoolRole::Outbound, Policy::default()));
    for id in 1..=4 {
        full.add_number(slot(id, &format!("n{id}")));
    }
    let mut trimmed = full.clone();
    let f = facility("clinique-a");
    let mut day: Date = "2026-03-02".parse().expect("date");
    let mut rests = 0;
    for _ in 0..60 {
        let start = local(&cal, &format!("{day}T09:00"));
        for i in 0..300 {
            let dial_at = start + SignedDuration::from_secs(60 * i);
            let call = CallSpec { facility: &f, patient_zone: None, affinity: None, dial_at };
            let a = full.allocate(&call, &cal, dial_at).map(|a| (a.number, a.rest));
            let b = trimmed.allocate(&call, &cal, dial_at).map(|a| (a.number, a.rest));
            assert_eq!(a, b, "{day} call {i}");
            rests += usize::from(a.is_ok_and(|(_, rest)| rest.is_some()));
        }
        day = next(day);
        trimmed.trim_history(day, &cal);
        assert_eq!(trimmed.check_invariants(&cal), Ok(()), "{day}");
    }
    assert_eq!(full.check_invariants(&cal), Ok(()));
    assert!(rests > 0, "no rest was exercised");
    assert_eq!(trimmed.calls_on(NumberId(1), "2026-03-02".parse().expect("date")), 0, "old counts forgotten");
}
