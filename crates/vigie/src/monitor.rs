//! Reputation monitoring in `vigie serve` and `vigie demo`: reads the call outcomes as
//! the dialers post them (a cursor in the store, so that a restart resumes where it
//! stopped), feeds every number's and every pool's sequential test (`vigie_core::detect`)
//! against the pool's baseline by purpose and local hour, and acts on an alarm: a
//! number is quarantined (or an alert raised, per pool), a pool's fall is alerted. The
//! store opens the incident and its alert in the quarantine's own transaction.
//!
//! Reports need none of this: the second report of a day quarantines the number in the
//! writer, before the API answers.
//!
//! This file names nothing of the binary (`crate::…`): the integration tests include it
//! to drive [`Monitor::tick`] with their own clock.

use std::collections::HashMap;
use std::time::Duration;

use vigie_core::{
    AlarmAction, AlarmSubject, Alert, AlertAction, AlertPolicy, AlertSignal, AnswerCounts, AnswerFall, Baseline,
    BaselineRate, BaselineSource, BaselineTable, Finding, LocalHour, MonitorConfig, MonitorDesign, NumberDetector,
    NumberId, NumberLevel, NumberStatus, PlaybookStep, PoolCode, PoolDetector, PoolRole, Reporting, Severity,
    SignalModel, SignedDuration, Timestamp,
};
use vigie_store::{OutcomeCursor, OutcomeSignal, Store, StoreError, Trigger};

/// How monitoring watches the pools.
#[derive(Debug, Clone)]
pub(crate) struct MonitorSettings {
    /// How often outcomes are read.
    pub(crate) interval: Duration,
    /// Days of history a baseline is built from.
    pub(crate) history_days: u32,
    /// Calls of its own a baseline cell needs to outweigh its parent.
    pub(crate) prior_calls: u32,
    /// Tolerated false quarantines per pool per month.
    pub(crate) false_quarantines_per_month: f64,
    /// Tolerated false pool alerts per pool per month.
    pub(crate) false_pool_alerts_per_month: f64,
    /// The fall a number's test is designed for.
    pub(crate) number_fall: AnswerFall,
    /// The fall a pool's test is designed for.
    pub(crate) pool_fall: AnswerFall,
    /// What a number's alarm does, per pool (default: quarantine).
    pub(crate) on_number_alarm: HashMap<PoolCode, AlarmAction>,
    /// Alert deduplication and rate limit.
    pub(crate) alerts: AlertPolicy,
    /// Outcomes read per query.
    pub(crate) page: u32,
}

impl Default for MonitorSettings {
    fn default() -> MonitorSettings {
        let seed = MonitorConfig::seed_default();
        MonitorSettings {
            interval: Duration::from_millis(500),
            history_days: 28,
            prior_calls: 50,
            false_quarantines_per_month: seed.false_quarantines_per_month,
            false_pool_alerts_per_month: seed.false_pool_alerts_per_month,
            number_fall: seed.number_fall,
            pool_fall: seed.pool_fall,
            on_number_alarm: HashMap::new(),
            alerts: AlertPolicy::default(),
            page: 1_000,
        }
    }
}

/// One pool's tests.
struct Watch {
    baseline: Option<Baseline>,
    design: MonitorDesign,
    pool: PoolDetector,
    numbers: HashMap<NumberId, NumberDetector>,
    levels: HashMap<NumberId, NumberLevel>,
}

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct TickReport {
    /// Outcomes read.
    pub(crate) outcomes: u64,
    /// Numbers quarantined on an alarm.
    pub(crate) quarantined: Vec<String>,
    /// Alerts raised (numbers kept in service, pools).
    pub(crate) alerts: Vec<String>,
}

/// The monitor: its tests, its place in the feed of outcomes.
pub(crate) struct Monitor {
    store: Store,
    settings: MonitorSettings,
    watches: HashMap<PoolCode, Watch>,
    cursor: OutcomeCursor,
    built_at: Timestamp,
    /// When overdue playbook steps were last looked for (once a minute).
    overdue_at: Option<Timestamp>,
}

