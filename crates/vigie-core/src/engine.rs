//! The allocation engine: which number of a pool takes a call, when a number rests,
//! when the pool runs short and needs reserve numbers. Pure: no I/O, and the time
//! is always an argument.
//!
//! A [`PoolState`] holds, for one pool, its numbers and their calls per local day. The
//! store loads it, the engine decides against it, the store writes the decisions in
//! the same transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use jiff::civil::Date;

use crate::calendar::{Calendar, add_days, hours, next, prev};
use crate::catalog::{FacilityId, Policy, PoolDef};
use crate::phone::E164;

/// A number's identity in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NumberId(pub i64);

/// A number's lasting state. Resting is not a state of its own: it follows from the
/// number's intensive days and is read from its rest windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberStatus {
    /// In service.
    Active,
    /// Taken out of service after reports or by an operator.
    Quarantined,
    /// Held in reserve.
    Reserve,
    /// Out of service for good.
    Retired,
}

impl NumberStatus {
    /// The state's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberStatus::Active => "active",
            NumberStatus::Quarantined => "quarantined",
            NumberStatus::Reserve => "reserve",
            NumberStatus::Retired => "retired",
        }
    }

    /// Parses a stored state name.
    pub fn parse(text: &str) -> Option<NumberStatus> {
        match text {
            "active" => Some(NumberStatus::Active),
            "quarantined" => Some(NumberStatus::Quarantined),
            "reserve" => Some(NumberStatus::Reserve),
            "retired" => Some(NumberStatus::Retired),
            _ => None,
        }
    }
}

/// A rest window: the number is given no call with `from <= dial_at < until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rest {
    /// The end of the last intensive day.
    pub from: Timestamp,
    /// `from` plus the policy's rest hours.
    pub until: Timestamp,
}

impl Rest {
    /// Whether `at` falls inside the window.
    pub fn covers(&self, at: Timestamp) -> bool {
        self.from <= at && at < self.until
    }
}

/// One number as the engine sees it.
#[derive(Debug, Clone)]
pub struct NumberSlot {
    /// Store identity.
    pub id: NumberId,
    /// The number presented.
    pub e164: E164,
    /// The name the carrier displays with it.
    pub display_name: String,
    /// Lasting state.
    pub status: NumberStatus,
    /// The facility the number belongs to, if any.
    pub facility: Option<FacilityId>,
    /// Geographic zone 1 to 5, if the number has one.
    pub zone: Option<u8>,
    /// The `dial_at` of the latest call given to it.
    pub last_used: Option<Timestamp>,
    /// Its rest windows, oldest first.
    pub rests: Vec<Rest>,
}

/// Calls of one local day.
#[derive(Debug, Clone, Default)]
struct DayLoad {
    /// Calls per slot (index into `PoolState::numbers`); may be shorter than the slots.
    counts: Vec<u32>,
    /// Slots with at least one call.
    open: u32,
    /// Those numbers by identity group (index into `PoolState::groups`; may be shorter),
    /// fewest calls first, then least recently used: within a group and a tier, the
    /// order in which they fit a call, so that the choice reads the head of each.
    working: Vec<BTreeSet<WorkKey>>,
    /// Every call of the pool that day, also of numbers that have since left it.
    total: u32,
}

impl DayLoad {
    fn count(&self, slot: usize) -> u32 {
        self.counts.get(slot).copied().unwrap_or(0)
    }

    /// Sets a slot's calls, keeping `open` and `working` in step (not `total`). `n` is
    /// the slot's number and `group` its identity group.
    fn set(&mut self, slot: usize, n: &NumberSlot, group: usize, calls: u32) {
        if self.counts.len() <= slot {
            self.counts.resize(slot + 1, 0);
        }
        let before = std::mem::replace(&mut self.counts[slot], calls);
        if before > 0 {
            self.unwork(slot, n, group, before);
        }
        if calls > 0 {
            self.work(slot, n, group, calls);
        }
        if before == 0 && calls > 0 {
            self.open += 1;
        } else if before > 0 && calls == 0 {
            self.open -= 1;
        }
    }

