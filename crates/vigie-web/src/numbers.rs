//! The numbers: a list to sort and filter (state, pool, facility, calls today, score,
//! calls over 14 days as a sparkline), a page per number with its timeline, and the
//! operators' changes (quarantine, release, retire, move), each with a reason, through
//! the same store operation as the API's `PATCH /v1/numbers/{e164}`.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use vigie_core::{E164, PoolCode};
use vigie_report::charts::{Chart, Series, YFormat, bar_chart, line_chart, sparkline};
use vigie_store::{NumberChange, NumberRecord};

use crate::Dashboard;
use crate::access::Permission;
use crate::error::WebError;
use crate::layout::{self, Lang, state_label, svg};
use crate::session::Viewer;

/// Days in the list's sparklines.
const SPARK_DAYS: u16 = 14;
/// Days in a number's timeline.
const TIMELINE_DAYS: u16 = 30;
/// The longest reason accepted.
const REASON_CHARS_MAX: usize = 500;

/// The list's filters and order, from the query string.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    state: Option<String>,
    pool: Option<String>,
    facility: Option<String>,
    sort: Option<String>,
}

/// The number's state as shown: `resting` while in a rest.
fn shown_state(n: &NumberRecord) -> &'static str {
    n.state()
}

fn parse_number(text: &str) -> Result<E164, WebError> {
    E164::parse(text).map_err(|_| WebError::NotFound("number"))
}

/// A select whose options are `values`, with `chosen` selected and an "all" choice.
fn filter_select(l: &Lang, name: &str, values: &[String], chosen: Option<&str>) -> Markup {
    html! {
        select name=(name) {
            option value="" { (l.t("tous", "all")) }
            @for value in values {
                option value=(value) selected[chosen == Some(value.as_str())] { (value) }
            }
        }
    }
}

