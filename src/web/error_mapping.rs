//! How errors from inside become HTTP: the status of an [`AppError`] on the JSON API, and the
//! runner's [`RunError`] as an [`AppError`]. Kept here so that the runner and the error type
//! know nothing of HTTP.

use crate::error::AppError;
use crate::runner::RunError;

impl AppError {
    /// The HTTP status of this error on the JSON API.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::BadRequest(_) | Self::Validation(_) => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::TooManyRequests(_) => 429,
            Self::Unexpected(_) => 500,
        }
    }
}

/// A missing agent or execution is a 404, a missing project a field error on `projectId`, an
/// execution that already ended a 409, a runner shutting down a 429 (try again shortly).
impl From<RunError> for AppError {
    fn from(err: RunError) -> Self {
        match err {
            RunError::AgentNotFound(_)
            | RunError::ExecutionNotFound(_)
            | RunError::ChainNotFound(_) => AppError::NotFound(err.to_string()),
            RunError::ChainUnavailable { .. } => AppError::Conflict(err.to_string()),
            RunError::ProjectNotFound(_) => AppError::field("projectId", err.to_string()),
            RunError::AlreadyFinished(_) | RunError::NotResumable(_) => {
                AppError::Conflict(err.to_string())
            }
            RunError::PreviousExecution(_) => AppError::field("previousExecution", err.to_string()),
            RunError::VersionNotFound(_) => AppError::field("version", err.to_string()),
            RunError::ShuttingDown => AppError::TooManyRequests(err.to_string()),
            RunError::Db(db) => AppError::from(db),
        }
    }
}

/// A missing approval is a 404, one decided already a 409, an edited input that does not
/// match the tool's schema a 400 naming each field (`input.<path>`).
impl From<crate::runner::approvals::DecideError> for AppError {
    fn from(err: crate::runner::approvals::DecideError) -> Self {
        use crate::runner::approvals::DecideError;
        match err {
            DecideError::NotFound(_) => AppError::NotFound(err.to_string()),
            DecideError::AlreadyDecided(_) => AppError::Conflict(err.to_string()),
            DecideError::InvalidInput(problems) => {
                AppError::Validation(problems.into_iter().collect())
            }
            DecideError::Db(db) => AppError::from(db),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::executions::Status;

    #[test]
    fn run_errors_map_to_their_http_meaning() {
        let status = |e: RunError| AppError::from(e).status_code();
        assert_eq!(status(RunError::AgentNotFound("x".into())), 404);
        assert_eq!(status(RunError::ExecutionNotFound(1)), 404);
        assert_eq!(status(RunError::ProjectNotFound(1)), 400);
        assert_eq!(status(RunError::AlreadyFinished(Status::Completed)), 409);
        assert_eq!(status(RunError::ShuttingDown), 429);
        assert_eq!(status(RunError::ChainNotFound("c".into())), 404);
        let unavailable = RunError::ChainUnavailable {
            chain: "c".into(),
            reason: "it has no steps".into(),
        };
        assert_eq!(status(unavailable), 409);
    }
}
