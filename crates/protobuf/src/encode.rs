//! Kubernetes JSON → protobuf envelope, the inverse of `decode`.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::schema::{Elem, FieldType, MsgId, Presence, Scalar, Schema, Special};
use crate::special::{parse_duration, parse_time};
use crate::wire::Writer;
use crate::MAGIC;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("object to encode is not a JSON object")]
    NotAnObject,
    #[error("object has no apiVersion/kind")]
    MissingTypeMeta,
    #[error("no protobuf schema for apiVersion {api_version:?}, kind {kind:?}")]
    UnknownType { api_version: String, kind: String },
    #[error("{path}: {reason}")]
    InvalidValue { path: String, reason: String },
    #[error("embedded protobuf schema is broken: {0}")]
    Schema(String),
}

const MAX_DEPTH: usize = 100;

/// Encode a JSON object into a protobuf envelope body (magic + runtime.Unknown),
/// taking the type from the object's own apiVersion/kind.
pub fn encode_object(obj: &Value) -> Result<Vec<u8>, EncodeError> {
    let field = |k: &str| obj.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    match (field("apiVersion"), field("kind")) {
        (Some(av), Some(kind)) => encode_object_as(obj, av, kind),
        _ => Err(EncodeError::MissingTypeMeta),
    }
}

/// Encode a JSON object as the given type; its own apiVersion/kind are ignored.
pub fn encode_object_as(
    obj: &Value,
    api_version: &str,
    kind: &str,
) -> Result<Vec<u8>, EncodeError> {
    let map = obj.as_object().ok_or(EncodeError::NotAnObject)?;
    let schema = crate::schema::schema().map_err(EncodeError::Schema)?;
    let id = schema
        .kind(api_version, kind)
        .ok_or_else(|| EncodeError::UnknownType {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        })?;
    let enc = Encoder { schema };
    let mut raw = Writer::default();
    enc.object(id, map, kind, &mut raw, 0)?;

    let mut type_meta = Writer::default();
    type_meta.bytes_field(1, api_version.as_bytes());
    type_meta.bytes_field(2, kind.as_bytes());
    let mut env = Writer {
        buf: MAGIC.to_vec(),
    };
    env.bytes_field(1, &type_meta.buf);
    env.bytes_field(2, &raw.buf);
    // Go always writes these (empty) strings; matching keeps bodies identical.
    env.bytes_field(3, b"");
    env.bytes_field(4, b"");
    Ok(env.buf)
}

fn invalid(path: &str, reason: impl Into<String>) -> EncodeError {
    EncodeError::InvalidValue {
        path: path.to_string(),
        reason: reason.into(),
    }
}

struct Encoder<'s> {
    schema: &'s Schema,
}

