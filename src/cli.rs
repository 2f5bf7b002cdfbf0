//! The command line (argh definitions only). The forms in SPEC §9 are
//! fixed: scripts depend on them.

use argh::FromArgs;

/// Bouncer: send every download to a healthy mirror that has the file.
#[derive(FromArgs, Debug)]
pub struct Bouncer {
    /// the database file (default: $BOUNCER_DB or bouncer.redb)
    #[argh(option)]
    pub db: Option<String>,
    #[argh(subcommand)]
    /// what to do
    pub command: Command,
}

/// Every command.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    /// Serve (boxed: its many options dwarf the other commands).
    Serve(Box<Serve>),
    /// Demo.
    Demo(Demo),
    /// Users.
    User(UserCmd),
    /// Mirrors.
    Mirror(MirrorCmd),
    /// Products.
    Product(ProductCmd),
    /// Locations.
    Location(LocationCmd),
    /// Aliases.
    Alias(AliasCmd),
    /// Operating systems.
    Os(OsCmd),
    /// Availability.
    Status(StatusCmd),
    /// Download counts.
    Stats(Stats),
    /// Check mirrors.
    Sentry(SentryArgs),
    /// Mail settings.
    Mail(MailCmd),
    /// Uptake.
    Uptake(UptakeArgs),
    /// Settings.
    Settings(SettingsCmd),
    /// Load a checksum file.
    Load(Load),
    /// Regions.
    Region(RegionCmd),
    /// GeoIP data.
    Geoip(GeoipCmd),
    /// The ASN table.
    Asn(AsnCmd),
    /// Copy the database.
    Backup(Backup),
    /// Write the configuration as JSON.
    Export(Export),
    /// Read a configuration written by export.
    Import(Import),
    /// Move a whole network into another database.
    Copy(CopyArgs),
}

