//! The e-mail channel against aiosmtpd: in clear, STARTTLS with a login, implicit TLS;
//! what the relay received, parsed back; and the failures a relay can answer.

use std::time::Duration;

use mailparse::{DispositionType, MailHeaderMap, ParsedMail};
use vigie_alert::{Channel, EmailChannel, EmailConfig, SmtpCredentials, SmtpSecurity};

use crate::notification;
use crate::smtpd::{Mode, Smtpd, TestCa};

const USER: &str = "vigie";
const PASSWORD: &str = "Mot-de-passe-5ecret";

fn config(port: u16, security: SmtpSecurity, ca: Option<&TestCa>, password: Option<&str>) -> EmailConfig {
    let mut config = EmailConfig::new(
        "ops-mail",
        "localhost",
        "Vigie <vigie@vigie.test>",
        &["astreinte@clinique.test", "Direction <direction@clinique.test>"],
    );
    config.port = port;
    config.security = security;
    config.root_ca_pem = ca.map(|ca| ca.ca_pem.clone());
    config.credentials =
        password.map(|password| SmtpCredentials { username: USER.to_owned(), password: password.to_owned() });
    config.timeout = Duration::from_secs(10);
    config
}

fn header(mail: &ParsedMail<'_>, name: &str) -> String {
    mail.headers.get_first_value(name).unwrap_or_else(|| panic!("no {name} header"))
}

/// A part's decoded text, with the line ends the sender wrote.
fn text(part: &ParsedMail<'_>) -> String {
    part.get_body().expect("decodable body").replace("\r\n", "\n")
}

/// Checks the one message the server received: headers, the text and HTML bodies,
/// and the attachment, French accents included.
fn check_full_message(smtpd: &Smtpd) {
    let messages = smtpd.messages();
    assert_eq!(messages.len(), 1);
    let n = notification("alert-42");
    let mail = mailparse::parse_mail(&messages[0]).expect("a MIME message");
    assert_eq!(header(&mail, "Subject"), n.subject);
    assert!(header(&mail, "From").contains("vigie@vigie.test"));
    let to = header(&mail, "To");
    assert!(to.contains("astreinte@clinique.test") && to.contains("direction@clinique.test"), "{to}");
    assert_eq!(header(&mail, "Message-ID"), "<alert-42@vigie.test>");

    assert_eq!(mail.ctype.mimetype, "multipart/mixed");
    assert_eq!(mail.subparts.len(), 2);
    let alternative = &mail.subparts[0];
    assert_eq!(alternative.ctype.mimetype, "multipart/alternative");
    let kinds: Vec<&str> = alternative.subparts.iter().map(|p| p.ctype.mimetype.as_str()).collect();
    assert_eq!(kinds, ["text/plain", "text/html"]);
    assert_eq!(text(&alternative.subparts[0]), n.text);
    assert_eq!(text(&alternative.subparts[1]), n.html.clone().expect("html"));
    assert!(text(&alternative.subparts[0]).contains("Numéro mis en quarantaine"));

    let attachment = &mail.subparts[1];
    let disposition = attachment.get_content_disposition();
    assert_eq!(disposition.disposition, DispositionType::Attachment);
    assert_eq!(disposition.params.get("filename").map(String::as_str), Some("rapport-semaine-14.csv"));
    assert_eq!(attachment.ctype.mimetype, "text/csv");
    assert_eq!(attachment.get_body_raw().expect("attachment"), n.attachments[0].bytes);
}

#[tokio::test]
async fn a_message_in_clear_carries_text_html_and_attachment() {
    let smtpd = Smtpd::start(Mode::Plain, None, None).await;
    let channel = EmailChannel::new(config(smtpd.port, SmtpSecurity::None, None, None)).expect("config");
    channel.deliver(&notification("alert-42")).await.expect("delivered");
    check_full_message(&smtpd);
}

#[tokio::test]
async fn starttls_with_a_login_delivers() {
    let ca = TestCa::new();
    let smtpd = Smtpd::start(Mode::StartTls, Some(&ca), Some((USER, PASSWORD))).await;
    let channel =
        EmailChannel::new(config(smtpd.port, SmtpSecurity::StartTls, Some(&ca), Some(PASSWORD))).expect("config");
    channel.deliver(&notification("alert-42")).await.expect("delivered");
    check_full_message(&smtpd);

    // Text alone: a single text/plain part.
    let mut plain = notification("alert-43");
    plain.html = None;
    plain.attachments.clear();
    channel.deliver(&plain).await.expect("delivered");
    let messages = smtpd.messages();
    assert_eq!(messages.len(), 2);
    let mail = mailparse::parse_mail(&messages[1]).expect("a MIME message");
    assert_eq!(mail.ctype.mimetype, "text/plain");
    assert_eq!(mail.ctype.charset, "utf-8");
    // SMTP ends the message on a line of its own, which adds line ends to a
    // single-part body.
    assert_eq!(text(&mail).trim_end(), plain.text.trim_end());
}

#[tokio::test]
async fn implicit_tls_with_a_login_delivers() {
    let ca = TestCa::new();
    let smtpd = Smtpd::start(Mode::Tls, Some(&ca), Some((USER, PASSWORD))).await;
    let channel = EmailChannel::new(config(smtpd.port, SmtpSecurity::Tls, Some(&ca), Some(PASSWORD))).expect("config");
    channel.deliver(&notification("alert-42")).await.expect("delivered");
    check_full_message(&smtpd);
}

#[tokio::test]
async fn a_wrong_password_is_permanent_and_not_shown() {
    let ca = TestCa::new();
    let smtpd = Smtpd::start(Mode::StartTls, Some(&ca), Some((USER, PASSWORD))).await;
    let wrong = "Mauvais-mot-de-passe";
    let channel =
        EmailChannel::new(config(smtpd.port, SmtpSecurity::StartTls, Some(&ca), Some(wrong))).expect("config");
    let error = channel.deliver(&notification("alert-44")).await.expect_err("refused");
    assert!(!error.is_transient(), "{error}");
    let text = error.to_string();
    assert!(text.contains("authentication"), "{text}");
    assert!(!text.contains(wrong) && !text.contains(PASSWORD), "{text}");
    assert!(smtpd.messages().is_empty());
}

#[tokio::test]
async fn an_untrusted_certificate_is_permanent() {
    let ca = TestCa::new();
    let smtpd = Smtpd::start(Mode::Tls, Some(&ca), None).await;
    // Mozilla's roots only: the test CA is unknown.
    let channel = EmailChannel::new(config(smtpd.port, SmtpSecurity::Tls, None, None)).expect("config");
    let error = channel.deliver(&notification("alert-45")).await.expect_err("refused");
    assert!(!error.is_transient(), "{error}");
    assert!(error.to_string().contains("certificate"), "{error}");
}

#[tokio::test]
async fn a_relay_that_is_down_is_transient() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
    let channel = EmailChannel::new(config(port, SmtpSecurity::None, None, None)).expect("config");
    let error = channel.deliver(&notification("alert-46")).await.expect_err("refused");
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().starts_with("ops-mail: not delivered, may be retried: "), "{error}");
}

#[tokio::test]
async fn a_relay_that_never_answers_is_transient_within_the_timeout() {
    // A peer that accepts the connection and says nothing, not even its greeting.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let silent = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.expect("accept");
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(socket);
    });
    let mut config = config(port, SmtpSecurity::None, None, None);
    config.timeout = Duration::from_millis(300);
    let channel = EmailChannel::new(config).expect("config");
    let error = channel.deliver(&notification("alert-47")).await.expect_err("no answer");
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("no answer within 300ms"), "{error}");
    silent.abort();
}
