//! Reading stored object JSON without building a tree: the watch cache needs only a
//! few values of every written object (labels, selectable fields, deletion state) and
//! its bytes with the revision as resourceVersion. Parsing each write into a
//! `serde_json::Value` and serialising it again was a fifth of a binding's cost.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// The dotted paths to pick out of objects, as a tree of keys.
#[derive(Debug, Default)]
pub struct Paths {
    children: Vec<(String, Paths)>,
    /// Index into the picked values when the path ends here.
    leaf: Option<usize>,
    count: usize,
}

impl Paths {
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> Self {
        let mut root = Paths::default();
        for (i, path) in paths.into_iter().enumerate() {
            let mut node = &mut root;
            for part in path.split('.') {
                let at = match node.children.iter().position(|(k, _)| k == part) {
                    Some(at) => at,
                    None => {
                        node.children.push((part.to_string(), Paths::default()));
                        node.children.len() - 1
                    }
                };
                node = &mut node.children[at].1;
            }
            node.leaf = Some(i);
            root.count = i + 1;
        }
        root
    }

    /// The value at every path (None where absent), or None if `json` is not an object.
    pub fn pick(&self, json: &[u8]) -> Option<Vec<Option<Value>>> {
        let mut out = vec![None; self.count];
        let mut de = serde_json::Deserializer::from_slice(json);
        Pick {
            node: self,
            out: &mut out,
        }
        .deserialize(&mut de)
        .ok()?;
        de.end().ok()?;
        Some(out)
    }
}

struct Pick<'a> {
    node: &'a Paths,
    out: &'a mut Vec<Option<Value>>,
}

impl<'de> DeserializeSeed<'de> for Pick<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// Which child of the current node a key names, compared without allocating.
struct Key<'a>(&'a Paths);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.children.iter().position(|(k, _)| k == v))
    }
}

impl<'de> Visitor<'de> for Pick<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(child) = map.next_key_seed(Key(self.node))? {
            match child.map(|i| &self.node.children[i].1) {
                Some(node) => match node.leaf {
                    Some(slot) => self.out[slot] = Some(map.next_value()?),
                    None => map.next_value_seed(Pick {
                        node,
                        out: &mut *self.out,
                    })?,
                },
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    // A path through something other than an object finds nothing.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// `json` with `"resourceVersion":"<rv>"` added as the first member of its top-level
/// `metadata` object; None when there is no such object (or the JSON is malformed).
/// The caller makes sure metadata has no resourceVersion yet.
pub fn with_resource_version(json: &[u8], rv: i64) -> Option<Vec<u8>> {
    let (at, empty) = metadata_body(json)?;
    let member = format!(
        "\"resourceVersion\":\"{rv}\"{}",
        if empty { "" } else { "," }
    );
    let mut out = Vec::with_capacity(json.len() + member.len());
    out.extend_from_slice(&json[..at]);
    out.extend_from_slice(member.as_bytes());
    out.extend_from_slice(&json[at..]);
    Some(out)
}

fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while json.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// Index just past the closing quote of the string opening at `i`.
fn skip_string(json: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        match json.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// Index just past the value starting at `i`.
fn skip_value(json: &[u8], i: usize) -> Option<usize> {
    match json.get(i)? {
        b'"' => skip_string(json, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match json.get(j)? {
                    b'"' => {
                        j = skip_string(json, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while json
                .get(j)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// Where the members of the top-level "metadata" object start, and whether it has none.
fn metadata_body(json: &[u8]) -> Option<(usize, bool)> {
    let mut i = skip_ws(json, 0);
    if json.get(i)? != &b'{' {
        return None;
    }
    i = skip_ws(json, i + 1);
    if json.get(i)? == &b'}' {
        return None;
    }
    loop {
        if json.get(i)? != &b'"' {
            return None;
        }
        let end = skip_string(json, i)?;
        let key = &json[i + 1..end - 1];
        i = skip_ws(json, end);
        if json.get(i)? != &b':' {
            return None;
        }
        i = skip_ws(json, i + 1);
        if key == b"metadata" {
            if json.get(i)? != &b'{' {
                return None;
            }
            let next = skip_ws(json, i + 1);
            return Some((i + 1, json.get(next)? == &b'}'));
        }
        i = skip_ws(json, skip_value(json, i)?);
        match json.get(i)? {
            b',' => i = skip_ws(json, i + 1),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn picks_paths_without_a_tree() {
        let paths = Paths::new([
            "metadata.name",
            "metadata.labels",
            "spec.nodeName",
            "status.phase",
            "spec.missing",
            "metadata.deletionTimestamp",
        ]);
        let obj =
            br#"{"kind":"Pod","spec":{"containers":[{"name":"c","image":"i"}],"nodeName":"n1"},
            "metadata":{"name":"p","labels":{"a":"b"},"annotations":{"x":"{\"}"}},"status":"odd"}"#;
        let got = paths.pick(obj).unwrap();
        assert_eq!(got[0], Some(json!("p")));
        assert_eq!(got[1], Some(json!({"a": "b"})));
        assert_eq!(got[2], Some(json!("n1")));
        assert_eq!(
            (got[3].clone(), got[4].clone(), got[5].clone()),
            (None, None, None)
        );
        assert!(paths.pick(b"{\"a\":").is_none());
        assert!(paths.pick(b"[1,2]").is_some());
    }

    #[test]
    fn splices_the_resource_version_into_metadata() {
        for (input, want) in [
            (
                r#"{"kind":"Pod","metadata":{"name":"p"},"spec":{}}"#,
                json!({"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "7"}, "spec": {}}),
            ),
            (
                r#" { "a" : [1, {"metadata": 2}], "b": "x\"y" , "metadata" : { } } "#,
                json!({"a": [1, {"metadata": 2}], "b": "x\"y", "metadata": {"resourceVersion": "7"}}),
            ),
            (
                r#"{"n":-1.5e3,"t":true,"metadata":{"labels":{"k":"}"}}}"#,
                json!({"n": -1.5e3, "t": true, "metadata": {"labels": {"k": "}"}, "resourceVersion": "7"}}),
            ),
        ] {
            let out = with_resource_version(input.as_bytes(), 7).unwrap();
            let parsed: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(parsed, want, "{input}");
        }
        for bad in [
            r#"{"kind":"Pod"}"#,
            r#"{"metadata":"x"}"#,
            "[]",
            r#"{"a":"#,
            "",
        ] {
            assert!(with_resource_version(bad.as_bytes(), 7).is_none(), "{bad}");
        }
    }
}