#[derive(FromArgs, Debug, Default, Clone)]
#[argh(subcommand, name = "serve")]
/// run the server; other commands on the same database reach it through its control socket
pub struct Serve {
    /// address to listen on (default 127.0.0.1:8080)
    #[argh(option)]
    pub listen: Option<String>,
    /// address for the admin pages (default: same as --listen)
    #[argh(option)]
    pub admin_listen: Option<String>,
    /// directory for sentry's HTML reports (default: reports/ beside the database)
    #[argh(option)]
    pub reports_dir: Option<String>,
    /// serve HTTPS with this certificate (PEM, followed by its chain); reloaded on SIGHUP and when the file changes
    #[argh(option)]
    pub tls_cert: Option<String>,
    /// the private key of --tls-cert (PEM)
    #[argh(option)]
    pub tls_key: Option<String>,
    /// serve HTTPS with a certificate for this domain obtained and renewed by ACME (repeatable)
    #[argh(option)]
    pub acme: Vec<String>,
    /// the ACME account's contact e-mail address (with --acme)
    #[argh(option)]
    pub acme_contact: Option<String>,
    /// the ACME directory URL (default Let's Encrypt, https://acme-v02.api.letsencrypt.org/directory)
    #[argh(option)]
    pub acme_directory: Option<String>,
    /// trust this CA (PEM file) for the ACME directory's HTTPS: a private ACME server
    #[argh(option)]
    pub acme_ca: Option<String>,
    /// where the ACME account and certificate are kept, owner-only (default: acme/ beside the database)
    #[argh(option)]
    pub acme_dir: Option<String>,
    /// how the ACME server checks this server: tls-alpn-01 on the HTTPS listener (default) or http-01 on --listen (which must then be port 80 to the world)
    #[argh(option)]
    pub acme_challenge: Option<String>,
    /// renew ACME certificates this many seconds after they are put in place (testing)
    #[argh(option, hidden_help)]
    pub acme_renew_after: Option<u64>,
    /// address of the HTTPS listener (default 0.0.0.0:443 when --tls-cert or --acme is given)
    #[argh(option)]
    pub tls_listen: Option<String>,
    /// with TLS on, keep --admin-listen plain HTTP (an internal network, or a proxy that adds TLS)
    #[argh(switch)]
    pub admin_plain: bool,
    /// worker threads for HTTP (default: one per core but one, at least one)
    #[argh(option)]
    pub threads: Option<usize>,
    /// operating system assumed when a request names none (default win)
    #[argh(option)]
    pub default_os: Option<String>,
    /// language assumed when a request names none (default en-US)
    #[argh(option)]
    pub default_lang: Option<String>,
    /// where requests without a product go (default /download)
    #[argh(option)]
    pub home_url: Option<String>,
    /// origin base URL used when no mirror can serve (default: answer 503)
    #[argh(option)]
    pub fallback_url: Option<String>,
    /// max-age of the redirects' Cache-Control, in seconds (default 60)
    #[argh(option)]
    pub cache_max_age: Option<u32>,
    /// header whose value `https` marks a request that arrived over TLS (default X-Forwarded-Proto)
    #[argh(option)]
    pub https_header: Option<String>,
    /// concurrent connections at most (default 10000)
    #[argh(option)]
    pub max_connections: Option<usize>,
    /// seconds a client may take to send its headers (default 10)
    #[argh(option)]
    pub header_timeout: Option<u64>,
    /// unauthenticated admin and API requests a second per client address, after a burst of 30 seconds' worth (default 10; 0 = no limit)
    #[argh(option)]
    pub admin_rate: Option<u32>,
    /// authenticated admin and API requests a second per user, after a burst of 30 seconds' worth (default 0 = no limit)
    #[argh(option)]
    pub user_rate: Option<u32>,
    /// milliseconds between writes of the download counts (default 1000; for tests)
    #[argh(option, hidden_help)]
    pub flush_interval_ms: Option<u64>,
    /// do not count downloads
    #[argh(switch)]
    pub no_count: bool,
    /// do not run sentry's scheduled checks in this process
    #[argh(switch)]
    pub no_sentry: bool,
    /// sentry: checks in flight at once (default 32)
    #[argh(option)]
    pub sentry_threads: Option<usize>,
    /// sentry: seconds between spot checks (default 60; 0 = never)
    #[argh(option)]
    pub spot_every: Option<u64>,
    /// sentry: seconds between full checks (default 21600; 0 = never)
    #[argh(option)]
    pub all_every: Option<u64>,
    /// sentry: seconds between content (hash) checks (default 86400; 0 = never)
    #[argh(option)]
    pub hashes_every: Option<u64>,
    /// sentry: seconds a mirror may take to answer a check (default 10)
    #[argh(option)]
    pub check_timeout: Option<u64>,
    /// sentry: check host NAME at these addresses, not DNS's (NAME=ADDR[,ADDR…]; repeatable), as curl --resolve
    #[argh(option)]
    pub resolve: Vec<crate::sentry::probe::Resolve>,
    /// sentry: days to keep runs and their reports (default 30; 0 = for ever; the newest full run always stays)
    #[argh(option)]
    pub keep_reports: Option<u64>,
    /// a proxy (IP or CIDR block) whose X-Forwarded-For is believed (repeatable)
    #[argh(option)]
    pub trusted_proxy: Vec<String>,
    /// read GeoIP data from this MaxMind .mmdb file instead of the imported table
    #[argh(option)]
    pub geoip: Option<String>,
    /// let `?ip=ADDR` choose the client address (testing only: anyone can pick their region)
    #[argh(switch)]
    pub allow_ip_override: bool,
    /// log level: error, warn, info or debug, optionally per module as in info,bouncer::sentry=debug (default: $BOUNCER_LOG, else info)
    #[argh(option)]
    pub log_level: Option<String>,
    /// log format: logfmt or json (default: $BOUNCER_LOG_FORMAT, else logfmt)
    #[argh(option)]
    pub log_format: Option<String>,
    /// write an access log (one line per request) to this file; SIGHUP reopens it
    #[argh(option)]
    pub access_log: Option<String>,
    /// access log format: common or combined (default combined)
    #[argh(option)]
    pub access_log_format: Option<String>,
    /// answer /metrics to anyone when the admin pages share the public listener (default: clients on this machine only)
    #[argh(switch)]
    pub public_metrics: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "demo")]
