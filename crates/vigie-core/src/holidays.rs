//! French public holidays: the eleven of article L3133-1 of the Code du travail,
//! computed for any year (Easter by the anonymous Gregorian algorithm), and the
//! regional days a centre may add (Alsace-Moselle, the overseas abolition days).

use std::collections::BTreeSet;

use jiff::civil::Date;

use crate::calendar::add_days;
use crate::catalog::InvalidField;
use crate::names::named_enum;
use crate::territory::Territory;

named_enum!(
    /// A public holiday, by its stable name.
    Holiday, "holiday", {
        /// 1 January.
        NewYear = "new_year",
        /// Easter Monday (Easter + 1).
        EasterMonday = "easter_monday",
        /// 1 May.
        LabourDay = "labour_day",
        /// 8 May (Victory in Europe, 1945).
        VictoryInEurope = "victory_in_europe",
        /// Ascension Day (Easter + 39).
        Ascension = "ascension",
        /// Whit Monday (Easter + 50).
        WhitMonday = "whit_monday",
        /// 14 July.
        BastilleDay = "bastille_day",
        /// 15 August (Assumption).
        Assumption = "assumption",
        /// 1 November (All Saints).
        AllSaints = "all_saints",
        /// 11 November (Armistice, 1918).
        Armistice = "armistice",
        /// 25 December.
        Christmas = "christmas",
        /// Good Friday (Easter − 2), Alsace-Moselle only (art. L3134-13).
        GoodFriday = "good_friday",
        /// 26 December, Alsace-Moselle only (art. L3134-13).
        StStephen = "st_stephen",
        /// The abolition of slavery, on a date that depends on the overseas territory.
        AbolitionOfSlavery = "abolition_of_slavery",
        /// A date the centre added to its calendar.
        Configured = "configured",
    }
);

impl Holiday {
    /// Whether the day is one of the eleven of article L3133-1, which D223-9 names.
    pub fn is_l3133_1(self) -> bool {
        !matches!(self, Holiday::GoodFriday | Holiday::StStephen | Holiday::AbolitionOfSlavery | Holiday::Configured)
    }
}

/// Easter Sunday of a Gregorian year (1583 to 9999), by the anonymous Gregorian
/// algorithm (Meeus/Jones/Butcher); `None` before the Gregorian reform.
pub fn easter_sunday(year: i16) -> Option<Date> {
    if !(1583..=9999).contains(&year) {
        return None;
    }
    let y = i32::from(year);
    let a = y % 19;
    let (b, c) = (y / 100, y % 100);
    let (d, e) = (b / 4, b % 4);
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let n = h + l - 7 * m + 114;
    // n / 31 is 3 or 4 and n % 31 + 1 at most 31, so both fit in an i8.
    Date::new(year, (n / 31) as i8, (n % 31 + 1) as i8).ok()
}

/// The eleven public holidays of article L3133-1 in `year`, in date order; empty
/// for a year outside 1583 to 9999.
pub fn public_holidays(year: i16) -> Vec<(Date, Holiday)> {
    let Some(easter) = easter_sunday(year) else {
        return Vec::new();
    };
    let fixed = |month: i8, day: i8| Date::new(year, month, day).ok();
    let mut days: Vec<(Date, Holiday)> = [
        (fixed(1, 1), Holiday::NewYear),
        (Some(add_days(easter, 1)), Holiday::EasterMonday),
        (fixed(5, 1), Holiday::LabourDay),
        (fixed(5, 8), Holiday::VictoryInEurope),
        (Some(add_days(easter, 39)), Holiday::Ascension),
        (Some(add_days(easter, 50)), Holiday::WhitMonday),
        (fixed(7, 14), Holiday::BastilleDay),
        (fixed(8, 15), Holiday::Assumption),
        (fixed(11, 1), Holiday::AllSaints),
        (fixed(11, 11), Holiday::Armistice),
        (fixed(12, 25), Holiday::Christmas),
    ]
    .into_iter()
    .filter_map(|(date, holiday)| date.map(|d| (d, holiday)))
    .collect();
    // Ascension can fall on 1 or 8 May; keep both names, in date order.
    days.sort();
    days
}

