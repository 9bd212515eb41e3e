//! The crate's one error type.

/// Why a model, an input or a training file was refused. Each message says what was wrong and
/// where: the JSON path in a model file, the feature of an input, or the file, row and column of
/// a CSV.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ScorecardError {
    /// The model file is not JSON of the model's shape.
    #[error("malformed model at {path}: {message}")]
    MalformedModel { path: String, message: String },
    /// The model names a format this code does not read.
    #[error("unknown model format {found:?} at format: this code reads {expected:?}")]
    UnknownFormat { found: String, expected: String },
    /// The model is well-formed JSON but breaks a rule (bins overlap, points do not match, …).
    #[error("invalid model at {path}: {message}")]
    InvalidModel { path: String, message: String },
    /// The model is marked retired (`"active": false`) and scores nothing.
    #[error("the model is retired (\"active\": false) and scores nothing: use an active model")]
    Retired,
    /// An input value cannot be read for its feature.
    #[error("input {feature:?}: {message}")]
    InvalidInput { feature: String, message: String },
    /// A training or scoring data file was refused.
    #[error("{file}{}{}: {message}", row.map(|r| format!(", row {r}")).unwrap_or_default(), column.as_ref().map(|c| format!(", column {c:?}")).unwrap_or_default())]
    Data {
        file: String,
        /// 1-based line of the CSV (the header is line 1), when the problem is in one row.
        row: Option<u64>,
        column: Option<String>,
        message: String,
    },
    /// Training could not produce a model (no feature carries information, …).
    #[error("training failed: {0}")]
    Training(String),
}

impl ScorecardError {
    /// A stable machine-readable code for the error's kind.
    pub fn code(&self) -> &'static str {
        match self {
            ScorecardError::MalformedModel { .. } => "malformed_model",
            ScorecardError::UnknownFormat { .. } => "unknown_model_format",
            ScorecardError::InvalidModel { .. } => "invalid_model",
            ScorecardError::Retired => "model_retired",
            ScorecardError::InvalidInput { .. } => "invalid_input",
            ScorecardError::Data { .. } => "invalid_data",
            ScorecardError::Training(_) => "training_failed",
        }
    }

    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        ScorecardError::InvalidModel {
            path: path.into(),
            message: message.into(),
        }
    }
}