/// build a demo network (local mirrors, products, a check) and serve it until ctrl-c; in a temporary database, removed when the demo stops, or in the new database `bouncer --db PATH demo` names, which stays
pub struct Demo {
    /// address to listen on (default 127.0.0.1:8080)
    #[argh(option)]
    pub listen: Option<String>,
    /// worker threads for HTTP (default: one per core but one, at least one)
    #[argh(option)]
    pub threads: Option<usize>,
    /// build the network, run one check, print what was made, and exit without serving
    #[argh(switch)]
    pub no_serve: bool,
    /// serve HTTPS too, and the mirrors over HTTPS, with a self-signed certificate it writes and prints the fingerprint of
    #[argh(switch)]
    pub tls: bool,
    /// address of the HTTPS listener with --tls (default 127.0.0.1:8443)
    #[argh(option)]
    pub tls_listen: Option<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "user")]
/// manage admin accounts
pub struct UserCmd {
    #[argh(subcommand)]
    /// what to do
    pub action: UserAction,
}

/// User actions.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum UserAction {
    /// Add.
    Add(UserAdd),
    /// Change password.
    Passwd(UserPasswd),
    /// List.
    List(UserList),
    /// Remove.
    Remove(UserRemove),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "add")]
/// add a user (password from stdin when it is not a terminal)
pub struct UserAdd {
    /// login name
    #[argh(positional)]
    pub name: String,
    /// admin, release or viewer
    #[argh(option)]
    pub role: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "passwd")]
/// set a user's password (from stdin when it is not a terminal)
pub struct UserPasswd {
    /// login name
    #[argh(positional)]
    pub name: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
/// list users
pub struct UserList {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "remove")]
/// remove a user
pub struct UserRemove {
    /// login name
    #[argh(positional)]
    pub name: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "mirror")]
/// manage mirrors
pub struct MirrorCmd {
    #[argh(subcommand)]
    /// what to do
    pub action: MirrorAction,
}

/// Mirror actions.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum MirrorAction {
    /// Add.
    Add(MirrorAdd),
    /// List.
    List(MirrorList),
    /// Change.
    Set(MirrorSet),
    /// Remove.
    Remove(MirrorRemove),
    /// Maintenance link.
    MaintenanceLink(MirrorMaintenanceLink),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "maintenance-link")]
/// print (and with --mail, mail to the mirror's contact) the link on which its admins announce maintenance windows themselves, no account needed
pub struct MirrorMaintenanceLink {
    /// the mirror
    #[argh(positional)]
    pub name: String,
    /// where people reach this server, e.g. https://download.example.org
    #[argh(option)]
    pub site: String,
    /// mail it to the mirror's contact (needs `bouncer mail set`)
    #[argh(switch)]
    pub mail: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "add")]
