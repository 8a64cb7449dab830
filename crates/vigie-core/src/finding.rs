//! What monitoring found, as data, written out in French or English when an alert, an
//! incident or an e-mail needs it: the evidence line of an alert ("2 signalements de
//! spam le 27/11/2026…"), so that a French operations team never reads an English
//! line in a French e-mail or page.

use crate::alerting::spaced_number;
use crate::detect::{Alarm, AlarmSubject};
use crate::{Calendar, Date, E164, Language, PlaybookStep, PoolCode, Timestamp};

/// What was found, with its figures.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// Spam reports reached the day's threshold.
    Reports {
        /// Reports of the number that local day.
        count: u32,
        /// The local day.
        day: Date,
        /// The source of the latest one (`patient`, `agent`, `carrier`…).
        latest_source: String,
    },
    /// A detection chart crossed its threshold: the number's (with its number) or the
    /// pool's.
    AnswerRateFall {
        /// The alarm, with its run's figures.
        alarm: Alarm,
        /// The number, for a number's alarm.
        number: Option<E164>,
    },
    /// An external source (app, community database, verification tool) flags the number.
    ExternalFlag {
        /// The source's name.
        source: String,
        /// Its kind (`community_db`, `verification_tool`…).
        kind: String,
        /// The number.
        number: E164,
        /// The label it shows, if any.
        label: Option<String>,
        /// Its score out of 100, if any.
        score: Option<f64>,
    },
    /// A monitoring source failed several rounds in a row.
    SourceFailing {
        /// The source's name.
        source: String,
        /// Failed rounds in a row.
        rounds: u32,
        /// The first error of the latest round, as the source gave it.
        error: String,
    },
    /// A playbook step is past its deadline.
    StepOverdue {
        /// The incident.
        incident: i64,
        /// The step.
        step: PlaybookStep,
        /// Its deadline.
        due: Timestamp,
    },
    /// A number was quarantined on `cause`, and its incident opened.
    Quarantined {
        /// Why.
        cause: Box<Finding>,
        /// Calls given the number and not yet dialled that went to other numbers.
        moved: u32,
        /// Those left without a number.
        left: u32,
        /// The incident opened.
        incident: i64,
    },
    /// A number entered the inventory.
    Added,
    /// A number rests after its run of intensive days.
    Rest {
        /// Intensive days in a row that start a rest (the pool's policy).
        intensive_days: u32,
        /// The last of them (local day).
        last_day: Date,
    },
    /// A reserve number was promoted into a pool short of capacity.
    Promoted {
        /// The reserve pool it came from.
        reserve: PoolCode,
        /// The pool it joined.
        pool: PoolCode,
        /// The local day short of capacity.
        day: Date,
        /// The pool's expected demand that day, in calls.
        expected: u32,
    },
    /// Words written by a person (an operator's reason), or stored before findings
    /// were kept as data: the same in both languages unless both were kept.
    Text {
        /// In French.
        fr: String,
        /// In English.
        en: String,
    },
}

impl Finding {
    /// A person's words, shown as typed in either language.
    pub fn text(words: impl Into<String>) -> Finding {
        let words = words.into();
        Finding::Text { fr: words.clone(), en: words }
    }

    /// The finding in `language`, times in the calendar's zone, on one line.
    pub fn render(&self, language: Language, calendar: &Calendar) -> String {
        let fr = language == Language::Fr;
        let when = |t: Timestamp| calendar.tz().to_datetime(t).strftime("%Y-%m-%d %H:%M").to_string();
        match self {
            Finding::Reports { count, day, latest_source } => {
                if fr {
                    format!(
                        "{count} signalements de spam le {} (le dernier : {latest_source})",
                        day.strftime("%d/%m/%Y")
                    )
                } else {
                    format!("{count} spam reports on {day} (latest from {latest_source})")
                }
            }
            Finding::AnswerRateFall { alarm, number } => fall(alarm, number.as_ref(), fr, &when),
            Finding::ExternalFlag { source, kind, number, label, score } => {
                let number = spaced_number(number);
                let label = label
                    .as_deref()
                    .map_or(String::new(), |l| if fr { format!(" comme « {l} »") } else { format!(" as \"{l}\"") });
                let score = score.map_or(String::new(), |s| format!(", score {s:.0}/100"));
                if fr {
                    format!("{source} ({kind}) signale le {number}{label}{score}")
                } else {
                    format!("{source} ({kind}) flags {number}{label}{score}")
                }
            }
            Finding::SourceFailing { source, rounds, error } => {
                if fr {
                    format!("{source} a échoué {rounds} tours de suite : {error}")
                } else {
                    format!("{source} failed {rounds} rounds in a row: {error}")
                }
            }
            Finding::StepOverdue { incident, step, due } => {
                if fr {
                    format!("incident {incident} : l'étape {step} était due le {} et n'est pas faite", when(*due))
                } else {
                    format!("incident {incident}: step {step} was due at {} and is not done", when(*due))
                }
            }
            Finding::Quarantined { cause, moved, left, incident } => {
                let cause = cause.render(language, calendar);
                if fr {
                    format!(
                        "{cause} ; {moved} appels en attente confiés à d'autres numéros, {left} sans numéro ; incident {incident} ouvert"
                    )
                } else {
                    format!(
                        "{cause}; {moved} pending calls moved, {left} left without a number; incident {incident} opened"
                    )
                }
            }
            Finding::Added => {
                if fr {
                    "ajouté à l'inventaire".to_owned()
                } else {
                    "added to the inventory".to_owned()
                }
            }
            Finding::Rest { intensive_days, last_day } => {
                if fr {
                    format!("{intensive_days} jours intensifs de suite jusqu'au {}", last_day.strftime("%d/%m/%Y"))
                } else {
                    format!("{intensive_days} consecutive intensive days ending {last_day}")
                }
            }
            Finding::Promoted { reserve, pool, day, expected } => {
                if fr {
                    format!(
                        "promu depuis la réserve {reserve} : capacité du pool {pool} insuffisante le {} (demande attendue {expected} appels plus la marge)",
                        day.strftime("%d/%m/%Y")
                    )
                } else {
                    format!(
                        "promoted from reserve {reserve}: pool {pool} short of capacity on {day} (expected demand {expected} plus margin)"
                    )
                }
            }
            Finding::Text { fr: text_fr, en } => {
                if fr {
                    text_fr.clone()
                } else {
                    en.clone()
                }
            }
        }
    }
}

