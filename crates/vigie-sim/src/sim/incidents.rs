//! Incidents in the day loop: quarantine on the day's reports (vigie-core's
//! `reports_quarantine`), on an external source's listing or on a chart's alarm, each
//! opening vigie-core's `Incident` under the default `Playbook`; each morning the
//! incidents past their cool-down closed through the clean check, or the number retired
//! and replaced at a cost; the baseline's late findings.

use rand::Rng;
use vigie_core::{
    CleanCheck, Date, Incident, IncidentError, IncidentTrigger, NumberId, NumberStatus, PlaybookStep, PoolCode,
    SignedDuration, Timestamp, reports_quarantine,
};

use super::{ACTOR, BASELINE_POOL, Case, Detection, Placer, Sim, SimError};

impl Sim<'_> {
    /// vigie-core's quarantine rule on the day's reports.
    pub(super) fn on_report(&mut self, id: NumberId, at: Timestamp) -> Result<(), SimError> {
        let Placer::Engine { pools, .. } = &self.placer else { return Ok(()) };
        let n = &self.numbers[id.0 as usize];
        let threshold = pools[n.pool].def().policy.reports_per_day_to_quarantine;
        if n.status != NumberStatus::Active || !reports_quarantine(n.reports_today, threshold) {
            return Ok(());
        }
        let first = n.first_report_today.unwrap_or(at);
        if self.quarantine(id, IncidentTrigger::Reports, first, at)? {
            self.today.quarantined += 1;
        }
        Ok(())
    }

    /// Takes a number in service out of it and opens its incident (vigie-core's
    /// `Incident` with the default `Playbook`); the reserve swap is the engine's, at
    /// once. `false` when the number was not in service.
    pub(super) fn quarantine(
        &mut self,
        id: NumberId,
        trigger: IncidentTrigger,
        first_evidence_at: Timestamp,
        at: Timestamp,
    ) -> Result<bool, SimError> {
        let n = &self.numbers[id.0 as usize];
        if n.status != NumberStatus::Active {
            return Ok(false);
        }
        let Placer::Engine { pools, .. } = &self.placer else { return Ok(false) };
        let pool = pools[n.pool].def().code.clone();
        let mut incident = Incident::open(n.e164.clone(), pool, trigger, first_evidence_at.min(at), at, &self.playbook)
            .map_err(|e| self.broken(format!("incident: {e}")))?;
        // The engine gives the number's next calls to others at once (the reserve
        // swap); the identity check is the first thing the playbook asks for.
        for step in [PlaybookStep::ReserveSwapped, PlaybookStep::IdentityChecked] {
            incident.complete_step(step, at, ACTOR, "").map_err(|e| self.broken(format!("incident: {e}")))?;
        }
        self.set_status(id, NumberStatus::Quarantined);
        self.today.incidents += 1;
        self.opened_today.push((id, incident.time_to_detect()));
        self.cases.push(Case { number: id, incident });
        Ok(true)
    }

    /// The names of the external sources that list a number now.
    fn listed_by(&self, id: NumberId, at: Timestamp) -> Vec<String> {
        let n = &self.numbers[id.0 as usize];
        let visible = &self.model.apps.visible_to_sources;
        (0..n.labelled_since.len())
            .filter(|&app| visible.get(app).copied().unwrap_or(false) && n.labelled_at(app, at))
            .map(|app| format!("app-{}", app + 1))
            .collect()
    }

    /// Each morning, the open incidents past their cool-down: back to service when
    /// vigie-core's clean check passes, retired and replaced when it still fails
    /// `retire_after_days` after the quarantine.
    pub(super) fn close_incidents(&mut self, now: Timestamp) -> Result<(), SimError> {
        let retire_after = SignedDuration::from_hours(24 * i64::from(self.model.policies.retire_after_days));
        let cost_cents = (self.model.policies.replacement_cost_eur * 100.0).round().max(0.0) as u64;
        let mut cases = std::mem::take(&mut self.cases);
        let mut kept = Vec::with_capacity(cases.len());
        for mut case in cases.drain(..) {
            if now < case.incident.cool_down_ends(&self.playbook) {
                kept.push(case);
                continue;
            }
            let id = case.number;
            let check = CleanCheck {
                // Reports come with calls here, and a quarantined number makes none.
                reports_since_quarantine: 0,
                still_listed: self.listed_by(id, now),
                test_calls: None,
            };
            match case.incident.close_returning(now, ACTOR, &check, &self.playbook) {
                Ok(()) => {
                    self.set_status(id, NumberStatus::Active);
                    if let Some(watch) = self.watches.get_mut(self.numbers[id.0 as usize].pool) {
                        watch.reset(id);
                    }
                }
                Err(IncidentError::NotClean { .. }) if now.duration_since(case.incident.opened_at) >= retire_after => {
                    case.incident
                        .close_retiring(now, ACTOR, cost_cents)
                        .map_err(|e| self.broken(format!("incident: {e}")))?;
                    self.replace(id, cost_cents);
                }
                Err(IncidentError::NotClean { .. }) => kept.push(case),
                Err(e) => return Err(self.broken(format!("incident: {e}"))),
            }
        }
        self.cases = kept;
        Ok(())
    }

    /// The number is retired and a new one bought for its pool.
    fn replace(&mut self, id: NumberId, cost_cents: u64) {
        let n = &self.numbers[id.0 as usize];
        let (pool, facility, zone) = (n.pool, n.facility, n.zone);
        self.set_status(id, NumberStatus::Retired);
        self.today.replaced += 1;
        self.today.replacement_cost_eur += cost_cents as f64 / 100.0;
        self.add_number(pool, facility, zone);
    }

    /// The external sources, polled every hour from midnight: a number in service
    /// that a source lists is quarantined at the first poll after its label showed.
    pub(super) fn poll_sources(&mut self, day: Date) -> Result<(), SimError> {
        if !matches!(self.spec.detection, Detection::Monitor { .. }) {
            return Ok(());
        }
        let midnight = self.cal.start_of(day);
        let poll = midnight + SignedDuration::from_mins(self.rng.random_range(1..=60));
        for i in 0..self.numbers.len() {
            let id = NumberId(i as i64);
            if self.numbers[i].status != NumberStatus::Active || self.listed_by(id, poll).is_empty() {
                continue;
            }
            let since = self.numbers[i].labelled_since.iter().flatten().min().copied().unwrap_or(midnight);
            if self.quarantine(id, IncidentTrigger::ExternalFlag, since, poll)? {
                self.today.source_quarantines += 1;
            }
        }
        Ok(())
    }

    /// The baseline finds labels late: each finding retires and replaces the number.
    pub(super) fn act_on_findings(&mut self, now: Timestamp) -> Result<(), SimError> {
        while let Some(&(at, id)) = self.pending.last()
            && at <= now
        {
            self.pending.pop();
            let n = &self.numbers[id.0 as usize];
            let Some(since) = n.first_label else { continue };
            if n.status == NumberStatus::Retired {
                continue;
            }
            let mut incident = Incident::open(
                n.e164.clone(),
                PoolCode::parse(BASELINE_POOL).unwrap_or_else(|e| unreachable!("{BASELINE_POOL} is a pool code: {e}")),
                IncidentTrigger::ExternalFlag,
                since,
                at,
                &self.playbook,
            )
            .map_err(|e| self.broken(format!("incident: {e}")))?;
            let cost_cents = (self.model.policies.replacement_cost_eur * 100.0).round().max(0.0) as u64;
            incident.close_retiring(at, ACTOR, cost_cents).map_err(|e| self.broken(format!("incident: {e}")))?;
            self.today.incidents += 1;
            self.opened_today.push((id, incident.time_to_detect()));
            self.replace(id, cost_cents);
        }
        Ok(())
    }
}
