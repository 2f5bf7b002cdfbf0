//! Admin section: users (being written).

use super::{Ctx, Page};
use crate::bounce::Reply;

/// Answers requests below this section.
pub fn route(ctx: &Ctx<'_>, _page: &Page<'_>) -> Reply {
    ctx.not_found("This page is not built yet.")
}
