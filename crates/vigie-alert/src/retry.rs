//! Retrying a delivery that failed for now, with exponential back-off and a bound on
//! the attempts.

use std::time::Duration;

use crate::channel::{Channel, DeliveryError, Notification};

/// How often and how patiently a transient failure is retried.
///
/// The delay after the `n`th failed attempt is `delay_first × 2^(n-1)`, at most
/// `delay_max`; there is no jitter, since one Vigie process sends few notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most attempts in all, the first included (at least 1). Default: 6.
    pub attempts_max: u32,
    /// Wait after the first failed attempt. Default: 5 s.
    pub delay_first: Duration,
    /// Longest wait between two attempts. Default: 5 minutes.
    pub delay_max: Duration,
}

impl Default for RetryPolicy {
    /// Six attempts over about two and a half minutes (5, 10, 20, 40, 80 s apart).
    fn default() -> RetryPolicy {
        RetryPolicy { attempts_max: 6, delay_first: Duration::from_secs(5), delay_max: Duration::from_secs(300) }
    }
}

impl RetryPolicy {
    /// The wait after the `attempt`th failed attempt (1 for the first).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.delay_first.saturating_mul(1 << doublings).min(self.delay_max)
    }
}

/// Delivers a notification through a channel, retrying transient failures as the
/// policy says. Answers the number of attempts it took, or the last error: a
/// permanent one at once, a transient one once the attempts are spent.
pub async fn deliver_with_retry<C>(
    channel: &C,
    notification: &Notification,
    policy: &RetryPolicy,
) -> Result<u32, DeliveryError>
where
    C: Channel + ?Sized,
{
    let attempts_max = policy.attempts_max.max(1);
    let mut attempt = 1;
    loop {
        match channel.deliver(notification).await {
            Ok(()) => {
                tracing::info!(channel = %channel.name(), id = %notification.id, attempt, "notification delivered");
                return Ok(attempt);
            }
            Err(e) if e.is_transient() && attempt < attempts_max => {
                let delay = policy.delay_after(attempt);
                tracing::warn!(channel = %channel.name(), id = %notification.id, attempt, error = %e, ?delay, "notification not delivered, will retry");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => {
                tracing::error!(channel = %channel.name(), id = %notification.id, attempt, error = %e, "notification not delivered");
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_up_to_its_maximum() {
        let policy =
            RetryPolicy { attempts_max: 10, delay_first: Duration::from_secs(5), delay_max: Duration::from_secs(60) };
        let delays: Vec<u64> = (1..=6).map(|n| policy.delay_after(n).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 60, 60]);
        assert_eq!(policy.delay_after(u32::MAX), Duration::from_secs(60));
    }
}
