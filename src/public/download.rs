//! `/download`: the download form (SPEC §6). Product → operating system →
//! language, offering only what public, active products with a location
//! have; aliases of such products first.
//!
//! - No parameters: the form, with the first product, the browser's OS
//!   (from `User-Agent`) and language (from `Accept-Language`) preselected
//!   where the product offers them. `?product=P` alone preselects `P`.
//! - `?product=P&os=O&lang=L`: checked against the same offer; a valid
//!   choice is a 302 to the bounce (`/?product=P&os=O&lang=L`), which then
//!   redirects to a mirror; anything else is a 422 page saying exactly what
//!   is not available, with the form again and the valid parts kept.
//!
//! Without JavaScript the operating system and language lists hold every
//! OS and language of all products (the server checks the combination);
//! `assets/download.js` narrows them to the chosen product's from the
//! JSON embedded in the page (`<script type="application/json">`, with `<`,
//! `>` and `&` escaped so no product name can end the element).
//!
//! A product without languages is offered in every language. The form
//! cannot list "every language", and sentry only verifies such products'
//! files in one language, so it offers a single "not language-specific"
//! choice that submits no `lang`: the bounce then uses its configured
//! default language, the one the mirrors are known to have. A `lang` typed
//! by hand (or chosen from the full list without JavaScript) is still
//! accepted for such a product, as the bounce accepts it.
//!
//! What is offered is computed once per configuration snapshot; only the
//! preselection depends on the request.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use hyper::StatusCode;
use hyper::header::{
    ACCEPT_LANGUAGE, CACHE_CONTROL, HeaderMap, HeaderValue, LOCATION, USER_AGENT, VARY,
};
use maud::{Markup, PreEscaped, html};

use super::{PageResult, Public, Request};
use crate::http::Reply;
use crate::model::ProductId;
use crate::store::Snapshot;

/// The label of the one language choice of a product without languages
/// (its value is empty: no `lang` is sent).
pub const ANY_LANGUAGE: &str = "Any language (not language-specific)";

/// The `id` of the JSON element the script reads.
const DATA_ID: &str = "download-data";

/// Longest piece of user input repeated in an explanation.
const MAX_ECHO: usize = 80;

/// Most `Accept-Language` entries considered (the rest are ignored).
const MAX_LANGUAGE_RANGES: usize = 32;

/// Operating systems in the order the form lists them, with their labels.
/// Others follow alphabetically, labelled with their name.
const OS_LABELS: &[(&str, &str)] = &[
    ("win64", "Windows 64-bit"),
    ("win", "Windows 32-bit"),
    ("win64-aarch64", "Windows on ARM"),
    ("osx", "macOS"),
    ("linux64", "Linux 64-bit"),
    ("linux", "Linux 32-bit"),
    ("linux64-aarch64", "Linux ARM64"),
    ("android", "Android"),
];

/// Labels of common locales (lower-case codes). Other codes show as the
/// code, or as "<language> (<code>)" when their primary subtag is here.
const LANG_LABELS: &[(&str, &str)] = &[
    ("ach", "Acholi"),
    ("af", "Afrikaans"),
    ("an", "Aragonese"),
    ("ar", "Arabic"),
    ("ast", "Asturian"),
    ("az", "Azerbaijani"),
    ("be", "Belarusian"),
    ("bg", "Bulgarian"),
    ("bn", "Bengali"),
    ("br", "Breton"),
    ("bs", "Bosnian"),
    ("ca", "Catalan"),
    ("cak", "Kaqchikel"),
    ("cs", "Czech"),
    ("cy", "Welsh"),
    ("da", "Danish"),
    ("de", "German"),
    ("dsb", "Lower Sorbian"),
    ("el", "Greek"),
    ("en", "English"),
    ("en-ca", "English (Canada)"),
    ("en-gb", "English (UK)"),
    ("en-us", "English (US)"),
    ("eo", "Esperanto"),
    ("es", "Spanish"),
    ("es-ar", "Spanish (Argentina)"),
    ("es-cl", "Spanish (Chile)"),
    ("es-es", "Spanish (Spain)"),
    ("es-mx", "Spanish (Mexico)"),
    ("et", "Estonian"),
    ("eu", "Basque"),
    ("fa", "Persian"),
    ("ff", "Fulah"),
    ("fi", "Finnish"),
    ("fr", "French"),
    ("fy-nl", "Frisian"),
    ("ga-ie", "Irish"),
    ("gd", "Scottish Gaelic"),
    ("gl", "Galician"),
    ("gn", "Guarani"),
    ("gu-in", "Gujarati"),
    ("he", "Hebrew"),
    ("hi-in", "Hindi"),
    ("hr", "Croatian"),
    ("hsb", "Upper Sorbian"),
    ("hu", "Hungarian"),
    ("hy-am", "Armenian"),
    ("ia", "Interlingua"),
    ("id", "Indonesian"),
    ("is", "Icelandic"),
    ("it", "Italian"),
    ("ja", "Japanese"),
    ("ja-jp-mac", "Japanese (macOS)"),
    ("ka", "Georgian"),
    ("kab", "Kabyle"),
    ("kk", "Kazakh"),
    ("km", "Khmer"),
    ("kn", "Kannada"),
    ("ko", "Korean"),
    ("lij", "Ligurian"),
    ("lt", "Lithuanian"),
    ("lv", "Latvian"),
    ("mk", "Macedonian"),
    ("mr", "Marathi"),
    ("ms", "Malay"),
    ("my", "Burmese"),
    ("nb-no", "Norwegian Bokmål"),
    ("ne-np", "Nepali"),
    ("nl", "Dutch"),
    ("nn-no", "Norwegian Nynorsk"),
    ("oc", "Occitan"),
    ("pa-in", "Punjabi"),
    ("pl", "Polish"),
    ("pt", "Portuguese"),
    ("pt-br", "Portuguese (Brazil)"),
    ("pt-pt", "Portuguese (Portugal)"),
    ("rm", "Romansh"),
    ("ro", "Romanian"),
    ("ru", "Russian"),
    ("si", "Sinhala"),
    ("sk", "Slovak"),
    ("sl", "Slovenian"),
    ("son", "Songhay"),
    ("sq", "Albanian"),
    ("sr", "Serbian"),
    ("sv-se", "Swedish"),
    ("ta", "Tamil"),
    ("te", "Telugu"),
    ("th", "Thai"),
    ("tl", "Tagalog"),
    ("tr", "Turkish"),
    ("trs", "Triqui"),
    ("uk", "Ukrainian"),
    ("ur", "Urdu"),
    ("uz", "Uzbek"),
    ("vi", "Vietnamese"),
    ("xh", "Xhosa"),
    ("zh-cn", "Chinese (Simplified)"),
    ("zh-tw", "Chinese (Traditional)"),
];

