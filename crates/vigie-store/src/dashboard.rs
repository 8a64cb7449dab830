//! The reads behind the dashboard that no other part of the store makes: a number's
//! days (calls, answers, reports), the numbers list's recent calls and latest scores,
//! and the feed of number state changes and new alerts that the live page follows by
//! a cursor (so that every server process sharing a database sees every change).

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;
use vigie_core::{Date, E164, Timestamp, add_days};

use crate::Store;
use crate::db::{day, day_text, instant, micros};
use crate::error::StoreError;

/// One local day of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberDay {
    /// The local day.
    pub date: Date,
    /// Calls allocated to it that day.
    pub calls: u32,
    /// Calls with an outcome, dialled that day.
    pub outcomes: u32,
    /// Of those, answered.
    pub answered: u32,
    /// Spam reports of that day.
    pub reports: u32,
}

impl NumberDay {
    /// Answered over calls with an outcome (`None` without outcomes).
    pub fn answer_rate(&self) -> Option<f64> {
        (self.outcomes > 0).then(|| f64::from(self.answered) / f64::from(self.outcomes))
    }
}

/// What the numbers list shows beside each number's record: calls per day over the
/// last days, and the latest reputation score.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumbersFigures {
    /// The days, oldest first.
    pub days: Vec<Date>,
    /// Per number: calls on each of `days`.
    pub calls: HashMap<E164, Vec<u32>>,
    /// Per number: its latest score, 0 to 100.
    pub scores: HashMap<E164, u32>,
}

/// Where a reader of the live feed is: the last state change and alert it saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveCursor {
    /// The last `number_events` row seen.
    pub event: i64,
    /// The last `alerts` row seen.
    pub alert: i64,
}

/// One thing that happened, for the live page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveChange {
    /// A number entered a state.
    State {
        /// The number.
        number: E164,
        /// The state entered (`active`, `resting`, `quarantined`, `reserve`, `retired`).
        state: String,
        /// Its pool after the change.
        pool: String,
        /// When.
        at: Timestamp,
        /// Why (English).
        reason: String,
        /// Why, in French.
        reason_fr: String,
    },
    /// An alert was raised.
    Alert {
        /// Its identity.
        id: i64,
        /// The signal.
        signal: String,
        /// Its severity.
        severity: String,
        /// The number, if it is about one.
        number: Option<E164>,
        /// What was seen (English).
        evidence: String,
        /// What was seen, in French.
        evidence_fr: String,
    },
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn count(r: &sqlx::any::AnyRow, i: usize) -> u32 {
    u32::try_from(r.get::<Option<i64>, _>(i).unwrap_or_default()).unwrap_or_default()
}

impl Store {
    /// The number's last `days` local days, today included, oldest first.
    pub async fn number_days(&self, number: &E164, days: u16) -> Result<Vec<NumberDay>, StoreError> {
        let cal = &self.shared.calendar;
        let today = cal.day_of(self.now());
        let first = add_days(today, 1 - i32::from(days.max(1)));
        let mut out: BTreeMap<Date, NumberDay> = (0..i32::from(days.max(1)))
            .map(|i| add_days(first, i))
            .map(|date| (date, NumberDay { date, calls: 0, outcomes: 0, answered: 0, reports: 0 }))
            .collect();
        let pool = &self.shared.pool;
        let id: Option<i64> = sqlx::query("SELECT id FROM numbers WHERE e164 = $1")
            .bind(number.as_str())
            .fetch_optional(pool)
            .await?
            .map(|r| r.get(0));
        let Some(id) = id else { return Ok(Vec::new()) };
        for r in sqlx::query("SELECT day, calls FROM number_days WHERE number_id = $1 AND day >= $2")
            .bind(id)
            .bind(day_text(first))
            .fetch_all(pool)
            .await?
        {
            if let Some(d) = out.get_mut(&day(&r.get::<String, _>(0))?) {
                d.calls = count(&r, 1);
            }
        }
        for r in sqlx::query("SELECT day, COUNT(*) FROM reports WHERE number_id = $1 AND day >= $2 GROUP BY day")
            .bind(id)
            .bind(day_text(first))
            .fetch_all(pool)
            .await?
        {
            if let Some(d) = out.get_mut(&day(&r.get::<String, _>(0))?) {
                d.reports = count(&r, 1);
            }
        }
        // A number carries at most its cap a day: the outcomes are bucketed here, by the
        // store's calendar, rather than by day boundaries in SQL.
        for r in sqlx::query(
            "SELECT dial_at, outcome FROM calls WHERE number_id = $1 AND dial_at >= $2 AND outcome IS NOT NULL",
        )
        .bind(id)
        .bind(micros(cal.start_of(first)))
        .fetch_all(pool)
        .await?
        {
            if let Some(d) = out.get_mut(&cal.day_of(instant(r.get(0))?)) {
                d.outcomes += 1;
                if r.get::<String, _>(1) == "answered" {
                    d.answered += 1;
                }
            }
        }
        Ok(out.into_values().collect())
    }

