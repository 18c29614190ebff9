//! The message table generated from upstream `generated.proto` + Go types
//! (see `examples/gen_schema`), parsed once on first use.

use std::collections::HashMap;
use std::sync::OnceLock;

const SCHEMA_TEXT: &str = include_str!("schema_generated.txt");

pub type MsgId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Double,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    Scalar(Scalar),
    Message(MsgId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Elem(Elem),
    Map(Scalar, Elem),
}

/// How the Go field behind a proto field shows up in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Go pointer: in JSON exactly when set.
    Pointer,
    /// Go value with `omitempty`: zero scalars are left out.
    OmitEmpty,
    /// Go value without `omitempty`: always in JSON, zero when unset.
    Required,
    /// Embedded struct tagged `json:",inline"`: its fields join the parent.
    Inline,
}

/// Messages whose JSON form is not an object of their proto fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    None,
    Time,
    MicroTime,
    Duration,
    Quantity,
    IntOrString,
    /// Holds raw JSON bytes in field 1 (RawExtension, FieldsV1).
    RawJson,
    /// Go named slice type; proto wraps it as `repeated items = 1`.
    Slice,
}

#[derive(Debug)]
pub struct Field {
    pub number: u32,
    pub json: String,
    pub ty: FieldType,
    pub repeated: bool,
    pub presence: Presence,
}

#[derive(Debug)]
pub struct Message {
    pub name: String,
    pub special: Special,
    pub fields: Vec<Field>,
}

impl Message {
    pub fn field(&self, number: u32) -> Option<(usize, &Field)> {
        self.fields
            .iter()
            .enumerate()
            .find(|(_, f)| f.number == number)
    }
}

#[derive(Debug)]
pub struct Schema {
    pub messages: Vec<Message>,
    by_name: HashMap<String, MsgId>,
    kinds: HashMap<(String, String), MsgId>,
}

const META_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

/// Kinds every group/version accepts (metav1.AddToGroupVersion registers the
/// option types and WatchEvent everywhere; Status & co. are unversioned).
const META_EVERYWHERE: &[&str] = &[
    "ListOptions",
    "GetOptions",
    "DeleteOptions",
    "CreateOptions",
    "UpdateOptions",
    "PatchOptions",
    "WatchEvent",
    "Status",
    "APIVersions",
    "APIGroupList",
    "APIGroup",
    "APIResourceList",
];

fn special_for(name: &str, slice: bool) -> Special {
    if slice {
        return Special::Slice;
    }
    match name {
        "k8s.io.apimachinery.pkg.apis.meta.v1.Time" => Special::Time,
        "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime" => Special::MicroTime,
        "k8s.io.apimachinery.pkg.apis.meta.v1.Duration" => Special::Duration,
        "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1"
        | "k8s.io.apimachinery.pkg.runtime.RawExtension" => Special::RawJson,
        "k8s.io.apimachinery.pkg.api.resource.Quantity"
        | "k8s.io.apimachinery.pkg.api.resource.QuantityValue" => Special::Quantity,
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => Special::IntOrString,
        _ => Special::None,
    }
}

fn parse_scalar(s: &str) -> Option<Scalar> {
    Some(match s {
        "string" => Scalar::String,
        "bytes" => Scalar::Bytes,
        "bool" => Scalar::Bool,
        "int32" => Scalar::Int32,
        "int64" => Scalar::Int64,
        "double" => Scalar::Double,
        _ => return None,
    })
}

/// Field types before message names are turned into ids.
enum RawElem<'a> {
    Scalar(Scalar),
    Message(&'a str),
}

fn parse_elem(s: &str) -> Option<RawElem<'_>> {
    match s.strip_prefix('.') {
        Some(name) => Some(RawElem::Message(name)),
        None => parse_scalar(s).map(RawElem::Scalar),
    }
}