/// The label of an operating system: a name people know, or the OS's own.
pub fn os_label(os: &str) -> String {
    OS_LABELS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(os))
        .map_or_else(|| os.to_string(), |(_, label)| label.to_string())
}

/// The label of a language code: its name when known, else the code
/// (with its language's name when the primary subtag is known). The empty
/// code is [`ANY_LANGUAGE`].
pub fn lang_label(code: &str) -> String {
    if code.is_empty() {
        return ANY_LANGUAGE.to_string();
    }
    let lower = code.to_ascii_lowercase();
    let find = |c: &str| {
        LANG_LABELS
            .binary_search_by(|(k, _)| (*k).cmp(c))
            .ok()
            .map(|i| LANG_LABELS[i].1)
    };
    if let Some(label) = find(&lower) {
        return label.to_string();
    }
    match lower.split_once('-').and_then(|(primary, _)| find(primary)) {
        Some(language) => format!("{language} ({code})"),
        None => code.to_string(),
    }
}

/// Where an OS goes in the lists: known ones in [`OS_LABELS`] order, then
/// the rest by name.
fn os_rank(os: &str) -> (usize, String) {
    let known = OS_LABELS
        .iter()
        .position(|(name, _)| name.eq_ignore_ascii_case(os));
    (known.unwrap_or(OS_LABELS.len()), os.to_ascii_lowercase())
}

/// Where a language goes in the lists: by label, then code.
fn lang_rank(code: &str) -> (String, String) {
    (lang_label(code).to_lowercase(), code.to_ascii_lowercase())
}

/// The primary subtag of a language code (`de` of `de-AT`).
fn primary(code: &str) -> &str {
    code.split('-').next().unwrap_or(code)
}

// ----- what the form offers -----

/// One entry of the product list: a product, or an alias of one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Choice {
    /// What the form submits and the bounce resolves.
    name: String,
    /// What the list (and an explanation) shows.
    label: String,
    /// Whether it is an alias.
    alias: bool,
    /// Operating systems it has a location for, in list order.
    oses: Vec<String>,
    /// Its languages in list order; empty means every language.
    langs: Vec<String>,
}

impl Choice {
    /// The language values the form offers for it: its languages, or the
    /// one "not language-specific" choice (empty).
    fn lang_values(&self) -> Vec<String> {
        if self.langs.is_empty() {
            vec![String::new()]
        } else {
            self.langs.clone()
        }
    }

    /// The stored spelling of `os` if it is offered.
    fn os(&self, os: &str) -> Option<&str> {
        self.oses
            .iter()
            .find(|o| o.eq_ignore_ascii_case(os))
            .map(String::as_str)
    }

    /// The stored spelling of `lang` if it is one of its languages.
    fn lang(&self, lang: &str) -> Option<&str> {
        self.langs
            .iter()
            .find(|l| l.eq_ignore_ascii_case(lang))
            .map(String::as_str)
    }
}

/// Everything the form offers, for one configuration snapshot.
#[derive(Debug)]
struct Offer {
    /// Aliases first, then products by priority (higher first), newest
    /// first.
    choices: Vec<Choice>,
    /// Lower-case name → index in `choices`.
    by_name: HashMap<String, usize>,
    /// Every OS of every choice, in list order.
    oses: Vec<String>,
    /// Every language of every choice, in list order; the empty "not
    /// language-specific" value last when some product has no languages.
    langs: Vec<String>,
    /// The JSON for the script without its closing `}` (the preferences
    /// of each request follow).
    json_head: String,
}

impl Offer {
    /// What `s` offers: public, active products with at least one
    /// location, and the aliases that point at them.
    fn of(s: &Snapshot) -> Offer {
        let mut oses_of: HashMap<ProductId, Vec<String>> = HashMap::new();
        for l in &s.locations {
            oses_of.entry(l.product).or_default().push(l.os.clone());
        }
        let mut products: Vec<&crate::model::Product> = s
            .products
            .iter()
            .filter(|p| p.public && p.active && oses_of.contains_key(&p.id))
            .collect();
        products.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(b.created_at.cmp(&a.created_at))
                .then(b.id.cmp(&a.id))
        });
        let order: HashMap<ProductId, usize> = products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id, i))
            .collect();
        let entry = |p: &crate::model::Product, name: &str, label: String, alias: bool| {
            let mut oses = oses_of.get(&p.id).cloned().unwrap_or_default();
            oses.sort_by_key(|o| os_rank(o));
            oses.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
            let mut langs = p.languages.clone();
            langs.sort_by_cached_key(|l| lang_rank(l));
            langs.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
            Choice {
                name: name.to_string(),
                label,
                alias,
                oses,
                langs,
            }
        };
        let mut aliases: Vec<(usize, &crate::model::Alias)> = s
            .aliases
            .iter()
            .filter_map(|a| order.get(&a.product).map(|&i| (i, a)))
            .collect();
        aliases.sort_by(|(i, a), (j, b)| {
            i.cmp(j)
                .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
        });
        let mut choices: Vec<Choice> = aliases
            .iter()
            .map(|&(i, a)| {
                let p = products[i];
                entry(p, &a.name, format!("{} ({})", a.name, p.name), true)
            })
            .collect();
        choices.extend(
            products
                .iter()
                .map(|p| entry(p, &p.name, p.name.clone(), false)),
        );

        let mut by_name = HashMap::new();
        for (i, c) in choices.iter().enumerate() {
            by_name.entry(c.name.to_lowercase()).or_insert(i);
        }
        let mut oses: Vec<String> = Vec::new();
        let mut langs: Vec<String> = Vec::new();
        let mut seen_os = HashSet::new();
        let mut seen_lang = HashSet::new();
        let mut any_lang = false;
        for c in &choices {
            for o in &c.oses {
                if seen_os.insert(o.to_ascii_lowercase()) {
                    oses.push(o.clone());
                }
            }
            for l in &c.langs {
                if seen_lang.insert(l.to_ascii_lowercase()) {
                    langs.push(l.clone());
                }
            }
            any_lang |= c.langs.is_empty();
        }
        oses.sort_by_key(|o| os_rank(o));
        langs.sort_by_cached_key(|l| lang_rank(l));
        if any_lang {
            langs.push(String::new());
        }
        let json_head = data_json(&choices, &oses, &langs);
        Offer {
            choices,
            by_name,
            oses,
            langs,
            json_head,
        }
    }

    /// The choice named `name` (case-insensitive).
    fn find(&self, name: &str) -> Option<&Choice> {
        self.by_name
            .get(&name.to_lowercase())
            .map(|&i| &self.choices[i])
    }
}

