//! The ISO week a report covers: `2026-W48`, Monday to Sunday.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, ISOWeekDate, Weekday};

/// An ISO 8601 week (`2026-W48`): seven local days, Monday to Sunday.
///
/// Always valid once built: the year has that week (week 53 only in long years).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Week {
    /// The week's Monday, as an ISO week date.
    monday: ISOWeekDate,
}

/// A week that does not exist or a text that is not `YYYY-Www`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ISO week {text:?}: expected YYYY-Www, such as 2026-W48, of a week the year has")]
pub struct InvalidWeek {
    text: String,
}

impl Week {
    /// The week `week` (1 to 52, or 53 in a long year) of ISO year `year`.
    pub fn new(year: i16, week: i8) -> Result<Week, InvalidWeek> {
        ISOWeekDate::new(year, week, Weekday::Monday)
            .map(|monday| Week { monday })
            .map_err(|_| InvalidWeek { text: format!("{year:04}-W{week:02}") })
    }

    /// The week that holds `date`.
    pub fn containing(date: Date) -> Week {
        let day = date.iso_week_date();
        // Every ISO week of a valid date has a Monday that is a valid date, except
        // in the very first week jiff can represent; fall back to the day itself.
        let monday = ISOWeekDate::new(day.year(), day.week(), Weekday::Monday).unwrap_or(day);
        Week { monday }
    }

    /// Parses `YYYY-Www` (`2026-W48`), as `vigie report weekly --week` takes it.
    pub fn parse(text: &str) -> Result<Week, InvalidWeek> {
        let invalid = || InvalidWeek { text: text.to_owned() };
        let (year, week) = text.split_once("-W").ok_or_else(invalid)?;
        if year.len() != 4 || week.len() != 2 {
            return Err(invalid());
        }
        let year: i16 = year.parse().map_err(|_| invalid())?;
        let week: i8 = week.parse().map_err(|_| invalid())?;
        Week::new(year, week).map_err(|_| invalid())
    }

    /// The ISO year (which differs from the calendar year around 1 January).
    pub fn year(self) -> i16 {
        self.monday.year()
    }

    /// The week number, 1 to 53.
    pub fn number(self) -> i8 {
        self.monday.week()
    }

    /// The week's Monday.
    pub fn monday(self) -> Date {
        self.monday.date()
    }

    /// The week's Sunday.
    pub fn sunday(self) -> Date {
        self.days()[6]
    }

    /// The seven days, Monday first.
    pub fn days(self) -> [Date; 7] {
        let monday = self.monday();
        let mut days = [monday; 7];
        for (offset, day) in (0i64..).zip(days.iter_mut()) {
            *day = monday.checked_add(jiff::Span::new().days(offset)).unwrap_or(monday);
        }
        days
    }

    /// The week before, the report's "previous period".
    pub fn previous(self) -> Week {
        let monday = self.monday();
        Week::containing(monday.checked_sub(jiff::Span::new().days(7)).unwrap_or(monday))
    }
}

impl fmt::Display for Week {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-W{:02}", self.year(), self.number())
    }
}

impl FromStr for Week {
    type Err = InvalidWeek;

    fn from_str(text: &str) -> Result<Week, InvalidWeek> {
        Week::parse(text)
    }
}
