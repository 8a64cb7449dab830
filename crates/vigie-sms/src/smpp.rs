//! The SMPP 3.4 provider, on the rusmpp codec and the rusmppc client: a transceiver
//! session kept bound by a supervisor task (reconnection with exponential back-off,
//! enquire_link keep-alive), `submit_sm` with registered delivery, long messages as
//! concatenated segments with a user data header, a window of outstanding submits,
//! a rate limit, and `deliver_sm` read as delivery receipts or patients' replies.
//!
//! rusmppc runs one connection (PDU framing, sequence numbers, responses, enquire_link
//! timers); it does not reconnect, bound outstanding requests, limit the rate, split
//! long messages or read receipts. Those are here.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use rusmpp::pdus::{BindTransceiver, DeliverSm, DeliverSmResp, SubmitSm};
use rusmpp::tlvs::TlvValue;
use rusmpp::types::{COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, InterfaceVersion, MessageState, Npi, RegisteredDelivery, ServiceType, Ton};
use rusmpp::{CommandStatus, Pdu};
use rusmppc::error::Error as SmppError;
use rusmppc::{Client, ConnectionBuilder, Event};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use vigie_core::{E164, SMS_SEGMENTS_MAX, SmsSender, SmsStatus, decode_sms, encode_sms, is_stop_reply};

use crate::mask::{mask_phone, mask_raw};
use crate::provider::{
    BoxFuture, ConfigError, DeliveryReceipt, EventSender, Health, PatientReply, SmsEvent, SmsMessage, SmsProvider,
    Submission, SubmitError,
};
use crate::rate::RateLimiter;
use crate::receipt::{parse_receipt_text, receipt_status};

/// How to reach and use one SMSC.
#[derive(Clone)]
pub struct SmppConfig {
    /// The provider's name, in logs, events and submissions.
    pub name: String,
    /// The SMSC's `host:port`.
    pub address: String,
    /// The account (`system_id`, at most 15 characters).
    pub system_id: String,
    /// Its password (at most 8 characters); never printed.
    pub password: String,
    /// The `system_type` the SMSC expects, often empty (at most 12 characters).
    pub system_type: String,
    /// Most `submit_sm` waiting for their response at once. Default: 10.
    pub window: usize,
    /// Most `submit_sm` a second (each segment counts). Default: 50.
    pub messages_per_second: u32,
    /// Whether to ask for delivery receipts. Default: true.
    pub registered_delivery: bool,
    /// How often an idle session sends `enquire_link`. Default: 30 s.
    pub enquire_link_interval: Duration,
    /// Longest wait for any response, `enquire_link_resp` included. Default: 10 s.
    pub response_timeout: Duration,
    /// Longest wait for the TCP connection and the bind. Default: 10 s.
    pub connect_timeout: Duration,
    /// First wait before reconnecting; doubled after each failure. Default: 500 ms.
    pub reconnect_delay_min: Duration,
    /// Longest wait before reconnecting. Default: 60 s.
    pub reconnect_delay_max: Duration,
    /// First wait after an SMSC's throttling error (ESME_RTHROTTLED, ESME_RMSGQFUL)
    /// before trying the segment again; doubled each time. Default: 1 s.
    pub throttle_delay: Duration,
    /// Most retries of a throttled segment before giving up (not sent). Default: 3.
    pub throttle_retries_max: u32,
    /// Longest a submission waits for a place in the window. Default: 30 s.
    pub queue_timeout: Duration,
}

impl fmt::Debug for SmppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmppConfig")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("system_id", &self.system_id)
            .field("password", &"<secret>")
            .field("system_type", &self.system_type)
            .field("window", &self.window)
            .field("messages_per_second", &self.messages_per_second)
            .field("registered_delivery", &self.registered_delivery)
            .finish_non_exhaustive()
    }
}

