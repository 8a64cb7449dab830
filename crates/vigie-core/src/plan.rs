//! Capacity planning: how many active and reserve numbers a daily call volume needs,
//! pool by pool, with the arithmetic written out in words.
//!
//! The plan keeps every number at a healthy volume below the intensive threshold, so
//! that no number ever has an intensive day and none ever has to rest. It also works
//! out the naive plan (every number at the cap) and what its rests cost, and how the
//! total moves with the intensive threshold.

use crate::catalog::{InvalidField, PoolCode};

/// The healthy volume used when none is given, unless the intensive threshold is lower.
const DEFAULT_HEALTHY_CALLS_PER_DAY: u32 = 65;

/// Most intensive thresholds a sensitivity table compares.
const SENSITIVITY_ROWS_MAX: usize = 32;

/// One pool's share of the day's calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolShare {
    /// The pool.
    pub pool: PoolCode,
    /// Its share of the calls, in percent.
    pub percent: u32,
}

/// Parses a mix written `A=40,B=25,C=20,D=15` (a `%` after a percent is allowed), as
/// `vigie plan --mix` and the dashboard's planner take it; the percents' sum is checked
/// by [`capacity_plan`].
pub fn parse_mix(text: &str) -> Result<Vec<PoolShare>, InvalidField> {
    text.split(',')
        .map(|part| {
            let bad = || InvalidField::new("mix", format!("'{}' must be POOL=PERCENT", part.trim()));
            let (pool, percent) = part.split_once('=').ok_or_else(bad)?;
            Ok(PoolShare {
                pool: PoolCode::parse(pool.trim()).map_err(|_| bad())?,
                percent: percent.trim().trim_end_matches('%').trim().parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

/// What a capacity plan is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInput {
    /// Outbound calls a day, all pools together.
    pub calls_per_day: u32,
    /// How the calls split between pools; the percents sum to 100.
    pub mix: Vec<PoolShare>,
    /// Most calls one number makes in a day (seed: 80).
    pub calls_per_day_max: u32,
    /// A day with at least this many calls is intensive (default 70).
    pub intensive_calls_min: u32,
    /// The volume planned per number; `None` for min(65, `intensive_calls_min` − 1).
    pub healthy_calls_per_day: Option<u32>,
    /// Consecutive intensive days after which a number rests (seed: 3).
    pub intensive_days_before_rest: u32,
    /// Length of that rest (seed: 48).
    pub rest_hours: u32,
    /// Margin over the demand that the reserve covers (default 10).
    pub reserve_margin_percent: u32,
    /// Intensive thresholds the sensitivity table compares (default 50, 60, 70, 80).
    pub sensitivity_thresholds: Vec<u32>,
}

impl PlanInput {
    /// The seed centre's practices for `calls_per_day` calls: pools A 40 %, B 25 %,
    /// C 20 % and D 15 %, a cap of 80, intensive from 70, a 48-hour rest after three
    /// intensive days, a 10 % margin.
    pub fn seed(calls_per_day: u32) -> PlanInput {
        let share = |code: &str, percent: u32| match PoolCode::parse(code) {
            Ok(pool) => PoolShare { pool, percent },
            Err(e) => unreachable!("the seed's pool codes are valid: {e}"),
        };
        PlanInput {
            calls_per_day,
            mix: vec![share("A", 40), share("B", 25), share("C", 20), share("D", 15)],
            calls_per_day_max: 80,
            intensive_calls_min: 70,
            healthy_calls_per_day: None,
            intensive_days_before_rest: 3,
            rest_hours: 48,
            reserve_margin_percent: 10,
            sensitivity_thresholds: vec![50, 60, 70, 80],
        }
    }
}

/// What one pool needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolPlan {
    /// The pool.
    pub pool: PoolCode,
    /// Its share of the calls, in percent.
    pub percent: u32,
    /// Its calls a day (its share of the total, rounded so that the pools add up).
    pub calls_per_day: u32,
    /// Numbers in service: ceil(calls / healthy volume).
    pub active_numbers: u32,
    /// Numbers to hold in reserve for it: ceil(calls × (1 + margin) / healthy volume)
    /// less the active numbers.
    pub reserve_numbers: u32,
}

/// The naive plan that runs every number at the cap, and what its rests cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NaivePlan {
    /// ceil(calls / cap): numbers enough if none ever rested.
    pub numbers_at_cap: u32,
    /// Hours of each rest cycle a number works: intensive days before rest × 24.
    pub working_hours: u32,
    /// Hours of a full cycle: working hours plus the rest.
    pub cycle_hours: u32,
    /// Numbers needed so that `numbers_at_cap` are at work every day:
    /// ceil(numbers_at_cap × cycle hours / working hours).
    pub numbers_with_rests: u32,
}

/// How the plan's totals move with the intensive threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensitivityRow {
    /// The intensive threshold of this row.
    pub intensive_calls_min: u32,
    /// The healthy volume it allows: min(the plan's healthy volume, threshold − 1).
    pub healthy_calls_per_day: u32,
    /// Active numbers over all pools.
    pub active_numbers: u32,
    /// Reserve numbers over all pools.
    pub reserve_numbers: u32,
}

/// How many numbers a daily call volume needs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityPlan {
    /// Outbound calls a day, all pools together.
    pub calls_per_day: u32,
    /// The volume planned per number.
    pub healthy_calls_per_day: u32,
    /// Each pool's needs, in the order of the mix.
    pub pools: Vec<PoolPlan>,
    /// Active numbers over all pools.
    pub active_numbers: u32,
    /// Reserve numbers over all pools.
    pub reserve_numbers: u32,
    /// The naive plan, for contrast.
    pub naive: NaivePlan,
    /// The totals for each valid threshold of the input's sensitivity table.
    pub sensitivity: Vec<SensitivityRow>,
    /// The arithmetic, one sentence or table row a line, in English.
    pub lines: Vec<String>,
}

