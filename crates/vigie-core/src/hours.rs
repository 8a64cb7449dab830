//! Weekly calling hours: for each weekday, the local time ranges in which a call may
//! start, and the first instant at or after a given one that falls inside them, in a
//! given time zone and skipping closed days (public holidays).

use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};

use crate::calendar::{add_days, prev};
use crate::catalog::InvalidField;

/// Minutes in a day: a range may end at 24:00.
const DAY_MINUTES: u16 = 24 * 60;

/// Most ranges one weekday may hold.
pub const RANGES_PER_DAY_MAX: usize = 8;

/// A range of local times `[start, end)` within one day; `end` may be 24:00.
///
/// Built by [`TimeRange::new`] or [`TimeRange::parse`], so `start < end` always holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeRange {
    start_minutes: u16,
    end_minutes: u16,
}

impl TimeRange {
    /// A range from minutes after midnight: `start < end <= 1440`.
    pub fn new(start_minutes: u16, end_minutes: u16) -> Result<TimeRange, InvalidField> {
        if end_minutes > DAY_MINUTES {
            return Err(InvalidField::new("hours", "a range must end at 24:00 at the latest"));
        }
        if start_minutes >= end_minutes {
            return Err(InvalidField::new("hours", "a range must start before it ends"));
        }
        Ok(TimeRange { start_minutes, end_minutes })
    }

    /// Parses `HH:MM-HH:MM`, such as `10:00-13:00` or `20:00-24:00`.
    pub fn parse(text: &str) -> Result<TimeRange, InvalidField> {
        let bad = || InvalidField::new("hours", format!("`{text}` is not a range such as 10:00-13:00"));
        let (start, end) = text.trim().split_once('-').ok_or_else(bad)?;
        let start = parse_clock(start).ok_or_else(bad)?;
        let end = parse_clock(end).ok_or_else(bad)?;
        TimeRange::new(start, end)
    }

    /// Minutes after midnight the range starts at.
    pub fn start_minutes(self) -> u16 {
        self.start_minutes
    }

    /// Minutes after midnight the range ends at (excluded; 1440 for 24:00).
    pub fn end_minutes(self) -> u16 {
        self.end_minutes
    }

    /// The local time the range starts at.
    pub fn start(self) -> Time {
        let (h, m) = (self.start_minutes / 60, self.start_minutes % 60);
        // start < 1440, so h < 24 and m < 60.
        Time::constant(h as i8, m as i8, 0, 0)
    }

    /// Whether a local time of day falls in `[start, end)`.
    pub fn contains(self, time: Time) -> bool {
        let minutes = i32::from(time.hour()) * 60 + i32::from(time.minute());
        // Seconds only matter at the end: 12:59:59 is before 13:00, and a minute
        // whose start is inside the range is inside it entirely.
        i32::from(self.start_minutes) <= minutes && minutes < i32::from(self.end_minutes)
    }
}

fn parse_clock(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h * 60 + m;
    (m < 60 && minutes <= DAY_MINUTES).then_some(minutes)
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", hm(self.start_minutes), hm(self.end_minutes))
    }
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day_index(day: Weekday) -> usize {
    // Monday is 0 … Sunday is 6.
    day.to_monday_zero_offset() as usize
}

fn parse_day(text: &str) -> Result<usize, InvalidField> {
    DAY_NAMES.iter().position(|&d| d == text).ok_or_else(|| {
        InvalidField::new("hours", format!("`{text}` is not a day: use mon, tue, wed, thu, fri, sat or sun"))
    })
}

/// The local hours, per weekday, in which calls may start.
///
/// Each weekday holds sorted, non-overlapping [`TimeRange`]s (at most
/// [`RANGES_PER_DAY_MAX`]); at least one day holds one. The text form is compact:
/// `mon-fri 10:00-13:00,14:00-20:00; sat 08:00-12:00`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WeeklyHours {
    days: [Vec<TimeRange>; 7],
}

