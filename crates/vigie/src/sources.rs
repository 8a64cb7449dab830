//! External reputation sources in `vigie serve`: verification tools (HUHU-like scores,
//! Hiya or Truecaller business APIs) and community reporting databases, each checked on
//! its own schedule for every number in service. A [`ReputationSource`] answers for one
//! number; [`HttpJsonSource`] is the generic one (a URL template, an auth header, JSON
//! paths to a score, a flag and a label). Each reading is recorded; a number found
//! flagged is quarantined at once (or alerted on, per configuration), its incident
//! opened with the reading as evidence. A source that fails raises an alert and is
//! tried again with a growing back-off; it never blocks allocation, which never waits
//! for it.
//!
//! This file names nothing of the binary (`crate::…`): the integration tests include it
//! to drive [`Poller::round`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use vigie_core::{Alert, AlertAction, AlertPolicy, AlertSignal, Finding, Severity};
use vigie_core::{E164, NumberStatus, PoolRole, Timestamp};
use vigie_store::{SourceReading, Store, StoreError, Trigger};

/// A boxed future, as the providers' traits use.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a source said about one number.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    /// Its score on 0 (spam) to 100 (trusted), when it gives one.
    pub(crate) score: Option<f64>,
    /// Whether it lists or flags the number.
    pub(crate) flagged: bool,
    /// Its label, if any.
    pub(crate) label: Option<String>,
    /// A short excerpt of its answer, as evidence.
    pub(crate) excerpt: String,
}

/// Why a source gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SourceError {
    /// It could not be reached, or did not answer in time.
    #[error("source {name}: unreachable: {reason}")]
    Unreachable {
        /// The source.
        name: String,
        /// What happened.
        reason: String,
    },
    /// It answered with an error status.
    #[error("source {name}: HTTP {status}")]
    Status {
        /// The source.
        name: String,
        /// The status.
        status: u16,
    },
    /// Its answer lacks what the configuration points to.
    #[error("source {name}: {path}: {rule}")]
    Answer {
        /// The source.
        name: String,
        /// The JSON path.
        path: String,
        /// What is wrong.
        rule: String,
    },
}

/// A reputation source: answers for one number.
pub(crate) trait ReputationSource: Send + Sync {
    /// Its configured name.
    fn name(&self) -> &str;
    /// `community_db`, `verification_tool` or `app_label`.
    fn kind(&self) -> &str;
    /// How often it is checked.
    fn interval(&self) -> Duration;
    /// What it says about `number`.
    fn check<'a>(&'a self, number: &'a E164) -> BoxFuture<'a, Result<Check, SourceError>>;
}

/// A JSON path of the small form `$.a.b[0].c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonPath {
    text: String,
    steps: Vec<PathStep>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathStep {
    Field(String),
    Index(usize),
}

impl JsonPath {
    /// Parses `$.a.b[0].c`: `$`, then `.field` and `[index]` steps.
    pub(crate) fn parse(text: &str) -> Result<JsonPath, String> {
        let rest = text.strip_prefix('$').ok_or("must start with $")?;
        let mut steps = Vec::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '.' => {
                    let mut name = String::new();
                    while let Some(&n) = chars.peek() {
                        if n == '.' || n == '[' {
                            break;
                        }
                        name.push(n);
                        chars.next();
                    }
                    if name.is_empty() {
                        return Err("a field name is empty".into());
                    }
                    steps.push(PathStep::Field(name));
                }
                '[' => {
                    let mut digits = String::new();
                    for n in chars.by_ref() {
                        if n == ']' {
                            break;
                        }
                        digits.push(n);
                    }
                    steps.push(PathStep::Index(digits.parse().map_err(|_| format!("[{digits}] is not an index"))?));
                }
                other => return Err(format!("unexpected {other:?}: use $.field and [index]")),
            }
        }
        Ok(JsonPath { text: text.to_owned(), steps })
    }

    /// The value it points to.
    pub(crate) fn find<'a>(&self, v: &'a Value) -> Option<&'a Value> {
        self.steps.iter().try_fold(v, |v, s| match s {
            PathStep::Field(f) => v.get(f),
            PathStep::Index(i) => v.get(i),
        })
    }
}

