//! The weekly report: `vigie report weekly` writes it to a folder, and the scheduler of
//! `vigie serve` e-mails the previous week's every Monday at 08:00 Europe/Paris. The
//! store counts ([`Store::weekly_figures`]), vigie-report renders, vigie-alert sends.
//!
//! A week's report is sent at most once, whatever the number of servers and restarts:
//! before sending, a server records the week in the audit trail
//! ([`Store::claim_weekly_report`], under the chain head's lock); a server that finds it
//! recorded sends nothing. A delivery that still fails after its retries is logged, not
//! tried again: `vigie report weekly --week …` writes the same files by hand.
//!
//! This file names nothing of the binary (`crate::…`): the integration tests include it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use vigie_alert::{Attachment, Channel, Notification, RetryPolicy, deliver_with_retry};
use vigie_core::{Language, SignedDuration, Timestamp};
use vigie_report::{Period, Week, WeeklyFigures, write_report};
use vigie_store::Store;

/// The hour (Europe/Paris) the report goes out on Mondays.
pub(crate) const SEND_HOUR: i8 = 8;

/// A server started this long after a Monday 08:00 still sends that Monday's report
/// (if no server did); later, it waits for the next Monday.
pub(crate) const CATCH_UP: SignedDuration = SignedDuration::from_hours(12);

fn paris() -> TimeZone {
    match TimeZone::get("Europe/Paris") {
        Ok(tz) => tz,
        Err(e) => unreachable!("jiff bundles the tz database (tzdb-bundle-always): {e}"),
    }
}

/// The first Monday 08:00 Europe/Paris strictly after `now`. Computed on the civil
/// calendar then placed in the zone, so that it stays 08:00 local across DST changes
/// (07:00 UTC in winter, 06:00 UTC in summer).
pub(crate) fn next_monday_8am(now: Timestamp) -> Timestamp {
    let tz = paris();
    let today = now.to_zoned_datetime(tz.clone()).date();
    for offset in 0..=7 {
        let day = today.checked_add(jiff::Span::new().days(offset)).unwrap_or(today);
        if day.weekday() != Weekday::Monday {
            continue;
        }
        // 08:00 is never in a gap or fold in Paris (changes happen at 02:00-03:00).
        if let Ok(at) = day.at(SEND_HOUR, 0, 0, 0).to_zoned_datetime(tz.clone())
            && at.timestamp() > now
        {
            return at.timestamp();
        }
    }
    unreachable!("a Monday 08:00 follows any instant within eight days")
}

/// The last Monday 08:00 Europe/Paris at or before `now`.
pub(crate) fn last_monday_8am(now: Timestamp) -> Timestamp {
    let tz = paris();
    let today = now.to_zoned_datetime(tz.clone()).date();
    for offset in 0..=7 {
        let day = today.checked_sub(jiff::Span::new().days(offset)).unwrap_or(today);
        if day.weekday() != Weekday::Monday {
            continue;
        }
        if let Ok(at) = day.at(SEND_HOUR, 0, 0, 0).to_zoned_datetime(tz.clone())
            && at.timestamp() <= now
        {
            return at.timestamp();
        }
    }
    unreachable!("a Monday 08:00 precedes any instant within eight days")
}

/// The last complete ISO week before `today`'s.
pub(crate) fn last_complete_week(today: Date) -> Week {
    Week::containing(today).previous()
}

/// The report's figures from the store's counts (one conversion, shared with the
/// dashboard's archive).
pub(crate) use vigie_web::weekly_figures as figures;

/// Reads `week`'s figures (and the week before) from the store.
pub(crate) async fn build(store: &Store, week: Week, centre_name: &str) -> anyhow::Result<WeeklyFigures> {
    let data = store.weekly_figures(week.monday(), store.now()).await.context("reading the week's figures")?;
    Ok(figures(week, &data, centre_name))
}

/// Parses `--week`, or gives the last complete week before `now` (Europe/Paris).
pub(crate) fn week_arg(text: Option<&str>, now: Timestamp) -> anyhow::Result<Week> {
    match text {
        Some(text) => Week::parse(text).map_err(|e| anyhow::anyhow!("--week: {e}")),
        None => Ok(last_complete_week(now.to_zoned_datetime(paris()).date())),
    }
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{:.2} %", v * 100.0))
}

fn minutes(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.0} min"))
}