impl SmppConfig {
    /// A configuration with the defaults, for an SMSC at `address` (`host:port`).
    pub fn new(name: &str, address: &str, system_id: &str, password: &str) -> SmppConfig {
        SmppConfig {
            name: name.to_owned(),
            address: address.to_owned(),
            system_id: system_id.to_owned(),
            password: password.to_owned(),
            system_type: String::new(),
            window: 10,
            messages_per_second: 50,
            registered_delivery: true,
            enquire_link_interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            reconnect_delay_min: Duration::from_millis(500),
            reconnect_delay_max: Duration::from_secs(60),
            throttle_delay: Duration::from_secs(1),
            throttle_retries_max: 3,
            queue_timeout: Duration::from_secs(30),
        }
    }

    /// Checks every field against SMPP's limits and Vigie's bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, rule: &str| Err(ConfigError::new(&self.name, field, rule));
        if self.name.trim().is_empty() {
            return err("name", "must not be empty");
        }
        if self.address.rsplit_once(':').is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err()) {
            return err("address", "must be host:port");
        }
        let ascii = |s: &str, max: usize| s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic());
        if self.system_id.is_empty() || !ascii(&self.system_id, 15) {
            return err("system_id", "must be 1 to 15 printable ASCII characters");
        }
        if !ascii(&self.password, 8) {
            return err("password", "must be at most 8 printable ASCII characters");
        }
        if !ascii(&self.system_type, 12) {
            return err("system_type", "must be at most 12 printable ASCII characters");
        }
        if !(1..=1_000).contains(&self.window) {
            return err("window", "must be between 1 and 1000");
        }
        if !(1..=10_000).contains(&self.messages_per_second) {
            return err("messages_per_second", "must be between 1 and 10000");
        }
        let durations = [
            ("enquire_link_interval", self.enquire_link_interval),
            ("response_timeout", self.response_timeout),
            ("connect_timeout", self.connect_timeout),
            ("reconnect_delay_min", self.reconnect_delay_min),
            ("throttle_delay", self.throttle_delay),
            ("queue_timeout", self.queue_timeout),
        ];
        for (field, d) in durations {
            if d.is_zero() || d > Duration::from_secs(3_600) {
                return err(field, "must be between 1 ms and 1 hour");
            }
        }
        if self.reconnect_delay_max < self.reconnect_delay_min || self.reconnect_delay_max > Duration::from_secs(3_600)
        {
            return err("reconnect_delay_max", "must be between reconnect_delay_min and 1 hour");
        }
        if self.throttle_retries_max > 10 {
            return err("throttle_retries_max", "must be at most 10");
        }
        Ok(())
    }
}

/// What the provider's handle and its supervisor share.
struct Shared {
    config: SmppConfig,
    /// The bound session, when there is one.
    client: Mutex<Option<Client>>,
    health: Mutex<Health>,
    window: Semaphore,
    rate: RateLimiter,
    /// The reference of the next concatenated message (8 bits, wrapping).
    reference: AtomicU8,
    events: EventSender,
    /// Whether a session is bound, for those who wait for a change.
    bound: watch::Sender<bool>,
}

impl Shared {
    fn client(&self) -> Option<Client> {
        self.client.lock().unwrap_or_else(PoisonError::into_inner).clone().filter(Client::is_active)
    }

    fn set_session(&self, client: Option<Client>, health: Health) {
        let bound = client.is_some();
        *self.client.lock().unwrap_or_else(PoisonError::into_inner) = client;
        *self.health.lock().unwrap_or_else(PoisonError::into_inner) = health;
        self.bound.send_replace(bound);
    }
}

