//! The counts behind the weekly report (`vigie report weekly`, vigie-report): per pool
//! and for the centre, one ISO week and the week before, and the week's days, read in a
//! handful of grouped queries. Plain data: the store knows nothing of the rendering.
//!
//! A week runs from Monday 00:00 to the next Monday 00:00 in the store's calendar
//! (Europe/Paris), so a week holding a DST change lasts 167 or 169 hours. Days are
//! told apart in SQL by a `CASE` over the 13 inner day boundaries, computed with the
//! calendar, so that every grouped query returns at most 14 rows per pool.
//!
//! What counts where:
//! - calls: not cancelled, given a number, with an outcome, by `dial_at`, in the
//!   call's pool; read through the `created_at` index (a call is dialled within the dial
//!   window of its creation);
//! - spam reports: by `reported_at`, in the number's pool as it is now;
//! - quarantines and retirements: the `number_events` of that state, in the event's pool;
//! - numbers active at the end: each number's last lasting state (a `resting` event is
//!   not one) before the period's end, `active`, in that event's pool;
//! - incidents and their detection time: incidents opened in the period,
//!   `opened_at − first_evidence_at`, the median per pool and for the centre;
//! - replacement cost: `replacement_cost_cents` of the incidents closed `retired` in
//!   the period;
//! - SMS: submitted in the period (`submitted_at`), and of those, delivered.

use std::collections::BTreeMap;

use jiff::civil::Date;
use sqlx::Row;
use vigie_core::{PoolRole, Timestamp};

use crate::audit::{self, Entry};
use crate::db::micros;
use crate::error::StoreError;
use crate::{Shared, Store};

/// Days in a week, and in the two weeks a report reads.
const DAYS: usize = 7;

/// The action of the audit entry that records a weekly report as sent.
pub const WEEKLY_REPORT_SENT: &str = "report.weekly_sent";

/// Everything a weekly report counts, for the week starting `monday` and the week
/// before.
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklyFiguresData {
    /// The week's Monday (local day).
    pub monday: Date,
    /// When the counts were read.
    pub generated_at: Timestamp,
    /// The whole centre: the week, then the week before.
    pub centre: (PeriodCounts, PeriodCounts),
    /// The pools (every outbound pool, and any other pool with something to count), by
    /// code.
    pub pools: Vec<PoolWeekData>,
}

/// One pool's counts.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolWeekData {
    /// The pool's code.
    pub pool: String,
    /// The week.
    pub current: PeriodCounts,
    /// The week before.
    pub previous: PeriodCounts,
    /// The week's seven days, Monday first.
    pub daily: Vec<DayCounts>,
}

/// The counts of one week, for a pool or the centre.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PeriodCounts {
    /// Calls made (not cancelled, with an outcome).
    pub calls: u64,
    /// Of those, answered.
    pub answered: u64,
    /// Spam reports received.
    pub spam_reports: u64,
    /// Numbers active at the period's end.
    pub numbers_active: u32,
    /// Numbers put in quarantine during the period.
    pub numbers_quarantined: u32,
    /// Numbers retired during the period.
    pub numbers_retired: u32,
    /// Incidents opened during the period.
    pub incidents: u32,
    /// The median of `opened_at − first_evidence_at` of those incidents, in minutes.
    pub median_detection_minutes: Option<f64>,
    /// The replacement cost of the incidents closed `retired` during the period.
    pub replacement_cost_cents: u64,
    /// Pre-call SMS submitted during the period.
    pub sms_sent: u64,
    /// Of those, delivered.
    pub sms_delivered: u64,
}

impl PeriodCounts {
    /// Whether anything happened (numbers merely being active is not something).
    fn has_activity(&self) -> bool {
        self.calls + self.spam_reports + self.sms_sent + self.replacement_cost_cents > 0
            || self.numbers_quarantined + self.numbers_retired + self.incidents > 0
    }
}

/// One pool's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCounts {
    /// The local day.
    pub date: Date,
    /// Calls made.
    pub calls: u64,
    /// Calls answered.
    pub answered: u64,
    /// Spam reports received.
    pub spam_reports: u64,
    /// Numbers put in quarantine.
    pub quarantines: u32,
}