impl Schema {
    pub fn parse(text: &str) -> Result<Schema, String> {
        struct Pending<'a> {
            number: u32,
            json: &'a str,
            key: Option<Scalar>,
            elem: RawElem<'a>,
            repeated: bool,
            presence: Presence,
        }
        let mut raw: Vec<(String, Special, Vec<Pending>)> = Vec::new();
        let mut kinds_raw = Vec::new();
        for (ln, line) in text.lines().enumerate() {
            let bad = || format!("schema line {}: {line:?}", ln + 1);
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                [] => {}
                [c, ..] if c.starts_with('#') => {}
                ["M", name, rest @ ..] => {
                    let slice = rest.first() == Some(&"slice");
                    raw.push((name.to_string(), special_for(name, slice), Vec::new()));
                }
                ["F", num, json, ty, rep, pres] => {
                    let (key, elem) = match ty.strip_prefix("map:") {
                        Some(kv) => {
                            let (k, v) = kv.split_once(':').ok_or_else(bad)?;
                            (
                                Some(parse_scalar(k).ok_or_else(bad)?),
                                parse_elem(v).ok_or_else(bad)?,
                            )
                        }
                        None => (None, parse_elem(ty).ok_or_else(bad)?),
                    };
                    let presence = match *pres {
                        "p" => Presence::Pointer,
                        "o" => Presence::OmitEmpty,
                        "r" => Presence::Required,
                        "i" => Presence::Inline,
                        _ => return Err(bad()),
                    };
                    let field = Pending {
                        number: num.parse().map_err(|_| bad())?,
                        json,
                        key,
                        elem,
                        repeated: *rep == "*",
                        presence,
                    };
                    raw.last_mut().ok_or_else(bad)?.2.push(field);
                }
                ["K", api_version, kind, msg] => kinds_raw.push((*api_version, *kind, *msg)),
                _ => return Err(bad()),
            }
        }
        let by_name: HashMap<String, MsgId> = raw
            .iter()
            .enumerate()
            .map(|(i, m)| (m.0.clone(), i))
            .collect();
        let resolve = |e: &RawElem| -> Result<Elem, String> {
            match e {
                RawElem::Scalar(s) => Ok(Elem::Scalar(*s)),
                RawElem::Message(n) => by_name
                    .get(*n)
                    .map(|id| Elem::Message(*id))
                    .ok_or_else(|| format!("schema refers to unknown message {n}")),
            }
        };
        let mut messages = Vec::with_capacity(raw.len());
        for (name, special, pending) in &raw {
            let mut fields = Vec::with_capacity(pending.len());
            for p in pending {
                let elem = resolve(&p.elem)?;
                let ty = match p.key {
                    Some(k) => FieldType::Map(k, elem),
                    None => FieldType::Elem(elem),
                };
                if p.presence == Presence::Inline
                    && !matches!(ty, FieldType::Elem(Elem::Message(_)))
                {
                    return Err(format!(
                        "{name}: inline field {} is not a message",
                        p.number
                    ));
                }
                fields.push(Field {
                    number: p.number,
                    json: p.json.to_string(),
                    ty,
                    repeated: p.repeated,
                    presence: p.presence,
                });
            }
            messages.push(Message {
                name: name.clone(),
                special: *special,
                fields,
            });
        }
        let mut kinds = HashMap::new();
        for (av, kind, msg) in kinds_raw {
            let id = by_name
                .get(msg)
                .ok_or_else(|| format!("kind {av} {kind}: no message {msg}"))?;
            kinds.insert((av.to_string(), kind.to_string()), *id);
        }
        Ok(Schema {
            messages,
            by_name,
            kinds,
        })
    }

    pub fn message_id(&self, name: &str) -> Option<MsgId> {
        self.by_name.get(name).copied()
    }

    pub fn msg(&self, id: MsgId) -> &Message {
        &self.messages[id]
    }

    /// The message that encodes `kind` under `api_version`, if any.
    pub fn kind(&self, api_version: &str, kind: &str) -> Option<MsgId> {
        if let Some(id) = self.kinds.get(&(api_version.to_string(), kind.to_string())) {
            return Some(*id);
        }
        if META_EVERYWHERE.contains(&kind) {
            return self.message_id(&format!("{META_V1}.{kind}"));
        }
        None
    }
}

static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();

/// The embedded schema. It is fixed at build time, so a failure here is a
/// build defect; callers still get an error rather than a panic.
pub fn schema() -> Result<&'static Schema, String> {
    SCHEMA
        .get_or_init(|| Schema::parse(SCHEMA_TEXT))
        .as_ref()
        .map_err(Clone::clone)
}
