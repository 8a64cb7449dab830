//! vigie-sms's integration tests: the SMPP provider against a real third-party SMSC
//! (node-smpp, scripted), the HTTP provider and its webhook against a local axum
//! server, the log provider, and failover.

mod failover;
mod http;
mod log;
mod smpp;
mod smsc;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use vigie_core::{E164, SenderId, SmsSender};
use vigie_sms::{LOG_FILTER_DIRECTIVES, SmsEvent, SmsMessage};

/// The patient's number used throughout; it must never appear in a log.
pub(crate) const PATIENT: &str = "+33612345678";

pub(crate) fn message(reference: &str, text: &str) -> SmsMessage {
    SmsMessage {
        reference: reference.to_owned(),
        to: E164::parse(PATIENT).expect("number"),
        sender: SmsSender::Alphanumeric(SenderId::parse("CliniqueSJ").expect("sender")),
        text: text.to_owned(),
        expires_at: None,
    }
}

/// The next provider event, at most 15 seconds away.
pub(crate) async fn next_event(events: &mut mpsc::Receiver<SmsEvent>) -> SmsEvent {
    tokio::time::timeout(Duration::from_secs(15), events.recv())
        .await
        .expect("an event within 15 s")
        .expect("the event channel is open")
}

/// Everything logged on this thread while the guard lives, at every level except
/// what [`LOG_FILTER_DIRECTIVES`] silences (as the binary will configure it).
#[derive(Clone, Default)]
pub(crate) struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> CaptureWriter {
        CaptureWriter(Arc::clone(&self.0))
    }
}

impl CapturedLogs {
    /// Captures this thread's logs (tests run on a current-thread runtime, so the
    /// providers' tasks log here too) until the guard is dropped.
    pub(crate) fn start() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
        let logs = CapturedLogs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(format!("trace,{LOG_FILTER_DIRECTIVES}")))
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }

    /// Asserts that the patient's number appears only masked.
    pub(crate) fn assert_no_phone_in_clear(&self) {
        let text = self.text();
        assert!(!text.is_empty(), "nothing was logged");
        for clear in ["612345678", "6 12 34 56 78", "06 12", "0612345678"] {
            assert!(!text.contains(clear), "the patient's number is in the logs ({clear}):\n{text}");
        }
    }
}
