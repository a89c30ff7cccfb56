//! A Claude message's `content`, read in one pass into the members
//! translation uses.
//!
//! Read as `serde_json::Value`, every block cost a map with an allocated
//! key and value per member, then a copy of each string taken out of it;
//! in a long conversation (Claude Code sends every turn, tool call and tool
//! result again with each request) that was most of the request's
//! translation. These readers keep `type`, the text members, the ids,
//! `input`, `source`, `content` and `is_error`, and skip the rest (cache
//! markers, citations) unbuilt. They are as lenient as the `Value` reading:
//! - `content` that is neither a string nor an array is no content;
//! - a block that is not an object has no type (and is refused as such);
//! - a member of the wrong type reads as absent (`"text": 5` is empty text);
//! - of a member given twice, the last counts.

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::lenient::{expects_any_value, read_any, skip_values, Scalar, TextOf};

/// One content block, each member when of the right type.
#[derive(Default)]
pub(super) struct WireBlock<'a> {
    /// `type`.
    pub kind: Option<std::borrow::Cow<'a, str>>,
    pub text: Option<String>,
    pub thinking: Option<String>,
    pub signature: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
    /// `input` as given.
    pub input: Option<Value>,
    pub tool_use_id: Option<String>,
    /// A tool result's `content` as text ([`super::ir::text_of`]'s rules).
    pub content: Option<String>,
    /// `is_error` is `true`.
    pub is_error: bool,
    /// `source` as given (images only).
    pub source: Option<Value>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum BlockKey {
    Type,
    Text,
    Thinking,
    Signature,
    Id,
    Name,
    Input,
    ToolUseId,
    Content,
    IsError,
    Source,
    #[serde(other)]
    Other,
}

struct BlockVisitor;

impl<'de> Visitor<'de> for BlockVisitor {
    type Value = WireBlock<'de>;

    expects_any_value!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut b = WireBlock::default();
        while let Some(key) = map.next_key::<BlockKey>()? {
            match key {
                BlockKey::Type => b.kind = map.next_value::<Scalar>()?.str(),
                BlockKey::Text => b.text = map.next_value::<Scalar>()?.string(),
                BlockKey::Thinking => b.thinking = map.next_value::<Scalar>()?.string(),
                BlockKey::Signature => b.signature = map.next_value::<Scalar>()?.string(),
                BlockKey::Id => b.id = map.next_value::<Scalar>()?.string(),
                BlockKey::Name => b.name = map.next_value::<Scalar>()?.string(),
                BlockKey::Input => b.input = Some(map.next_value()?),
                BlockKey::ToolUseId => b.tool_use_id = map.next_value::<Scalar>()?.string(),
                BlockKey::Content => b.content = Some(map.next_value::<TextOf>()?.0),
                BlockKey::IsError => b.is_error = map.next_value::<Scalar>()?.is_true(),
                BlockKey::Source => b.source = Some(map.next_value()?),
                BlockKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(b)
    }

    skip_values!(WireBlock::default(); bool, str, seq, other);
}

read_any!(WireBlock<'a>, BlockVisitor);
