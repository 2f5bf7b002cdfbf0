//! The maintenance page a mirror's contact reaches from a mailed link
//! (`bouncer mirror maintenance-link NAME --mail`): no account, the token
//! in the link is the credential. It announces or cancels the mirror's
//! maintenance window (SPEC §13).

use hyper::{Method, StatusCode};
use maud::html;

use super::Admin;
use crate::http::Reply;
use crate::http::form::Form;
use crate::http::request::Request;
use crate::model::maintenance::{self, SECRET};
use crate::model::{Actor, MirrorId};

/// Answers `/admin/maintenance/ID/TOKEN` (GET: the form; POST: announce).
pub fn link(admin: &Admin, req: &Request<'_>, rest: &str) -> Reply {
    let refused = || {
        page(
            StatusCode::NOT_FOUND,
            "Link not valid",
            html! { h1 { "Link not valid" } p { "This maintenance link is not valid (any more): the mirror's address changed, or it was removed. Ask the download site's operators for a new link." } },
        )
    };
    let Some((id, token)) = rest.split_once('/') else {
        return refused();
    };
    let Ok(id) = id.parse::<u64>().map(MirrorId) else {
        return refused();
    };
    let Ok(snapshot) = admin.network.snapshot() else {
        return refused();
    };
    let (Some(secret), Some(mirror)) = (
        snapshot.settings.get(SECRET),
        snapshot.mirrors.iter().find(|m| m.id == id),
    ) else {
        return refused();
    };
    if !crate::auth::same_secret(token, &maintenance::token(secret, id, &mirror.base_url)) {
        return refused();
    }
    let mut said = None;
    if req.method == Method::POST {
        let window = Form::parse(req.content_type(), req.body)
            .map_err(|e| e.to_string())
            .and_then(|f| maintenance::parse(f.get("window"), crate::model::now()));
        said = Some(match window {
            Err(e) => Err(e),
            Ok(window) => admin
                .network
                .write(&Actor::Program("maintenance-link"), |tx| {
                    tx.mirror_update(&mirror.name, |m| m.maintenance = window)
                })
                .map(|m| match m.maintenance {
                    Some(w) => format!("Announced: away for maintenance from {}.", w.describe()),
                    None => "Cancelled: no maintenance window.".to_string(),
                })
                .map_err(|e| e.to_string()),
        });
    }
    let current = admin.network.snapshot().ok().and_then(|s| {
        s.mirrors
            .iter()
            .find(|m| m.id == id)
            .and_then(|m| m.maintenance)
    });
    let body = html! {
        h1 { "Maintenance of mirror " (mirror.name) }
        @match &said {
            Some(Ok(done)) => p.flash role="status" { (done) },
            Some(Err(e)) => p.flash.error role="alert" { (e) },
            None => {},
        }
        p {
            @match current {
                Some(w) => { "Announced window: " (w.describe()) "." }
                None => "No window announced.",
            }
        }
        p { "During a window the mirror gets no downloads and is not checked, so nobody is mailed about it. After the window it gets downloads again once a check passes." }
        form method="post" {
            label for="window" { "Window (UTC): FROM/DURATION, e.g. now/2h or 2026-12-08T02:00:00Z/90m; none cancels" }
            input id="window" name="window" type="text" required;
            button type="submit" { "Announce" }
        }
    };
    page(
        StatusCode::OK,
        &format!("Maintenance of {}", mirror.name),
        body,
    )
}

/// A page of the public look.
fn page(status: StatusCode, title: &str, body: maud::Markup) -> Reply {
    let body = html! { main { (body) } };
    crate::http::html(
        status,
        crate::http::reply::document(title, crate::http::reply::public_css(), None, body),
    )
}
