//! Pieces for reading members of client and upstream JSON in one pass as
//! leniently as reading them into a `serde_json::Value` and picking them
//! out did: a member of the wrong type reads as absent instead of failing
//! the whole body. Malformed JSON is still an error.

use std::borrow::Cow;

use serde::de::{
    self, value::MapAccessDeserializer, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use serde_json::Value;

/// A member read for a string or a bool; any other value is skipped
/// unbuilt. Strings without escapes borrow the body.
pub(super) enum Scalar<'a> {
    Str(Cow<'a, str>),
    Bool(bool),
    Other,
}

impl<'a> Scalar<'a> {
    /// The string, if the member was one (`Value::as_str`).
    pub fn str(self) -> Option<Cow<'a, str>> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string, owned (`Value::as_str`, then `to_string`).
    pub fn string(self) -> Option<String> {
        self.str().map(Cow::into_owned)
    }

    /// The member was `true` (`Value::as_bool() == Some(true)`).
    pub fn is_true(&self) -> bool {
        matches!(self, Scalar::Bool(true))
    }
}

/// `visit_*` methods of a visitor that skips some kinds of value: each
/// named kind is consumed (arrays and objects to their end) and read as
/// the given value. Kinds: `bool`, `str`, `seq`, `map` and `other`
/// (numbers and null).
macro_rules! skip_values {
    ($skipped:expr; bool) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($skipped)
        }
    };
    ($skipped:expr; str) => {
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($skipped)
        }
    };
    ($skipped:expr; seq) => {
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok($skipped)
        }
    };
    ($skipped:expr; map) => {
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok($skipped)
        }
    };
    ($skipped:expr; other) => {
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($skipped)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($skipped)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($skipped)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($skipped)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($skipped)
        }
    };
    ($skipped:expr; $($kind:ident),+) => {
        $( $crate::translate::lenient::skip_values!($skipped; $kind); )+
    };
}
pub(super) use skip_values;

/// The `expecting` of a visitor that takes any JSON value.
macro_rules! expects_any_value {
    () => {
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
    };
}
pub(super) use expects_any_value;

/// `Deserialize` for a type its visitor reads from any JSON value
/// (`deserialize_any`), borrowing from the input when the type has a
/// lifetime.
macro_rules! read_any {
    ($ty:ident<'a>, $visitor:expr) => {
        impl<'de: 'a, 'a> serde::Deserialize<'de> for $ty<'a> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any($visitor)
            }
        }
    };
    ($ty:ident, $visitor:expr) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any($visitor)
            }
        }
    };
}
pub(super) use read_any;

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    expects_any_value!();

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    /// A string with escapes comes as a transient `&str`.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    skip_values!(Scalar::Other; seq, map, other);
}

read_any!(Scalar<'a>, ScalarVisitor);

/// A member read for an integer as `Value::as_i64` reads one: an integer
/// that fits an `i64`; any other value (a float, a string, null, ...) is
/// skipped unbuilt and reads as 0.
#[derive(Default, Clone, Copy, Debug, PartialEq)]
pub(super) struct Int(pub i64);

struct IntVisitor;

impl<'de> Visitor<'de> for IntVisitor {
    type Value = Int;

    expects_any_value!();

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Int(i64::try_from(v).unwrap_or(0)))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Int(0))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Int(0))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Int(0))
    }
    skip_values!(Int(0); bool, str, seq, map);
}

read_any!(Int, IntVisitor);

/// A member read as `T` when it is an object; any other value is skipped
/// unbuilt and reads as absent, as `Value::get` finds nothing in a
/// non-object. Malformed JSON, or a `T` that fails inside the object, is
/// still an error.
pub(super) struct Obj<T>(pub Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
}

struct ObjVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjVisitor<T> {
    type Value = Obj<T>;

    expects_any_value!();

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| Obj(Some(t)))
    }
    skip_values!(Obj(None); bool, str, seq, other);
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjVisitor(std::marker::PhantomData))
    }
}

/// A member read as one text by [`super::ir::text_of`]'s rules (a tool
/// result's `content`, a reasoning `summary`): a string as it is, an
/// array's strings and objects' `text` strings joined by newlines, null as
/// nothing, any other value as its JSON.
pub(super) struct TextOf(pub String);

struct TextOfVisitor;

impl<'de> Visitor<'de> for TextOfVisitor {
    type Value = TextOf;