    fn work(&mut self, slot: usize, n: &NumberSlot, group: usize, calls: u32) {
        if self.working.len() <= group {
            self.working.resize_with(group + 1, BTreeSet::new);
        }
        self.working[group].insert((calls, n.last_used, n.id, slot));
    }

    fn unwork(&mut self, slot: usize, n: &NumberSlot, group: usize, calls: u32) {
        if let Some(set) = self.working.get_mut(group) {
            set.remove(&(calls, n.last_used, n.id, slot));
        }
    }
}

/// Where a number stands in the least-recently-used order of its identity group, with
/// its slot (which follows from its id, so that the order is by last use then id).
type LruKey = (Option<Timestamp>, NumberId, usize);
/// Where a working number stands in its group on a day: its calls that day, then its
/// place in [`LruKey`].
type WorkKey = (u32, Option<Timestamp>, NumberId, usize);
/// A number's identity group: its facility and zone.
type Group = (Option<FacilityId>, Option<u8>);

/// The first key with `calls` calls, as a bound of a range of [`WorkKey`]s.
fn with_calls(calls: u32) -> WorkKey {
    (calls, None, NumberId(i64::MIN), 0)
}

/// What the engine needs to know of a call to place it.
#[derive(Debug, Clone)]
pub struct CallSpec<'a> {
    /// The facility the call is made for.
    pub facility: &'a FacilityId,
    /// The patient's geographic zone, when their phone has one.
    pub patient_zone: Option<u8>,
    /// The number that last called this patient for this pool.
    pub affinity: Option<NumberId>,
    /// When the call will be dialled.
    pub dial_at: Timestamp,
}

/// A call placed on a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// The number given.
    pub number: NumberId,
    /// The rest this call starts, when it makes the number's last allowed intensive day.
    pub rest: Option<Rest>,
}

/// No number of the pool may take the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoCapacity {
    /// The earliest instant at which a number of the pool becomes available again, if
    /// any number could.
    pub retry_at: Option<Timestamp>,
}

/// How a number fits a call; smaller is better, compared field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Fit {
    /// 0 below the intensive threshold, 1 already intensive, 2 pushed into intensive.
    tier: u8,
    not_affinity: bool,
    not_facility: bool,
    not_zone: bool,
    /// 0 in the day's working set, 1 standing by, 2 already at a healthy volume.
    standby: u8,
    calls: u32,
    last_used: Option<Timestamp>,
    id: NumberId,
}

/// Rates numbers for one call.
struct Judge<'a> {
    pool: &'a PoolState,
    call: &'a CallSpec<'a>,
    cal: &'a Calendar,
    day: Date,
    load: Option<&'a DayLoad>,
    /// How many numbers the pool should have working that day.
    working: u32,
}

impl Judge<'_> {
    /// How a number fits the call, or `None` when it may not take it.
    fn fit(&self, slot: usize) -> Option<(Fit, Option<Rest>)> {
        let n = &self.pool.numbers[slot];
        let (tier, rest) = self.pool.admit(slot, self.day, self.call.dial_at, self.cal)?;
        let p = self.pool.policy();
        let calls = self.load.map_or(0, |l| l.count(slot));
        let open = self.load.map_or(0, |l| l.open);
        let standby = match calls {
            c if c > 0 && c < p.healthy_calls_per_day => 0,
            c if c > 0 => 2,
            _ if open < self.working => 0,
            _ => 1,
        };
        let fit = Fit {
            tier,
            not_affinity: self.call.affinity != Some(n.id),
            not_facility: n.facility.as_ref() != Some(self.call.facility),
            not_zone: !(p.geographic && self.call.patient_zone.is_some() && n.zone == self.call.patient_zone),
            standby,
            calls,
            last_used: n.last_used,
            id: n.id,
        };
        Some((fit, rest))
    }
}

