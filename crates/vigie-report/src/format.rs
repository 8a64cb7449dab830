//! Text for people: escaping, numbers in French or English, the figures' labels and
//! units.

use vigie_core::Language;

use crate::figures::Figure;

/// What is shown for a figure that cannot be computed (no calls, no incident).
pub(crate) const MISSING: &str = "—";

/// Escapes text for HTML and XML, in element content and in quoted attributes alike.
/// Characters XML 1.0 forbids (most C0 controls) become U+FFFD, so that an SVG with a
/// stray control character in a pool name still parses.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The thousands separator: a narrow no-break space in French, a comma in English.
fn group_separator(language: Language) -> &'static str {
    match language {
        Language::Fr => "\u{202F}",
        Language::En => ",",
    }
}

/// `value` with `decimals` decimals, grouped by thousands, the minus sign U+2212.
pub(crate) fn number(value: f64, decimals: usize, language: Language) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    for (i, digit) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push_str(group_separator(language));
        }
        grouped.push(digit);
    }
    if !frac.is_empty() {
        grouped.push(match language {
            Language::Fr => ',',
            Language::En => '.',
        });
        grouped.push_str(frac);
    }
    let is_zero = text.bytes().all(|b| b == b'0' || b == b'.');
    if value < 0.0 && !is_zero { format!("\u{2212}{grouped}") } else { grouped }
}

/// Like [`number`], without trailing zero decimals (`5`, not `5,0`).
fn number_trimmed(value: f64, decimals: usize, language: Language) -> String {
    let text = number(value, decimals, language);
    if decimals == 0 {
        return text;
    }
    let text = text.trim_end_matches('0');
    text.trim_end_matches([',', '.']).to_owned()
}

/// A fraction as a percentage: `63,0 %` in French, `63.0%` in English.
pub(crate) fn percent(fraction: f64, decimals: usize, language: Language) -> String {
    let value = number(fraction * 100.0, decimals, language);
    match language {
        Language::Fr => format!("{value}\u{202F}%"),
        Language::En => format!("{value}%"),
    }
}

/// Euros: `12 000 €` in French, `€12,000` in English.
fn euros(value: f64, language: Language) -> String {
    let amount = number(value.abs(), 0, language);
    let minus = if value < 0.0 && amount != "0" { "\u{2212}" } else { "" };
    match language {
        Language::Fr => format!("{minus}{amount}\u{A0}€"),
        Language::En => format!("{minus}€{amount}"),
    }
}

/// A duration in minutes, in the unit that reads best: minutes under two hours, hours
/// under two days, days beyond.
pub(crate) fn duration(minutes: f64, language: Language) -> String {
    let magnitude = minutes.abs();
    let (value, unit) = if magnitude < 120.0 {
        (minutes, "min")
    } else if magnitude < 48.0 * 60.0 {
        (minutes / 60.0, "h")
    } else {
        (
            minutes / (24.0 * 60.0),
            match language {
                Language::Fr => "j",
                Language::En => "d",
            },
        )
    };
    let decimals = if unit == "min" && magnitude >= 10.0 { 0 } else { 1 };
    format!("{}\u{A0}{unit}", number_trimmed(value, decimals, language))
}

/// The figure's label in a table (the dashboard shows it too).
pub fn label(figure: Figure, language: Language) -> &'static str {
    match (figure, language) {
        (Figure::SpamReportRate, Language::Fr) => "Taux de signalement spam",
        (Figure::SpamReportRate, Language::En) => "Spam report rate",
        (Figure::AnswerRate, Language::Fr) => "Taux de décroché",
        (Figure::AnswerRate, Language::En) => "Answer rate",
        (Figure::BlacklistedPerMonth, Language::Fr) => "Numéros blacklistés par mois",
        (Figure::BlacklistedPerMonth, Language::En) => "Blacklisted numbers per month",
        (Figure::DetectionTime, Language::Fr) => "Délai de détection des incidents (médiane)",
        (Figure::DetectionTime, Language::En) => "Incident detection time (median)",
        (Figure::ReplacementCostPerYear, Language::Fr) => "Coût de remplacement des numéros par an",
        (Figure::ReplacementCostPerYear, Language::En) => "Number replacement cost per year",
        (Figure::Calls, Language::Fr) => "Appels passés",
        (Figure::Calls, Language::En) => "Calls made",
        (Figure::SpamReports, Language::Fr) => "Signalements spam",
        (Figure::SpamReports, Language::En) => "Spam reports",
        (Figure::NumbersQuarantined, Language::Fr) => "Numéros mis en quarantaine",
        (Figure::NumbersQuarantined, Language::En) => "Numbers quarantined",
        (Figure::NumbersActive, Language::Fr) => "Numéros actifs",
        (Figure::NumbersActive, Language::En) => "Active numbers",
        (Figure::NumbersRetired, Language::Fr) => "Numéros retirés",
        (Figure::NumbersRetired, Language::En) => "Numbers retired",
        (Figure::Incidents, Language::Fr) => "Incidents détectés",
        (Figure::Incidents, Language::En) => "Incidents detected",
        (Figure::SmsSent, Language::Fr) => "SMS de prévenance envoyés",
        (Figure::SmsSent, Language::En) => "Pre-call SMS sent",
        (Figure::SmsDeliveryRate, Language::Fr) => "Taux de remise des SMS",
        (Figure::SmsDeliveryRate, Language::En) => "SMS delivery rate",
    }
}

/// The figure's value as shown (the dashboard shows it too).
pub fn value(figure: Figure, value: Option<f64>, language: Language) -> String {
    let Some(value) = value.filter(|v| v.is_finite()) else {
        return MISSING.to_owned();
    };
    match figure {
        Figure::SpamReportRate => percent(value, 2, language),
        Figure::AnswerRate | Figure::SmsDeliveryRate => percent(value, 1, language),
        Figure::BlacklistedPerMonth => number(value, 1, language),
        Figure::DetectionTime => duration(value, language),
        Figure::ReplacementCostPerYear => euros(value, language),
        Figure::Calls
        | Figure::SpamReports
        | Figure::NumbersQuarantined
        | Figure::NumbersActive
        | Figure::NumbersRetired
        | Figure::Incidents
        | Figure::SmsSent => number(value, 0, language),
    }
}

/// How far a change must be from zero to show: half the last shown decimal.
pub(crate) fn delta_threshold(figure: Figure) -> f64 {
    match figure {
        Figure::SpamReportRate => 0.5e-4,
        Figure::AnswerRate | Figure::SmsDeliveryRate => 0.5e-3,
        Figure::BlacklistedPerMonth => 0.05,
        Figure::DetectionTime | Figure::ReplacementCostPerYear => 0.5,
        _ => 0.5,
    }
}

/// A change, signed: percentage points for rates, the figure's unit otherwise.
pub(crate) fn delta(figure: Figure, delta: f64, language: Language) -> String {
    let sign = if delta > 0.0 { "+" } else { "\u{2212}" };
    let magnitude = delta.abs();
    let text = match figure {
        Figure::SpamReportRate => format!("{}\u{A0}pt", number(magnitude * 100.0, 2, language)),
        Figure::AnswerRate | Figure::SmsDeliveryRate => {
            format!("{}\u{A0}pt", number(magnitude * 100.0, 1, language))
        }
        _ => value(figure, Some(magnitude), language),
    };
    format!("{sign}{text}")
}
