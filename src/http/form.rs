//! A submitted form: `application/x-www-form-urlencoded` or
//! `multipart/form-data` (file uploads), as one list of fields.

use super::multipart;

/// The fields of a submitted form, in order.
#[derive(Debug, Default)]
pub struct Form {
    fields: Vec<(String, String)>,
    files: Vec<Upload>,
}

/// An uploaded file.
#[derive(Debug)]
pub struct Upload {
    /// The form field's name.
    pub field: String,
    /// The file name the browser sent.
    pub filename: String,
    /// Its contents.
    pub data: Vec<u8>,
}

impl Form {
    /// Parses a request body according to its `Content-Type`: a form type
    /// only (`application/x-www-form-urlencoded`, `multipart/form-data`);
    /// a body sent as anything else (`text/plain`, JSON, none at all) is
    /// refused rather than guessed at. An empty body is an empty form.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Form, String> {
        let content_type = content_type.unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if body.is_empty() && media_type.is_empty() {
            return Ok(Form::default());
        }
        if let Some(boundary) = multipart::boundary(content_type) {
            let mut form = Form::default();
            for part in multipart::parse(body, boundary).map_err(|e| e.to_string())? {
                match part.filename {
                    Some(filename) => form.files.push(Upload {
                        field: part.name,
                        filename,
                        data: part.data,
                    }),
                    None => form
                        .fields
                        .push((part.name, String::from_utf8_lossy(&part.data).into_owned())),
                }
            }
            return Ok(form);
        }
        if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(format!(
                "the form was sent as {}; send it as application/x-www-form-urlencoded or multipart/form-data",
                if media_type.is_empty() {
                    "no content type".to_string()
                } else {
                    crate::error::excerpt(media_type)
                }
            ));
        }
        let body = std::str::from_utf8(body)
            .map_err(|_| "the form was not sent as UTF-8 text".to_string())?;
        Ok(Form::from_query(body))
    }

    /// The fields of a query string.
    pub fn from_query(query: &str) -> Form {
        Form {
            fields: crate::query::pairs(query)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            files: Vec::new(),
        }
    }

    /// Every field as sent, in order (uploads aside).
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The first value of `name`, trimmed ("" when absent).
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }

    /// The first value of `name` exactly as sent (passwords: spaces count).
    pub fn raw(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`, exactly as sent (repeated checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The first value of `name` when present and not blank.
    pub fn opt(&self, name: &str) -> Option<&str> {
        Some(self.get(name)).filter(|v| !v.is_empty())
    }

    /// Every non-blank value of `name` (repeated fields, checkboxes), and
    /// the comma- or space-separated items inside them.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Whether checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.fields
            .iter()
            .any(|(k, v)| k == name && matches!(v.as_str(), "on" | "true" | "1" | "yes"))
    }

    /// The file uploaded in field `name`.
    pub fn file(&self, name: &str) -> Option<&Upload> {
        self.files.iter().find(|f| f.field == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded() {
        let f = Form::parse(
            Some("application/x-www-form-urlencoded"),
            b"name=+a%20b+&lang=de&lang=fr,it&on=on&empty=",
        )
        .unwrap();
        assert_eq!(f.get("name"), "a b");
        assert_eq!(f.list("lang"), ["de", "fr", "it"]);
        assert!(f.checked("on"));
        assert!(!f.checked("off"));
        assert_eq!(f.opt("empty"), None);
        let utf8 = Form::parse(Some("application/x-www-form-urlencoded"), b"\xff");
        assert!(utf8.is_err());
    }

    #[test]
    fn only_form_types_are_parsed() {
        let charset = Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8");
        assert_eq!(Form::parse(charset, b"a=1").unwrap().get("a"), "1");
        for other in [Some("text/plain"), Some("application/json"), None] {
            let e = Form::parse(other, b"a=1").unwrap_err();
            assert!(e.contains("application/x-www-form-urlencoded"), "{e}");
        }
        // Nothing sent: nothing to parse.
        assert_eq!(Form::parse(None, b"").unwrap().opt("a"), None);
    }

    #[test]
    fn multipart_fields_and_files() {
        let body = b"--XY\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--XY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"SHA1SUMS\"\r\nContent-Type: text/plain\r\n\r\nabc  x\n\r\n--XY--\r\n";
        let f = Form::parse(Some("multipart/form-data; boundary=XY"), body).unwrap();
        assert_eq!(f.get("csrf"), "tok");
        let file = f.file("file").unwrap();
        assert_eq!(file.filename, "SHA1SUMS");
        assert_eq!(file.data, b"abc  x\n");
    }
}