/// One pool's numbers and their load, as the engine decides on them.
#[derive(Debug, Clone)]
pub struct PoolState {
    def: PoolDef,
    numbers: Vec<NumberSlot>,
    index: HashMap<NumberId, usize>,
    /// Each slot's identity group, an index into `groups`.
    group_of: Vec<usize>,
    /// The identity groups (facility, zone) of the pool's numbers, in the order first
    /// seen; a group stays when its last number leaves.
    groups: Vec<Group>,
    days: BTreeMap<Date, DayLoad>,
    /// Active numbers by identity group (as `groups`), least recently used first. A
    /// number with no call on a day is only ever chosen as the first eligible one of its
    /// group, so the choice reads the head of each group instead of the pool.
    idle: Vec<BTreeSet<LruKey>>,
}

impl PoolState {
    /// An empty pool.
    pub fn new(def: PoolDef) -> PoolState {
        PoolState {
            def,
            numbers: Vec::new(),
            index: HashMap::new(),
            group_of: Vec::new(),
            groups: Vec::new(),
            days: BTreeMap::new(),
            idle: Vec::new(),
        }
    }

    /// The pool's definition.
    pub fn def(&self) -> &PoolDef {
        &self.def
    }

    fn policy(&self) -> &Policy {
        &self.def.policy
    }

    /// The index of a number's identity group, added if new.
    fn group(&mut self, n: &NumberSlot) -> usize {
        let position = self.groups.iter().position(|(f, z)| *f == n.facility && *z == n.zone);
        position.unwrap_or_else(|| {
            self.groups.push((n.facility.clone(), n.zone));
            self.idle.push(BTreeSet::new());
            self.groups.len() - 1
        })
    }

    /// Takes a slot out of the idle index, before its status or last use changes.
    fn unidle(&mut self, slot: usize) {
        let n = &self.numbers[slot];
        self.idle[self.group_of[slot]].remove(&(n.last_used, n.id, slot));
    }

    /// Puts a slot back in the idle index, if it is active.
    fn reidle(&mut self, slot: usize) {
        let n = &self.numbers[slot];
        if n.status == NumberStatus::Active {
            self.idle[self.group_of[slot]].insert((n.last_used, n.id, slot));
        }
    }

    /// Takes a slot out of every index (idle, and each day's working numbers), before
    /// its last use or identity group changes.
    fn unindex(&mut self, slot: usize) {
        self.unidle(slot);
        self.each_working_day(slot, DayLoad::unwork);
    }

    /// Puts a slot back in every index, after its last use or identity group changed.
    fn reindex(&mut self, slot: usize) {
        self.reidle(slot);
        self.each_working_day(slot, DayLoad::work);
    }

    /// Applies `change` (`DayLoad::work` or `unwork`) to every day the slot has calls on.
    fn each_working_day(&mut self, slot: usize, change: fn(&mut DayLoad, usize, &NumberSlot, usize, u32)) {
        let (n, group) = (&self.numbers[slot], self.group_of[slot]);
        for load in self.days.values_mut() {
            let calls = load.count(slot);
            if calls > 0 {
                change(load, slot, n, group, calls);
            }
        }
    }

    /// Adds a number (loading, or a number moved or promoted into the pool).
    pub fn add_number(&mut self, slot: NumberSlot) {
        let group = self.group(&slot);
        if let Some(&i) = self.index.get(&slot.id) {
            self.unindex(i);
            self.numbers[i] = slot;
            self.group_of[i] = group;
            self.reindex(i);
            return;
        }
        self.index.insert(slot.id, self.numbers.len());
        self.numbers.push(slot);
        self.group_of.push(group);
        self.reindex(self.numbers.len() - 1);
    }

    /// Loads a number's calls on a local day (and counts them in the pool's total).
    pub fn load_calls(&mut self, number: NumberId, day: Date, calls: u32) {
        let Some(&slot) = self.index.get(&number) else { return };
        let load = self.days.entry(day).or_default();
        let before = load.count(slot);
        load.set(slot, &self.numbers[slot], self.group_of[slot], calls);
        load.total = load.total + calls - before;
    }

    /// Loads the pool's total calls of a day, including numbers that left the pool.
    /// Call after [`PoolState::load_calls`] for that day.
    pub fn load_total(&mut self, day: Date, total: u32) {
        let load = self.days.entry(day).or_default();
        load.total = load.total.max(total);
    }

