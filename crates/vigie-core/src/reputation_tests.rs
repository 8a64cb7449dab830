//! The call signals, the baselines' smoothing and levels, and the reputation score:
//! each weight at its edges, and the score's bounds.

use jiff::{SignedDuration, Timestamp};

use super::*;

fn now() -> Timestamp {
    "2026-11-27T10:00:00Z".parse().expect("ts")
}

fn ago(hours: i64) -> Timestamp {
    now() - SignedDuration::from_hours(hours)
}

fn purpose(text: &str) -> Purpose {
    Purpose::parse(text).expect("purpose")
}

fn hour(h: u8) -> LocalHour {
    LocalHour::new(h).expect("hour")
}

fn counts(calls: u64, answered: u64) -> AnswerCounts {
    AnswerCounts::new(calls, answered).expect("counts")
}

/// A number in good health: no reports, the pool's answer rate, normal durations, no
/// external flags, volume under the healthy figure.
fn clean<'a>() -> ScoreInputs<'a> {
    ScoreInputs {
        now: now(),
        reports: &[],
        answers: counts(300, 180),
        pool_rate: 0.6,
        answered_with_duration: 180,
        short_answered: 18,
        external: &[],
        calls_per_day: &[55, 60, 52, 58, 61, 57, 59],
        healthy_calls_per_day: 65,
    }
}

fn weight(score: &ReputationScore, code: ReasonCode) -> u32 {
    score.reasons.iter().find(|r| r.code == code).map_or(0, |r| r.weight)
}

#[test]
fn signals_know_what_they_say() {
    assert!(SipCode::new(99).is_err() && SipCode::new(700).is_err());
    assert!(SipCode::new(607).expect("607").is_unwanted() && SipCode::REJECTED.is_unwanted());
    assert!(!SipCode::new(486).expect("486").is_unwanted());
    let answered = CallSignal::new(now(), Outcome::Answered);
    assert!(answered.answered() && answered.counts());
    // A 607/608 is not an answer, whatever the dialer's outcome says.
    assert!(!CallSignal { sip_code: Some(SipCode::UNWANTED), ..answered }.answered());
    let failed = CallSignal::new(now(), Outcome::Failed);
    assert!(!failed.counts());
    assert!(CallSignal { sip_code: Some(SipCode::REJECTED), ..failed }.counts());
    assert!(!CallSignal::new(now(), Outcome::Voicemail).answered());
    let full = CallSignal { ring_ms: Some(500), duration_secs: Some(3), shown_as_spam: Some(true), ..answered };
    assert_eq!(full.outcome_only(), answered);
    assert!(AnswerCounts::new(3, 4).is_err());
    assert!(LocalHour::new(24).is_err());
}

#[test]
fn local_hours_follow_paris_across_dst() {
    let cal = Calendar::paris();
    let t = |s: &str| s.parse::<Timestamp>().expect("ts");
    assert_eq!(LocalHour::of(&cal, t("2026-01-15T08:30:00Z")).get(), 9);
    assert_eq!(LocalHour::of(&cal, t("2026-07-15T08:30:00Z")).get(), 10);
    assert_eq!(LocalHour::of(&cal, t("2026-06-30T22:30:00Z")).get(), 0);
}

