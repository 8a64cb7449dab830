//! Where a patient is, as far as the calling rules care: the French territory their
//! number belongs to, which gives the time zone the hours are read in (D223-9 counts
//! hours in the consumer's time zone) and the local holidays.

use jiff::tz::TimeZone;

use crate::names::named_enum;
use crate::phone::E164;

named_enum!(
    /// The part of France a patient's number belongs to.
    ///
    /// Overseas numbers reach Vigie in two forms: with their own country code
    /// (`+262 692…`) when written internationally, or as `+33 …` when libphonenumber
    /// accepted the national form (`0269…`, `0263…`, `0596…`) as a French number. Both
    /// are recognised.
    Territory, "territory", {
        /// Mainland France and Corsica (Europe/Paris). Also the fallback for numbers
        /// outside France, whose patients' time zone the number does not tell.
        Metropolitan = "metropolitan",
        /// La Réunion (Indian/Reunion): +262 262/263/692/693, 0262, 0263, 0692, 0693.
        Reunion = "reunion",
        /// Mayotte (Indian/Mayotte): +262 269/639, 0269, 0639.
        Mayotte = "mayotte",
        /// Guadeloupe, with Saint-Martin and Saint-Barthélemy, which share its numbers
        /// and its UTC-4 time (America/Guadeloupe): +590, 0590, 0690, 0691.
        Guadeloupe = "guadeloupe",
        /// Martinique (America/Martinique): +596, 0596, 0696, 0697.
        Martinique = "martinique",
        /// Guyane (America/Cayenne): +594, 0594, 0694.
        Guyane = "guyane",
        /// Saint-Pierre-et-Miquelon (America/Miquelon): +508.
        SaintPierreEtMiquelon = "saint_pierre_et_miquelon",
        /// New Caledonia (Pacific/Noumea): +687.
        NewCaledonia = "new_caledonia",
        /// French Polynesia (Pacific/Tahiti): +689.
        FrenchPolynesia = "french_polynesia",
        /// Wallis and Futuna (Pacific/Wallis): +681.
        WallisEtFutuna = "wallis_et_futuna",
    }
);

impl Territory {
    /// The territory a patient's number belongs to; numbers outside France and its
    /// overseas territories give [`Territory::Metropolitan`] (Europe/Paris, the
    /// default the issue sets).
    pub fn of(number: &E164) -> Territory {
        let text = number.as_str();
        if let Some(nsn) = text.strip_prefix("+33") {
            return Territory::of_french_nsn(nsn).unwrap_or(Territory::Metropolitan);
        }
        if let Some(nsn) = text.strip_prefix("+262") {
            // Réunion and Mayotte share +262; Mayotte's blocks are 269 and 639.
            return Territory::of_french_nsn(nsn).unwrap_or(Territory::Reunion);
        }
        let by_code = [
            ("+590", Territory::Guadeloupe),
            ("+596", Territory::Martinique),
            ("+594", Territory::Guyane),
            ("+508", Territory::SaintPierreEtMiquelon),
            ("+687", Territory::NewCaledonia),
            ("+689", Territory::FrenchPolynesia),
            ("+681", Territory::WallisEtFutuna),
        ];
        by_code.iter().find(|(code, _)| text.starts_with(code)).map_or(Territory::Metropolitan, |&(_, t)| t)
    }

    /// The overseas department a French national significant number (nine digits,
    /// no leading 0) is allocated to, if any.
    fn of_french_nsn(nsn: &str) -> Option<Territory> {
        let three = nsn.get(..3)?;
        match three {
            "262" | "263" | "692" | "693" => Some(Territory::Reunion),
            "269" | "639" => Some(Territory::Mayotte),
            "590" | "690" | "691" => Some(Territory::Guadeloupe),
            "596" | "696" | "697" => Some(Territory::Martinique),
            "594" | "694" => Some(Territory::Guyane),
            _ => None,
        }
    }

