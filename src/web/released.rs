//! Runs a document change lets continue ([`Collection::released_runs`]: a budget raised,
//! deactivated or deleted) are resumed here, after the change, by whichever surface made it
//! (API, admin form, list toggle, delete). Collections know no runner; this glue does.

use crate::auth::current_user::CurrentUser;
use crate::collections::{Collection, Row};
use crate::state::AppState;

/// Resumes the runs released by the change of `before` into `after` (`None`: deleted). The
/// change is made already: a run that cannot be resumed is logged, not reported.
pub(crate) async fn resume_released<C: Collection>(
    state: &AppState,
    user: &CurrentUser,
    before: &Row<C>,
    after: Option<&Row<C>>,
) {
    let ids = match C::released_runs(&state.db, before, after).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, collection = C::SLUG, "could not find the runs a change released");
            return;
        }
    };
    for id in ids {
        if let Err(e) = state.runner.resume(id, Some(user.email.clone())).await {
            tracing::warn!(run.id = id, error = %e, "a run released by a change could not be resumed");
        }
    }
}