/// The offer of the snapshot last asked about, reused while it is current:
/// the form is the public site's busiest page, and the offer only changes
/// with the configuration. The `Weak` keeps the snapshot's allocation
/// reserved, so a matching pointer is the same snapshot. A std `Mutex`:
/// held only to compare a pointer or swap an `Arc`.
static OFFER: Mutex<Option<(Weak<Snapshot>, Arc<Offer>)>> = Mutex::new(None);

fn offer_of(snapshot: &Arc<Snapshot>) -> Arc<Offer> {
    let weak = Arc::downgrade(snapshot);
    {
        let cached = OFFER.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((w, offer)) = &*cached
            && Weak::ptr_eq(w, &weak)
        {
            return offer.clone();
        }
    }
    let offer = Arc::new(Offer::of(snapshot));
    *OFFER.lock().unwrap_or_else(|e| e.into_inner()) = Some((weak, offer.clone()));
    offer
}

// ----- JSON for the script -----

/// Appends `s` as a JSON string. `<`, `>` and `&` are escaped too (and
/// the JavaScript line separators), so the JSON can sit inside a
/// `<script>` element: `</script>` or `<!--` can never appear in it.
fn json_string(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_list(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, s);
    }
    out.push(']');
}

fn json_labels(out: &mut String, codes: &[String], label: fn(&str) -> String) {
    out.push('{');
    for (i, code) in codes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, code);
        out.push(':');
        json_string(out, &label(code));
    }
    out.push('}');
}

/// `{"products":[{name,label,oses,langs}…],"osLabels":{…},"langLabels":{…}`
/// without the closing brace. A product without languages lists the one
/// empty value.
fn data_json(choices: &[Choice], oses: &[String], langs: &[String]) -> String {
    let mut out = String::from("{\"products\":[");
    for (i, c) in choices.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json_string(&mut out, &c.name);
        out.push_str(",\"label\":");
        json_string(&mut out, &c.label);
        out.push_str(",\"oses\":");
        json_list(&mut out, &c.oses);
        out.push_str(",\"langs\":");
        json_list(&mut out, &c.lang_values());
        out.push('}');
    }
    out.push_str("],\"osLabels\":");
    json_labels(&mut out, oses, os_label);
    out.push_str(",\"langLabels\":");
    json_labels(&mut out, langs, lang_label);
    out
}

// ----- what the browser prefers -----

/// The operating systems a `User-Agent` suggests, best first: a 64-bit
/// Windows runs 32-bit builds too, Windows on ARM runs both under
/// emulation. Nothing for iOS and unknown platforms.
pub fn os_preference(user_agent: &str) -> &'static [&'static str] {
    let ua = user_agent.to_ascii_lowercase();
    let has = |s: &str| ua.contains(s);
    let arm64 = has("aarch64") || has("arm64");
    if has("iphone") || has("ipad") || has("ipod") {
        &[]
    } else if has("android") {
        &["android"]
    } else if has("windows") {
        if arm64 {
            &["win64-aarch64", "win64", "win"]
        } else if has("win64") || has("x64") || has("wow64") || has("amd64") {
            &["win64", "win"]
        } else {
            &["win"]
        }
    } else if has("mac os x") || has("macintosh") {
        &["osx"]
    } else if has("linux") || has("x11") {
        if arm64 {
            &["linux64-aarch64"]
        } else if has("x86_64") || has("amd64") {
            &["linux64", "linux"]
        } else if has("i686") || has("i386") || has("i586") {
            &["linux"]
        } else if has("arm") {
            &[]
        } else {
            &["linux64", "linux"]
        }
    } else {
        &[]
    }
}

/// The language ranges of `Accept-Language` values, most wanted first
/// (q-values honoured, ties in the order given); `*`, `q=0` and anything
/// that is not a locale are left out.
pub fn lang_preference<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut ranges: Vec<(u16, usize, String)> = Vec::new();
    for (i, item) in values
        .into_iter()
        .flat_map(|v| v.split(','))
        .take(MAX_LANGUAGE_RANGES)
        .enumerate()
    {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or("").trim();
        let mut q = 1000u16;
        for param in parts {
            if let Some((k, v)) = param.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = v
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| q.is_finite())
                    .map_or(0, |q| (q.clamp(0.0, 1.0) * 1000.0).round() as u16);
            }
        }
        if q == 0 || range == "*" || !crate::validate::is_lang(range) {
            continue;
        }
        ranges.push((q, i, range.to_string()));
    }
    ranges.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.into_iter().map(|(_, _, r)| r).collect()
}

/// `candidates` in the order the browser would pick them: for each wanted
/// range, an exact match, then those with the same primary subtag (in
/// list order: `pt` finds `pt-BR` before `pt-PT`); then `default`. Those
/// no range names are left out. The first that a product offers is its
/// preselected language, on the server and in the script alike.
pub fn rank_langs(candidates: &[String], wanted: &[String], default: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |c: &String| {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(c)) {
            out.push(c.clone());
        }
    };
    for range in wanted {
        if let Some(c) = candidates.iter().find(|c| c.eq_ignore_ascii_case(range)) {
            push(c);
        }
        let p = primary(range);
        for c in candidates
            .iter()
            .filter(|c| !c.is_empty() && primary(c).eq_ignore_ascii_case(p))
        {
            push(c);
        }
    }
    if let Some(c) = candidates.iter().find(|c| c.eq_ignore_ascii_case(default)) {
        push(c);
    }
    out
}

/// The OSes to try in order: the browser's, then `default`.
fn rank_oses(user_agent: &str, default: &str) -> Vec<String> {
    let mut out: Vec<String> = os_preference(user_agent)
        .iter()
        .map(|s| s.to_string())
        .collect();
    if !default.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(default)) {
        out.push(default.to_ascii_lowercase());
    }
    out
}