/// An SMPP 3.4 SMSC, as a transceiver.
pub struct SmppProvider {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for SmppProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmppProvider").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

impl SmppProvider {
    /// Starts the provider: a supervisor task connects, binds, and reconnects with
    /// back-off whenever the session ends. Submissions before the first bind answer
    /// "not sent". Receipts and replies go to `events`.
    ///
    /// Needs a tokio runtime.
    pub fn start(config: SmppConfig, events: EventSender) -> Result<SmppProvider, ConfigError> {
        config.validate()?;
        let shared = Arc::new(Shared {
            window: Semaphore::new(config.window),
            rate: RateLimiter::new(config.messages_per_second),
            client: Mutex::new(None),
            health: Mutex::new(Health::Down { reason: "not bound yet".to_owned() }),
            reference: AtomicU8::new(0),
            events,
            bound: watch::channel(false).0,
            config,
        });
        let (shutdown, stop) = watch::channel(false);
        let supervisor = tokio::spawn(supervise(Arc::clone(&shared), stop));
        Ok(SmppProvider { shared, shutdown, supervisor: Mutex::new(Some(supervisor)) })
    }

    /// Unbinds, closes the session and stops reconnecting; waits for the supervisor.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let handle = self.supervisor.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
    }

    /// Waits until the provider is bound (`bound`) or has lost its session (not
    /// `bound`), at most `timeout`; whether it got there.
    pub async fn wait_bound(&self, bound: bool, timeout: Duration) -> bool {
        let mut changes = self.shared.bound.subscribe();
        tokio::time::timeout(timeout, changes.wait_for(|&b| b == bound)).await.is_ok_and(|r| r.is_ok())
    }

    async fn submit_message(&self, message: &SmsMessage) -> Result<Submission, SubmitError> {
        let name = &self.shared.config.name;
        let rejected = |reason: String| SubmitError::Rejected { provider: name.clone(), reason };
        if message.text.is_empty() {
            return Err(rejected("the text is empty".to_owned()));
        }
        let encoded = encode_sms(&message.text);
        let length = encoded.length();
        let total = match u8::try_from(length.segments) {
            Ok(n) if length.segments <= SMS_SEGMENTS_MAX => n,
            _ => return Err(rejected(format!("{} segments is more than {SMS_SEGMENTS_MAX}", length.segments))),
        };
        let (source_ton, source_npi, source) = sender_address(&message.sender);
        let source = COctetString::<1, 21>::from_str(&source).map_err(|e| rejected(format!("sender: {e}")))?;
        let destination = COctetString::<1, 21>::from_str(message.to.as_str().trim_start_matches('+'))
            .map_err(|e| rejected(format!("destination: {e}")))?;
        let validity_period = match message.expires_at {
            Some(at) => EmptyOrFullCOctetString::<17>::from_str(&smpp_absolute_time(at))
                .map_err(|e| rejected(format!("validity period: {e}")))?,
            None => EmptyOrFullCOctetString::empty(),
        };
        let reference = self.shared.reference.fetch_add(1, Ordering::Relaxed);
        let data_coding = if length.encoding.data_coding() == 8 { DataCoding::Ucs2 } else { DataCoding::McSpecific };
        // 0x01: a receipt on the final outcome, success or failure; no SME
        // acknowledgement, no intermediate notification.
        let registered_delivery = RegisteredDelivery::from(u8::from(self.shared.config.registered_delivery));
        let mut accepted = Vec::new();
        for (i, segment) in encoded.segments().enumerate() {
            let mut short_message = Vec::with_capacity(segment.len() + 6);
            // Built from its byte: rusmpp's `EsmClass::default()` encodes as 0x08 (its
            // ANSI-41 part defaults to "delivery acknowledgement"), not 0x00.
            let mut esm_class = EsmClass::from(ESM_DEFAULT);
            if total > 1 {
                // Concatenation information element, 8-bit reference: 6 bytes, which
                // is what leaves 153 septets or 67 UCS-2 units per segment.
                let seq = u8::try_from(i + 1).unwrap_or(u8::MAX);
                short_message.extend([0x05, 0x00, 0x03, reference, total, seq]);
                esm_class = EsmClass::from(ESM_DEFAULT | ESM_UDHI);
            }
            short_message.extend_from_slice(segment);
            let short_message =
                OctetString::<0, 255>::from_vec(short_message).map_err(|e| rejected(format!("segment: {e}")))?;
            let pdu = SubmitSm::builder()
                .service_type(ServiceType::default())
                .source_addr_ton(source_ton)
                .source_addr_npi(source_npi)
                .source_addr(source.clone())
                .dest_addr_ton(Ton::International)
                .dest_addr_npi(Npi::Isdn)
                .destination_addr(destination.clone())
                .esm_class(esm_class)
                .validity_period(validity_period.clone())
                .registered_delivery(registered_delivery)
                .data_coding(data_coding)
                .short_message(short_message)
                .build();
            match self.submit_segment(pdu).await {
                Ok(id) => accepted.push(id),
                Err(failure) => {
                    let segment_no = i + 1;
                    let reason = format!("segment {segment_no} of {total}: {}", failure.reason());
                    tracing::warn!(provider = %name, to = %mask_phone(&message.to), reference = %message.reference, %reason, "SMS not submitted");
                    return Err(match failure {
                        SegmentFailure::NotSent(_) if accepted.is_empty() => {
                            SubmitError::NotSent { provider: name.clone(), reason }
                        }
                        SegmentFailure::Rejected(_) if accepted.is_empty() => rejected(reason),
                        _ => SubmitError::Uncertain { provider: name.clone(), reason, accepted_ids: accepted },
                    });
                }
            }
        }
        tracing::info!(
            provider = %name,
            to = %mask_phone(&message.to),
            reference = %message.reference,
            encoding = %length.encoding,
            segments = length.segments,
            message_id = %accepted.first().map_or("", String::as_str),
            "SMS submitted"
        );
        Ok(Submission { provider: name.clone(), message_ids: accepted })
    }

