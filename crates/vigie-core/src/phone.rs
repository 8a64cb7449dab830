//! Telephone numbers: E.164 parsing with libphonenumber's metadata, and the ARCEP
//! categories of the French plan that libphonenumber does not know.

use std::fmt;

/// A valid telephone number in E.164 form (`+33987654321`).
///
/// Built only by [`E164::parse`], so a value of this type is always valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

/// Why a string is not a usable telephone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// The text is not a telephone number at all.
    #[error(
        "not a telephone number: expected E.164 such as +33123456789 or a French national number such as 0123456789"
    )]
    Unparsable,
    /// The text parses but the number is not allocated in its country's plan.
    #[error("not a valid number in its country's numbering plan")]
    Invalid,
}

impl E164 {
    /// Parses a number written in E.164 (`+33…`) or in French national form (`01…`).
    ///
    /// Validity comes from libphonenumber's metadata (the `phonenumber` crate), whose
    /// regular expressions cost a few microseconds a number (measured in BENCHMARKS.md).
    ///
    /// Only digits, spaces and `+ - . ( )` are read: libphonenumber would otherwise
    /// turn letters into digits (`+1-800-FLOWERS`) and take `x…` for an extension,
    /// and a number written so is a typing error here, not a number to dial.
    ///
    /// A French number written compactly (`+33` or `0` then nine digits) takes a fast
    /// path that gives the same answer: see [`french_compact`].
    pub fn parse(text: &str) -> Result<E164, PhoneError> {
        let text = text.trim();
        if let Some(parsed) = french_compact(text) {
            return parsed;
        }
        E164::parse_slow(text)
    }

    /// [`E164::parse`] through libphonenumber, whatever the text.
    fn parse_slow(text: &str) -> Result<E164, PhoneError> {
        if text.len() > 32 || !text.bytes().all(|b| b.is_ascii_digit() || b" +-.()".contains(&b)) {
            return Err(PhoneError::Unparsable);
        }
        let pn = phonenumber::parse(Some(phonenumber::country::Id::FR), text).map_err(|_| PhoneError::Unparsable)?;
        if !pn.is_valid() {
            return Err(PhoneError::Invalid);
        }
        Ok(E164(pn.format().mode(phonenumber::Mode::E164).to_string()))
    }

    /// The number as `+<country><national>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The French national significant number (nine digits, no leading 0), if French.
    fn french_nsn(&self) -> Option<&str> {
        self.0.strip_prefix("+33").filter(|n| n.len() == 9)
    }

    /// The number in French national form (`0123456789`), or E.164 when foreign.
    pub fn national(&self) -> String {
        match self.french_nsn() {
            Some(nsn) => format!("0{nsn}"),
            None => self.0.clone(),
        }
    }

    /// Which ARCEP category the number belongs to.
    pub fn category(&self) -> NumberCategory {
        let Some(nsn) = self.french_nsn() else {
            return NumberCategory::Foreign;
        };
        let b = nsn.as_bytes();
        let first = b[0] - b'0';
        let two = &nsn[..3];
        match first {
            1..=5 => {
                if NPV_GEOGRAPHIC.contains(&two) {
                    NumberCategory::VerifiedPolyvalent { zone: Some(first) }
                } else {
                    NumberCategory::Geographic { zone: first }
                }
            }
            6 | 7 => NumberCategory::Mobile,
            8 => {
                if two.starts_with("89") {
                    NumberCategory::Premium
                } else {
                    NumberCategory::Special
                }
            }
            9 => {
                let four = &nsn[..4];
                if two == "948" || two == "949" || ("9475"..="9479").contains(&four) {
                    NumberCategory::VerifiedPolyvalent { zone: None }
                } else if ("937"..="939").contains(&two) {
                    NumberCategory::PlatformPolyvalent
                } else {
                    NumberCategory::NonGeographic
                }
            }
            _ => NumberCategory::Foreign,
        }
    }
}

/// What libphonenumber answers for French numbers, by the first five digits of the
/// national significant number: 0 not asked yet, 1 valid, 2 invalid.
static FRENCH_PREFIXES: [std::sync::atomic::AtomicU8; 100_000] =
    [const { std::sync::atomic::AtomicU8::new(0) }; 100_000];

/// The fast path of [`E164::parse`] for `+33` or `0` followed by nine digits, the first
/// not 0; `None` for any other text.
///
/// In libphonenumber's metadata for France every pattern of a valid number is a prefix
/// of at most five digits (`836` then two) followed by `\d{n}`, and every valid number
/// has nine digits. So whether a nine-digit national number is valid depends on its
/// first five digits only: libphonenumber is asked once per five-digit prefix (with
/// `0000` after it) and its answer kept. The test `french_fast_path_agrees` checks the
/// two paths against each other.
fn french_compact(text: &str) -> Option<Result<E164, PhoneError>> {
    let nsn = match text.as_bytes() {
        [b'+', b'3', b'3', rest @ ..] | [b'0', rest @ ..] => rest,
        _ => return None,
    };
    if nsn.len() != 9 || nsn[0] == b'0' || !nsn.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let prefix = nsn[..5].iter().fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    let known = &FRENCH_PREFIXES[prefix];
    let valid = match known.load(std::sync::atomic::Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let sample = format!("+33{}0000", std::str::from_utf8(&nsn[..5]).ok()?);
            let valid = E164::parse_slow(&sample).is_ok();
            known.store(if valid { 1 } else { 2 }, std::sync::atomic::Ordering::Relaxed);
            valid
        }
    };
    let nsn = std::str::from_utf8(nsn).ok()?;
    Some(if valid { Ok(E164(format!("+33{nsn}"))) } else { Err(PhoneError::Invalid) })
}

