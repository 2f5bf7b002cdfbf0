//! The admin's shared layout and the small pieces every page uses: forms
//! with their CSRF token, buttons that POST, badges, times.

use maud::{Markup, html};

use super::Ctx;

/// The sections in the navigation bar: (path below `/admin`, label).
const NAV: &[(&str, &str)] = &[
    ("", "Overview"),
    ("products", "Products"),
    ("mirrors", "Mirrors"),
    ("availability", "Availability"),
    ("regions", "Regions"),
    ("geoip", "GeoIP"),
    ("oses", "Systems"),
    ("loader", "Loader"),
    ("reports", "Reports"),
    ("stats", "Stats"),
    ("audit", "Audit log"),
    ("users", "Users"),
];

/// A whole page: header with navigation, the flash message, `body`.
pub fn layout(ctx: Option<&Ctx<'_>>, section: &str, title: &str, body: Markup) -> Markup {
    let head = html! {
        link rel="stylesheet" href=(crate::assets::ADMIN_CSS_PATH);
        script src=(crate::assets::ADMIN_JS_PATH) defer {}
    };
    let read_only = ctx.filter(|c| !c.may(super::area(section, &[])));
    let body = html! {
                a.skip href="#content" { "Skip to content" }
                header.bar {
                    a.brand href="/admin/" { "Bouncer" }
                    @if let Some(ctx) = ctx {
                        // Wide screens show the row of links; narrow ones
                        // (the stylesheet swaps them) a "Menu" that opens
                        // without JavaScript.
                        (menu(ctx, section))
                        details.menu {
                            summary { "Menu" }
                            div.panel { (menu(ctx, section)) }
                        }
                    }
                }
                main.admin id="content" tabindex="-1" {
                    @if let Some(ctx) = read_only {
                        p.notice role="note" {
                            "Read-only: your role (" (ctx.user.role.as_str()) ") may look at this page but not change it. Ask an admin for changes."
                        }
                    }
                    @if let Some(flash) = ctx.and_then(|c| c.flash.as_ref()) {
                        p.flash.error[flash.error] role="status" { (sentence(&flash.text)) }
                    }
                    (body)
                }
    };
    crate::http::reply::document(
        &format!("{title} · Bouncer admin"),
        head,
        Some("admin"),
        body,
    )
}

/// The navigation links and the signed-in user with "Log out".
fn menu(ctx: &Ctx<'_>, section: &str) -> Markup {
    html! {
        nav aria-label="Sections" {
            @for (path, label) in NAV {
                a.current[*path == section] href={ "/admin/" (path) } { (label) }
            }
        }
        form.who method="post" action="/admin/logout" {
            (csrf(ctx))
            span { (ctx.user.name) " · " (ctx.user.role.as_str()) }
            button.link type="submit" { "Log out" }
        }
    }
}

/// The hidden field with the session's CSRF token; every form has one.
pub fn csrf(ctx: &Ctx<'_>) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

/// A one-button form that POSTs to `action` (removals, toggles, check
/// now). With `confirm`, the question is asked first: by the script when
/// JavaScript runs, otherwise on a confirmation page (see
/// [`confirmation`]).
pub fn button(
    ctx: &Ctx<'_>,
    action: &str,
    label: &str,
    class: &str,
    confirm: Option<&str>,
) -> Markup {
    button_back(ctx, action, None, label, class, confirm)
}

/// [`button`], and with `back` the page the answer returns to (a hidden
/// `back` field).
pub fn button_back(
    ctx: &Ctx<'_>,
    action: &str,
    back: Option<&str>,
    label: &str,
    class: &str,
    confirm: Option<&str>,
) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(ctx))
            @if let Some(back) = back {
                input type="hidden" name="back" value=(back);
            }
            button type="submit" class=(class) name=[confirm.map(|_| "ask")] value=[confirm] data-confirm=[confirm] { (label) }
        }
    }
}

/// A labelled text input.
pub fn field(label: &str, name: &str, value: &str, hint: Option<&str>) -> Markup {
    html! {
        label.field {
            span { (label) }
            input type="text" name=(name) value=(value);
            @if let Some(hint) = hint { small { (hint) } }
        }
    }
}

/// What an [`input`] takes: the browser checks it and picks a keyboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Any text.
    Text,
    /// An `http://` or `https://` URL.
    Url,
    /// An e-mail address.
    Email,
    /// A whole number from `min` to `max`.
    Number {
        /// The smallest allowed.
        min: u64,
        /// The largest allowed.
        max: u64,
    },
}