#[test]
fn baselines_smooth_thin_cells_towards_their_parents() {
    let cal = Calendar::paris();
    let (reminder, survey, unknown) =
        (purpose("appointment_reminder"), purpose("satisfaction_survey"), purpose("other"));
    let mut pool = BaselineTable::new();
    pool.add(&reminder, hour(9), counts(1_000, 500));
    pool.add(&reminder, hour(15), counts(1_000, 700));
    pool.add(&reminder, hour(19), counts(2, 2));
    pool.add(&survey, hour(10), counts(10, 1));
    assert_eq!(pool.total(), counts(2_012, 1_203));
    assert_eq!(pool.purpose_total(&reminder), counts(2_002, 1_202));
    let base = Baseline::new(cal, &pool, 50).expect("baseline");
    let pool_rate = 1_203.0 / 2_012.0;
    assert!((base.pool_rate() - pool_rate).abs() < 1e-12);
    let smooth = |answered: f64, calls: f64, prior: f64| (answered + 50.0 * prior) / (calls + 50.0);
    // The reminders are held to the surveys' ten calls (smoothed), and the reverse.
    let reminder_parent = smooth(1.0, 10.0, pool_rate);
    let reminder_rate = smooth(1_202.0, 2_002.0, reminder_parent);
    let survey_parent = smooth(1_202.0, 2_002.0, pool_rate);

    // A full cell speaks for itself, nearly: its parent is the reminders' other hours.
    let r = base.expected(&reminder, hour(9), NumberLevel::POOL);
    assert_eq!(r.source, BaselineSource::Cell);
    assert!((r.p0 - smooth(500.0, 1_000.0, smooth(702.0, 1_002.0, reminder_parent))).abs() < 1e-12);
    // Two answered calls at 19:00 do not make a 100 % hour.
    let r = base.expected(&reminder, hour(19), NumberLevel::POOL);
    assert_eq!(r.source, BaselineSource::Purpose);
    assert!((r.p0 - smooth(2.0, 2.0, smooth(1_200.0, 2_000.0, reminder_parent))).abs() < 1e-12);
    assert!(r.p0 < 0.62, "{}", r.p0);
    // An hour without calls falls back to its purpose; a thin purpose to the pool,
    // its ten calls counted once.
    assert!((base.expected(&reminder, hour(12), NumberLevel::POOL).p0 - reminder_rate).abs() < 1e-12);
    let thin = base.expected(&survey, hour(10), NumberLevel::POOL);
    assert_eq!(thin.source, BaselineSource::Pool);
    assert!((thin.p0 - smooth(1.0, 10.0, survey_parent)).abs() < 1e-12);
    assert!((0.5..0.53).contains(&thin.p0), "{}", thin.p0);
    let none = base.expected(&unknown, hour(10), NumberLevel::POOL);
    assert_eq!((none.p0, none.source), (pool_rate, BaselineSource::Pool));

    let mix = base.rate_mix();
    assert_eq!(mix.len(), 4);
    assert_eq!(mix.iter().map(|w| w.weight).sum::<f64>(), 2_012.0);
}

#[test]
fn a_number_is_held_to_its_own_level() {
    let reminder = purpose("appointment_reminder");
    let mut pool = BaselineTable::new();
    pool.add(&reminder, hour(10), counts(10_000, 6_000));
    let base = Baseline::new(Calendar::paris(), &pool, 50).expect("baseline");
    let p = base.expected(&reminder, hour(10), NumberLevel::POOL).p0;
    assert!((p - 0.6).abs() < 1e-12);

    // A thousand calls answered at 45 %: level (450 + 30) / (600 + 30).
    let mut weak = BaselineTable::new();
    weak.add(&reminder, hour(10), counts(1_000, 450));
    let level = base.number_level(&weak);
    assert!((level.get() - 480.0 / 630.0).abs() < 1e-12);
    let r = base.expected(&reminder, hour(10), level);
    assert!((r.p0 - 0.6 * 480.0 / 630.0).abs() < 1e-12 && r.level == level.get());
    // Ten calls say little.
    let mut new = BaselineTable::new();
    new.add(&reminder, hour(10), counts(10, 2));
    assert!(base.number_level(&new).get() > 0.85);
    assert_eq!(base.number_level(&BaselineTable::new()), NumberLevel::POOL);
    // The rate stays a probability, whatever the level.
    let mut star = BaselineTable::new();
    star.add(&reminder, hour(10), counts(100_000, 100_000));
    assert_eq!(base.expected(&reminder, hour(10), base.number_level(&star)).p0, RATE_MAX);
}

