//! Errors: what went wrong and what to do about it.

use std::fmt;

/// The kinds of named things a network holds: what a "not found" or an
/// "exists already" is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thing {
    /// A product.
    Product,
    /// An alias of a product.
    Alias,
    /// An operating system.
    Os,
    /// A language of a product.
    Language,
    /// A location (a product's file for one operating system).
    Location,
    /// A mirror.
    Mirror,
    /// A region.
    Region,
    /// An admin or API user.
    User,
}

impl Thing {
    /// The word for it in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Thing::Product => "product",
            Thing::Alias => "alias",
            Thing::Os => "operating system",
            Thing::Language => "language",
            Thing::Location => "location",
            Thing::Mirror => "mirror",
            Thing::Region => "region",
            Thing::User => "user",
        }
    }

    /// The CLI command family that lists them (`bouncer … list`).
    pub fn list_command(self) -> &'static str {
        match self {
            Thing::Os => "os",
            other => other.noun(),
        }
    }
}

impl fmt::Display for Thing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

/// Everything that can go wrong outside the redirect hot path.
#[derive(Debug)]
pub enum Error {
    /// Input that breaks a rule; `what` names the field.
    Invalid {
        /// The kind of input, e.g. `language`.
        what: &'static str,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// A `bouncer import` file that cannot be imported; the fix is in
    /// the file.
    ImportFile {
        /// The file as named on the command line (`None` until the
        /// command names it).
        file: Option<String>,
        /// Where in the document, e.g. `products[3].locations[1].path`
        /// (`None`: the file as a whole, e.g. it is not JSON).
        place: Option<String>,
        /// What is wrong there.
        detail: String,
    },
    /// A named thing does not exist.
    NotFound {
        /// The kind of thing.
        what: Thing,
        /// Its name as given.
        name: String,
    },
    /// A named thing exists already.
    Exists {
        /// The kind of thing.
        what: Thing,
        /// Its name as given.
        name: String,
    },
    /// A thing cannot be removed or changed because others depend on it.
    InUse {
        /// What depends on it, and what to do.
        detail: String,
    },
    /// Another mirror has this base URL already (a second one would
    /// double that host's share of downloads and its public listing).
    BaseUrlTaken {
        /// The base URL as given.
        base_url: String,
        /// The mirror that has it.
        mirror: String,
    },
    /// The database belongs to a newer Bouncer.
    NewerSchema {
        /// Version found in the file.
        found: u64,
        /// Newest version this build understands.
        supported: u64,
    },
    /// A command that only reads was pointed at a database file that does
    /// not exist (it creates none: an empty database has nothing to show).
    NoDatabase {
        /// The database path.
        path: String,
    },
    /// Another process holds the database and offers no control socket.
    Busy {
        /// The database path.
        path: String,
    },
    /// The storage engine failed, or what it holds is damaged.
    Storage {
        /// What we were doing (empty: reading or writing the database).
        context: String,
        /// The cause.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another node leads sentry: a run from the command line waits for it.
    SentryElsewhere {
        /// Who holds the lease (empty: the database could not be asked).
        holder: String,
        /// Until when, unless renewed (Unix milliseconds).
        until: u64,
    },
    /// Sentry's lease passed to another node while this one ran: its
    /// results were not written.
    LeaseLost {
        /// Who holds the lease now.
        holder: String,
    },
    /// The PostgreSQL database cannot be reached (down, refused, timed
    /// out): nothing was written.
    DatabaseDown {
        /// The database, without its password.
        database: String,
        /// What the driver said.
        reason: String,
    },
    /// A TLS certificate or key that cannot be used.
    Tls(crate::tls::TlsError),
    /// A failure of Bouncer itself (a thread that panicked, …): a bug to
    /// report, not something the operator's input caused.
    Internal(String),
    /// An operating-system operation failed.
    Io {
        /// What we were doing.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(what: &'static str, detail: String) -> Error {
        Error::Invalid { what, detail }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(what: Thing, name: &str) -> Error {
        Error::NotFound {
            what,
            name: name.to_string(),
        }
    }

    /// Shorthand for [`Error::Exists`].
    pub fn exists(what: Thing, name: &str) -> Error {
        Error::Exists {
            what,
            name: name.to_string(),
        }
    }

    /// [`Error::Storage`] from the storage engine's error.
    pub fn storage(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Storage {
            context: String::new(),
            source: source.into(),
        }
    }

    /// [`Error::Storage`] while doing `context` (`cannot open PATH`).
    pub fn storage_while(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::Storage {
            context: context.into(),
            source: source.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid { what, detail } => write!(f, "invalid {what}: {detail}"),
            Error::ImportFile {
                file,
                place,
                detail,
            } => {
                f.write_str("invalid import file: ")?;
                for part in [file, place].into_iter().flatten() {
                    write!(f, "{part}: ")?;
                }
                write!(f, "{detail} (fix the file and run `bouncer import` again)")
            }
            Error::NotFound { what, name } => {
                write!(
                    f,
                    "no {what} named {name:?} (see `bouncer {} list`)",
                    what.list_command()
                )
            }
            Error::Exists { what, name } => {
                // "a user", "an operating system", "an alias".
                let article = if what.noun().starts_with(['a', 'e', 'i', 'o']) {
                    "an"
                } else {
                    "a"
                };
                write!(f, "{article} {what} named {name:?} exists already")
            }
            Error::InUse { detail } => f.write_str(detail),
            Error::BaseUrlTaken { base_url, mirror } => write!(
                f,
                "mirror {mirror:?} has the base URL {base_url} already, and a second mirror there would get that host's downloads twice: change that mirror instead (`bouncer mirror set {mirror} …`), or give this one the address of another host"
            ),
            Error::NewerSchema { found, supported } => write!(
                f,
                "the database was written by a newer Bouncer (schema {found}; this build understands up to {supported}): upgrade bouncer, or restore a backup made by this version"
            ),
            Error::NoDatabase { path } => write!(
                f,
                "no database at {path}: create one with `bouncer --db {path} serve` or a command that adds something (`product add NAME`, `mirror add NAME URL`, `import FILE`), or name an existing one with --db PATH or $BOUNCER_DB"
            ),
            Error::Busy { path } => write!(
                f,
                "the database {path} is open in another process and its control socket does not answer: stop that process, or run this command where it can reach the socket"
            ),
            Error::Storage { context, source } if context.is_empty() => {
                write!(f, "storage error: {source}")
            }
            Error::Storage { context, source } => write!(f, "storage error: {context}: {source}"),
            Error::SentryElsewhere { holder, .. } if holder.is_empty() => write!(
                f,
                "cannot claim sentry's lease: the database did not answer; try again once it is back"
            ),
            Error::SentryElsewhere { holder, until } => write!(
                f,
                "sentry runs on {holder} now (its lease lasts until {} unless renewed): that node checks the network on its schedule; run this again when it stops, or start it with --no-sentry",
                crate::model::utc(until / 1000)
            ),
            Error::LeaseLost { holder } => write!(
                f,
                "sentry's lease passed to {holder:?} during this run (this node stopped renewing it in time): its results were not written; the leader checks the network now"
            ),
            Error::DatabaseDown { database, reason } => write!(
                f,
                "the database {database} cannot be reached ({reason}): nothing was changed; try again once PostgreSQL is back (redirects go on meanwhile from the last index)"
            ),
            Error::Tls(e) => e.fmt(f),
            Error::Internal(what) => write!(f, "internal error: {what}; the server log says more"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Storage { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// Results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How much of a user's input an error message quotes, at most.
pub const EXCERPT_CHARS: usize = 80;

/// `input` quoted for an error message, cut after [`EXCERPT_CHARS`]
/// characters (with `…`): a message never echoes a 10 MB line whole.
pub fn excerpt(input: &str) -> String {
    format!("{:?}", cut(input))
}

/// `input` cut after [`EXCERPT_CHARS`] characters (with `…`), unquoted:
/// for examples shown as they are.
pub fn cut(input: &str) -> String {
    let mut cut: String = input.chars().take(EXCERPT_CHARS).collect();
    if cut.len() < input.len() {
        cut.push('…');
    }
    cut
}
