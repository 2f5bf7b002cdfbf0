//! Admin section: the loader — upload a checksum file, see what loading it
//! would do, then apply it. The same steps as `bouncer load`
//! ([`crate::loader::parse`], [`crate::loader::plan`],
//! [`crate::loader::apply`]).
//!
//! Routes: `GET /admin/loader` (the upload form),
//! `POST /admin/loader/preview` (multipart upload → the plan, and an
//! Apply form carrying a one-time token), `POST /admin/loader/apply`
//! (re-plans the kept upload against the database as it is now, then
//! writes it).
//!
//! Between preview and apply the upload waits in [`Pending`], under a
//! random token, for the user who uploaded it only, for 30 minutes.

use std::sync::Mutex;

use hyper::StatusCode;
use maud::{Markup, html};

use super::page::{Badge, badge, csrf, field, plural, seg};
use super::{Ctx, Form, Page, PageResult};
use crate::auth::{Area, random_token, same_secret};
use crate::http::Reply;
use crate::loader::{Options, Plan, ProductPlan, Status};

/// How long an upload waits for "apply".
pub const PENDING_SECS: u64 = 30 * 60;
/// Uploads kept at most; the oldest go first.
pub const MAX_PENDING: usize = 20;
/// Bytes of uploads kept at most (the oldest go first; the newest upload
/// is always kept).
pub const MAX_PENDING_BYTES: usize = 256 << 20;
/// Files and problems shown at most in one table of a preview.
pub const SAMPLE: usize = 200;
/// The platform directories whose default OS the upload form's hint names
/// (all the defaults are in its hover text).
const SHORT_DEFAULTS: &[&str] = &["win32", "win64", "mac", "linux-x86_64"];

/// An uploaded checksum file waiting for "apply".
struct Upload {
    token: String,
    user: String,
    options: Options,
    file_name: String,
    bytes: Vec<u8>,
    created: u64,
}