/// A generic HTTP JSON source.
#[derive(Debug, Clone)]
pub(crate) struct HttpSourceConfig {
    /// Its name.
    pub(crate) name: String,
    /// `community_db`, `verification_tool` or `app_label`.
    pub(crate) kind: String,
    /// The URL, with `{number}` (E.164, URL-encoded) and `{national}` (0XXXXXXXXX).
    pub(crate) url: String,
    /// An authentication header (name, value); the value is never logged.
    pub(crate) auth: Option<(String, String)>,
    /// Where its score is, if it gives one, and its scale: (min, max, higher is better).
    pub(crate) score: Option<(JsonPath, f64, f64, bool)>,
    /// Where its flag is, and the values that mean flagged (`true` when empty).
    pub(crate) flagged: Option<(JsonPath, Vec<Value>)>,
    /// A score at or under this (on 0–100, 100 trusted) flags the number too.
    pub(crate) flag_below_score: Option<f64>,
    /// Where its label is.
    pub(crate) label: Option<JsonPath>,
    /// A 404 means "not listed" (community databases).
    pub(crate) not_found_is_clean: bool,
    /// How often it is checked.
    pub(crate) interval: Duration,
    /// Longest wait for one answer.
    pub(crate) timeout: Duration,
}

/// [`HttpSourceConfig`] over reqwest.
pub(crate) struct HttpJsonSource {
    config: HttpSourceConfig,
    client: reqwest::Client,
}

impl HttpJsonSource {
    /// The source of `config`.
    pub(crate) fn new(config: HttpSourceConfig) -> anyhow::Result<HttpJsonSource> {
        let client = reqwest::Client::builder().timeout(config.timeout).build()?;
        Ok(HttpJsonSource { config, client })
    }

    fn err_answer(&self, path: &JsonPath, rule: &str) -> SourceError {
        SourceError::Answer { name: self.config.name.clone(), path: path.text.clone(), rule: rule.to_owned() }
    }

    fn read(&self, body: &Value) -> Result<Check, SourceError> {
        let c = &self.config;
        let score = match &c.score {
            None => None,
            Some((path, min, max, higher_is_better)) => {
                let raw = path.find(body).ok_or_else(|| self.err_answer(path, "missing"))?;
                let raw = raw.as_f64().ok_or_else(|| self.err_answer(path, "not a number"))?;
                let unit = ((raw - min) / (max - min)).clamp(0.0, 1.0);
                Some(100.0 * if *higher_is_better { unit } else { 1.0 - unit })
            }
        };
        let mut flagged = match &c.flagged {
            None => false,
            Some((path, values)) => match path.find(body) {
                None | Some(Value::Null) => false,
                Some(v) if values.is_empty() => v.as_bool().ok_or_else(|| self.err_answer(path, "not a boolean"))?,
                Some(v) => values
                    .iter()
                    .any(|f| f == v || f.as_str().zip(v.as_str()).is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))),
            },
        };
        if let (Some(limit), Some(s)) = (c.flag_below_score, score) {
            flagged |= s <= limit;
        }
        let label = c.label.as_ref().and_then(|p| p.find(body)).and_then(|v| v.as_str().map(str::to_owned));
        let mut excerpt = body.to_string();
        excerpt.truncate(200);
        Ok(Check { score, flagged, label, excerpt })
    }
}

fn url_for(template: &str, number: &E164) -> String {
    let e164 = number.as_str().replace('+', "%2B");
    template.replace("{number}", &e164).replace("{national}", &number.national())
}

impl ReputationSource for HttpJsonSource {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn kind(&self) -> &str {
        &self.config.kind
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    fn check<'a>(&'a self, number: &'a E164) -> BoxFuture<'a, Result<Check, SourceError>> {
        Box::pin(async move {
            let source = self.config.name.clone();
            let mut req = self.client.get(url_for(&self.config.url, number));
            if let Some((name, value)) = &self.config.auth {
                req = req.header(name.as_str(), value.as_str());
            }
            let res = req
                .send()
                .await
                .map_err(|e| SourceError::Unreachable { name: source.clone(), reason: e.without_url().to_string() })?;
            let status = res.status().as_u16();
            if status == 404 && self.config.not_found_is_clean {
                return Ok(Check { score: None, flagged: false, label: None, excerpt: "404: not listed".into() });
            }
            if !(200..300).contains(&status) {
                return Err(SourceError::Status { name: source, status });
            }
            let body: Value = res.json().await.map_err(|e| SourceError::Answer {
                name: source.clone(),
                path: "$".into(),
                rule: format!("not JSON: {}", e.without_url()),
            })?;
            self.read(&body)
        })
    }
}

/// What a flagged number leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnFlag {
    /// Quarantine it at once.
    Quarantine,
    /// Alert only.
    Alert,
}