/// Works out how many numbers `input` needs, and explains the arithmetic.
pub fn capacity_plan(input: &PlanInput) -> Result<CapacityPlan, InvalidField> {
    validate(input)?;
    let healthy = match input.healthy_calls_per_day {
        Some(h) => h,
        None => DEFAULT_HEALTHY_CALLS_PER_DAY.min(input.intensive_calls_min - 1),
    };
    let margin = input.reserve_margin_percent;
    let cap = input.calls_per_day_max;
    let calls = input.calls_per_day;
    let demands = split(calls, &input.mix);

    let pools: Vec<PoolPlan> = input
        .mix
        .iter()
        .zip(&demands)
        .map(|(share, &demand)| {
            let (active_numbers, reserve_numbers) = numbers_for(demand, healthy, margin);
            PoolPlan {
                pool: share.pool.clone(),
                percent: share.percent,
                calls_per_day: demand,
                active_numbers,
                reserve_numbers,
            }
        })
        .collect();
    let active_numbers: u32 = pools.iter().map(|p| p.active_numbers).sum();
    let reserve_numbers: u32 = pools.iter().map(|p| p.reserve_numbers).sum();

    let working_hours = input.intensive_days_before_rest * 24;
    let cycle_hours = working_hours + input.rest_hours;
    let numbers_at_cap = calls.div_ceil(cap);
    let numbers_with_rests =
        to_u32((u64::from(numbers_at_cap) * u64::from(cycle_hours)).div_ceil(u64::from(working_hours)));
    let naive = NaivePlan { numbers_at_cap, working_hours, cycle_hours, numbers_with_rests };

    let base_healthy = input.healthy_calls_per_day.unwrap_or(DEFAULT_HEALTHY_CALLS_PER_DAY);
    let mut skipped = Vec::new();
    let mut sensitivity = Vec::new();
    for &threshold in &input.sensitivity_thresholds {
        if threshold < 2 || threshold > cap {
            skipped.push(threshold);
            continue;
        }
        let row_healthy = base_healthy.min(threshold - 1);
        let (mut active, mut reserve) = (0, 0);
        for &demand in &demands {
            let (a, r) = numbers_for(demand, row_healthy, margin);
            active += a;
            reserve += r;
        }
        sensitivity.push(SensitivityRow {
            intensive_calls_min: threshold,
            healthy_calls_per_day: row_healthy,
            active_numbers: active,
            reserve_numbers: reserve,
        });
    }

    let mut plan = CapacityPlan {
        calls_per_day: calls,
        healthy_calls_per_day: healthy,
        pools,
        active_numbers,
        reserve_numbers,
        naive,
        sensitivity,
        lines: Vec::new(),
    };
    plan.lines = explain(input, &plan, base_healthy, &skipped);
    Ok(plan)
}