impl WeeklyHours {
    /// Builds hours from (weekday, range) pairs, in any order; refuses overlapping
    /// ranges on a day, more than [`RANGES_PER_DAY_MAX`] ranges on a day, or no range.
    pub fn new(ranges: impl IntoIterator<Item = (Weekday, TimeRange)>) -> Result<WeeklyHours, InvalidField> {
        let mut days: [Vec<TimeRange>; 7] = Default::default();
        for (day, range) in ranges {
            days[day_index(day)].push(range);
        }
        for (i, ranges) in days.iter_mut().enumerate() {
            ranges.sort();
            if ranges.len() > RANGES_PER_DAY_MAX {
                return Err(InvalidField::new(
                    "hours",
                    format!("{} holds more than {RANGES_PER_DAY_MAX} ranges", DAY_NAMES[i]),
                ));
            }
            if let Some(w) = ranges.windows(2).find(|w| w[1].start_minutes < w[0].end_minutes) {
                return Err(InvalidField::new("hours", format!("{}: {} overlaps {}", DAY_NAMES[i], w[0], w[1])));
            }
        }
        if days.iter().all(Vec::is_empty) {
            return Err(InvalidField::new("hours", "must allow at least one range"));
        }
        Ok(WeeklyHours { days })
    }

    /// Parses the compact form: clauses separated by `;`, each a set of days
    /// (`mon`, `mon-fri`, `mon,wed,fri`) then ranges (`08:00-12:00,14:00-18:00`).
    pub fn parse(text: &str) -> Result<WeeklyHours, InvalidField> {
        let mut pairs = Vec::new();
        for clause in text.split(';').map(str::trim).filter(|c| !c.is_empty()) {
            let (days, ranges) = clause.split_once(char::is_whitespace).ok_or_else(|| {
                InvalidField::new("hours", format!("`{clause}` must be days then ranges, such as mon-fri 10:00-13:00"))
            })?;
            let mut weekdays = Vec::new();
            for item in days.split(',') {
                match item.split_once('-') {
                    Some((from, to)) => {
                        let (from, to) = (parse_day(from)?, parse_day(to)?);
                        if from > to {
                            return Err(InvalidField::new(
                                "hours",
                                format!("`{item}` runs backwards: write days from Monday to Sunday"),
                            ));
                        }
                        weekdays.extend(from..=to);
                    }
                    None => weekdays.push(parse_day(item)?),
                }
            }
            for range in ranges.split(',') {
                let range = TimeRange::parse(range)?;
                for &day in &weekdays {
                    let weekday = Weekday::from_monday_zero_offset(day as i8)
                        .map_err(|e| InvalidField::new("hours", e.to_string()))?;
                    pairs.push((weekday, range));
                }
            }
        }
        WeeklyHours::new(pairs)
    }

    /// D223-9 solicitation hours: Monday to Friday, 10:00-13:00 and 14:00-20:00.
    pub fn solicitation_default() -> WeeklyHours {
        WeeklyHours::constant("mon-fri 10:00-13:00,14:00-20:00")
    }

    /// The default hours for care calls: Monday to Saturday, 08:00-20:00.
    pub fn care_default() -> WeeklyHours {
        WeeklyHours::constant("mon-sat 08:00-20:00")
    }

    fn constant(text: &str) -> WeeklyHours {
        match WeeklyHours::parse(text) {
            Ok(hours) => hours,
            Err(e) => unreachable!("built-in hours `{text}` are valid: {e}"),
        }
    }

    /// The ranges of one weekday, sorted.
    pub fn ranges(&self, day: Weekday) -> &[TimeRange] {
        &self.days[day_index(day)]
    }

    /// Whether a call may start at this local date and time.
    pub fn allows(&self, local: DateTime) -> bool {
        self.ranges(local.weekday()).iter().any(|r| r.contains(local.time()))
    }