/// The first of `ranked` that `offered` has (its spelling there), else the
/// first offered.
fn first_offered(offered: &[String], ranked: &[String]) -> String {
    ranked
        .iter()
        .find_map(|r| offered.iter().find(|o| o.eq_ignore_ascii_case(r)))
        .or(offered.first())
        .cloned()
        .unwrap_or_default()
}

/// What this request's browser prefers, ranked among what is offered.
struct Preference {
    oses: Vec<String>,
    langs: Vec<String>,
}

impl Preference {
    fn of(public: &Public, offer: &Offer, headers: &HeaderMap) -> Preference {
        let ua = headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let wanted = lang_preference(
            headers
                .get_all(ACCEPT_LANGUAGE)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        Preference {
            oses: rank_oses(ua, &public.default_os),
            langs: rank_langs(&offer.langs, &wanted, &public.default_lang),
        }
    }

    /// `"prefer":{"os":[…],"lang":[…]}`, for the script.
    fn json(&self) -> String {
        let mut out = String::from("\"prefer\":{\"os\":");
        json_list(&mut out, &self.oses);
        out.push_str(",\"lang\":");
        json_list(&mut out, &self.langs);
        out.push('}');
        out
    }
}

// ----- the request -----

/// The form's parameters as sent (trimmed); `None` when absent.
#[derive(Debug, Default)]
struct Params {
    product: Option<String>,
    os: Option<String>,
    lang: Option<String>,
}

impl Params {
    fn parse(query: &str) -> Params {
        let mut p = Params::default();
        for (k, v) in crate::query::pairs(query) {
            let v = Some(v.trim().to_string());
            match &*k {
                "product" => p.product = v,
                "os" => p.os = v,
                "lang" => p.lang = v,
                _ => {}
            }
        }
        p
    }
}

/// What is wrong with a submitted choice; each says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    /// No product chosen.
    NoProduct,
    /// Not a product or alias the form offers (unknown, private, inactive
    /// or without locations: all look the same from outside).
    UnknownProduct(String),
    /// No operating system chosen.
    NoOs,
    /// The product has no location for this OS.
    Os {
        product: String,
        os: String,
        offered: Vec<String>,
    },
    /// No language chosen for a product that has languages.
    NoLang {
        product: String,
        offered: Vec<String>,
    },
    /// Not a language code at all.
    BadLang(String),
    /// The product does not exist in this language.
    Lang {
        product: String,
        lang: String,
        offered: Vec<String>,
    },
}

/// `s`, cut to [`MAX_ECHO`] characters.
fn echo(s: &str) -> String {
    match s.char_indices().nth(MAX_ECHO) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn labels(items: &[String], label: fn(&str) -> String) -> String {
    items
        .iter()
        .map(|i| label(i))
        .collect::<Vec<_>>()
        .join(", ")
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::NoProduct => write!(f, "Choose a product from the list."),
            Problem::UnknownProduct(name) => write!(
                f,
                "We do not offer “{}” for download; choose a product from the list.",
                echo(name)
            ),
            Problem::NoOs => write!(f, "Choose an operating system."),
            Problem::Os {
                product,
                os,
                offered,
            } => write!(
                f,
                "{product} is not available for {}; it is available for: {}.",
                echo(&os_label(os)),
                labels(offered, os_label)
            ),
            Problem::NoLang { product, offered } => write!(
                f,
                "Choose a language; {product} is available in: {}.",
                labels(offered, lang_label)
            ),
            Problem::BadLang(lang) => write!(
                f,
                "“{}” is not a language code (letters, digits and '-', e.g. en-US); choose a language from the list.",
                echo(lang)
            ),
            Problem::Lang {
                product,
                lang,
                offered,
            } => write!(
                f,
                "{product} is not available in {}; it is available in: {}.",
                echo(&lang_label(lang)),
                labels(offered, lang_label)
            ),
        }
    }
}

/// A valid choice: the bounce's parameters (`lang` empty: none).
#[derive(Debug, PartialEq, Eq)]
struct Target {
    product: String,
    os: String,
    lang: String,
}

/// Checks a submitted choice against `offer`.
fn check(offer: &Offer, p: &Params) -> Result<Target, Vec<Problem>> {
    let product = p.product.as_deref().unwrap_or("");
    if product.is_empty() {
        return Err(vec![Problem::NoProduct]);
    }
    let Some(choice) = offer.find(product) else {
        return Err(vec![Problem::UnknownProduct(product.to_string())]);
    };
    let mut problems = Vec::new();
    let os = p.os.as_deref().unwrap_or("");
    let os = match choice.os(os) {
        Some(os) => os.to_string(),
        None if os.is_empty() => {
            problems.push(Problem::NoOs);
            String::new()
        }
        None => {
            problems.push(Problem::Os {
                product: choice.label.clone(),
                os: os.to_string(),
                offered: choice.oses.clone(),
            });
            String::new()
        }
    };
    let lang = p.lang.as_deref().unwrap_or("");
    let lang = if lang.is_empty() {
        if !choice.langs.is_empty() {
            problems.push(Problem::NoLang {
                product: choice.label.clone(),
                offered: choice.langs.clone(),
            });
        }
        String::new()
    } else if !crate::validate::is_lang(lang) {
        problems.push(Problem::BadLang(lang.to_string()));
        String::new()
    } else if choice.langs.is_empty() {
        // Every language: as the bounce takes it.
        lang.to_string()
    } else {
        match choice.lang(lang) {
            Some(l) => l.to_string(),
            None => {
                problems.push(Problem::Lang {
                    product: choice.label.clone(),
                    lang: lang.to_string(),
                    offered: choice.langs.clone(),
                });
                String::new()
            }
        }
    };
    if problems.is_empty() {
        Ok(Target {
            product: choice.name.clone(),
            os,
            lang,
        })
    } else {
        Err(problems)
    }
}

impl Target {
    /// The bounce URL (relative to this site).
    fn bounce_url(&self) -> String {
        let mut url = format!(
            "/?product={}&os={}",
            crate::query::encode_component(&self.product),
            crate::query::encode_component(&self.os)
        );
        if !self.lang.is_empty() {
            url.push_str("&lang=");
            url.push_str(&crate::query::encode_component(&self.lang));
        }
        url
    }
}