/// The one L3133-1 holiday `date` is, if any.
pub fn public_holiday(date: Date) -> Option<Holiday> {
    let fixed = match (date.month(), date.day()) {
        (1, 1) => Some(Holiday::NewYear),
        (5, 1) => Some(Holiday::LabourDay),
        (5, 8) => Some(Holiday::VictoryInEurope),
        (7, 14) => Some(Holiday::BastilleDay),
        (8, 15) => Some(Holiday::Assumption),
        (11, 1) => Some(Holiday::AllSaints),
        (11, 11) => Some(Holiday::Armistice),
        (12, 25) => Some(Holiday::Christmas),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    let easter = easter_sunday(date.year())?;
    match date.since(easter).map(|span| span.get_days()) {
        Ok(1) => Some(Holiday::EasterMonday),
        Ok(39) => Some(Holiday::Ascension),
        Ok(50) => Some(Holiday::WhitMonday),
        _ => None,
    }
}

/// Most dates a centre may add to its holiday calendar.
pub const EXTRA_HOLIDAYS_MAX: usize = 1_000;

/// The holidays a centre observes: always the eleven of L3133-1, plus the regional
/// days it chooses.
///
/// Whether regional holidays also bar solicitation is UNCONFIRMED (D223-9 cites only
/// L3133-1); the research recommends blocking them for consumers in those areas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayCalendar {
    /// Also close on Good Friday and 26 December (Alsace-Moselle, art. L3134-13), for
    /// every patient: the number does not tell whether a patient lives there, so a
    /// centre that calls that region turns this on. Default: false.
    pub alsace_moselle: bool,
    /// Also close, for patients of an overseas department, on that department's
    /// abolition-of-slavery day (art. L3422-2). Default: true (the research's
    /// recommendation; UNCONFIRMED as a legal requirement for solicitation).
    pub overseas_abolition_of_slavery: bool,
    /// Further dates the centre closes for every patient. Default: none.
    pub extra_dates: BTreeSet<Date>,
}

impl Default for HolidayCalendar {
    fn default() -> HolidayCalendar {
        HolidayCalendar { alsace_moselle: false, overseas_abolition_of_slavery: true, extra_dates: BTreeSet::new() }
    }
}

impl HolidayCalendar {
    /// Only the eleven holidays of L3133-1, with no regional day.
    pub fn l3133_1_only() -> HolidayCalendar {
        HolidayCalendar { alsace_moselle: false, overseas_abolition_of_slavery: false, extra_dates: BTreeSet::new() }
    }

    /// The holiday `date` is for a patient of `territory`, if any (L3133-1 first).
    pub fn holiday(&self, date: Date, territory: Territory) -> Option<Holiday> {
        if let Some(h) = public_holiday(date) {
            return Some(h);
        }
        if self.alsace_moselle {
            if (date.month(), date.day()) == (12, 26) {
                return Some(Holiday::StStephen);
            }
            if easter_sunday(date.year()).is_some_and(|easter| add_days(easter, -2) == date) {
                return Some(Holiday::GoodFriday);
            }
        }
        if self.overseas_abolition_of_slavery
            && territory.abolition_of_slavery_day() == Some((date.month(), date.day()))
        {
            return Some(Holiday::AbolitionOfSlavery);
        }
        if self.extra_dates.contains(&date) {
            return Some(Holiday::Configured);
        }
        None
    }