    /// Sends one `submit_sm` within the window and the rate, retrying it after
    /// throttling errors.
    async fn submit_segment(&self, pdu: SubmitSm) -> Result<String, SegmentFailure> {
        let config = &self.shared.config;
        let _permit = match tokio::time::timeout(config.queue_timeout, self.shared.window.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(SegmentFailure::NotSent("the provider is shut down".to_owned())),
            Err(_) => return Err(SegmentFailure::NotSent("no room in the window in time".to_owned())),
        };
        let mut delay = config.throttle_delay;
        let mut attempt = 0;
        loop {
            self.shared.rate.acquire().await;
            let Some(client) = self.shared.client() else {
                return Err(SegmentFailure::NotSent("not bound to the SMSC".to_owned()));
            };
            match client.submit_sm(pdu.clone()).await {
                Ok(response) => return Ok(response.message_id().as_str().to_owned()),
                Err(SmppError::UnexpectedResponse { response }) => {
                    let status = response.status();
                    match classify_status(status) {
                        StatusKind::Throttled if attempt < config.throttle_retries_max => {
                            attempt += 1;
                            tracing::debug!(provider = %config.name, ?status, ?delay, "throttled by the SMSC, retrying");
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(60));
                        }
                        StatusKind::Throttled | StatusKind::Temporary => {
                            return Err(SegmentFailure::NotSent(format!("the SMSC answered {status:?}")));
                        }
                        StatusKind::Permanent => {
                            return Err(SegmentFailure::Rejected(format!("the SMSC answered {status:?}")));
                        }
                    }
                }
                // The request was written (or may have been): only its receipt can
                // tell whether the SMSC took it.
                Err(error) => return Err(SegmentFailure::Uncertain(error.to_string())),
            }
        }
    }
}

/// `esm_class` of a plain message: default mode, default type.
const ESM_DEFAULT: u8 = 0x00;
/// `esm_class` bit: the short message starts with a user data header.
const ESM_UDHI: u8 = 0x40;
/// `esm_class` message types of a delivery receipt (0x04) and of an intermediate
/// notification (0x20).
const ESM_RECEIPT_TYPES: u8 = 0x24;

