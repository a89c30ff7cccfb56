//! Compact JSON text of any `Serialize` value, byte for byte what
//! `serde_json::to_vec` writes, with faster string escaping
//! ([`escape::write_str`]).
//!
//! The translators write whole request bodies (a coding agent's
//! conversation: tens or hundreds of KB of source text in strings) and
//! every stream event through this. serde_json's `Formatter` can change how
//! a string is written once it has been cut into pieces, not how the pieces
//! are found, so the faster scan needs a serializer of its own. Numbers go
//! through the same `itoa` and `zmij` serde_json uses.

mod escape;
mod raw;

use std::fmt;

use serde::ser::{self, Serialize};

pub use escape::write_str;

/// Appends an integer, as serde_json writes it (the hand-written events'
/// numbers).
pub fn write_int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends a string, or `null` for none, as serde_json writes an
/// `Option<&str>`.
pub fn write_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// `v` as compact JSON.
pub fn to_vec<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(128);
    write_into(&mut out, v)?;
    Ok(out)
}

/// Appends `v` as compact JSON to `out`; on an error `out` is left as it
/// was.
pub fn write_into<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> Result<(), Error> {
    let start = out.len();
    let result = v.serialize(&mut Writer { out });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Why a value could not be written (a map key that is not a string, a
/// number or a bool, or a `Serialize` impl's own error), as serde_json
/// would have refused it.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// The serializer: everything is appended to `out`.
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn integer<I: itoa::Integer>(&mut self, v: I) {
        write_int(self.out, v);
    }

    fn float<F: zmij::Float>(&mut self, v: F, finite: bool) {
        if finite {
            self.out
                .extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
        } else {
            // JSON has no NaN or infinity; serde_json writes null.
            self.out.extend_from_slice(b"null");
        }
    }

    /// `{"variant":` of an enum's newtype, tuple and struct variants.
    fn open_variant(&mut self, variant: &str) {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
    }
}

/// A sequence or map being written: whether a comma goes before the next
/// element, and what closes it.
pub struct Compound<'w, 'a> {
    w: &'w mut Writer<'a>,
    first: bool,
    /// `]` or `}`.
    close: u8,
    /// A variant's contents, inside `{"variant":...}`: one more `}`.
    in_variant: bool,
    /// A `RawValue`: its one field is its text, written as it is, with
    /// nothing around it.
    raw: bool,
}

impl<'w, 'a> Compound<'w, 'a> {
    /// A compound just opened (its bracket already written) that `close`
    /// ends, inside a variant's `{"variant":...}` when `in_variant`.
    fn open(w: &'w mut Writer<'a>, close: u8, in_variant: bool) -> Self {
        Compound {
            w,
            first: true,
            close,
            in_variant,
            raw: false,
        }
    }

    fn comma(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.w.out.push(b',');
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.comma();
        v.serialize(&mut *self.w)
    }

    fn member<T: Serialize + ?Sized>(&mut self, key: &str, v: &T) -> Result<(), Error> {
        if self.raw {
            return self.raw_text(key, v);
        }
        self.comma();
        write_str(self.w.out, key);
        self.w.out.push(b':');
        v.serialize(&mut *self.w)
    }

    /// A `RawValue`'s one field, its text. Out of line: every field of
    /// every struct is written through [`Self::member`], and only a raw
    /// value's comes here.
    #[cold]
    #[inline(never)]
    fn raw_text<T: Serialize + ?Sized>(&mut self, key: &str, v: &T) -> Result<(), Error> {
        if key != raw::TOKEN {
            return Err(Error("expected a raw JSON text".into()));
        }
        v.serialize(raw::RawText { out: self.w.out })
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        let at = self.w.out.len();
        key.serialize(&mut *self.w)?;
        // serde_json takes strings as keys, and numbers and bools written
        // inside quotes; anything else (null, a float that is not finite,
        // a sequence, a map) is an error.
        match self.w.out.get(at) {
            Some(b'"') => Ok(()),
            Some(b'-' | b'0'..=b'9' | b't' | b'f') => {
                self.w.out.insert(at, b'"');
                self.w.out.push(b'"');
                Ok(())
            }
            _ => Err(Error("key must be a string".into())),
        }
    }

    fn finish(self) -> Result<(), Error> {
        if self.raw {
            return Ok(());
        }
        self.w.out.push(self.close);
        if self.in_variant {
            self.w.out.push(b'}');
        }
        Ok(())
    }
}

impl<'w, 'a> ser::Serializer for &'w mut Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }

    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }

    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }

    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }

    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }

    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }

    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.float(v, v.is_finite());
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(v, v.is_finite());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.out, v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }

    #[inline(always)]
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        // serde_json writes bytes as an array of numbers.
        let mut seq = ser::Serializer::serialize_seq(self, Some(v.len()))?;
        for b in v {
            seq.element(b)?;
        }
        seq.finish()
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        write_str(self.out, variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.open_variant(variant);
        v.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'w, 'a>, Error> {
        self.out.push(b'[');
        Ok(Compound::open(self, b']', false))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'w, 'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'w, 'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'a>, Error> {
        self.open_variant(variant);
        self.out.push(b'[');
        Ok(Compound::open(self, b']', true))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'w, 'a>, Error> {
        self.out.push(b'{');
        Ok(Compound::open(self, b'}', false))
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Compound<'w, 'a>, Error> {
        if name == raw::TOKEN {
            return Ok(Compound {
                raw: true,
                ..Compound::open(self, b'}', false)
            });
        }
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'a>, Error> {
        self.open_variant(variant);
        self.out.push(b'{');
        Ok(Compound::open(self, b'}', true))
    }
}

/// The four compounds whose members are plain elements.
macro_rules! element_compound {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
                self.element(v)
            }

            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}

element_compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.w.out.push(b':');
        v.serialize(&mut *self.w)
    }

    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// The two compounds whose members are named fields.
macro_rules! field_compound {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                v: &T,
            ) -> Result<(), Error> {
                self.member(key, v)
            }

            fn end(self) -> Result<(), Error> {
                self.finish()
            }
        }
    )*};
}

field_compound!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests;
