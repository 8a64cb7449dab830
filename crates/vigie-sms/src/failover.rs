//! A failover pair: the primary provider while it is healthy, the secondary when it
//! is not or when a submission to it certainly did not leave; back to the primary as
//! soon as it is healthy again.

use std::sync::Arc;

use crate::provider::{BoxFuture, Health, SmsMessage, SmsProvider, Submission, SubmitError};

/// A primary provider and the secondary that takes over.
pub struct FailoverProvider {
    name: String,
    primary: Arc<dyn SmsProvider>,
    secondary: Arc<dyn SmsProvider>,
}

impl std::fmt::Debug for FailoverProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailoverProvider")
            .field("primary", &self.primary.name())
            .field("secondary", &self.secondary.name())
            .finish()
    }
}

impl FailoverProvider {
    /// A pair named `primary>secondary`.
    pub fn new(primary: Arc<dyn SmsProvider>, secondary: Arc<dyn SmsProvider>) -> FailoverProvider {
        let name = format!("{}>{}", primary.name(), secondary.name());
        FailoverProvider { name, primary, secondary }
    }

    async fn submit_message(&self, message: &SmsMessage) -> Result<Submission, SubmitError> {
        if let Health::Down { reason } = self.primary.health() {
            tracing::info!(primary = %self.primary.name(), secondary = %self.secondary.name(), %reason, reference = %message.reference, "primary down, SMS through the secondary");
            return self.secondary.submit(message).await;
        }
        match self.primary.submit(message).await {
            // Only an SMS that certainly did not leave may go through the other
            // provider: anything else could reach the patient twice.
            Err(error) if error.is_transient() => {
                tracing::warn!(primary = %self.primary.name(), secondary = %self.secondary.name(), %error, reference = %message.reference, "SMS through the secondary");
                self.secondary.submit(message).await
            }
            outcome => outcome,
        }
    }
}

impl SmsProvider for FailoverProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn submit<'a>(&'a self, message: &'a SmsMessage) -> BoxFuture<'a, Result<Submission, SubmitError>> {
        Box::pin(self.submit_message(message))
    }

    /// Up while either provider is.
    fn health(&self) -> Health {
        match (self.primary.health(), self.secondary.health()) {
            (Health::Down { reason: first }, Health::Down { reason: second }) => Health::Down {
                reason: format!("{}: {first}; {}: {second}", self.primary.name(), self.secondary.name()),
            },
            _ => Health::Up,
        }
    }
}
