//! A chat message's `content`, read in one pass.
//!
//! Read as `serde_json::Value`, a list of parts cost a map with an
//! allocated key and value per member, and every text was copied again
//! when taken out. The reading depends on the message's role (one text for
//! system and tool messages, parts for user and assistant ones), which may
//! come after the content, so [`ChatContent`] keeps what both readings
//! need. As lenient as the `Value` reading: a member of the wrong type is
//! absent, of a member given twice the last counts, and what neither
//! reading uses is skipped unbuilt.

use std::borrow::Cow;

use serde::de::{value::MapAccessDeserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::lenient::{expects_any_value, read_any, skip_values, ImageUrl, Scalar};

/// A message's `content`.
#[derive(Default)]
pub(super) enum ChatContent<'a> {
    /// Absent or null.
    #[default]
    Absent,
    Text(String),
    Parts(Vec<ChatPart<'a>>),
    /// A number, bool or object: as one text, its JSON; as parts, nothing.
    Other(String),
}

/// One item of a content list.
#[derive(Default)]
pub(super) struct ChatPart<'a> {
    /// The item is a bare string (a text to [`ChatContent::into_text`],
    /// nothing as a part).
    pub bare: Option<String>,
    /// `type`, when a string.
    pub kind: Option<Cow<'a, str>>,
    pub text: Option<String>,
    /// `image_url`: the string, or an object's `url` string; else empty.
    pub image_url: String,
}

impl ChatContent<'_> {
    /// The content as one text ([`super::ir::text_of`]'s rules).
    pub fn into_text(self) -> String {
        match self {
            ChatContent::Absent => String::new(),
            ChatContent::Text(s) | ChatContent::Other(s) => s,
            ChatContent::Parts(items) => {
                let mut out = String::new();
                for t in items.into_iter().filter_map(|p| p.bare.or(p.text)) {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(&t);
                }
                out
            }
        }
    }
}

struct ContentVisitor;

impl<'de> Visitor<'de> for ContentVisitor {
    type Value = ChatContent<'de>;

    expects_any_value!();

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(ChatContent::Text(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(ChatContent::Text(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(p) = seq.next_element()? {
            parts.push(p);
        }
        Ok(ChatContent::Parts(parts))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(ChatContent::Absent)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(ChatContent::Absent)
    }
    // Rare shapes, written back as the JSON they were.
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(ChatContent::Other(Value::from(v).to_string()))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(ChatContent::Other(Value::from(v).to_string()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(ChatContent::Other(Value::from(v).to_string()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(ChatContent::Other(Value::from(v).to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let v = Value::deserialize(MapAccessDeserializer::new(map))?;
        Ok(ChatContent::Other(v.to_string()))
    }
}

read_any!(ChatContent<'a>, ContentVisitor);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum PartKey {
    Type,
    Text,
    ImageUrl,
    #[serde(other)]
    Other,
}

struct PartVisitor;

impl<'de> Visitor<'de> for PartVisitor {
    type Value = ChatPart<'de>;

    expects_any_value!();

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(ChatPart {
            bare: Some(v.to_owned()),
            ..Default::default()
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut p = ChatPart::default();
        while let Some(key) = map.next_key::<PartKey>()? {
            match key {
                PartKey::Type => p.kind = map.next_value::<Scalar>()?.str(),
                PartKey::Text => p.text = map.next_value::<Scalar>()?.string(),
                PartKey::ImageUrl => p.image_url = map.next_value::<ImageUrl>()?.0,
                PartKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(p)
    }
    skip_values!(ChatPart::default(); bool, seq, other);
}

read_any!(ChatPart<'a>, PartVisitor);