/// What one round of one source did.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Round {
    /// Numbers checked.
    pub(crate) checked: u32,
    /// Numbers it flagged.
    pub(crate) flagged: Vec<String>,
    /// Numbers quarantined on its word.
    pub(crate) quarantined: Vec<String>,
    /// Checks that failed.
    pub(crate) errors: Vec<String>,
    /// The delay before its next round (its interval, or a back-off).
    pub(crate) next_in: Duration,
}

/// Checks every number in service with each source, on the source's schedule.
pub(crate) struct Poller {
    store: Store,
    sources: Vec<Arc<dyn ReputationSource>>,
    on_flag: OnFlag,
    limits: AlertPolicy,
    /// The longest back-off.
    backoff_max: Duration,
}

impl Poller {
    /// A poller over `sources`.
    pub(crate) fn new(
        store: Store,
        sources: Vec<Arc<dyn ReputationSource>>,
        on_flag: OnFlag,
        limits: AlertPolicy,
    ) -> Poller {
        Poller { store, sources, on_flag, limits, backoff_max: Duration::from_secs(3600) }
    }

    /// One round of source `i`: every active or reserve number of the outbound and
    /// reserve pools checked; readings recorded; flags acted on; a round whose every
    /// check failed counts as a failure of the source (`failures` counts them in a row:
    /// an alert from the second, and a back-off doubling from its interval up to an
    /// hour).
    pub(crate) async fn round(&self, i: usize, failures: &mut u32, now: Timestamp) -> Result<Round, StoreError> {
        let source = Arc::clone(&self.sources[i]);
        let numbers = self.store.numbers().await?;
        let catalog = self.store.catalog().clone();
        let mut round = Round::default();
        for n in numbers {
            let watched = catalog.pool(&n.pool).is_some_and(|d| d.role != PoolRole::Inbound)
                && matches!(n.status, NumberStatus::Active | NumberStatus::Reserve);
            if !watched {
                continue;
            }
            round.checked += 1;
            let check = match source.check(&n.number).await {
                Ok(c) => c,
                Err(e) => {
                    round.errors.push(e.to_string());
                    continue;
                }
            };
            let reading = SourceReading {
                source: source.name().to_owned(),
                kind: source.kind().to_owned(),
                number: n.number.clone(),
                at: now,
                score: check.score,
                flagged: check.flagged,
                label: check.label.clone(),
                excerpt: check.excerpt.clone(),
            };
            self.store.record_source_reading(&reading).await?;
            if !check.flagged {
                continue;
            }
            round.flagged.push(n.number.to_string());
            let evidence = Finding::ExternalFlag {
                source: source.name().to_owned(),
                kind: source.kind().to_owned(),
                number: n.number.clone(),
                label: check.label.clone(),
                score: check.score,
            };
            match self.on_flag {
                OnFlag::Quarantine => {
                    let trigger = Trigger { signal: "external_flag".into(), first_evidence_at: now, evidence };
                    match self.store.quarantine(n.number.clone(), trigger, &format!("source:{}", source.name())).await {
                        Ok(()) => round.quarantined.push(n.number.to_string()),
                        Err(StoreError::Conflict { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                OnFlag::Alert => {
                    let alert = Alert {
                        signal: AlertSignal::ExternalFlag,
                        severity: Severity::Warning,
                        number: Some(n.number.clone()),
                        pool: Some(n.pool.clone()),
                        about: Some(format!("source:{}", source.name())),
                        evidence,
                        action: AlertAction::AlertOnly,
                        at: now,
                    };
                    self.store.raise_alert(&alert, &self.limits).await?;
                }
            }
        }
        let failed = round.checked > 0 && round.errors.len() == round.checked as usize;
        if failed {
            *failures += 1;
            if *failures >= 2 {
                let alert = Alert {
                    signal: AlertSignal::SourceFailing,
                    severity: Severity::Warning,
                    number: None,
                    pool: None,
                    about: Some(format!("source:{}", source.name())),
                    evidence: Finding::SourceFailing {
                        source: source.name().to_owned(),
                        rounds: *failures,
                        error: round.errors.first().cloned().unwrap_or_default(),
                    },
                    action: AlertAction::Nothing,
                    at: now,
                };
                self.store.raise_alert(&alert, &self.limits).await?;
            }
            let factor = 2u32.saturating_pow((*failures).min(16));
            round.next_in = source.interval().saturating_mul(factor).min(self.backoff_max);
        } else {
            if *failures > 0 {
                tracing::info!(source = source.name(), "reputation source answering again");
            }
            *failures = 0;
            round.next_in = source.interval();
        }
        Ok(round)
    }

    /// Runs every source on its own schedule, each in a task of its own (a slow or
    /// failing source delays no other), until aborted.
    pub(crate) fn spawn(self) -> tokio::task::JoinHandle<()> {
        let poller = Arc::new(self);
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            for i in 0..poller.sources.len() {
                let poller = Arc::clone(&poller);
                tasks.push(tokio::spawn(async move {
                    let mut failures = 0;
                    loop {
                        let next = match poller.round(i, &mut failures, poller.store.now()).await {
                            Ok(r) => {
                                if let Some(first) = r.errors.first() {
                                    tracing::warn!(errors = r.errors.len(), first = %first, "reputation source errors");
                                }
                                r.next_in
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "reputation round failed");
                                Duration::from_secs(60)
                            }
                        };
                        tokio::time::sleep(next).await;
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_read_fields_and_indexes_and_name_their_errors() {
        let v: Value = serde_json::json!({"data": {"results": [{"score": 12}], "listed": true}});
        assert_eq!(JsonPath::parse("$.data.results[0].score").expect("a path").find(&v), Some(&serde_json::json!(12)));
        assert_eq!(JsonPath::parse("$.data.listed").expect("a path").find(&v), Some(&Value::Bool(true)));
        assert_eq!(JsonPath::parse("$.data.missing").expect("a path").find(&v), None);
        assert_eq!(JsonPath::parse("$").expect("the root").find(&v), Some(&v));
        assert!(JsonPath::parse("data.score").is_err());
        assert!(JsonPath::parse("$..score").is_err());
        assert!(JsonPath::parse("$.a[x]").is_err());
    }

    #[test]
    fn scores_are_normalised_and_flags_read() {
        let source = HttpJsonSource::new(HttpSourceConfig {
            name: "tool".into(),
            kind: "verification_tool".into(),
            url: "http://127.0.0.1/{number}".into(),
            auth: None,
            // A risk score: 0 safe, 10 spam.
            score: Some((JsonPath::parse("$.risk").expect("a path"), 0.0, 10.0, false)),
            flagged: Some((JsonPath::parse("$.verdict").expect("a path"), vec![Value::from("spam"), Value::from(1)])),
            flag_below_score: None,
            label: Some(JsonPath::parse("$.verdict").expect("a path")),
            not_found_is_clean: false,
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(1),
        })
        .expect("a source");
        let check = source.read(&serde_json::json!({"risk": 8, "verdict": "SPAM"})).expect("read");
        assert_eq!(
            (check.score.map(f64::round), check.flagged, check.label.as_deref()),
            (Some(20.0), true, Some("SPAM"))
        );
        let clean = source.read(&serde_json::json!({"risk": 1, "verdict": "ok"})).expect("read");
        assert!(!clean.flagged);
        let missing = source.read(&serde_json::json!({"verdict": "ok"})).expect_err("no score");
        assert_eq!(missing.to_string(), "source tool: $.risk: missing");
        assert_eq!(
            url_for("http://x/{number}/{national}", &E164::parse("+33478100001").expect("a number")),
            "http://x/%2B33478100001/0478100001"
        );
    }
}
