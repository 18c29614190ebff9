//! Service-account tokens: the TokenRequest API (`serviceaccounts/<name>/token`) and the
//! authenticator for the JWTs it issues. Tokens are ES256 JWTs signed with a key kept in
//! the PKI directory, so they stay valid across restarts; they are bound to the service
//! account's uid (and a pod's, when asked) and stop working when that object is gone.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use serde_json::{json, Value};

use crate::auth::User;
use crate::pki::PkiError;
use crate::request::Target;
use crate::state::Api;
use crate::status::{ApiError, ApiResult};

/// The issuer and the API server's own audience, as upstream defaults them.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const DEFAULT_EXPIRATION: i64 = 3600;
const MIN_EXPIRATION: i64 = 600;
const MAX_EXPIRATION: i64 = 2 << 32;

pub struct TokenSigner {
    key: EcdsaKeyPair,
    public: Vec<u8>,
    kid: String,
    rng: SystemRandom,
}

impl TokenSigner {
    /// Loads `sa.key` from the PKI directory, creating it on first start.
    pub fn load_or_create(dir: &Path) -> Result<Self, PkiError> {
        let path = dir.join("sa.key");
        let pem = match std::fs::read_to_string(&path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pem = rcgen::KeyPair::generate()?.serialize_pem();
                crate::pki::write_private(&path, &pem)?;
                pem
            }
            Err(source) => return Err(PkiError::Io { path, source }),
        };
        let der = rcgen::KeyPair::from_pem(&pem)?.serialize_der();
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &der,
            &rng,
        )
        .map_err(|e| PkiError::Verifier(format!("service-account key {}: {e}", path.display())))?;
        use ring::signature::KeyPair;
        let public = key.public_key().as_ref().to_vec();
        let kid = URL_SAFE_NO_PAD
            .encode(&ring::digest::digest(&ring::digest::SHA256, &public).as_ref()[..16]);
        Ok(TokenSigner {
            key,
            public,
            kid,
            rng,
        })
    }

    pub fn sign(&self, claims: &Value) -> ApiResult<String> {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let text = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&self.rng, text.as_bytes())
            .map_err(|e| ApiError::internal(format!("signing token: {e}")))?;
        Ok(format!("{text}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }

    /// The claims of a token this server signed, if the signature holds.
    pub fn verify(&self, token: &str) -> Option<Value> {
        let (signed, sig) = token.rsplit_once('.')?;
        let (_, payload) = signed.split_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.public)
            .verify(signed.as_bytes(), &sig)
            .ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }
}

fn uid_of(api: &Api, plural: &str, namespace: Option<&str>, name: &str) -> Option<String> {
    let res = rkube_api::find_resource("", "v1", plural)?;
    let obj = api.cache.get(&res.key(namespace, name))?;
    obj.value()
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A bearer token that is one of our service-account JWTs, still valid, for the API
/// server's audience, whose service account (and bound object) still exist.
pub fn authenticate(api: &Api, token: &str) -> Option<User> {
    let claims = api.signer.verify(token)?;
    let now = chrono::Utc::now().timestamp();
    if claims.get("exp").and_then(Value::as_i64)? <= now
        || claims.get("nbf").and_then(Value::as_i64).unwrap_or(0) > now + 60
    {
        return None;
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::Array(a)) => a.iter().any(|a| a.as_str() == Some(ISSUER)),
        Some(Value::String(a)) => a == ISSUER,
        _ => false,
    };
    if !audience_ok {
        return None;
    }
    let k8s = claims.get("kubernetes.io")?;
    let ns = k8s.get("namespace")?.as_str()?;
    let sa = k8s.get("serviceaccount")?;
    let sa_name = sa.get("name")?.as_str()?;
    let sa_uid = sa.get("uid")?.as_str()?;
    if uid_of(api, "serviceaccounts", Some(ns), sa_name)? != sa_uid {
        return None;
    }
    for (field, plural) in [("pod", "pods"), ("secret", "secrets")] {
        if let Some(bound) = k8s.get(field) {
            let name = bound.get("name")?.as_str()?;
            if uid_of(api, plural, Some(ns), name).as_deref() != bound.get("uid")?.as_str() {
                return None;
            }
        }
    }
    Some(User {
        name: format!("system:serviceaccount:{ns}:{sa_name}"),
        uid: sa_uid.to_string(),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
    })
}

