//! Admin section: users — the accounts that may log in here, their roles
//! and passwords.
//!
//! Routes: `GET /admin/users[?q=&sort=&page=&per=]` (one page of the
//! list: `q` is text in a name or role, `sort` `name`, `role` or
//! `added`), `POST /admin/users` (add),
//! `GET /admin/users/NAME`, `POST /admin/users/NAME/role`,
//! `POST /admin/users/NAME/password`, `POST /admin/users/NAME/remove`.
//!
//! Rules beyond the framework's (only admins reach the POSTs): nobody
//! removes or demotes themselves, and the last admin is never removed or
//! demoted, so the admin cannot be locked out. A new password or a removal
//! ends every session of that user. Password hashes are never shown.
//!
//! Admins also see who is being throttled after failed logins (admin or
//! API): account, address, failures and until when; others do not see
//! client addresses.

use hyper::StatusCode;
use maud::{Markup, html};

use super::list::{self, Listing};
use super::page::{self, Badge, badge, csrf, seg};
use super::{Ctx, Form, Page, PageResult, wording};
use crate::auth::Area;
use crate::error::Thing;
use crate::error::{Error, Result};
use crate::http::Reply;
use crate::model::{Role, User};

/// The shortest password accepted here.
pub const MIN_PASSWORD: usize = 10;

const ROLES: [Role; 3] = [Role::Admin, Role::Release, Role::Viewer];

/// The users list's address.
const BASE: &str = "/admin/users";

/// Answers requests below `/admin/users`.
pub fn route(ctx: &Ctx<'_>, page: &Page<'_>) -> PageResult {
    match (page.post, page.rest().as_slice()) {
        (false, []) => list(ctx, &page.form, None, &[]),
        (true, []) => add(ctx, &page.form),
        (false, [name]) => detail(ctx, name, None),
        (true, [name, "role"]) => set_role(ctx, name, &page.form),
        (true, [name, "password"]) => set_password(ctx, name, &page.form),
        (true, [name, "remove"]) => remove(ctx, name),
        _ => Ok(ctx.not_found("There is no such user page.")),
    }
}

fn what_role_may(role: Role) -> &'static str {
    match role {
        Role::Admin => "everything, users included",
        Role::Release => "products, locations, aliases and the loader; reads the rest",
        Role::Viewer => "reads everything, changes nothing",
    }
}

/// A role as a calm grey badge: roles are facts, not warnings.
fn role_badge(role: Role) -> Markup {
    badge(Badge::Off, role.as_str())
}

/// What each role may, one per line.
fn roles_explained() -> Markup {
    html! {
        @for (i, r) in ROLES.iter().enumerate() {
            @if i > 0 { br; }
            strong { (r.as_str()) } ": " (what_role_may(*r))
        }
    }
}

/// The role field: short option labels, what each may in the hint.
fn role_select(chosen: &str) -> Markup {
    html! {
        label.field {
            span { "Role" }
            select name="role" {
                @for r in ROLES {
                    option value=(r.as_str()) selected[r.as_str() == chosen] { (r.as_str()) }
                }
            }
            small { (roles_explained()) }
        }
    }
}

fn password_fields() -> Markup {
    html! {
        label.field {
            span { "Password" }
            input type="password" name="password" autocomplete="new-password" minlength=(MIN_PASSWORD) required;
            small { "at least " (MIN_PASSWORD) " characters" }
        }
        label.field {
            span { "Repeat the password" }
            input type="password" name="repeat" autocomplete="new-password" minlength=(MIN_PASSWORD) required;
        }
    }
}

fn created(at: u64) -> Markup {
    if at == 0 {
        html! { span.muted { "unknown" } }
    } else {
        page::ago(at)
    }
}