/// add a mirror; it gets traffic once sentry (or `status set`) finds its files
pub struct MirrorAdd {
    /// unique name
    #[argh(positional)]
    pub name: String,
    /// http:// or https:// root URL
    #[argh(positional)]
    pub base_url: String,
    /// selection weight (default 100; 0 = no traffic)
    #[argh(option, default = "100")]
    pub rating: u32,
    /// region it serves (repeatable)
    #[argh(option)]
    pub region: Vec<String>,
    /// contact e-mail
    #[argh(option)]
    pub contact: Option<String>,
    /// add it switched off
    #[argh(switch)]
    pub inactive: bool,
    /// the address families it serves: both (default), ipv4 or ipv6
    #[argh(option, default = "crate::model::Families::Both")]
    pub families: crate::model::Families,
    /// the only countries it may serve, e.g. DE,AT (clients of unknown country never go there)
    #[argh(option)]
    pub only_countries: Option<String>,
    /// countries it must never serve, e.g. CN,RU
    #[argh(option)]
    pub never_countries: Option<String>,
    /// client networks it serves first, before their region: CIDR prefixes and AS numbers, e.g. 192.0.2.0/24,AS64500
    #[argh(option)]
    pub networks: Option<String>,
    /// the largest share of a pool's downloads it may take, in percent (1-99; 100: no cap)
    #[argh(option)]
    pub max_share: Option<String>,
    /// the same root over the other scheme (https:// beside an http:// base URL, or back): https-only requests use the https one
    #[argh(option)]
    pub alt_url: Option<String>,
    /// its trace file under its root (e.g. /project/trace/master or /lastsync): sentry reads when it last synced
    #[argh(option)]
    pub trace: Option<String>,
    /// mirror (default) or cdn: a CDN is always complete, only probed, preferred for new files and the fallback before the origin
    #[argh(option)]
    pub kind: Option<crate::model::MirrorKind>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
/// list mirrors with their status
pub struct MirrorList {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set")]
/// change a mirror
pub struct MirrorSet {
    /// the mirror
    #[argh(positional)]
    pub name: String,
    /// selection weight
    #[argh(option)]
    pub rating: Option<u32>,
    /// true or false
    #[argh(option)]
    pub active: Option<bool>,
    /// new root URL (drops what sentry knew)
    #[argh(option)]
    pub base_url: Option<String>,
    /// contact e-mail
    #[argh(option)]
    pub contact: Option<String>,
    /// regions it serves, replacing the old list (repeatable)
    #[argh(option)]
    pub region: Vec<String>,
    /// serve no region (the world pool)
    #[argh(switch)]
    pub no_regions: bool,
    /// the address families it serves: both, ipv4 or ipv6
    #[argh(option)]
    pub families: Option<crate::model::Families>,
    /// the only countries it may serve, e.g. DE,AT, or none (clients of unknown country never go there)
    #[argh(option)]
    pub only_countries: Option<String>,
    /// countries it must never serve, e.g. CN,RU, or none
    #[argh(option)]
    pub never_countries: Option<String>,
    /// client networks it serves first, before their region: CIDR prefixes and AS numbers, e.g. 192.0.2.0/24,AS64500, or none
    #[argh(option)]
    pub networks: Option<String>,
    /// the largest share of a pool's downloads it may take, in percent (1-99; 100: no cap)
    #[argh(option)]
    pub max_share: Option<String>,
    /// the same root over the other scheme, or none
    #[argh(option)]
    pub alt_url: Option<String>,
    /// its trace file under its root, or none
    #[argh(option)]
    pub trace: Option<String>,
    /// mirror or cdn
    #[argh(option)]
    pub kind: Option<crate::model::MirrorKind>,
    /// a maintenance window, FROM/DURATION (e.g. now/2h or 2026-12-08T02:00:00Z/90m; UTC), or none: it leaves rotation unchecked and unmailed, and comes back after a passing check
    #[argh(option)]
    pub maintenance: Option<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "remove")]
/// remove a mirror
pub struct MirrorRemove {
    /// the mirror
    #[argh(positional)]
    pub name: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "product")]
/// manage products
pub struct ProductCmd {
    #[argh(subcommand)]
    /// what to do
    pub action: ProductAction,
}

/// Product actions.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum ProductAction {
    /// Add.
    Add(ProductAdd),
    /// List.
    List(ProductList),
    /// Change.
    Set(ProductSet),
    /// Remove.
    Remove(ProductRemove),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "add")]
/// add a product
pub struct ProductAdd {
    /// unique name, e.g. firefox-120.0
    #[argh(positional)]
    pub name: String,
    /// a language it exists in (repeatable; none = every language)
    #[argh(option)]
    pub lang: Vec<String>,
    /// redirect to https mirrors only
    #[argh(switch)]
    pub ssl_only: bool,
    /// hide it from the download form and public feeds
    #[argh(switch)]
    pub private: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
/// list products
pub struct ProductList {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set")]
/// change a product's flags or languages
pub struct ProductSet {
    /// the product
    #[argh(positional)]
    pub name: String,
    /// true or false: bounced at all
    #[argh(option)]
    pub active: Option<bool>,
    /// true or false: shown on public pages
    #[argh(option)]
    pub public: Option<bool>,
    /// true or false: https mirrors only
    #[argh(option)]
    pub ssl_only: Option<bool>,
    /// true or false: ask sentry to check it soon
    #[argh(option)]
    pub checknow: Option<bool>,
    /// add a language (repeatable)
    #[argh(option)]
    pub add_lang: Vec<String>,
    /// remove a language (repeatable)
    #[argh(option)]
    pub remove_lang: Vec<String>,
    /// how many minutes its files may lag behind the origin on mirrors with a trace file (none: any)
    #[argh(option)]
    pub max_lag: Option<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "remove")]
/// remove a product with its locations and the aliases that point at it
pub struct ProductRemove {
    /// the product
    #[argh(positional)]
    pub name: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "location")]
