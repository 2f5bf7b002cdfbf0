//! HTTP plumbing every listener shares: replies and their constructors
//! ([`reply`]), the view of a request read whole ([`Request`]), capped and
//! timed body reading and blocking-thread answers ([`body`]), and submitted
//! forms ([`form`], [`multipart`]). Feature modules (bounce, admin, API,
//! public pages, metrics) build on these and never on each other.

pub mod body;
pub mod form;
pub mod multipart;
pub mod reply;
pub mod request;

pub use reply::{
    NOT_FOUND_BODY, Reply, UNKNOWN_FILE, found, html, json, message_page, not_found, see_other,
    text, wants_html, with_type,
};
pub use request::{Request, arrived_over_https};