impl Monitor {
    /// Builds the pools' baselines and tests from the store's history; resumes after
    /// the last outcome read before, or starts at `now` on a store never monitored.
    pub(crate) async fn start(store: Store, settings: MonitorSettings, now: Timestamp) -> anyhow::Result<Monitor> {
        let cursor = store.monitor_cursor().await?.unwrap_or(OutcomeCursor { at: now, call_id: 0 });
        let mut monitor = Monitor { store, settings, watches: HashMap::new(), cursor, built_at: now, overdue_at: None };
        monitor.build(now).await?;
        Ok(monitor)
    }

    /// (Re)builds the baselines from the history; a pool's tests keep their statistics.
    async fn build(&mut self, now: Timestamp) -> anyhow::Result<()> {
        let since = now - SignedDuration::from_hours(24 * i64::from(self.settings.history_days));
        let history = self.store.answer_history(since).await?;
        let calendar = self.store.calendar().clone();
        let mut tables: HashMap<PoolCode, (BaselineTable, HashMap<NumberId, BaselineTable>)> = HashMap::new();
        for cell in history {
            let hour = LocalHour::of(&calendar, cell.hour);
            let counts = AnswerCounts::new(cell.calls, cell.answered)?;
            let (pool, numbers) = tables.entry(cell.pool).or_default();
            pool.add(&cell.purpose, hour, counts);
            numbers.entry(cell.number).or_default().add(&cell.purpose, hour, counts);
        }
        let catalog = self.store.catalog().clone();
        let pools = self.store.pools().await?;
        for def in catalog.pools() {
            if def.role != PoolRole::Outbound {
                continue;
            }
            let (table, numbers) = tables.remove(&def.code).unwrap_or_default();
            let baseline = Baseline::new(calendar.clone(), &table, self.settings.prior_calls).ok();
            let levels: HashMap<NumberId, NumberLevel> = match &baseline {
                Some(b) => numbers.iter().map(|(n, t)| (*n, b.number_level(t))).collect(),
                None => HashMap::new(),
            };
            if let Some(watch) = self.watches.get_mut(&def.code) {
                watch.baseline = baseline;
                watch.levels = levels;
                continue;
            }
            let active = pools.iter().find(|p| p.code == def.code).map_or(1, |p| p.active.max(1));
            let config = MonitorConfig {
                numbers: active,
                calls_per_number_per_day: f64::from(def.policy.healthy_calls_per_day.max(1)),
                days_per_month: 30.0,
                false_quarantines_per_month: self.settings.false_quarantines_per_month,
                false_pool_alerts_per_month: self.settings.false_pool_alerts_per_month,
                number_fall: self.settings.number_fall,
                pool_fall: self.settings.pool_fall,
                model: SignalModel::seed_default(),
                reporting: Reporting::ALL,
                on_number_alarm: self
                    .settings
                    .on_number_alarm
                    .get(&def.code)
                    .copied()
                    .unwrap_or(AlarmAction::Quarantine),
            };
            let mix = baseline.as_ref().map(Baseline::rate_mix).unwrap_or_default();
            let design = MonitorDesign::new(&config, &mix)?;
            let pool = PoolDetector::new(def.code.clone(), design.pool);
            self.watches.insert(def.code.clone(), Watch { baseline, design, pool, numbers: HashMap::new(), levels });
        }
        self.built_at = now;
        self.score_all(now).await?;
        Ok(())
    }

