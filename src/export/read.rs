//! Reading a document's shape: JSON text → [`Config`], with the place of
//! the first thing that does not fit (`products[3].active: expected true
//! or false, found a string`). Values are checked afterwards, by
//! [`super::check`].
//!
//! The text is parsed into a [`Value`] first, so that a file that is not
//! JSON, or not a Bouncer export, or of another version, is told so before
//! its keys are judged. The typed [`Config`] then comes from that value
//! through [`Json`], a deserializer whose error is [`Problem`]: it knows
//! which type each field asked for, so messages say `expected a whole
//! number` rather than serde's `invalid type: …, expected u32`, and are
//! built from variants rather than by rewording serde_json's text.
//! `serde_path_to_error` tracks the place.

use std::fmt;

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, IntoDeserializer, Visitor};
use serde_json::Value;
use serde_path_to_error::Segment;

use super::{At, Config, FORMAT, VERSION};
use crate::error::{Error, Result};

/// What is wrong at one place of the document's shape.
#[derive(Debug)]
pub enum Problem {
    /// A value of another kind than the field takes.
    Expected {
        /// What the field takes, e.g. `a list`.
        want: &'static str,
        /// What the document has, e.g. `a string`.
        found: &'static str,
    },
    /// A number that is not whole or does not fit the field.
    OutOfRange(String),
    /// A key the object does not have.
    UnknownKey {
        /// The keys it has.
        known: &'static [&'static str],
    },
    /// A required key is absent.
    Missing(&'static str),
    /// Anything else serde reports.
    Other(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Expected { want, found } => write!(f, "expected {want}, found {found}"),
            Problem::OutOfRange(n) => write!(f, "{n} is not a whole number in range"),
            Problem::UnknownKey { known } => write!(f, "unknown key (known: {})", known.join(", ")),
            Problem::Missing(_) => f.write_str("missing"),
            Problem::Other(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Problem {}

impl de::Error for Problem {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Problem::Other(msg.to_string())
    }

    fn unknown_field(_field: &str, expected: &'static [&'static str]) -> Self {
        Problem::UnknownKey { known: expected }
    }

    fn missing_field(field: &'static str) -> Self {
        Problem::Missing(field)
    }
}

/// The document in `bytes`, shaped as a [`Config`] (values unchecked).
pub fn document(bytes: &[u8]) -> Result<Config> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| {
        let why = e.to_string();
        // serde_json ends its messages with "at line L column C".
        let why = why
            .rsplit_once(" at line ")
            .map_or(why.as_str(), |(w, _)| w);
        Error::ImportFile {
            file: None,
            place: None,
            detail: format!("not JSON: line {}, column {}: {why}", e.line(), e.column()),
        }
    })?;
    let at = At::top();
    let header = root.as_object().ok_or_else(|| {
        at.err(Problem::Expected {
            want: "an object",
            found: kind(&root),
        })
    })?;
    match header.get("format").and_then(Value::as_str) {
        Some(FORMAT) => {}
        _ => {
            return Err(at.field("format").err(format!(
                "expected {FORMAT:?}: this is not a Bouncer export (`bouncer export` writes one)"
            )));
        }
    }
    match header.get("version").map(|v| (v, v.as_u64())) {
        Some((_, Some(VERSION))) => {}
        Some((v, _)) => {
            return Err(at.field("version").err(format!(
                "{v} is not supported: this Bouncer reads version {VERSION} (a newer Bouncer wrote it? upgrade bouncer)"
            )));
        }
        None => return Err(at.field("version").err(Problem::Missing("version"))),
    }
    serde_path_to_error::deserialize(Json(&root)).map_err(|e| {
        let at = place(e.path());
        match e.inner() {
            Problem::Missing(field) => at.field(field).err(e.inner()),
            why => at.err(why),
        }
    })
}

/// The place of a deserialisation error. serde_path_to_error names struct
/// fields and map keys alike; the document's maps (settings, counts) are
/// known by their place, and their keys shown quoted: `settings["a.b"]`.
fn place(path: &serde_path_to_error::Path) -> At {
    let mut at = At::top();
    // Segments still to come that are keys of a map.
    let mut keys = 0;
    for segment in path.iter() {
        at = match segment {
            Segment::Seq { index } => at.index(*index),
            Segment::Map { key } if keys > 0 => {
                keys -= 1;
                at.key(key)
            }
            Segment::Map { key } | Segment::Enum { variant: key } => {
                let at = at.field(key);
                keys = map_depth(at.as_str());
                at
            }
            Segment::Unknown => at.field("?"),
        };
    }
    at
}

/// How many levels of keys the map at `place` has (0: not a map).
fn map_depth(place: &str) -> usize {
    match place {
        "settings" => 1,
        "counts.countries" | "counts.mirrors" | "counts.products" => 2,
        "counts.locations" => 4,
        _ => 0,
    }
}

/// How a value is called in messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A parsed JSON value as a deserializer whose errors are [`Problem`]s.
#[derive(Clone, Copy)]
struct Json<'a>(&'a Value);

impl<'a> Json<'a> {
    fn expected(self, want: &'static str) -> Problem {
        Problem::Expected {
            want,
            found: kind(self.0),
        }
    }

    /// The value as a whole number of type `T`.
    fn whole<T: TryFrom<u64> + TryFrom<i64>>(self) -> Result<T, Problem> {
        let Value::Number(n) = self.0 else {
            return Err(self.expected("a whole number"));
        };
        n.as_u64()
            .and_then(|n| T::try_from(n).ok())
            .or_else(|| n.as_i64().and_then(|n| T::try_from(n).ok()))
            .ok_or_else(|| Problem::OutOfRange(n.to_string()))
    }

    fn str(self) -> Result<&'a str, Problem> {
        self.0.as_str().ok_or_else(|| self.expected("a string"))
    }

    fn list<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Problem> {
        let Value::Array(list) = self.0 else {
            return Err(self.expected("a list"));
        };
        let mut seq = SeqDeserializer::new(list.iter().map(Json));
        let out = visitor.visit_seq(&mut seq)?;
        seq.end()?;
        Ok(out)
    }

    fn object<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Problem> {
        let Value::Object(map) = self.0 else {
            return Err(self.expected("an object"));
        };
        let mut map = MapDeserializer::new(map.iter().map(|(k, v)| (k.as_str(), Json(v))));
        let out = visitor.visit_map(&mut map)?;
        map.end()?;
        Ok(out)
    }
}

impl<'a> IntoDeserializer<'a, Problem> for Json<'a> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for Json<'de> {
    type Error = Problem;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(n), _, _) => visitor.visit_u64(n),
                (_, Some(n), _) => visitor.visit_i64(n),
                (_, _, Some(n)) => visitor.visit_f64(n),
                _ => Err(Problem::OutOfRange(n.to_string())),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(_) => self.list(visitor),
            Value::Object(_) => self.object(visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.0 {
            Value::Bool(b) => visitor.visit_bool(*b),
            _ => Err(self.expected("true or false")),
        }
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        visitor.visit_i32(self.whole()?)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        visitor.visit_u32(self.whole()?)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        visitor.visit_u64(self.whole()?)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        visitor.visit_borrowed_str(self.str()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        visitor.visit_borrowed_str(self.str()?)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        visitor.visit_borrowed_str(self.str()?)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.0 {
            // As absent.
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        self.list(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        self.object(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Problem> {
        self.object(visitor)
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i64 i128 u8 u16 u128 f32 f64 char bytes byte_buf unit
        unit_struct newtype_struct tuple tuple_struct enum ignored_any
    }
}