/// Per pool, per day of the two weeks (0..7 the week before, 7..14 the week).
#[derive(Default, Clone)]
struct Days {
    calls: [u64; 2 * DAYS],
    answered: [u64; 2 * DAYS],
    reports: [u64; 2 * DAYS],
    quarantines: [u32; 2 * DAYS],
}

fn count(r: &sqlx::any::AnyRow, i: usize) -> u64 {
    u64::try_from(r.get::<Option<i64>, _>(i).unwrap_or_default()).unwrap_or_default()
}

/// `CASE WHEN col < $p THEN 0 … ELSE 13 END`: the day, 0 to 13, of an instant column,
/// with the 13 inner boundaries bound from parameter `first`.
fn day_case(column: &str, first: usize) -> String {
    let mut sql = String::from("CAST(CASE");
    for i in 0..(2 * DAYS - 1) {
        sql.push_str(&format!(" WHEN {column} < ${} THEN {i}", first + i));
    }
    sql.push_str(&format!(" ELSE {} END AS BIGINT)", 2 * DAYS - 1));
    sql
}

/// `day` moved by `n` days.
fn add_days(day: Date, n: i32) -> Date {
    day.checked_add(jiff::Span::new().days(n)).unwrap_or(day)
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 })
}

impl Store {
    /// The counts of the ISO week starting `week_monday` (a Monday, local day) and of the
    /// week before, per pool and for the centre (see the module's text for what counts
    /// where).
    pub async fn weekly_figures(
        &self,
        week_monday: Date,
        generated_at: Timestamp,
    ) -> Result<WeeklyFiguresData, StoreError> {
        let shared = &self.shared;
        let cal = &shared.calendar;
        let first_day = add_days(week_monday, -(DAYS as i32));
        // The 15 boundaries of the 14 days.
        let bounds: Vec<i64> = (0..=2 * DAYS).map(|i| micros(cal.start_of(add_days(first_day, i as i32)))).collect();
        let (from, mid, to) = (bounds[0], bounds[DAYS], bounds[2 * DAYS]);
        let inner = &bounds[1..2 * DAYS];
        let mut days: BTreeMap<String, Days> = BTreeMap::new();

        let window = shared.dial_window;
        let sql = format!(
            "SELECT pool, {}, COUNT(*), SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END) FROM calls \
             WHERE created_at >= $1 AND created_at < $2 AND dial_at >= $3 AND dial_at < $4 \
             AND cancelled_at IS NULL AND outcome IS NOT NULL AND number_id IS NOT NULL GROUP BY 1, 2",
            day_case("dial_at", 5)
        );
        let created_from = micros(cal.start_of(first_day) - window.ahead_max);
        let created_to = micros(cal.start_of(add_days(first_day, 2 * DAYS as i32)) + window.past_max);
        let rows = grouped(shared, &sql, &[created_from, created_to, from, to], inner).await?;
        for r in &rows {
            let (pool, day) = (r.get::<String, _>(0), day_index(r));
            let d = days.entry(pool).or_default();
            d.calls[day] += count(r, 2);
            d.answered[day] += count(r, 3);
        }
        let sql = format!(
            "SELECT n.pool, {}, COUNT(*) FROM reports r JOIN numbers n ON n.id = r.number_id \
             WHERE r.reported_at >= $1 AND r.reported_at < $2 GROUP BY 1, 2",
            day_case("r.reported_at", 3)
        );
        for r in &grouped(shared, &sql, &[from, to], inner).await? {
            days.entry(r.get(0)).or_default().reports[day_index(r)] += count(r, 2);
        }
        let sql = format!(
            "SELECT pool, {}, COUNT(*) FROM number_events \
             WHERE state = 'quarantined' AND at >= $1 AND at < $2 GROUP BY 1, 2",
            day_case("at", 3)
        );
        for r in &grouped(shared, &sql, &[from, to], inner).await? {
            let n = u32::try_from(count(r, 2)).unwrap_or(u32::MAX);
            days.entry(r.get(0)).or_default().quarantines[day_index(r)] += n;
        }

        // Per pool: [week before, week].
        let mut periods: BTreeMap<String, [PeriodCounts; 2]> = BTreeMap::new();
        let half = |t: i64| usize::from(t >= mid);
        for r in sqlx::query("SELECT pool, at FROM number_events WHERE state = 'retired' AND at >= $1 AND at < $2")
            .bind(from)
            .bind(to)
            .fetch_all(&shared.pool)
            .await?
        {
            periods.entry(r.get(0)).or_default()[half(r.get(1))].numbers_retired += 1;
        }
        for (i, end) in [mid, to].into_iter().enumerate() {
            let rows = sqlx::query(
                "SELECT e.pool, COUNT(*) FROM number_events e WHERE e.state = 'active' AND e.id IN \
                 (SELECT MAX(id) FROM number_events WHERE at < $1 AND state <> 'resting' GROUP BY number_id) \
                 GROUP BY e.pool",
            )
            .bind(end)
            .fetch_all(&shared.pool)
            .await?;
            for r in rows {
                periods.entry(r.get(0)).or_default()[i].numbers_active =
                    u32::try_from(count(&r, 1)).unwrap_or(u32::MAX);
            }
        }
        let mut detection: BTreeMap<String, [Vec<f64>; 2]> = BTreeMap::new();
        let mut centre_detection: [Vec<f64>; 2] = Default::default();
        for r in sqlx::query(
            "SELECT pool, opened_at, first_evidence_at FROM incidents WHERE opened_at >= $1 AND opened_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&shared.pool)
        .await?
        {
            let (pool, opened, first): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
            let minutes = (opened - first) as f64 / 60e6;
            let h = half(opened);
            periods.entry(pool.clone()).or_default()[h].incidents += 1;
            detection.entry(pool).or_default()[h].push(minutes);
            centre_detection[h].push(minutes);
        }
        for r in sqlx::query(
            "SELECT pool, closed_at, replacement_cost_cents FROM incidents \
             WHERE resolution = 'retired' AND closed_at >= $1 AND closed_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&shared.pool)
        .await?
        {
            let cents = u64::try_from(r.get::<Option<i64>, _>(2).unwrap_or_default()).unwrap_or_default();
            periods.entry(r.get(0)).or_default()[half(r.get(1))].replacement_cost_cents += cents;
        }
        for r in sqlx::query(
            "SELECT c.pool, CAST(CASE WHEN s.submitted_at < $1 THEN 0 ELSE 1 END AS BIGINT), COUNT(*), \
             SUM(CASE WHEN s.status = 'delivered' THEN 1 ELSE 0 END) FROM sms s JOIN calls c ON c.id = s.call_id \
             WHERE s.submitted_at >= $2 AND s.submitted_at < $3 GROUP BY 1, 2",
        )
        .bind(mid)
        .bind(from)
        .bind(to)
        .fetch_all(&shared.pool)
        .await?
        {
            let h = usize::from(r.get::<i64, _>(1) == 1);
            let p = &mut periods.entry(r.get(0)).or_default()[h];
            p.sms_sent += count(&r, 2);
            p.sms_delivered += count(&r, 3);
        }
        for (pool, d) in &days {
            let p = periods.entry(pool.clone()).or_default();
            for day in 0..2 * DAYS {
                let h = day / DAYS;
                p[h].calls += d.calls[day];
                p[h].answered += d.answered[day];
                p[h].spam_reports += d.reports[day];
                p[h].numbers_quarantined += d.quarantines[day];
            }
        }
        for (pool, values) in detection {
            let p = periods.entry(pool).or_default();
            let [before, week] = values;
            p[0].median_detection_minutes = median(before);
            p[1].median_detection_minutes = median(week);
        }

        // Every outbound pool, in the catalog's order, then the others that have counts.
        let mut order: Vec<String> = shared
            .catalog
            .pools()
            .filter(|d| d.role == PoolRole::Outbound)
            .map(|d| d.code.as_str().to_owned())
            .collect();
        for (pool, p) in &periods {
            if !order.contains(pool) && p.iter().any(PeriodCounts::has_activity) {
                order.push(pool.clone());
            }
        }
        let mut centre = [PeriodCounts::default(); 2];
        let mut pools = Vec::with_capacity(order.len());
        for pool in order {
            let [previous, current] = periods.get(&pool).copied().unwrap_or_default();
            for (sum, p) in centre.iter_mut().zip([previous, current]) {
                sum.calls += p.calls;
                sum.answered += p.answered;
                sum.spam_reports += p.spam_reports;
                sum.numbers_active += p.numbers_active;
                sum.numbers_quarantined += p.numbers_quarantined;
                sum.numbers_retired += p.numbers_retired;
                sum.incidents += p.incidents;
                sum.replacement_cost_cents += p.replacement_cost_cents;
                sum.sms_sent += p.sms_sent;
                sum.sms_delivered += p.sms_delivered;
            }
            let d = days.get(&pool).cloned().unwrap_or_default();
            let daily = (0..DAYS)
                .map(|i| DayCounts {
                    date: add_days(week_monday, i as i32),
                    calls: d.calls[DAYS + i],
                    answered: d.answered[DAYS + i],
                    spam_reports: d.reports[DAYS + i],
                    quarantines: d.quarantines[DAYS + i],
                })
                .collect();
            pools.push(PoolWeekData { pool, current, previous, daily });
        }
        let [before, week] = centre_detection;
        centre[0].median_detection_minutes = median(before);
        centre[1].median_detection_minutes = median(week);
        let [previous, current] = centre;
        Ok(WeeklyFiguresData { monday: week_monday, generated_at, centre: (current, previous), pools })
    }

    /// Records, once, that the weekly report of `week` (`2026-W48`) was handed to its
    /// channels: `true` when this call recorded it, `false` when it already was (by this
    /// process or another one sharing the database). The record is an entry of the
    /// audit trail (action [`WEEKLY_REPORT_SENT`], subject `week:<week>`), appended under
    /// the chain head's lock, so that two processes never both record the same week.
    pub async fn claim_weekly_report(&self, week: &str, actor: &str) -> Result<bool, StoreError> {
        let shared = &self.shared;
        let subject = format!("week:{week}");
        // The scan of the trail happens outside the lock; under it, only the entries
        // appended since are looked at (through the primary key).
        let seen: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM audit_log")
            .fetch_one(&shared.pool)
            .await?
            .get::<Option<i64>, _>(0)
            .unwrap_or_default();
        let sent = "SELECT 1 FROM audit_log WHERE action = $1 AND subject = $2 AND seq > $3 LIMIT 1";
        let before = sqlx::query(sent).bind(WEEKLY_REPORT_SENT).bind(subject.as_str()).bind(-1_i64);
        if before.fetch_optional(&shared.pool).await?.is_some() {
            return Ok(false);
        }
        let mut conn = shared.pool.acquire().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, shared.backend.begin_write()).await?;
        sqlx::query(audit::lock_head(shared.backend)).fetch_one(&mut *tx).await?;
        let since = sqlx::query(sent).bind(WEEKLY_REPORT_SENT).bind(subject.as_str()).bind(seen);
        if since.fetch_optional(&mut *tx).await?.is_some() {
            tx.rollback().await?;
            return Ok(false);
        }
        let entry = Entry::new(self.now(), actor, WEEKLY_REPORT_SENT, subject, format!("week={week}"));
        audit::append(&mut tx, shared.backend, &[entry]).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// The day (0 to 13) in column 1 of a grouped row.
fn day_index(r: &sqlx::any::AnyRow) -> usize {
    usize::try_from(r.get::<i64, _>(1)).unwrap_or(0).min(2 * DAYS - 1)
}

/// Runs a grouped query with its leading parameters, then the day boundaries.
async fn grouped(
    shared: &Shared,
    sql: &str,
    leading: &[i64],
    bounds: &[i64],
) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for v in leading.iter().chain(bounds) {
        query = query.bind(*v);
    }
    Ok(query.fetch_all(&shared.pool).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5.0]), Some(5.0));
        assert_eq!(median(vec![9.0, 1.0, 4.0]), Some(4.0));
        assert_eq!(median(vec![10.0, 2.0, 4.0, 8.0]), Some(6.0));
    }

    #[test]
    fn days_are_told_apart_by_their_boundaries() {
        let sql = day_case("at", 3);
        assert!(sql.starts_with("CAST(CASE WHEN at < $3 THEN 0 WHEN at < $4 THEN 1"), "{sql}");
        assert!(sql.ends_with("WHEN at < $15 THEN 12 ELSE 13 END AS BIGINT)"), "{sql}");
    }
}
