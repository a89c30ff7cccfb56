//! The writer against serde_json itself: every shape serde can hand it,
//! and arbitrary JSON values, must come out as the same bytes (or both
//! refuse).

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::Serialize;
use serde_json::Value;

use super::{to_vec, write_into};

fn same<T: Serialize + ?Sized>(v: &T) {
    let theirs = serde_json::to_vec(v);
    let ours = to_vec(v);
    match (&theirs, &ours) {
        (Ok(t), Ok(o)) => assert_eq!(
            String::from_utf8_lossy(o),
            String::from_utf8_lossy(t),
            "bytes differ"
        ),
        (Err(_), Err(_)) => {}
        _ => panic!("serde_json {theirs:?}, ours {ours:?}"),
    }
}

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct Unit;

#[derive(Serialize)]
struct Newtype(u8);

#[derive(Serialize)]
struct Pair(i32, &'static str);

#[derive(Serialize)]
enum External {
    Unit,
    Newtype(String),
    Tuple(u8, Option<bool>),
    Struct { a: f64, b: Vec<u8> },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Internal {
    Text { text: String },
    Call { id: u64, args: Value },
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    messages: Vec<Internal>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
    #[serde(with = "serde_bytes_as_seq")]
    raw: Vec<u8>,
    ch: char,
    big: (i128, u128),
    unit: (),
    unit_struct: Unit,
    newtype: Newtype,
    pair: Pair,
    variants: Vec<External>,
}

mod serde_bytes_as_seq {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
}

#[test]
fn every_shape_serde_has_is_written_as_serde_json_writes_it() {
    let body = Body {
        model: "gpt-\"5\"\n",
        max_tokens: None,
        temperature: Some(0.7),
        messages: vec![
            Internal::Text {
                text: "line one\nline \"two\"\t\\ é ✓ \u{1}".into(),
            },
            Internal::Call {
                id: u64::MAX,
                args: serde_json::json!({"path": "src/main.rs", "n": -3, "f": 1e300, "z": [null, true]}),
            },
        ],
        extra: [("x-extra".to_string(), Value::from(1.5))].into(),
        raw: vec![0, 7, 255],
        ch: '"',
        big: (i128::MIN, u128::MAX),
        unit: (),
        unit_struct: Unit,
        newtype: Newtype(9),
        pair: Pair(-1, "p"),
        variants: vec![
            External::Unit,
            External::Newtype("n".into()),
            External::Tuple(1, None),
            External::Struct {
                a: f64::NAN,
                b: vec![],
            },
        ],
    };
    same(&body);
    same(&[f32::INFINITY, f32::MIN_POSITIVE, 0.1, -0.0]);
    same(&[f64::NEG_INFINITY, f64::MAX, 1e-7, 100.0]);
    same::<[u8]>(&[]);
    same(&Vec::<Value>::new());
    same(&BTreeMap::<String, Value>::new());
}

#[test]
fn map_keys_are_strings_numbers_and_bools_as_serde_json_takes_them() {
    same(&BTreeMap::from([(1i64, "a"), (-20, "b")]));
    same(&BTreeMap::from([(u128::MAX, 0)]));
    same(&BTreeMap::from([(true, 1), (false, 2)]));
    same(&BTreeMap::from([('k', 1)]));
    same(&BTreeMap::from([(Some("s"), 1)]));
    // Refused by both.
    same(&BTreeMap::from([(None::<&str>, 1)]));
    same(&BTreeMap::from([((), 1)]));
    same(&BTreeMap::from([(vec![1], 1)]));
    same(&BTreeMap::from([((1, 2), 1)]));
    same(&BTreeMap::from([(Unit, 1)]));
}

#[test]
fn float_keys_are_quoted_when_finite_and_refused_otherwise() {
    struct FloatKeys(Vec<f64>);
    impl Serialize for FloatKeys {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for k in &self.0 {
                m.serialize_entry(k, &0)?;
            }
            m.end()
        }
    }
    same(&FloatKeys(vec![1.5, -0.25, 1e21]));
    same(&FloatKeys(vec![f64::NAN]));
    same(&FloatKeys(vec![1.0, f64::INFINITY]));
}

#[test]
fn a_failed_write_leaves_the_buffer_as_it_was() {
    let mut out = b"data: ".to_vec();
    let bad = BTreeMap::from([(vec![1u8], 1)]);
    assert!(write_into(&mut out, &vec![Value::Null, Value::from("x")]).is_ok());
    let before = out.clone();
    assert!(write_into(&mut out, &[bad]).is_err());
    assert_eq!(out, before);
    assert_eq!(out, b"data: [null,\"x\"]");
}

#[test]
fn raw_json_text_goes_out_as_it_came() {
    use serde_json::value::RawValue;
    #[derive(Serialize)]
    struct Tool<'a> {
        name: &'a str,
        schema: &'a RawValue,
        list: Vec<Box<RawValue>>,
    }
    // The client's key order, spacing and escapes are kept, as serde_json
    // keeps them.
    let text = r#"{"type":"object", "properties":{"z":{"type":"string"},"a":{"description":"caf\u00e9"}}}"#;
    let schema: &RawValue = serde_json::from_str(text).expect("json");
    let list = vec![
        RawValue::from_string("null".into()).expect("json"),
        RawValue::from_string("[1, 2.50]".into()).expect("json"),
    ];
    let tool = Tool {
        name: "f",
        schema,
        list,
    };
    same(&tool);
    let out = to_vec(&tool).expect("written");
    assert!(out.windows(text.len()).any(|w| w == text.as_bytes()));
    same(&Some(schema));
    same(&[schema, schema]);
}

/// Under the raw value's name, anything but its text is refused.
#[test]
fn a_struct_that_only_borrows_the_raw_name_is_refused() {
    struct Fake(bool);
    impl Serialize for Fake {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeStruct;
            let mut st = s.serialize_struct("$serde_json::private::RawValue", 1)?;
            if self.0 {
                st.serialize_field("$serde_json::private::RawValue", &7)?;
            } else {
                st.serialize_field("other", "1")?;
            }
            st.end()
        }
    }
    let mut out = b"[".to_vec();
    assert!(write_into(&mut out, &Fake(true)).is_err());
    assert!(write_into(&mut out, &Fake(false)).is_err());
    assert_eq!(out, b"[");
    same(&Fake(true));
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".*".prop_map(Value::from),
        "[ -~\n\t\"\\\\\u{0}-\u{1f}é✓]{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
            prop::collection::btree_map("[a-z\"\\\\\n]{0,6}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_json_value_is_written_as_serde_json_writes_it(v in any_value()) {
        prop_assert_eq!(to_vec(&v).ok(), serde_json::to_vec(&v).ok());
    }
}
