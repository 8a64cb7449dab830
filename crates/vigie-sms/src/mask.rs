//! Patients' numbers as they may appear in logs: masked, never in clear.

use vigie_core::E164;

/// A number with all but its first and last two digits hidden: `+33 6 ** ** ** 78` for
/// a French number, `+32 ** ** 22` for a foreign one. Enough to tell two SMS apart in
/// a log, not enough to call the patient.
pub fn mask_phone(number: &E164) -> String {
    let text = number.as_str();
    if let Some(nsn) = text.strip_prefix("+33")
        && nsn.len() == 9
    {
        return format!("+33 {} ** ** ** {}", &nsn[..1], &nsn[7..]);
    }
    let digits = text.trim_start_matches('+');
    if digits.len() < 6 {
        return "+** ** **".to_owned();
    }
    format!("+{} ** ** {}", &digits[..2], &digits[digits.len() - 2..])
}

/// A number given by a provider as text, masked the same way whether or not it
/// parses; used when a reply's sender cannot be read as a number.
pub(crate) fn mask_raw(text: &str) -> String {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 {
        return "** ** **".to_owned();
    }
    format!("{} ** ** {}", &digits[..2], &digits[digits.len() - 2..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_masked() {
        let cases = [
            ("+33612345678", "+33 6 ** ** ** 78"),
            ("+33478200001", "+33 4 ** ** ** 01"),
            ("+3222222222", "+32 ** ** 22"),
            ("+262692123456", "+26 ** ** 56"),
        ];
        for (number, masked) in cases {
            let e164 = E164::parse(number).expect("number");
            let shown = mask_phone(&e164);
            assert_eq!(shown, masked);
            // Never more than four digits of the number in the masked form.
            assert!(shown.chars().filter(char::is_ascii_digit).count() <= 5, "{shown}");
        }
        assert_eq!(mask_raw("33612345678"), "33 ** ** 78");
        assert_eq!(mask_raw("123"), "** ** **");
    }
}
