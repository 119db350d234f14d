//! The store's one error type.

/// What can go wrong in the store. Backend details are flattened into
/// [`StoreError::Backend`]'s message: callers decide on the variant, never
/// on SQL error codes, so the same code works on every backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The resource asked for (or to be updated or deleted) does not exist.
    #[error("not found")]
    NotFound,
    /// A create, rename or insert collides with a unique key.
    #[error("{what} already exists")]
    AlreadyExists { what: String },
    /// The change contradicts stored state: it refers to an application
    /// that does not exist (a foreign key), or it would move a revision to
    /// another application.
    #[error("the change conflicts with the stored state")]
    Conflict,
    /// Anything else: I/O, a busy database past its timeout, a document
    /// that no longer parses. Not something a caller can fix by retrying
    /// with other arguments.
    #[error("store backend error: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Maps a backend error, naming the resource for unique violations.
    pub(crate) fn from_sqlx(err: sqlx::Error, what: impl FnOnce() -> String) -> Self {
        use sqlx::error::ErrorKind;
        match &err {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => Self::AlreadyExists { what: what() },
                ErrorKind::ForeignKeyViolation => Self::Conflict,
                _ => Self::Backend(err.to_string()),
            },
            _ => Self::Backend(err.to_string()),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        Self::from_sqlx(err, || "the resource".to_owned())
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Self::Backend(format!("migrating the schema: {err}"))
    }
}
