//! The parts and function declarations of a Gemini *request*, read in one
//! pass into the members translation uses.
//!
//! Read as `serde_json::Value`s, every part of a conversation cost a map
//! with an allocated key and value per member, then a copy of its text
//! (for a coding agent's 62 KB request, over half of its translation).
//! These readers are as lenient as picking members out of the values was:
//! - a part or declaration that is not an object reads as one without
//!   members (a part is then skipped, a declaration is a tool without a
//!   name);
//! - a member of the wrong type reads as absent (`"text": 5` is no text);
//! - where a member has a camelCase and a snake_case spelling, the
//!   camelCase one counts whenever it is present, whatever its value;
//! - of a member given twice, the last counts.
//!
//! Function-call arguments and function responses are still read as
//! values: they are passed on as trees.

use std::borrow::Cow;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::ir::Schema;
use super::lenient::{expects_any_value, read_any, skip_values, Scalar};

/// One part of a message, as the request reader uses it.
#[derive(Default)]
pub(super) struct ReqPart<'a> {
    /// The part was a bare string (counted as text by `systemInstruction`
    /// only, as `text_of` counts one).
    pub bare: Option<Cow<'a, str>>,
    /// `text`, when it is a string.
    pub text: Option<Cow<'a, str>>,
    /// `thought` is `true`.
    pub thought: bool,
    pub signature: Spelled<Option<Cow<'a, str>>>,
    pub inline_data: Spelled<Inline<'a>>,
    pub file_data: Spelled<File<'a>>,
    pub function_call: Spelled<Call<'a>>,
    pub function_response: Spelled<Call<'a>>,
}

/// A member that may come spelled in camelCase or in snake_case; each is
/// `Some` when that spelling was present.
pub(super) struct Spelled<T> {
    camel: Option<T>,
    snake: Option<T>,
}

impl<T> Default for Spelled<T> {
    fn default() -> Self {
        Spelled {
            camel: None,
            snake: None,
        }
    }
}

impl<T> Spelled<T> {
    /// The camelCase spelling when present, else the snake_case one (as
    /// `v.get(camel).or_else(|| v.get(snake))`).
    pub fn get(self) -> Option<T> {
        self.camel.or(self.snake)
    }
}

/// `inlineData`'s members.
#[derive(Default)]
pub(super) struct Inline<'a> {
    pub mime_type: Spelled<Option<Cow<'a, str>>>,
    pub data: Option<Cow<'a, str>>,
}

/// `fileData`'s members.
#[derive(Default)]
pub(super) struct File<'a> {
    pub file_uri: Spelled<Option<Cow<'a, str>>>,
}

/// `functionCall`'s and `functionResponse`'s members: a call reads
/// `args`, a response `response` (the other is absent in practice, and
/// unused when not).
#[derive(Default)]
pub(super) struct Call<'a> {
    pub id: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    /// `args` as given.
    pub args: Option<Value>,
    /// `response` as given.
    pub response: Option<Value>,
}

/// One entry of `functionDeclarations`.
#[derive(Default)]
pub(super) struct Declaration<'a> {
    pub name: Option<Cow<'a, str>>,
    pub description: Option<Cow<'a, str>>,
    pub parameters_json_schema: Spelled<Schema>,
    pub parameters: Option<Schema>,
}

#[derive(Deserialize)]
#[serde(field_identifier)]
enum PartKey {
    #[serde(rename = "text")]
    Text,
    #[serde(rename = "thought")]
    Thought,
    #[serde(rename = "thoughtSignature")]
    Signature,
    #[serde(rename = "thought_signature")]
    SignatureSnake,
    #[serde(rename = "inlineData")]
    Inline,
    #[serde(rename = "inline_data")]
    InlineSnake,
    #[serde(rename = "fileData")]
    File,
    #[serde(rename = "file_data")]
    FileSnake,
    #[serde(rename = "functionCall")]
    Call,
    #[serde(rename = "function_call")]
    CallSnake,
    #[serde(rename = "functionResponse")]
    Response,
    #[serde(rename = "function_response")]
    ResponseSnake,
    #[serde(other)]
    Other,
}

struct PartVisitor;

impl<'de> Visitor<'de> for PartVisitor {
    type Value = ReqPart<'de>;