/// manage locations (product + OS → path)
pub struct LocationCmd {
    #[argh(subcommand)]
    /// what to do
    pub action: LocationAction,
}

/// Location actions.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum LocationAction {
    /// Add.
    Add(LocationAdd),
    /// List.
    List(LocationList),
    /// Change path.
    Set(LocationSet),
    /// Remove.
    Remove(LocationRemove),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "add")]
/// add a location; `:lang` in PATH is replaced by the language
pub struct LocationAdd {
    /// the product
    #[argh(positional)]
    pub product: String,
    /// the operating system
    #[argh(positional)]
    pub os: String,
    /// path from a mirror's root, e.g. /firefox/releases/120.0/win32/:lang/Firefox%20Setup%20120.0.exe
    #[argh(positional)]
    pub path: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
/// list locations
pub struct LocationList {
    /// only this product's
    #[argh(positional)]
    pub product: Option<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set")]
/// change a location's path (sentry checks it anew)
pub struct LocationSet {
    /// the product
    #[argh(positional)]
    pub product: String,
    /// the operating system
    #[argh(positional)]
    pub os: String,
    /// the new path
    #[argh(positional)]
    pub path: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "remove")]
/// remove a location
pub struct LocationRemove {
    /// the product
    #[argh(positional)]
    pub product: String,
    /// the operating system
    #[argh(positional)]
    pub os: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "alias")]
/// manage aliases (stable names such as firefox-latest)
pub struct AliasCmd {
    #[argh(subcommand)]
    /// what to do
    pub action: AliasAction,
}

/// Alias actions.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum AliasAction {
    /// Set.
    Set(AliasSet),
    /// List.
    List(AliasList),
    /// Remove.
    Remove(AliasRemove),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set")]
/// point an alias at a product (creating it if needed)
pub struct AliasSet {
    /// the alias
    #[argh(positional)]
    pub alias: String,
    /// the product
    #[argh(positional)]
    pub product: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
/// list aliases
pub struct AliasList {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "remove")]
/// remove an alias
pub struct AliasRemove {
    /// the alias
    #[argh(positional)]
    pub alias: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "os")]
/// manage operating system names
pub struct OsCmd {
    #[argh(subcommand)]
    /// what to do
    pub action: OsAction,
}

/// OS actions.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum OsAction {
    /// Add.
    Add(OsAdd),
    /// List.
    List(OsList),
    /// Remove.
    Remove(OsRemove),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "add")]