    /// The first instant at or after `after` whose local time in `tz` the hours allow
    /// and whose local date `closed` does not refuse, looking at most `search_days`
    /// local days ahead.
    ///
    /// Daylight saving is handled on the instants: a range that starts in the hour a
    /// spring change skips opens at the change (the first valid local time after it);
    /// a range start repeated by an autumn change opens at its first occurrence.
    pub fn next_allowed(
        &self,
        after: Timestamp,
        tz: &TimeZone,
        closed: impl Fn(Date) -> bool,
        search_days: u32,
    ) -> Option<Timestamp> {
        let open = |at: Timestamp| {
            let local = tz.to_datetime(at);
            !closed(local.date()) && self.allows(local)
        };
        if open(after) {
            return Some(after);
        }
        // Whether a call may start changes only where the local clock enters a range
        // (a range's start, once or twice in a fold) or jumps (a zone transition).
        // The first allowed instant after `after` is therefore one of these.
        let first_day = tz.to_datetime(after).date();
        let last_day = add_days(first_day, i32::try_from(search_days).unwrap_or(i32::MAX));
        let mut candidates = Vec::new();
        let mut day = prev(first_day);
        while day <= last_day {
            for range in self.ranges(day.weekday()) {
                let dt = day.to_datetime(range.start());
                match tz.to_ambiguous_timestamp(dt).offset() {
                    AmbiguousOffset::Unambiguous { offset } => candidates.extend(offset.to_timestamp(dt).ok()),
                    AmbiguousOffset::Fold { before, after } => {
                        candidates.extend(before.to_timestamp(dt).ok());
                        candidates.extend(after.to_timestamp(dt).ok());
                    }
                    // The local time does not exist; the transition below stands for it.
                    AmbiguousOffset::Gap { .. } => {}
                }
            }
            let Ok(following) = day.tomorrow() else { break };
            day = following;
        }
        let horizon = tz.to_ambiguous_timestamp(add_days(last_day, 1).to_datetime(Time::midnight())).compatible().ok();
        for transition in tz.following(after) {
            if horizon.is_none_or(|h| transition.timestamp() > h) {
                break;
            }
            candidates.push(transition.timestamp());
        }
        candidates.retain(|&t| t > after);
        candidates.sort();
        candidates.dedup();
        candidates.into_iter().find(|&t| open(t))
    }
}

impl fmt::Display for WeeklyHours {
    /// The compact text form, with runs of days that share their ranges joined
    /// (`mon-fri 10:00-13:00,14:00-20:00; sat 08:00-12:00`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut i = 0;
        while i < 7 {
            let mut j = i;
            while j + 1 < 7 && self.days[j + 1] == self.days[i] {
                j += 1;
            }
            if !self.days[i].is_empty() {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                match j - i {
                    0 => f.write_str(DAY_NAMES[i])?,
                    1 => write!(f, "{},{}", DAY_NAMES[i], DAY_NAMES[j])?,
                    _ => write!(f, "{}-{}", DAY_NAMES[i], DAY_NAMES[j])?,
                }
                let ranges: Vec<String> = self.days[i].iter().map(TimeRange::to_string).collect();
                write!(f, " {}", ranges.join(","))?;
            }
            i = j + 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").expect("bundled")
    }

    fn at(tz: &TimeZone, text: &str) -> Timestamp {
        let dt: DateTime = text.parse().expect("local date-time");
        tz.to_ambiguous_timestamp(dt).compatible().expect("in range")
    }

    fn show(tz: &TimeZone, t: Option<Timestamp>) -> String {
        t.map_or("-".into(), |t| t.to_zoned_datetime(tz.clone()).strftime("%a %Y-%m-%dT%H:%M%:z").to_string())
    }

