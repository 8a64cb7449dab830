//! One pool's monitoring as `vigie serve` runs it, on simulated outcomes: vigie-core's
//! per-number and per-pool CUSUM charts (`detect.rs`) designed with the server's
//! settings, against a baseline by purpose and local hour rebuilt from the pool's last
//! four weeks. The server's monitor (crates/vigie/src/monitor.rs) builds the same
//! `MonitorConfig` from `MonitorConfig::seed_default()` with the pool's active numbers
//! and healthy volume, starts with no baseline on a fresh store, and judges numbers
//! in service only.

use std::sync::Mutex;

use vigie_core::{
    Alarm, AnswerCounts, Baseline, BaselineRate, BaselineSource, BaselineTable, Calendar, CallSignal, DesignError,
    LocalHour, MonitorConfig, MonitorDesign, NumberDetector, NumberId, NumberLevel, PoolCode, PoolDef, PoolDetector,
    PoolState, Purpose,
};

/// Calls and answers of one day by purpose (the simulator's four) and local hour.
type DayCells = [[(u32, u32); 24]; 4];

/// Calls of its own a baseline cell needs to outweigh its parent: the server's
/// default (`[monitoring] prior_calls`).
const PRIOR_CALLS: u32 = 50;

/// The charts' design for a pool of `numbers` numbers at `healthy` calls a day, as the
/// server's monitor makes it on a fresh store (`MonitorConfig::seed_default()` with the
/// pool's figures, no baseline yet). Each design solves the Brook–Evans chain a few
/// dozen times, so designs are kept for the process: runs of one `--compare` and the
/// tests share them (a design depends on nothing else).
fn design(numbers: u32, healthy: u32) -> Result<MonitorDesign, DesignError> {
    static DESIGNS: Mutex<Vec<((u32, u32), MonitorDesign)>> = Mutex::new(Vec::new());
    // A poisoned lock only means another run panicked; the designs kept are whole.
    let mut designs = DESIGNS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, design)) = designs.iter().find(|(key, _)| *key == (numbers, healthy)) {
        return Ok(*design);
    }
    let config =
        MonitorConfig { numbers, calls_per_number_per_day: f64::from(healthy), ..MonitorConfig::seed_default() };
    let design = MonitorDesign::new(&config, &[])?;
    designs.push(((numbers, healthy), design));
    Ok(design)
}

/// One pool's charts and baseline.
pub(crate) struct Watch {
    code: PoolCode,
    design: MonitorDesign,
    calendar: Calendar,
    purposes: [Purpose; 4],
    baseline: Option<Baseline>,
    /// The last days' cells, a ring over [`PoolState::TOTAL_DAYS_KEPT`] days (the
    /// server's `history_days` is 28 too).
    history: Vec<DayCells>,
    today: DayCells,
    day_index: usize,
    pool: PoolDetector,
    /// By `NumberId` (the simulator's ids are dense).
    numbers: Vec<Option<NumberDetector>>,
}

impl Watch {
    /// The charts of a pool of `active` numbers, designed as the server designs them.
    pub(crate) fn new(
        def: &PoolDef,
        active: u32,
        calendar: Calendar,
        purposes: [Purpose; 4],
    ) -> Result<Watch, DesignError> {
        let design = design(active.max(1), def.policy.healthy_calls_per_day.max(1))?;
        let days = usize::try_from(PoolState::TOTAL_DAYS_KEPT).unwrap_or(28);
        Ok(Watch {
            pool: PoolDetector::new(def.code.clone(), design.pool),
            code: def.code.clone(),
            design,
            calendar,
            purposes,
            baseline: None,
            history: vec![[[(0, 0); 24]; 4]; days],
            today: [[(0, 0); 24]; 4],
            day_index: 0,
            numbers: Vec::new(),
        })
    }

    /// Feeds one call to the pool's chart and, when `in_service`, to its number's.
    /// Returns the pool's alarm (an alert) and the number's (a quarantine).
    pub(crate) fn observe(
        &mut self,
        number: NumberId,
        purpose: usize,
        signal: &CallSignal,
        in_service: bool,
    ) -> (Option<Alarm>, Option<Alarm>) {
        let hour = LocalHour::of(&self.calendar, signal.at);
        let cell = &mut self.today[purpose][usize::from(hour.get())];
        cell.0 += 1;
        cell.1 += u32::from(signal.answered());
        let expected = self.expected(purpose, hour);
        let pool_alarm = self.pool.observe(signal, expected);
        if !in_service {
            return (pool_alarm, None);
        }
        let slot = usize::try_from(number.0).unwrap_or(usize::MAX);
        if self.numbers.len() <= slot {
            self.numbers.resize_with(slot + 1, || None);
        }
        let design = self.design.number;
        let chart = self.numbers[slot].get_or_insert_with(|| NumberDetector::new(number, self.code.clone(), design));
        (pool_alarm, chart.observe(signal, expected))
    }

    /// The pool's expected rate for a call (numbers at the pool's level: the
    /// simulated numbers of a pool differ only by chance).
    fn expected(&self, purpose: usize, hour: LocalHour) -> BaselineRate {
        match &self.baseline {
            Some(b) => b.expected(&self.purposes[purpose], hour, NumberLevel::POOL),
            None => BaselineRate { p0: self.design.number.fall.p0(), source: BaselineSource::Pool, level: 1.0 },
        }
    }

    /// A number back in service after a clean check starts from zero.
    pub(crate) fn reset(&mut self, number: NumberId) {
        if let Some(Some(chart)) = usize::try_from(number.0).ok().and_then(|i| self.numbers.get_mut(i)) {
            chart.reset();
        }
    }

    /// The end of a day: the day joins the history and the baseline is rebuilt from
    /// the last four weeks (the server rebuilds it every hour from the same history).
    pub(crate) fn end_of_day(&mut self) {
        let slot = self.day_index % self.history.len();
        self.history[slot] = std::mem::take(&mut self.today);
        self.day_index += 1;
        let mut table = BaselineTable::new();
        for (purpose, hours) in self.purposes.iter().enumerate() {
            for hour in 0..24u8 {
                let (calls, answered) = self.history.iter().fold((0u64, 0u64), |(c, a), day| {
                    let (dc, da) = day[purpose][usize::from(hour)];
                    (c + u64::from(dc), a + u64::from(da))
                });
                if calls == 0 {
                    continue;
                }
                if let (Ok(h), Ok(counts)) = (LocalHour::new(hour), AnswerCounts::new(calls, answered)) {
                    table.add(hours, h, counts);
                }
            }
        }
        // Too little history (the first day) keeps the fallback rate, as on the server.
        if let Ok(baseline) = Baseline::new(self.calendar.clone(), &table, PRIOR_CALLS) {
            self.baseline = Some(baseline);
        }
    }
}
