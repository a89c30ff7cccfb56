//! A Responses request's `input` and `tools`, read in one pass into the
//! members translation uses.
//!
//! Read as `serde_json::Value`, every item, content part and tool schema
//! cost a map with an allocated key and value per member, then a copy of
//! each string (and each schema) taken out of it; Codex sends the whole
//! conversation with every request. These readers keep what translation
//! reads and skip the rest (ids, status, annotations, encrypted reasoning)
//! unbuilt. They are as lenient as the `Value` reading:
//! - `input` that is neither a string nor an array is no input;
//! - an item or a part that is not an object has no type (an item without
//!   a type is a message; a part without one is skipped; a tool without
//!   one is refused);
//! - a member of the wrong type reads as absent;
//! - of a member given twice, the last counts.

use std::borrow::Cow;

use super::ir::Schema;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::lenient::{expects_any_value, read_any, skip_values, ImageUrl, Listed, Scalar, TextOf};

/// One `input` item, each member when of the right type.
#[derive(Default)]
pub(super) struct WireItem<'a> {
    /// `type`.
    pub kind: Option<Cow<'a, str>>,
    pub role: Option<Cow<'a, str>>,
    pub call_id: Option<String>,
    pub name: Option<String>,
    pub arguments: Option<Cow<'a, str>>,
    /// `output` as text, when present.
    pub output: Option<String>,
    /// `summary` as text, when present.
    pub summary: Option<String>,
    pub content: Listed<WirePart<'a>>,
}

/// One part of a message's `content`.
#[derive(Default)]
pub(super) struct WirePart<'a> {
    /// `type`.
    pub kind: Option<Cow<'a, str>>,
    pub text: Option<String>,
    pub refusal: Option<String>,
    /// `image_url`: the string, or an object's `url` string; else empty.
    pub image_url: String,
}

/// One entry of `tools`.
#[derive(Default)]
pub(super) struct WireTool<'a> {
    /// `type`.
    pub kind: Option<Cow<'a, str>>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// `parameters` as given (null too).
    pub parameters: Option<Schema>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ItemKey {
    Type,
    Role,
    CallId,
    Name,
    Arguments,
    Output,
    Summary,
    Content,
    #[serde(other)]
    Other,
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = WireItem<'de>;

    expects_any_value!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut it = WireItem::default();
        while let Some(key) = map.next_key::<ItemKey>()? {
            match key {
                ItemKey::Type => it.kind = map.next_value::<Scalar>()?.str(),
                ItemKey::Role => it.role = map.next_value::<Scalar>()?.str(),
                ItemKey::CallId => it.call_id = map.next_value::<Scalar>()?.string(),
                ItemKey::Name => it.name = map.next_value::<Scalar>()?.string(),
                ItemKey::Arguments => it.arguments = map.next_value::<Scalar>()?.str(),
                ItemKey::Output => it.output = Some(map.next_value::<TextOf>()?.0),
                ItemKey::Summary => it.summary = Some(map.next_value::<TextOf>()?.0),
                ItemKey::Content => it.content = map.next_value()?,
                ItemKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(it)
    }

    skip_values!(WireItem::default(); bool, str, seq, other);
}

read_any!(WireItem<'a>, ItemVisitor);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum PartKey {
    Type,
    Text,
    Refusal,
    ImageUrl,
    #[serde(other)]
    Other,
}

struct PartVisitor;

impl<'de> Visitor<'de> for PartVisitor {
    type Value = WirePart<'de>;

    expects_any_value!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut p = WirePart::default();
        while let Some(key) = map.next_key::<PartKey>()? {
            match key {
                PartKey::Type => p.kind = map.next_value::<Scalar>()?.str(),
                PartKey::Text => p.text = map.next_value::<Scalar>()?.string(),
                PartKey::Refusal => p.refusal = map.next_value::<Scalar>()?.string(),
                PartKey::ImageUrl => p.image_url = map.next_value::<ImageUrl>()?.0,
                PartKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(p)
    }

    skip_values!(WirePart::default(); bool, str, seq, other);
}

read_any!(WirePart<'a>, PartVisitor);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ToolKey {
    Type,
    Name,
    Description,
    Parameters,
    #[serde(other)]
    Other,
}

struct ToolVisitor;

impl<'de> Visitor<'de> for ToolVisitor {
    type Value = WireTool<'de>;

    expects_any_value!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut t = WireTool::default();
        while let Some(key) = map.next_key::<ToolKey>()? {
            match key {
                ToolKey::Type => t.kind = map.next_value::<Scalar>()?.str(),
                ToolKey::Name => t.name = map.next_value::<Scalar>()?.string(),
                ToolKey::Description => t.description = map.next_value::<Scalar>()?.string(),
                ToolKey::Parameters => t.parameters = Some(map.next_value()?),
                ToolKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(t)
    }

    skip_values!(WireTool::default(); bool, str, seq, other);
}

read_any!(WireTool<'a>, ToolVisitor);
