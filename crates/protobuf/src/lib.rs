//! Kubernetes protobuf wire support (`application/vnd.kubernetes.protobuf`).
//!
//! kubectl 1.32+ sends typed writes as protobuf: the 4-byte magic `k8s\0`
//! followed by a `runtime.Unknown` envelope whose `raw` field holds the
//! object's message. [`decode_object`] turns such a body into the object's
//! ordinary JSON form; [`encode_object`] does the reverse.
//!
//! Nothing here is written per kind: `src/schema_generated.txt` is a table of
//! every message in upstream's `generated.proto` files (kubernetes/api and
//! kubernetes/apimachinery, 1.33), annotated with the JSON facts from the Go
//! struct tags next to them (JSON name, omitempty, pointer, inline) and with
//! the kinds each group/version registers. `examples/gen_schema` regenerates
//! it; see README.md.

mod decode;
mod encode;
mod schema;
mod special;
mod wire;

use serde_json::{Map, Value};

pub use encode::{encode_object, encode_object_as, EncodeError};

/// Prefix of every Kubernetes protobuf body.
pub const MAGIC: &[u8] = b"k8s\0";

/// Content type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("protobuf body does not start with the k8s magic prefix")]
    MissingMagic,
    #[error("protobuf body is truncated")]
    Truncated,
    #[error("malformed protobuf: {0}")]
    Malformed(String),
    #[error("no protobuf schema for apiVersion {api_version:?}, kind {kind:?}")]
    UnknownType { api_version: String, kind: String },
    #[error("unsupported protobuf content encoding {0:?}")]
    UnsupportedEncoding(String),
    #[error("protobuf message nested too deeply")]
    TooDeep,
    #[error("embedded protobuf schema is broken: {0}")]
    Schema(String),
}

/// Decode an envelope body into the object's JSON, with "apiVersion" and "kind" set from the
/// envelope's TypeMeta (or the given fallbacks when the envelope leaves them empty).
pub fn decode_object(
    body: &[u8],
    fallback_api_version: &str,
    fallback_kind: &str,
) -> Result<Value, DecodeError> {
    decode_envelope(body, fallback_api_version, fallback_kind, 0)
}

/// The `runtime.Unknown` envelope's fields.
#[derive(Default)]
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn parse_envelope(data: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    let mut env = Envelope::default();
    let mut r = wire::Reader::new(data);
    while !r.is_empty() {
        let (n, v) = r.field()?;
        match n {
            1 => {
                let mut tm = wire::Reader::new(decode::expect_len(v, "Unknown.typeMeta")?);
                while !tm.is_empty() {
                    let (tn, tv) = tm.field()?;
                    match tn {
                        1 => env.api_version = text(decode::expect_len(tv, "TypeMeta.apiVersion")?),
                        2 => env.kind = text(decode::expect_len(tv, "TypeMeta.kind")?),
                        _ => {}
                    }
                }
            }
            2 => env.raw = decode::expect_len(v, "Unknown.raw")?,
            3 => env.content_encoding = text(decode::expect_len(v, "Unknown.contentEncoding")?),
            4 => env.content_type = text(decode::expect_len(v, "Unknown.contentType")?),
            _ => {}
        }
    }
    Ok(env)
}

pub(crate) fn decode_envelope(
    body: &[u8],
    fallback_api_version: &str,
    fallback_kind: &str,
    depth: usize,
) -> Result<Value, DecodeError> {
    let data = body.strip_prefix(MAGIC).ok_or(DecodeError::MissingMagic)?;
    let env = parse_envelope(data)?;
    if !env.content_encoding.is_empty() {
        return Err(DecodeError::UnsupportedEncoding(env.content_encoding));
    }
    let pick = |s: String, fallback: &str| {
        if s.is_empty() {
            fallback.to_string()
        } else {
            s
        }
    };
    let api_version = pick(env.api_version, fallback_api_version);
    let kind = pick(env.kind, fallback_kind);

    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(api_version.clone()));
    out.insert("kind".into(), Value::String(kind.clone()));

    // An envelope may carry a JSON payload (contentType says so); take it as is.
    if env.content_type.contains("json") {
        let obj: Value = serde_json::from_slice(env.raw)
            .map_err(|e| DecodeError::Malformed(format!("JSON payload in envelope: {e}")))?;
        let Value::Object(obj) = obj else {
            return Err(DecodeError::Malformed(
                "JSON payload is not an object".into(),
            ));
        };
        for (k, v) in obj {
            if k != "apiVersion" && k != "kind" {
                out.insert(k, v);
            }
        }
        return Ok(Value::Object(out));
    }

    let schema = schema::schema().map_err(DecodeError::Schema)?;
    let id = schema
        .kind(&api_version, &kind)
        .ok_or(DecodeError::UnknownType { api_version, kind })?;
    let decoder = decode::Decoder { schema };
    out.extend(decoder.message_object(id, env.raw, depth)?);
    Ok(Value::Object(out))
}

/// Whether the embedded schema knows how to encode/decode this kind.
pub fn supports(api_version: &str, kind: &str) -> bool {
    schema::schema().is_ok_and(|s| s.kind(api_version, kind).is_some())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_roundtrip;
