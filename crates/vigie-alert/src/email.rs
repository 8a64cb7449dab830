//! The e-mail channel: one message per notification to a configured list, through an
//! SMTP relay (lettre), in clear, with STARTTLS or with implicit TLS (rustls, Mozilla's
//! roots plus an optional CA of the relay's own), optionally with AUTH PLAIN or LOGIN.
//!
//! The message is the text body alone, or `multipart/alternative` text and HTML; with
//! attachments, that body and the files inside a `multipart/mixed`. Its `Message-ID`
//! is built from the notification's id, so a retried notification keeps it.

use std::fmt;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment as MailAttachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::channel::{BoxFuture, Channel, ConfigError, DeliveryError, Notification};

/// Most recipients of one channel.
pub const RECIPIENTS_MAX: usize = 100;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// In clear: only for a relay on the same host or network. No credentials are
    /// sent this way.
    None,
    /// In clear, then upgraded with `STARTTLS` (usually port 587); refused if the
    /// relay does not offer it.
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

/// A login on the relay.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    /// The user name.
    pub username: String,
    /// The password; never printed.
    pub password: String,
}

impl fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpCredentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// How to reach one relay, and who the messages go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailConfig {
    /// The channel's name, in logs and errors.
    pub name: String,
    /// The relay's host name (also the name its TLS certificate must hold) or address.
    pub host: String,
    /// The relay's port.
    pub port: u16,
    /// How the connection is protected.
    pub security: SmtpSecurity,
    /// A login, if the relay wants one (AUTH PLAIN or LOGIN, whichever it offers);
    /// needs `StartTls` or `Tls`.
    pub credentials: Option<SmtpCredentials>,
    /// The sender, `Vigie <vigie@example.fr>` or a bare address.
    pub from: String,
    /// The recipients, in the same forms (1 to [`RECIPIENTS_MAX`]).
    pub to: Vec<String>,
    /// A CA certificate in PEM trusted beside Mozilla's roots: a private relay's own,
    /// or a test's.
    pub root_ca_pem: Option<String>,
    /// Longest wait for one delivery, from connecting to the relay's last reply.
    /// Default: 60 s. A relay that stops answering after the message was sent may
    /// still deliver it, so a retry can bring a duplicate, with the same `Message-ID`.
    pub timeout: Duration,
}

impl EmailConfig {
    /// A configuration with the defaults: STARTTLS on port 587, no login, no extra CA.
    pub fn new(name: &str, host: &str, from: &str, to: &[&str]) -> EmailConfig {
        EmailConfig {
            name: name.to_owned(),
            host: host.to_owned(),
            port: 587,
            security: SmtpSecurity::StartTls,
            credentials: None,
            from: from.to_owned(),
            to: to.iter().map(|&t| t.to_owned()).collect(),
            root_ca_pem: None,
            timeout: Duration::from_secs(60),
        }
    }
}

/// An e-mail relay, ready to deliver.
pub struct EmailChannel {
    name: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    timeout: Duration,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailChannel")
            .field("name", &self.name)
            .field("from", &self.from.to_string())
            .field("to", &self.to.len())
            .finish_non_exhaustive()
    }
}

