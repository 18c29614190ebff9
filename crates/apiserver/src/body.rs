//! Request bodies: JSON, YAML and Kubernetes protobuf, each decoded to the object's JSON.

use crate::status::{ApiError, ApiResult};
use serde_json::Value;

pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub fn decode_object(
    bytes: &[u8],
    content_type: &str,
    api_version: &str,
    kind: &str,
) -> ApiResult<Value> {
    let value: Value = match content_type {
        "application/json" | "" | "*/*" => serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("json: {e}")))?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            let text = std::str::from_utf8(bytes)
                .map_err(|e| ApiError::bad_request(format!("yaml: {e}")))?;
            serde_saphyr::from_str(text).map_err(|e| ApiError::bad_request(format!("yaml: {e}")))?
        }
        "application/vnd.kubernetes.protobuf" => {
            rkube_protobuf::decode_object(bytes, api_version, kind)
                .map_err(|e| ApiError::bad_request(format!("protobuf: {e}")))?
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "Object '{}' is not a JSON object",
            value.get("kind").and_then(Value::as_str).unwrap_or("")
        )));
    }
    Ok(value)
}

/// Checks (and fills in, when absent) apiVersion and kind against what the URL serves.
pub fn check_type(obj: &mut Value, api_version: &str, kind: &str) -> ApiResult<()> {
    let have_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let have_kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if !have_kind.is_empty() && have_kind != kind {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; json parse error: kind {have_kind} does not match {kind}"
        )));
    }
    if !have_version.is_empty() && have_version != api_version {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({have_version}) does not match the expected API version ({api_version})"
        )));
    }
    obj["apiVersion"] = Value::String(api_version.to_string());
    obj["kind"] = Value::String(kind.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_errors() {
        let v = decode_object(
            br#"{"kind":"ConfigMap"}"#,
            "application/json",
            "v1",
            "ConfigMap",
        )
        .unwrap();
        assert_eq!(v["kind"], "ConfigMap");
        let y = decode_object(
            b"kind: ConfigMap\ndata:\n  a: 'yes'\n",
            "application/yaml",
            "v1",
            "ConfigMap",
        )
        .unwrap();
        assert_eq!(y["data"]["a"], "yes");
        assert_eq!(
            decode_object(b"{nope", "application/json", "v1", "X")
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            decode_object(b"[1]", "application/json", "v1", "X")
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            decode_object(b"x", "text/csv", "v1", "X").unwrap_err().code,
            415
        );
        let mut o = serde_json::json!({"kind": "Pod"});
        assert_eq!(check_type(&mut o, "v1", "ConfigMap").unwrap_err().code, 400);
        let mut o = serde_json::json!({});
        check_type(&mut o, "apps/v1", "Deployment").unwrap();
        assert_eq!(o["apiVersion"], "apps/v1");
    }
}