fn validate(input: &PlanInput) -> Result<(), InvalidField> {
    if input.calls_per_day == 0 || input.calls_per_day > 10_000_000 {
        return Err(InvalidField::new("calls_per_day", "must be between 1 and 10000000"));
    }
    if input.mix.is_empty() {
        return Err(InvalidField::new("mix", "must list at least one pool"));
    }
    for (i, share) in input.mix.iter().enumerate() {
        if input.mix[..i].iter().any(|s| s.pool == share.pool) {
            return Err(InvalidField::new("mix", format!("pool {} appears more than once", share.pool)));
        }
    }
    let sum: u64 = input.mix.iter().map(|s| u64::from(s.percent)).sum();
    if sum != 100 {
        return Err(InvalidField::new("mix", format!("percents must sum to 100, not {sum}")));
    }
    let cap = input.calls_per_day_max;
    if cap == 0 || cap > 10_000 {
        return Err(InvalidField::new("calls_per_day_max", "must be between 1 and 10000"));
    }
    if input.intensive_calls_min < 2 || input.intensive_calls_min > cap {
        return Err(InvalidField::new(
            "intensive_calls_min",
            format!("must be between 2 and calls_per_day_max ({cap})"),
        ));
    }
    if let Some(h) = input.healthy_calls_per_day
        && (h == 0 || h >= input.intensive_calls_min)
    {
        return Err(InvalidField::new(
            "healthy_calls_per_day",
            format!("must be at least 1 and below intensive_calls_min ({})", input.intensive_calls_min),
        ));
    }
    if input.intensive_days_before_rest == 0 || input.intensive_days_before_rest > 14 {
        return Err(InvalidField::new("intensive_days_before_rest", "must be between 1 and 14"));
    }
    if input.rest_hours > 24 * 14 {
        return Err(InvalidField::new("rest_hours", "must be at most 336"));
    }
    if input.reserve_margin_percent > 500 {
        return Err(InvalidField::new("reserve_margin_percent", "must be at most 500"));
    }
    if input.sensitivity_thresholds.len() > SENSITIVITY_ROWS_MAX {
        return Err(InvalidField::new(
            "sensitivity_thresholds",
            format!("must list at most {SENSITIVITY_ROWS_MAX} thresholds"),
        ));
    }
    Ok(())
}

/// Splits `calls` by the mix's percents, rounding by largest remainder so that the
/// pools' calls add up to `calls` exactly (ties go to the pool listed first).
fn split(calls: u32, mix: &[PoolShare]) -> Vec<u32> {
    let exact: Vec<u64> = mix.iter().map(|s| u64::from(calls) * u64::from(s.percent)).collect();
    let mut demands: Vec<u64> = exact.iter().map(|e| e / 100).collect();
    let given: u64 = demands.iter().sum();
    let mut order: Vec<usize> = (0..mix.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(exact[i] % 100));
    let left = usize::try_from(u64::from(calls) - given).unwrap_or(0);
    for &i in order.iter().take(left) {
        demands[i] += 1;
    }
    demands.into_iter().map(to_u32).collect()
}

/// Active and reserve numbers for `demand` calls a day at `healthy` calls a number:
/// ceil(demand / healthy), then ceil(ceil(demand × (100 + margin) / 100) / healthy)
/// less those, the way the engine's shortfall converts calls into numbers.
fn numbers_for(demand: u32, healthy: u32, margin: u32) -> (u32, u32) {
    let active = demand.div_ceil(healthy);
    let wanted = with_margin(demand, margin);
    let all = to_u32(wanted.div_ceil(u64::from(healthy)));
    (active, all.saturating_sub(active))
}

/// ceil(demand × (100 + margin) / 100).
fn with_margin(demand: u32, margin: u32) -> u64 {
    (u64::from(demand) * (100 + u64::from(margin))).div_ceil(100)
}

fn to_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `n` with thousands separated by commas: 10,000.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `num / den` rounded half up to `decimals` places, as text.
fn decimal(num: u64, den: u64, decimals: u32) -> String {
    let scale = 10u64.pow(decimals);
    let scaled = (num * scale * 2 + den) / (den * 2);
    if decimals == 0 {
        return grouped(scaled);
    }
    format!("{}.{:0width$}", grouped(scaled / scale), scaled % scale, width = decimals as usize)
}