/// add an operating system name
pub struct OsAdd {
    /// the name
    #[argh(positional)]
    pub name: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
/// list operating systems
pub struct OsList {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "remove")]
/// remove an operating system name
pub struct OsRemove {
    /// the name
    #[argh(positional)]
    pub name: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
/// what each mirror serves (set by sentry; settable by hand)
pub struct StatusCmd {
    #[argh(subcommand)]
    /// what to do
    pub action: StatusAction,
}

/// Status actions.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum StatusAction {
    /// List.
    List(StatusList),
    /// Set.
    Set(StatusSet),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
/// list availability per location and mirror
pub struct StatusList {
    /// only this product's locations
    #[argh(option)]
    pub product: Option<String>,
    /// only this mirror
    #[argh(option)]
    pub mirror: Option<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set")]
/// mark what a mirror serves, as the admin toggles do (sentry's next check overrides)
pub struct StatusSet {
    /// the mirror
    #[argh(positional)]
    pub mirror: String,
    /// present or missing
    #[argh(positional)]
    pub state: String,
    /// only this product's locations (default: all)
    #[argh(option)]
    pub product: Option<String>,
    /// only this OS's locations (default: all)
    #[argh(option)]
    pub os: Option<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "stats")]
/// downloads per product and per mirror (counts reach the database about every second)
pub struct Stats {
    /// how many days back, today included (default 1: today)
    #[argh(option, default = "1")]
    pub days: u32,
}

#[derive(FromArgs, Debug, Default)]
#[argh(subcommand, name = "sentry")]
/// check mirrors once (through the running server when there is one); default --all
pub struct SentryArgs {
    /// check everything
    #[argh(switch)]
    pub all: bool,
    /// check products flagged checknow, new mirrors and new locations
    #[argh(switch)]
    pub new: bool,
    /// check one random file per mirror
    #[argh(switch)]
    pub spot: bool,
    /// download files with known checksums and compare their hashes
    #[argh(switch)]
    pub hashes: bool,
    /// check only this mirror
    #[argh(option)]
    pub mirror: Option<String>,
    /// checks in flight at once (default 32)
    #[argh(option)]
    pub threads: Option<usize>,
    /// checks in flight on one mirror at most (default 4)
    #[argh(option)]
    pub per_mirror: Option<usize>,
    /// seconds a mirror may take to answer (default 10)
    #[argh(option)]
    pub timeout: Option<u64>,
    /// check host NAME at these addresses, not DNS's (NAME=ADDR[,ADDR…]; repeatable), as curl --resolve
    #[argh(option)]
    pub resolve: Vec<crate::sentry::probe::Resolve>,
    /// where to write the HTML report (default: reports/ beside the database)
    #[argh(option)]
    pub reports_dir: Option<String>,
    /// days to keep runs and their reports (default 30; 0 = for ever; the newest full run always stays)
    #[argh(option)]
    pub keep_reports: Option<u64>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "mail")]
/// e-mail settings for sentry's alerts
pub struct MailCmd {
    #[argh(subcommand)]
    /// what to do
    pub action: MailAction,
}

/// Mail actions.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum MailAction {
    /// Set.
    Set(MailSet),
    /// Show.
    Show(MailShow),
    /// Test.
    Test(MailTest),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set")]
/// change mail settings (the SMTP password comes from $BOUNCER_SMTP_PASSWORD)
pub struct MailSet {
    /// SMTP server host name (empty: mail off)
    #[argh(option)]
    pub host: Option<String>,
    /// SMTP port (default by --tls: 25, 587 or 465)
    #[argh(option)]
    pub port: Option<u16>,
    /// none, starttls or tls (default starttls)
    #[argh(option)]
    pub tls: Option<String>,
    /// SMTP login
    #[argh(option)]
    pub user: Option<String>,
    /// sender address
    #[argh(option)]
    pub from: Option<String>,
    /// operator address (repeatable; replaces the list)
    #[argh(option)]
    pub to: Vec<String>,
    /// true or false: also mail a mirror's contact about its mirror
    #[argh(option)]
    pub contacts: Option<bool>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "show")]
/// show mail settings
pub struct MailShow {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "test")]
/// send a test message and explain any failure
pub struct MailTest {
    /// send to this address instead of the operators
    #[argh(option)]
    pub to: Option<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "uptake")]
/// share of the network's rating that can serve each product and OS
pub struct UptakeArgs {
    /// only this product (or alias)
    #[argh(positional)]
    pub product: Option<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "settings")]
/// operator settings stored in the database (mail.*, selection.damp_slow, bounce.link_headers)
pub struct SettingsCmd {
    #[argh(subcommand)]
    /// what to do
    pub action: SettingsAction,
}

/// Settings actions.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum SettingsAction {
    /// List.
    List(SettingsList),
    /// Set.
    Set(SettingsSet),
    /// Unset.
    Unset(SettingsUnset),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