/// A chart's alarm: the run's answered calls against the expected, the strong signals
/// for a number, the statistic against its threshold.
fn fall(alarm: &Alarm, number: Option<&E164>, fr: bool, when: &dyn Fn(Timestamp) -> String) -> String {
    let e = &alarm.evidence;
    let expected = decimal(e.run_expected_answered, 1, fr);
    let over = if fr { "au-dessus de" } else { "over" };
    let cusum = format!("CUSUM {} {over} {}", decimal(e.statistic, 2, fr), decimal(e.threshold, 2, fr));
    let since = when(e.run_started_at);
    let (answered, calls) = (e.run_answered, e.run_calls);
    match (&alarm.subject, number) {
        (AlarmSubject::Number(_), Some(n)) => {
            let n = spaced_number(n);
            let s = &e.signals;
            let (sip, quick, short, spam) = (s.unwanted_sip, s.quick_ends, s.short_answers, s.shown_as_spam);
            let strongest = alarm.signal.as_str();
            if fr {
                format!(
                    "{n} : {answered} appels décrochés sur ses {calls} derniers, pour {expected} attendus ; {sip} rejetés \
                     (607/608), {quick} terminés dès la première sonnerie, {short} décrochés moins de 10 s, {spam} « affiché \
                     comme spam » ; signal le plus fort : {strongest} ({cusum} depuis le {since})"
                )
            } else {
                format!(
                    "{n}: answered {answered} of its last {calls} calls where {expected} were expected; {sip} rejected \
                     (607/608), {quick} ended within a ring, {short} answered under 10 s, {spam} noted shown as spam; \
                     strongest signal {strongest} ({cusum} since {since})"
                )
            }
        }
        _ => {
            let pool: &PoolCode = &alarm.pool;
            if fr {
                format!(
                    "pool {pool} : {answered} appels décrochés sur ses {calls} derniers, pour {expected} attendus \
                     ({cusum} depuis le {since})"
                )
            } else {
                format!(
                    "pool {pool} answered {answered} of its last {calls} calls where {expected} were expected \
                     ({cusum} since {since})"
                )
            }
        }
    }
}