    /// The numbers of the pool.
    pub fn numbers(&self) -> &[NumberSlot] {
        &self.numbers
    }

    /// A number of the pool.
    pub fn number(&self, id: NumberId) -> Option<&NumberSlot> {
        self.index.get(&id).map(|&i| &self.numbers[i])
    }

    /// Calls given to a number on a local day.
    pub fn calls_on(&self, id: NumberId, day: Date) -> u32 {
        match (self.index.get(&id), self.days.get(&day)) {
            (Some(&slot), Some(load)) => load.count(slot),
            _ => 0,
        }
    }

    /// Calls of the pool on a local day.
    pub fn total_on(&self, day: Date) -> u32 {
        self.days.get(&day).map_or(0, |l| l.total)
    }

    /// Sets a number's lasting state.
    pub fn set_status(&mut self, id: NumberId, status: NumberStatus) {
        if let Some(&i) = self.index.get(&id) {
            self.unidle(i);
            self.numbers[i].status = status;
            self.reidle(i);
        }
    }

    /// Removes a number from the pool (moved elsewhere), keeping the day totals.
    pub fn remove_number(&mut self, id: NumberId) -> Option<NumberSlot> {
        let slot = *self.index.get(&id)?;
        let last = self.numbers.len() - 1;
        // The last slot moves into the removed one's place, and its keys name its slot.
        self.unindex(slot);
        if slot < last {
            self.unindex(last);
        }
        self.index.remove(&id);
        let removed = self.numbers.swap_remove(slot);
        self.group_of.swap_remove(slot);
        for load in self.days.values_mut() {
            let (gone, moved) = (load.count(slot), load.count(last));
            if gone > 0 {
                load.open -= 1;
            }
            if let Some(c) = load.counts.get_mut(slot) {
                *c = moved;
            }
            load.counts.truncate(last);
        }
        if slot < last {
            self.index.insert(self.numbers[slot].id, slot);
            self.reindex(slot);
        }
        Some(removed)
    }

    /// The demand expected on `day`: the mean of the pool's calls over its last seven
    /// days with traffic before `today` (within four weeks), or what `day` already
    /// holds if that is more.
    pub fn expected_demand(&self, day: Date, today: Date) -> u32 {
        let from = add_days(today, -28);
        let recent: Vec<u32> =
            self.days.range(from..today).rev().map(|(_, l)| l.total).filter(|&t| t > 0).take(7).collect();
        let mean = if recent.is_empty() {
            0
        } else {
            let sum: u64 = recent.iter().map(|&t| u64::from(t)).sum();
            u32::try_from(sum.div_ceil(recent.len() as u64)).unwrap_or(u32::MAX)
        };
        mean.max(self.total_on(day))
    }

    /// How many numbers the pool should have in use on `day`: its expected demand at
    /// a healthy volume per number. The others stand by, so that the pool does not
    /// scatter its calls over many numbers with a few calls each.
    pub fn working_set(&self, day: Date, today: Date) -> u32 {
        // The call being placed is the day's next one: it counts once the day holds
        // as much as expected, but must not add a number to the expected demand.
        let demand = self.expected_demand(day, today).max(self.total_on(day).saturating_add(1));
        demand.div_ceil(self.policy().healthy_calls_per_day).max(1)
    }