/// The summary table: one line per scope (the centre, then each pool), the week's key
/// figures with the week before's in brackets.
pub(crate) fn summary(figures: &WeeklyFigures) -> String {
    let mut out = format!(
        "week {} ({} to {}), previous week in brackets\n{:<8} {:>14} {:>22} {:>22} {:>14} {:>18} {:>24}\n",
        figures.week,
        figures.week.monday(),
        figures.week.sunday(),
        "scope",
        "calls",
        "answer rate",
        "spam report rate",
        "blacklisted/mo",
        "detection",
        "replacement €/yr",
    );
    let mut line = |scope: &str, now: &Period, before: &Period| {
        out.push_str(&format!(
            "{:<8} {:>14} {:>22} {:>22} {:>14} {:>18} {:>24}\n",
            scope,
            format!("{} ({})", now.calls, before.calls),
            format!("{} ({})", rate(now.answer_rate()), rate(before.answer_rate())),
            format!("{} ({})", rate(now.spam_report_rate()), rate(before.spam_report_rate())),
            format!("{:.1} ({:.1})", now.blacklisted_per_month(), before.blacklisted_per_month()),
            format!("{} ({})", minutes(now.median_detection_minutes), minutes(before.median_detection_minutes)),
            format!("{:.0} ({:.0})", now.replacement_cost_per_year_euros(), before.replacement_cost_per_year_euros()),
        ));
    };
    line("centre", &figures.centre.current, &figures.centre.previous);
    for p in &figures.pools {
        line(&p.pool, &p.current, &p.previous);
    }
    out
}

/// `vigie report weekly`: writes the report of `week` (default: the last complete
/// week) to `out` (default `./vigie-report-<week>`), prints the files and the summary.
pub(crate) async fn run(
    store: &Store,
    week: Option<&str>,
    out: Option<PathBuf>,
    language: &str,
    centre_name: &str,
) -> anyhow::Result<()> {
    let language = Language::parse(language).map_err(|e| anyhow::anyhow!("--language: {}", e.rule))?;
    let week = week_arg(week, store.now())?;
    let dir = out.unwrap_or_else(|| PathBuf::from(format!("vigie-report-{week}")));
    let figures = build(store, week, centre_name).await?;
    let files = write_report(&figures, language, &dir).with_context(|| format!("writing {}", dir.display()))?;
    for f in &files {
        println!("{}", f.display());
    }
    println!();
    print!("{}", summary(&figures));
    Ok(())
}

/// The e-mail of a week's report: the HTML page as the body (the summary as its text
/// part), the CSV and SVG files joined.
pub(crate) fn notification(figures: &WeeklyFigures, language: Language, dir: &Path) -> anyhow::Result<Notification> {
    let files = write_report(figures, language, dir).with_context(|| format!("writing {}", dir.display()))?;
    let mut html = None;
    let mut attachments = Vec::new();
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let content_type = match path.extension().and_then(|e| e.to_str()) {
            Some("html") => {
                html = Some(String::from_utf8_lossy(&bytes).into_owned());
                continue;
            }
            Some("svg") => "image/svg+xml",
            Some("csv") => "text/csv; charset=utf-8",
            _ => "application/octet-stream",
        };
        attachments.push(Attachment {
            filename: format!("vigie-{}-{name}", figures.week),
            content_type: content_type.into(),
            bytes,
        });
    }
    let subject = match language {
        Language::Fr => format!("[Vigie] Rapport hebdomadaire {}", figures.week),
        Language::En => format!("[Vigie] Weekly report {}", figures.week),
    };
    Ok(Notification {
        id: format!("weekly-report-{}", figures.week),
        subject,
        text: summary(figures),
        html,
        json: serde_json::json!({ "week": figures.week.to_string() }),
        attachments,
    })
}

/// What one attempt to send a week's report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Recorded and handed to every channel.
    Delivered,
    /// Recorded, but some channel refused it after its retries (logged).
    Failed,
    /// Already recorded by this or another server: nothing sent.
    AlreadySent,
}

/// Sends the weekly report to its e-mail channels.
pub(crate) struct WeeklyMailer {
    store: Store,
    channels: Vec<Box<dyn Channel>>,
    language: Language,
    centre_name: String,
    retry: RetryPolicy,
}

impl WeeklyMailer {
    /// A mailer over `channels` (e-mail channels: webhooks do not carry attachments).
    pub(crate) fn new(
        store: Store,
        channels: Vec<Box<dyn Channel>>,
        language: Language,
        centre_name: &str,
    ) -> WeeklyMailer {
        let retry =
            RetryPolicy { attempts_max: 5, delay_first: Duration::from_secs(2), delay_max: Duration::from_secs(60) };
        WeeklyMailer { store, channels, language, centre_name: centre_name.to_owned(), retry }
    }