    expects_any_value!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut p = ReqPart::default();
        while let Some(key) = map.next_key::<PartKey>()? {
            match key {
                PartKey::Text => p.text = map.next_value::<Scalar>()?.str(),
                PartKey::Thought => p.thought = map.next_value::<Scalar>()?.is_true(),
                PartKey::Signature => p.signature.camel = Some(map.next_value::<Scalar>()?.str()),
                PartKey::SignatureSnake => {
                    p.signature.snake = Some(map.next_value::<Scalar>()?.str())
                }
                PartKey::Inline => p.inline_data.camel = Some(map.next_value()?),
                PartKey::InlineSnake => p.inline_data.snake = Some(map.next_value()?),
                PartKey::File => p.file_data.camel = Some(map.next_value()?),
                PartKey::FileSnake => p.file_data.snake = Some(map.next_value()?),
                PartKey::Call => p.function_call.camel = Some(map.next_value()?),
                PartKey::CallSnake => p.function_call.snake = Some(map.next_value()?),
                PartKey::Response => p.function_response.camel = Some(map.next_value()?),
                PartKey::ResponseSnake => p.function_response.snake = Some(map.next_value()?),
                PartKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(p)
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(ReqPart {
            bare: Some(Cow::Borrowed(v)),
            ..ReqPart::default()
        })
    }
    /// A string with escapes comes as a transient `&str`.
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(ReqPart {
            bare: Some(Cow::Owned(v.to_owned())),
            ..ReqPart::default()
        })
    }

    skip_values!(ReqPart::default(); bool, seq, other);
}

read_any!(ReqPart<'a>, PartVisitor);

/// The visitor of a small object whose members are all read the same way:
/// `$key` names them, `$read` stores one (`map`, the key, the object).
macro_rules! object_reader {
    ($ty:ident, $visitor:ident, $key:ident, |$map:ident, $k:ident, $o:ident| $read:block) => {
        struct $visitor;

        impl<'de> Visitor<'de> for $visitor {
            type Value = $ty<'de>;

            expects_any_value!();

            fn visit_map<A: MapAccess<'de>>(self, mut $map: A) -> Result<Self::Value, A::Error> {
                let mut $o = $ty::default();
                while let Some($k) = $map.next_key::<$key>()? {
                    $read
                }
                Ok($o)
            }

            skip_values!($ty::default(); bool, str, seq, other);
        }

        read_any!($ty<'a>, $visitor);
    };
}

#[derive(Deserialize)]
#[serde(field_identifier)]
enum InlineKey {
    #[serde(rename = "mimeType")]
    Mime,
    #[serde(rename = "mime_type")]
    MimeSnake,
    #[serde(rename = "data")]
    Data,
    #[serde(other)]
    Other,
}

object_reader!(Inline, InlineVisitor, InlineKey, |map, key, o| {
    match key {
        InlineKey::Mime => o.mime_type.camel = Some(map.next_value::<Scalar>()?.str()),
        InlineKey::MimeSnake => o.mime_type.snake = Some(map.next_value::<Scalar>()?.str()),
        InlineKey::Data => o.data = map.next_value::<Scalar>()?.str(),
        InlineKey::Other => {
            map.next_value::<IgnoredAny>()?;
        }
    }
});

#[derive(Deserialize)]
#[serde(field_identifier)]
enum FileKey {
    #[serde(rename = "fileUri")]
    Uri,
    #[serde(rename = "file_uri")]
    UriSnake,
    #[serde(other)]
    Other,
}

object_reader!(File, FileVisitor, FileKey, |map, key, o| {
    match key {
        FileKey::Uri => o.file_uri.camel = Some(map.next_value::<Scalar>()?.str()),
        FileKey::UriSnake => o.file_uri.snake = Some(map.next_value::<Scalar>()?.str()),
        FileKey::Other => {
            map.next_value::<IgnoredAny>()?;
        }
    }
});

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum CallKey {
    Id,
    Name,
    Args,
    Response,
    #[serde(other)]
    Other,
}

object_reader!(Call, CallVisitor, CallKey, |map, key, o| {
    match key {
        CallKey::Id => o.id = map.next_value::<Scalar>()?.str(),
        CallKey::Name => o.name = map.next_value::<Scalar>()?.str(),
        CallKey::Args => o.args = Some(map.next_value()?),
        CallKey::Response => o.response = Some(map.next_value()?),
        CallKey::Other => {
            map.next_value::<IgnoredAny>()?;
        }
    }
});

#[derive(Deserialize)]
#[serde(field_identifier)]
enum DeclarationKey {
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "description")]
    Description,
    #[serde(rename = "parametersJsonSchema")]
    JsonSchema,
    #[serde(rename = "parameters_json_schema")]
    JsonSchemaSnake,
    #[serde(rename = "parameters")]
    Parameters,
    #[serde(other)]
    Other,
}

// A schema is kept as the client's text (`Schema` reads any value), as
// the other formats' readers keep it.
object_reader!(
    Declaration,
    DeclarationVisitor,
    DeclarationKey,
    |map, key, o| {
        match key {
            DeclarationKey::Name => o.name = map.next_value::<Scalar>()?.str(),
            DeclarationKey::Description => o.description = map.next_value::<Scalar>()?.str(),
            DeclarationKey::JsonSchema => o.parameters_json_schema.camel = Some(map.next_value()?),
            DeclarationKey::JsonSchemaSnake => {
                o.parameters_json_schema.snake = Some(map.next_value()?)
            }
            DeclarationKey::Parameters => o.parameters = Some(map.next_value()?),
            DeclarationKey::Other => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
);