    /// Whether a number may take a call at `dial_at` (on local `day`), and if so its
    /// tier and the rest the call would start.
    fn admit(&self, slot: usize, day: Date, dial_at: Timestamp, cal: &Calendar) -> Option<(u8, Option<Rest>)> {
        let n = &self.numbers[slot];
        if n.status != NumberStatus::Active || n.rests.iter().any(|r| r.covers(dial_at)) {
            return None;
        }
        let p = self.policy();
        let calls = self.days.get(&day).map_or(0, |l| l.count(slot));
        if calls >= p.calls_per_day_max {
            return None;
        }
        if calls + 1 < p.intensive_calls_min {
            return Some((0, None));
        }
        if calls >= p.intensive_calls_min {
            return Some((1, None));
        }
        // This call makes `day` intensive: it may complete a run of intensive days.
        let intensive = |d: Date| self.days.get(&d).is_some_and(|l| l.count(slot) >= p.intensive_calls_min);
        let (mut first, mut last) = (day, day);
        while intensive(prev(first)) && first > add_days(day, -30) {
            first = prev(first);
        }
        while intensive(next(last)) && last < add_days(day, 30) {
            last = next(last);
        }
        let run = (last - first).get_days() + 1;
        let needed = i32::try_from(p.intensive_days_before_rest).unwrap_or(i32::MAX);
        if run > needed {
            return None;
        }
        if run < needed {
            return Some((2, None));
        }
        let from = cal.end_of(last);
        let rest = Rest { from, until: from + hours(p.rest_hours) };
        // The rest must not fall on calls already given.
        let mut d = next(last);
        while cal.start_of(d) < rest.until {
            if self.days.get(&d).is_some_and(|l| l.count(slot) > 0) {
                return None;
            }
            d = next(d);
        }
        Some((2, Some(rest)))
    }

    /// Chooses the number for a call without changing anything.
    ///
    /// The best number is the smallest [`Fit`] among eligible numbers. It is either the
    /// patient's affinity number, a number already working that day, or a number with
    /// no call that day. Within an identity group (facility, zone) the fit of a working
    /// number follows its calls, then its last use, tier by tier; the fit of a number
    /// with no call that day follows its last use. So the choice reads, for each group,
    /// the first eligible working number of each tier and the first eligible idle
    /// number, never the whole pool nor the whole day.
    pub fn choose(&self, call: &CallSpec<'_>, cal: &Calendar, now: Timestamp) -> Result<Allocation, NoCapacity> {
        let day = cal.day_of(call.dial_at);
        let load = self.days.get(&day);
        let judge = Judge { pool: self, call, cal, day, load, working: self.working_set(day, cal.day_of(now)) };
        let mut best: Option<(Fit, Option<Rest>)> = None;
        let mut consider = |candidate: Option<(Fit, Option<Rest>)>| {
            if let Some(candidate) = candidate
                && best.as_ref().is_none_or(|(b, _)| candidate.0 < *b)
            {
                best = Some(candidate);
            }
        };
        if let Some(&slot) = call.affinity.and_then(|a| self.index.get(&a)) {
            consider(judge.fit(slot));
        }
        if let Some(load) = load {
            for set in &load.working {
                consider(self.best_working(&judge, set));
            }
        }
        for group in &self.idle {
            let first = group
                .iter()
                .map(|&(_, _, slot)| slot)
                .filter(|&slot| load.is_none_or(|l| l.count(slot) == 0))
                .find_map(|slot| judge.fit(slot));
            consider(first);
        }
        match best {
            Some((fit, rest)) => Ok(Allocation { number: fit.id, rest }),
            None => Err(NoCapacity { retry_at: self.capacity_returns(call.dial_at, cal) }),
        }
    }

    /// The best of one group's working numbers for a call. Their tier follows their
    /// calls: below the threshold less one (tier 0), from the threshold to the cap (tier
    /// 1), then one call short of the threshold (tier 2: the call would make the day
    /// intensive). Within a tier and a group every other part of the fit follows the
    /// calls and the last use (the standby class grows with the calls), so the first
    /// eligible number of the first tier that has one is the group's best. The
    /// patient's affinity number may fit better than its place says; `choose` weighs it
    /// on its own.
    fn best_working(&self, judge: &Judge<'_>, set: &BTreeSet<WorkKey>) -> Option<(Fit, Option<Rest>)> {
        let p = self.policy();
        let (short, cap) = (p.intensive_calls_min.saturating_sub(1), p.calls_per_day_max);
        let first = |from: u32, to: u32| {
            let mut keys = set.range(with_calls(from)..with_calls(to.max(from)));
            keys.find_map(|&(_, _, _, slot)| judge.fit(slot))
        };
        // Tier 0 in order; tier 1 directly after it when no number is one call short.
        for &(calls, _, _, slot) in set {
            if calls >= cap {
                return None;
            }
            if calls > 0 && calls == short {
                return first(calls + 1, cap).or_else(|| first(calls, calls + 1));
            }
            if let Some(fit) = judge.fit(slot) {
                return Some(fit);
            }
        }
        None
    }