    /// Sends `week`'s report unless it was already sent.
    pub(crate) async fn send(&self, week: Week) -> anyhow::Result<Delivery> {
        // Built before the claim, so that a failure here leaves the week to a retry.
        let figures = build(&self.store, week, &self.centre_name).await?;
        let dir = std::env::temp_dir().join(format!("vigie-weekly-{week}-{}", std::process::id()));
        let notification = notification(&figures, self.language, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        let notification = notification?;
        if !self.store.claim_weekly_report(&week.to_string(), "weekly-report").await? {
            return Ok(Delivery::AlreadySent);
        }
        let mut sent = Delivery::Delivered;
        for channel in &self.channels {
            if let Err(e) = deliver_with_retry(channel.as_ref(), &notification, &self.retry).await {
                tracing::error!(
                    week = %week, channel = channel.name(), error = %e,
                    "weekly report not delivered; not tried again (vigie report weekly --week {week} writes it)"
                );
                sent = Delivery::Failed;
            }
        }
        Ok(sent)
    }

    /// The week a server that wakes at `now` sends: the previous week, when `now` is
    /// within [`CATCH_UP`] after a Monday 08:00; otherwise none.
    pub(crate) fn due(now: Timestamp) -> Option<Week> {
        let last = last_monday_8am(now);
        (now - CATCH_UP < last).then(|| last_complete_week(last.to_zoned_datetime(paris()).date()))
    }

    /// Sends any report due now, then every Monday at 08:00 Europe/Paris, until aborted.
    pub(crate) fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            // The last week this process handled, so that it asks the store once.
            let mut handled: Option<Week> = None;
            loop {
                let now = self.store.now();
                if let Some(week) = WeeklyMailer::due(now).filter(|w| handled != Some(*w)) {
                    match self.send(week).await {
                        Ok(sent) => {
                            handled = Some(week);
                            tracing::info!(week = %week, ?sent, "weekly report");
                        }
                        Err(e) => tracing::error!(week = %week, error = %e, "weekly report failed; trying again"),
                    }
                }
                let wait = (next_monday_8am(now) - self.store.now()).unsigned_abs();
                // Sleep in steps of at most an hour, so that a suspended machine or a
                // changed clock does not oversleep, and a failed round is tried again.
                tokio::time::sleep(wait.min(Duration::from_secs(3600))).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn next_monday_8am_stays_8am_paris_across_the_2026_dst_changes() {
        // Winter: 08:00 Paris is 07:00 UTC.
        assert_eq!(next_monday_8am(ts("2026-03-20T12:00:00Z")), ts("2026-03-23T07:00:00Z"));
        // The spring change (Sunday 29 March): the next Monday is in summer time,
        // 06:00 UTC, less than 7 × 24 h after the previous one.
        assert_eq!(next_monday_8am(ts("2026-03-23T07:00:00Z")), ts("2026-03-30T06:00:00Z"));
        assert_eq!(next_monday_8am(ts("2026-03-29T01:30:00Z")), ts("2026-03-30T06:00:00Z"));
        // The autumn change (Sunday 25 October): back to 07:00 UTC.
        assert_eq!(next_monday_8am(ts("2026-10-19T06:00:00Z")), ts("2026-10-26T07:00:00Z"));
        assert_eq!(next_monday_8am(ts("2026-10-25T00:30:00Z")), ts("2026-10-26T07:00:00Z"));
        // On a Monday: before 08:00, that day; at or after, a week later.
        assert_eq!(next_monday_8am(ts("2026-11-30T06:59:59Z")), ts("2026-11-30T07:00:00Z"));
        assert_eq!(next_monday_8am(ts("2026-11-30T07:00:00Z")), ts("2026-12-07T07:00:00Z"));
        // Sunday 23:30 Paris is Sunday in Paris and Sunday in UTC; Monday 00:30 Paris
        // is still Sunday in UTC.
        assert_eq!(next_monday_8am(ts("2026-11-29T23:30:00Z")), ts("2026-11-30T07:00:00Z"));
    }

    #[test]
    fn a_report_is_due_within_the_catch_up_after_monday_8am() {
        assert_eq!(WeeklyMailer::due(ts("2026-11-30T06:59:00Z")), None);
        assert_eq!(WeeklyMailer::due(ts("2026-11-30T07:00:00Z")), Some(Week::new(2026, 48).expect("week")));
        assert_eq!(WeeklyMailer::due(ts("2026-11-30T18:59:00Z")), Some(Week::new(2026, 48).expect("week")));
        assert_eq!(WeeklyMailer::due(ts("2026-11-30T19:00:00Z")), None);
        assert_eq!(WeeklyMailer::due(ts("2026-03-30T06:00:00Z")), Some(Week::new(2026, 13).expect("week")));
    }

    #[test]
    fn the_default_week_is_the_last_complete_one() {
        let date = |t: &str| t.parse::<Date>().expect("a date");
        assert_eq!(last_complete_week(date("2026-11-28")).to_string(), "2026-W47");
        assert_eq!(last_complete_week(date("2026-11-30")).to_string(), "2026-W48");
        assert_eq!(last_complete_week(date("2027-01-01")).to_string(), "2026-W52");
        assert_eq!(last_complete_week(date("2026-01-05")).to_string(), "2026-W01");
    }

    #[test]
    fn a_bad_week_names_the_flag_and_the_rule() {
        let now = ts("2026-11-28T10:00:00Z");
        for bad in ["2026-48", "2026-W54", "26-W01", "2025-W53", "W48"] {
            let e = week_arg(Some(bad), now).expect_err(bad).to_string();
            assert!(e.starts_with("--week: ") && e.contains("YYYY-Www"), "{bad}: {e}");
        }
        assert_eq!(week_arg(Some("2026-W53"), now).expect("2026 has 53 weeks").to_string(), "2026-W53");
        assert_eq!(week_arg(None, now).expect("default").to_string(), "2026-W47");
    }
}