/// Hours as days when they are whole days ("48 h (2 days)"), else as hours.
fn hours_text(hours: u32) -> String {
    match hours {
        24 => "24 h (1 day)".to_owned(),
        h if h.is_multiple_of(24) => format!("{h} h ({} days)", h / 24),
        h => format!("{h} h"),
    }
}

fn explain(input: &PlanInput, plan: &CapacityPlan, base_healthy: u32, skipped: &[u32]) -> Vec<String> {
    let calls = u64::from(plan.calls_per_day);
    let healthy = plan.healthy_calls_per_day;
    let cap = input.calls_per_day_max;
    let intensive = input.intensive_calls_min;
    let margin = input.reserve_margin_percent;
    let days = input.intensive_days_before_rest;
    let mut lines = Vec::new();

    lines.push(format!("Plan for {} outbound calls a day.", grouped(calls)));
    let split: Vec<String> = plan
        .pools
        .iter()
        .map(|p| format!("{} {}% = {}", p.pool, p.percent, grouped(u64::from(p.calls_per_day))))
        .collect();
    lines.push(format!("Demand by pool (the mix): {} calls a day.", split.join(", ")));
    let why = match input.healthy_calls_per_day {
        Some(_) => format!("as given, below the intensive threshold of {intensive}"),
        None if healthy < DEFAULT_HEALTHY_CALLS_PER_DAY => format!(
            "the intensive threshold of {intensive} less one, as the default {DEFAULT_HEALTHY_CALLS_PER_DAY} would reach it"
        ),
        None => format!("the default, kept below the intensive threshold of {intensive}"),
    };
    lines.push(format!(
        "Healthy volume: {healthy} calls per number per day ({why}). A number that never \
         reaches {intensive} calls never has an intensive day, so it never has to rest and \
         every active number works every day."
    ));

    lines.push(format!("Active numbers per pool = ceil(calls / {healthy}):"));
    for p in &plan.pools {
        lines.push(format!(
            "  {}: {} / {healthy} = {} -> {}",
            p.pool,
            grouped(u64::from(p.calls_per_day)),
            decimal(u64::from(p.calls_per_day), u64::from(healthy), 2),
            p.active_numbers
        ));
    }
    lines.push(format!(
        "  Total: {} active numbers (ceil(calls / {healthy}) on the whole volume would give \
         {}; each pool rounds up on its own).",
        plan.active_numbers,
        calls.div_ceil(u64::from(healthy))
    ));

    lines.push(format!("Reserve per pool = ceil(calls x {}% / {healthy}) - active numbers:", 100 + margin));
    for p in &plan.pools {
        let wanted = with_margin(p.calls_per_day, margin);
        lines.push(format!(
            "  {}: {} / {healthy} = {} -> {} - {} = {}",
            p.pool,
            grouped(wanted),
            decimal(wanted, u64::from(healthy), 2),
            p.active_numbers + p.reserve_numbers,
            p.active_numbers,
            p.reserve_numbers
        ));
    }
    lines.push(format!(
        "  Total: {} reserve numbers, {} numbers in all.",
        plan.reserve_numbers,
        plan.active_numbers + plan.reserve_numbers
    ));

    let active = u64::from(plan.active_numbers);
    let below = active * u64::from(intensive - 1);
    let at_cap = active * u64::from(cap);
    lines.push(format!(
        "Headroom: the {active} active numbers can make {active} x {} = {} calls a day \
         ({} of the demand) before any day turns intensive, and {active} x {cap} = {} \
         ({}) at the cap.",
        intensive - 1,
        grouped(below),
        signed_percent(below, calls),
        grouped(at_cap),
        signed_percent(at_cap, calls),
    ));

    let naive = plan.naive;
    lines.push(format!(
        "Naive plan: {} / {cap} = {} -> {} numbers, each at the cap. But {cap} calls reach \
         the intensive threshold of {intensive}, so every day is intensive: after {days} \
         consecutive intensive days a number rests {}, so it works {} h in every {} h \
         ({}% of the time).",
        grouped(calls),
        decimal(calls, u64::from(cap), 2),
        naive.numbers_at_cap,
        hours_text(input.rest_hours),
        naive.working_hours,
        naive.cycle_hours,
        decimal(u64::from(naive.working_hours) * 100, u64::from(naive.cycle_hours), 0),
    ));
    let more = i64::from(naive.numbers_with_rests) - i64::from(plan.active_numbers);
    lines.push(format!(
        "  Keeping {} numbers at work every day takes {} x {} / {} = {} -> {} numbers: {} {} \
         than the plan's {}, each worn at its maximum.",
        naive.numbers_at_cap,
        naive.numbers_at_cap,
        naive.cycle_hours,
        naive.working_hours,
        decimal(u64::from(naive.numbers_at_cap) * u64::from(naive.cycle_hours), u64::from(naive.working_hours), 2),
        naive.numbers_with_rests,
        more.abs(),
        if more >= 0 { "more" } else { "fewer" },
        plan.active_numbers,
    ));

    if !plan.sensitivity.is_empty() {
        lines.push(format!("Sensitivity to the intensive threshold (healthy = min({base_healthy}, threshold - 1)):"));
        lines
            .push(format!("  {:>9}  {:>7}  {:>6}  {:>7}  {:>5}", "threshold", "healthy", "active", "reserve", "total"));
        for row in &plan.sensitivity {
            lines.push(format!(
                "  {:>9}  {:>7}  {:>6}  {:>7}  {:>5}",
                row.intensive_calls_min,
                row.healthy_calls_per_day,
                row.active_numbers,
                row.reserve_numbers,
                row.active_numbers + row.reserve_numbers
            ));
        }
    }
    for threshold in skipped {
        lines.push(format!("  Threshold {threshold} left out: it must be between 2 and the cap of {cap}."));
    }
    lines
}