    /// Scores every number not retired (vigie-core's `reputation_score`) and records
    /// the score with its reasons: its history, read by `GET /v1/numbers/{e164}/reputation`.
    pub(crate) async fn score_all(&self, now: Timestamp) -> anyhow::Result<u32> {
        use vigie_core::{ExternalCheck, ExternalKind, ReportEvent, ScoreInputs, reputation_score};
        let material = self.store.score_material(now).await?;
        let mut pools: HashMap<PoolCode, (u64, u64)> = HashMap::new();
        for m in &material {
            let e = pools.entry(m.pool.clone()).or_default();
            e.0 += m.calls_7d.0;
            e.1 += m.calls_7d.1;
        }
        let catalog = self.store.catalog();
        let mut scored = 0;
        for m in &material {
            let reports: Vec<ReportEvent> =
                m.reports.iter().map(|(at, source)| ReportEvent { at: *at, source: *source }).collect();
            let external: Vec<ExternalCheck> = m
                .external
                .iter()
                .map(|(source, kind, flagged, score)| ExternalCheck {
                    source: source.clone(),
                    kind: if kind == "community_db" {
                        ExternalKind::CommunityDb
                    } else {
                        ExternalKind::VerificationTool
                    },
                    listed: *flagged,
                    risk: score.map(|s| (100.0 - s).clamp(0.0, 100.0).round() as u8),
                })
                .collect();
            let (pool_calls, pool_answered) = pools.get(&m.pool).copied().unwrap_or_default();
            let inputs = ScoreInputs {
                now,
                reports: &reports,
                answers: AnswerCounts::new(m.calls_7d.0, m.calls_7d.1)?,
                pool_rate: if pool_calls > 0 {
                    pool_answered as f64 / pool_calls as f64
                } else {
                    self.settings.number_fall.p0()
                },
                answered_with_duration: m.durations_7d.0,
                short_answered: m.durations_7d.1,
                external: &external,
                calls_per_day: &m.calls_per_day,
                healthy_calls_per_day: catalog.pool(&m.pool).map_or(55, |d| d.policy.healthy_calls_per_day),
            };
            let score = reputation_score(&inputs);
            let reasons: Vec<String> =
                score.reasons.iter().map(|r| format!("{}\t{}\t{}", r.code.as_str(), r.weight, r.detail)).collect();
            let point = vigie_store::ScorePoint { at: now, score: score.score, reasons: reasons.join("\n") };
            self.store.record_score(m.number, &point).await?;
            scored += 1;
        }
        Ok(scored)
    }

