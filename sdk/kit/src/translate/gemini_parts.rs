//! The parts of a Gemini candidate, read in one pass into the few members
//! translation uses.
//!
//! Read as `serde_json::Value`, every part cost a map with an allocated
//! key and value per member, then a copy of its text. These readers keep
//! only `text`, `thought`, `thoughtSignature` and `functionCall` (text
//! borrowed where it has no escapes) and skip the rest unbuilt. They are
//! as lenient as reading the part whole was:
//! - a part that is not an object is skipped (no error for the chunk);
//! - a member of the wrong type reads as absent (`"text": 5` is no text);
//! - `functionCall` of any value, null included, is a call (its members
//!   absent unless it is an object);
//! - of a member given twice, the last counts.

use std::borrow::Cow;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::lenient::{expects_any_value, read_any, skip_values, Scalar};

/// One part, as translation reads it.
#[derive(Default)]
pub(super) struct WirePart<'a> {
    /// `text`, when it is a string.
    pub text: Option<Cow<'a, str>>,
    /// `thought` is `true`.
    pub thought: bool,
    /// `thoughtSignature`, when it is a string.
    pub thought_signature: Option<Cow<'a, str>>,
    /// `functionCall` is present, whatever its value.
    pub function_call: Option<WireCall<'a>>,
}

/// A `functionCall`'s members, each when of the right type.
#[derive(Default)]
pub(super) struct WireCall<'a> {
    pub id: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    /// `args` as given (null too).
    pub args: Option<Value>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum PartKey {
    Text,
    Thought,
    ThoughtSignature,
    FunctionCall,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum CallKey {
    Id,
    Name,
    Args,
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
                PartKey::Text => p.text = map.next_value::<Scalar>()?.str(),
                PartKey::Thought => p.thought = map.next_value::<Scalar>()?.is_true(),
                PartKey::ThoughtSignature => {
                    p.thought_signature = map.next_value::<Scalar>()?.str()
                }
                PartKey::FunctionCall => p.function_call = Some(map.next_value()?),
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

struct CallVisitor;

impl<'de> Visitor<'de> for CallVisitor {
    type Value = WireCall<'de>;

    expects_any_value!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut c = WireCall::default();
        while let Some(key) = map.next_key::<CallKey>()? {
            match key {
                CallKey::Id => c.id = map.next_value::<Scalar>()?.str(),
                CallKey::Name => c.name = map.next_value::<Scalar>()?.str(),
                CallKey::Args => c.args = Some(map.next_value()?),
                CallKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(c)
    }

    skip_values!(WireCall::default(); bool, str, seq, other);
}

read_any!(WireCall<'a>, CallVisitor);

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(json: &str) -> Vec<WirePart<'_>> {
        serde_json::from_str(json).expect("parts")
    }

    #[test]
    fn text_without_escapes_is_borrowed_and_with_escapes_copied() {
        let p = parts(r#"[{"text":"plain","thoughtSignature":"s\n"}]"#);
        assert!(matches!(p[0].text, Some(Cow::Borrowed("plain"))));
        assert!(matches!(&p[0].thought_signature, Some(Cow::Owned(s)) if s == "s\n"));
    }

    #[test]
    fn members_not_read_are_skipped_whatever_they_hold() {
        let p = parts(
            r#"[{"inlineData":{"data":"AA==","nested":[[{"a":[null,1.5e3,-2,true]}]]},
                 "videoMetadata":[],"text":"t","functionCall":{"extra":{"x":[{}]},"name":"f"}},
                [[[]]],{"a":{}}]"#,
        );
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].text.as_deref(), Some("t"));
        let call = p[0].function_call.as_ref().expect("call");
        assert_eq!(call.name.as_deref(), Some("f"));
        assert!(call.id.is_none() && call.args.is_none());
        assert!(p[1].text.is_none() && p[1].function_call.is_none());
        assert!(p[2].text.is_none() && p[2].function_call.is_none());
    }

    #[test]
    fn malformed_json_is_still_an_error() {
        assert!(serde_json::from_str::<Vec<WirePart<'_>>>(r#"[{"text":"a",}]"#).is_err());
        assert!(serde_json::from_str::<Vec<WirePart<'_>>>(r#"[{"text":}]"#).is_err());
        assert!(serde_json::from_str::<Vec<WirePart<'_>>>(r#"[[1,]]"#).is_err());
    }
}