    /// The same choice by reading every number: the reference the property tests hold
    /// [`PoolState::choose`] to.
    #[cfg(test)]
    pub(crate) fn choose_by_scan(&self, call: &CallSpec<'_>, cal: &Calendar, now: Timestamp) -> Option<Allocation> {
        let day = cal.day_of(call.dial_at);
        let judge = Judge {
            pool: self,
            call,
            cal,
            day,
            load: self.days.get(&day),
            working: self.working_set(day, cal.day_of(now)),
        };
        (0..self.numbers.len())
            .filter_map(|slot| judge.fit(slot))
            .min_by(|a, b| a.0.cmp(&b.0))
            .map(|(fit, rest)| Allocation { number: fit.id, rest })
    }

    /// The earliest instant after `at` at which some active number could take a call.
    fn capacity_returns(&self, at: Timestamp, cal: &Calendar) -> Option<Timestamp> {
        let day = cal.day_of(at);
        let day_end = cal.end_of(day);
        let cap = self.policy().calls_per_day_max;
        let load = self.days.get(&day);
        self.numbers
            .iter()
            .enumerate()
            .filter(|(_, n)| n.status == NumberStatus::Active)
            .map(|(slot, n)| {
                let back = match n.rests.iter().find(|r| r.covers(at)) {
                    // A rest lasts rest hours as instants, so it may end within a day
                    // (across a DST change): the number is back then, unless that day
                    // is already full.
                    Some(r) if r.until < day_end && load.map_or(0, |l| l.count(slot)) < cap => r.until,
                    Some(r) => r.until.max(day_end),
                    None => day_end,
                };
                // A full last intensive day is followed at once by its rest.
                n.rests.iter().find(|r| r.covers(back)).map_or(back, |r| r.until)
            })
            .min()
    }

    /// Records that a call was given to `alloc.number`.
    pub fn assign(&mut self, alloc: &Allocation, dial_at: Timestamp, cal: &Calendar) {
        let Some(&slot) = self.index.get(&alloc.number) else { return };
        let day = cal.day_of(dial_at);
        let load = self.days.entry(day).or_default();
        let calls = load.count(slot) + 1;
        load.set(slot, &self.numbers[slot], self.group_of[slot], calls);
        load.total += 1;
        if self.numbers[slot].last_used.is_none_or(|t| t < dial_at) {
            self.unindex(slot);
            self.numbers[slot].last_used = Some(dial_at);
            self.reindex(slot);
        }
        let n = &mut self.numbers[slot];
        if let Some(rest) = alloc.rest {
            // A day made intensive again after a call was taken back computes the same
            // rest: record it once, and keep the windows oldest first.
            if !n.rests.contains(&rest) {
                let at = n.rests.partition_point(|r| (r.from, r.until) < (rest.from, rest.until));
                n.rests.insert(at, rest);
            }
        }
    }

    /// Chooses a number for the call and records it.
    pub fn allocate(&mut self, call: &CallSpec<'_>, cal: &Calendar, now: Timestamp) -> Result<Allocation, NoCapacity> {
        let alloc = self.choose(call, cal, now)?;
        self.assign(&alloc, call.dial_at, cal);
        Ok(alloc)
    }

    /// Takes back a call given to `number` (the call is moving to another number).
    pub fn unassign(&mut self, number: NumberId, dial_at: Timestamp, cal: &Calendar) {
        let Some(&slot) = self.index.get(&number) else { return };
        let Some(load) = self.days.get_mut(&cal.day_of(dial_at)) else { return };
        let calls = load.count(slot);
        if calls == 0 {
            return;
        }
        load.set(slot, &self.numbers[slot], self.group_of[slot], calls - 1);
        load.total = load.total.saturating_sub(1);
    }