/// The geographic-looking blocks that ARCEP reserves for verified polyvalent numbers
/// (NPV, décision 2022-1583), as national significant number prefixes.
const NPV_GEOGRAPHIC: [&str; 10] = ["162", "163", "270", "271", "377", "378", "424", "425", "568", "569"];

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// ARCEP category of a French number (the plan's ranges that matter for presentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberCategory {
    /// 01 to 05: geographic, with its zone (1 Île-de-France … 5 South-West).
    Geographic {
        /// The zone digit, 1 to 5.
        zone: u8,
    },
    /// 09 other than the ranges below: non-geographic "polyvalent" numbers.
    NonGeographic,
    /// 0937, 0938, 0939: polyvalent numbers for exchanges with a technical platform.
    PlatformPolyvalent,
    /// Verified polyvalent numbers (NPV) for automated calling: 0162, 0163, 0270, 0271,
    /// 0377, 0378, 0424, 0425, 0568, 0569, 0948, 0949, 09475 to 09479.
    VerifiedPolyvalent {
        /// The geographic zone the block sits in, if any.
        zone: Option<u8>,
    },
    /// 06 and 07: mobile numbers, never presented by a call centre.
    Mobile,
    /// 08 except 089: special-rate service numbers.
    Special,
    /// 089: premium-rate numbers, barred from presentation.
    Premium,
    /// Any number outside the French plan.
    Foreign,
}

impl NumberCategory {
    /// The geographic zone (1 to 5) of the number, if it has one.
    pub fn zone(self) -> Option<u8> {
        match self {
            NumberCategory::Geographic { zone } => Some(zone),
            NumberCategory::VerifiedPolyvalent { zone } => zone,
            _ => None,
        }
    }

    /// Whether a call centre may present this number at all.
    pub fn presentable(self) -> Result<(), &'static str> {
        match self {
            NumberCategory::Mobile => Err("mobile numbers (06, 07) are never presented by a call centre"),
            NumberCategory::Premium => Err("089 premium-rate numbers are barred from presentation"),
            NumberCategory::Foreign => Err("only numbers of the French plan may be presented"),
            _ => Ok(()),
        }
    }

    /// A stable name for storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberCategory::Geographic { .. } => "geographic",
            NumberCategory::NonGeographic => "non_geographic",
            NumberCategory::PlatformPolyvalent => "platform_polyvalent",
            NumberCategory::VerifiedPolyvalent { .. } => "verified_polyvalent",
            NumberCategory::Mobile => "mobile",
            NumberCategory::Special => "special",
            NumberCategory::Premium => "premium",
            NumberCategory::Foreign => "foreign",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(s: &str) -> NumberCategory {
        E164::parse(s).expect("valid").category()
    }

    #[test]
    fn parses_national_and_e164_forms() {
        assert_eq!(E164::parse("01 42 68 53 00").map(|e| e.0), Ok("+33142685300".into()));
        assert_eq!(E164::parse("+33142685300").map(|e| e.national()), Ok("0142685300".into()));
        assert_eq!(E164::parse("hello"), Err(PhoneError::Unparsable));
        for written in
            ["+1-800-FLOWERS", "+33142685300 x12", "+33142685300\0", "tel:+33142685300", "０１４２６８５３００"]
        {
            assert_eq!(E164::parse(written), Err(PhoneError::Unparsable), "{written:?}");
        }
        assert_eq!(E164::parse("+3312"), Err(PhoneError::Invalid));
    }

    proptest::proptest! {
        /// The fast path for compact French numbers answers as libphonenumber does,
        /// for every kind of national number (all first digits, both written forms).
        #[test]
        fn french_fast_path_agrees(nsn in 0u32..1_000_000_000, national in proptest::bool::ANY) {
            let nsn = format!("{nsn:09}");
            let text = if national { format!("0{nsn}") } else { format!("+33{nsn}") };
            proptest::prop_assert_eq!(E164::parse(&text), E164::parse_slow(&text), "{}", text);
        }
    }

    #[test]
    fn french_fast_path_agrees_on_every_five_digit_prefix() {
        // Every prefix once, with a tail that is not the sample's 0000.
        for prefix in 10_000..100_000u32 {
            let text = format!("+33{prefix}7319");
            assert_eq!(E164::parse(&text), E164::parse_slow(&text), "{text}");
        }
    }

    #[test]
    fn knows_the_arcep_ranges() {
        assert_eq!(cat("0142685300"), NumberCategory::Geographic { zone: 1 });
        assert_eq!(cat("0472000000"), NumberCategory::Geographic { zone: 4 });
        assert_eq!(cat("0162000000"), NumberCategory::VerifiedPolyvalent { zone: Some(1) });
        assert_eq!(cat("0948000000"), NumberCategory::VerifiedPolyvalent { zone: None });
        assert_eq!(cat("0947700000"), NumberCategory::VerifiedPolyvalent { zone: None });
        assert_eq!(cat("0938000000"), NumberCategory::PlatformPolyvalent);
        assert_eq!(cat("0987000000"), NumberCategory::NonGeographic);
        assert_eq!(cat("0612345678"), NumberCategory::Mobile);
        assert_eq!(cat("0812345678"), NumberCategory::Special);
        assert_eq!(cat("+4930123456"), NumberCategory::Foreign);
        assert!(cat("0612345678").presentable().is_err());
    }
}