/// The users list's view: search by name, sort by name, role or when
/// added, one page at a time.
fn list(ctx: &Ctx<'_>, view: &Form, form: Option<&Form>, errors: &[String]) -> PageResult {
    let all = ctx.network().store().users()?;
    let total = all.len();
    let v = Listing::from_form(view, "name", &[]);
    let mut users: Vec<User> = all
        .into_iter()
        .filter(|u| v.matches([u.name.as_str(), u.role.as_str()]))
        .collect();
    let rank = |r: Role| ROLES.iter().position(|x| *x == r).unwrap_or(ROLES.len());
    users.sort_by(|a, b| {
        let by_name = a.name.to_lowercase().cmp(&b.name.to_lowercase());
        let primary = match v.sort.as_str() {
            "role" => rank(a.role).cmp(&rank(b.role)),
            "added" => a.created_at.cmp(&b.created_at),
            _ => by_name,
        };
        v.order(primary).then(by_name)
    });
    let (users, window) = v.window(users);
    let can = ctx.may(Area::Network);
    let now = crate::model::now();
    let waiting = if can {
        ctx.admin.throttle.throttled(now)?
    } else {
        Vec::new()
    };
    let error = (!errors.is_empty()).then(|| errors.join(" "));
    let body = html! {
        div.toolbar {
            h1 { "Users" }
            span.muted { (page::plural(total, "user", "users")) }
            @if can { a href="#add" { "Add a user" } }
        }
        @if total > list::PER || v.narrowed() { (v.search(BASE, "users (name or role)", &[])) }
        div.scroll { table {
            thead { tr {
                (v.heading(BASE, "name", "Name", false))
                (v.heading(BASE, "role", "Role", false))
                (v.heading(BASE, "added", "Added", false))
            } }
            tbody {
                @for u in &users {
                    tr {
                        td.wrap {
                            @if can {
                                a href={ "/admin/users/" (seg(&u.name)) } { (u.name) }
                            } @else {
                                (u.name)
                            }
                            @if u.name == ctx.user.name { " " span.muted { "(you)" } }
                        }
                        td { (role_badge(u.role)) }
                        td { (created(u.created_at)) }
                    }
                }
                @if users.is_empty() {
                    tr { td.muted colspan="3" { "No user matches." } }
                }
            }
        } }
        @if window.pages > 1 || v.narrowed() { (v.pager(BASE, &window, "users")) }
        @if !can {
            // Admins read this under the role field of the form below.
            p.muted { (roles_explained()) }
        }
        @if can {
            (throttled(&waiting, now))
            section.card id="add" {
                h2 { "Add a user" }
                (page::error(error.as_deref()))
                form.stack method="post" action="/admin/users" {
                    (csrf(ctx))
                    label.field {
                        span { "Name" }
                        input type="text" name="name" value=(form.map_or("", |f| f.get("name"))) autocomplete="off" required;
                        small { "what they log in with; no spaces" }
                    }
                    (role_select(form.map_or("viewer", |f| f.get("role"))))
                    (password_fields())
                    div { button.primary type="submit" { "Add user" } }
                }
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(ctx.page_status(status, "users", "Users", body))
}

/// Who is being throttled after failed logins (the admin's and the
/// API's), the latest to be let in again first.
fn throttled(list: &[crate::auth::Throttled], now: u64) -> Markup {
    html! {
        section.card #throttled {
            h2 { "Throttled logins" }
            @if list.is_empty() {
                p.muted { "Nobody: no address has failed to log in too often lately." }
            } @else {
                p.muted {
                    "After repeated failures an address waits before its next try, "
                    "longer after each further failure; a successful login forgets "
                    "its failures. Other addresses, and an address's own accounts, are not held up."
                }
                table {
                    thead { tr { th { "Account" } th { "Address" } th.num { "Failures" } th { "Waits until" } } }
                    tbody {
                        @for t in list {
                            tr {
                                td {
                                    @match &t.account {
                                        Some(a) => (a),
                                        None => span.muted { "any it has not logged in to" },
                                    }
                                }
                                td { code { (t.client) } }
                                td.num { (t.failures) }
                                td {
                                    time datetime=(crate::log::timestamp(t.until)) { (crate::model::utc(t.until)) }
                                    @if t.until <= now {
                                        " " span.muted { "(passed: the next failure waits longer)" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What is wrong with the new password in `form` (empty: nothing).
fn password_problems(form: &Form) -> Vec<String> {
    let password = form.raw("password");
    let mut out = Vec::new();
    if password.is_empty() {
        out.push(format!(
            "Type a password (at least {MIN_PASSWORD} characters)."
        ));
    } else if password.chars().count() < MIN_PASSWORD {
        out.push(format!(
            "The password is too short: use at least {MIN_PASSWORD} characters."
        ));
    }
    if !password.is_empty() && password != form.raw("repeat") {
        out.push("The two passwords do not match: type the same password in both fields.".into());
    }
    out
}

fn add(ctx: &Ctx<'_>, form: &Form) -> PageResult {
    let mut errors = Vec::new();
    let name = match crate::validate::name("user", form.get("name")) {
        Ok(n) => n,
        Err(e) => {
            errors.push(format!("{e}."));
            String::new()
        }
    };
    let role = Role::parse(form.get("role"));
    if role.is_none() {
        errors.push(format!(
            "Role {:?} is not one of admin, release, viewer.",
            form.get("role")
        ));
    }
    errors.extend(password_problems(form));
    let (Some(role), true) = (role, errors.is_empty()) else {
        return list(ctx, &Form::default(), Some(form), &errors);
    };
    // Hashing takes a while: do it before the write transaction.
    let password_hash = match crate::auth::hash_password(form.raw("password")) {
        Ok(h) => h,
        Err(e) => return list(ctx, &Form::default(), Some(form), &[wording::text(&e)]),
    };
    let added = ctx.write(|tx| {
        if let Some(old) = tx.user(&name)? {
            return Err(Error::InUse {
                detail: format!(
                    "A user named {:?} exists already: choose another name.",
                    old.name
                ),
            });
        }
        let user = User {
            name: name.clone(),
            password_hash,
            role,
            created_at: tx.now(),
        };
        tx.user_put(&user, "user.add")
    });
    match added {
        Ok(()) => Ok(ctx.done(
            "/admin/users",
            format!(
                "Added user {name} ({}). They can log in now.",
                role.as_str()
            ),
        )),
        Err(e) => list(ctx, &Form::default(), Some(form), &[wording::text(&e)]),
    }
}

/// Which form on a user's page failed, with the message (and, for the
/// role, what was chosen).
enum Problem<'a> {
    Role(&'a str, String),
    Password(String),
}

fn detail(ctx: &Ctx<'_>, name: &str, problem: Option<Problem<'_>>) -> PageResult {
    let user = ctx
        .network()
        .store()
        .users()?
        .into_iter()
        .find(|u| u.name == name);
    let Some(user) = user else {
        return Ok(ctx.not_found(&format!("There is no user named {name:?}.")));
    };
    let url = format!("/admin/users/{}", seg(&user.name));
    let me = user.name == ctx.user.name;
    let can = ctx.may(Area::Network);
    let (role_error, chosen) = match &problem {
        Some(Problem::Role(chosen, e)) => (Some(e.as_str()), *chosen),
        _ => (None, user.role.as_str()),
    };
    let password_error = match &problem {
        Some(Problem::Password(e)) => Some(e.as_str()),
        _ => None,
    };
    let body = html! {
        div.toolbar {
            h1 { "User " (user.name) }
            (role_badge(user.role))
            @if me { span.muted { "(you)" } }
        }
        p { "Added " (created(user.created_at)) ". May: " (what_role_may(user.role)) "." }
        p { a href={ "/admin/audit?q=" (seg(&user.name)) } { "History" } " · " a href="/admin/users" { "All users" } }
        @if can {
            section.card {
                h2 { "Role" }
                (page::error(role_error))
                @if me {
                    p.muted { "You cannot change your own role: another admin can. This keeps anyone from locking themselves out by mistake." }
                } @else {
                    form.stack method="post" action={ (url) "/role" } {
                        (csrf(ctx))
                        (role_select(chosen))
                        div { button.primary type="submit" { "Change role" } }
                    }
                    p.muted { "A new role applies from their next click." }
                }
            }
            section.card {
                h2 { "Set a new password" }
                @if me {
                    p.muted { "Changing your own password logs you out everywhere, this session included: you then log in with the new one." }
                } @else {
                    p.muted { "Every session of " (user.name) " ends: they log in again with the new password." }
                }
                (page::error(password_error))
                form.stack method="post" action={ (url) "/password" } {
                    (csrf(ctx))
                    (password_fields())
                    div { button.primary type="submit" { "Set password" } }
                }
            }
            section.card.danger-zone {
                h2 { "Remove" }
                @if me {
                    p.muted { "You cannot remove your own account: another admin can." }
                } @else {
                    p { "Removing an account ends its sessions at once. Its entries in the audit log stay." }
                    (page::button(ctx, &format!("{url}/remove"), "Remove this user", "danger", Some(&format!("Remove user {}?", user.name))))
                }
            }
        }
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(ctx.page_status(status, "users", &format!("User {}", user.name), body))
}

/// How many admins there are. Called inside a write: writes run one at a
/// time, so this read sees every committed change and none can land
/// before this write commits.
fn admins(ctx: &Ctx<'_>) -> Result<usize> {
    Ok(ctx
        .network()
        .store()
        .users()?
        .iter()
        .filter(|u| u.role == Role::Admin)
        .count())
}

/// Refuses to demote (`new_role` not admin) or remove (`None`) `user`
/// when they are the last of `admins` admins.
fn keep_an_admin(user: &User, new_role: Option<Role>, admins: usize) -> Result<()> {
    if user.role != Role::Admin || new_role == Some(Role::Admin) || admins > 1 {
        return Ok(());
    }
    let doing = if new_role.is_some() {
        "demoted"
    } else {
        "removed"
    };
    Err(Error::InUse {
        detail: format!(
            "User {} is the last admin and cannot be {doing}: make another user an admin first, so someone can still manage Bouncer.",
            user.name
        ),
    })
}

fn set_role(ctx: &Ctx<'_>, name: &str, form: &Form) -> PageResult {
    let chosen = form.get("role");
    let Some(role) = Role::parse(chosen) else {
        return detail(
            ctx,
            name,
            Some(Problem::Role(
                chosen,
                format!("Role {chosen:?} is not one of admin, release, viewer."),
            )),
        );
    };
    if name == ctx.user.name && role != Role::Admin {
        return detail(
            ctx,
            name,
            Some(Problem::Role(
                chosen,
                "You cannot take away your own admin role: ask another admin to do it.".into(),
            )),
        );
    }
    let changed = ctx.write(|tx| {
        let mut user = tx
            .user(name)?
            .ok_or_else(|| Error::not_found(Thing::User, name))?;
        if user.role == role {
            return Ok(false);
        }
        keep_an_admin(&user, Some(role), admins(ctx)?)?;
        user.role = role;
        tx.user_put(&user, "user.role")?;
        Ok(true)
    });
    let url = format!("/admin/users/{}", seg(name));
    match changed {
        Ok(true) => Ok(ctx.done(
            &url,
            format!(
                "User {name} is now {}; it applies from their next click.",
                role.as_str()
            ),
        )),
        Ok(false) => Ok(ctx.done(
            &url,
            format!(
                "User {name} was {} already; nothing changed.",
                role.as_str()
            ),
        )),
        Err(Error::NotFound { .. }) => {
            Ok(ctx.not_found(&format!("There is no user named {name:?}.")))
        }
        Err(e) => detail(ctx, name, Some(Problem::Role(chosen, wording::text(&e)))),
    }
}

fn set_password(ctx: &Ctx<'_>, name: &str, form: &Form) -> PageResult {
    let problems = password_problems(form);
    if !problems.is_empty() {
        return detail(ctx, name, Some(Problem::Password(problems.join(" "))));
    }
    let password_hash = match crate::auth::hash_password(form.raw("password")) {
        Ok(h) => h,
        Err(e) => return detail(ctx, name, Some(Problem::Password(wording::text(&e)))),
    };
    let changed = ctx.write(|tx| {
        let mut user = tx
            .user(name)?
            .ok_or_else(|| Error::not_found(Thing::User, name))?;
        user.password_hash = password_hash;
        tx.user_put(&user, "user.passwd")
    });
    match changed {
        Ok(()) => {
            end_sessions(ctx, name);
            if name == ctx.user.name {
                Ok(logged_out())
            } else {
                Ok(ctx.done(
                    &format!("/admin/users/{}", seg(name)),
                    format!(
                        "Changed the password of {name}. Their sessions have ended: they log in again with the new password."
                    ),
                ))
            }
        }
        Err(Error::NotFound { .. }) => {
            Ok(ctx.not_found(&format!("There is no user named {name:?}.")))
        }
        Err(e) => detail(ctx, name, Some(Problem::Password(wording::text(&e)))),
    }
}

/// Ends `name`'s sessions after their password changed or they were
/// removed. Should the database fail here, the sessions end anyway: every
/// request checks the session's user and password hash against the
/// stored user.
fn end_sessions(ctx: &Ctx<'_>, name: &str) {
    if let Err(e) = ctx.admin.sessions.end_user(name) {
        tracing::warn!(user = name, error = %e, "cannot remove the sessions of a changed user");
    }
}

/// After changing one's own password: this session has ended too, so a
/// page without the navigation, pointing to the login.
fn logged_out() -> Reply {
    crate::http::html(
        StatusCode::OK,
        page::layout(
            None,
            "",
            "Password changed",
            html! {
                h1 { "Password changed" }
                p.flash role="status" { "Your password was changed, and all your sessions have ended, this one included." }
                p { a href="/admin/login?next=%2Fadmin%2Fusers" { "Log in again" } " with the new password." }
            },
        ),
    )
}

fn remove(ctx: &Ctx<'_>, name: &str) -> PageResult {
    let url = format!("/admin/users/{}", seg(name));
    if name == ctx.user.name {
        return Ok(ctx.failed(
            &url,
            "You cannot remove your own account: ask another admin to do it.",
        ));
    }
    let removed = ctx.write(|tx| {
        let user = tx
            .user(name)?
            .ok_or_else(|| Error::not_found(Thing::User, name))?;
        keep_an_admin(&user, None, admins(ctx)?)?;
        tx.user_remove(name)
    });
    match removed {
        Ok(()) => {
            end_sessions(ctx, name);
            Ok(ctx.done(
                "/admin/users",
                format!("Removed user {name}; their sessions have ended."),
            ))
        }
        Err(e @ Error::NotFound { .. }) => Ok(ctx.failed("/admin/users", wording::text(&e))),
        Err(e) => Ok(ctx.failed(&url, wording::text(&e))),
    }
}

#[cfg(test)]
mod tests {
    use hyper::StatusCode;

    use crate::admin::testing::*;
    use crate::admin::{Admin, page::seg};
    use crate::auth::verify_password;
    use crate::model::{Role, User};

    const SCRIPT: &str = "<script>alert(1)</script>";
    const IMG: &str = "\"><img src=x onerror=alert(1)>";
    const GOOD: &str = "a long enough password";

    fn user(admin: &Admin, name: &str) -> Option<User> {
        admin
            .network
            .store()
            .users()
            .unwrap()
            .into_iter()
            .find(|u| u.name == name)
    }

    fn assert_escaped(page: &str) {
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img src=x"), "{page}");
    }

    fn assert_logged_out(admin: &Admin, who: &Login) {
        let to = redirected(get(admin, who, "/admin/users"));
        assert!(to.starts_with("/admin/login"), "{to}");
    }

    #[test]
    fn add_a_user() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(get(&admin, &ann, "/admin/users"));
        assert!(page.contains("1 user<"), "{page}");
        // Short role names in the select; what each may in the hint.
        assert!(
            page.contains(r#"<option value="viewer" selected>viewer</option>"#),
            "{page}"
        );
        assert!(
            page.contains("<small><strong>admin</strong>: everything, users included<br>"),
            "{page}"
        );
        assert!(page.contains(r#"<span class="badge off">admin</span>"#));
        assert!(
            !page.contains("badge warn") && !page.contains(" — "),
            "{page}"
        );
        let r = post(
            &admin,
            &ann,
            "/admin/users",
            &[
                ("name", "bob"),
                ("role", "release"),
                ("password", GOOD),
                ("repeat", GOOD),
            ],
        );
        let page = follow(&admin, &ann, r);
        assert!(page.contains("Added user bob (release)"), "{page}");
        assert!(page.contains("2 users<"), "{page}");
        let bob = user(&admin, "bob").unwrap();
        assert_eq!(bob.role, Role::Release);
        assert!(bob.created_at > 0);
        assert!(verify_password(GOOD, &bob.password_hash));
        // Hashes never reach a page.
        assert!(!page.contains(&bob.password_hash));
        assert!(!page.contains("$argon2"));
        let page = body(get(&admin, &ann, "/admin/users/bob"));
        assert!(!page.contains("$argon2"), "{page}");
        let e = &admin.network.store().events(1).unwrap()[0];
        assert_eq!(
            (e.actor.as_str(), e.action.as_str(), e.detail.as_str()),
            ("admin:ann", "user.add", "bob role=release")
        );
    }

    #[test]
    fn validation_errors_are_422_and_store_nothing() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let before = admin.network.store().events(100).unwrap().len();
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[
                    ("name", "bob"),
                    ("role", "viewer"),
                    ("password", "short"),
                    ("repeat", "short"),
                ],
                "too short: use at least 10 characters",
            ),
            (
                &[("name", "bob"), ("role", "viewer")],
                "Type a password (at least 10 characters)",
            ),
            (
                &[
                    ("name", "bob"),
                    ("role", "viewer"),
                    ("password", GOOD),
                    ("repeat", "something else"),
                ],
                "do not match",
            ),
            (
                &[
                    ("name", ""),
                    ("role", "viewer"),
                    ("password", GOOD),
                    ("repeat", GOOD),
                ],
                "the name is empty",
            ),
            (
                &[
                    ("name", "b b"),
                    ("role", "viewer"),
                    ("password", GOOD),
                    ("repeat", GOOD),
                ],
                "may not contain spaces",
            ),
            (
                &[
                    ("name", "bob"),
                    ("role", "root"),
                    ("password", GOOD),
                    ("repeat", GOOD),
                ],
                "Role \"root\" is not one of admin, release, viewer",
            ),
            (
                &[
                    ("name", "ann"),
                    ("role", "viewer"),
                    ("password", GOOD),
                    ("repeat", GOOD),
                ],
                "A user named \"ann\" exists already: choose another name",
            ),
        ];
        for (fields, message) in cases {
            let r = post(&admin, &ann, "/admin/users", fields);
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
            let page = body(r);
            assert!(
                page.replace("&quot;", "\"").contains(message),
                "{fields:?}: {page}"
            );
            // The name stays; passwords are never sent back.
            let typed = fields[0].1;
            assert!(
                page.contains(&format!(r#"name="name" value="{typed}""#)),
                "{page}"
            );
            assert!(!page.contains(GOOD), "{page}");
        }
        // Several problems at once are all reported.
        let r = post(
            &admin,
            &ann,
            "/admin/users",
            &[
                ("name", "a b"),
                ("role", "x"),
                ("password", "short"),
                ("repeat", "shirt"),
            ],
        );
        let page = body(r);
        for m in ["spaces", "not one of", "too short", "do not match"] {
            assert!(page.contains(m), "{m}: {page}");
        }
        let users = admin.network.store().users().unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(admin.network.store().events(100).unwrap().len(), before);

        // Password changes are held to the same rules.
        let bob = login(&admin, "bob", Role::Viewer);
        let old = user(&admin, "bob").unwrap().password_hash;
        for (fields, message) in [
            (
                &[("password", "short"), ("repeat", "short")][..],
                "too short",
            ),
            (
                &[("password", GOOD), ("repeat", "other")][..],
                "do not match",
            ),
        ] {
            let r = post(&admin, &ann, "/admin/users/bob/password", fields);
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
            assert!(body(r).contains(message));
        }
        assert_eq!(user(&admin, "bob").unwrap().password_hash, old);
        assert_eq!(get(&admin, &bob, "/admin/users").status(), StatusCode::OK);
        // And a role must be a role.
        let r = post(&admin, &ann, "/admin/users/bob/role", &[("role", SCRIPT)]);
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert_escaped(&page);
        assert!(
            page.contains("is not one of admin, release, viewer"),
            "{page}"
        );
        assert_eq!(user(&admin, "bob").unwrap().role, Role::Viewer);
    }

    #[test]
    fn hostile_names_are_escaped() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        // Names may not hold spaces, but may hold markup, quotes and unicode.
        for name in [SCRIPT, "\"'ü<b>"] {
            let r = post(
                &admin,
                &ann,
                "/admin/users",
                &[
                    ("name", name),
                    ("role", "viewer"),
                    ("password", GOOD),
                    ("repeat", GOOD),
                ],
            );
            let page = follow(&admin, &ann, r);
            assert_escaped(&page);
            assert!(user(&admin, name).is_some());
        }
        let page = body(get(&admin, &ann, "/admin/users"));
        assert_escaped(&page);
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(page.contains("&quot;'ü&lt;b&gt;"), "{page}");
        assert!(
            page.contains(&format!("/admin/users/{}", seg(SCRIPT))),
            "{page}"
        );
        let page = body(get(&admin, &ann, &format!("/admin/users/{}", seg(SCRIPT))));
        assert_escaped(&page);
        assert!(page.contains("Remove this user"), "{page}");
        // A rejected name is shown back escaped.
        let r = post(
            &admin,
            &ann,
            "/admin/users",
            &[("name", IMG), ("role", "viewer")],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_escaped(&body(r));
        // Acting on the hostile user works through its encoded URL.
        let r = post(
            &admin,
            &ann,
            &format!("/admin/users/{}/remove", seg(SCRIPT)),
            &[],
        );
        assert_eq!(redirected(r), "/admin/users");
        assert!(user(&admin, SCRIPT).is_none());
    }

    #[test]
    fn roles_change_but_not_ones_own_nor_the_last_admins() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let bob = login(&admin, "bob", Role::Viewer);

        // Ann cannot demote herself, while the only admin or not.
        for role in ["release", "viewer"] {
            let r = post(&admin, &ann, "/admin/users/ann/role", &[("role", role)]);
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
            assert!(body(r).contains("cannot take away your own admin role"));
        }
        let page = body(get(&admin, &ann, "/admin/users/ann"));
        assert!(page.contains("You cannot change your own role"), "{page}");
        assert!(!page.contains("Change role"), "{page}");
        assert!(!page.contains("Remove this user"), "{page}");

        let r = post(&admin, &ann, "/admin/users/bob/role", &[("role", "admin")]);
        assert!(follow(&admin, &ann, r).contains("bob is now admin"));
        assert_eq!(user(&admin, "bob").unwrap().role, Role::Admin);
        let e = &admin.network.store().events(1).unwrap()[0];
        assert_eq!(
            (e.actor.as_str(), e.action.as_str(), e.detail.as_str()),
            ("admin:ann", "user.role", "bob role=admin")
        );
        // Bob's session carries on with the new role.
        assert!(body(get(&admin, &bob, "/admin/users")).contains("Add user"));
        let r = post(&admin, &ann, "/admin/users/bob/role", &[("role", "admin")]);
        assert!(follow(&admin, &ann, r).contains("nothing changed"));

        // Bob demotes ann: allowed, two admins. Then ann (now a viewer)
        // cannot act on users at all, and bob cannot demote himself.
        let r = post(&admin, &bob, "/admin/users/ann/role", &[("role", "viewer")]);
        assert_eq!(redirected(r), "/admin/users/ann");
        let r = post(&admin, &ann, "/admin/users/bob/role", &[("role", "viewer")]);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = post(&admin, &bob, "/admin/users/bob/role", &[("role", "viewer")]);
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(user(&admin, "bob").unwrap().role, Role::Admin);
    }

    #[test]
    fn the_last_admin_is_kept() {
        let admin_user = |role| User {
            name: "ann".into(),
            password_hash: String::new(),
            role,
            created_at: 0,
        };
        let ann = admin_user(Role::Admin);
        for new in [Some(Role::Release), Some(Role::Viewer), None] {
            let e = super::keep_an_admin(&ann, new, 1).unwrap_err().to_string();
            let doing = if new.is_some() { "demoted" } else { "removed" };
            assert!(
                e.contains(&format!("ann is the last admin and cannot be {doing}")),
                "{e}"
            );
            assert!(e.contains("make another user an admin first"), "{e}");
            super::keep_an_admin(&ann, new, 2).unwrap();
            super::keep_an_admin(&admin_user(Role::Viewer), new, 1).unwrap();
        }
        super::keep_an_admin(&ann, Some(Role::Admin), 1).unwrap();
    }

    #[test]
    fn two_admins_demoting_each_other_leave_one_admin() {
        // Both requests pass the framework's role check before either
        // commits; the count inside the write keeps one admin. Whichever
        // comes second is refused: 403 if its user was already demoted
        // when it arrived, 422 "last admin" if the demotion landed while
        // it waited for the write.
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let bob = login(&admin, "bob", Role::Admin);
        for _ in 0..10 {
            let barrier = std::sync::Barrier::new(2);
            let statuses: Vec<StatusCode> = std::thread::scope(|s| {
                let go = |who: &'static str| {
                    let (me, other) = if who == "ann" {
                        (&ann, "bob")
                    } else {
                        (&bob, "ann")
                    };
                    let (admin, barrier) = (&admin, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let r = post(
                            admin,
                            me,
                            &format!("/admin/users/{other}/role"),
                            &[("role", "viewer")],
                        );
                        let status = r.status();
                        if status == StatusCode::UNPROCESSABLE_ENTITY {
                            assert!(body(r).contains("is the last admin and cannot be demoted"));
                        }
                        status
                    })
                };
                let a = go("ann");
                let b = go("bob");
                vec![a.join().unwrap(), b.join().unwrap()]
            });
            let admins = admin
                .network
                .store()
                .users()
                .unwrap()
                .into_iter()
                .filter(|u| u.role == Role::Admin)
                .count();
            assert_eq!(admins, 1, "{statuses:?}");
            assert_eq!(
                statuses
                    .iter()
                    .filter(|s| **s == StatusCode::SEE_OTHER)
                    .count(),
                1,
                "{statuses:?}"
            );
            for name in ["ann", "bob"] {
                let mut u = user(&admin, name).unwrap();
                u.role = Role::Admin;
                admin
                    .network
                    .write(&crate::model::Actor::Program("test"), |tx| {
                        tx.user_put(&u, "user.role")
                    })
                    .unwrap();
            }
        }
    }

    #[test]
    fn nobody_removes_themselves_and_removal_ends_sessions() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let bob = login(&admin, "bob", Role::Release);
        let r = post(&admin, &ann, "/admin/users/ann/remove", &[]);
        let page = follow(&admin, &ann, r);
        assert!(page.contains("cannot remove your own account"), "{page}");
        assert!(user(&admin, "ann").is_some());

        let before = admin.sessions.len().unwrap();
        let r = post(&admin, &ann, "/admin/users/bob/remove", &[]);
        assert!(follow(&admin, &ann, r).contains("Removed user bob"));
        assert!(user(&admin, "bob").is_none());
        assert_eq!(admin.sessions.len().unwrap(), before - 1);
        assert_logged_out(&admin, &bob);
        let e = &admin.network.store().events(1).unwrap()[0];
        assert_eq!(
            (e.actor.as_str(), e.action.as_str(), e.detail.as_str()),
            ("admin:ann", "user.remove", "bob")
        );
        let r = post(&admin, &ann, "/admin/users/bob/remove", &[]);
        assert_eq!(redirected(r), "/admin/users");
        assert_eq!(
            get(&admin, &ann, "/admin/users/bob").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn a_new_password_works_and_ends_sessions() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let bob = login(&admin, "bob", Role::Viewer);
        let r = post(
            &admin,
            &ann,
            "/admin/users/bob/password",
            &[("password", GOOD), ("repeat", GOOD)],
        );
        let page = follow(&admin, &ann, r);
        assert!(page.contains("Changed the password of bob"), "{page}");
        let hash = user(&admin, "bob").unwrap().password_hash;
        assert!(verify_password(GOOD, &hash));
        assert!(!verify_password("pw-bob", &hash));
        assert_logged_out(&admin, &bob);
        let e = &admin.network.store().events(1).unwrap()[0];
        assert_eq!(
            (e.actor.as_str(), e.action.as_str(), e.detail.as_str()),
            ("admin:ann", "user.passwd", "bob role=viewer")
        );
        assert!(!e.detail.contains("argon2"));

        // Her own: the page says so and points to the login.
        let r = post(
            &admin,
            &ann,
            "/admin/users/ann/password",
            &[
                ("password", "another good one"),
                ("repeat", "another good one"),
            ],
        );
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert!(page.contains("all your sessions have ended"), "{page}");
        assert!(
            page.contains("/admin/login?next=%2Fadmin%2Fusers"),
            "{page}"
        );
        assert!(verify_password(
            "another good one",
            &user(&admin, "ann").unwrap().password_hash
        ));
        assert_logged_out(&admin, &ann);
    }

    /// Issue 15 item 1: admins see who is being throttled (account,
    /// address, failures, until when); nobody else sees addresses.
    #[test]
    fn admins_see_who_is_throttled() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(get(&admin, &ann, "/admin/users"));
        assert!(page.contains("Throttled logins"), "{page}");
        assert!(page.contains("Nobody: no address"), "{page}");
        let now = crate::model::now();
        for _ in 0..6 {
            let _ = admin.throttle.attempt(SCRIPT, "192.0.2.7", now);
        }
        for i in 0..20 {
            let _ = admin
                .throttle
                .attempt(&format!("g{i}"), "198.51.100.9", now);
        }
        let page = body(get(&admin, &ann, "/admin/users"));
        assert_escaped(&page);
        let section = &page[page.find("Throttled logins").unwrap()..];
        assert!(
            section.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{section}"
        );
        assert!(section.contains("<code>192.0.2.7</code>"), "{section}");
        assert!(section.contains("<td class=\"num\">5</td>"), "{section}");
        assert!(section.contains("<code>198.51.100.9</code>"), "{section}");
        assert!(section.contains("any it has not logged in to"), "{section}");
        assert!(section.contains(&crate::model::utc(now + 1)), "{section}");
        let vic = login(&admin, "vic", Role::Viewer);
        let page = body(get(&admin, &vic, "/admin/users"));
        assert!(!page.contains("Throttled logins") && !page.contains("192.0.2.7"));
    }

    /// The part of a page below the navigation (whose log-out form is
    /// the one POST form every page has).
    fn main(page: &str) -> &str {
        &page[page.find("<main").expect("a main element")..]
    }

    #[test]
    fn removing_asks_on_a_page_of_its_own_without_javascript() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        login(&admin, "bob", Role::Viewer);
        let page = body(get(&admin, &ann, "/admin/users/bob"));
        assert!(
            page.contains(r#"name="ask" value="Remove user bob?" data-confirm="Remove user bob?""#),
            "{page}"
        );
        // The button's question, sent without the script's answer: the
        // server asks, and nothing changes.
        let r = post(
            &admin,
            &ann,
            "/admin/users/bob/remove",
            &[("ask", "Remove user bob?")],
        );
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert!(
            page.contains("Please confirm") && page.contains("Remove user bob?"),
            "{page}"
        );
        assert!(
            page.contains(r#"action="/admin/users/bob/remove""#),
            "{page}"
        );
        assert!(page.contains(r#"<input type="hidden" name="confirmed" value="yes">"#));
        assert!(
            page.contains(r#"<a href="/admin/users/bob">No, go back</a>"#),
            "{page}"
        );
        assert!(user(&admin, "bob").is_some());
        // Confirmed: done.
        let r = post(
            &admin,
            &ann,
            "/admin/users/bob/remove",
            &[("ask", "Remove user bob?"), ("confirmed", "yes")],
        );
        assert!(follow(&admin, &ann, r).contains("Removed user bob"));
        assert!(user(&admin, "bob").is_none());
    }

    #[test]
    fn the_list_searches_sorts_and_pages() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                for i in 0..60 {
                    tx.user_put(
                        &User {
                            name: format!("u-{i:02}"),
                            password_hash: "x".into(),
                            role: if i % 3 == 0 {
                                Role::Release
                            } else {
                                Role::Viewer
                            },
                            created_at: 1000 + i,
                        },
                        "user.add",
                    )?;
                }
                Ok(())
            })
            .unwrap();
        let rows = |page: &str| {
            main(page)
                .matches(r#"<tr><td class="wrap"><a href="/admin/users/"#)
                .count()
        };
        let page = body(get(&admin, &ann, "/admin/users"));
        assert_eq!(rows(&page), 50);
        assert!(page.contains("1–50 of 61 users"), "{page}");
        assert!(page.contains(">ann<") && !page.contains(">u-49<"));
        let page = body(get(&admin, &ann, "/admin/users?page=2"));
        assert_eq!(rows(&page), 11);
        assert!(page.contains(">u-59<"));
        let page = body(get(&admin, &ann, "/admin/users?q=U-1"));
        assert_eq!(rows(&page), 10);
        let page = body(get(&admin, &ann, "/admin/users?q=release"));
        assert_eq!(rows(&page), 20);
        // By role: admins first; descending, viewers first.
        let page = body(get(&admin, &ann, "/admin/users?sort=role&per=1"));
        assert!(page.contains(">ann<"), "{page}");
        let page = body(get(&admin, &ann, "/admin/users?sort=-role&per=1"));
        assert!(page.contains(">u-01<"), "{page}");
        let page = body(get(&admin, &ann, "/admin/users?sort=-added&per=1"));
        assert!(page.contains(">u-59<"), "{page}");
        let page = body(get(&admin, &ann, "/admin/users?sort=added&per=2"));
        assert!(page.contains(">ann<") && page.contains(">u-00<"), "{page}");
    }

    #[test]
    fn others_pages_have_no_form_that_posts() {
        let (_dir, admin) = admin();
        login(&admin, "ann", Role::Admin);
        for role in [Role::Viewer, Role::Release] {
            let who = login(&admin, role.as_str(), role);
            for path in ["/admin/users", "/admin/users/ann", "/admin/users?q=a"] {
                let page = body(get(&admin, &who, path));
                assert!(!main(&page).contains(r#"method="post""#), "{path}: {page}");
                assert!(main(&page).contains("Read-only"), "{path}: {page}");
            }
        }
    }

    #[test]
    fn viewers_and_release_see_the_list_but_no_forms() {
        let (_dir, admin) = admin();
        login(&admin, "ann", Role::Admin);
        for role in [Role::Viewer, Role::Release] {
            let who = login(&admin, role.as_str(), role);
            let r = get(&admin, &who, "/admin/users");
            assert_eq!(r.status(), StatusCode::OK);
            let page = body(r);
            assert!(page.contains("ann") && page.contains(">admin<"), "{page}");
            assert!(!page.contains("Add user") && !page.contains(r#"type="password""#));
            // Without the form, the roles are explained below the list.
            assert!(
                page.contains("<strong>viewer</strong>: reads everything"),
                "{page}"
            );
            let page = body(get(&admin, &who, "/admin/users/ann"));
            assert!(!page.contains("Set password") && !page.contains("Remove this user"));
            for (path, fields) in [
                (
                    "/admin/users",
                    &[
                        ("name", "eve"),
                        ("role", "admin"),
                        ("password", GOOD),
                        ("repeat", GOOD),
                    ][..],
                ),
                ("/admin/users/ann/role", &[("role", "viewer")][..]),
                (
                    "/admin/users/ann/password",
                    &[("password", GOOD), ("repeat", GOOD)][..],
                ),
                ("/admin/users/ann/remove", &[][..]),
            ] {
                assert_eq!(
                    post(&admin, &who, path, fields).status(),
                    StatusCode::FORBIDDEN,
                    "{path}"
                );
            }
        }
        assert!(user(&admin, "eve").is_none());
        let ann = user(&admin, "ann").unwrap();
        assert_eq!(ann.role, Role::Admin);
        assert!(verify_password("pw-ann", &ann.password_hash));
    }
}