#[test]
fn baselines_refuse_too_little_history() {
    let reminder = purpose("appointment_reminder");
    let mut pool = BaselineTable::new();
    pool.add(&reminder, hour(10), counts(150, 90));
    assert_eq!(
        Baseline::new(Calendar::paris(), &pool, 50).err(),
        Some(BaselineError::TooFewCalls { calls: 150, needed: BASELINE_CALLS_MIN })
    );
    pool.add(&reminder, hour(11), counts(100, 0));
    pool.add(&reminder, hour(11), counts(0, 0));
    assert!(Baseline::new(Calendar::paris(), &pool, 50).is_ok());
    assert!(matches!(Baseline::new(Calendar::paris(), &pool, 0), Err(BaselineError::Invalid(_))));
    let mut silent = BaselineTable::new();
    silent.add(&reminder, hour(10), counts(500, 0));
    assert!(matches!(Baseline::new(Calendar::paris(), &silent, 50), Err(BaselineError::Degenerate { .. })));
}

#[test]
fn a_clean_number_scores_100() {
    let score = reputation_score(&clean());
    assert_eq!(score, ReputationScore { score: 100, reasons: vec![] });
}

#[test]
fn reports_weigh_by_age_and_source() {
    let reports = [
        ReportEvent { at: ago(1), source: ReportSource::Patient },
        ReportEvent { at: ago(48), source: ReportSource::Agent },
        ReportEvent { at: ago(24 * 10), source: ReportSource::Patient },
        ReportEvent { at: ago(24 * 10), source: ReportSource::Carrier },
        // Too old, and not yet received: ignored.
        ReportEvent { at: ago(24 * 31), source: ReportSource::Patient },
        ReportEvent { at: now() + SignedDuration::from_hours(1), source: ReportSource::Patient },
    ];
    let score = reputation_score(&ScoreInputs { reports: &reports, ..clean() });
    assert_eq!(weight(&score, ReasonCode::Reports24h), 25);
    assert_eq!(weight(&score, ReasonCode::Reports7d), 10);
    // 3 × (1 + 1.5) = 7.5, rounded.
    assert_eq!(weight(&score, ReasonCode::Reports30d), 8);
    assert_eq!(score.score, 100 - 25 - 10 - 8);
    assert_eq!(score.reasons[0].code, ReasonCode::Reports24h);
    assert_eq!(score.reasons[0].detail, "1 reports in the last 24 hours (1 patient)");
    assert_eq!(score.reasons[2].detail, "2 reports between 7 and 30 days ago (1 carrier, 1 patient)");
    // Two reports within a day from an app that labels it: capped at 50.
    let burst = [
        ReportEvent { at: ago(2), source: ReportSource::AppLabel },
        ReportEvent { at: ago(3), source: ReportSource::AppLabel },
    ];
    let score = reputation_score(&ScoreInputs { reports: &burst, ..clean() });
    assert_eq!((score.score, weight(&score, ReasonCode::Reports24h)), (50, 50));
}

#[test]
fn a_low_answer_rate_costs_once_it_is_more_than_noise() {
    let score = |calls, answered| reputation_score(&ScoreInputs { answers: counts(calls, answered), ..clean() });
    // Five unanswered calls: (0 + 12) / 25 = 0.48, 20 % short of 0.6 → 10 points.
    assert_eq!(weight(&score(5, 0), ReasonCode::AnswerRateLow), 10);
    // A labelled number over a week: (60 + 12) / 420 = 0.171, 71 % short → capped 35.
    let labelled = score(400, 60);
    assert_eq!(weight(&labelled, ReasonCode::AnswerRateLow), 35);
    assert!(labelled.reasons[0].detail.contains("answered 60 of 400 calls"));
    // 8 % short is noise.
    assert_eq!(weight(&score(1_000, 552), ReasonCode::AnswerRateLow), 0);
    // No call, no opinion.
    assert_eq!(weight(&score(0, 0), ReasonCode::AnswerRateLow), 0);
}

