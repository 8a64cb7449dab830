//! Failover: the secondary takes over while the primary is down or when a submission
//! to it certainly did not leave, never when it may have; the primary again once it
//! is healthy.

use std::sync::Arc;
use std::time::Duration;

use vigie_sms::{
    FailoverProvider, Health, HttpProvider, LogProvider, SmppConfig, SmppProvider, SmsEvent, SmsProvider, SubmitError,
    event_channel,
};

use crate::http::{gateway_config, start_gateway};
use crate::{message, next_event};

#[tokio::test]
async fn an_smsc_that_is_down_fails_over_to_the_secondary() {
    // Nothing listens on the primary's port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    drop(listener);
    let (events_tx, mut events) = event_channel(8);
    let primary = SmppProvider::start(
        SmppConfig {
            reconnect_delay_min: Duration::from_millis(20),
            ..SmppConfig::new("smsc", &address, "vigie", "secret")
        },
        events_tx.clone(),
    )
    .expect("valid");
    let primary = Arc::new(primary);
    let secondary = Arc::new(LogProvider::start("log", Duration::from_millis(10), 16, events_tx));
    let pair = FailoverProvider::new(Arc::clone(&primary) as Arc<dyn SmsProvider>, secondary);
    assert_eq!(pair.name(), "smsc>log");
    assert!(matches!(primary.health(), Health::Down { .. }));
    assert_eq!(pair.health(), Health::Up);

    let submission = pair.submit(&message("sms-1", "Bonjour")).await.expect("sent by the secondary");
    assert_eq!(submission.provider, "log");
    let SmsEvent::Receipt(receipt) = next_event(&mut events).await else { panic!("a receipt") };
    assert_eq!((receipt.provider.as_str(), receipt.message_id.as_str()), ("log", submission.message_id()));
    primary.shutdown().await;
}

#[tokio::test]
async fn transient_failures_fail_over_and_the_primary_comes_back() {
    let (url, gateway) = start_gateway().await;
    let (events_tx, _events) = event_channel(8);
    let primary: Arc<dyn SmsProvider> = Arc::new(HttpProvider::new(gateway_config("gw", &url)).expect("valid"));
    let secondary = Arc::new(LogProvider::start("log", Duration::from_millis(10), 16, events_tx));
    let pair = FailoverProvider::new(Arc::clone(&primary), secondary);

    // Healthy: the primary.
    assert_eq!(pair.submit(&message("sms-1", "a")).await.expect("sent").provider, "gw");

    // The gateway is unavailable (503: certainly not sent): the secondary.
    gateway.lock().expect("gateway").status = Some(503);
    assert_eq!(pair.submit(&message("sms-2", "b")).await.expect("sent").provider, "log");
    let tried = gateway.lock().expect("gateway").requests.len();
    assert_eq!(tried, 2, "the primary was tried first");

    // A second failure puts the primary down: the secondary is used without trying it.
    assert_eq!(pair.submit(&message("sms-3", "c")).await.expect("sent").provider, "log");
    assert!(matches!(primary.health(), Health::Down { .. }));
    assert_eq!(pair.submit(&message("sms-4", "d")).await.expect("sent").provider, "log");
    assert_eq!(gateway.lock().expect("gateway").requests.len(), 3);

    // An answer that may hide a sent SMS (500) is never failed over.
    let (url2, gateway2) = start_gateway().await;
    let (events_tx, _events) = event_channel(8);
    let uncertain = FailoverProvider::new(
        Arc::new(HttpProvider::new(gateway_config("gw2", &url2)).expect("valid")),
        Arc::new(LogProvider::start("log", Duration::from_millis(10), 16, events_tx)),
    );
    gateway2.lock().expect("gateway").status = Some(500);
    assert!(matches!(uncertain.submit(&message("sms-5", "e")).await, Err(SubmitError::Uncertain { .. })));
    gateway2.lock().expect("gateway").status = Some(400);
    assert!(matches!(uncertain.submit(&message("sms-6", "f")).await, Err(SubmitError::Rejected { .. })));

    // The first gateway recovers; once its down time is over the pair goes back to it.
    // (down_for is 60 s in gateway_config: a pair over a provider whose health
    // recovers at once shows the return.)
    gateway.lock().expect("gateway").status = None;
    assert_eq!(primary.submit(&message("sms-7", "g")).await.expect("sent").provider, "gw");
    assert_eq!(primary.health(), Health::Up);
    assert_eq!(pair.submit(&message("sms-8", "h")).await.expect("sent").provider, "gw");
}
