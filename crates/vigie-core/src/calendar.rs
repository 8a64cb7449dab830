//! Local days: caps, intensive days and reports count per Europe/Paris calendar day,
//! while instants are UTC timestamps.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// The centre's civil calendar (Europe/Paris by default).
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: TimeZone,
}

impl Calendar {
    /// The calendar of Europe/Paris, from the bundled time-zone database.
    pub fn paris() -> Calendar {
        match TimeZone::get("Europe/Paris") {
            Ok(tz) => Calendar { tz },
            Err(e) => unreachable!("jiff bundles the tz database (tzdb-bundle-always): {e}"),
        }
    }

    /// A calendar in another IANA zone.
    pub fn new(name: &str) -> Result<Calendar, jiff::Error> {
        Ok(Calendar { tz: TimeZone::get(name)? })
    }

    /// The local day an instant falls on.
    pub fn day_of(&self, at: Timestamp) -> Date {
        self.tz.to_datetime(at).date()
    }

    /// The instant a local day starts (its first valid local time, midnight unless a
    /// DST change skips it).
    pub fn start_of(&self, day: Date) -> Timestamp {
        match day.to_zoned_datetime(self.tz.clone()) {
            Ok(z) => z.timestamp(),
            Err(e) => unreachable!("every civil date in range has a start: {e}"),
        }
    }

    /// The instant a local day ends (the start of the next day).
    pub fn end_of(&self, day: Date) -> Timestamp {
        self.start_of(next(day))
    }

    /// The time zone.
    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }
}

/// The day after `day`.
pub fn next(day: Date) -> Date {
    day.tomorrow().unwrap_or(day)
}

/// The day before `day`.
pub fn prev(day: Date) -> Date {
    day.yesterday().unwrap_or(day)
}

/// `day` moved by `n` days (negative goes back).
pub fn add_days(day: Date, n: i32) -> Date {
    day.checked_add(jiff::Span::new().days(n)).unwrap_or(day)
}

/// Hours as a signed duration.
pub(crate) fn hours(h: u32) -> SignedDuration {
    SignedDuration::from_hours(i64::from(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_follow_paris_across_dst() {
        let cal = Calendar::paris();
        // 2026-03-29 is the spring change: the day lasts 23 hours.
        let d = jiff::civil::date(2026, 3, 29);
        assert_eq!(cal.end_of(d).duration_since(cal.start_of(d)), SignedDuration::from_hours(23));
        // 2026-10-25 is the autumn change: 25 hours.
        let d = jiff::civil::date(2026, 10, 25);
        assert_eq!(cal.end_of(d).duration_since(cal.start_of(d)), SignedDuration::from_hours(25));
        // 23:30 UTC on 2026-06-30 is already 1 July in Paris.
        let t: Timestamp = "2026-06-30T23:30:00Z".parse().expect("ts");
        assert_eq!(cal.day_of(t), jiff::civil::date(2026, 7, 1));
    }
}