    /// Refuses a calendar with more than [`EXTRA_HOLIDAYS_MAX`] extra dates.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if self.extra_dates.len() > EXTRA_HOLIDAYS_MAX {
            return Err(InvalidField::new("extra_dates", format!("must hold at most {EXTRA_HOLIDAYS_MAX} dates")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn easter_on_known_dates() {
        let known = [
            (1583, (4, 10)),
            (1818, (3, 22)), // earliest possible
            (1943, (4, 25)), // latest possible
            (2000, (4, 23)),
            (2008, (3, 23)),
            (2019, (4, 21)),
            (2024, (3, 31)),
            (2025, (4, 20)),
            (2026, (4, 5)),
            (2027, (3, 28)),
            (2028, (4, 16)),
            (2029, (4, 1)),
            (2030, (4, 21)),
            (2038, (4, 25)),
            (2100, (3, 28)),
            (2285, (3, 22)),
        ];
        for (year, (month, day)) in known {
            assert_eq!(easter_sunday(year), Some(date(year, month, day)), "{year}");
        }
        assert_eq!(easter_sunday(1582), None);
        assert!(easter_sunday(9999).is_some());
    }

    #[test]
    fn the_eleven_of_2026() {
        let text: Vec<String> = public_holidays(2026).iter().map(|(d, h)| format!("{d} {h}")).collect();
        assert_eq!(
            text.join("\n"),
            "2026-01-01 new_year
2026-04-06 easter_monday
2026-05-01 labour_day
2026-05-08 victory_in_europe
2026-05-14 ascension
2026-05-25 whit_monday
2026-07-14 bastille_day
2026-08-15 assumption
2026-11-01 all_saints
2026-11-11 armistice
2026-12-25 christmas"
        );
    }

    #[test]
    fn every_day_agrees_with_the_list() {
        for year in [1990, 2024, 2026, 2027, 2038, 2100] {
            let list = public_holidays(year);
            assert_eq!(list.len(), 11);
            let mut day = date(year, 1, 1);
            let mut found = Vec::new();
            while day.year() == year {
                if let Some(h) = public_holiday(day) {
                    found.push((day, h));
                }
                day = add_days(day, 1);
            }
            // Ascension on 1 May (e.g. 2008) is one day with two names; the list keeps both.
            let mut days: Vec<Date> = list.iter().map(|&(d, _)| d).collect();
            days.dedup();
            assert_eq!(found.iter().map(|&(d, _)| d).collect::<Vec<_>>(), days, "{year}");
        }
    }

    #[test]
    fn regional_days_follow_the_flags() {
        let default = HolidayCalendar::default();
        let alsace = HolidayCalendar { alsace_moselle: true, ..HolidayCalendar::l3133_1_only() };
        let mut extra = HolidayCalendar::l3133_1_only();
        extra.extra_dates.insert(date(2026, 7, 21));
        let cases = [
            // (date, territory, default, alsace, l3133-1 + extra date)
            (date(2026, 5, 14), Territory::Metropolitan, "ascension", "ascension", "ascension"),
            (date(2026, 4, 3), Territory::Metropolitan, "-", "good_friday", "-"),
            (date(2026, 12, 26), Territory::Metropolitan, "-", "st_stephen", "-"),
            (date(2026, 12, 20), Territory::Reunion, "abolition_of_slavery", "-", "-"),
            (date(2026, 12, 20), Territory::Metropolitan, "-", "-", "-"),
            (date(2026, 4, 27), Territory::Mayotte, "abolition_of_slavery", "-", "-"),
            (date(2026, 5, 22), Territory::Martinique, "abolition_of_slavery", "-", "-"),
            (date(2026, 5, 27), Territory::Guadeloupe, "abolition_of_slavery", "-", "-"),
            (date(2026, 6, 10), Territory::Guyane, "abolition_of_slavery", "-", "-"),
            (date(2026, 7, 21), Territory::Martinique, "-", "-", "configured"),
        ];
        let name = |h: Option<Holiday>| h.map_or("-", Holiday::as_str);
        for (day, t, d, a, e) in cases {
            let got = (name(default.holiday(day, t)), name(alsace.holiday(day, t)), name(extra.holiday(day, t)));
            assert_eq!(got, (d, a, e), "{day} {t}");
        }
        assert!(Holiday::Ascension.is_l3133_1() && !Holiday::GoodFriday.is_l3133_1());
    }
}