/// Answers `/download`.
pub fn page(public: &Public, req: &Request<'_>) -> PageResult {
    let snapshot = public.network.snapshot()?;
    let offer = offer_of(&snapshot);
    let params = Params::parse(req.query);
    let prefer = Preference::of(public, &offer, req.headers);
    let empty = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
    let (status, problems, params) =
        if empty(&params.product) && empty(&params.os) && empty(&params.lang) {
            (StatusCode::OK, Vec::new(), Params::default())
        } else if params.os.is_none() && params.lang.is_none() && params.product.is_some() {
            // `?product=P` alone: a link preselecting a product.
            match check(&offer, &params) {
                Err(problems) if matches!(problems[0], Problem::UnknownProduct(_)) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, problems, params)
                }
                _ => (StatusCode::OK, Vec::new(), params),
            }
        } else {
            match check(&offer, &params) {
                Ok(target) => return Ok(redirect(&target.bounce_url())),
                Err(problems) => (StatusCode::UNPROCESSABLE_ENTITY, problems, params),
            }
        };
    let mut reply = super::html(status, form_page(&offer, &prefer, &params, &problems));
    let headers = reply.headers_mut();
    // The preselection depends on these; shared caches must not mix them.
    headers.insert(
        VARY,
        HeaderValue::from_static("User-Agent, Accept-Language"),
    );
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60"),
    );
    Ok(reply)
}

/// 302 to `location` (ASCII: every value is percent-encoded).
fn redirect(location: &str) -> Reply {
    let mut reply = crate::http::text(StatusCode::FOUND, format!("Found: {location}\n"));
    if let Ok(v) = HeaderValue::from_str(location) {
        reply.headers_mut().insert(LOCATION, v);
    }
    reply
}

/// What the form shows selected: the submitted values where they are
/// valid, else the browser's preference among what the product offers.
fn selection<'o>(
    offer: &'o Offer,
    prefer: &Preference,
    p: &Params,
) -> (&'o Choice, String, String) {
    let choice = p
        .product
        .as_deref()
        .and_then(|name| offer.find(name))
        .unwrap_or(&offer.choices[0]);
    let os =
        p.os.as_deref()
            .and_then(|os| choice.os(os))
            .map_or_else(|| first_offered(&choice.oses, &prefer.oses), str::to_string);
    let kept = match p.lang.as_deref().filter(|l| !l.is_empty()) {
        // Every language: kept when the full list has it (chosen there
        // without JavaScript).
        Some(l) if choice.langs.is_empty() => offer
            .langs
            .iter()
            .find(|o| o.eq_ignore_ascii_case(l))
            .cloned(),
        Some(l) => choice.lang(l).map(str::to_string),
        None => None,
    };
    let lang = kept.unwrap_or_else(|| first_offered(&choice.lang_values(), &prefer.langs));
    (choice, os, lang)
}

