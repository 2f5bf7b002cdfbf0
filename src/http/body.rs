//! Reading request bodies (capped and timed) and answering on a blocking
//! thread: the two steps every page that reads the store takes.

use std::time::Duration;

use hyper::StatusCode;
use hyper::body::{Bytes, Incoming};

use super::{Reply, text};

/// Reads a whole request body of at most `limit` bytes within `patience`:
/// a declared length over the limit is refused before reading
/// (`too_large`), as is a body that grows past it; 400 for a body that
/// breaks off, 408 for one that takes too long.
pub async fn read(
    body: Incoming,
    headers: &hyper::HeaderMap,
    limit: usize,
    patience: Duration,
    too_large: impl Fn() -> Reply,
) -> Result<Bytes, Reply> {
    use http_body_util::BodyExt;
    let declared = headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let read = http_body_util::Limited::new(body, limit).collect();
    match tokio::time::timeout(patience, read).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err(text(
            StatusCode::BAD_REQUEST,
            "400 the request body broke off\n".into(),
        )),
        Err(_) => Err(text(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "408 the request body took longer than {} s\n",
                patience.as_secs()
            ),
        )),
    }
}

/// What failed, should an answer made on a blocking thread panic: the log
/// line, and the body of the 500 the client gets.
#[derive(Clone, Copy)]
pub struct Failure {
    /// The server log's message (`"an admin page failed"`).
    pub log: &'static str,
    /// The 500's body (`"500 the admin page failed; the server log says why\n"`).
    pub reply: &'static str,
}

impl Failure {
    /// What failed: the log line and the 500's body.
    pub const fn new(log: &'static str, reply: &'static str) -> Failure {
        Failure { log, reply }
    }
}

/// Answers with `answer` on a blocking thread (it may read and write the
/// store); a panic there is logged and answered 500 as `failure` says.
pub async fn blocking(failure: Failure, answer: impl FnOnce() -> Reply + Send + 'static) -> Reply {
    off_thread(failure, answer).await.unwrap_or_else(|e| e)
}

/// Runs `work` on a blocking thread; a panic there is logged, and comes
/// back as the 500 that `failure` says.
pub async fn off_thread<T: Send + 'static>(
    failure: Failure,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Reply> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        tracing::error!(error = %e, "{}", failure.log);
        text(StatusCode::INTERNAL_SERVER_ERROR, failure.reply.into())
    })
}
