//! The store's errors: what the HTTP layer turns into status codes.

use vigie_core::{InvalidField, PoolCode, Timestamp};

/// What can go wrong with a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The writer's SQLite connection failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Something named does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// The field that named it.
        field: &'static str,
    },
    /// A field breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// The thing exists already, or the request contradicts what was accepted before.
    #[error("{message}")]
    Conflict {
        /// The field at fault.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// No number of the pool may take the call.
    #[error("no number of pool {pool} can take the call")]
    NoCapacity {
        /// The pool.
        pool: PoolCode,
        /// When a number is next available, if ever.
        retry_at: Option<Timestamp>,
    },
    /// A calling rule refuses the call (solicitation hours, attempts, Bloctel, consent,
    /// care hours…), with the first instant it would be allowed, if any.
    #[error(transparent)]
    Rule(#[from] vigie_core::RuleRefusal),
    /// A sealed value does not open with the data key.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    /// The writer has stopped (the server is shutting down).
    #[error("the store is shutting down")]
    Closed,
    /// Rows of a bulk request were refused; nothing was written.
    #[error("{} rows refused", .0.len())]
    Rows(Vec<crate::model::RowProblem>),
    /// The store holds something it cannot read back.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

impl From<vigie_core::IncidentError> for StoreError {
    /// vigie-core's refusals of an incident change, as the store's: the field at fault
    /// and the core's own words.
    fn from(e: vigie_core::IncidentError) -> StoreError {
        use vigie_core::IncidentError as E;
        let field = match e {
            E::Invalid(f) => return StoreError::Invalid(f),
            E::Closed { .. } | E::BeforeOpening { .. } => "incident_id",
            E::AlreadyDone { .. } => "step",
            E::CoolingDown { .. } | E::NotClean { .. } => "resolution",
        };
        StoreError::Conflict { field, message: e.to_string() }
    }
}
