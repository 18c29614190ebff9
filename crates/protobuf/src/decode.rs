//! Generic protobuf → Kubernetes JSON decoding driven by the schema table.
//!
//! The output mirrors what Go's encoding/json would print for the object
//! after the apiserver unmarshalled the protobuf: pointers appear when set,
//! `omitempty` scalars disappear when zero, plain structs always appear.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::schema::{Elem, FieldType, MsgId, Presence, Scalar, Schema, Special};
use crate::special::{format_duration, format_time};
use crate::wire::{Reader, WireValue};
use crate::DecodeError;

/// Deeper nesting than any real object has; guards the stack against
/// hostile input.
const MAX_DEPTH: usize = 100;

pub struct Decoder<'s> {
    pub schema: &'s Schema,
}

/// What has been collected for one schema field while reading a message.
enum Slot<'a> {
    Empty,
    Scalar(Value),
    /// Singular message: proto merges repeated occurrences, which for
    /// length-delimited messages equals decoding their concatenation.
    Message(Vec<&'a [u8]>),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

fn mismatch(msg: &str, field: &str) -> DecodeError {
    DecodeError::Malformed(format!("{msg}.{field}: unexpected wire type"))
}

fn zero_scalar(s: Scalar) -> Value {
    match s {
        Scalar::String | Scalar::Bytes => Value::String(String::new()),
        Scalar::Bool => Value::Bool(false),
        Scalar::Int32 | Scalar::Int64 => Value::from(0),
        Scalar::Double => Value::from(0.0),
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Decodes one scalar; `None` when the wire type cannot carry that scalar.
fn scalar(s: Scalar, v: WireValue<'_>) -> Result<Option<Value>, DecodeError> {
    Ok(Some(match (s, v) {
        (Scalar::String, WireValue::Len(b)) => {
            // Go strings may hold any bytes; its JSON encoder substitutes
            // U+FFFD for invalid UTF-8, which from_utf8_lossy matches.
            Value::String(String::from_utf8_lossy(b).into_owned())
        }
        (Scalar::Bytes, WireValue::Len(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        (Scalar::Bool, WireValue::Varint(n)) => Value::Bool(n != 0),
        // Proto int32 travels sign-extended to 64 bits; truncation recovers it.
        (Scalar::Int32, WireValue::Varint(n)) => Value::from(n as i32),
        (Scalar::Int64, WireValue::Varint(n)) => Value::from(n as i64),
        (Scalar::Double, WireValue::Fixed64(n)) => {
            let f = f64::from_bits(n);
            Value::Number(serde_json::Number::from_f64(f).ok_or_else(|| {
                DecodeError::Malformed("non-finite double cannot be represented in JSON".into())
            })?)
        }
        _ => return Ok(None),
    }))
}

/// Splits a packed repeated scalar payload into values.
fn packed(s: Scalar, data: &[u8], out: &mut Vec<Value>) -> Result<(), DecodeError> {
    let mut r = Reader::new(data);
    while !r.is_empty() {
        let wv = match s {
            Scalar::Double => WireValue::Fixed64(r.fixed64()?),
            _ => WireValue::Varint(r.varint()?),
        };
        out.extend(scalar(s, wv)?);
    }
    Ok(())
}

impl<'s> Decoder<'s> {
    /// JSON for a message value (special types get their own JSON form).
    pub fn message_value(
        &self,
        id: MsgId,
        data: &[u8],
        depth: usize,
    ) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let msg = self.schema.msg(id);
        match msg.special {
            Special::None => Ok(Value::Object(self.message_object(id, data, depth)?)),
            Special::Slice => {
                let obj = self.message_object(id, data, depth)?;
                Ok(obj
                    .into_iter()
                    .next()
                    .map_or(Value::Array(Vec::new()), |(_, v)| v))
            }
            special => self.special_value(special, &msg.name, data, depth),
        }
    }

    /// Reads the few numbered fields a special message has, without JSON
    /// presence rules, as (number → raw wire value).
    fn raw_fields<'a>(data: &'a [u8]) -> Result<BTreeMap<u32, WireValue<'a>>, DecodeError> {
        let mut r = Reader::new(data);
        let mut out = BTreeMap::new();
        while !r.is_empty() {
            let (n, v) = r.field()?;
            out.insert(n, v);
        }
        Ok(out)
    }

    fn special_value(
        &self,
        special: Special,
        name: &str,
        data: &[u8],
        depth: usize,
    ) -> Result<Value, DecodeError> {
        let f = Self::raw_fields(data)?;
        let int = |n: u32| -> Result<i64, DecodeError> {
            match f.get(&n) {
                None => Ok(0),
                Some(WireValue::Varint(v)) => Ok(*v as i64),
                Some(_) => Err(mismatch(name, &n.to_string())),
            }
        };
        let bytes = |n: u32| -> Result<&[u8], DecodeError> {
            match f.get(&n) {
                None => Ok(&[]),
                Some(WireValue::Len(b)) => Ok(b),
                Some(_) => Err(mismatch(name, &n.to_string())),
            }
        };
        let out_of_range = || DecodeError::Malformed(format!("{name}: timestamp out of range"));
        match special {
            Special::Time | Special::MicroTime => {
                // An empty message is Go's zero time, which marshals as null.
                if data.is_empty() {
                    return Ok(Value::Null);
                }
                let (secs, nanos) = (int(1)?, int(2)? as i32);
                let secs = secs
                    .checked_add(i64::from(nanos).div_euclid(1_000_000_000))
                    .ok_or_else(out_of_range)?;
                let nanos = i64::from(nanos).rem_euclid(1_000_000_000) as u32;
                // metav1.Time drops sub-second precision when unmarshalling.
                let micros = (special == Special::MicroTime).then_some(nanos / 1000);
                format_time(secs, micros)
                    .map(Value::String)
                    .ok_or_else(out_of_range)
            }
            Special::Duration => Ok(Value::String(format_duration(int(1)?))),
            Special::Quantity => {
                let s = String::from_utf8_lossy(bytes(1)?).into_owned();
                Ok(Value::String(if s.is_empty() { "0".into() } else { s }))
            }
            Special::IntOrString => {
                if int(1)? == 1 {
                    Ok(Value::String(
                        String::from_utf8_lossy(bytes(3)?).into_owned(),
                    ))
                } else {
                    Ok(Value::from(int(2)? as i32))
                }
            }
            Special::RawJson => raw_json(bytes(1)?, depth),
            Special::None | Special::Slice => Err(DecodeError::Malformed(format!(
                "{name}: not a special message"
            ))),
        }
    }

    /// Decodes a message into its JSON object (before special handling).
    pub fn message_object(
        &self,
        id: MsgId,
        data: &[u8],
        depth: usize,
    ) -> Result<Map<String, Value>, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let msg = self.schema.msg(id);
        let mut slots: Vec<Slot> = msg.fields.iter().map(|_| Slot::Empty).collect();
        let mut r = Reader::new(data);
        while !r.is_empty() {
            let (number, wv) = r.field()?;
            // Unknown fields are skipped, as Go's generated unmarshallers do.
            let Some((idx, field)) = msg.field(number) else {
                continue;
            };
            let slot = &mut slots[idx];
            match field.ty {
                FieldType::Map(key_ty, val_ty) => {
                    let WireValue::Len(entry) = wv else {
                        return Err(mismatch(&msg.name, &field.json));
                    };
                    let (k, v) = self.map_entry(key_ty, val_ty, entry, depth)?;
                    if !matches!(slot, Slot::Map(_)) {
                        *slot = Slot::Map(BTreeMap::new());
                    }
                    if let Slot::Map(m) = slot {
                        m.insert(k, v);
                    }
                }
                FieldType::Elem(Elem::Message(mid)) => {
                    let WireValue::Len(b) = wv else {
                        return Err(mismatch(&msg.name, &field.json));
                    };
                    if field.repeated {
                        let v = self.message_value(mid, b, depth + 1)?;
                        match slot {
                            Slot::List(l) => l.push(v),
                            _ => *slot = Slot::List(vec![v]),
                        }
                    } else {
                        match slot {
                            Slot::Message(parts) => parts.push(b),
                            _ => *slot = Slot::Message(vec![b]),
                        }
                    }
                }
                FieldType::Elem(Elem::Scalar(s)) => {
                    if field.repeated {
                        if !matches!(slot, Slot::List(_)) {
                            *slot = Slot::List(Vec::new());
                        }
                        let Slot::List(list) = slot else { continue };
                        match (s, wv) {
                            (Scalar::String | Scalar::Bytes, _)
                            | (_, WireValue::Varint(_) | WireValue::Fixed64(_)) => {
                                let v = scalar(s, wv)?
                                    .ok_or_else(|| mismatch(&msg.name, &field.json))?;
                                list.push(v);
                            }
                            (_, WireValue::Len(b)) => packed(s, b, list)?,
                            _ => return Err(mismatch(&msg.name, &field.json)),
                        }
                    } else {
                        let v = scalar(s, wv)?.ok_or_else(|| mismatch(&msg.name, &field.json))?;
                        *slot = Slot::Scalar(v);
                    }
                }
            }
        }
        self.assemble(id, slots, depth)
    }

    fn map_entry(
        &self,
        key_ty: Scalar,
        val_ty: Elem,
        entry: &[u8],
        depth: usize,
    ) -> Result<(String, Value), DecodeError> {
        let mut key = zero_scalar(key_ty);
        let mut val: Option<Value> = None;
        let mut r = Reader::new(entry);
        while !r.is_empty() {
            let (n, wv) = r.field()?;
            let bad = || DecodeError::Malformed("map entry: unexpected wire type".into());
            match n {
                1 => key = scalar(key_ty, wv)?.ok_or_else(bad)?,
                2 => {
                    val = Some(match val_ty {
                        Elem::Scalar(s) => scalar(s, wv)?.ok_or_else(bad)?,
                        Elem::Message(mid) => match wv {
                            WireValue::Len(b) => self.message_value(mid, b, depth + 1)?,
                            _ => return Err(bad()),
                        },
                    })
                }
                _ => {}
            }
        }
        let val = match (val, val_ty) {
            (Some(v), _) => v,
            (None, Elem::Scalar(s)) => zero_scalar(s),
            (None, Elem::Message(mid)) => self.message_value(mid, &[], depth + 1)?,
        };
        let key = match key {
            Value::String(s) => s,
            other => other.to_string(),
        };
        Ok((key, val))
    }

    /// Applies Go JSON presence rules and produces the object in schema
    /// (= Go struct) order.
    fn assemble(
        &self,
        id: MsgId,
        slots: Vec<Slot>,
        depth: usize,
    ) -> Result<Map<String, Value>, DecodeError> {
        let msg = self.schema.msg(id);
        let mut out = Map::new();
        for (field, slot) in msg.fields.iter().zip(slots) {
            let value = match slot {
                Slot::List(l) => (!l.is_empty()).then_some(Value::Array(l)),
                Slot::Map(m) => (!m.is_empty()).then(|| Value::Object(m.into_iter().collect())),
                Slot::Scalar(v) => match field.presence {
                    Presence::OmitEmpty if is_zero(&v) => None,
                    _ => Some(v),
                },
                Slot::Message(parts) => {
                    let FieldType::Elem(Elem::Message(mid)) = field.ty else {
                        continue;
                    };
                    let data = parts.concat();
                    self.present_message(field.presence, mid, &data, depth)?
                }
                Slot::Empty => match (field.presence, field.ty, field.repeated) {
                    (Presence::Pointer, _, _) | (_, FieldType::Map(..), _) | (_, _, true) => None,
                    // Inline scalars are rejected when the schema loads.
                    (
                        Presence::OmitEmpty | Presence::Inline,
                        FieldType::Elem(Elem::Scalar(_)),
                        _,
                    ) => None,
                    (Presence::Required, FieldType::Elem(Elem::Scalar(s)), _) => {
                        Some(zero_scalar(s))
                    }
                    // A Go value struct is printed even when never set.
                    (_, FieldType::Elem(Elem::Message(mid)), _) => {
                        self.present_message(field.presence, mid, &[], depth)?
                    }
                },
            };
            match (value, field.presence) {
                (Some(Value::Object(inner)), Presence::Inline) => out.extend(inner),
                (Some(v), Presence::Inline) => {
                    return Err(DecodeError::Malformed(format!(
                        "{}: inline field decoded to non-object {v}",
                        msg.name
                    )))
                }
                (Some(v), _) => {
                    out.insert(field.json.clone(), v);
                }
                (None, _) => {}
            }
        }
        Ok(out)
    }

    /// JSON for a singular message field, or None when Go would omit it.
    fn present_message(
        &self,
        presence: Presence,
        mid: MsgId,
        data: &[u8],
        depth: usize,
    ) -> Result<Option<Value>, DecodeError> {
        let v = self.message_value(mid, data, depth + 1)?;
        // Named slice types behave like slices: omitempty drops them when empty.
        let is_slice = self.schema.msg(mid).special == Special::Slice;
        if is_slice && presence != Presence::Pointer && is_zero(&v) {
            return Ok(None);
        }
        Ok(Some(v))
    }
}

/// RawExtension / FieldsV1 payload: JSON as-is, or a nested protobuf object.
fn raw_json(raw: &[u8], depth: usize) -> Result<Value, DecodeError> {
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(crate::MAGIC) {
        return crate::decode_envelope(raw, "", "", depth + 1);
    }
    serde_json::from_slice(raw)
        .map_err(|e| DecodeError::Malformed(format!("embedded raw object is not JSON: {e}")))
}

/// Used for the envelope's TypeMeta where wire type must be length-delimited.
pub fn expect_len<'a>(v: WireValue<'a>, what: &str) -> Result<&'a [u8], DecodeError> {
    match v {
        WireValue::Len(b) => Ok(b),
        _ => Err(DecodeError::Malformed(format!(
            "{what}: expected length-delimited field"
        ))),
    }
}