impl Encoder<'_> {
    /// Writes the fields of message `id` taken from JSON object `obj`.
    fn object(
        &self,
        id: MsgId,
        obj: &Map<String, Value>,
        path: &str,
        w: &mut Writer,
        depth: usize,
    ) -> Result<(), EncodeError> {
        if depth > MAX_DEPTH {
            return Err(invalid(path, "nested too deeply"));
        }
        let msg = self.schema.msg(id);
        let mut order: Vec<usize> = (0..msg.fields.len()).collect();
        order.sort_by_key(|&i| msg.fields[i].number);
        for i in order {
            let field = &msg.fields[i];
            let num = field.number;
            if field.presence == Presence::Inline {
                // The inline struct's JSON fields live in this same object.
                if let FieldType::Elem(Elem::Message(mid)) = field.ty {
                    let mut sub = Writer::default();
                    self.object(mid, obj, path, &mut sub, depth + 1)?;
                    w.bytes_field(num, &sub.buf);
                }
                continue;
            }
            let Some(v) = obj.get(&field.json).filter(|v| !v.is_null()) else {
                continue;
            };
            let fpath = format!("{path}.{}", field.json);
            match field.ty {
                FieldType::Map(key_ty, val_ty) => {
                    let m = v
                        .as_object()
                        .ok_or_else(|| invalid(&fpath, "expected an object"))?;
                    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                    for (k, ev) in entries {
                        let mut entry = Writer::default();
                        if key_ty != Scalar::String {
                            return Err(invalid(&fpath, "only string map keys are supported"));
                        }
                        entry.bytes_field(1, k.as_bytes());
                        self.elem(val_ty, 2, ev, &format!("{fpath}[{k}]"), &mut entry, depth)?;
                        w.bytes_field(num, &entry.buf);
                    }
                }
                FieldType::Elem(elem) if field.repeated => {
                    let items = v
                        .as_array()
                        .ok_or_else(|| invalid(&fpath, "expected an array"))?;
                    for (n, item) in items.iter().enumerate() {
                        self.elem(elem, num, item, &format!("{fpath}[{n}]"), w, depth)?;
                    }
                }
                FieldType::Elem(elem) => self.elem(elem, num, v, &fpath, w, depth)?,
            }
        }
        Ok(())
    }

    fn elem(
        &self,
        elem: Elem,
        num: u32,
        v: &Value,
        path: &str,
        w: &mut Writer,
        depth: usize,
    ) -> Result<(), EncodeError> {
        match elem {
            Elem::Scalar(s) => scalar(s, num, v, path, w),
            Elem::Message(mid) => {
                let mut sub = Writer::default();
                self.message(mid, v, path, &mut sub, depth + 1)?;
                w.bytes_field(num, &sub.buf);
                Ok(())
            }
        }
    }

    /// Writes the body of message `id` for JSON value `v`.
    fn message(
        &self,
        id: MsgId,
        v: &Value,
        path: &str,
        w: &mut Writer,
        depth: usize,
    ) -> Result<(), EncodeError> {
        let msg = self.schema.msg(id);
        let time = |with_nanos: bool, w: &mut Writer| -> Result<(), EncodeError> {
            let s = v
                .as_str()
                .ok_or_else(|| invalid(path, "expected an RFC 3339 time string"))?;
            let (secs, nanos) =
                parse_time(s).ok_or_else(|| invalid(path, "invalid RFC 3339 time"))?;
            w.varint_field(1, secs as u64);
            // metav1.Time only keeps seconds; MicroTime keeps microseconds.
            let nanos = if with_nanos { nanos / 1000 * 1000 } else { 0 };
            w.varint_field(2, u64::from(nanos));
            Ok(())
        };
        match msg.special {
            Special::None => {
                let Some(obj) = v.as_object() else {
                    if v.is_null() {
                        return Ok(());
                    }
                    return Err(invalid(path, "expected an object"));
                };
                self.object(id, obj, path, w, depth)
            }
            Special::Slice => {
                let mut obj = Map::new();
                obj.insert("items".into(), v.clone());
                self.object(id, &obj, path, w, depth)
            }
            Special::Time if v.is_null() => Ok(()),
            Special::MicroTime if v.is_null() => Ok(()),
            Special::Time => time(false, w),
            Special::MicroTime => time(true, w),
            Special::Duration => {
                let s = v
                    .as_str()
                    .ok_or_else(|| invalid(path, "expected a duration string"))?;
                let n = parse_duration(s).ok_or_else(|| invalid(path, "invalid duration"))?;
                w.varint_field(1, n as u64);
                Ok(())
            }
            Special::Quantity => {
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err(invalid(path, "expected a quantity string or number")),
                };
                w.bytes_field(1, s.as_bytes());
                Ok(())
            }
            Special::IntOrString => {
                let (ty, int_val, str_val) =
                    match v {
                        Value::String(s) => (1u64, 0i64, s.as_str()),
                        Value::Number(n) => {
                            let i = n.as_i64().and_then(|i| i32::try_from(i).ok()).ok_or_else(
                                || invalid(path, "int-or-string number out of int32 range"),
                            )?;
                            (0, i64::from(i), "")
                        }
                        _ => return Err(invalid(path, "expected an integer or string")),
                    };
                w.varint_field(1, ty);
                w.varint_field(2, int_val as u64);
                w.bytes_field(3, str_val.as_bytes());
                Ok(())
            }
            Special::RawJson => {
                let raw = serde_json::to_vec(v).map_err(|e| invalid(path, e.to_string()))?;
                w.bytes_field(1, &raw);
                Ok(())
            }
        }
    }
}

fn scalar(s: Scalar, num: u32, v: &Value, path: &str, w: &mut Writer) -> Result<(), EncodeError> {
    let int = |lo: i64, hi: i64| -> Result<i64, EncodeError> {
        v.as_i64()
            .filter(|i| (lo..=hi).contains(i))
            .ok_or_else(|| invalid(path, "expected an integer in range"))
    };
    match s {
        Scalar::String => {
            let t = v
                .as_str()
                .ok_or_else(|| invalid(path, "expected a string"))?;
            w.bytes_field(num, t.as_bytes());
        }
        Scalar::Bytes => {
            let t = v
                .as_str()
                .ok_or_else(|| invalid(path, "expected a base64 string"))?;
            let data = base64::engine::general_purpose::STANDARD
                .decode(t)
                .map_err(|e| invalid(path, format!("invalid base64: {e}")))?;
            w.bytes_field(num, &data);
        }
        Scalar::Bool => {
            let b = v
                .as_bool()
                .ok_or_else(|| invalid(path, "expected a boolean"))?;
            w.varint_field(num, u64::from(b));
        }
        // Negative ints are sign-extended to ten bytes, as proto requires.
        Scalar::Int32 => w.varint_field(num, int(i64::from(i32::MIN), i64::from(i32::MAX))? as u64),
        Scalar::Int64 => w.varint_field(num, int(i64::MIN, i64::MAX)? as u64),
        Scalar::Double => {
            let f = v
                .as_f64()
                .ok_or_else(|| invalid(path, "expected a number"))?;
            w.double_field(num, f);
        }
    }
    Ok(())
}