/// A labelled input of `kind`, `required` or not ([`field`] is a text
/// input that may be left empty).
pub fn input(
    kind: Input,
    required: bool,
    label: &str,
    name: &str,
    value: &str,
    hint: Option<&str>,
) -> Markup {
    let (kind, min, max) = match kind {
        Input::Text => ("text", None, None),
        Input::Url => ("url", None, None),
        Input::Email => ("email", None, None),
        Input::Number { min, max } => ("number", Some(min), Some(max)),
    };
    html! {
        label.field {
            span { (label) @if required { " " abbr.req title="required" { "*" } } }
            input type=(kind) name=(name) value=(value) min=[min] max=[max] required[required];
            @if let Some(hint) = hint { small { (hint) } }
        }
    }
}

/// The page asking `question` before a POST that was not confirmed yet
/// (a button's `ask` sent without JavaScript, or a change a handler
/// finds needs asking), with every field of the form kept for the
/// confirmed POST.
pub fn confirmation(
    ctx: &Ctx<'_>,
    action: &str,
    question: &str,
    form: &super::Form,
    back: &str,
) -> Markup {
    html! {
        h1 { "Please confirm" }
        section.card.danger-zone {
            p { strong { (question) } }
            form method="post" action=(action) {
                (csrf(ctx))
                @for (name, value) in form.fields() {
                    @if !matches!(name, "csrf" | "confirmed" | "ask") {
                        input type="hidden" name=(name) value=(value);
                    }
                }
                input type="hidden" name="confirmed" value="yes";
                button.danger type="submit" { "Yes, go ahead" }
                a href=(back) { "No, go back" }
            }
        }
    }
}

/// A labelled checkbox.
pub fn checkbox(label: &str, name: &str, checked: bool) -> Markup {
    html! {
        label.check {
            input type="checkbox" name=(name) checked[checked];
            " " (label)
        }
    }
}

/// A labelled checkbox among several of the same `name`, sending `value`.
pub fn choice(label: &str, name: &str, value: &str, checked: bool) -> Markup {
    html! {
        label.check {
            input type="checkbox" name=(name) value=(value) checked[checked];
            " " (label)
        }
    }
}

/// An error message above a form.
pub fn error(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message { p.flash.error role="alert" { (sentence(m)) } }
    }
}

/// A green "up" / red "down" / grey badge.
pub fn badge(kind: Badge, text: &str) -> Markup {
    let class = match kind {
        Badge::Good => "badge good",
        Badge::Bad => "badge bad",
        Badge::Off => "badge off",
        Badge::Warn => "badge warn",
    };
    html! { span class=(class) { (text) } }
}

/// The colour of a [`badge`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Badge {
    /// Healthy, present, active.
    Good,
    /// Down, missing.
    Bad,
    /// Disabled, unknown.
    Off,
    /// Damped, unchecked.
    Warn,
}

/// A time as "5 min ago", with the exact UTC time on hover; "never" for 0.
pub fn ago(unix: u64) -> Markup {
    ago_from(unix, crate::model::now())
}

fn ago_from(unix: u64, now: u64) -> Markup {
    if unix == 0 {
        return html! { span.muted { "never" } };
    }
    let d = now.saturating_sub(unix);
    let text = match d {
        0..60 => "just now".to_string(),
        60..3600 => format!("{} min ago", d / 60),
        3600..86400 => format!("{} h ago", d / 3600),
        _ => format!("{} days ago", d / 86400),
    };
    html! { time datetime=(crate::log::timestamp(unix)) title=(crate::model::utc(unix)) { (text) } }
}

/// "1 product", "3 products".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `s` with its first letter in upper case (error messages as sentences).
pub fn sentence(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Percent-encodes a name for use in an admin URL path segment.
pub fn seg(name: &str) -> String {
    crate::query::encode_component(name)
}

/// A query string (`?a=1&b=x%20y`) of the non-empty `pairs`, values
/// percent-encoded; empty when all are empty.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&seg(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_naturally() {
        assert_eq!(
            ago_from(0, 100).into_string(),
            r#"<span class="muted">never</span>"#
        );
        assert!(ago_from(100, 130).into_string().contains("just now"));
        assert!(ago_from(100, 100 + 300).into_string().contains("5 min ago"));
        assert!(ago_from(100, 100 + 7300).into_string().contains("2 h ago"));
        assert!(
            ago_from(100, 100 + 3 * 86400)
                .into_string()
                .contains("3 days ago")
        );
    }

    #[test]
    fn words() {
        assert_eq!(plural(1, "check", "checks"), "1 check");
        assert_eq!(plural(0, "check", "checks"), "0 checks");
        assert_eq!(sentence("invalid product: x"), "Invalid product: x");
        assert_eq!(sentence("élan"), "Élan");
        assert_eq!(sentence(""), "");
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("firefox-120.0"), "firefox-120.0");
        assert_eq!(seg("a/b?c<d>"), "a%2Fb%3Fc%3Cd%3E");
        assert_eq!(crate::query::percent_decode(&seg("ü \"x\"")), "ü \"x\"");
    }
}