fn form_page(offer: &Offer, prefer: &Preference, params: &Params, problems: &[Problem]) -> Markup {
    let title = if problems.is_empty() {
        "Download"
    } else {
        "Not available — Download"
    };
    let body = if offer.choices.is_empty() {
        html! {
            h1 { "Download" }
            p { "Nothing is available for download right now. Please come back later." }
        }
    } else {
        let (choice, os, lang) = selection(offer, prefer, params);
        let aliases: Vec<&Choice> = offer.choices.iter().filter(|c| c.alias).collect();
        let products: Vec<&Choice> = offer.choices.iter().filter(|c| !c.alias).collect();
        let option = |c: &Choice| {
            html! { option value=(c.name) selected[c.name == choice.name] { (c.label) } }
        };
        let json = format!("{},{}}}", offer.json_head, prefer.json());
        html! {
            h1 { "Download" }
            @if problems.is_empty() {
                p { "Choose a product, your operating system and your language." }
            } @else {
                @for problem in problems {
                    p.problem role="alert" { (problem.to_string()) }
                }
                p { "Change your choice below and try again." }
            }
            form.download method="get" action="/download" {
                label {
                    "Product"
                    select name="product" id="product" {
                        @if aliases.is_empty() {
                            @for c in &products { (option(c)) }
                        } @else {
                            optgroup label="Latest" {
                                @for c in &aliases { (option(c)) }
                            }
                            optgroup label="All releases" {
                                @for c in &products { (option(c)) }
                            }
                        }
                    }
                }
                label {
                    "Operating system"
                    select name="os" id="os" {
                        @for o in &offer.oses {
                            option value=(o) selected[*o == os] { (os_label(o)) }
                        }
                    }
                }
                label {
                    "Language"
                    select name="lang" id="lang" {
                        @for l in &offer.langs {
                            option value=(l) selected[*l == lang] { (lang_label(l)) }
                        }
                    }
                }
                noscript {
                    small {
                        "Every operating system and language is listed; not every product exists for all of them. "
                        "We check your choice when you press Download."
                    }
                }
                button type="submit" { "Download" }
            }
            script type="application/json" id=(DATA_ID) { (PreEscaped(json)) }
            script src=(crate::assets::DOWNLOAD_JS_PATH) defer {}
        }
    };
    super::page::layout("/download", title, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public::testing::{body, get, public};
    use crate::store::NewProduct;

    const FIREFOX_WIN64_DE: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0";

    /// The data embedded for the script, parsed.
    fn data(html: &str) -> serde_json::Value {
        let start = html
            .find(r#"<script type="application/json" id="download-data">"#)
            .expect("the data element");
        let rest = &html[start..];
        let open = rest.find('>').unwrap() + 1;
        let close = rest.find("</script>").unwrap();
        serde_json::from_str(&rest[open..close]).expect("the data is JSON")
    }

    /// (value, text, selected) of the options of select `name`.
    fn options(html: &str, name: &str) -> Vec<(String, String, bool)> {
        let start = html
            .find(&format!(r#"<select name="{name}""#))
            .unwrap_or_else(|| panic!("no select {name} in {html}"));
        let rest = &html[start..];
        let rest = &rest[..rest.find("</select>").unwrap()];
        rest.split("<option ")
            .skip(1)
            .map(|o| {
                let value = o.split('"').nth(1).unwrap().to_string();
                let text = o[o.find('>').unwrap() + 1..o.find("</option>").unwrap()].to_string();
                let selected = o.starts_with(&format!(r#"value="{value}" selected"#));
                (value, text, selected)
            })
            .collect()
    }

    fn values(html: &str, name: &str) -> Vec<String> {
        options(html, name).into_iter().map(|o| o.0).collect()
    }

    fn selected(html: &str, name: &str) -> String {
        options(html, name)
            .into_iter()
            .find(|o| o.2)
            .map(|o| o.0)
            .unwrap_or_else(|| panic!("nothing selected in {name}"))
    }

    fn add(tx: &mut crate::store::Tx, name: &str, langs: &[&str], private: bool) {
        tx.product_add(NewProduct {
            name: name.into(),
            languages: langs.iter().map(|l| l.to_string()).collect(),
            ssl_only: false,
            private,
        })
        .unwrap();
    }

    /// Firefox (win, win64, osx, linux64, android; en-US, de, fr, pt-BR,
    /// pt-PT) with an alias; Thunderbird older and higher priority
    /// (win64, linux64; every language); a private, an inactive and a
    /// locationless product.
    fn network() -> (tempfile::TempDir, Public) {
        let (dir, public) = public();
        public
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                add(tx, "thunderbird-115.0", &[], false);
                tx.product_update("thunderbird-115.0", |p| {
                    p.created_at = 1;
                    p.priority = 5;
                })?;
                tx.location_add("thunderbird-115.0", "win64", "/tb/:lang/setup.exe")?;
                tx.location_add("thunderbird-115.0", "linux64", "/tb/:lang/tb.tar.bz2")?;
                add(tx, "firefox-119.0", &["en-US"], false);
                tx.product_update("firefox-119.0", |p| p.created_at = 100)?;
                tx.location_add("firefox-119.0", "win", "/fx/119/:lang/setup.exe")?;
                add(
                    tx,
                    "firefox-120.0",
                    &["en-US", "de", "fr", "pt-BR", "pt-PT"],
                    false,
                );
                tx.product_update("firefox-120.0", |p| p.created_at = 200)?;
                for os in ["win", "win64", "osx", "linux64", "android"] {
                    tx.location_add("firefox-120.0", os, &format!("/fx/120/{os}/:lang/f"))?;
                }
                tx.alias_set("firefox-latest", "firefox-120.0")?;
                add(tx, "secret-1.0", &["de"], true);
                tx.location_add("secret-1.0", "android", "/secret/:lang/s.apk")?;
                tx.alias_set("secret-latest", "secret-1.0")?;
                add(tx, "retired-1.0", &["it"], false);
                tx.location_add("retired-1.0", "linux", "/retired/:lang/r")?;
                tx.product_update("retired-1.0", |p| p.active = false)?;
                add(tx, "empty-1.0", &["ja"], false);
                Ok(())
            })
            .unwrap();
        (dir, public)
    }

    fn page_with(public: &Public, query: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
        let reply = get(public, &format!("/download{query}"), headers);
        (reply.status(), body(reply))
    }

    #[test]
    fn aliases_come_first_then_products_by_priority_and_age() {
        let (_d, public) = network();
        let (status, html) = page_with(&public, "", &[]);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            values(&html, "product"),
            [
                "firefox-latest",
                "thunderbird-115.0",
                "firefox-120.0",
                "firefox-119.0"
            ]
        );
        assert_eq!(
            options(&html, "product")[0].1,
            "firefox-latest (firefox-120.0)"
        );
        assert_eq!(selected(&html, "product"), "firefox-latest");
        let data = data(&html);
        let names: Vec<&str> = data["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "firefox-latest",
                "thunderbird-115.0",
                "firefox-120.0",
                "firefox-119.0"
            ]
        );
    }

    #[test]
    fn private_inactive_and_locationless_products_are_not_offered() {
        let (_d, public) = network();
        let (_, html) = page_with(&public, "", &[]);
        for hidden in ["secret", "retired", "empty-1.0"] {
            assert!(!html.contains(hidden), "{hidden} shown:\n{html}");
        }
        // Their OSes and languages are not listed either.
        assert!(!values(&html, "os").contains(&"linux".to_string()));
        for l in ["it", "ja"] {
            assert!(!values(&html, "lang").contains(&l.to_string()));
        }
        assert_eq!(
            values(&html, "os"),
            ["win64", "win", "osx", "linux64", "android"]
        );
        let data = data(&html);
        assert!(!data.to_string().contains("secret"));
        assert!(!data.to_string().contains("retired"));
        assert_eq!(data["products"].as_array().unwrap().len(), 4);
        // And asking for them directly is refused the same way as nonsense.
        for p in ["secret-1.0", "secret-latest", "retired-1.0", "empty-1.0"] {
            let (status, html) =
                page_with(&public, &format!("?product={p}&os=android&lang=de"), &[]);
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
            assert!(
                html.contains(&format!("We do not offer “{p}” for download")),
                "{html}"
            );
        }
    }

    #[test]
    fn the_data_lists_each_products_own_oses_and_languages() {
        let (_d, public) = network();
        let (_, html) = page_with(&public, "", &[]);
        let data = data(&html);
        let fx = &data["products"][0];
        assert_eq!(fx["label"], "firefox-latest (firefox-120.0)");
        assert_eq!(
            fx["oses"],
            serde_json::json!(["win64", "win", "osx", "linux64", "android"])
        );
        assert_eq!(
            fx["langs"],
            serde_json::json!(["en-US", "fr", "de", "pt-BR", "pt-PT"])
        );
        let tb = &data["products"][1];
        assert_eq!(tb["oses"], serde_json::json!(["win64", "linux64"]));
        assert_eq!(tb["langs"], serde_json::json!([""]));
        assert_eq!(data["osLabels"]["win64"], "Windows 64-bit");
        assert_eq!(data["osLabels"]["android"], "Android");
        assert_eq!(data["langLabels"]["de"], "German");
        assert_eq!(data["langLabels"][""], ANY_LANGUAGE);
        // Without JavaScript every language is listed, the "any" one last.
        assert_eq!(
            values(&html, "lang"),
            ["en-US", "fr", "de", "pt-BR", "pt-PT", ""]
        );
    }

    #[test]
    fn the_browsers_os_is_preselected_when_offered() {
        let (_d, public) = network();
        let cases = [
            (FIREFOX_WIN64_DE, "win64"),
            (
                "Mozilla/5.0 (Windows NT 10.0; WOW64; rv:52.0) Gecko/20100101 Firefox/52.0",
                "win64",
            ),
            (
                "Mozilla/5.0 (Windows NT 6.1; rv:52.0) Gecko/20100101 Firefox/52.0",
                "win",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
                "osx",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
                "linux64",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Mobile Safari/537.36",
                "android",
            ),
            // Windows on ARM: no ARM build here, so the x64 one.
            (
                "Mozilla/5.0 (Windows NT 10.0; ARM64; rv:120.0) Gecko/20100101 Firefox/120.0",
                "win64",
            ),
            // Not offered (Linux ARM64, iOS) or unknown: the default (win).
            (
                "Mozilla/5.0 (X11; Linux aarch64; rv:120.0) Gecko/20100101 Firefox/120.0",
                "win",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                "win",
            ),
            ("curl/8.4.0", "win"),
        ];
        for (ua, want) in cases {
            let (_, html) = page_with(&public, "", &[("user-agent", ua)]);
            assert_eq!(selected(&html, "os"), want, "{ua}");
        }
        assert_eq!(
            os_preference("Mozilla/5.0 (Windows NT 10.0; ARM64)"),
            ["win64-aarch64", "win64", "win"]
        );
        assert_eq!(
            os_preference("Mozilla/5.0 (X11; Linux aarch64)"),
            ["linux64-aarch64"]
        );
        assert_eq!(os_preference("Mozilla/5.0 (X11; Linux i686)"), ["linux"]);
    }

    #[test]
    fn the_first_offered_os_when_neither_browser_nor_default_fits() {
        let (_d, public) = network();
        // Thunderbird has no win (the default) and no osx.
        let (_, html) = page_with(
            &public,
            "?product=thunderbird-115.0",
            &[("user-agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1)")],
        );
        assert_eq!(selected(&html, "product"), "thunderbird-115.0");
        assert_eq!(selected(&html, "os"), "win64");
    }

    #[test]
    fn accept_language_is_honoured_with_q_values_and_primary_subtags() {
        let (_d, public) = network();
        let cases = [
            ("de", "de"),
            ("fr;q=0.5, de;q=0.9", "de"),
            ("de-AT, en;q=0.5", "de"),
            ("it, fr;q=0.3", "fr"),
            ("pt", "pt-BR"),
            ("pt-PT, pt;q=0.9", "pt-PT"),
            ("de;q=0, fr;q=0.1", "fr"),
            ("ja, *;q=0.1", "en-US"),
            ("", "en-US"),
            ("en-GB,en;q=0.9", "en-US"),
            ("<script>, ../x, fr", "fr"),
        ];
        for (header, want) in cases {
            let (_, html) = page_with(&public, "", &[("accept-language", header)]);
            assert_eq!(selected(&html, "lang"), want, "{header:?}");
        }
        assert_eq!(
            lang_preference(["fr;q=0.5, de-AT;q=0.9, en", "it;q=0.7"]),
            ["en", "de-AT", "it", "fr"]
        );
        assert_eq!(
            lang_preference(["da, en-gb;q=0.8, en;q=0.7, *;q=0.1"]),
            ["da", "en-gb", "en"]
        );
        assert!(lang_preference(["de;q=abc, fr;q=-1"]).is_empty());
    }

    #[test]
    fn the_preference_is_embedded_for_the_script() {
        let (_d, public) = network();
        let (_, html) = page_with(
            &public,
            "",
            &[
                ("accept-language", "pt, de;q=0.5"),
                ("user-agent", FIREFOX_WIN64_DE),
            ],
        );
        let data = data(&html);
        assert_eq!(data["prefer"]["os"], serde_json::json!(["win64", "win"]));
        assert_eq!(
            data["prefer"]["lang"],
            serde_json::json!(["pt-BR", "pt-PT", "de", "en-US"])
        );
    }

    #[test]
    fn a_product_without_languages_is_offered_as_not_language_specific() {
        let (_d, public) = network();
        let (status, html) = page_with(
            &public,
            "?product=thunderbird-115.0",
            &[("accept-language", "de")],
        );
        assert_eq!(status, StatusCode::OK);
        assert_eq!(selected(&html, "lang"), "");
        let reply = get(
            &public,
            "/download?product=thunderbird-115.0&os=linux64&lang=",
            &[],
        );
        assert_eq!(reply.status(), StatusCode::FOUND);
        assert_eq!(
            reply.headers()[LOCATION],
            "/?product=thunderbird-115.0&os=linux64"
        );
        // A language typed by hand is passed on: it has every language.
        let reply = get(
            &public,
            "/download?product=thunderbird-115.0&os=linux64&lang=de",
            &[],
        );
        assert_eq!(
            reply.headers()[LOCATION],
            "/?product=thunderbird-115.0&os=linux64&lang=de"
        );
    }

    #[test]
    fn a_valid_choice_redirects_to_the_bounce() {
        let (_d, public) = network();
        let reply = get(
            &public,
            "/download?product=firefox-latest&os=win64&lang=de",
            &[],
        );
        assert_eq!(reply.status(), StatusCode::FOUND);
        assert_eq!(
            reply.headers()[LOCATION],
            "/?product=firefox-latest&os=win64&lang=de"
        );
        // Spelled as stored, whatever the case sent; spaces trimmed.
        let reply = get(
            &public,
            "/download?product=+FIREFOX-120.0+&os=OSX&lang=pt-br",
            &[],
        );
        assert_eq!(reply.status(), StatusCode::FOUND);
        assert_eq!(
            reply.headers()[LOCATION],
            "/?product=firefox-120.0&os=osx&lang=pt-BR"
        );
    }

    #[test]
    fn the_redirect_is_percent_encoded() {
        let (_d, public) = public();
        public
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                add(tx, "a&b=c+d/é", &["de"], false);
                tx.location_add("a&b=c+d/é", "win", "/x/:lang/y")
            })
            .unwrap();
        let reply = get(
            &public,
            "/download?product=a%26b%3Dc%2Bd%2F%C3%A9&os=win&lang=de",
            &[],
        );
        assert_eq!(reply.status(), StatusCode::FOUND);
        let location = reply.headers()[LOCATION].to_str().unwrap().to_string();
        assert_eq!(location, "/?product=a%26b%3Dc%2Bd%2F%C3%A9&os=win&lang=de");
        let q = crate::bounce::BounceQuery::parse(location.strip_prefix("/?").unwrap());
        assert_eq!(q.product.as_deref(), Some("a&b=c+d/é"));
    }

    #[test]
    fn each_invalid_part_is_explained() {
        let (_d, public) = network();
        let cases = [
            (
                "?product=firefox-120.0&os=linux&lang=de",
                "firefox-120.0 is not available for Linux 32-bit; it is available for: Windows 64-bit, Windows 32-bit, macOS, Linux 64-bit, Android.",
            ),
            (
                "?product=firefox-latest&os=plan9&lang=de",
                "firefox-latest (firefox-120.0) is not available for plan9; it is available for:",
            ),
            (
                "?product=firefox-119.0&os=win&lang=de",
                "firefox-119.0 is not available in German; it is available in: English (US).",
            ),
            (
                "?product=firefox-120.0&os=win&lang=",
                "Choose a language; firefox-120.0 is available in: English (US), French, German",
            ),
            (
                "?product=firefox-120.0&os=&lang=de",
                "Choose an operating system.",
            ),
            (
                "?product=&os=win&lang=de",
                "Choose a product from the list.",
            ),
            (
                "?product=nightly&os=win&lang=de",
                "We do not offer “nightly” for download; choose a product from the list.",
            ),
            (
                "?product=firefox-120.0&os=win&lang=..%2Fetc",
                "“../etc” is not a language code",
            ),
        ];
        for (query, want) in cases {
            let (status, html) = page_with(&public, query, &[]);
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
            assert!(html.contains(want), "{query}: no {want:?} in\n{html}");
            assert!(
                html.contains(r#"<p class="problem" role="alert">"#),
                "{query}"
            );
            // The form is shown again.
            assert!(html.contains(r#"<form class="download" method="get" action="/download">"#));
        }
        // Both OS and language wrong: both explained.
        let (_, html) = page_with(&public, "?product=firefox-119.0&os=osx&lang=de", &[]);
        assert!(html.contains(
            "firefox-119.0 is not available for macOS; it is available for: Windows 32-bit."
        ));
        assert!(html.contains("firefox-119.0 is not available in German;"));
    }

    #[test]
    fn the_valid_parts_of_a_refused_choice_are_kept() {
        let (_d, public) = network();
        // Thunderbird has no osx: the product stays, the OS is replaced.
        let (status, html) = page_with(
            &public,
            "?product=thunderbird-115.0&os=osx&lang=",
            &[("user-agent", "X11; Linux x86_64")],
        );
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(selected(&html, "product"), "thunderbird-115.0");
        assert_eq!(selected(&html, "os"), "linux64");
        // Firefox 119 is not in German: product and OS stay.
        let (_, html) = page_with(&public, "?product=firefox-119.0&os=win&lang=de", &[]);
        assert_eq!(selected(&html, "product"), "firefox-119.0");
        assert_eq!(selected(&html, "os"), "win");
        assert_eq!(selected(&html, "lang"), "en-US");
        // An unknown product: OS and language stay where the first offers them.
        let (_, html) = page_with(&public, "?product=nope&os=osx&lang=fr", &[]);
        assert_eq!(selected(&html, "product"), "firefox-latest");
        assert_eq!(selected(&html, "os"), "osx");
        assert_eq!(selected(&html, "lang"), "fr");
    }

    #[test]
    fn hostile_names_are_escaped_in_html_and_json() {
        let (_d, public) = public();
        let evil = r#"</script><script>alert("x&y")</script><!--"#;
        public
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                add(tx, evil, &["de"], false);
                tx.location_add(evil, "win", "/x/:lang/y")?;
                tx.alias_set("<b>latest</b>", evil)?;
                Ok(())
            })
            .unwrap();
        let (status, html) = page_with(&public, "", &[]);
        assert_eq!(status, StatusCode::OK);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<b>latest"), "{html}");
        assert!(!html.contains("<!--"), "{html}");
        assert_eq!(html.matches("</script>").count(), 2, "{html}");
        assert!(html.contains("&lt;/script&gt;&lt;script&gt;alert(&quot;x&amp;y&quot;)"));
        let data = data(&html);
        assert_eq!(data["products"][0]["name"], "<b>latest</b>");
        assert_eq!(data["products"][1]["name"], evil);
        // Echoed input in an explanation is escaped too.
        let (status, html) = page_with(
            &public,
            "?product=%3Cimg%20src%3Dx%3E&os=%3Ci%3E&lang=de",
            &[],
        );
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("“&lt;img src=x&gt;”"));
        let (_, html) = page_with(
            &public,
            "?product=%3Cb%3Elatest%3C%2Fb%3E&os=%3Ci%3E&lang=de",
            &[],
        );
        assert!(html.contains("is not available for &lt;i&gt;;"), "{html}");
    }

    #[test]
    fn the_page_names_the_script_and_has_no_inline_code() {
        let (_d, public) = network();
        let reply = get(&public, "/download", &[]);
        assert_eq!(reply.headers()[VARY], "User-Agent, Accept-Language");
        assert_eq!(reply.headers()[CACHE_CONTROL], "private, max-age=60");
        let csp = reply.headers()[hyper::header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("form-action 'self' http: https:;"), "{csp}");
        let html = body(reply);
        assert!(html.contains(r#"<script src="/assets/download.js" defer></script>"#));
        assert_eq!(html.matches("<script").count(), 2);
        assert!(!html.contains("style="));
        for handler in ["onchange=", "onclick=", "onload=", "onsubmit="] {
            assert!(
                !html.contains(handler),
                "an inline event handler: {handler}"
            );
        }
        assert!(crate::assets::find("/assets/download.js").is_some());
    }

    #[test]
    fn an_empty_network_says_there_is_nothing_to_download() {
        let (_d, public) = public();
        let (status, html) = page_with(&public, "", &[]);
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Nothing is available for download right now."));
        assert!(!html.contains("<form"));
        let (status, _) = page_with(&public, "?product=x&os=win&lang=de", &[]);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn the_offer_follows_configuration_changes() {
        let (_d, public) = network();
        let (_, html) = page_with(&public, "", &[]);
        assert!(values(&html, "product").contains(&"firefox-119.0".to_string()));
        public
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_update("firefox-119.0", |p| p.public = false)?;
                Ok(())
            })
            .unwrap();
        let (_, html) = page_with(&public, "", &[]);
        assert!(!values(&html, "product").contains(&"firefox-119.0".to_string()));
    }

    #[test]
    fn language_labels() {
        assert_eq!(lang_label("de"), "German");
        assert_eq!(lang_label("EN-us"), "English (US)");
        assert_eq!(lang_label("de-CH"), "German (de-CH)");
        assert_eq!(lang_label("tlh"), "tlh");
        assert_eq!(lang_label(""), ANY_LANGUAGE);
        assert_eq!(os_label("win64-aarch64"), "Windows on ARM");
        assert_eq!(os_label("beos"), "beos");
        // The table is searched by binary search.
        assert!(LANG_LABELS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(
            LANG_LABELS
                .iter()
                .all(|(k, _)| *k == k.to_ascii_lowercase())
        );
    }
}