    expects_any_value!();

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(TextOf(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(TextOf(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = String::new();
        while let Some(item) = seq.next_element::<ItemText>()? {
            if let Some(t) = item.0 {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&t);
            }
        }
        Ok(TextOf(out))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(TextOf(String::new()))
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(TextOf(String::new()))
    }
    // Anything else is written back as JSON, exactly as the `Value` it
    // would have been.
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(TextOf(Value::from(v).to_string()))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(TextOf(Value::from(v).to_string()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(TextOf(Value::from(v).to_string()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(TextOf(Value::from(v).to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let v = Value::deserialize(MapAccessDeserializer::new(map))?;
        Ok(TextOf(v.to_string()))
    }
}

read_any!(TextOf, TextOfVisitor);

/// One item of a tool result's `content` array: its text, if it is a
/// string or an object with a string `text`.
struct ItemText<'a>(Option<Cow<'a, str>>);

struct ItemTextVisitor;

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ItemKey {
    Text,
    #[serde(other)]
    Other,
}

impl<'de> Visitor<'de> for ItemTextVisitor {
    type Value = ItemText<'de>;

    expects_any_value!();

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(ItemText(Some(v.into())))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(ItemText(Some(v.to_owned().into())))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut text = None;
        while let Some(key) = map.next_key::<ItemKey>()? {
            match key {
                ItemKey::Text => text = map.next_value::<Scalar>()?.str(),
                ItemKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ItemText(text))
    }
    skip_values!(ItemText(None); bool, seq, other);
}

read_any!(ItemText<'a>, ItemTextVisitor);

/// `image_url`: a string, or an object whose `url` is one; else empty.
pub(super) struct ImageUrl(pub String);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum UrlKey {
    Url,
    #[serde(other)]
    Other,
}

struct ImageUrlVisitor;

impl<'de> Visitor<'de> for ImageUrlVisitor {
    type Value = ImageUrl;

    expects_any_value!();

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(ImageUrl(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(ImageUrl(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut url = None;
        while let Some(key) = map.next_key::<UrlKey>()? {
            match key {
                UrlKey::Url => url = map.next_value::<Scalar>()?.string(),
                UrlKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ImageUrl(url.unwrap_or_default()))
    }
    skip_values!(ImageUrl(String::new()); bool, seq, other);
}

read_any!(ImageUrl, ImageUrlVisitor);

/// A member that is a string or a list: a Responses `input` or input
/// message's `content`, a Claude message's `content`.
#[derive(Default)]
pub(super) enum Listed<T> {
    /// Absent, null, or of a type that holds nothing.
    #[default]
    Absent,
    Text(String),
    List(Vec<T>),
}

struct ListedVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListedVisitor<T> {
    type Value = Listed<T>;

    expects_any_value!();

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Listed::Text(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Listed::Text(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Listed::List(items))
    }
    skip_values!(Listed::Absent; bool, map, other);
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Listed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListedVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Vec<Scalar<'_>> {
        serde_json::from_str(json).expect("scalars")
    }

    #[test]
    fn strings_and_bools_are_kept_and_the_rest_skipped() {
        let s = read(r#"["plain","esc\"aped",true,false,null,1,-2,3.5,[1,[2]],{"a":{"b":[]}}]"#);
        assert!(matches!(s[0], Scalar::Str(Cow::Borrowed("plain"))));
        assert!(matches!(&s[1], Scalar::Str(Cow::Owned(t)) if t == "esc\"aped"));
        assert!(s[2].is_true() && !s[3].is_true());
        assert!(matches!(s[3], Scalar::Bool(false)));
        assert!(s[4..].iter().all(|v| matches!(v, Scalar::Other)));
        assert!(serde_json::from_str::<Vec<Scalar<'_>>>(r#"[{"a":}]"#).is_err());
    }

    #[test]
    fn an_object_member_of_another_type_reads_as_absent() {
        #[derive(Deserialize)]
        struct Named<'a> {
            #[serde(borrow)]
            name: Option<Scalar<'a>>,
        }
        let read: Vec<Obj<Named<'_>>> =
            serde_json::from_str(r#"[{"name":"n","x":[1]},{},"s",1,null,true,[{"name":"m"}]]"#)
                .expect("objects");
        let names: Vec<Option<Option<String>>> = read
            .into_iter()
            .map(|o| o.0.map(|n| n.name.and_then(Scalar::string)))
            .collect();
        assert_eq!(
            names,
            [
                Some(Some("n".into())),
                Some(None),
                None,
                None,
                None,
                None,
                None
            ]
        );
        assert!(serde_json::from_str::<Obj<Named<'_>>>(r#"{"name":}"#).is_err());
    }

    #[test]
    fn integers_read_as_value_as_i64_reads_them() {
        let json =
            r#"[7,-3,9223372036854775807,9223372036854775808,2.0,"4",null,true,[1],{"a":1}]"#;
        let ints: Vec<Int> = serde_json::from_str(json).expect("ints");
        let values: Vec<Value> = serde_json::from_str(json).expect("values");
        for (int, value) in ints.iter().zip(&values) {
            assert_eq!(int.0, value.as_i64().unwrap_or(0), "{value}");
        }
        assert!(serde_json::from_str::<Int>("[1,").is_err());
    }
}