/// `GET /numbers`.
pub(crate) async fn list(
    State(d): State<Dashboard>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, WebError> {
    v.require(Permission::ViewNumbers)?;
    let l = &v.lang;
    let all = d.store.numbers().await?;
    let figures = d.store.numbers_figures(SPARK_DAYS).await?;
    let some = |o: &Option<String>| o.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let (state, pool, facility) = (some(&q.state), some(&q.pool), some(&q.facility));
    let mut rows: Vec<&NumberRecord> = all
        .iter()
        .filter(|n| state.as_deref().is_none_or(|s| shown_state(n) == s))
        .filter(|n| pool.as_deref().is_none_or(|p| n.pool.as_str() == p))
        .filter(|n| facility.as_deref().is_none_or(|f| n.facility.as_ref().is_some_and(|x| x.as_str() == f)))
        .collect();
    let score = |n: &NumberRecord| figures.scores.get(&n.number).copied();
    match q.sort.as_deref() {
        Some("calls") => rows.sort_by_key(|n| std::cmp::Reverse(n.calls_today)),
        Some("score") => rows.sort_by_key(|n| score(n).unwrap_or(u32::MAX)),
        Some("state") => rows.sort_by_key(|n| shown_state(n)),
        Some("facility") => rows.sort_by_key(|n| n.facility.as_ref().map(|f| f.as_str().to_owned())),
        _ => {}
    }
    let mut pools: Vec<String> = all.iter().map(|n| n.pool.as_str().to_owned()).collect();
    pools.dedup();
    let mut facilities: Vec<String> =
        all.iter().filter_map(|n| n.facility.as_ref().map(|f| f.as_str().to_owned())).collect();
    facilities.sort();
    facilities.dedup();
    let states: Vec<String> =
        ["active", "resting", "quarantined", "reserve", "retired"].iter().map(|s| (*s).to_owned()).collect();
    let sort_link = |key: &str| {
        let mut s = format!("/numbers?sort={key}");
        for (k, val) in [("state", &state), ("pool", &pool), ("facility", &facility)] {
            if let Some(val) = val {
                s.push_str(&format!("&{k}={}", val.replace('+', "%2B")));
            }
        }
        s
    };
    let body = html! {
        form.filters method="get" action="/numbers" {
            label { (l.t("État", "State")) (filter_select(l, "state", &states, state.as_deref())) }
            label { (l.t("Pool", "Pool")) (filter_select(l, "pool", &pools, pool.as_deref())) }
            label { (l.t("Établissement", "Facility")) (filter_select(l, "facility", &facilities, facility.as_deref())) }
            @if let Some(s) = &q.sort { input type="hidden" name="sort" value=(s); }
            button type="submit" { (l.t("Filtrer", "Filter")) }
            " " (rows.len()) " " (l.t("numéros", "numbers"))
        }
        table.data.numbers {
            thead { tr {
                th { a href=(sort_link("number")) { (l.t("Numéro", "Number")) } }
                th { a href=(sort_link("state")) { (l.t("État", "State")) } }
                th { (l.t("Pool", "Pool")) }
                th { a href=(sort_link("facility")) { (l.t("Établissement", "Facility")) } }
                th { a href=(sort_link("calls")) { (l.t("Appels aujourd'hui", "Calls today")) } }
                th { a href=(sort_link("score")) { (l.t("Réputation", "Reputation")) } }
                th { (l.t("Appels, 14 jours", "Calls, 14 days")) }
            } }
            tbody {
                @for n in &rows {
                    @let calls = figures.calls.get(&n.number);
                    @let spark: Vec<Option<f64>> = (0..figures.days.len()).map(|i| Some(calls.map_or(0.0, |c| f64::from(c[i])))).collect();
                    tr {
                        td { a href={ "/numbers/" (n.number.as_str()) } { (n.number.as_str()) } }
                        td { span.state data-state-of=(n.number.as_str()) data-state=(shown_state(n)) { (state_label(l, shown_state(n))) } }
                        td { (n.pool.as_str()) }
                        td { @if let Some(f) = &n.facility { (f.as_str()) } @else { "—" } }
                        td.num { (n.calls_today) }
                        td.num { @if let Some(s) = score(n) { (s) } @else { "—" } }
                        td { (svg(sparkline(&spark, 100, 20))) }
                    }
                }
            }
        }
    };
    Ok(Html(layout::page(&v, l.t("Numéros", "Numbers"), body).into_string()))
}

/// `GET /numbers/{number}`: the number, its timeline and its state changes.
pub(crate) async fn page_of(d: &Dashboard, v: &Viewer, number: &E164) -> Result<Html<String>, WebError> {
    let l = &v.lang;
    let (n, events) = d.store.number(number).await?.ok_or(WebError::NotFound("number"))?;
    let days = d.store.number_days(number, TIMELINE_DAYS).await?;
    let labels: Vec<String> = days.iter().map(|x| x.date.strftime("%d/%m").to_string()).collect();
    let chart = |title: &str, name: &str, values: Vec<Option<f64>>, y: YFormat| Chart {
        title: title.to_owned(),
        x_labels: labels.clone(),
        series: vec![Series { name: name.to_owned(), values }],
        y_format: y,
        language: l.language,
        width: 560,
        height: 180,
    };
    let calls = chart(
        l.t("Appels par jour", "Calls per day"),
        l.t("appels", "calls"),
        days.iter().map(|x| Some(f64::from(x.calls))).collect(),
        YFormat::Number,
    );
    let answer = chart(
        l.t("Taux de décroché", "Answer rate"),
        l.t("décroché", "answered"),
        days.iter().map(|x| x.answer_rate()).collect(),
        YFormat::Percent,
    );
    let reports = chart(
        l.t("Signalements par jour", "Reports per day"),
        l.t("signalements", "reports"),
        days.iter().map(|x| Some(f64::from(x.reports))).collect(),
        YFormat::Number,
    );
    // The reputation score: the day's last reading, a gap on days without one.
    let first_day = days.first().map(|x| x.date).unwrap_or_else(|| d.store.calendar().day_of(d.store.now()));
    let scores = d.store.score_history(number, d.store.calendar().start_of(first_day)).await?;
    let mut daily_score: Vec<Option<f64>> = vec![None; days.len()];
    for point in &scores {
        let day = d.store.calendar().day_of(point.at);
        if let Some(i) = days.iter().position(|x| x.date == day) {
            daily_score[i] = Some(f64::from(point.score));
        }
    }
    let score =
        chart(l.t("Score de réputation (0–100)", "Reputation score (0–100)"), "score", daily_score, YFormat::Number);
    let state = shown_state(&n);
    let body = html! {
        p.lead {
            (l.t("État", "State")) " : "
            strong.state data-state-of=(n.number.as_str()) data-state=(state) data-testid="number-state" { (state_label(l, state)) }
            " · " (l.t("pool", "pool")) " " (n.pool.as_str())
            " · " (l.t("établissement", "facility")) " " @if let Some(f) = &n.facility { (f.as_str()) } @else { "—" }
            " · " (l.t("appels aujourd'hui", "calls today")) " " (n.calls_today)
            " · " (l.t("signalements aujourd'hui", "reports today")) " " (n.reports_today)
        }
        p.small data-since-of=(n.number.as_str()) data-since-word=(l.t("Depuis", "Since")) {
            (l.t("Depuis", "Since")) " " (l.when(n.status_since)) " : " (l.pick(&n.status_reason_fr, &n.status_reason))
        }
        div.charts {
            div.chart { (svg(bar_chart(&calls))) }
            div.chart { (svg(line_chart(&answer))) }
            div.chart { (svg(bar_chart(&reports))) }
            div.chart { (svg(line_chart(&score))) }
        }
        @if let Some(latest) = scores.last() {
            details {
                summary { (l.t("Dernier score", "Latest score")) " : " strong { (latest.score) } " (" (l.when(latest.at)) ")" }
                pre { (latest.reasons) }
            }
        }
        @if v.may(Permission::ChangeNumbers) {
            h2 { (l.t("Agir sur le numéro", "Act on the number")) }
            form.action method="post" action={ "/numbers/" (n.number.as_str()) "/change" } {
                input type="hidden" name="csrf" value=(v.csrf);
                label { (l.t("Action", "Action"))
                    select name="action" required {
                        option value="quarantine" { (l.t("Mettre en quarantaine", "Quarantine")) }
                        option value="release" { (l.t("Remettre en service", "Release")) }
                        option value="retire" { (l.t("Retirer", "Retire")) }
                        option value="move" { (l.t("Déplacer vers le pool…", "Move to pool…")) }
                    }
                }
                label { (l.t("Pool (pour déplacer)", "Pool (to move)"))
                    select name="pool" {
                        option value="" { "—" }
                        @for p in d.store.catalog().pools() { option value=(p.code.as_str()) { (p.code.as_str()) } }
                    }
                }
                label.wide { (l.t("Motif (obligatoire)", "Reason (required)"))
                    input name="reason" required maxlength=(REASON_CHARS_MAX);
                }
                button type="submit" { (l.t("Appliquer", "Apply")) }
            }
        }
        h2 { (l.t("Changements d'état", "State changes")) }
        table.data {
            thead { tr { th { (l.t("Quand", "When")) } th { (l.t("État", "State")) } th { "Pool" } th { (l.t("Motif", "Reason")) } th { (l.t("Par", "By")) } } }
            tbody #live-events data-number=(n.number.as_str()) {
                @for e in &events {
                    tr {
                        td { (l.when(e.at)) @if let Some(u) = e.until { " → " (l.when(u)) } }
                        td { (state_label(l, &e.state)) } td { (e.pool.as_str()) } td { (l.pick(&e.reason_fr, &e.reason)) } td { (e.actor) }
                    }
                }
            }
        }
    };
    Ok(Html(layout::page(v, n.number.as_str(), body).into_string()))
}

