//! The log provider: "delivers" after its delay, masks the number, bounds its queue.

use std::time::Duration;

use vigie_core::SmsStatus;
use vigie_sms::{Health, LogProvider, SmsEvent, SmsProvider, SubmitError, event_channel};

use crate::{CapturedLogs, message, next_event};

#[tokio::test(start_paused = true)]
async fn delivers_after_its_delay_and_masks_the_number() {
    let (logs, _guard) = CapturedLogs::start();
    let (events_tx, mut events) = event_channel(8);
    let provider = LogProvider::start("log", Duration::from_secs(2), 2, events_tx);
    assert_eq!(provider.health(), Health::Up);
    let started = tokio::time::Instant::now();
    let first = provider.submit(&message("sms-1", "Bonjour")).await.expect("sent");
    let second = provider.submit(&message("sms-2", "Bonjour")).await.expect("sent");
    assert_eq!((first.message_id(), second.message_id()), ("log-1", "log-2"));
    // Two receipts pending: a third is refused until one is out.
    assert!(matches!(provider.submit(&message("sms-3", "x")).await, Err(SubmitError::NotSent { .. })));
    for expected in [&first, &second] {
        let SmsEvent::Receipt(receipt) = next_event(&mut events).await else { panic!("a receipt") };
        assert_eq!((receipt.message_id.as_str(), receipt.status), (expected.message_id(), SmsStatus::Delivered));
    }
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    logs.assert_no_phone_in_clear();
    assert!(logs.text().contains("to=+33 6 ** ** ** 78"), "{}", logs.text());
}
