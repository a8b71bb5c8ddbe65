//! JSON checks shared by every JSON argument: keys that appear twice in one object, and values
//! shortened before an error message quotes them.
//!
//! serde_json keeps the last of two equal keys without a word, so `{"siteCode":"PS1","siteCode":"PS2"}`
//! would silently mean PS2. A script that writes a key twice has a bug; it is told which key.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// The first key that appears twice in one object of `text` (at any depth), with where its second
/// occurrence ends, or `None`. Malformed text gives `None`: syntax errors are reported by the
/// caller's own parse, with the context it has.
pub fn duplicate_key(text: &str) -> Option<Duplicate> {
    let mut de = serde_json::Deserializer::from_str(text);
    match UniqueKeys::deserialize(&mut de) {
        Ok(_) => None,
        Err(e) => {
            let message = e.to_string();
            let key = message.strip_prefix(MARKER)?.rsplit_once(" at line ")?.0.to_owned();
            Some(Duplicate { key, line: e.line(), column: e.column() })
        }
    }
}

/// A key that appears twice in one JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The key, shortened for display if very long.
    pub key: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Duplicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the key `{}` appears twice in one object (second time at line {} column {}); keep one of them", self.key, self.line, self.column)
    }
}

/// `Err` of `kind` naming `what` (e.g. "`options_json`") when `text` has a key twice in one object.
pub fn refuse_duplicate_keys(text: &str, kind: crate::error::ErrorKind, what: &str) -> crate::error::Result<()> {
    match duplicate_key(text) {
        None => Ok(()),
        Some(found) => Err(crate::error::Error::new(kind, format!("{what}: {found}"))
            .with_details(serde_json::json!({ "duplicateKey": found.key, "line": found.line, "column": found.column }))),
    }
}

/// `Err(InvalidJson)` unless `text` is a JSON object (`{...}`): serde would otherwise read an options
/// struct from an array by position, so `["full", true]` would quietly mean something.
pub fn expect_object(text: &str, what: &str) -> crate::error::Result<()> {
    match text.trim_start().chars().next() {
        Some('{') | None => Ok(()),
        _ => Err(crate::error::Error::new(
            crate::error::ErrorKind::InvalidJson,
            format!("{what} must be a JSON object with named members, e.g. {{\"dryRun\": true}}"),
        )),
    }
}

const MARKER: &str = "duplicate key: ";

struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("{MARKER}{}", shorten(&key, 200))));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
}

/// `text` itself when at most `max` characters long, else its first `max` characters, "…" and how
/// many were left out: a value quoted in an error stays readable however long the input was.
pub fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!("{}… ({} characters in all)", &text[..cut], text.chars().count())),
    }
}

/// `text` itself when at most `head + tail` characters long, else its first `head` characters, a
/// note of how many were left out, and its last `tail` characters.
pub fn shorten_middle(text: &str, head: usize, tail: usize) -> Cow<'_, str> {
    let count = text.chars().count();
    if count <= head + tail {
        return Cow::Borrowed(text);
    }
    let head_end = text.char_indices().nth(head).map_or(text.len(), |(i, _)| i);
    let tail_start = text.char_indices().nth(count - tail).map_or(text.len(), |(i, _)| i);
    Cow::Owned(format!("{} … [{} characters left out] … {}", &text[..head_end], count - head - tail, &text[tail_start..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_written_twice_is_found_at_any_depth() {
        let found = duplicate_key(r#"{"siteCode":"PS1","siteCode":"PS2"}"#).unwrap();
        assert_eq!(found.key, "siteCode");
        assert_eq!((found.line, found.column), (1, 28));
        assert_eq!(duplicate_key(r#"{"auth":{"a":1,"b":[{"x":1,"x":2}]}}"#).unwrap().key, "x");
        // Escaped spellings of the same key are the same key.
        assert_eq!(duplicate_key(r#"{"a":1,"\u0061":2}"#).unwrap().key, "a");
    }

    #[test]
    fn equal_keys_in_different_objects_and_malformed_text_are_not_duplicates() {
        assert_eq!(duplicate_key(r#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#), None);
        assert_eq!(duplicate_key(r#"{"a":1,"b":"#), None);
        assert_eq!(duplicate_key("[1,2,3]"), None);
    }

    #[test]
    fn long_text_is_shortened_by_characters_not_bytes() {
        assert_eq!(shorten("PS1", 3), "PS1");
        assert_eq!(shorten("ééééé", 2), "éé… (5 characters in all)");
        assert_eq!(shorten_middle("abcdef", 3, 3), "abcdef");
        assert_eq!(shorten_middle("abcdéfgh", 2, 3), "ab … [3 characters left out] … fgh");
    }
}