enum SegmentFailure {
    NotSent(String),
    Rejected(String),
    Uncertain(String),
}

impl SegmentFailure {
    fn reason(&self) -> &str {
        match self {
            SegmentFailure::NotSent(r) | SegmentFailure::Rejected(r) | SegmentFailure::Uncertain(r) => r,
        }
    }
}

enum StatusKind {
    /// Slow down and try again.
    Throttled,
    /// Not taken now; another try or another provider may succeed.
    Temporary,
    /// Not taken, and it will not be.
    Permanent,
}

fn classify_status(status: CommandStatus) -> StatusKind {
    match status {
        CommandStatus::EsmeRthrottled | CommandStatus::EsmeRmsgqful => StatusKind::Throttled,
        // System error, temporary application error, bind problems after a reset.
        CommandStatus::EsmeRsyserr
        | CommandStatus::EsmeRxTAppn
        | CommandStatus::EsmeRinvbndsts
        | CommandStatus::EsmeRsubmitfail => StatusKind::Temporary,
        _ => StatusKind::Permanent,
    }
}

/// An instant in SMPP's absolute time format, in UTC: `YYMMDDhhmmsstnnp` with tenths
/// of a second, a zero offset in quarter hours and `+`.
fn smpp_absolute_time(at: jiff::Timestamp) -> String {
    let utc = at.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let tenths = utc.subsec_nanosecond() / 100_000_000;
    format!("{}{tenths}00+", utc.strftime("%y%m%d%H%M%S"))
}

/// The SMPP source address of a sender: an alphanumeric OADC, or an international
/// number without its `+`.
fn sender_address(sender: &SmsSender) -> (Ton, Npi, String) {
    match sender {
        SmsSender::Alphanumeric(id) => (Ton::Alphanumeric, Npi::Unknown, id.as_str().to_owned()),
        SmsSender::Number(number) => {
            (Ton::International, Npi::Isdn, number.as_str().trim_start_matches('+').to_owned())
        }
    }
}

impl SmsProvider for SmppProvider {
    fn name(&self) -> &str {
        &self.shared.config.name
    }

    fn submit<'a>(&'a self, message: &'a SmsMessage) -> BoxFuture<'a, Result<Submission, SubmitError>> {
        Box::pin(self.submit_message(message))
    }

    fn health(&self) -> Health {
        if self.shared.client().is_some() {
            Health::Up
        } else {
            match self.shared.health.lock().unwrap_or_else(PoisonError::into_inner).clone() {
                Health::Up => Health::Down { reason: "the session closed".to_owned() },
                down => down,
            }
        }
    }
}

/// Keeps a session bound until shut down: connect, bind, serve it, and after it ends
/// wait `reconnect_delay_min`, doubling up to `reconnect_delay_max`, before the next
/// attempt; the wait starts over after a successful bind.
async fn supervise(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let config = shared.config.clone();
    let mut delay = config.reconnect_delay_min;
    loop {
        if *stop.borrow() {
            break;
        }
        let attempt = tokio::select! {
            attempt = tokio::time::timeout(config.connect_timeout, connect_and_bind(&config)) => attempt,
            _ = stop.changed() => break,
        };
        let reason = match attempt {
            Ok(Ok((client, events))) => {
                tracing::info!(provider = %config.name, address = %config.address, "bound to the SMSC");
                delay = config.reconnect_delay_min;
                shared.set_session(Some(client.clone()), Health::Up);
                let ended = serve(&shared, &client, events, &mut stop).await;
                shared.set_session(None, Health::Down { reason: ended.clone() });
                if *stop.borrow() {
                    break;
                }
                ended
            }
            Ok(Err(e)) => e,
            Err(_) => format!("no bind within {:?}", config.connect_timeout),
        };
        shared.set_session(None, Health::Down { reason: reason.clone() });
        tracing::warn!(provider = %config.name, %reason, retry_in = ?delay, "SMSC session down");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => break,
        }
        delay = (delay * 2).min(config.reconnect_delay_max);
    }
    shared.set_session(None, Health::Down { reason: "shut down".to_owned() });
    shared.window.close();
}

