//! Pre-call SMS throughput through the SMPP provider (issue 4): starts the test SMSC
//! (`tests/smsc/smsc.js`, Node.js), binds an [`SmppProvider`] to it with a window of
//! 10 and no effective rate limit, plans N single-segment GSM messages all due at the
//! same instant t0, and submits them with enough concurrent tasks to keep the window
//! full. Reports the messages submitted per second (t0 to the last `submit_sm_resp`),
//! the delay from t0 to each message's acceptance (p50, p99, max), and the delivery
//! receipts that came back.
//!
//! ```text
//! cargo run --release -p vigie-sms --example smpp_bench -- [--messages 5000] [--window 10]
//! ```
//!
//! The numbers are fake (+33610…) and never printed in clear. No tracing subscriber is
//! installed, so the SMPP libraries log no PDU.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use vigie_core::{E164, SenderId, SmsSender};
use vigie_sms::{SmppConfig, SmppProvider, SmsEvent, SmsMessage, SmsProvider, event_channel, mask_phone};

/// One GSM 03.38 segment (under 160 characters).
const TEXT: &str = "Clinique St-Jean vous appellera le 12/03/2026 vers 14h30 depuis le 04 78 20 00 01.";

fn usage() -> ! {
    eprintln!("usage: smpp_bench [--messages N] [--window W]");
    std::process::exit(2);
}

fn parse_args() -> (usize, usize) {
    let (mut messages, mut window) = (5_000_usize, 10_usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse::<usize>().ok()).filter(|&v| v > 0);
        match (arg.as_str(), value) {
            ("--messages", Some(v)) => messages = v,
            ("--window", Some(v)) => window = v,
            _ => usage(),
        }
    }
    (messages, window)
}

fn smsc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("smsc")
}

/// The fake patient number of message `i`: +33 6 10 xx xx xx.
fn number(i: usize) -> E164 {
    E164::parse(&format!("+33610{:06}", i % 1_000_000)).expect("a valid fake number")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1_000.0)
}

#[tokio::main]
async fn main() {
    let (messages, window) = parse_args();
    let dir = smsc_dir();
    if !dir.join("node_modules").join("smpp").join("package.json").exists() {
        eprintln!("the test SMSC's packages are missing: run `npm ci --prefix crates/vigie-sms/tests/smsc`");
        std::process::exit(1);
    }

    // The SMSC, on a free port; its stdout (one JSON event per PDU) is drained by a
    // task so that it never blocks on a full pipe.
    let mut child = Command::new("node")
        .arg(dir.join("smsc.js"))
        .arg("0")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `node` for the test SMSC: {e}"));
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let port = loop {
        let line = lines.next_line().await.expect("read the SMSC").expect("the SMSC exited before listening");
        let event: serde_json::Value = serde_json::from_str(&line).expect("JSON from the SMSC");
        if event["event"] == "listening" {
            break u16::try_from(event["port"].as_u64().expect("port")).expect("a port");
        }
    };
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let config = SmppConfig {
        window,
        // The highest the configuration allows: 100 µs apart, far above what one
        // session reaches here, so the window is what bounds the throughput.
        messages_per_second: 10_000,
        queue_timeout: Duration::from_secs(600),
        ..SmppConfig::new("bench", &format!("127.0.0.1:{port}"), "vigie", "secret")
    };
    let (events_tx, mut events) = event_channel(4_096);
    let provider = Arc::new(SmppProvider::start(config, events_tx).expect("valid configuration"));
    assert!(provider.wait_bound(true, Duration::from_secs(10)).await, "not bound: {:?}", provider.health());

    // Receipts are counted as they come, so that the channel never holds the SMSC back.
    let receipts = Arc::new(AtomicUsize::new(0));
    let last_receipt = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let receipt_counter = {
        let (receipts, last_receipt) = (Arc::clone(&receipts), Arc::clone(&last_receipt));
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let SmsEvent::Receipt(_) = event {
                    receipts.fetch_add(1, Ordering::Relaxed);
                    *last_receipt.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
                }
            }
        })
    };

    // The plan: every message due at t0.
    let sender = SmsSender::Alphanumeric(SenderId::parse("CliniqueSJ").expect("sender"));
    let plan: Arc<Vec<SmsMessage>> = Arc::new(
        (0..messages)
            .map(|i| SmsMessage {
                reference: format!("bench-{i}"),
                to: number(i),
                sender: sender.clone(),
                text: TEXT.to_owned(),
                expires_at: None,
            })
            .collect(),
    );
    println!(
        "{messages} SMS of {} GSM characters (1 segment) to fake numbers {} … {}, window {window}",
        TEXT.chars().count(),
        mask_phone(&plan[0].to),
        mask_phone(&plan[messages - 1].to)
    );

    // Twice the window in workers, each taking the next planned message: the window
    // is always full, and the rest wait in the provider's queue as the plan would.
    let t0 = tokio::time::Instant::now() + Duration::from_millis(200);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..(2 * window).min(messages) {
        let (provider, plan, next) = (Arc::clone(&provider), Arc::clone(&plan), Arc::clone(&next));
        workers.push(tokio::spawn(async move {
            tokio::time::sleep_until(t0).await;
            let t0 = t0.into_std();
            let mut delays = Vec::new();
            let mut failures = 0_usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(message) = plan.get(i) else { break };
                match provider.submit(message).await {
                    Ok(_) => delays.push(t0.elapsed()),
                    Err(_) => failures += 1,
                }
            }
            (delays, failures)
        }));
    }
    let mut delays = Vec::with_capacity(messages);
    let mut failures = 0;
    for worker in workers {
        let (d, f) = worker.await.expect("worker");
        delays.extend(d);
        failures += f;
    }
    delays.sort();
    let Some(&last) = delays.last() else {
        eprintln!("no SMS accepted ({failures} failures)");
        std::process::exit(1);
    };
    let t0 = t0.into_std();

    // Receipts: wait until all came back, or 5 s without a new one.
    let mut quiet_since = Instant::now();
    let mut seen = receipts.load(Ordering::Relaxed);
    while seen < delays.len() && quiet_since.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = receipts.load(Ordering::Relaxed);
        if now != seen {
            (seen, quiet_since) = (now, Instant::now());
        }
    }
    let last_receipt = *last_receipt.lock().unwrap_or_else(std::sync::PoisonError::into_inner);

    let accepted = delays.len();
    println!("accepted: {accepted} of {messages} ({failures} not accepted)");
    println!(
        "throughput: {:.0} SMS/s (t0 to the last submit_sm_resp: {:.3} s)",
        accepted as f64 / last.as_secs_f64(),
        last.as_secs_f64()
    );
    println!(
        "delay from t0 to acceptance: p50 {}, p99 {}, max {}",
        ms(percentile(&delays, 50.0)),
        ms(percentile(&delays, 99.0)),
        ms(last)
    );
    println!(
        "receipts: {seen} of {accepted}{}",
        last_receipt.map_or(String::new(), |at| format!(" (last {:.3} s after t0)", (at - t0).as_secs_f64()))
    );

    provider.shutdown().await;
    receipt_counter.abort();
    drop(child.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
    let _ = child.kill().await;
    drain.abort();
}