/// POST serviceaccounts/<name>/token.
pub async fn request(api: &Api, t: &Target, name: &str, ct: &str, body: &[u8]) -> ApiResult<Value> {
    let ns = t.namespace.as_deref().unwrap_or("default");
    api.sync().await;
    let sa_uid = uid_of(api, "serviceaccounts", Some(ns), name)
        .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
    let mut req = crate::body::decode_object(body, ct, "authentication.k8s.io/v1", "TokenRequest")?;
    let spec = req.get("spec").cloned().unwrap_or_else(|| json!({}));
    let expiration = spec
        .get("expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_EXPIRATION);
    if expiration < MIN_EXPIRATION {
        return Err(invalid(
            name,
            "spec.expirationSeconds",
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration > MAX_EXPIRATION {
        return Err(invalid(
            name,
            "spec.expirationSeconds",
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let audiences: Vec<Value> = match spec.get("audiences").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a.clone(),
        _ => vec![json!(ISSUER)],
    };
    let now = chrono::Utc::now().timestamp();
    let mut k8s = json!({
        "namespace": ns,
        "serviceaccount": {"name": name, "uid": sa_uid},
    });
    if let Some(bound) = spec.get("boundObjectRef").filter(|b| b.is_object()) {
        let kind = bound.get("kind").and_then(Value::as_str).unwrap_or("");
        let bound_name = bound.get("name").and_then(Value::as_str).unwrap_or("");
        let (field, plural) = match kind {
            "Pod" => ("pod", "pods"),
            "Secret" => ("secret", "secrets"),
            other => {
                return Err(invalid(
                    name,
                    "spec.boundObjectRef.kind",
                    &format!(
                        "Unsupported value: \"{other}\": supported values: \"Pod\", \"Secret\""
                    ),
                ))
            }
        };
        let uid = uid_of(api, plural, Some(ns), bound_name)
            .ok_or_else(|| ApiError::not_found("", plural, bound_name))?;
        if let Some(want) = bound
            .get("uid")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
        {
            if want != uid {
                return Err(ApiError::conflict("", plural, bound_name, &format!("the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated")));
            }
        }
        k8s[field] = json!({"name": bound_name, "uid": uid});
    }
    let claims = json!({
        "aud": audiences,
        "exp": now + expiration,
        "iat": now,
        "nbf": now,
        "iss": ISSUER,
        "jti": uuid::Uuid::new_v4().to_string(),
        "sub": format!("system:serviceaccount:{ns}:{name}"),
        "kubernetes.io": k8s,
    });
    let token = api.signer.sign(&claims)?;
    let expires = chrono::DateTime::from_timestamp(now + expiration, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let created = chrono::DateTime::from_timestamp(now, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    req["apiVersion"] = json!("authentication.k8s.io/v1");
    req["kind"] = json!("TokenRequest");
    req["metadata"] = json!({"name": name, "namespace": ns, "creationTimestamp": created});
    req["spec"] = json!({
        "audiences": audiences,
        "expirationSeconds": expiration,
        "boundObjectRef": spec.get("boundObjectRef").cloned().unwrap_or(Value::Null),
    });
    if req["spec"]["boundObjectRef"].is_null() {
        if let Some(s) = req["spec"].as_object_mut() {
            s.remove("boundObjectRef");
        }
    }
    req["status"] = json!({"token": token, "expirationTimestamp": expires});
    Ok(req)
}

fn invalid(name: &str, field: &str, message: &str) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!("TokenRequest.authentication.k8s.io \"{name}\" is invalid: {field}: Invalid value: {message}"),
    )
    .with_details(json!({
        "name": name, "group": "authentication.k8s.io", "kind": "TokenRequest",
        "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_and_tampering_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let signer = TokenSigner::load_or_create(dir.path()).unwrap();
        let token = signer.sign(&json!({"sub": "x", "exp": 5})).unwrap();
        assert_eq!(signer.verify(&token).unwrap()["sub"], "x");
        let (head, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = format!(
            "{head}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(r#"{"sub":"admin","exp":5}"#)
        );
        assert!(signer.verify(&forged).is_none());
        // The key is kept: a restarted server still accepts the token.
        let again = TokenSigner::load_or_create(dir.path()).unwrap();
        assert!(again.verify(&token).is_some());
        let other = TokenSigner::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(other.verify(&token).is_none());
    }
}