/// `GET /numbers/{number}`.
pub(crate) async fn page(
    State(d): State<Dashboard>,
    v: Viewer,
    Path(number): Path<String>,
) -> Result<Html<String>, WebError> {
    v.require(Permission::ViewNumbers)?;
    page_of(&d, &v, &parse_number(&number)?).await
}

#[derive(Deserialize)]
pub(crate) struct ChangeForm {
    csrf: String,
    action: String,
    pool: Option<String>,
    reason: String,
}

/// The change a form asks for, checked as the API checks it.
fn change_of(form: &ChangeForm) -> Result<(NumberChange, String), WebError> {
    let reason = form.reason.trim();
    if reason.is_empty() || reason.chars().count() > REASON_CHARS_MAX {
        return Err(WebError::Invalid("reason", format!("must be 1 to {REASON_CHARS_MAX} characters")));
    }
    let change = match form.action.as_str() {
        "quarantine" => NumberChange::Quarantine,
        "release" => NumberChange::Release,
        "retire" => NumberChange::Retire,
        "move" => {
            let pool = form.pool.as_deref().filter(|p| !p.is_empty());
            let pool = pool.ok_or_else(|| WebError::Invalid("pool", "is required to move a number".into()))?;
            NumberChange::Move(PoolCode::parse(pool).map_err(|e| WebError::Invalid("pool", e.rule))?)
        }
        _ => return Err(WebError::Invalid("action", "must be one of: quarantine, release, retire, move".into())),
    };
    Ok((change, reason.to_owned()))
}

/// `POST /numbers/{number}/change`.
pub(crate) async fn change(
    State(d): State<Dashboard>,
    v: Viewer,
    Path(number): Path<String>,
    Form(form): Form<ChangeForm>,
) -> Result<Response, WebError> {
    v.require(Permission::ChangeNumbers)?;
    v.check_csrf(&form.csrf)?;
    let number = parse_number(&number)?;
    let (change, reason) = change_of(&form)?;
    d.store.change_number(number.clone(), change, reason, v.actor()).await?;
    Ok(Redirect::to(&format!("/numbers/{}", number.as_str())).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(action: &str, pool: Option<&str>, reason: &str) -> ChangeForm {
        ChangeForm { csrf: String::new(), action: action.into(), pool: pool.map(str::to_owned), reason: reason.into() }
    }

    fn refused_field(f: ChangeForm) -> Option<&'static str> {
        match change_of(&f) {
            Err(WebError::Invalid(field, _)) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn a_change_needs_a_reason_and_a_move_its_pool() {
        assert!(
            matches!(change_of(&form("quarantine", None, " seen ")), Ok((NumberChange::Quarantine, r)) if r == "seen")
        );
        assert!(
            matches!(change_of(&form("move", Some("B"), "x")), Ok((NumberChange::Move(p), _)) if p.as_str() == "B")
        );
        assert_eq!(refused_field(form("release", None, "  ")), Some("reason"));
        assert_eq!(refused_field(form("retire", None, &"x".repeat(REASON_CHARS_MAX + 1))), Some("reason"));
        assert_eq!(refused_field(form("move", Some(""), "x")), Some("pool"));
        assert_eq!(refused_field(form("identity", None, "x")), Some("action"));
    }
}
