//! The page shell (head, navigation, language switch, sign-out), the language of the
//! texts (French first, English as a choice) and how instants and rates are written.

use jiff::tz::TimeZone;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use vigie_core::{Language, Timestamp};

use crate::access::Permission;
use crate::session::Viewer;

/// The language of a page, and the centre's time zone for its instants.
#[derive(Debug, Clone)]
pub(crate) struct Lang {
    pub(crate) language: Language,
    tz: TimeZone,
}

impl Lang {
    pub(crate) fn new(language: Language, tz: TimeZone) -> Lang {
        Lang { language, tz }
    }

    /// The text in the page's language: French, or English.
    /// Stored words kept in both languages (an alert's evidence, an incident's reason).
    pub(crate) fn pick<'a>(&self, fr: &'a str, en: &'a str) -> &'a str {
        match self.language {
            Language::Fr => fr,
            Language::En => en,
        }
    }

    pub(crate) fn t(&self, fr: &'static str, en: &'static str) -> &'static str {
        match self.language {
            Language::Fr => fr,
            Language::En => en,
        }
    }

    /// `fr` or `en`.
    pub(crate) fn code(&self) -> &'static str {
        self.t("fr", "en")
    }

    /// An instant in the centre's time zone: 10/06/2026 08:00 (French) or 2026-06-10 08:00.
    pub(crate) fn when(&self, at: Timestamp) -> String {
        let zoned = at.to_zoned_datetime(self.tz.clone());
        zoned.strftime(self.t("%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M")).to_string()
    }

    /// A fraction as a percentage, `—` when unknown: 63,2 % (French) or 63.2 %.
    pub(crate) fn percent(&self, value: Option<f64>, decimals: usize) -> String {
        match value.filter(|v| v.is_finite()) {
            None => "—".to_owned(),
            Some(v) => {
                let text = format!("{:.*} %", decimals, v * 100.0);
                if self.language == Language::Fr { text.replace('.', ",") } else { text }
            }
        }
    }
}

/// The HTML document around a body.
pub(crate) fn shell(lang: &Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Vigie" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body { (body) }
        }
    }
}

/// The navigation's entries: path, French, English, the permission that shows it.
const NAV: [(&str, &str, &str, Permission); 8] = [
    ("/", "Vue d'ensemble", "Overview", Permission::ViewOverview),
    ("/numbers", "Numéros", "Numbers", Permission::ViewNumbers),
    ("/alerts", "Alertes et incidents", "Alerts and incidents", Permission::ViewAlerts),
    ("/calls", "Appels", "Calls", Permission::ViewCalls),
    ("/planner", "Planification", "Capacity planner", Permission::PlanCapacity),
    ("/reports", "Rapports hebdomadaires", "Weekly reports", Permission::ViewReports),
    ("/audit", "Journal d'audit", "Audit trail", Permission::ViewAudit),
    ("/admin", "Utilisateurs et clés", "Users and keys", Permission::ManageUsers),
];

/// A signed-in page: the navigation the user's role allows, then the body.
pub(crate) fn page(v: &Viewer, title: &str, body: Markup) -> Markup {
    let l = &v.lang;
    let content = html! {
        header.top {
            a.brand href="/" { "Vigie" }
            nav {
                @for (path, fr, en, permission) in NAV {
                    @if v.may(permission) {
                        a href=(path) aria-current=[is_current(&v.path, path).then_some("page")] { (l.t(fr, en)) }
                    }
                }
            }
            div.who {
                span data-testid="who" { (v.user.name) " · " (v.user.role.as_str()) }
                " "
                // A number's page has a `+` in its path, which a query string reads as a space.
                @let back = v.path.replace('+', "%2B");
                a href={ "/lang/fr?back=" (back) } lang="fr" { "FR" } "/" a href={ "/lang/en?back=" (back) } lang="en" { "EN" }
                form.inline method="post" action="/logout" {
                    input type="hidden" name="csrf" value=(v.csrf);
                    button type="submit" { (l.t("Se déconnecter", "Sign out")) }
                }
            }
        }
        div #live-toasts aria-live="polite" {}
        main { h1 { (title) } (body) }
    };
    shell(l, title, content)
}

fn is_current(path: &str, entry: &str) -> bool {
    if entry == "/" { path == "/" } else { path.starts_with(entry) }
}

/// SVG produced by vigie-report's charts, which escape their own text.
pub(crate) fn svg(text: String) -> PreEscaped<String> {
    PreEscaped(text)
}

/// The state's label, in the page's language.
pub(crate) fn state_label(l: &Lang, state: &str) -> &'static str {
    match state {
        "active" => l.t("actif", "active"),
        "resting" => l.t("au repos", "resting"),
        "quarantined" => l.t("en quarantaine", "quarantined"),
        "reserve" => l.t("réserve", "reserve"),
        "retired" => l.t("retiré", "retired"),
        _ => l.t("inconnu", "unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_first_with_decimal_commas_and_paris_time() {
        let tz = TimeZone::get("Europe/Paris").expect("tz");
        let fr = Lang::new(Language::Fr, tz.clone());
        let en = Lang::new(Language::En, tz);
        assert_eq!(fr.percent(Some(0.6321), 1), "63,2 %");
        assert_eq!(en.percent(Some(0.6321), 1), "63.2 %");
        assert_eq!(fr.percent(None, 1), "—");
        let at: Timestamp = "2026-06-10T06:00:00Z".parse().expect("instant");
        assert_eq!(fr.when(at), "10/06/2026 08:00");
        assert_eq!(en.when(at), "2026-06-10 08:00");
        assert_eq!(fr.t("Numéros", "Numbers"), "Numéros");
    }
}