/// list settings
pub struct SettingsList {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set")]
/// set a setting
pub struct SettingsSet {
    /// the setting
    #[argh(positional)]
    pub key: String,
    /// its value
    #[argh(positional)]
    pub value: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "unset")]
/// remove a setting (back to its default)
pub struct SettingsUnset {
    /// the setting
    #[argh(positional)]
    pub key: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "load")]
/// add a release from a checksum file (MD5SUMS, SHA1SUMS, SHA256SUMS, SHA512SUMS; GNU or BSD format)
pub struct Load {
    /// the checksum file
    #[argh(positional)]
    pub file: String,
    /// the product its files belong to (created if missing)
    #[argh(option)]
    pub product: String,
    /// platform directories and their OS, e.g. win32=win,mac=osx (added to the defaults)
    #[argh(option)]
    pub os_map: Option<String>,
    /// directory on the mirrors the file's paths are relative to, e.g. /firefox/releases/120.0
    #[argh(option)]
    pub prefix: Option<String>,
    /// only files whose path matches this glob, e.g. 'win*/*.exe', all into the product
    #[argh(option, long = "match")]
    pub r#match: Option<String>,
    /// a kind of file and the product suffix it goes to, e.g. msi='*.msi' (repeatable; kinds are otherwise found from the paths)
    #[argh(option)]
    pub kind: Vec<String>,
    /// products the load creates use https mirrors only (default: as the product)
    #[argh(switch)]
    pub ssl_only: bool,
    /// products the load creates are private (default: as the product)
    #[argh(switch)]
    pub private: bool,
    /// show the plan, write nothing
    #[argh(switch)]
    pub dry_run: bool,
    /// replace stored hashes and location paths that differ
    #[argh(switch)]
    pub force: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "region")]
/// manage regions: groups of countries served by their own mirrors
pub struct RegionCmd {
    #[argh(subcommand)]
    /// what to do
    pub action: RegionAction,
}

/// Region actions.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum RegionAction {
    /// Add.
    Add(RegionAdd),
    /// List.
    List(RegionList),
    /// Change.
    Set(RegionSet),
    /// Remove.
    Remove(RegionRemove),
    /// One region per continent.
    Defaults(RegionDefaults),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "add")]
/// add a region; clients in its countries get its mirrors (`mirror set NAME --region R`)
pub struct RegionAdd {
    /// unique name
    #[argh(positional)]
    pub name: String,
    /// percent of its clients' downloads kept on its own mirrors (default 100; ≥ 100 or < 0: all)
    #[argh(option)]
    pub throttle: Option<i32>,
    /// region whose mirrors serve what this one does not keep
    #[argh(option)]
    pub fallback: Option<String>,
    /// never send its clients to mirrors of the whole world
    #[argh(switch)]
    pub no_global_fallback: bool,
    /// ISO 3166 country code it covers (repeatable)
    #[argh(option)]
    pub country: Vec<String>,
    /// every country of a continent (AF AN AS EU NA OC SA; repeatable)
    #[argh(option)]
    pub continent: Vec<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
/// list regions with their countries and mirrors
pub struct RegionList {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set")]
/// change a region
pub struct RegionSet {
    /// the region
    #[argh(positional)]
    pub name: String,
    /// percent of its clients' downloads kept on its own mirrors
    #[argh(option)]
    pub throttle: Option<i32>,
    /// region whose mirrors serve what this one does not keep
    #[argh(option)]
    pub fallback: Option<String>,
    /// no fallback region
    #[argh(switch)]
    pub no_fallback: bool,
    /// true or false: whether its clients may finally go to any mirror
    #[argh(option)]
    pub global_fallback: Option<bool>,
    /// countries it covers, replacing the old list (repeatable)
    #[argh(option)]
    pub country: Vec<String>,
    /// a country to add (repeatable)
    #[argh(option)]
    pub add_country: Vec<String>,
    /// a country to take out (repeatable)
    #[argh(option)]
    pub remove_country: Vec<String>,
    /// add every country of a continent not yet in a region (repeatable)
    #[argh(option)]
    pub continent: Vec<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "remove")]
/// remove a region (no mirror may serve it, no region fall back to it)
pub struct RegionRemove {
    /// the region
    #[argh(positional)]
    pub name: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "defaults")]