/// A figure with `places` decimals, with a decimal comma in French.
fn decimal(value: f64, places: usize, fr: bool) -> String {
    let text = format!("{value:.places$}");
    if fr { text.replace('.', ",") } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{AlarmAction, AlarmSignal, Contributions, Evidence, SignalCounts};
    use crate::reputation::{BaselineRate, BaselineSource};
    use crate::{NumberId, SignedDuration};

    fn at(text: &str) -> Timestamp {
        text.parse().expect("instant")
    }

    fn alarm(subject: AlarmSubject) -> Alarm {
        Alarm {
            subject,
            pool: PoolCode::parse("A").expect("pool"),
            at: at("2026-11-27T13:30:00Z"),
            signal: AlarmSignal::Rejections,
            evidence: Evidence {
                statistic: 7.25,
                threshold: 6.5,
                calls_since_start: 120,
                run_calls: 6,
                run_started_at: at("2026-11-27T13:05:00Z"),
                run_answered: 1,
                run_expected_answered: 3.6,
                baseline: BaselineRate { p0: 0.6, source: BaselineSource::Pool, level: 1.0 },
                signals: SignalCounts { unwanted_sip: 3, quick_ends: 1, short_answers: 0, shown_as_spam: 1 },
                contributions: Contributions { answer: 2.0, rejection: 5.25, duration: 0.0, agent: 0.0 },
            },
            action: AlarmAction::Quarantine,
        }
    }

    fn both(f: &Finding) -> (String, String) {
        let paris = Calendar::paris();
        (f.render(Language::Fr, &paris), f.render(Language::En, &paris))
    }

    #[test]
    fn each_finding_reads_in_french_and_in_english_in_paris_time() {
        let number = E164::parse("+33478200001").expect("number");
        let reports =
            Finding::Reports { count: 2, day: "2026-11-27".parse().expect("day"), latest_source: "carrier".into() };
        assert_eq!(
            both(&reports),
            (
                "2 signalements de spam le 27/11/2026 (le dernier : carrier)".into(),
                "2 spam reports on 2026-11-27 (latest from carrier)".into()
            )
        );
        let fall =
            Finding::AnswerRateFall { alarm: alarm(AlarmSubject::Number(NumberId(7))), number: Some(number.clone()) };
        let (fr, en) = both(&fall);
        assert!(
            fr.starts_with("+33 4 78 20 00 01 : 1 appels décrochés sur ses 6 derniers, pour 3,6 attendus ; 3 rejetés"),
            "{fr}"
        );
        assert!(fr.ends_with("(CUSUM 7,25 au-dessus de 6,50 depuis le 2026-11-27 14:05)"), "{fr}");
        assert!(
            en.starts_with("+33 4 78 20 00 01: answered 1 of its last 6 calls where 3.6 were expected; 3 rejected"),
            "{en}"
        );
        assert!(en.ends_with("strongest signal rejections (CUSUM 7.25 over 6.50 since 2026-11-27 14:05)"), "{en}");
        let pool = Finding::AnswerRateFall { alarm: alarm(AlarmSubject::Pool), number: None };
        let (fr, en) = both(&pool);
        assert!(fr.starts_with("pool A : 1 appels décrochés sur ses 6 derniers"), "{fr}");
        assert!(en.starts_with("pool A answered 1 of its last 6 calls"), "{en}");
        let flag = Finding::ExternalFlag {
            source: "tellows".into(),
            kind: "community_db".into(),
            number: number.clone(),
            label: Some("Démarchage".into()),
            score: Some(82.4),
        };
        assert_eq!(
            both(&flag),
            (
                "tellows (community_db) signale le +33 4 78 20 00 01 comme « Démarchage », score 82/100".into(),
                "tellows (community_db) flags +33 4 78 20 00 01 as \"Démarchage\", score 82/100".into()
            )
        );
        let failing = Finding::SourceFailing { source: "hiya".into(), rounds: 3, error: "HTTP 503".into() };
        assert_eq!(
            both(&failing),
            ("hiya a échoué 3 tours de suite : HTTP 503".into(), "hiya failed 3 rounds in a row: HTTP 503".into())
        );
        // Winter time: UTC+1.
        let overdue = Finding::StepOverdue {
            incident: 12,
            step: PlaybookStep::IdentityChecked,
            due: at("2026-11-27T10:00:00Z") + SignedDuration::from_mins(30),
        };
        assert_eq!(
            both(&overdue),
            (
                "incident 12 : l'étape identity_checked était due le 2026-11-27 11:30 et n'est pas faite".into(),
                "incident 12: step identity_checked was due at 2026-11-27 11:30 and is not done".into()
            )
        );
        let quarantined = Finding::Quarantined { cause: Box::new(reports), moved: 4, left: 1, incident: 12 };
        let (fr, en) = both(&quarantined);
        assert!(
            fr.ends_with("; 4 appels en attente confiés à d'autres numéros, 1 sans numéro ; incident 12 ouvert"),
            "{fr}"
        );
        assert!(en.starts_with("2 spam reports on 2026-11-27"), "{en}");
        assert_eq!(both(&Finding::text("vu par l'équipe")).1, "vu par l'équipe", "a person's words stay as typed");
        assert_eq!(both(&Finding::Added), ("ajouté à l'inventaire".into(), "added to the inventory".into()));
        let rest = Finding::Rest { intensive_days: 3, last_day: "2026-03-29".parse().expect("day") };
        assert_eq!(
            both(&rest),
            (
                "3 jours intensifs de suite jusqu'au 29/03/2026".into(),
                "3 consecutive intensive days ending 2026-03-29".into()
            )
        );
        let promoted = Finding::Promoted {
            reserve: PoolCode::parse("R").expect("pool"),
            pool: PoolCode::parse("B").expect("pool"),
            day: "2026-11-30".parse().expect("day"),
            expected: 2400,
        };
        let (fr, en) = both(&promoted);
        assert!(fr.starts_with("promu depuis la réserve R : capacité du pool B insuffisante le 30/11/2026"), "{fr}");
        assert!(en.starts_with("promoted from reserve R: pool B short of capacity on 2026-11-30"), "{en}");
    }
}