/// `part` against `whole` as a signed percentage with one decimal: +7.6%.
fn signed_percent(part: u64, whole: u64) -> String {
    if part >= whole {
        format!("+{}%", decimal((part - whole) * 100, whole, 1))
    } else {
        format!("-{}%", decimal((whole - part) * 100, whole, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(input: &PlanInput) -> CapacityPlan {
        capacity_plan(input).expect("valid input")
    }

    fn pools(plan: &CapacityPlan) -> Vec<(String, u32, u32, u32)> {
        plan.pools.iter().map(|p| (p.pool.to_string(), p.calls_per_day, p.active_numbers, p.reserve_numbers)).collect()
    }

    fn code(text: &str) -> PoolCode {
        PoolCode::parse(text).expect("pool code")
    }

    #[test]
    fn mixes_are_parsed_with_or_without_percent_signs() {
        let mix = parse_mix("A=40, B = 25%,C=35").expect("a mix");
        let got: Vec<(&str, u32)> = mix.iter().map(|s| (s.pool.as_str(), s.percent)).collect();
        assert_eq!(got, [("A", 40), ("B", 25), ("C", 35)]);
        for bad in ["A40", "A=forty", "=40", "A=40,"] {
            assert_eq!(parse_mix(bad).map_err(|e| e.field), Err("mix"), "{bad}");
        }
    }

    #[test]
    fn ten_thousand_calls_need_about_150_active_numbers() {
        let plan = planned(&PlanInput::seed(10_000));
        assert_eq!(plan.healthy_calls_per_day, 65);
        assert_eq!(
            pools(&plan),
            vec![
                ("A".to_owned(), 4_000, 62, 6),
                ("B".to_owned(), 2_500, 39, 4),
                ("C".to_owned(), 2_000, 31, 3),
                ("D".to_owned(), 1_500, 24, 2),
            ]
        );
        assert_eq!(plan.active_numbers, 156);
        assert_eq!(plan.reserve_numbers, 15);
        assert_eq!(
            plan.naive,
            NaivePlan { numbers_at_cap: 125, working_hours: 72, cycle_hours: 120, numbers_with_rests: 209 }
        );
    }

    #[test]
    fn ten_thousand_calls_explained() {
        let plan = planned(&PlanInput::seed(10_000));
        let expected = [
            "Plan for 10,000 outbound calls a day.",
            "Demand by pool (the mix): A 40% = 4,000, B 25% = 2,500, C 20% = 2,000, D 15% = 1,500 calls a day.",
            "Healthy volume: 65 calls per number per day (the default, kept below the intensive threshold of 70). \
             A number that never reaches 70 calls never has an intensive day, so it never has to rest and every \
             active number works every day.",
            "Active numbers per pool = ceil(calls / 65):",
            "  A: 4,000 / 65 = 61.54 -> 62",
            "  B: 2,500 / 65 = 38.46 -> 39",
            "  C: 2,000 / 65 = 30.77 -> 31",
            "  D: 1,500 / 65 = 23.08 -> 24",
            "  Total: 156 active numbers (ceil(calls / 65) on the whole volume would give 154; each pool rounds \
             up on its own).",
            "Reserve per pool = ceil(calls x 110% / 65) - active numbers:",
            "  A: 4,400 / 65 = 67.69 -> 68 - 62 = 6",
            "  B: 2,750 / 65 = 42.31 -> 43 - 39 = 4",
            "  C: 2,200 / 65 = 33.85 -> 34 - 31 = 3",
            "  D: 1,650 / 65 = 25.38 -> 26 - 24 = 2",
            "  Total: 15 reserve numbers, 171 numbers in all.",
            "Headroom: the 156 active numbers can make 156 x 69 = 10,764 calls a day (+7.6% of the demand) \
             before any day turns intensive, and 156 x 80 = 12,480 (+24.8%) at the cap.",
            "Naive plan: 10,000 / 80 = 125.00 -> 125 numbers, each at the cap. But 80 calls reach the intensive \
             threshold of 70, so every day is intensive: after 3 consecutive intensive days a number rests 48 h \
             (2 days), so it works 72 h in every 120 h (60% of the time).",
            "  Keeping 125 numbers at work every day takes 125 x 120 / 72 = 208.33 -> 209 numbers: 53 more than \
             the plan's 156, each worn at its maximum.",
            "Sensitivity to the intensive threshold (healthy = min(65, threshold - 1)):",
            "  threshold  healthy  active  reserve  total",
            "         50       49     206       20    226",
            "         60       59     171       17    188",
            "         70       65     156       15    171",
            "         80       65     156       15    171",
        ];
        let got: Vec<&str> = plan.lines.iter().map(String::as_str).collect();
        assert_eq!(got, expected, "\n{}", plan.lines.join("\n"));
    }

    #[test]
    fn the_threshold_bounds_the_healthy_volume() {
        let input = PlanInput { intensive_calls_min: 60, ..PlanInput::seed(10_000) };
        let plan = planned(&input);
        assert_eq!(plan.healthy_calls_per_day, 59);
        assert_eq!(plan.active_numbers, 171);
        assert!(
            plan.lines[2]
                .starts_with("Healthy volume: 59 calls per number per day (the intensive threshold of 60 less one")
        );
        // An explicit healthy volume is kept as given.
        let input = PlanInput { healthy_calls_per_day: Some(50), ..PlanInput::seed(10_000) };
        let plan = planned(&input);
        assert_eq!(plan.healthy_calls_per_day, 50);
        assert_eq!(
            pools(&plan),
            vec![
                ("A".to_owned(), 4_000, 80, 8),
                ("B".to_owned(), 2_500, 50, 5),
                ("C".to_owned(), 2_000, 40, 4),
                ("D".to_owned(), 1_500, 30, 3),
            ]
        );
        // Rows use min(50, threshold - 1).
        let rows: Vec<(u32, u32)> =
            plan.sensitivity.iter().map(|r| (r.intensive_calls_min, r.healthy_calls_per_day)).collect();
        assert_eq!(rows, vec![(50, 49), (60, 50), (70, 50), (80, 50)]);
    }

    #[test]
    fn pools_add_up_to_the_calls_by_largest_remainder() {
        let plan = planned(&PlanInput::seed(333));
        // 133.2, 83.25, 66.6, 49.95: the two missing calls go to D (.95) then C (.6).
        let demand: Vec<u32> = plan.pools.iter().map(|p| p.calls_per_day).collect();
        assert_eq!(demand, vec![133, 83, 67, 50]);
        assert_eq!(demand.iter().sum::<u32>(), 333);
    }

    #[test]
    fn naive_rests_follow_the_policy() {
        let input = PlanInput { intensive_days_before_rest: 2, rest_hours: 36, ..PlanInput::seed(10_000) };
        let naive = planned(&input).naive;
        // 125 × (48 + 36) / 48 = 218.75.
        assert_eq!((naive.working_hours, naive.cycle_hours), (48, 84));
        assert_eq!(naive.numbers_with_rests, 219);
    }

    #[test]
    fn thresholds_above_the_cap_are_left_out_of_the_sensitivity_table() {
        let input = PlanInput { calls_per_day_max: 75, ..PlanInput::seed(10_000) };
        let plan = planned(&input);
        let thresholds: Vec<u32> = plan.sensitivity.iter().map(|r| r.intensive_calls_min).collect();
        assert_eq!(thresholds, vec![50, 60, 70]);
        assert_eq!(
            plan.lines.last().map(String::as_str),
            Some("  Threshold 80 left out: it must be between 2 and the cap of 75.")
        );
    }

    #[test]
    fn invalid_inputs_name_their_field() {
        let seed = PlanInput::seed(10_000);
        let field = |input: PlanInput| capacity_plan(&input).map(|_| ()).map_err(|e| e.to_string());
        let mut short = seed.clone();
        short.mix[3].percent = 10;
        assert_eq!(field(short), Err("mix: percents must sum to 100, not 95".into()));
        let mut twice = seed.clone();
        twice.mix[3].pool = code("A");
        assert_eq!(field(twice), Err("mix: pool A appears more than once".into()));
        assert_eq!(
            field(PlanInput { mix: Vec::new(), ..seed.clone() }),
            Err("mix: must list at least one pool".into())
        );
        assert_eq!(
            field(PlanInput { calls_per_day: 0, ..seed.clone() }),
            Err("calls_per_day: must be between 1 and 10000000".into())
        );
        assert_eq!(
            field(PlanInput { calls_per_day_max: 0, ..seed.clone() }),
            Err("calls_per_day_max: must be between 1 and 10000".into())
        );
        assert_eq!(
            field(PlanInput { intensive_calls_min: 81, ..seed.clone() }),
            Err("intensive_calls_min: must be between 2 and calls_per_day_max (80)".into())
        );
        assert_eq!(
            field(PlanInput { healthy_calls_per_day: Some(70), ..seed.clone() }),
            Err("healthy_calls_per_day: must be at least 1 and below intensive_calls_min (70)".into())
        );
        assert_eq!(
            field(PlanInput { healthy_calls_per_day: Some(0), ..seed.clone() }),
            Err("healthy_calls_per_day: must be at least 1 and below intensive_calls_min (70)".into())
        );
        assert_eq!(
            field(PlanInput { intensive_days_before_rest: 0, ..seed.clone() }),
            Err("intensive_days_before_rest: must be between 1 and 14".into())
        );
        assert_eq!(field(PlanInput { rest_hours: 337, ..seed.clone() }), Err("rest_hours: must be at most 336".into()));
        assert_eq!(
            field(PlanInput { reserve_margin_percent: 501, ..seed.clone() }),
            Err("reserve_margin_percent: must be at most 500".into())
        );
        assert_eq!(
            field(PlanInput { sensitivity_thresholds: vec![70; 33], ..seed }),
            Err("sensitivity_thresholds: must list at most 32 thresholds".into())
        );
    }

    #[test]
    fn the_plan_matches_the_engine_working_set() {
        // The engine opens ceil(expected demand / healthy) numbers a day; the plan's
        // active numbers are that same figure for each pool's demand.
        use crate::calendar::{Calendar, add_days};
        use crate::catalog::{Policy, PoolDef, PoolRole};
        use crate::engine::PoolState;

        let plan = planned(&PlanInput::seed(10_000));
        let cal = Calendar::paris();
        let today = cal.day_of("2026-06-08T08:00:00Z".parse().expect("timestamp"));
        for p in &plan.pools {
            let def = PoolDef {
                code: p.pool.clone(),
                role: PoolRole::Outbound,
                purposes: Vec::new(),
                policy: Policy::default(),
            };
            let mut pool = PoolState::new(def);
            for d in 1..=7 {
                pool.load_total(add_days(today, -d), p.calls_per_day);
            }
            assert_eq!(pool.working_set(today, today), p.active_numbers, "pool {}", p.pool);
        }
    }
}