    /// Runs [`Monitor::tick`] every `interval` until aborted; a failing tick is logged
    /// and tried again (it never blocks allocation, which does not wait for it).
    pub(crate) fn spawn(mut self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(self.settings.interval);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let now = self.store.now();
                match self.tick(now).await {
                    Ok(r) if !r.quarantined.is_empty() || !r.alerts.is_empty() => {
                        tracing::warn!(quarantined = ?r.quarantined, alerts = ?r.alerts, outcomes = r.outcomes, "monitoring acted");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "monitoring tick failed; trying again"),
                }
            }
        })
    }

    /// Reads every outcome recorded since the last tick, feeds the tests and acts on
    /// their alarms; the baselines are rebuilt every hour.
    pub(crate) async fn tick(&mut self, now: Timestamp) -> anyhow::Result<TickReport> {
        let mut report = TickReport::default();
        if now.duration_since(self.built_at) >= SignedDuration::from_hours(1) {
            self.build(now).await?;
        }
        if self.overdue_at.is_none_or(|at| now.duration_since(at) >= SignedDuration::from_mins(1)) {
            self.overdue_steps(now, &mut report).await?;
            self.overdue_at = Some(now);
        }
        loop {
            let page = self.store.outcome_signals(self.cursor, self.settings.page).await?;
            let full = page.len() as u64 == u64::from(self.settings.page);
            for outcome in &page {
                report.outcomes += 1;
                self.cursor = outcome.cursor;
                self.observe(outcome, now, &mut report).await?;
            }
            if !page.is_empty() {
                self.store.save_monitor_cursor(self.cursor).await?;
            }
            if !full {
                return Ok(report);
            }
        }
    }

    /// An alert for each playbook step of an open incident past its deadline (one per
    /// step: the dedup key names the incident and the step).
    async fn overdue_steps(&mut self, now: Timestamp, report: &mut TickReport) -> anyhow::Result<()> {
        for incident in self.store.incidents(true, 500).await? {
            for step in incident.overdue(now) {
                // Steps are written from vigie-core's list; another name is not one.
                let Ok(playbook_step) = PlaybookStep::parse(&step.step) else { continue };
                let alert = Alert {
                    signal: AlertSignal::IncidentOverdue,
                    severity: Severity::Warning,
                    number: Some(incident.number.clone()),
                    pool: PoolCode::parse(&incident.pool).ok(),
                    about: Some(format!("incident:{}:{}", incident.id, step.step)),
                    evidence: Finding::StepOverdue {
                        incident: incident.id,
                        step: playbook_step,
                        due: step.deadline_at,
                    },
                    action: AlertAction::Nothing,
                    at: now,
                };
                if let vigie_store::Raised::New(_) | vigie_store::Raised::RateLimited(_) =
                    self.store.raise_alert(&alert, &self.settings.alerts).await?
                {
                    report.alerts.push(alert.dedup_key());
                }
            }
        }
        Ok(())
    }

    async fn observe(&mut self, o: &OutcomeSignal, now: Timestamp, report: &mut TickReport) -> anyhow::Result<()> {
        let fallback = self.settings.number_fall.p0();
        let Some(watch) = self.watches.get_mut(&o.pool) else { return Ok(()) };
        let expected = |level: NumberLevel| match &watch.baseline {
            Some(b) => b.expected_at(&o.purpose, o.signal.at, level),
            None => BaselineRate { p0: fallback, source: BaselineSource::Pool, level: 1.0 },
        };
        let pool_alarm = watch.pool.observe(&o.signal, expected(NumberLevel::POOL));
        let level = watch.levels.get(&o.number).copied().unwrap_or(NumberLevel::POOL);
        let number_expected = expected(level);
        // Only a number in service is judged: the outcomes of calls a number placed
        // before its quarantine say nothing new.
        let number_alarm = if o.status == NumberStatus::Active {
            let design = watch.design.number;
            let detector =
                watch.numbers.entry(o.number).or_insert_with(|| NumberDetector::new(o.number, o.pool.clone(), design));
            detector.observe(&o.signal, number_expected)
        } else {
            None
        };
        if let Some(alarm) = pool_alarm {
            let evidence = Finding::AnswerRateFall { alarm, number: None };
            let alert = Alert {
                signal: AlertSignal::PoolAnswerRateDrop,
                severity: Severity::Warning,
                number: None,
                pool: Some(o.pool.clone()),
                about: None,
                evidence,
                action: AlertAction::AlertOnly,
                at: now,
            };
            self.store.raise_alert(&alert, &self.settings.alerts).await?;
            report.alerts.push(alert.dedup_key());
        }
        let Some(alarm) = number_alarm else { return Ok(()) };
        let AlarmSubject::Number(_) = alarm.subject else { return Ok(()) };
        let (action, run_started_at) = (alarm.action, alarm.evidence.run_started_at);
        let evidence = Finding::AnswerRateFall { alarm, number: Some(o.e164.clone()) };
        match action {
            AlarmAction::Quarantine => {
                let trigger =
                    Trigger { signal: "answer_rate_drop".into(), first_evidence_at: run_started_at, evidence };
                match self.store.quarantine(o.e164.clone(), trigger, "monitor").await {
                    Ok(()) => report.quarantined.push(o.e164.to_string()),
                    // Another process (or a report) took it out first.
                    Err(StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            AlarmAction::AlertOnly => {
                let alert = Alert {
                    signal: AlertSignal::AnswerRateDrop,
                    severity: Severity::Warning,
                    number: Some(o.e164.clone()),
                    pool: Some(o.pool.clone()),
                    about: None,
                    evidence,
                    action: AlertAction::AlertOnly,
                    at: now,
                };
                self.store.raise_alert(&alert, &self.settings.alerts).await?;
                report.alerts.push(alert.dedup_key());
            }
        }
        Ok(())
    }
}