impl EmailChannel {
    /// Builds the channel, refusing an empty name or host, port 0, an address that is
    /// not one, no recipient or too many, credentials without TLS, a CA that is not
    /// PEM, or a timeout out of bounds. It does not connect: the relay is first
    /// reached by the first delivery.
    pub fn new(config: EmailConfig) -> Result<EmailChannel, ConfigError> {
        let name = config.name.clone();
        let err = |field, rule: &str| ConfigError::new(&name, field, rule);
        if name.trim().is_empty() {
            return Err(err("name", "must not be empty"));
        }
        if config.host.trim().is_empty() {
            return Err(err("host", "must not be empty"));
        }
        if config.port == 0 {
            return Err(err("port", "must not be 0"));
        }
        let from: Mailbox = config.from.parse().map_err(|e| err("from", &format!("not an address: {e}")))?;
        if config.to.is_empty() || config.to.len() > RECIPIENTS_MAX {
            return Err(err("to", &format!("must hold 1 to {RECIPIENTS_MAX} addresses")));
        }
        let to = config
            .to
            .iter()
            .map(|t| t.parse::<Mailbox>().map_err(|e| err("to", &format!("`{t}` is not an address: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if config.timeout.is_zero() || config.timeout > Duration::from_secs(300) {
            return Err(err("timeout", "must be between 1 ms and 5 minutes"));
        }
        let tls = if config.security == SmtpSecurity::None {
            if config.credentials.is_some() {
                return Err(err("credentials", "need starttls or tls security: a password is never sent in clear"));
            }
            Tls::None
        } else {
            let mut parameters = TlsParameters::builder(config.host.clone());
            if let Some(pem) = &config.root_ca_pem {
                // lettre takes a PEM without any certificate in it: read it here.
                let not_pem = |rule: String| err("root_ca_pem", &format!("not a PEM certificate: {rule}"));
                let ders = CertificateDer::pem_slice_iter(pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| not_pem(e.to_string()))?;
                if ders.is_empty() {
                    return Err(not_pem("no `BEGIN CERTIFICATE` block".to_owned()));
                }
                for der in ders {
                    let ca = Certificate::from_der(der.to_vec()).map_err(|e| not_pem(e.to_string()))?;
                    parameters = parameters.add_root_certificate(ca);
                }
            }
            let parameters = parameters.build_rustls().map_err(|e| err("host", &format!("no TLS settings: {e}")))?;
            match config.security {
                SmtpSecurity::StartTls => Tls::Required(parameters),
                _ => Tls::Wrapper(parameters),
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some(credentials) = &config.credentials {
            builder = builder
                .credentials(Credentials::new(credentials.username.clone(), credentials.password.clone()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(EmailChannel { name, from, to, timeout: config.timeout, transport: builder.build() })
    }

    /// The message of a notification, or why it cannot be one (an attachment's
    /// content type that is not a MIME type).
    fn message(&self, notification: &Notification) -> Result<Message, DeliveryError> {
        let permanent = |reason: String| DeliveryError::permanent(&self.name, reason);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(notification.subject.as_str())
            .message_id(Some(format!("<{}@{}>", message_id_part(&notification.id), self.from.email.domain())));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let text = SinglePart::plain(notification.text.clone());
        let body = notification
            .html
            .as_ref()
            .map(|html| MultiPart::alternative().singlepart(text.clone()).singlepart(SinglePart::html(html.clone())));
        let message = if notification.attachments.is_empty() {
            match body {
                Some(alternative) => builder.multipart(alternative),
                None => builder.singlepart(text),
            }
        } else {
            let mut mixed = match body {
                Some(alternative) => MultiPart::mixed().multipart(alternative),
                None => MultiPart::mixed().singlepart(text),
            };
            for attachment in &notification.attachments {
                let content_type = ContentType::parse(&attachment.content_type).map_err(|_| {
                    permanent(format!(
                        "attachment `{}`: `{}` is not a MIME type",
                        attachment.filename, attachment.content_type
                    ))
                })?;
                mixed = mixed.singlepart(
                    MailAttachment::new(attachment.filename.clone()).body(attachment.bytes.clone(), content_type),
                );
            }
            builder.multipart(mixed)
        };
        message.map_err(|e| permanent(format!("cannot build the message: {e}")))
    }

    async fn send(&self, notification: &Notification) -> Result<(), DeliveryError> {
        let message = self.message(notification)?;
        // lettre's own timeout bounds the connection only, not the relay's replies.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(sent) => sent.map(drop).map_err(|e| classify(&self.name, &e)),
            Err(_) => Err(DeliveryError::transient(&self.name, format!("no answer within {:?}", self.timeout))),
        }
    }
}

impl Channel for EmailChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, notification: &'a Notification) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.send(notification))
    }
}

/// The left part of a `Message-ID`: the notification's id, with what an address's
/// local part may not hold replaced.
fn message_id_part(id: &str) -> String {
    let part: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.+=".contains(c) { c } else { '_' }).collect();
    if part.is_empty() { "vigie".to_owned() } else { part }
}

/// Whether an SMTP error may pass if tried again. lettre's messages hold the relay's
/// replies and network errors, never the credentials.
fn classify(channel: &str, error: &lettre::transport::smtp::Error) -> DeliveryError {
    if let Some(code) = error.status() {
        let code_text = code.to_string();
        // 530 authentication required, 534 mechanism too weak, 535 credentials
        // invalid, 538 encryption required: the login must change.
        if ["530", "534", "535", "538"].contains(&code_text.as_str()) {
            return DeliveryError::permanent(channel, format!("authentication refused by the relay: {error}"));
        }
        return if error.is_transient() {
            DeliveryError::transient(channel, error.to_string())
        } else {
            DeliveryError::permanent(channel, error.to_string())
        };
    }
    if error.is_client() {
        // The relay offers no mechanism lettre knows (or none at all, as before TLS).
        return DeliveryError::permanent(channel, format!("authentication impossible: {error}"));
    }
    if let Some(rustls_error) = rustls_cause(error) {
        let reason = format!("TLS refused: {rustls_error}");
        return if matches!(rustls_error, rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        {
            DeliveryError::permanent(channel, format!("{reason} (is root_ca_pem set for a private CA?)"))
        } else {
            DeliveryError::transient(channel, reason)
        };
    }
    if error.is_timeout() {
        return DeliveryError::transient(channel, format!("timed out: {error}"));
    }
    // Connection refused or reset, an unreadable reply, a TLS failure lettre could
    // not name: the relay may be back later.
    DeliveryError::transient(channel, error.to_string())
}

/// The rustls error inside an SMTP error (tokio-rustls carries it in an `io::Error`).
fn rustls_cause(error: &lettre::transport::smtp::Error) -> Option<&rustls::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(found) = e.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(found) =
            e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|inner| inner.downcast_ref())
        {
            return Some(found);
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_configuration_is_refused_with_its_field() {
        let ok = EmailConfig::new("mail", "smtp.example.fr", "Vigie <vigie@example.fr>", &["ops@example.fr"]);
        assert!(EmailChannel::new(ok.clone()).is_ok());
        let login = Some(SmtpCredentials { username: "vigie".into(), password: "pa55".into() });
        let cases = [
            (EmailConfig { from: "not an address".into(), ..ok.clone() }, "mail: from: not an address"),
            (EmailConfig { to: Vec::new(), ..ok.clone() }, "mail: to: must hold 1 to 100 addresses"),
            (EmailConfig { to: vec!["x@".into()], ..ok.clone() }, "mail: to: `x@` is not an address"),
            (EmailConfig { port: 0, ..ok.clone() }, "mail: port: must not be 0"),
            (
                EmailConfig { security: SmtpSecurity::None, credentials: login.clone(), ..ok.clone() },
                "mail: credentials: need starttls or tls security",
            ),
            (
                EmailConfig { root_ca_pem: Some("junk".into()), ..ok.clone() },
                "mail: root_ca_pem: not a PEM certificate",
            ),
        ];
        for (config, expected) in cases {
            match EmailChannel::new(config) {
                Err(e) => assert!(e.to_string().starts_with(expected), "{e} should start with {expected}"),
                Ok(_) => panic!("accepted, expected {expected}"),
            }
        }
        let debug = format!("{:?}", EmailConfig { credentials: login, ..ok });
        assert!(!debug.contains("pa55"), "{debug}");
    }

    #[test]
    fn a_message_id_keeps_only_safe_characters() {
        assert_eq!(message_id_part("alert-42.7"), "alert-42.7");
        assert_eq!(message_id_part("a b<c>@d"), "a_b_c__d");
        assert_eq!(message_id_part(""), "vigie");
    }
}