    /// The IANA name of the territory's time zone.
    pub fn tz_name(self) -> &'static str {
        match self {
            Territory::Metropolitan => "Europe/Paris",
            Territory::Reunion => "Indian/Reunion",
            Territory::Mayotte => "Indian/Mayotte",
            Territory::Guadeloupe => "America/Guadeloupe",
            Territory::Martinique => "America/Martinique",
            Territory::Guyane => "America/Cayenne",
            Territory::SaintPierreEtMiquelon => "America/Miquelon",
            Territory::NewCaledonia => "Pacific/Noumea",
            Territory::FrenchPolynesia => "Pacific/Tahiti",
            Territory::WallisEtFutuna => "Pacific/Wallis",
        }
    }

    /// The territory's time zone, from the bundled database.
    pub fn time_zone(self) -> TimeZone {
        match TimeZone::get(self.tz_name()) {
            Ok(tz) => tz,
            Err(e) => unreachable!("jiff bundles the tz database (tzdb-bundle-always): {e}"),
        }
    }

    /// The day the territory commemorates the abolition of slavery (a public holiday
    /// there, art. L3422-2 Code du travail and décret 83-1003), as (month, day).
    ///
    /// Saint-Martin (28 May) and Saint-Barthélemy (9 October) share Guadeloupe's
    /// numbers and cannot be told apart from it; a centre that calls them adds the
    /// dates to [`crate::HolidayCalendar::extra_dates`].
    pub fn abolition_of_slavery_day(self) -> Option<(i8, i8)> {
        match self {
            Territory::Mayotte => Some((4, 27)),
            Territory::Martinique => Some((5, 22)),
            Territory::Guadeloupe => Some((5, 27)),
            Territory::Guyane => Some((6, 10)),
            Territory::Reunion => Some((12, 20)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn territory_and_zone_from_the_number() {
        // (number as a patient writes it, E.164 as Vigie stores it, territory, zone)
        let cases = [
            ("01 42 68 53 00", "+33142685300", Territory::Metropolitan, "Europe/Paris"),
            ("06 12 34 56 78", "+33612345678", Territory::Metropolitan, "Europe/Paris"),
            ("+262 262 50 12 34", "+262262501234", Territory::Reunion, "Indian/Reunion"),
            ("+262 692 12 34 56", "+262692123456", Territory::Reunion, "Indian/Reunion"),
            ("+262 693 12 34 56", "+262693123456", Territory::Reunion, "Indian/Reunion"),
            ("0263 12 34 56", "+33263123456", Territory::Reunion, "Indian/Reunion"),
            ("+262 269 60 12 34", "+262269601234", Territory::Mayotte, "Indian/Mayotte"),
            ("+262 639 01 23 45", "+262639012345", Territory::Mayotte, "Indian/Mayotte"),
            ("0269 60 12 34", "+33269601234", Territory::Mayotte, "Indian/Mayotte"),
            ("+590 590 12 34 56", "+590590123456", Territory::Guadeloupe, "America/Guadeloupe"),
            ("+590 690 12 34 56", "+590690123456", Territory::Guadeloupe, "America/Guadeloupe"),
            ("+590 691 30 12 34", "+590691301234", Territory::Guadeloupe, "America/Guadeloupe"),
            ("+596 596 30 12 34", "+596596301234", Territory::Martinique, "America/Martinique"),
            ("+596 696 12 34 56", "+596696123456", Territory::Martinique, "America/Martinique"),
            ("+596 697 12 34 56", "+596697123456", Territory::Martinique, "America/Martinique"),
            ("0596 30 12 34", "+33596301234", Territory::Martinique, "America/Martinique"),
            ("+594 594 12 34 56", "+594594123456", Territory::Guyane, "America/Cayenne"),
            ("+594 694 12 34 56", "+594694123456", Territory::Guyane, "America/Cayenne"),
            ("+508 41 12 34", "+508411234", Territory::SaintPierreEtMiquelon, "America/Miquelon"),
            ("+49 30 123456", "+4930123456", Territory::Metropolitan, "Europe/Paris"),
        ];
        for (text, e164, territory, zone) in cases {
            let number = E164::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(number.as_str(), e164, "{text}");
            assert_eq!(Territory::of(&number), territory, "{text}");
            assert_eq!(Territory::of(&number).tz_name(), zone, "{text}");
        }
    }

    #[test]
    fn national_forms_libphonenumber_refuses_for_france() {
        // libphonenumber (metadata 9.0.33) validates these national forms only under
        // their own region, so E164::parse (region FR) refuses them: the patient's
        // number must be imported in +262/+590/+594/+596 form.
        for text in ["0262 50 12 34", "0692 12 34 56", "0590 12 34 56", "0690 12 34 56", "0694 12 34 56"] {
            assert!(E164::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn every_zone_is_bundled_and_names_round_trip() {
        for &t in Territory::ALL {
            assert_eq!(t.time_zone().iana_name(), Some(t.tz_name()));
            assert_eq!(Territory::parse(t.as_str()), Ok(t));
        }
        assert!(Territory::parse("atlantis").is_err());
    }
}
