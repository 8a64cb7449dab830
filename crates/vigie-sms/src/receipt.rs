//! Delivery receipts as SMSCs write them: the de-facto text format of SMPP 3.4
//! (`id:… sub:… dlvrd:… submit date:… done date:… stat:DELIVRD err:… text:…`) and the
//! states it names.

use vigie_core::SmsStatus;

/// The fields of a receipt's text that matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptText {
    /// The message id the receipt is about.
    pub id: String,
    /// The state, such as `DELIVRD`.
    pub stat: String,
    /// The error code, if any.
    pub err: Option<String>,
}

/// Reads `key:value` from a receipt's text, keys matched whole and case-insensitively;
/// the value runs to the next space.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let lower = text.to_ascii_lowercase();
    let needle = format!("{key}:");
    let mut from = 0;
    while let Some(found) = lower[from..].find(&needle) {
        let at = from + found;
        // A whole key: at the start or after a space (`id:` must not match `msgid:`).
        if at == 0 || lower.as_bytes()[at - 1] == b' ' {
            let value = &text[at + needle.len()..];
            let end = value.find(' ').unwrap_or(value.len());
            return Some(&value[..end]);
        }
        from = at + needle.len();
    }
    None
}

/// Parses a receipt's text; `None` when it has no `id:` or no `stat:`.
pub fn parse_receipt_text(text: &str) -> Option<ReceiptText> {
    let id = field(text, "id").filter(|v| !v.is_empty())?;
    let stat = field(text, "stat").filter(|v| !v.is_empty())?;
    let err = field(text, "err").filter(|v| !v.is_empty()).map(str::to_owned);
    Some(ReceiptText { id: id.to_owned(), stat: stat.to_ascii_uppercase(), err })
}

/// The status a receipt state means: `DELIVRD` delivered; `EXPIRED` expired;
/// `UNDELIV`, `REJECTD`, `DELETED`, `UNKNOWN` and `SKIPPED` failed; `ENROUTE`,
/// `ACCEPTD` and `SCHEDULED` still submitted (intermediate). `None` for a word no
/// SMSC uses.
pub fn receipt_status(stat: &str) -> Option<SmsStatus> {
    let status = match stat.to_ascii_uppercase().as_str() {
        "DELIVRD" | "DELIVERED" => SmsStatus::Delivered,
        "EXPIRED" => SmsStatus::Expired,
        "UNDELIV" | "UNDELIVERABLE" | "REJECTD" | "REJECTED" | "DELETED" | "UNKNOWN" | "SKIPPED" => SmsStatus::Failed,
        "ENROUTE" | "ACCEPTD" | "ACCEPTED" | "SCHEDULED" => SmsStatus::Submitted,
        _ => return None,
    };
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_texts() {
        let text = "id:smsc-12 sub:001 dlvrd:001 submit date:2603121414 done date:2603121415 stat:DELIVRD err:000 text:Bonjour";
        assert_eq!(
            parse_receipt_text(text),
            Some(ReceiptText { id: "smsc-12".into(), stat: "DELIVRD".into(), err: Some("000".into()) })
        );
        let upper = "ID:0A1B2C SUB:001 DLVRD:000 SUBMIT DATE:2603121414 DONE DATE:2603121415 STAT:undeliv ERR:034";
        assert_eq!(
            parse_receipt_text(upper),
            Some(ReceiptText { id: "0A1B2C".into(), stat: "UNDELIV".into(), err: Some("034".into()) })
        );
        // `msgid:` is not `id:`; a receipt without id or stat is not one.
        assert_eq!(parse_receipt_text("msgid:9 stat:DELIVRD"), None);
        assert_eq!(parse_receipt_text("msgid:9 id:7 stat:EXPIRED").map(|r| r.id), Some("7".into()));
        assert_eq!(parse_receipt_text("id:7 sub:001"), None);
        assert_eq!(parse_receipt_text("STOP"), None);
        assert_eq!(parse_receipt_text(""), None);
    }

    #[test]
    fn states() {
        let cases = [
            ("DELIVRD", Some(SmsStatus::Delivered)),
            ("delivrd", Some(SmsStatus::Delivered)),
            ("EXPIRED", Some(SmsStatus::Expired)),
            ("UNDELIV", Some(SmsStatus::Failed)),
            ("REJECTD", Some(SmsStatus::Failed)),
            ("DELETED", Some(SmsStatus::Failed)),
            ("UNKNOWN", Some(SmsStatus::Failed)),
            ("ENROUTE", Some(SmsStatus::Submitted)),
            ("ACCEPTD", Some(SmsStatus::Submitted)),
            ("WHATEVER", None),
        ];
        for (stat, status) in cases {
            assert_eq!(receipt_status(stat), status, "{stat}");
        }
    }
}