    /// Calls per number on each of the last `days` local days, and each number's
    /// latest reputation score.
    pub async fn numbers_figures(&self, days: u16) -> Result<NumbersFigures, StoreError> {
        let today = self.shared.calendar.day_of(self.now());
        let first = add_days(today, 1 - i32::from(days.max(1)));
        let dates: Vec<Date> = (0..i32::from(days.max(1))).map(|i| add_days(first, i)).collect();
        let pool = &self.shared.pool;
        let mut calls: HashMap<E164, Vec<u32>> = HashMap::new();
        for r in sqlx::query(
            "SELECT n.e164, d.day, d.calls FROM number_days d JOIN numbers n ON n.id = d.number_id WHERE d.day >= $1",
        )
        .bind(day_text(first))
        .fetch_all(pool)
        .await?
        {
            let number = E164::parse(&r.get::<String, _>(0)).map_err(corrupt)?;
            let date = day(&r.get::<String, _>(1))?;
            if let Some(i) = dates.iter().position(|d| *d == date) {
                calls.entry(number).or_insert_with(|| vec![0; dates.len()])[i] = count(&r, 2);
            }
        }
        let mut scores = HashMap::new();
        for r in sqlx::query(
            "SELECT n.e164, r.score FROM reputation r JOIN numbers n ON n.id = r.number_id \
             WHERE r.at = (SELECT MAX(r2.at) FROM reputation r2 WHERE r2.number_id = r.number_id)",
        )
        .fetch_all(pool)
        .await?
        {
            scores.insert(E164::parse(&r.get::<String, _>(0)).map_err(corrupt)?, count(&r, 1));
        }
        Ok(NumbersFigures { days: dates, calls, scores })
    }

    /// The cursor at the feed's end: what a new reader starts from.
    pub async fn live_cursor(&self) -> Result<LiveCursor, StoreError> {
        let r = sqlx::query("SELECT (SELECT MAX(id) FROM number_events), (SELECT MAX(id) FROM alerts)")
            .fetch_one(&self.shared.pool)
            .await?;
        Ok(LiveCursor {
            event: r.get::<Option<i64>, _>(0).unwrap_or(0),
            alert: r.get::<Option<i64>, _>(1).unwrap_or(0),
        })
    }

    /// Up to `limit` state changes and `limit` alerts after `after`, oldest first, and
    /// the cursor after them. Row ids follow commit order here: state changes are
    /// written under the pool locks and alerts under the alert lock, so a row committed
    /// later never has a smaller id than one already read.
    pub async fn live_changes(
        &self,
        after: LiveCursor,
        limit: u32,
    ) -> Result<(Vec<LiveChange>, LiveCursor), StoreError> {
        let pool = &self.shared.pool;
        let mut cursor = after;
        let mut out = Vec::new();
        for r in sqlx::query(
            "SELECT e.id, n.e164, e.state, e.pool, e.at, e.reason, COALESCE(e.reason_fr, e.reason) FROM number_events e \
             JOIN numbers n ON n.id = e.number_id \
             WHERE e.id > $1 ORDER BY e.id LIMIT $2",
        )
        .bind(after.event)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        {
            cursor.event = r.get(0);
            out.push(LiveChange::State {
                number: E164::parse(&r.get::<String, _>(1)).map_err(corrupt)?,
                state: r.get(2),
                pool: r.get(3),
                at: instant(r.get(4))?,
                reason: r.get(5),
                reason_fr: r.get(6),
            });
        }
        for r in sqlx::query(
            "SELECT a.id, a.signal, a.severity, n.e164, a.evidence, COALESCE(a.evidence_fr, a.evidence) FROM alerts a LEFT JOIN numbers n ON n.id = a.number_id \
             WHERE a.id > $1 ORDER BY a.id LIMIT $2",
        )
        .bind(after.alert)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        {
            cursor.alert = r.get(0);
            out.push(LiveChange::Alert {
                id: r.get(0),
                signal: r.get(1),
                severity: r.get(2),
                number: r.get::<Option<String>, _>(3).map(|n| E164::parse(&n)).transpose().map_err(corrupt)?,
                evidence: r.get(4),
                evidence_fr: r.get(5),
            });
        }
        Ok((out, cursor))
    }
}

impl Store {
    /// The facility a call was made for, without reading anything of the patient (the
    /// dashboard checks a user's scope with it before reading the call).
    pub async fn call_facility(&self, call_id: i64) -> Result<Option<vigie_core::FacilityId>, StoreError> {
        sqlx::query("SELECT facility FROM calls WHERE id = $1")
            .bind(call_id)
            .fetch_optional(&self.shared.pool)
            .await?
            .map(|r| vigie_core::FacilityId::parse(&r.get::<String, _>(0)).map_err(corrupt))
            .transpose()
    }
}