async fn connect_and_bind(config: &SmppConfig) -> Result<(Client, impl Stream<Item = Event> + Unpin), String> {
    let stream = tokio::net::TcpStream::connect(&config.address).await.map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (client, events) = ConnectionBuilder::new()
        .enquire_link_interval(config.enquire_link_interval)
        .enquire_link_response_timeout(config.response_timeout)
        .response_timeout(config.response_timeout)
        // rusmppc checks for SMPP 5.0 binds; Vigie binds as 3.4.
        .disable_interface_version_check()
        .connected(stream);
    fn text<const MAX: usize>(field: &str, value: &str) -> Result<COctetString<1, MAX>, String> {
        COctetString::from_str(value).map_err(|e| format!("{field}: {e}"))
    }
    let bind = BindTransceiver::builder()
        .system_id(text("system_id", &config.system_id)?)
        .password(text("password", &config.password)?)
        .system_type(text("system_type", &config.system_type)?)
        .interface_version(InterfaceVersion::Smpp3_4)
        .addr_ton(Ton::Unknown)
        .addr_npi(Npi::Unknown)
        .address_range(COctetString::empty())
        .build();
    match client.bind_transceiver(bind).await {
        Ok(_) => Ok((client, events)),
        Err(e) => {
            let _ = client.close().await;
            Err(format!("bind: {}", describe(&e)))
        }
    }
}

/// An error in words, with the SMSC's status rather than the whole response.
fn describe(error: &SmppError) -> String {
    match error {
        SmppError::UnexpectedResponse { response } => format!("the SMSC answered {:?}", response.status()),
        other => other.to_string(),
    }
}

/// Serves a bound session until it ends or the provider shuts down; why it ended.
async fn serve(
    shared: &Shared,
    client: &Client,
    mut events: impl Stream<Item = Event> + Unpin,
    stop: &mut watch::Receiver<bool>,
) -> String {
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = stop.changed() => {
                // Best effort: an SMSC that does not answer the unbind is closed anyway.
                let _ = tokio::time::timeout(shared.config.response_timeout, client.unbind()).await;
                let _ = client.close().await;
                return "shut down".to_owned();
            }
        };
        match event {
            None => return "the connection closed".to_owned(),
            Some(Event::Error(e)) => {
                tracing::warn!(provider = %shared.config.name, error = %describe(&e), "SMPP session error");
            }
            Some(Event::Incoming(command)) => {
                let sequence = command.sequence_number();
                match command.pdu() {
                    Some(Pdu::DeliverSm(deliver)) => {
                        match read_deliver_sm(&shared.config.name, deliver) {
                            Ok(event) => {
                                // Acknowledged once handed over; a full channel makes
                                // the SMSC wait, nothing is dropped.
                                if shared.events.send(event).await.is_err() {
                                    tracing::warn!(provider = %shared.config.name, "nobody reads SMS events");
                                }
                            }
                            Err(why) => tracing::warn!(provider = %shared.config.name, %why, "deliver_sm ignored"),
                        }
                        let _ = client.deliver_sm_resp(sequence, DeliverSmResp::default()).await;
                    }
                    Some(Pdu::Unbind) => {
                        let _ = client.unbind_resp(sequence).await;
                        let _ = client.close().await;
                        return "the SMSC unbound".to_owned();
                    }
                    _ => tracing::debug!(provider = %shared.config.name, id = ?command.id(), "PDU ignored"),
                }
            }
        }
    }
}