/// add one region per continent (africa, asia, europe, …) with its countries, skipping countries already in a region
pub struct RegionDefaults {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "geoip")]
/// manage GeoIP data: which country a client address is in
pub struct GeoipCmd {
    #[argh(subcommand)]
    /// what to do
    pub action: GeoipAction,
}

/// GeoIP actions.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum GeoipAction {
    /// Import.
    Import(GeoipImport),
    /// Status.
    Status(GeoipStatus),
    /// Lookup.
    Lookup(GeoipLookup),
    /// Clear.
    Clear(GeoipClear),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "import")]
/// replace the GeoIP table with CSV files: MaxMind GeoLite2-Country (blocks and locations files, or their directory), DB-IP lite, or start,end,country
pub struct GeoipImport {
    /// CSV files or directories of them
    #[argh(positional, greedy)]
    pub files: Vec<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
/// show where the GeoIP data comes from and how many ranges it has
pub struct GeoipStatus {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "lookup")]
/// show the country, region and mirrors a client address gets
pub struct GeoipLookup {
    /// an IPv4 or IPv6 address
    #[argh(positional)]
    pub ip: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "clear")]
/// remove the imported GeoIP table (every client counts as unknown)
pub struct GeoipClear {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "asn")]
/// manage the ASN table: which autonomous system a client address is in, for mirrors that serve their own network first (mirror set --networks AS…)
pub struct AsnCmd {
    #[argh(subcommand)]
    /// what to do
    pub action: AsnAction,
}

/// ASN table actions.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum AsnAction {
    /// Import.
    Import(AsnImport),
    /// Status.
    Status(AsnStatus),
    /// Lookup.
    Lookup(AsnLookup),
    /// Clear.
    Clear(AsnClear),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "import")]
/// replace the ASN table: MaxMind GeoLite2-ASN (the Blocks CSV files, their directory, or the .mmdb file) or start,end,asn lines
pub struct AsnImport {
    /// CSV files or directories of them, or one .mmdb file
    #[argh(positional, greedy)]
    pub files: Vec<String>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
/// show where the ASN table comes from, how many ranges it has and how many addresses mirrors claim
pub struct AsnStatus {}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "lookup")]
/// show the AS number of a client address and the mirrors that serve its network first
pub struct AsnLookup {
    /// an IPv4 or IPv6 address
    #[argh(positional)]
    pub ip: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "clear")]
/// remove the ASN table (mirrors' AS numbers then match no client; their CIDR prefixes still do)
pub struct AsnClear {}

#[derive(FromArgs, Debug, Clone)]
#[argh(subcommand, name = "backup")]
/// copy the whole database, as of one moment, to a new file (works while the server serves)
pub struct Backup {
    /// the new file (relative to where you run the command)
    #[argh(positional)]
    pub file: String,
    /// replace FILE if it exists
    #[argh(switch)]
    pub force: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "export")]
/// write the configuration as JSON: products, locations, files, aliases, mirrors, regions, users (with password hashes), settings
pub struct Export {
    /// the file to write (default: standard output)
    #[argh(positional)]
    pub file: Option<String>,
    /// include every day's download counts
    #[argh(switch)]
    pub with_counts: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "import")]
/// make the configuration that of a file written by export, in one transaction
pub struct Import {
    /// the file written by `bouncer export`
    #[argh(positional)]
    pub file: String,
    /// replace the configuration of a database that has one
    #[argh(switch)]
    pub replace: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "copy")]
/// copy a whole network into an empty database, a redb file to PostgreSQL or back: ids, sentry's findings, download counts, audit log and GeoIP table (--db does not apply)
pub struct CopyArgs {
    /// the database to copy: a file (not open in a running server) or a postgres:// URL
    #[argh(option)]
    pub from: String,
    /// the empty database to copy into: a new file or a postgres:// URL
    #[argh(option)]
    pub to: String,
}
