//! Why a line of a checksum file is not loaded, in the words of where it is
//! shown: [`Reason`] for lines that could not be used (an error in the file
//! or the options: the command line names its flags, the admin page its
//! form's fields), [`Left`] for lines that are no kind of file to offer.

use std::fmt;

/// Why a line could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The line is no checksum line (the parser's words).
    Unreadable(String),
    /// Its path breaks the path rules (the rule's words).
    BadPath(String),
    /// The default platform map names an operating system the network does
    /// not have.
    UnknownOs {
        /// The platform directory.
        dir: String,
        /// The operating system it maps to.
        os: String,
    },
    /// The same digest kind of the same file differs from an earlier line.
    DigestDiffers {
        /// `SHA256`, …
        kind: &'static str,
        /// The path, quoted in short.
        path: String,
        /// The line it first had.
        first: usize,
    },
    /// The product already has a location for the OS; this file is
    /// another kind of file.
    OtherKind {
        /// The product.
        product: String,
        /// The operating system.
        os: String,
        /// The file's template.
        template: String,
    },
    /// Several kinds of file for one OS in one product (after a match glob
    /// or explicit kinds).
    SeveralKinds {
        /// The product.
        product: String,
        /// The operating system.
        os: String,
        /// Their templates, a few.
        templates: String,
    },
    /// The product's stored location for the OS does not fit the file.
    StoredLocation {
        /// The product.
        product: String,
        /// The operating system.
        os: String,
        /// The stored template.
        stored: String,
    },
    /// The path spells a language otherwise than the product.
    Spelling {
        /// As the path spells it.
        theirs: String,
        /// As the product does.
        ours: String,
    },
    /// The kind's product would have a name names may not have.
    BadName {
        /// The name.
        product: String,
        /// What is wrong with it.
        why: String,
    },
}

impl Reason {
    /// The reason on the admin page: the form's fields instead of flags.
    pub fn web(&self) -> String {
        match self {
            Reason::UnknownOs { dir, os } => format!(
                "operating system {os:?} is not known: add {dir}={os} to the OS map (which creates it), or add it on the Systems page"
            ),
            Reason::OtherKind {
                product,
                os,
                template,
            } => format!(
                "{product} already has a location for {os}; this file ({template}) is another kind: name it under Kinds"
            ),
            Reason::SeveralKinds {
                product,
                os,
                templates,
            } => format!(
                "several kinds of file for {os} in {product} ({templates}); narrow “Only paths matching” or Kinds to one, e.g. *.exe"
            ),
            Reason::StoredLocation {
                product,
                os,
                stored,
            } => format!(
                "{os} of {product} keeps its stored location {stored}, which this file does not fit; tick “Replace stored hashes and location paths that differ” to replace it"
            ),
            other => other.to_string(),
        }
    }
}

/// The reason on the command line.
impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unreadable(why) | Reason::BadPath(why) => f.write_str(why),
            Reason::UnknownOs { dir, os } => write!(
                f,
                "operating system {os:?} is not known: add it with --os-map {dir}={os} (which creates it) or `bouncer os add {os}`"
            ),
            Reason::DigestDiffers { kind, path, first } => {
                write!(f, "{kind} of {path} differs from the one on line {first}")
            }
            Reason::OtherKind {
                product,
                os,
                template,
            } => write!(
                f,
                "{product} already has a location for {os}; this file ({template}) is another kind: name it with --kind"
            ),
            Reason::SeveralKinds {
                product,
                os,
                templates,
            } => write!(
                f,
                "several kinds of file for {os} in {product} ({templates}); narrow --match or --kind to one, e.g. '*.exe'"
            ),
            Reason::StoredLocation {
                product,
                os,
                stored,
            } => write!(
                f,
                "{os} of {product} keeps its stored location {stored}, which this file does not fit; --force replaces it"
            ),
            Reason::Spelling { theirs, ours } => write!(
                f,
                "the path spells the language {theirs:?}, the product {ours:?}: mirrors would be asked for the wrong path; make the spellings agree"
            ),
            Reason::BadName { product, why } => {
                write!(
                    f,
                    "no product can be named {product:?} for this kind of file: {why}"
                )
            }
        }
    }
}

/// Why a line is no kind of file to offer (not an error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Left {
    /// A signature (`.asc`, `.sig`, …).
    Signature,
    /// A checksum file or a key.
    Checksums,
    /// Metadata or text (`.json`, `.txt`, …).
    Metadata,
    /// No platform directory in the path.
    NoPlatform,
    /// A directory that looks like a platform's, without an operating system.
    Unmapped(String),
}

impl fmt::Display for Left {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Left::Signature => f.write_str("signature"),
            Left::Checksums => f.write_str("checksum or key file"),
            Left::Metadata => f.write_str("metadata or text"),
            Left::NoPlatform => {
                f.write_str("no platform directory (source, language packs, tools, …)")
            }
            Left::Unmapped(dir) => write!(f, "platform directory {dir} has no operating system"),
        }
    }
}