    #[test]
    fn parse_and_render() {
        let cases = [
            ("mon-fri 10:00-13:00,14:00-20:00", "mon-fri 10:00-13:00,14:00-20:00"),
            ("mon-sat 08:00-20:00", "mon-sat 08:00-20:00"),
            ("  sat 09:00-12:00 ; mon-fri 08:00-20:00 ", "mon-fri 08:00-20:00; sat 09:00-12:00"),
            ("mon,wed,fri 9:00-12:00", "mon 09:00-12:00; wed 09:00-12:00; fri 09:00-12:00"),
            ("sat,sun 20:00-24:00", "sat,sun 20:00-24:00"),
            ("mon 14:00-15:00; mon 10:00-13:00,13:00-14:00", "mon 10:00-13:00,13:00-14:00,14:00-15:00"),
        ];
        for (text, canonical) in cases {
            let hours = WeeklyHours::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(hours.to_string(), canonical, "{text}");
            assert_eq!(WeeklyHours::parse(canonical), Ok(hours), "{text} round trip");
        }
    }

    #[test]
    fn refuses_bad_hours() {
        let cases = [
            ("", "hours: must allow at least one range"),
            ("mon-fri", "hours: `mon-fri` must be days then ranges, such as mon-fri 10:00-13:00"),
            ("mon-fri 13:00-10:00", "hours: a range must start before it ends"),
            ("mon 10:00-10:00", "hours: a range must start before it ends"),
            ("mon 10:00-24:01", "hours: `10:00-24:01` is not a range such as 10:00-13:00"),
            ("mon 10:60-11:00", "hours: `10:60-11:00` is not a range such as 10:00-13:00"),
            ("mon 10h-11h", "hours: `10h-11h` is not a range such as 10:00-13:00"),
            ("mon 10:00-13:00,12:00-14:00", "hours: mon: 10:00-13:00 overlaps 12:00-14:00"),
            ("mon 10:00-13:00; mon 12:59-14:00", "hours: mon: 10:00-13:00 overlaps 12:59-14:00"),
            ("fri-mon 10:00-13:00", "hours: `fri-mon` runs backwards: write days from Monday to Sunday"),
            ("lun 10:00-13:00", "hours: `lun` is not a day: use mon, tue, wed, thu, fri, sat or sun"),
            (
                "mon 1:00-1:30,2:00-2:30,3:00-3:30,4:00-4:30,5:00-5:30,6:00-6:30,7:00-7:30,8:00-8:30,9:00-9:30",
                "hours: mon holds more than 8 ranges",
            ),
        ];
        for (text, error) in cases {
            assert_eq!(WeeklyHours::parse(text).map_err(|e| e.to_string()), Err(error.to_owned()), "{text}");
        }
    }

    #[test]
    fn allows_at_the_edges() {
        let hours = WeeklyHours::solicitation_default();
        let cases = [
            ("2026-06-02T09:59:59", false),
            ("2026-06-02T10:00", true),
            ("2026-06-02T12:59:59", true),
            ("2026-06-02T13:00", false),
            ("2026-06-02T13:59", false),
            ("2026-06-02T14:00", true),
            ("2026-06-02T19:59:59.999", true),
            ("2026-06-02T20:00", false),
            ("2026-06-06T11:00", false), // Saturday
            ("2026-06-07T11:00", false), // Sunday
        ];
        for (text, allowed) in cases {
            let dt: DateTime = text.parse().expect("dt");
            assert_eq!(hours.allows(dt), allowed, "{text}");
        }
    }

