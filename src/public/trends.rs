//! Public page: trends (being written).

use super::{Public, Request};
use crate::bounce::Reply;

/// Answers the page.
pub fn page(_public: &Public, req: &Request<'_>) -> Reply {
    crate::bounce::not_found(req.headers, crate::index::Miss::Path)
}
