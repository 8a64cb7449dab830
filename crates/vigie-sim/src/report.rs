//! What a run measured: figures per day and the seed's table over the run.

use vigie_core::Date;

/// One simulated day of one policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayFigures {
    /// The local day (Europe/Paris).
    pub day: Option<Date>,
    /// Calls placed on a number.
    pub calls: u64,
    /// Calls announced by an SMS that arrived.
    pub announced: u64,
    /// SMS planned by vigie-core's `plan_sms` (delivered or not).
    pub sms_sent: u64,
    /// Calls moved later so that their SMS could go in time.
    pub moved_for_sms: u64,
    /// Calls the calling rules or the SMS timing put off to another day.
    pub deferred: u64,
    /// Calls answered.
    pub answered: u64,
    /// Calls whose patient's phone showed a spam label (the number labelled by their app).
    pub shown_labelled: u64,
    /// Calls rejected before they rang (SIP 607/608) because the number was labelled.
    pub rejected: u64,
    /// Patients' and professionals' spam reports.
    pub spam_reports: u64,
    /// Answered calls whose person told the agent the call showed as spam.
    pub shown_as_spam: u64,
    /// Numbers newly labelled by an app that day (the seed's "blacklisted").
    pub labelled: u64,
    /// Numbers quarantined on reports that day.
    pub quarantined: u64,
    /// Numbers quarantined on their chart's alarm that day.
    pub chart_quarantines: u64,
    /// Numbers quarantined because an external source listed them that day.
    pub source_quarantines: u64,
    /// Incidents opened that day (any trigger).
    pub incidents: u64,
    /// Sum of their detection times, in hours (vigie-core's `Incident::time_to_detect`:
    /// from the first evidence, a report or the start of a chart's run or the label,
    /// to the quarantine).
    pub detection_hours: f64,
    /// Of those incidents, numbers labelled by an app by the end of the day.
    pub detected: u64,
    /// Of those incidents, numbers no app labelled: quarantined on reports or a
    /// chart's alarm before any label, or a chart's false alarm.
    pub cleared: u64,
    /// Pool charts' alarms (alerts, the number stays in service).
    pub pool_alerts: u64,
    /// Numbers replaced (retired after a label).
    pub replaced: u64,
    /// Cost of those replacements, in euros.
    pub replacement_cost_eur: f64,
    /// Reserve numbers promoted because a pool ran short.
    pub promoted: u64,
    /// Calls no number could take.
    pub unplaced: u64,
}

/// The seed's table over a run ("Results After 12 Months").
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The policy's name.
    pub policy: String,
    /// Days simulated.
    pub days: u32,
    /// Calls placed.
    pub calls: u64,
    /// Answered calls over placed calls (seed: 41 % before, 63 % after).
    pub answer_rate: f64,
    /// Spam reports over placed calls (seed: 0.8 % before, 0.08 % after).
    pub spam_report_rate: f64,
    /// Labelled numbers per 30 days (seed: 4–6 before, 0–1 after).
    pub blacklisted_per_month: f64,
    /// Mean hours from the first evidence to the quarantine over the incidents
    /// (seed: 5–10 days before, under 2 hours after); `None` when there was none.
    pub detection_hours: Option<f64>,
    /// Replacement cost per 365 days, in euros (seed: €12,000 before, €1,500 after).
    pub replacement_cost_per_year_eur: f64,
    /// Calls no number could take.
    pub unplaced: u64,
    /// Calls announced by an SMS that arrived, over placed calls.
    pub announced_rate: f64,
    /// Calls shown with a spam label, over placed calls.
    pub shown_labelled_rate: f64,
    /// Incidents of numbers no app labelled, per 30 days.
    pub cleared_per_month: f64,
    /// Quarantines per 30 days on the day's reports, on an external source's listing,
    /// and on a number chart's alarm.
    pub quarantines_per_month: [f64; 3],
}

/// A run: its days and their summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The seed that replays it.
    pub seed: u64,
    /// Figures per day, in order.
    pub days: Vec<DayFigures>,
    /// How many times vigie-core's `check_invariants` passed (once per pool a day).
    pub invariant_checks: u64,
    /// Over the run.
    pub summary: Summary,
}

impl Summary {
    /// Sums the days of a run.
    pub fn of(policy: &str, days: &[DayFigures]) -> Summary {
        let sum = |f: fn(&DayFigures) -> u64| days.iter().map(f).sum::<u64>();
        let calls = sum(|d| d.calls);
        let incidents = sum(|d| d.incidents);
        let n = days.len().max(1) as f64;
        let ratio = |x: u64| if calls == 0 { 0.0 } else { x as f64 / calls as f64 };
        Summary {
            policy: policy.to_string(),
            days: u32::try_from(days.len()).unwrap_or(u32::MAX),
            calls,
            answer_rate: ratio(sum(|d| d.answered)),
            spam_report_rate: ratio(sum(|d| d.spam_reports)),
            blacklisted_per_month: sum(|d| d.labelled) as f64 * 30.0 / n,
            detection_hours: (incidents > 0)
                .then(|| days.iter().map(|d| d.detection_hours).sum::<f64>() / incidents as f64),
            replacement_cost_per_year_eur: days.iter().map(|d| d.replacement_cost_eur).sum::<f64>() * 365.0 / n,
            unplaced: sum(|d| d.unplaced),
            announced_rate: ratio(sum(|d| d.announced)),
            shown_labelled_rate: ratio(sum(|d| d.shown_labelled)),
            cleared_per_month: sum(|d| d.cleared) as f64 * 30.0 / n,
            quarantines_per_month: [
                sum(|d| d.quarantined) as f64 * 30.0 / n,
                sum(|d| d.source_quarantines) as f64 * 30.0 / n,
                sum(|d| d.chart_quarantines) as f64 * 30.0 / n,
            ],
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let detection = self.detection_hours.map_or("-".to_string(), |h| format!("{h:.1} h"));
        write!(
            f,
            "{:<8} {:>4} days {:>9} calls  answer {:>5.1} %  reports {:>6.3} %  blacklisted/month {:>5.1}  \
             detection {:>8}  replacement/year EUR {:>7.0}",
            self.policy,
            self.days,
            self.calls,
            self.answer_rate * 100.0,
            self.spam_report_rate * 100.0,
            self.blacklisted_per_month,
            detection,
            self.replacement_cost_per_year_eur,
        )
    }
}