/// Uploaded checksum files waiting for "apply", by token.
#[derive(Default)]
pub struct Pending {
    /// Oldest first.
    uploads: Mutex<Vec<Upload>>,
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Upload>> {
        self.uploads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps an upload for `user`; returns its token.
    fn put(
        &self,
        user: &str,
        options: Options,
        file_name: &str,
        bytes: Vec<u8>,
        now: u64,
    ) -> String {
        let token = random_token();
        let mut uploads = self.lock();
        uploads.retain(|u| now.saturating_sub(u.created) < PENDING_SECS);
        uploads.push(Upload {
            token: token.clone(),
            user: user.to_string(),
            options,
            file_name: file_name.to_string(),
            bytes,
            created: now,
        });
        while uploads.len() > MAX_PENDING
            || (uploads.len() > 1
                && uploads.iter().map(|u| u.bytes.len()).sum::<usize>() > MAX_PENDING_BYTES)
        {
            uploads.remove(0);
        }
        token
    }

    /// Takes out the upload `token` names if `user` made it and it has not
    /// expired. Another user's attempt leaves it in place.
    fn take(&self, token: &str, user: &str, now: u64) -> Option<Upload> {
        let mut uploads = self.lock();
        uploads.retain(|u| now.saturating_sub(u.created) < PENDING_SECS);
        let at = uploads
            .iter()
            .position(|u| same_secret(&u.token, token) && u.user == user)?;
        Some(uploads.remove(at))
    }

    /// How many uploads are waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Answers requests below `/admin/loader`.
pub fn route(ctx: &Ctx<'_>, page: &Page<'_>) -> PageResult {
    match (page.post, page.rest().as_slice()) {
        // The query may carry the options of the previous upload.
        (false, []) => upload_page(ctx, &page.form, None),
        (true, ["preview"]) => preview(ctx, &page.form),
        (true, ["apply"]) => apply(ctx, &page.form),
        // A reload of a preview or result page after the fact.
        (false, ["preview" | "apply"]) => Ok(crate::http::see_other("/admin/loader")),
        _ => Ok(ctx.not_found("There is no such loader page.")),
    }
}

// ----- the upload form -----

fn upload_page(ctx: &Ctx<'_>, form: &Form, error: Option<&str>) -> PageResult {
    let s = ctx.network().snapshot()?;
    let mut products: Vec<&str> = s.products.iter().map(|p| p.name.as_str()).collect();
    products.sort_by_key(|p| p.to_lowercase());
    let recent = ctx
        .network()
        .store()
        .events_matching(
            &crate::store::EventFilter {
                action: Some("loader.".into()),
                ..Default::default()
            },
            10,
        )
        .unwrap_or_default();
    let pairs = |short: bool| {
        crate::loader::DEFAULT_OS_MAP
            .iter()
            .filter(|(dir, _)| !short || SHORT_DEFAULTS.contains(dir))
            .map(|(dir, os)| format!("{dir}={os}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let body = html! {
        div.toolbar { h1 { "Loader" } }
        p {
            "Upload a checksum file (MD5SUMS, SHA1SUMS, SHA256SUMS or SHA512SUMS; GNU "
            code { "hash  path" } " or BSD " code { "SHA256 (path) = hash" } " lines, kinds mixed as you like). "
            "Bouncer works out the product's locations by recognising the platform directory and the language in each path ("
            code { "win32/de/Firefox Setup 120.0.exe" } " → OS " code { "win" } ", template " code { "win32/:lang/Firefox%20Setup%20120.0.exe" } "), "
            "and shows what it would add. Nothing is written until you apply the preview."
        }
        @if ctx.may(Area::Releases) {
            section.card {
                h2 { "Upload" }
                (super::page::error(error))
                form.stack method="post" action="/admin/loader/preview" enctype="multipart/form-data" {
                    (csrf(ctx))
                    label.field {
                        span { "Product" }
                        input type="text" name="product" value=(form.get("product")) list="loader-products" required autocomplete="off";
                        small { "the product the files belong to; created, with the languages found, if it does not exist" }
                    }
                    datalist #loader-products {
                        @for p in &products { option value=(p) {} }
                    }
                    label.field {
                        span { "Checksum file" }
                        input type="file" name="file" required;
                        small { "MD5SUMS, SHA1SUMS, SHA256SUMS or SHA512SUMS" }
                    }
                    (field("Prefix (optional)", "prefix", form.get("prefix"),
                        Some("directory on the mirrors that the file's paths are relative to, e.g. /firefox/releases/120.0")))
                    (field("Only paths matching (optional)", "match", form.get("match"),
                        Some("a glob (* and ?), e.g. win*/*.exe: loads only these files, all into the product")))
                    label.field {
                        span { "Kinds (optional)" }
                        textarea name="kinds" rows="2" placeholder="msi=*.msi" { (form.get("kinds")) }
                        small {
                            "each kind of file becomes a product: the installers the product itself, the others "
                            code { "PRODUCT-KIND" } " (" code { "-complete" } ", " code { "-partial-119.0" } ", " code { "-msi" } "…), found from the paths. "
                            "Name or regroup kinds here, one " code { "KIND=GLOB" } " per line (an empty KIND is the product itself)."
                        }
                    }
                    label.field {
                        span { "OS map (optional)" }
                        input type="text" name="os_map" value=(form.get("os_map"));
                        small title={ "the defaults: " (pairs(false)) } {
                            "platform directories and their OS, e.g. win32=win,mac=osx; added to the "
                            "defaults: " (pairs(true)) ", …"
                        }
                    }
                    fieldset.field {
                        legend { "New products" }
                        label.check {
                            input type="checkbox" name="ssl_only" checked[form.checked("ssl_only")];
                            " https mirrors only"
                        }
                        label.check {
                            input type="checkbox" name="private" checked[form.checked("private")];
                            " Private (hidden from public pages and feeds)"
                        }
                        small.muted { "products the load creates take these flags from the product when it exists" }
                    }
                    fieldset.field {
                        legend { "Conflicts" }
                        label.check {
                            input type="checkbox" name="force" checked[form.checked("force")];
                            " Replace stored hashes and location paths that differ"
                        }
                        small.muted { "without this, a preview with conflicts cannot be applied" }
                    }
                    div { button.primary type="submit" { "Preview" } }
                }
            }
        } @else {
            p.muted { "Your role (" (ctx.user.role.as_str()) ") may look but not load files. Ask an admin or a release manager." }
        }
        @if !recent.is_empty() {
            h2 { "Recent loads" }
            div.scroll { table {
                thead { tr { th { "When" } th { "Who" } th { "What" } } }
                tbody {
                    @for e in &recent {
                        tr { td { (super::page::ago(e.at)) } td.wrap { (e.actor) } td.wrap { (e.detail) } }
                    }
                }
            } }
        }
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(ctx.page_status(status, "loader", "Loader", body))
}

/// The options of the upload form, or what is wrong with them.
fn options(form: &Form) -> Result<Options, String> {
    let product = form.get("product");
    if product.is_empty() {
        return Err(
            "Name the product the files belong to (it is created if it does not exist).".into(),
        );
    }
    let os_map =
        crate::loader::parse_os_map(form.get("os_map")).map_err(|e| super::wording::text(&e))?;
    let kinds =
        crate::loader::parse_kinds(&[form.get("kinds")]).map_err(|e| super::wording::text(&e))?;
    Ok(Options {
        product: product.to_string(),
        os_map,
        matching: form.opt("match").map(str::to_string),
        kinds,
        force: form.checked("force"),
        prefix: form.get("prefix").to_string(),
        ssl_only: form.checked("ssl_only"),
        private: form.checked("private"),
    })
}

// ----- preview -----

fn conflicts(plan: &Plan) -> usize {
    plan.locations_with(Status::Conflict) + plan.files_with(Status::Conflict)
}

/// The upload form's address, filled in with `o` (all but the file and
/// "force", which are chosen again each time).
fn upload_again(o: &Options) -> String {
    let os_map = o
        .os_map
        .iter()
        .map(|(dir, os)| format!("{dir}={os}"))
        .collect::<Vec<_>>()
        .join(",");
    let kinds = o
        .kinds
        .iter()
        .map(|(kind, glob)| format!("{kind}={glob}"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut url = "/admin/loader".to_string();
    for (k, v) in [
        ("product", o.product.as_str()),
        ("prefix", o.prefix.as_str()),
        ("match", o.matching.as_deref().unwrap_or("")),
        ("kinds", kinds.as_str()),
        ("os_map", os_map.as_str()),
    ] {
        if !v.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(k);
            url.push('=');
            url.push_str(&seg(v));
        }
    }
    url
}

/// `a`, `a and b`, `a, b and c`.
fn and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn preview(ctx: &Ctx<'_>, form: &Form) -> PageResult {
    let options = match options(form) {
        Ok(o) => o,
        Err(e) => return upload_page(ctx, form, Some(&e)),
    };
    let Some(file) = form
        .file("file")
        .filter(|f| !f.filename.is_empty() || !f.data.is_empty())
    else {
        return upload_page(
            ctx,
            form,
            Some("Choose a checksum file to upload (MD5SUMS, SHA1SUMS, SHA256SUMS or SHA512SUMS)."),
        );
    };
    let name = if file.filename.is_empty() {
        "the uploaded file"
    } else {
        file.filename.as_str()
    };
    if file.data.iter().all(u8::is_ascii_whitespace) {
        return upload_page(
            ctx,
            form,
            Some(&format!("{name} is empty: choose the checksum file again.")),
        );
    }
    let parsed = crate::loader::parse(&file.data);
    let lines = parsed.entries.len() + parsed.problems.len();
    let s = ctx.network().snapshot()?;
    let known = ctx.network().store().files()?;
    let plan = match crate::loader::plan(&s, &known, &parsed, &options) {
        Ok(p) => p,
        Err(e) => return upload_page(ctx, form, Some(&super::wording::text(&e))),
    };
    let title = format!("Preview: {name}");
    let again = upload_again(&options);
    if parsed.entries.is_empty() || plan.is_empty() {
        return Ok(ctx.page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "loader",
            &title,
            html! {
                h1 { (title) }
                p.flash.error role="alert" {
                    @if parsed.entries.is_empty() {
                        (name) " has no checksum lines: it is not an MD5SUMS/SHA1SUMS/SHA256SUMS/SHA512SUMS file, or every line is broken. "
                    } @else if lines == 1 {
                        "The only line of " (name) " cannot be loaded into " (plan.product) ". "
                    } @else {
                        "None of the " (lines) " lines of " (name) " can be loaded into " (plan.product) " or its kinds. "
                    }
                    "The reasons are below; fix the file or the options and upload it again."
                }
                @if plan.unmatched > 0 {
                    p {
                        (plural(plan.unmatched, "line", "lines")) " did not match "
                        code { (options.matching.as_deref().unwrap_or("")) } "."
                    }
                }
                (not_loaded(&plan))
                (skipped(&plan))
                p { a href=(again) { "Upload another file" } }
            },
        ));
    }
    let conflicting = conflicts(&plan);
    let can_apply = plan.changes_anything() && (conflicting == 0 || options.force);
    let token = can_apply.then(|| {
        ctx.admin.uploads.put(
            &ctx.user.name,
            options.clone(),
            name,
            file.data.clone(),
            crate::model::now(),
        )
    });
    let body = html! {
        div.toolbar { h1 { (title) } span.muted { (plural(lines, "line", "lines")) " read" } }
        @if token.is_some() {
            p.flash role="status" { (verdict(&plan)) }
        } @else if conflicting > 0 && !options.force {
            p.flash.error role="alert" {
                "This file conflicts with what is stored (" (plural(conflicting, "conflict", "conflicts")) ", listed below), so it cannot be applied as it is. "
                "Fix the file, or upload it again with “Replace stored hashes and location paths that differ” ticked to replace the stored values."
            }
        } @else {
            p.flash role="status" { "Nothing to add: everything this file lists is known already." }
        }
        (summary(&plan))
        @if let Some(token) = &token {
            section.card {
                h2 { "Apply" }
                p {
                    "Applying writes all of this in one transaction and marks "
                    @if plan.products.len() == 1 { (plan.product) } @else { "the products" }
                    " for sentry's next check of new files. "
                    "If the database changes before you apply, the plan is made again against it"
                    @if !options.force { ", and refused if it then has conflicts" }
                    ". This preview can be applied once, by you, within 30 minutes."
                }
                form.inline method="post" action="/admin/loader/apply" {
                    (csrf(ctx))
                    input type="hidden" name="token" value=(token);
                    @if options.force && conflicting > 0 {
                        @let question = format!("Replace {} with this file's?", plural(conflicting, "stored value", "stored values"));
                        button.primary type="submit" name="ask" value=(question) data-confirm=(question) { "Apply" }
                    } @else {
                        button.primary type="submit" { "Apply" }
                    }
                }
                " "
                a href=(again) { "Cancel" }
            }
        }
        (details(&plan))
        (not_loaded(&plan))
        (skipped(&plan))
        p { a href=(again) { "Upload another file" } }
    };
    Ok(ctx.page("loader", &title, body))
}

/// What applying `plan` would do, in one sentence.
fn verdict(plan: &Plan) -> String {
    let counted = |items: &[(usize, &str, &str)]| -> Vec<String> {
        items
            .iter()
            .filter(|(n, ..)| *n > 0)
            .map(|(n, one, many)| plural(*n, one, many))
            .collect()
    };
    let mut parts: Vec<String> = Vec::new();
    let created: Vec<&str> = plan
        .products
        .iter()
        .filter(|p| p.create && p.changes_anything(plan.force))
        .map(|p| p.product.as_str())
        .collect();
    match created.as_slice() {
        [] => {}
        [one] => parts.push(format!("creates product {one}")),
        many => parts.push(format!("creates {} products", many.len())),
    }
    if !plan.new_oses.is_empty() {
        parts.push(format!(
            "creates {} ({})",
            plural(plan.new_oses.len(), "operating system", "operating systems"),
            plan.new_oses.join(", ")
        ));
    }
    let mut added = Vec::new();
    let languages = plan.new_languages().len();
    if languages > 0 {
        added.push(match plan.products.as_slice() {
            [p] => format!(
                "{} ({})",
                plural(languages, "language", "languages"),
                p.new_languages.join(", ")
            ),
            _ => plural(languages, "language", "languages"),
        });
    }
    added.extend(counted(&[
        (
            plan.locations_with(Status::New),
            "new location",
            "new locations",
        ),
        (plan.files_with(Status::New), "new file", "new files"),
    ]));
    let completed = plan.files_with(Status::Completed);
    if completed > 0 {
        added.push(format!(
            "more hashes to {}",
            plural(completed, "known file", "known files")
        ));
    }
    if !added.is_empty() {
        parts.push(format!("adds {}", and(&added)));
    }
    if plan.force {
        let mut replaced = counted(&[(
            plan.locations_with(Status::Conflict),
            "stored location path",
            "stored location paths",
        )]);
        let files = plan.files_with(Status::Conflict);
        if files > 0 {
            replaced.push(format!(
                "the stored hashes of {}",
                plural(files, "file", "files")
            ));
        }
        if !replaced.is_empty() {
            parts.push(format!("replaces {}", and(&replaced)));
        }
    }
    let sentence = match parts.as_slice() {
        [init @ .., last] if init.len() >= 2 => format!("{}, and {last}", init.join(", ")),
        _ => parts.join(" and "),
    };
    format!("Applying this {sentence}.")
}

fn status_badge(status: Status) -> Markup {
    match status {
        Status::New => badge(Badge::Good, "new"),
        Status::Same => badge(Badge::Off, "unchanged"),
        Status::Completed => badge(Badge::Good, "more hashes"),
        Status::Conflict => badge(Badge::Bad, "conflict"),
    }
}

/// A figure, coloured (`good`, `bad`) only when it is not 0.
fn stat(value: usize, label: &str, class: &str) -> Markup {
    let class = if value == 0 { "" } else { class };
    html! {
        div class={ "stat" @if !class.is_empty() { " " (class) } } {
            span.value { (crate::chart::thousands(value as u64)) }
            span.label { (label) }
        }
    }
}

/// The counts of a plan: those that are not 0, and always new locations,
/// new files and skipped lines.
fn summary(plan: &Plan) -> Markup {
    let created = plan.products.iter().filter(|p| p.create).count();
    let languages = plan.new_languages().len();
    let figures: [(usize, &str, &str, bool); 13] = [
        (created, "new products", "good", plan.products.len() > 1),
        (plan.new_oses.len(), "new operating systems", "good", false),
        (
            plan.locations_with(Status::New),
            "new locations",
            "good",
            true,
        ),
        (plan.files_with(Status::New), "new files", "good", true),
        (languages, "new languages", "", false),
        (
            plan.files_with(Status::Completed),
            "files completed with more hashes",
            "good",
            false,
        ),
        (
            plan.locations_with(Status::Conflict),
            "conflicting locations",
            "bad",
            false,
        ),
        (
            plan.files_with(Status::Conflict),
            "conflicting files",
            "bad",
            false,
        ),
        (
            plan.locations_with(Status::Same),
            "unchanged locations",
            "",
            false,
        ),
        (plan.files_with(Status::Same), "unchanged files", "", false),
        (plan.skipped.len(), "lines skipped", "bad", true),
        (plan.not_loaded.len(), "lines not loaded", "off", false),
        (plan.unmatched, "lines not matching", "off", false),
    ];
    html! {
        p {
            @match plan.products.as_slice() {
                [p] => {
                    "Product " strong { (p.product) }
                    @if p.create { " " (badge(Badge::Warn, "will be created")) } @else { " (exists)" }
                    @if !p.new_languages.is_empty() {
                        " · new languages: " (p.new_languages.join(", "))
                    }
                }
                all => {
                    (all.len()) " products, one per kind of file: " strong { (plan.product) } " and "
                    (plan.product) "-" em { "kind" } "."
                }
            }
            @if !plan.new_oses.is_empty() {
                " · new operating systems: " (plan.new_oses.join(", "))
            }
        }
        div.cards {
            @for (value, label, class, key) in figures {
                @if key || value > 0 { (stat(value, label, class)) }
            }
        }
    }
}

fn hash_kinds(h: &crate::loader::Hashes) -> String {
    [
        ("MD5", &h.md5),
        ("SHA1", &h.sha1),
        ("SHA256", &h.sha256),
        ("SHA512", &h.sha512),
    ]
    .iter()
    .filter(|(_, v)| v.is_some())
    .map(|(k, _)| *k)
    .collect::<Vec<_>>()
    .join(" ")
}

/// A product's locations: OS, template, languages, status.
fn locations_table(plan: &Plan, p: &ProductPlan) -> Markup {
    html! {
        div.scroll { table {
            thead { tr { th { "OS" } th { "Path template" } th.num { "Languages" } th { "Status" } } }
            tbody {
                @for l in &p.locations {
                    tr {
                        td { (l.os) }
                        td {
                            code.wrap { (l.path) }
                            @if let Some(stored) = &l.stored {
                                br; small.muted { "stored: " code.wrap { (stored) }
                                    @if plan.force { " (will be replaced)" } @else { " (kept)" } }
                            }
                        }
                        td.num { (l.languages) }
                        td { (status_badge(l.status)) }
                    }
                }
            }
        } }
    }
}

/// The products (one row each; their locations beneath when they differ by
/// more than the platform directory, or conflict) and a sample of files.
fn details(plan: &Plan) -> Markup {
    let conflicting: Vec<_> = plan
        .products
        .iter()
        .flat_map(|p| &p.files)
        .filter(|f| f.status == Status::Conflict)
        .collect();
    let files: Vec<_> = plan.products.iter().flat_map(|p| &p.files).collect();
    let single = plan.products.len() == 1;
    html! {
        @if single {
            h2 { "Locations" }
            (locations_table(plan, &plan.products[0]))
        } @else {
            h2 { "Products (" (plan.products.len()) ")" }
            div.scroll {
                table {
                    thead { tr {
                        th { "Product" } th { "Kind" } th { "Locations (OS → path template)" }
                        th.num { "Languages" } th.num { "Files" } th { "Status" }
                    } }
                    tbody {
                        @for p in &plan.products {
                            @let template = crate::loader::common_template(p);
                            @let conflict = p.locations.iter().any(|l| l.status == Status::Conflict);
                            tr {
                                td {
                                    @if p.create { (p.product) }
                                    @else { a href={ "/admin/products/" (seg(&p.product)) } { (p.product) } }
                                }
                                td { (p.kind.as_deref().unwrap_or("(the product)")) }
                                td {
                                    @match (&template, conflict) {
                                        (Some(t), false) => {
                                            small.muted { (plural(p.locations.len(), "OS", "OSes")) ": " }
                                            code.wrap { (t) }
                                        }
                                        _ => details open[conflict] {
                                            summary { (plural(p.locations.len(), "location", "locations")) }
                                            (locations_table(plan, p))
                                        }
                                    }
                                }
                                td.num {
                                    @match p.languages { 0 => "all", n => (n) }
                                    @if !p.new_languages.is_empty() { " (" (p.new_languages.len()) " new)" }
                                }
                                td.num { (crate::chart::thousands(p.files.len() as u64)) }
                                td { (figures_badges(p)) }
                            }
                        }
                    }
                }
            }
        }
        @if !conflicting.is_empty() {
            h2 { "Conflicting files" }
            (files_table(&conflicting, true))
            @if conflicting.len() > SAMPLE {
                p.muted { "… and " (conflicting.len() - SAMPLE) " more." }
            }
        }
        h2 {
            "Files"
            @if files.len() > SAMPLE { " (the first " (SAMPLE) " of " (crate::chart::thousands(files.len() as u64)) ")" }
        }
        (files_table(&files, false))
    }
}

/// A product's status: new, or what changes in it.
fn figures_badges(p: &ProductPlan) -> Markup {
    let new = p.files_with(Status::New) + p.locations_with(Status::New);
    let conflicts = p.files_with(Status::Conflict) + p.locations_with(Status::Conflict);
    html! {
        @if p.create { (badge(Badge::Warn, "will be created")) " " }
        @if conflicts > 0 { (badge(Badge::Bad, &plural(conflicts, "conflict", "conflicts"))) " " }
        @if !p.create && new > 0 { (badge(Badge::Good, &format!("{new} new"))) " " }
        @if p.files_with(Status::Completed) > 0 { (badge(Badge::Good, "more hashes")) " " }
        @if new == 0 && conflicts == 0 && p.files_with(Status::Completed) == 0 && p.new_languages.is_empty() {
            (badge(Badge::Off, "unchanged"))
        }
    }
}

fn files_table(files: &[&crate::loader::PlannedFile], detail: bool) -> Markup {
    html! {
        div.scroll { table {
            thead { tr {
                th { "Path" } th { "OS" } th { "Language" } th { "Hashes" } th { "Status" }
                @if detail { th { "What differs" } }
            } }
            tbody {
                @for f in files.iter().take(SAMPLE) {
                    tr {
                        td.wrap { code { (f.path) } }
                        td { (f.os) }
                        td { (f.lang.as_deref().unwrap_or("")) }
                        td { (hash_kinds(&f.hashes)) }
                        td { (status_badge(f.status)) }
                        @if detail { td { small { (f.detail) } } }
                    }
                }
            }
        } }
    }
}

/// A message whose `quoted` parts (Markdown style, as the parser words
/// them) are shown as code; an unpaired backtick is shown as it is.
fn quoted(text: &str) -> Markup {
    let parts: Vec<&str> = text.split('`').collect();
    let paired = parts.len() % 2 == 1;
    html! {
        @for (i, part) in parts.iter().enumerate() {
            @if i % 2 == 0 {
                (part)
            } @else if paired || i + 1 < parts.len() {
                code { (part) }
            } @else {
                "`" (part)
            }
        }
    }
}

/// Lines that could not be used, grouped by reason.
fn skipped(plan: &Plan) -> Markup {
    let groups =
        crate::loader::by_reason(plan.skipped.iter().map(|s| (s.reason.web(), s.line, None)));
    html! {
        @if !groups.is_empty() {
            h2 { "Lines not used (" (crate::chart::thousands(plan.skipped.len() as u64)) ")" }
            div.scroll { table {
                thead { tr { th { "Lines" } th { "Why" } } }
                tbody {
                    @for (reason, lines, _) in groups.iter().take(SAMPLE) {
                        tr { td.wrap { (crate::loader::ranges(lines)) } td { (quoted(reason)) } }
                    }
                }
            } }
            @if groups.len() > SAMPLE {
                p.muted { "… and " (plural(groups.len() - SAMPLE, "more reason", "more reasons")) "." }
            }
        }
    }
}

/// Lines that are no kind of file to offer, by reason, and the OS map that
/// would load the platform directories without an operating system.
fn not_loaded(plan: &Plan) -> Markup {
    let groups = crate::loader::by_reason(
        plan.not_loaded
            .iter()
            .map(|n| (n.reason.to_string(), n.line, Some(n.path.as_str()))),
    );
    html! {
        @if !groups.is_empty() {
            h2 { "Not loaded (" (crate::chart::thousands(plan.not_loaded.len() as u64)) " lines)" }
            p.muted { "No kind of file to offer: not errors." }
            div.scroll { table {
                thead { tr { th { "Lines" } th { "Why" } th { "For example" } } }
                tbody {
                    @for (reason, lines, example) in groups.iter().take(SAMPLE) {
                        tr {
                            td.wrap { (crate::loader::ranges(lines)) }
                            td { (reason) }
                            td { code.wrap { (crate::error::cut(example.unwrap_or_default())) } }
                        }
                    }
                }
            } }
            @if let Some(os_map) = plan.suggested_os_map() {
                p {
                    "To load the platform directories without an operating system, upload the file again with this OS map (the operating systems are created): "
                    code.wrap { (os_map) }
                }
            }
        }
    }
}

// ----- apply -----

fn refused(ctx: &Ctx<'_>, title: &str, why: Markup, again: &str) -> Reply {
    ctx.page_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        "loader",
        title,
        html! {
            h1 { (title) }
            p.flash.error role="alert" { (why) }
            p { a href=(again) { "Upload the file again" } }
        },
    )
}

fn apply(ctx: &Ctx<'_>, form: &Form) -> PageResult {
    let Some(upload) =
        ctx.admin
            .uploads
            .take(form.get("token"), &ctx.user.name, crate::model::now())
    else {
        return Ok(refused(
            ctx,
            "Nothing to apply",
            html! {
                "This upload is not waiting to be applied: it was applied already, it is older than 30 minutes, "
                "the server restarted, or another user uploaded it. Upload the file again to see a fresh preview."
            },
            "/admin/loader",
        ));
    };
    let name = upload.file_name.as_str();
    let title = format!("Loaded: {name}");
    let again = upload_again(&upload.options);
    // The database may have changed since the preview: plan again.
    let parsed = crate::loader::parse(&upload.bytes);
    let s = ctx.network().snapshot()?;
    let known = ctx.network().store().files()?;
    let plan = match crate::loader::plan(&s, &known, &parsed, &upload.options) {
        Ok(p) => p,
        Err(e) => {
            return Ok(refused(
                ctx,
                "Not applied",
                html! { (super::wording::markup(&e)) },
                &again,
            ));
        }
    };
    let conflicting = conflicts(&plan);
    if conflicting > 0 && !upload.options.force {
        return Ok(ctx.page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "loader",
            "Not applied",
            html! {
                h1 { "Not applied: " (name) }
                p.flash.error role="alert" {
                    "Since the preview, the database changed so that this file now conflicts with it ("
                    (plural(conflicting, "conflict", "conflicts")) ", listed below). Nothing was written. "
                    "Upload it again to review the new plan; tick “Replace stored hashes and location paths that differ” to replace the stored values."
                }
                (summary(&plan))
                (details(&plan))
                p { a href=(again) { "Upload the file again" } }
            },
        ));
    }
    if !plan.changes_anything() {
        return Ok(ctx.page(
            "loader",
            &title,
            html! {
                h1 { (title) }
                p.flash { "Nothing to add: since the preview, everything this file lists became known (someone loaded it meanwhile)." }
                p { a href="/admin/loader" { "Load another file" } }
            },
        ));
    }
    let done = match crate::loader::apply(ctx.network(), &plan, &ctx.actor()) {
        Ok(d) => d,
        Err(e) => {
            return Ok(refused(
                ctx,
                "Not applied",
                html! { "Nothing was written: " (super::wording::markup(&e)) },
                &again,
            ));
        }
    };
    let written = |s: Status| s.written(plan.force);
    let changed: Vec<&ProductPlan> = plan
        .products
        .iter()
        .filter(|p| p.changes_anything(plan.force))
        .collect();
    let files: Vec<_> = changed
        .iter()
        .flat_map(|p| &p.files)
        .filter(|f| written(f.status))
        .collect();
    let body = html! {
        h1 { (title) }
        p.flash role="status" {
            "Applied: "
            @if done.products > 0 { (plural(done.products, "product", "products")) " created, " }
            @if done.oses > 0 { (plural(done.oses, "operating system", "operating systems")) " created, " }
            (plural(done.languages, "language", "languages")) ", " (plural(done.locations, "location", "locations")) ", "
            (plural(done.files, "file", "files")) " added or updated. Sentry checks them on its next run for new files."
        }
        p {
            a href={ "/admin/availability?product=" (seg(&changed[0].product)) } { "Where they are available" }
            " · " a href="/admin/loader" { "Load another file" }
        }
        h2 { "Products" }
        div.scroll { table {
            thead { tr { th { "Product" } th { "Locations" } th { "Languages added" } th.num { "Files added or updated" } } }
            tbody {
                @for p in &changed {
                    tr {
                        td { a href={ "/admin/products/" (seg(&p.product)) } { (p.product) } }
                        td {
                            @for l in p.locations.iter().filter(|l| written(l.status)) {
                                (l.os) ": " code.wrap { (l.path) }
                                @if let Some(stored) = &l.stored { " (was " code.wrap { (stored) } ")" }
                                br;
                            }
                        }
                        td { (p.new_languages.join(", ")) }
                        td.num { (p.files.iter().filter(|f| written(f.status)).count()) }
                    }
                }
            }
        } }
        @if !files.is_empty() {
            h2 {
                "Files"
                @if files.len() > SAMPLE { " (the first " (SAMPLE) " of " (crate::chart::thousands(files.len() as u64)) ")" }
            }
            (files_table(&files, false))
        }
    };
    Ok(ctx.page("loader", &title, body))
}

#[cfg(test)]
mod tests {
    use hyper::{Method, StatusCode};

    use super::{MAX_PENDING, PENDING_SECS, Pending};
    use crate::admin::Admin;
    use crate::admin::testing::*;
    use crate::http::Reply;
    use crate::loader::Options;
    use crate::model::Role;

    /// Form fields, and an uploaded file (name, contents).
    type Fields<'a> = &'a [(&'a str, &'a str)];
    type File<'a> = (&'a str, &'a [u8]);

    const BOUNDARY: &str = "----bouncer-test-7MA4YWxkTrZu0gW";

    /// A `multipart/form-data` body as a browser sends it: `who`'s CSRF
    /// token, `fields`, and `file` (name, contents) in the field `file`.
    fn multipart(who: &Login, fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Vec<u8> {
        let mut parts = vec![("csrf", None, who.csrf.as_bytes())];
        parts.extend(fields.iter().map(|(k, v)| (*k, None, v.as_bytes())));
        parts.extend(file.map(|(name, data)| ("file", Some(name), data)));
        crate::http::multipart::encode(&parts, BOUNDARY)
    }

    fn upload(
        admin: &Admin,
        who: &Login,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> Reply {
        request(
            admin,
            Some(who),
            Method::POST,
            "/admin/loader/preview",
            Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
            &multipart(who, fields, file),
        )
    }

    fn token(page: &str) -> String {
        let at = page
            .find(r#"name="token" value=""#)
            .unwrap_or_else(|| panic!("no apply form: {page}"));
        page[at + 20..at + 84].to_string()
    }

    fn sums() -> String {
        let h = |c: char| c.to_string().repeat(40);
        [
            "# Firefox 1.0".to_string(),
            format!("{}  win32/de/Firefox Setup 1.0.exe", h('a')),
            format!("{} *win32/fr/Firefox Setup 1.0.exe", h('b')),
            format!("SHA1 (mac/de/Firefox 1.0.dmg) = {}", h('c')),
            "this is not a checksum line".to_string(),
            format!("{}  source/firefox-1.0.source.tar.xz", h('d')),
            format!("{}  KEY", h('e')),
            String::new(),
        ]
        .join("\n")
    }

    fn stat(page: &str, value: usize, label: &str) -> bool {
        page.contains(&format!(
            r#"<span class="value">{value}</span><span class="label">{label}</span>"#
        ))
    }

    #[test]
    fn upload_preview_apply() {
        let (_dir, admin) = admin();
        let rel = login(&admin, "rel", Role::Release);
        let page = body(get(&admin, &rel, "/admin/loader"));
        assert!(page.contains(r#"enctype="multipart/form-data""#), "{page}");
        assert!(page.contains("<datalist"));

        let r = upload(
            &admin,
            &rel,
            &[
                ("product", "fx-1.0"),
                ("os_map", ""),
                ("prefix", ""),
                ("match", ""),
            ],
            Some(("SHA1SUMS", sums().as_bytes())),
        );
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert!(stat(&page, 2, "new locations"), "{page}");
        assert!(stat(&page, 3, "new files"), "{page}");
        assert!(stat(&page, 2, "new languages"), "{page}");
        assert!(stat(&page, 1, "lines skipped"), "{page}");
        assert!(stat(&page, 2, "lines not loaded"), "{page}");
        assert!(page.contains("will be created"));
        // The verdict comes first, then only the figures that matter.
        let verdict = "Applying this creates product fx-1.0 and adds 2 languages (de, fr), 2 new locations and 3 new files.";
        assert!(page.contains(verdict), "{page}");
        assert!(page.find(verdict) < page.find(r#"<div class="cards">"#));
        assert!(
            !page.contains("conflicting files"),
            "no zero conflicts: {page}"
        );
        assert!(!page.contains("unchanged locations"));
        assert!(page.contains(
            r#"<div class="stat good"><span class="value">2</span><span class="label">new locations"#
        ));
        assert!(page.contains(
            r#"<div class="stat bad"><span class="value">1</span><span class="label">lines skipped"#
        ));
        assert!(page.contains("6 lines read"), "{page}");
        assert!(
            page.contains("/win32/:lang/Firefox%20Setup%201.0.exe"),
            "{page}"
        );
        assert!(page.contains("/mac/de/Firefox%201.0.dmg"));
        assert!(
            page.contains(r#"<td class="wrap">5</td>"#) && page.contains("is not a hex digest"),
            "{page}"
        );
        assert!(
            page.contains(r#"<td class="wrap">6</td>"#) && page.contains("no platform directory")
        );
        assert!(page.contains(r#"<td class="wrap">7</td><td>checksum or key file</td>"#));
        assert!(
            admin.network.snapshot().unwrap().products.is_empty(),
            "a preview writes nothing"
        );
        assert_eq!(admin.uploads.len(), 1);

        let token = token(&page);
        let r = post(&admin, &rel, "/admin/loader/apply", &[("token", &token)]);
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert!(
            page.contains("Applied: 1 product created, 2 languages, 2 locations, 3 files"),
            "{page}"
        );

        let s = admin.network.snapshot().unwrap();
        let p = s.product("fx-1.0").unwrap();
        assert_eq!(p.languages, ["de", "fr"]);
        assert_eq!(s.locations.len(), 2);
        let files = admin.network.store().files().unwrap();
        assert_eq!(files.len(), 3);
        let f = files
            .iter()
            .find(|f| f.path == "/win32/fr/Firefox%20Setup%201.0.exe")
            .unwrap();
        assert_eq!(f.sha1.as_deref(), Some("b".repeat(40).as_str()));
        assert_eq!(f.lang.as_deref(), Some("fr"));
        let index = admin.network.index();
        let target = index.resolve("fx-1.0", "win", "fr").unwrap();
        assert_eq!(target.path(), "/win32/fr/Firefox%20Setup%201.0.exe");
        assert!(index.resolve("fx-1.0", "osx", "de").is_ok());
        let events = admin.network.store().events(5).unwrap();
        assert!(
            events
                .iter()
                .any(|e| e.action == "loader.apply" && e.actor == "admin:rel"),
            "{events:?}"
        );

        // Single use.
        let r = post(&admin, &rel, "/admin/loader/apply", &[("token", &token)]);
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).contains("not waiting to be applied"));

        // The same file again: nothing to add, nothing to apply.
        let page = body(upload(
            &admin,
            &rel,
            &[("product", "fx-1.0")],
            Some(("SHA1SUMS", sums().as_bytes())),
        ));
        assert!(page.contains("Nothing to add"), "{page}");
        assert!(!page.contains(r#"name="token""#));
        assert!(page.find("Nothing to add") < page.find(r#"<div class="cards">"#));
        // Zero is neutral, and the key figures stay even when 0.
        for label in ["new locations", "new files"] {
            assert!(
                page.contains(&format!(
                    r#"<div class="stat"><span class="value">0</span><span class="label">{label}"#
                )),
                "{label}: {page}"
            );
        }
        assert!(stat(&page, 2, "unchanged locations"));
        assert!(stat(&page, 3, "unchanged files"));
        assert!(!page.contains("new languages</span>"));
    }

    #[test]
    fn a_release_previews_one_product_per_kind_and_applies_them_all() {
        let (_dir, admin) = admin();
        let rel = login(&admin, "rel", Role::Release);
        let h = |c: char| c.to_string().repeat(64);
        let mut lines = Vec::new();
        for (platform, installer) in [
            ("win64", "Firefox Setup 1.0.exe"),
            ("mac", "Firefox 1.0.dmg"),
            ("android-aarch64", "fenix-1.0.apk"),
            ("android-arm", "fenix-1.0.apk"),
        ] {
            for lang in ["de", "fr"] {
                lines.push(format!("{}  {platform}/{lang}/{installer}", h('a')));
                lines.push(format!(
                    "{}  update/{platform}/{lang}/firefox-1.0.complete.mar",
                    h('b')
                ));
                lines.push(format!(
                    "{}  update/{platform}/{lang}/firefox-0.9-1.0.partial.mar",
                    h('c')
                ));
            }
        }
        lines.push(format!("{}  win64/de/Firefox Setup 1.0.msi", h('d')));
        lines.push(format!("{}  SHA256SUMS.asc", h('e')));
        let sums = lines.join("\n");
        let fields = [
            ("product", "fx-1.0"),
            ("os_map", "android-aarch64=android64"),
            ("kinds", "installer-msi=*.msi"),
            ("ssl_only", "on"),
        ];
        let page = body(upload(
            &admin,
            &rel,
            &fields,
            Some(("SHA256SUMS", sums.as_bytes())),
        ));
        assert!(page.contains("Products (4)"), "{page}");
        for row in [
            "<td>fx-1.0</td><td>(the product)</td>",
            "<td>fx-1.0-complete</td><td>complete</td>",
            "<td>fx-1.0-partial-0.9</td><td>partial-0.9</td>",
            "<td>fx-1.0-installer-msi</td><td>installer-msi</td>",
        ] {
            assert!(page.contains(row), "{row}: {page}");
        }
        // One template for the updates of every platform; the installers
        // listed per OS.
        assert!(
            page.contains("/update/*/:lang/firefox-1.0.complete.mar"),
            "{page}"
        );
        assert!(
            page.contains("/win64/:lang/Firefox%20Setup%201.0.exe"),
            "{page}"
        );
        assert!(stat(&page, 4, "new products"), "{page}");
        assert!(stat(&page, 1, "new operating systems"), "{page}");
        assert!(stat(&page, 2, "new languages"), "counted once: {page}");
        // Not loaded: the signature, and the unmapped platform with the
        // whole OS map that would load it.
        assert!(page.contains("platform directory android-arm has no operating system"));
        assert!(
            page.contains(
                "<code class=\"wrap\">android-aarch64=android64,android-arm=android-arm</code>"
            ),
            "{page}"
        );
        assert!(page.contains("<td>signature</td>"), "{page}");
        // Upload again keeps the kinds.
        assert!(page.contains("kinds=installer-msi%3D%2A.msi"), "{page}");

        let r = post(
            &admin,
            &rel,
            "/admin/loader/apply",
            &[("token", &token(&page))],
        );
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert!(
            page.contains("Applied: 4 products created, 1 operating system created, 2 languages, 10 locations, 19 files"),
            "{page}"
        );
        let s = admin.network.snapshot().unwrap();
        assert!(s.oses.iter().any(|o| o == "android64"));
        for name in [
            "fx-1.0",
            "fx-1.0-complete",
            "fx-1.0-partial-0.9",
            "fx-1.0-installer-msi",
        ] {
            let p = s.product(name).unwrap_or_else(|| panic!("{name}"));
            assert!(p.ssl_only, "{name} takes the flag");
            assert_eq!(
                p.languages.len(),
                if name.ends_with("msi") { 1 } else { 2 },
                "{name}"
            );
        }
    }

    #[test]
    fn upload_another_keeps_the_options() {
        let (_dir, admin) = admin();
        let rel = login(&admin, "rel", Role::Release);
        let page = body(upload(
            &admin,
            &rel,
            &[
                ("product", "fx \"1\" <b>"),
                ("prefix", "/pub/fx & co"),
                ("match", "*.exe"),
                ("os_map", "win32=win, mac=osx"),
                ("force", "on"),
            ],
            Some(("SHA1SUMS", sums().as_bytes())),
        ));
        // The product name is refused (spaces), and the form keeps it.
        assert!(
            page.contains(r#"value="fx &quot;1&quot; &lt;b&gt;""#),
            "{page}"
        );

        let page = body(upload(
            &admin,
            &rel,
            &[
                ("product", "fx-1.0"),
                ("prefix", "/pub/fx & co"),
                ("match", "*.exe"),
                ("os_map", "win32=win, mac=osx"),
            ],
            Some(("SHA1SUMS", sums().as_bytes())),
        ));
        let again = "/admin/loader?product=fx-1.0&amp;prefix=%2Fpub%2Ffx%20%26%20co&amp;match=%2A.exe&amp;os_map=win32%3Dwin%2Cmac%3Dosx";
        assert!(
            page.contains(&format!(r#"<a href="{again}">Upload another file</a>"#)),
            "{page}"
        );
        assert!(page.contains(&format!(r#"<a href="{again}">Cancel</a>"#)));
        let form = body(get(&admin, &rel, &again.replace("&amp;", "&")));
        for (name, value) in [
            ("product", "fx-1.0"),
            ("prefix", "/pub/fx &amp; co"),
            ("match", "*.exe"),
            ("os_map", "win32=win,mac=osx"),
        ] {
            assert!(
                form.contains(&format!(r#"name="{name}" value="{value}""#)),
                "{name}: {form}"
            );
        }
        assert!(!form.contains("checked"), "force is chosen each time");
        // The fields in reading order, the file second.
        let at = |name: &str| form.find(&format!(r#"name="{name}""#)).unwrap();
        let order = ["product", "file", "prefix", "match", "os_map", "force"].map(at);
        assert!(order.is_sorted(), "{order:?}");
        assert!(
            form.contains("defaults: win32=win, win64=win64, mac=osx, linux-x86_64=linux64, …")
        );

        // An unusable file offers the same.
        let page = body(upload(
            &admin,
            &rel,
            &[("product", "fx-1.0"), ("match", "*.exe")],
            Some(("SHA1SUMS", b"junk\n")),
        ));
        assert!(page.contains(r#"<a href="/admin/loader?product=fx-1.0&amp;match=%2A.exe">Upload another file</a>"#), "{page}");
        // Reasons quote the line's expected form as code, not backticks.
        assert!(
            page.contains("expected <code>&lt;hex digest&gt;  &lt;path&gt;</code> or <code>"),
            "{page}"
        );
        assert!(!page.contains('`'), "{page}");
    }

    #[test]
    fn backticks_quote_code() {
        let q = |s: &str| super::quoted(s).into_string();
        assert_eq!(q("plain"), "plain");
        assert_eq!(
            q("a `b` c `<d>`"),
            "a <code>b</code> c <code>&lt;d&gt;</code>"
        );
        assert_eq!(q("odd ` one"), "odd ` one");
        assert_eq!(q("`x` and ` y"), "<code>x</code> and ` y");
    }

    #[test]
    fn a_token_belongs_to_its_uploader() {
        let (_dir, admin) = admin();
        let rel = login(&admin, "rel", Role::Release);
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(upload(
            &admin,
            &rel,
            &[("product", "fx")],
            Some(("SHA1SUMS", sums().as_bytes())),
        ));
        let token = token(&page);
        let r = post(&admin, &ann, "/admin/loader/apply", &[("token", &token)]);
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(admin.network.snapshot().unwrap().products.is_empty());
        let r = post(&admin, &rel, "/admin/loader/apply", &[("token", &token)]);
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "another user's try leaves it usable"
        );
        let r = post(&admin, &rel, "/admin/loader/apply", &[("token", "")]);
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn conflicts_need_force() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(upload(
            &admin,
            &ann,
            &[("product", "fx")],
            Some(("SHA1SUMS", sums().as_bytes())),
        ));
        post(
            &admin,
            &ann,
            "/admin/loader/apply",
            &[("token", &token(&page))],
        );
        let changed = sums().replace(&"a".repeat(40), &"f".repeat(40));

        let r = upload(
            &admin,
            &ann,
            &[("product", "fx")],
            Some(("SHA1SUMS", changed.as_bytes())),
        );
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert!(stat(&page, 1, "conflicting files"), "{page}");
        assert!(page.contains("(1 conflict, listed below)"), "{page}");
        assert!(page.contains("cannot be applied"));
        assert!(page.find("cannot be applied") < page.find(r#"<div class="cards">"#));
        assert!(!page.contains(r#"name="token""#));

        let page = body(upload(
            &admin,
            &ann,
            &[("product", "fx"), ("force", "on")],
            Some(("SHA1SUMS", changed.as_bytes())),
        ));
        assert!(
            page.contains("Applying this replaces the stored hashes of 1 file."),
            "{page}"
        );
        // Replacing stored values asks first; without JavaScript on a
        // page of its own, which keeps the upload waiting.
        let question = "Replace 1 stored value with this file's?";
        assert!(
            page.contains(&format!(
                r#"name="ask" value="{question}" data-confirm="{question}""#
            )),
            "{page}"
        );
        let token = token(&page);
        let r = post(
            &admin,
            &ann,
            "/admin/loader/apply",
            &[("token", &token), ("ask", question)],
        );
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        assert!(page.contains("Please confirm"), "{page}");
        assert!(page.contains(&format!(
            r#"<input type="hidden" name="token" value="{token}">"#
        )));
        assert_eq!(admin.uploads.len(), 1);
        let unchanged = admin.network.store().files().unwrap();
        assert!(
            unchanged
                .iter()
                .any(|f| f.sha1.as_deref() == Some("a".repeat(40).as_str()))
        );
        let r = post(
            &admin,
            &ann,
            "/admin/loader/apply",
            &[("token", &token), ("ask", question), ("confirmed", "yes")],
        );
        assert_eq!(r.status(), StatusCode::OK);
        let files = admin.network.store().files().unwrap();
        let f = files
            .iter()
            .find(|f| f.path.starts_with("/win32/de/"))
            .unwrap();
        assert_eq!(f.sha1.as_deref(), Some("f".repeat(40).as_str()));
    }

    #[test]
    fn apply_plans_again_against_the_database_as_it_is() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let page = body(upload(
            &admin,
            &ann,
            &[("product", "fx")],
            Some(("SHA1SUMS", sums().as_bytes())),
        ));
        // Meanwhile, someone loads other hashes for one of the files.
        admin
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.file_put(&crate::model::FileInfo {
                    path: "/win32/de/Firefox%20Setup%201.0.exe".into(),
                    sha1: Some("9".repeat(40)),
                    ..Default::default()
                })
            })
            .unwrap();
        let r = post(
            &admin,
            &ann,
            "/admin/loader/apply",
            &[("token", &token(&page))],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = body(r);
        assert!(page.contains("Since the preview"), "{page}");
        assert!(
            admin.network.snapshot().unwrap().products.is_empty(),
            "nothing written"
        );
    }

    #[test]
    fn unusable_uploads_are_explained() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let sums = sums();
        let readme = format!("{}  README\n", "a".repeat(40));
        let cases: &[(Fields, Option<File>, &str)] = &[
            (&[("product", "fx")], None, "Choose a checksum file"),
            (
                &[("product", "fx")],
                Some(("", b"")),
                "Choose a checksum file",
            ),
            (
                &[("product", "fx")],
                Some(("SHA1SUMS", b"")),
                "SHA1SUMS is empty",
            ),
            (
                &[("product", "fx")],
                Some(("SHA1SUMS", b" \r\n\n")),
                "SHA1SUMS is empty",
            ),
            (
                &[("product", "fx")],
                Some(("notes.txt", b"hello\nworld\n")),
                "has no checksum lines",
            ),
            (
                &[("product", "fx")],
                Some(("SHA1SUMS", readme.as_bytes())),
                "The only line of SHA1SUMS cannot be loaded into fx",
            ),
            (
                &[("product", "")],
                Some(("SHA1SUMS", sums.as_bytes())),
                "Name the product",
            ),
            (
                &[("product", "f x")],
                Some(("SHA1SUMS", sums.as_bytes())),
                "may not contain spaces",
            ),
            (
                &[("product", "fx"), ("os_map", "win32")],
                Some(("SHA1SUMS", sums.as_bytes())),
                "is not DIR=OS",
            ),
        ];
        for (fields, file, says) in cases {
            let r = upload(&admin, &ann, fields, *file);
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{says}");
            let page = body(r);
            assert!(page.contains(says), "{says}: {page}");
        }
        assert!(admin.uploads.is_empty());
        let r = post(
            &admin,
            &ann,
            "/admin/loader/apply",
            &[("token", &"0".repeat(64))],
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).contains("Upload the file again"));
    }

    #[test]
    fn viewers_cannot_upload() {
        let (_dir, admin) = admin();
        let vic = login(&admin, "vic", Role::Viewer);
        let page = body(get(&admin, &vic, "/admin/loader"));
        assert!(!page.contains("multipart/form-data"), "{page}");
        assert!(page.contains("may look but not load"));
        let main = &page[page.find("<main").unwrap()..];
        assert!(
            !main.contains(r#"method="post""#) && !main.contains("bouncer "),
            "{main}"
        );
        let r = upload(
            &admin,
            &vic,
            &[("product", "fx")],
            Some(("SHA1SUMS", sums().as_bytes())),
        );
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(admin.uploads.is_empty());
        let r = post(&admin, &vic, "/admin/loader/apply", &[("token", "x")]);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn hostile_names_are_escaped() {
        let (_dir, admin) = admin();
        let ann = login(&admin, "ann", Role::Admin);
        let h = "a".repeat(40);
        let file = format!(
            "{h}  win32/de/<script>alert(1)</script>.exe\n{h}  \"><img src=x onerror=alert(1)>/x.exe\n{h}  linux-i686/ü/'\"<b>.tar.bz2\n"
        );
        let r = upload(
            &admin,
            &ann,
            &[("product", "<script>alert(3)</script>")],
            Some(("<script>alert(2)</script>", file.as_bytes())),
        );
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        for bad in ["<script>alert", "<img src=x", "<b>"] {
            assert!(!page.contains(bad), "{bad}: {page}");
        }
        assert!(page.contains("&lt;script&gt;alert(2)"), "{page}");
        assert!(
            page.contains("%3Cscript%3Ealert%281%29%3C/script%3E.exe"),
            "{page}"
        );
        let r = post(
            &admin,
            &ann,
            "/admin/loader/apply",
            &[("token", &token(&page))],
        );
        assert_eq!(r.status(), StatusCode::OK);
        let page = body(r);
        for bad in ["<script>alert", "<img src=x", "<b>"] {
            assert!(!page.contains(bad), "{bad}: {page}");
        }
        let again = body(get(&admin, &ann, "/admin/loader"));
        assert!(!again.contains("<script>alert"), "recent loads: {again}");
    }

    #[test]
    fn pending_uploads_expire_and_are_capped() {
        let pending = Pending::default();
        let put = |user: &str, now| pending.put(user, Options::default(), "f", vec![1], now);
        let first = put("ann", 1000);
        assert!(pending.take(&first, "bob", 1000).is_none());
        assert!(
            pending.take(&first, "ann", 1000 + PENDING_SECS).is_none(),
            "expired"
        );
        let tokens: Vec<String> = (0..MAX_PENDING + 5)
            .map(|i| put("ann", 2000 + i as u64))
            .collect();
        assert_eq!(pending.len(), MAX_PENDING);
        assert!(
            pending.take(&tokens[0], "ann", 2100).is_none(),
            "the oldest went first"
        );
        let last = tokens.last().unwrap();
        let u = pending.take(last, "ann", 2100).unwrap();
        assert_eq!((u.user.as_str(), u.file_name.as_str()), ("ann", "f"));
        assert!(pending.take(last, "ann", 2100).is_none());
    }
}