/// Reads a `deliver_sm`: a delivery receipt (esm_class message type 0x04 or 0x20)
/// or a patient's reply; why not, when it is neither.
pub(crate) fn read_deliver_sm(provider: &str, deliver: &DeliverSm) -> Result<SmsEvent, String> {
    let esm = u8::from(deliver.esm_class);
    let mut tlv_id = None;
    let mut tlv_state = None;
    let mut payload = None;
    for tlv in deliver.tlvs() {
        match tlv.value() {
            Some(TlvValue::ReceiptedMessageId(id)) => tlv_id = Some(id.as_str().to_owned()),
            Some(TlvValue::MessageState(state)) => tlv_state = Some(*state),
            Some(TlvValue::MessagePayload(p)) => payload = Some(p.value.as_ref().to_vec()),
            _ => {}
        }
    }
    let short: &[u8] = deliver.short_message().as_ref();
    let mut bytes = if short.is_empty() { payload.unwrap_or_default() } else { short.to_vec() };
    if esm & ESM_RECEIPT_TYPES != 0 {
        let text = String::from_utf8_lossy(&bytes);
        let parsed = parse_receipt_text(&text);
        let message_id = tlv_id.or_else(|| parsed.as_ref().map(|r| r.id.clone())).ok_or("a receipt without id")?;
        let (status, state) = match (tlv_state, &parsed) {
            (Some(state), _) => (message_state_status(state), message_state_word(state)),
            (None, Some(r)) => (receipt_status(&r.stat).ok_or("a receipt with an unknown stat")?, r.stat.clone()),
            (None, None) => return Err("a receipt without state".to_owned()),
        };
        let error = parsed.and_then(|r| r.err);
        return Ok(SmsEvent::Receipt(DeliveryReceipt {
            provider: provider.to_owned(),
            message_id,
            status,
            state,
            error,
        }));
    }
    // A patient's reply. A long reply's segments each come with their header, which is
    // not text.
    if esm & ESM_UDHI != 0 {
        let header = usize::from(*bytes.first().ok_or("an empty reply with a header")?) + 1;
        bytes = bytes.get(header..).ok_or("a reply shorter than its header")?.to_vec();
    }
    let text = decode_sms(u8::from(deliver.data_coding), &bytes).ok_or("a reply in an unreadable coding")?;
    let source = deliver.source_addr.as_str();
    let from = reply_number(source, deliver.source_addr_ton)
        .ok_or_else(|| format!("a reply from an unreadable number {}", mask_raw(source)))?;
    let stop = is_stop_reply(&text);
    Ok(SmsEvent::Reply(PatientReply {
        provider: provider.to_owned(),
        from,
        to: deliver.destination_addr.as_str().to_owned(),
        text,
        stop,
    }))
}

/// A reply's source address as a number: international digits get their `+`, other
/// forms are read as French numbers.
fn reply_number(source: &str, ton: Ton) -> Option<E164> {
    let digits = !source.is_empty() && source.bytes().all(|b| b.is_ascii_digit());
    if ton == Ton::International && digits {
        return E164::parse(&format!("+{source}")).ok();
    }
    E164::parse(source).ok().or_else(|| digits.then(|| E164::parse(&format!("+{source}")).ok()).flatten())
}

fn message_state_status(state: MessageState) -> SmsStatus {
    match state {
        MessageState::Delivered => SmsStatus::Delivered,
        MessageState::Expired => SmsStatus::Expired,
        MessageState::Scheduled | MessageState::Enroute | MessageState::Accepted => SmsStatus::Submitted,
        _ => SmsStatus::Failed,
    }
}

fn message_state_word(state: MessageState) -> String {
    let word = match state {
        MessageState::Scheduled => "SCHEDULED",
        MessageState::Enroute => "ENROUTE",
        MessageState::Delivered => "DELIVRD",
        MessageState::Expired => "EXPIRED",
        MessageState::Deleted => "DELETED",
        MessageState::Undeliverable => "UNDELIV",
        MessageState::Accepted => "ACCEPTD",
        MessageState::Unknown => "UNKNOWN",
        MessageState::Rejected => "REJECTD",
        MessageState::Skipped => "SKIPPED",
        MessageState::Other(n) => return format!("STATE_{n}"),
    };
    word.to_owned()
}