    /// How many reserve numbers the pool needs on `day`: zero while the capacity its
    /// active numbers have left covers the expected demand plus the margin.
    pub fn shortfall(&self, day: Date, cal: &Calendar, now: Timestamp) -> u32 {
        let p = self.policy();
        let expected = u64::from(self.expected_demand(day, cal.day_of(now)));
        let wanted = (expected * (100 + u64::from(p.reserve_margin_percent))).div_ceil(100);
        let remaining = wanted.saturating_sub(u64::from(self.total_on(day)));
        let (start, end) = (cal.start_of(day), cal.end_of(day));
        let load = self.days.get(&day);
        // The capacity left, added up until it covers what remains: in service that is
        // after a few numbers, and the writer asks for every pool-day a batch touched.
        let mut left = 0u64;
        for (slot, n) in self.numbers.iter().enumerate() {
            if left >= remaining {
                return 0;
            }
            if n.status == NumberStatus::Active && !n.rests.iter().any(|r| r.from <= start && end <= r.until) {
                left += u64::from(p.calls_per_day_max.saturating_sub(load.map_or(0, |l| l.count(slot))));
            }
        }
        if left >= remaining {
            return 0;
        }
        u32::try_from((remaining - left).div_ceil(u64::from(p.healthy_calls_per_day))).unwrap_or(u32::MAX)
    }

    /// The active reserve candidates in the order they should be promoted into
    /// `target`: those whose identity fits the target first (a facility the target's
    /// numbers serve, the zone most of them have), then the least recently used.
    pub fn promotion_order(&self, target: &PoolState) -> Vec<NumberId> {
        let mut zones: BTreeMap<u8, usize> = BTreeMap::new();
        for z in target.numbers.iter().filter_map(|n| n.zone) {
            *zones.entry(z).or_default() += 1;
        }
        let main_zone = zones.iter().max_by_key(|(_, c)| **c).map(|(z, _)| *z);
        let mut candidates: Vec<_> = self
            .numbers
            .iter()
            .filter(|n| matches!(n.status, NumberStatus::Reserve | NumberStatus::Active))
            .map(|n| {
                let facility_fits =
                    n.facility.as_ref().is_some_and(|f| target.numbers.iter().any(|t| t.facility.as_ref() == Some(f)));
                let zone_fits = !target.policy().geographic || (n.zone.is_some() && n.zone == main_zone);
                ((!facility_fits, !zone_fits, n.last_used, n.id), n.id)
            })
            .collect();
        candidates.sort();
        candidates.into_iter().map(|(_, id)| id).collect()
    }

    /// Forgets what the rules no longer read on `today` and after, keeping the state a
    /// store loads for that day (vigie-store's `load_pool`): each number's calls over
    /// the last [`PoolState::NUMBER_DAYS_KEPT`] days (any run of intensive days), the
    /// pool's daily totals over [`PoolState::TOTAL_DAYS_KEPT`] days (the expected
    /// demand), the rests that end after the first of those ten days. A long-running
    /// holder of a pool (the simulator) calls it once a day so that neither the
    /// decisions nor [`PoolState::check_invariants`] grow with its history.
    pub fn trim_history(&mut self, today: Date, cal: &Calendar) {
        let counts_from = add_days(today, -PoolState::NUMBER_DAYS_KEPT);
        let totals_from = add_days(today, -PoolState::TOTAL_DAYS_KEPT);
        self.days.retain(|day, _| *day >= totals_from);
        for (_, load) in self.days.range_mut(..counts_from) {
            *load = DayLoad { total: load.total, ..DayLoad::default() };
        }
        let rests_from = cal.start_of(counts_from);
        for n in &mut self.numbers {
            n.rests.retain(|r| r.until > rests_from);
        }
    }

    /// Days of each number's calls a pool's state needs (see [`PoolState::trim_history`]).
    pub const NUMBER_DAYS_KEPT: i32 = 10;
    /// Days of the pool's totals a pool's state needs (see [`PoolState::trim_history`]).
    pub const TOTAL_DAYS_KEPT: i32 = 28;