    #[test]
    fn next_allowed_across_weekends_holidays_and_dst() {
        let tz = paris();
        let solicitation = WeeklyHours::solicitation_default();
        let night = WeeklyHours::parse("sun 02:30-04:00; mon-sat 10:00-11:00").expect("hours");
        let fold = WeeklyHours::parse("sun 02:30-02:45").expect("hours");
        let holidays = |d: Date| crate::holidays::public_holiday(d).is_some();
        let never = |_: Date| false;
        let cases: [(&WeeklyHours, &str, bool, &str); 10] = [
            (&solicitation, "2026-06-02T11:00", true, "Tue 2026-06-02T11:00+02:00"),
            (&solicitation, "2026-06-02T13:00", true, "Tue 2026-06-02T14:00+02:00"),
            (&solicitation, "2026-06-02T20:00", true, "Wed 2026-06-03T10:00+02:00"),
            (&solicitation, "2026-06-05T20:00", true, "Mon 2026-06-08T10:00+02:00"),
            // Wednesday before Ascension: Thursday is a holiday.
            (&solicitation, "2026-05-13T20:00", true, "Fri 2026-05-15T10:00+02:00"),
            (&solicitation, "2026-05-13T20:00", false, "Thu 2026-05-14T10:00+02:00"),
            // Friday evening before the spring change; Monday is in summer time.
            (&solicitation, "2026-03-27T20:00", true, "Mon 2026-03-30T10:00+02:00"),
            // 02:30 does not exist on 2026-03-29: the range opens at 03:00 CEST.
            (&night, "2026-03-28T11:00", true, "Sun 2026-03-29T03:00+02:00"),
            // 02:30 happens twice on 2026-10-25: the first time, in summer time.
            (&fold, "2026-10-24T12:00", true, "Sun 2026-10-25T02:30+02:00"),
            (&fold, "2026-10-25T02:40+02:00[Europe/Paris]", true, "Sun 2026-10-25T02:40+02:00"),
        ];
        for (hours, after, closed_on_holidays, expected) in cases {
            let start = match after.parse::<jiff::ZonedDateTime>() {
                Ok(z) => z.timestamp(),
                Err(_) => at(&tz, after),
            };
            let got = if closed_on_holidays {
                hours.next_allowed(start, &tz, holidays, 31)
            } else {
                hours.next_allowed(start, &tz, never, 31)
            };
            assert_eq!(show(&tz, got), expected, "{hours} after {after}");
        }
        // The second 02:30 of the fold: 02:45 CEST is past the range, 02:30 CET opens it again.
        let after_first: Timestamp = "2026-10-25T00:45:00Z".parse().expect("02:45 CEST");
        assert_eq!(
            show(&tz, fold.next_allowed(after_first, &tz, never, 31)),
            "Sun 2026-10-25T02:30+01:00",
            "second occurrence"
        );
        // A search horizon too short finds nothing.
        let friday = at(&tz, "2026-06-05T20:00");
        assert_eq!(solicitation.next_allowed(friday, &tz, never, 2), None);
        assert_eq!(show(&tz, solicitation.next_allowed(friday, &tz, never, 3)), "Mon 2026-06-08T10:00+02:00");
    }

    /// Minutes of 2026 from its first instant in UTC: the whole year, and the days
    /// around both Europe/Paris changes more densely.
    fn minute_of_2026() -> impl proptest::strategy::Strategy<Value = i64> {
        use proptest::prelude::*;
        let around = |day_of_year: i64| (day_of_year - 2) * 1440..(day_of_year + 2) * 1440;
        prop_oneof![0..365 * 1440_i64, around(87), around(297)]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

        /// `next_allowed` returns an allowed instant, and no instant before it (at
        /// minute steps, where every boundary lies) is allowed.
        #[test]
        fn next_allowed_is_the_first_allowed_minute(minute in minute_of_2026(), which in 0..3_usize) {
            let tz = paris();
            let hours = [
                WeeklyHours::solicitation_default(),
                WeeklyHours::care_default(),
                WeeklyHours::parse("sun 02:30-04:00; mon-sat 00:00-00:30,10:00-11:00,23:30-24:00").expect("hours"),
            ];
            let hours = &hours[which];
            let closed = |d: Date| crate::holidays::public_holiday(d).is_some();
            let open = |t: Timestamp| {
                let local = tz.to_datetime(t);
                !closed(local.date()) && hours.allows(local)
            };
            let start: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
            let after = start + jiff::SignedDuration::from_mins(minute);
            let found = hours.next_allowed(after, &tz, closed, 31).expect("within 31 days");
            proptest::prop_assert!(found >= after && open(found));
            let mut t = after;
            while t < found {
                proptest::prop_assert!(!open(t), "{t} is allowed but next_allowed gave {found}");
                t += jiff::SignedDuration::from_mins(1);
            }
        }
    }
}
