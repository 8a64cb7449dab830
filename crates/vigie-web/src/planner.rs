//! `GET /planner`: the capacity plan of `vigie plan` as a form (vigie-core's
//! `capacity_plan`), with its per-pool table and its arithmetic.

use axum::extract::{Query, State};
use axum::response::Html;
use maud::html;
use serde::Deserialize;
use vigie_core::{PlanInput, capacity_plan, parse_mix};

use crate::Dashboard;
use crate::access::Permission;
use crate::error::WebError;
use crate::layout;
use crate::session::Viewer;

/// The form's fields, as text so that a bad value is named rather than refused whole.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PlanQuery {
    calls_per_day: Option<String>,
    mix: Option<String>,
    cap: Option<String>,
    intensive: Option<String>,
    margin: Option<String>,
}

fn number(field: &'static str, text: Option<&str>, default: u32) -> Result<u32, (&'static str, String)> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(default),
        Some(t) => t.trim_end_matches('%').trim().parse().map_err(|_| (field, "must be a whole number".to_owned())),
    }
}

/// The plan input from the form, starting from the seed centre's practices.
fn input(q: &PlanQuery) -> Result<PlanInput, (&'static str, String)> {
    let mut input = PlanInput::seed(number("calls_per_day", q.calls_per_day.as_deref(), 5_000)?);
    if let Some(mix) = q.mix.as_deref().filter(|m| !m.trim().is_empty()) {
        input.mix = parse_mix(mix).map_err(|e| (e.field, e.rule))?;
    }
    input.calls_per_day_max = number("cap", q.cap.as_deref(), input.calls_per_day_max)?;
    input.intensive_calls_min = number("intensive", q.intensive.as_deref(), input.intensive_calls_min)?;
    input.reserve_margin_percent = number("margin", q.margin.as_deref(), input.reserve_margin_percent)?;
    Ok(input)
}

/// `GET /planner`.
pub(crate) async fn page(
    State(_d): State<Dashboard>,
    v: Viewer,
    Query(q): Query<PlanQuery>,
) -> Result<Html<String>, WebError> {
    v.require(Permission::PlanCapacity)?;
    let l = &v.lang;
    let plan = input(&q).and_then(|i| capacity_plan(&i).map(|p| (i, p)).map_err(|e| (e.field, e.rule)));
    let value = |o: &Option<String>, d: &str| o.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| d.to_owned());
    let body = html! {
        form.action method="get" action="/planner" {
            label { (l.t("Appels sortants par jour", "Outbound calls per day")) input name="calls_per_day" inputmode="numeric" value=(value(&q.calls_per_day, "5000")); }
            label { (l.t("Répartition par pool (%)", "Mix per pool (%)")) input name="mix" value=(value(&q.mix, "A=40,B=25,C=20,D=15")); }
            label { (l.t("Plafond d'appels par numéro et par jour", "Cap of calls per number per day")) input name="cap" inputmode="numeric" value=(value(&q.cap, "80")); }
            label { (l.t("Journée intensive à partir de", "Intensive day from")) input name="intensive" inputmode="numeric" value=(value(&q.intensive, "70")); }
            label { (l.t("Marge de réserve (%)", "Reserve margin (%)")) input name="margin" inputmode="numeric" value=(value(&q.margin, "10")); }
            button type="submit" { (l.t("Calculer", "Compute")) }
        }
        @match &plan {
            Err((field, rule)) => p.problem role="alert" { (field) " : " (rule) },
            Ok((_, plan)) => {
                table.data data-testid="plan" {
                    thead { tr {
                        th { "Pool" } th { "%" } th { (l.t("Appels/jour", "Calls/day")) }
                        th { (l.t("Numéros actifs", "Active numbers")) } th { (l.t("Réserve", "Reserve")) }
                    } }
                    tbody {
                        @for p in &plan.pools {
                            tr { td { (p.pool.as_str()) } td.num { (p.percent) } td.num { (p.calls_per_day) } td.num { (p.active_numbers) } td.num { (p.reserve_numbers) } }
                        }
                        tr.total { td { (l.t("Total", "Total")) } td {} td.num { (plan.calls_per_day) } td.num { (plan.active_numbers) } td.num { (plan.reserve_numbers) } }
                    }
                }
                details open {
                    summary { (l.t("Le calcul (en anglais, comme `vigie plan`)", "The arithmetic (as `vigie plan` prints it)")) }
                    pre { @for line in &plan.lines { (line) "\n" } }
                }
            }
        }
    };
    Ok(Html(layout::page(&v, l.t("Planification de capacité", "Capacity planner"), body).into_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(calls: &str, mix: &str) -> PlanQuery {
        PlanQuery { calls_per_day: Some(calls.into()), mix: Some(mix.into()), ..PlanQuery::default() }
    }

    #[test]
    fn the_form_starts_from_the_seed_and_names_a_bad_field() {
        let input = input(&PlanQuery::default()).expect("the defaults");
        assert_eq!((input.calls_per_day, input.calls_per_day_max, input.reserve_margin_percent), (5_000, 80, 10));
        let input = input_of("3000", "A=50,B=50%");
        assert_eq!(input.mix.len(), 2);
        assert_eq!(input.calls_per_day, 3_000);
        assert_eq!(super::input(&query("many", "")).err().map(|e| e.0), Some("calls_per_day"));
        assert_eq!(super::input(&query("100", "A:50")).err().map(|e| e.0), Some("mix"));
        let plan = capacity_plan(&input_of("1000", "A=60,B=40")).expect("a plan");
        assert_eq!(plan.pools.len(), 2);
        let wrong_sum = capacity_plan(&input_of("1000", "A=60,B=30")).expect_err("the percents sum to 90");
        assert_eq!(wrong_sum.field, "mix");
    }

    fn input_of(calls: &str, mix: &str) -> PlanInput {
        input(&query(calls, mix)).expect("a valid form")
    }
}
