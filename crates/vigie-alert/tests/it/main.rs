//! vigie-alert's integration tests, against real peers: the webhook against an axum
//! server started in the test, the e-mail channel against aiosmtpd (a real SMTP
//! server, `tests/smtpd/server.py`) in clear, with STARTTLS and with implicit TLS,
//! with certificates made by the test.

mod email;
mod smtpd;
mod webhook;

use serde_json::json;
use vigie_alert::{Attachment, Notification};

/// A notification like the ones Vigie sends, with French text and an attachment.
pub(crate) fn notification(id: &str) -> Notification {
    Notification {
        id: id.to_owned(),
        subject: "Numéro mis en quarantaine : +33 9 70 00 00 01".to_owned(),
        text: "Numéro mis en quarantaine après 2 signalements.\nPool : rappels-cardiologie.\n".to_owned(),
        html: Some("<p>Numéro mis en <b>quarantaine</b> après 2 signalements.</p>".to_owned()),
        json: json!({
            "kind": "number_quarantined",
            "number": "+33970000001",
            "pool": "rappels-cardiologie",
            "reports": 2,
            "message": "Numéro mis en quarantaine",
        }),
        attachments: vec![Attachment {
            filename: "rapport-semaine-14.csv".to_owned(),
            content_type: "text/csv; charset=utf-8".to_owned(),
            bytes: "numéro;appels\n+33970000001;118\n".as_bytes().to_vec(),
        }],
    }
}