    /// The invariants of one day (what [`PoolState::check_invariants`] checks for every
    /// day): each number within the cap and outside its rests, the day's counts and
    /// open slots consistent. The writer checks the days a batch changed before it
    /// commits.
    pub fn check_day(&self, cal: &Calendar, day: Date) -> Result<(), String> {
        let p = self.policy();
        let Some(load) = self.days.get(&day) else { return Ok(()) };
        let open = load.counts.iter().filter(|&&c| c > 0).count();
        if open != load.open as usize {
            return Err(format!("{day}: open count {} but {open} numbers have calls", load.open));
        }
        let sum: u32 = load.counts.iter().sum();
        if sum > load.total {
            return Err(format!("{day}: numbers hold {sum} calls but the pool total is {}", load.total));
        }
        let any_rest = self.numbers.iter().any(|n| !n.rests.is_empty());
        let bounds = any_rest.then(|| (cal.start_of(day), cal.end_of(day)));
        for (slot, &calls) in load.counts.iter().enumerate() {
            let Some(n) = self.numbers.get(slot) else {
                if calls > 0 {
                    return Err(format!("{day}: calls on a slot with no number"));
                }
                continue;
            };
            if calls > p.calls_per_day_max {
                return Err(format!("{} has {calls} calls on {day}, over the cap of {}", n.e164, p.calls_per_day_max));
            }
            let inside =
                |(start, end): (Timestamp, Timestamp)| n.rests.iter().any(|r| r.from <= start && end <= r.until);
            if calls > 0 && bounds.is_some_and(inside) {
                return Err(format!("{} has {calls} calls on {day}, inside its rest", n.e164));
            }
        }
        Ok(())
    }

    /// Checks what must always hold; tests and the simulator call it after each step.
    pub fn check_invariants(&self, cal: &Calendar) -> Result<(), String> {
        let p = self.policy();
        if self.index.len() != self.numbers.len() {
            return Err("index and numbers disagree".into());
        }
        if self.index.len() != self.group_of.len() || self.idle.len() != self.groups.len() {
            return Err("groups and numbers disagree".into());
        }
        let in_group = |slot: usize| {
            let n = &self.numbers[slot];
            self.groups.get(self.group_of[slot]) == Some(&(n.facility.clone(), n.zone))
        };
        if let Some(slot) = (0..self.numbers.len()).find(|&slot| !in_group(slot)) {
            return Err(format!("{} is in another identity group than its own", self.numbers[slot].e164));
        }
        let indexed: usize = self.idle.iter().map(BTreeSet::len).sum();
        let active: Vec<usize> =
            (0..self.numbers.len()).filter(|&s| self.numbers[s].status == NumberStatus::Active).collect();
        let n = |slot: usize| &self.numbers[slot];
        if indexed != active.len()
            || active.iter().any(|&s| !self.idle[self.group_of[s]].contains(&(n(s).last_used, n(s).id, s)))
        {
            return Err(format!(
                "the idle index holds {indexed} numbers for {} active ones, or stale ones",
                active.len()
            ));
        }
        for (day, load) in &self.days {
            self.check_day(cal, *day)?;
            let listed: usize = load.working.iter().map(BTreeSet::len).sum();
            let stale = (0..load.counts.len()).filter(|&s| load.counts[s] > 0).find(|&s| {
                let key = (load.counts[s], n(s).last_used, n(s).id, s);
                !load.working.get(self.group_of[s]).is_some_and(|set| set.contains(&key))
            });
            if listed != load.open as usize || stale.is_some() {
                return Err(format!(
                    "{day}: {listed} working numbers listed for {} with calls, or stale ones",
                    load.open
                ));
            }
        }
        for (slot, n) in self.numbers.iter().enumerate() {
            let mut run = 0;
            let mut last: Option<Date> = None;
            for (day, load) in &self.days {
                if load.count(slot) >= p.intensive_calls_min {
                    run = if last.is_some_and(|l| next(l) == *day) { run + 1 } else { 1 };
                    last = Some(*day);
                    if run > p.intensive_days_before_rest {
                        return Err(format!("{} has {run} consecutive intensive days up to {day}", n.e164));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