#[cfg(test)]
mod tests {
    use rusmpp::tlvs::MessageDeliveryRequestTlvValue;

    use super::*;

    fn deliver(esm: u8, coding: DataCoding, source: &str, body: &[u8]) -> DeliverSm {
        DeliverSm::builder()
            .source_addr_ton(Ton::International)
            .source_addr(COctetString::from_str(source).expect("addr"))
            .destination_addr(COctetString::from_str("33478200001").expect("addr"))
            .esm_class(EsmClass::from(esm))
            .data_coding(coding)
            .short_message(OctetString::from_vec(body.to_vec()).expect("body"))
            .build()
    }

    #[test]
    fn absolute_times_are_in_utc() {
        let at: jiff::Timestamp = "2026-03-12T14:30:05.7+01:00".parse().expect("instant");
        assert_eq!(smpp_absolute_time(at), "260312133005700+");
    }

    #[test]
    fn receipts_from_text_and_tlvs() {
        let text = b"id:abc sub:001 dlvrd:000 submit date:2603121414 done date:2603121415 stat:UNDELIV err:034 text:";
        let plain = deliver(0x04, DataCoding::McSpecific, "33612345678", text);
        let expected = DeliveryReceipt {
            provider: "p".into(),
            message_id: "abc".into(),
            status: SmsStatus::Failed,
            state: "UNDELIV".into(),
            error: Some("034".into()),
        };
        assert_eq!(read_deliver_sm("p", &plain), Ok(SmsEvent::Receipt(expected.clone())));
        // The TLVs win over the text.
        let mut tlvs = plain.clone();
        tlvs.push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(COctetString::from_str("xyz").expect("id")));
        tlvs.push_tlv(MessageDeliveryRequestTlvValue::MessageState(MessageState::Delivered));
        let receipt = DeliveryReceipt {
            message_id: "xyz".into(),
            status: SmsStatus::Delivered,
            state: "DELIVRD".into(),
            ..expected
        };
        assert_eq!(read_deliver_sm("p", &tlvs), Ok(SmsEvent::Receipt(receipt)));
        assert!(read_deliver_sm("p", &deliver(0x04, DataCoding::McSpecific, "1", b"hello")).is_err());
    }

    #[test]
    fn replies_in_every_coding() {
        let cases: [(u8, DataCoding, &[u8], &str, bool); 5] = [
            (0, DataCoding::McSpecific, b"STOP", "STOP", true),
            (0, DataCoding::Ia5, b"Stop SMS", "Stop SMS", true),
            (0, DataCoding::Ucs2, &[0x00, 0x41, 0x00, 0x72, 0x00, 0x72, 0x00, 0xEA, 0x00, 0x74], "Arrêt", true),
            (0, DataCoding::Latin1, &[0x4F, 0x75, 0x69], "Oui", false),
            // One segment of a long reply: its header is skipped.
            (0x40, DataCoding::McSpecific, &[0x05, 0x00, 0x03, 0x01, 0x02, 0x01, 0x4F, 0x4B], "OK", false),
        ];
        for (esm, coding, body, text, stop) in cases {
            let Ok(SmsEvent::Reply(reply)) = read_deliver_sm("p", &deliver(esm, coding, "33612345678", body)) else {
                panic!("{text}: not a reply");
            };
            assert_eq!((reply.text.as_str(), reply.stop, reply.from.as_str()), (text, stop, "+33612345678"));
            // Debug output never shows the number nor the text.
            let debug = format!("{reply:?}");
            assert!(!debug.contains("612345678") && !debug.contains(text), "{debug}");
        }
        assert!(read_deliver_sm("p", &deliver(0, DataCoding::McSpecific, "abc", b"STOP")).is_err());
        assert_eq!(reply_number("0612345678", Ton::National).map(|n| n.to_string()), Some("+33612345678".into()));
    }
}
