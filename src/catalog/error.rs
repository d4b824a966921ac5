//! The storage error type: what failed, and what we were doing.

/// A storage failure, with what we were doing when it happened.
#[derive(Debug, thiserror::Error)]
#[error("{doing}: {source}")]
pub struct StoreError {
    pub doing: String,
    #[source]
    pub source: sqlx::Error,
}

impl StoreError {
    pub fn new(doing: impl Into<String>, source: sqlx::Error) -> Self {
        Self {
            doing: doing.into(),
            source,
        }
    }

    /// Whether the failure lies in the data of what was being stored (SQLSTATE classes 22 and
    /// 23, or a row that does not decode), so that retrying the same data cannot help for
    /// long. Anything else (connection lost, server restarting, deadlock, a misconfigured
    /// database) is worth retrying until it works: the messages wait, none is lost.
    pub fn is_data_error(&self) -> bool {
        match &self.source {
            sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => true,
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|code| code.starts_with("22") || code.starts_with("23")),
            _ => false,
        }
    }
}

/// Adds what we were doing to a sqlx error.
pub trait Doing<T> {
    fn doing(self, what: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> Doing<T> for Result<T, sqlx::Error> {
    fn doing(self, what: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::new(what(), e))
    }
}