#[test]
fn very_short_calls_cost_above_the_healthy_share() {
    let score =
        |with, short| reputation_score(&ScoreInputs { answered_with_duration: with, short_answered: short, ..clean() });
    // (30 + 2) / 120 = 0.267; 0.147 above 0.12 → 15 points.
    assert_eq!(weight(&score(100, 30), ReasonCode::ShortCalls), 15);
    assert_eq!(weight(&score(1_000, 900), ReasonCode::ShortCalls), 20);
    assert_eq!(weight(&score(100, 12), ReasonCode::ShortCalls), 0);
    // Three short calls out of three: smoothed, not 100 %.
    assert!(weight(&score(3, 3), ReasonCode::ShortCalls) <= 11);
}

#[test]
fn external_sources_cost_their_listing_or_their_risk() {
    let community =
        ExternalCheck { source: "signal-spam".into(), kind: ExternalKind::CommunityDb, listed: true, risk: None };
    let tool =
        ExternalCheck { source: "huhu".into(), kind: ExternalKind::VerificationTool, listed: false, risk: Some(80) };
    let score = |checks: &[ExternalCheck]| reputation_score(&ScoreInputs { external: checks, ..clean() });
    assert_eq!(score(std::slice::from_ref(&community)).score, 60);
    let scored = score(std::slice::from_ref(&tool));
    assert_eq!(weight(&scored, ReasonCode::VerificationFlagged), 24);
    assert_eq!(scored.reasons[0].detail, "huhu (verification_tool) risk 80/100");
    // Together capped at 60.
    let both = score(&[community.clone(), tool.clone()]);
    assert_eq!((both.score, weight(&both, ReasonCode::CommunityListed)), (40, 40));
    assert_eq!(weight(&both, ReasonCode::VerificationFlagged), 20);
    // A clean answer costs nothing.
    let clean_tool = ExternalCheck { risk: Some(0), ..tool };
    assert_eq!(score(&[ExternalCheck { listed: false, ..community }, clean_tool]).score, 100);
}

#[test]
fn volume_over_healthy_and_spikes_cost() {
    let score = |days: &[u32]| reputation_score(&ScoreInputs { calls_per_day: days, ..clean() });
    let busy = score(&[50, 50, 50, 100]);
    // 100 / 65 = 1.54 → 16 points, capped at 15; 100 ≥ 2 × 50 → a spike, 10.
    assert_eq!(weight(&busy, ReasonCode::VolumeOverHealthy), 15);
    assert_eq!(weight(&busy, ReasonCode::VolumeSpike), 10);
    assert_eq!(busy.score, 75);
    // From nothing to full volume is a spike; a small day is not.
    assert_eq!(weight(&score(&[0, 0, 0, 40]), ReasonCode::VolumeSpike), 10);
    assert_eq!(weight(&score(&[0, 0, 0, 30]), ReasonCode::VolumeSpike), 0);
    assert_eq!(weight(&score(&[70]), ReasonCode::VolumeOverHealthy), 2);
    assert_eq!(score(&[]).score, 100);
}

#[test]
fn the_score_stays_within_0_and_100_and_is_deterministic() {
    let reports: Vec<ReportEvent> =
        (0..40).map(|i| ReportEvent { at: ago(i * 12), source: ReportSource::Patient }).collect();
    let checks = [
        ExternalCheck { source: "a".into(), kind: ExternalKind::CommunityDb, listed: true, risk: Some(100) },
        ExternalCheck { source: "b".into(), kind: ExternalKind::VerificationTool, listed: true, risk: Some(255) },
    ];
    let inputs = ScoreInputs {
        reports: &reports,
        answers: counts(500, 10),
        answered_with_duration: 10,
        short_answered: 10,
        external: &checks,
        calls_per_day: &[0, 0, 200],
        ..clean()
    };
    let burnt = reputation_score(&inputs);
    assert_eq!(burnt.score, 0);
    assert!(burnt.reasons.iter().map(|r| r.weight).sum::<u32>() > 100);
    assert!(burnt.reasons.windows(2).all(|w| w[0].weight >= w[1].weight));
    assert_eq!(reputation_score(&inputs), burnt);
    assert_eq!(ReasonCode::parse("reports_24h"), Ok(ReasonCode::Reports24h));
}
