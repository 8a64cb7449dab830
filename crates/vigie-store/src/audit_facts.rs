//! The facts the phone reputation audit (`vigie audit numbers`, vigie-core's
//! `number_audit.rs`) judges, gathered per number over the last 30 days in a handful of
//! grouped queries.

use std::collections::{HashMap, HashSet};

use sqlx::Row;
use vigie_core::{NumberFacts, PoolRole, Purpose, SignedDuration, Timestamp};

use crate::db::{day_text, micros};
use crate::error::StoreError;
use crate::model::NumberRecord;
use crate::{Shared, Store};

/// Days the audit looks back.
pub const AUDIT_DAYS: i64 = 30;

/// Per number id: the rows of a grouped query, as integers.
async fn grouped(shared: &Shared, sql: &str, since: i64) -> Result<HashMap<i64, Vec<i64>>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).bind(since).fetch_all(&shared.pool).await?;
    let mut out = HashMap::new();
    for r in rows {
        let n = sqlx::Row::columns(&r).len();
        let values: Vec<i64> = (1..n).map(|i| r.get::<Option<i64>, _>(i).unwrap_or_default()).collect();
        out.insert(r.get::<i64, _>(0), values);
    }
    Ok(out)
}

impl Store {
    /// Every number with the facts of its audit, as of `now`.
    pub async fn audit_facts(&self, now: Timestamp) -> Result<Vec<(NumberRecord, NumberFacts)>, StoreError> {
        let shared = &self.shared;
        let since = now - SignedDuration::from_hours(24 * AUDIT_DAYS);
        let since_us = micros(since);
        let numbers = self.numbers().await?;
        // Calls per number and purpose: all, with an outcome, answered, answered with a
        // duration, answered under 10 s.
        let rows = sqlx::query(
            "SELECT number_id, purpose, COUNT(*), SUM(CASE WHEN outcome IS NOT NULL THEN 1 ELSE 0 END), \
             SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN outcome = 'answered' AND duration_s IS NOT NULL THEN 1 ELSE 0 END), \
             SUM(CASE WHEN outcome = 'answered' AND duration_s < 10 THEN 1 ELSE 0 END) \
             FROM calls WHERE dial_at >= $1 AND number_id IS NOT NULL AND cancelled_at IS NULL GROUP BY number_id, purpose",
        )
        .bind(since_us)
        .fetch_all(&shared.pool)
        .await?;
        let mut calls: HashMap<i64, Vec<(String, [u64; 5])>> = HashMap::new();
        for r in rows {
            let v = |i: usize| u64::try_from(r.get::<Option<i64>, _>(i).unwrap_or_default()).unwrap_or_default();
            calls.entry(r.get(0)).or_default().push((r.get(1), [v(2), v(3), v(4), v(5), v(6)]));
        }
        // number_days is keyed by local day.
        let max_day: HashMap<i64, i64> =
            sqlx::query("SELECT number_id, MAX(calls) FROM number_days WHERE day >= $1 GROUP BY number_id")
                .bind(day_text(shared.calendar.day_of(since)))
                .fetch_all(&shared.pool)
                .await?
                .iter()
                .map(|r| (r.get::<i64, _>(0), r.get::<Option<i64>, _>(1).unwrap_or_default()))
                .collect();
        let in_rest = grouped(
            shared,
            "SELECT r.number_id, COUNT(*) FROM rests r JOIN calls c ON c.number_id = r.number_id \
             AND c.dial_at >= r.from_at AND c.dial_at < r.until_at WHERE c.dial_at >= $1 AND c.cancelled_at IS NULL \
             GROUP BY r.number_id",
            since_us,
        )
        .await?;
        let reports = grouped(
            shared,
            "SELECT number_id, COUNT(*) FROM reports WHERE reported_at >= $1 GROUP BY number_id",
            since_us,
        )
        .await?;
        let sms = grouped(
            shared,
            "SELECT c.number_id, COUNT(*), SUM(CASE WHEN s.status = 'delivered' THEN 1 ELSE 0 END) FROM sms s \
             JOIN calls c ON c.id = s.call_id WHERE s.submitted_at >= $1 AND c.number_id IS NOT NULL GROUP BY c.number_id",
            since_us,
        )
        .await?;
        let incidents = grouped(
            shared,
            "SELECT number_id, COUNT(*), SUM(CASE WHEN closed_at IS NULL THEN 1 ELSE 0 END) FROM incidents \
             WHERE opened_at >= $1 OR closed_at IS NULL GROUP BY number_id",
            since_us,
        )
        .await?;
        let flagged_rows = sqlx::query(
            "SELECT number_id, source FROM source_readings WHERE flagged = 1 AND id IN \
             (SELECT MAX(id) FROM source_readings GROUP BY number_id, source) ORDER BY source",
        )
        .fetch_all(&shared.pool)
        .await?;
        let mut flagged: HashMap<i64, Vec<String>> = HashMap::new();
        for r in flagged_rows {
            flagged.entry(r.get(0)).or_default().push(r.get(1));
        }
        // The numbers a callback may reach the centre on: its inbound numbers and the
        // facilities' callbacks.
        let mut centre: HashSet<String> = sqlx::query("SELECT callback FROM facilities")
            .fetch_all(&shared.pool)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for n in &numbers {
            if shared.catalog.pool(&n.pool).is_some_and(|d| d.role == PoolRole::Inbound) {
                centre.insert(n.number.as_str().to_owned());
            }
        }
        // Each pool's answer rate.
        let mut pool_counts: HashMap<String, (u64, u64)> = HashMap::new();
        for n in &numbers {
            for (_, v) in calls.get(&n.id).into_iter().flatten() {
                let e = pool_counts.entry(n.pool.as_str().to_owned()).or_default();
                e.0 += v[1];
                e.1 += v[2];
            }
        }
        let mut out = Vec::with_capacity(numbers.len());
        for n in numbers {
            let def = shared.catalog.pool(&n.pool);
            let served: Vec<Purpose> = def.map(|d| d.purposes.clone()).unwrap_or_default();
            let mine = calls.get(&n.id).cloned().unwrap_or_default();
            let sum = |i: usize| mine.iter().map(|(_, v)| v[i]).sum::<u64>();
            let outside: u64 =
                mine.iter().filter(|(p, _)| !served.iter().any(|s| s.as_str() == p)).map(|(_, v)| v[0]).sum();
            let (pool_calls, pool_answered) = pool_counts.get(n.pool.as_str()).copied().unwrap_or_default();
            let get = |m: &HashMap<i64, Vec<i64>>, i: usize| {
                m.get(&n.id).and_then(|v| v.get(i)).map_or(0, |x| u64::try_from(*x).unwrap_or_default())
            };
            let care_pool = def.is_some_and(|d| {
                d.role == PoolRole::Outbound
                    && !d.purposes.is_empty()
                    && d.purposes.iter().all(|p| !shared.compliance.class_of(p).is_solicitation())
            });
            let callback_ok = vigie_core::E164::parse(&n.callback).is_ok_and(|c| c != n.number);
            let facts = NumberFacts {
                outbound: def.is_some_and(|d| d.role == PoolRole::Outbound),
                state: n.state().to_owned(),
                cnam_registered: n.compliance.identity.cnam_registered_at.is_some(),
                display_name: n.display_name.clone(),
                callback_configured: callback_ok,
                callback_reaches_centre: callback_ok && centre.contains(&n.callback),
                directory_listed: n.compliance.identity.directory_listed_at.is_some(),
                caller_authenticated: n.compliance.identity.man_authenticated,
                range_refusal: n.compliance.refusal.as_ref().map(ToString::to_string),
                range_labelled_canvassing: care_pool && n.compliance.labelled_canvassing,
                calls_outside_pool: outside,
                max_calls_per_day: u32::try_from(max_day.get(&n.id).copied().unwrap_or_default()).unwrap_or(u32::MAX),
                cap: def.map_or(0, |d| d.policy.calls_per_day_max),
                calls_in_rest: get(&in_rest, 0),
                reports: u32::try_from(get(&reports, 0)).unwrap_or(u32::MAX),
                calls: sum(1),
                answered: sum(2),
                pool_rate: (pool_calls > 0).then(|| pool_answered as f64 / pool_calls as f64),
                answered_with_duration: sum(3),
                short_answered: sum(4),
                sms_submitted: get(&sms, 0),
                sms_delivered: get(&sms, 1),
                flagged_by: flagged.get(&n.id).cloned().unwrap_or_default(),
                open_incident: get(&incidents, 1) > 0,
                incidents: u32::try_from(get(&incidents, 0)).unwrap_or(u32::MAX),
            };
            out.push((n, facts));
        }
        Ok(out)
    }
}
