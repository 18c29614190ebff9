//! The one generic HTTP handler: authenticate, route by path, dispatch by verb.

use crate::auth::{PeerIdentity, User};
use crate::binding;
use crate::body::MAX_BODY;
use crate::discovery;
use crate::read;
use crate::request::{
    content_type, flag, parse_query, parse_target, response_shape, split_group_version, Query,
    Shape, Target,
};
use crate::state::Api;
use crate::status::{ApiError, ApiResult};
use crate::subresources;
use crate::watch;
use crate::write::{self, Part, Written};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;

/// A gnostic `openapi_v2.Document` with `swagger: "2.0"` and an `info` block only.
fn openapi_v2_stub() -> Vec<u8> {
    fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![tag, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }
    let mut info = field(0x0a, b"Kubernetes");
    info.extend(field(0x12, b"v1.33.0"));
    let mut doc = field(0x0a, b"2.0");
    doc.extend(field(0x12, &info));
    doc
}

fn json_response(code: StatusCode, body: Vec<u8>) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn json_value(code: StatusCode, v: &Value) -> Response {
    json_response(code, serde_json::to_vec(v).unwrap_or_default())
}

fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(v) = header::HeaderValue::from_str(&text) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

fn authenticate(api: &Api, headers: &HeaderMap, peer: Option<&PeerIdentity>) -> Option<User> {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let token = token.trim();
        return api
            .tokens
            .authenticate(token)
            .or_else(|| crate::tokens::authenticate(api, token));
    }
    peer.and_then(|p| p.0.clone())
}

async fn read_body(body: Body) -> ApiResult<Bytes> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::too_large())
        }
        Err(e) => Err(ApiError::bad_request(format!("reading request body: {e}"))),
    }
}

pub async fn handle(api: Arc<Api>, req: Request<Body>) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let resp = match route(&api, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    tracing::debug!(%method, %path, status = resp.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
    resp
}

async fn route(api: &Arc<Api>, req: Request<Body>) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let q = parse_query(parts.uri.query());
    match path.as_str() {
        "/healthz" | "/livez" | "/readyz" => {
            return Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "ok",
            )
                .into_response())
        }
        "/version" | "/version/" => return Ok(json_value(StatusCode::OK, &discovery::version())),
        _ => {}
    }
    if authenticate(api, &parts.headers, parts.extensions.get::<PeerIdentity>()).is_none() {
        return Err(ApiError::unauthorized());
    }
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let trimmed = path.trim_end_matches('/');
    match trimmed {
        "/api" | "/apis" => {
            let core = trimmed == "/api";
            if let Some(v) = discovery::aggregated_version(&accept) {
                let body = serde_json::to_vec(&discovery::aggregated(core, v)).unwrap_or_default();
                return Ok((
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, discovery::aggregated_content_type(v))],
                    body,
                )
                    .into_response());
            }
            let doc = if core {
                discovery::api_versions()
            } else {
                discovery::api_group_list()
            };
            return Ok(json_value(StatusCode::OK, &doc));
        }
        // kubectl falls back to OpenAPI v2 (protobuf only) for what v3 does not cover,
        // such as `kind: List` files. A document without definitions makes it skip
        // client-side validation for those, as it does for kinds a server lacks; the server
        // still validates every object it receives.
        "/openapi/v2" => {
            return Ok((
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                )],
                openapi_v2_stub(),
            )
                .into_response());
        }
        "/openapi/v3" => {
            return Ok(json_response(
                StatusCode::OK,
                api.openapi().index().to_vec(),
            ));
        }
        "/metrics" => {
            let text = format!(
                "# TYPE rkube_store_revision gauge\nrkube_store_revision {}\n",
                api.store.current_revision()
            );
            return Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                text,
            )
                .into_response());
        }
        _ => {}
    }
    if let Some(gv) = trimmed.strip_prefix("/openapi/v3/") {
        let (doc, hash) = api
            .openapi()
            .document(gv)
            .ok_or_else(ApiError::not_found_path)?;
        let mut resp = json_response(StatusCode::OK, doc.to_vec());
        if let Ok(etag) = header::HeaderValue::from_str(&format!("\"{hash}\"")) {
            resp.headers_mut().insert(header::ETAG, etag);
        }
        if q.contains_key("hash") {
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("public, immutable"),
            );
        }
        return Ok(resp);
    }
    if let Some(group) = trimmed.strip_prefix("/apis/").filter(|g| !g.contains('/')) {
        return discovery::api_group(group)
            .map(|d| json_value(StatusCode::OK, &d))
            .ok_or_else(ApiError::not_found_path);
    }
    let Some((group, version, segs)) = split_group_version(trimmed) else {
        return Err(ApiError::not_found_path());
    };
    if segs.is_empty() {
        return discovery::resource_list(group, version)
            .map(|d| json_value(StatusCode::OK, &d))
            .ok_or_else(ApiError::not_found_path);
    }
    let target = parse_target(group, version, &segs)?;
    if crate::proxy::is_connect(&target) {
        return crate::proxy::serve(api, &target, &q, Request::from_parts(parts, body)).await;
    }
    let ct = content_type(&parts.headers);
    let shape = response_shape(&parts.headers);
    let body = read_body(body).await?;
    dispatch(api, &parts.method, &target, &q, &ct, shape, &body).await
}

fn written(w: Written, shape: Shape, t: &Target, q: &Query) -> Response {
    let code = if w.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let resp = match shape {
        Shape::Object => json_value(code, &w.object),
        _ => json_value(code, &read::shape_object(t.resource, &w.object, shape, q)),
    };
    with_warnings(resp, &w.warnings)
}

async fn dispatch(
    api: &Arc<Api>,
    method: &Method,
    t: &Target,
    q: &Query,
    ct: &str,
    shape: Shape,
    body: &[u8],
) -> ApiResult<Response> {
    let res = t.resource;
    let name = t.name.as_deref();
    match (t.subresource.as_deref(), name) {
        (None, None) => match *method {
            Method::GET if flag(q, "watch") => watch_response(api, t, q, shape),
            Method::GET => Ok(json_response(
                StatusCode::OK,
                read::list(api, t, q, shape).await?,
            )),
            Method::POST if res.plural == "bindings" => Ok(json_value(
                StatusCode::CREATED,
                &binding::bind(api, t, None, q, ct, body).await?,
            )),
            Method::POST => Ok(written(
                write::create(api, t, q, ct, body).await?,
                shape,
                t,
                q,
            )),
            Method::DELETE => delete_collection(api, t, q, body).await,
            _ => Err(ApiError::method_not_allowed()),
        },
        (None, Some(name)) => match *method {
            Method::GET if flag(q, "watch") => watch_response(api, t, q, shape),
            Method::GET => Ok(json_response(
                StatusCode::OK,
                read::get(api, t, name, q, shape).await?,
            )),
            Method::PUT => Ok(written(
                write::update(api, t, name, Part::Main, q, ct, body).await?,
                shape,
                t,
                q,
            )),
            Method::PATCH => Ok(written(
                write::patch(api, t, name, Part::Main, q, ct, body).await?,
                shape,
                t,
                q,
            )),
            Method::DELETE => {
                let opts = write::delete_options(q, body)?;
                let obj = write::delete(api, t, name, q, &opts).await?;
                Ok(json_value(
                    StatusCode::OK,
                    &read::shape_object(res, &obj, shape, q),
                ))
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some("status"), Some(name)) => match *method {
            Method::GET => Ok(json_response(
                StatusCode::OK,
                read::get(api, t, name, q, shape).await?,
            )),
            Method::PUT => Ok(written(
                write::update(api, t, name, Part::Status, q, ct, body).await?,
                shape,
                t,
                q,
            )),
            Method::PATCH => Ok(written(
                write::patch(api, t, name, Part::Status, q, ct, body).await?,
                shape,
                t,
                q,
            )),
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some("scale"), Some(name)) => match *method {
            Method::GET => Ok(json_value(
                StatusCode::OK,
                &subresources::get_scale(api, t, name).await?,
            )),
            Method::PUT => Ok(json_value(
                StatusCode::OK,
                &subresources::write_scale(api, t, name, q, ct, body, false).await?,
            )),
            Method::PATCH => Ok(json_value(
                StatusCode::OK,
                &subresources::write_scale(api, t, name, q, ct, body, true).await?,
            )),
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some("binding"), Some(name)) if *method == Method::POST => Ok(json_value(
            StatusCode::CREATED,
            &binding::bind(api, t, Some(name), q, ct, body).await?,
        )),
        (Some("token"), Some(name)) if *method == Method::POST => Ok(json_value(
            StatusCode::CREATED,
            &crate::tokens::request(api, t, name, ct, body).await?,
        )),
        (Some("eviction"), Some(name)) if *method == Method::POST => Ok(json_value(
            StatusCode::CREATED,
            &subresources::evict(api, t, name, q, ct, body).await?,
        )),
        (Some("finalize"), Some(name)) if *method == Method::PUT => {
            let new = crate::body::decode_object(body, ct, "v1", "Namespace")?;
            let finalizers = new
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or(Value::Array(vec![]));
            let obj = write::guaranteed_update(api, t, name, Part::Server, q, |old| {
                let mut o = old.clone();
                o["spec"]["finalizers"] = finalizers.clone();
                Ok(o)
            })
            .await?;
            Ok(json_value(StatusCode::OK, &obj))
        }
        (Some(sub), _) => Err(ApiError::new(
            501,
            "NotImplemented",
            format!("the {sub} subresource of {} is not served yet", res.plural),
        )),
    }
}

fn watch_response(api: &Arc<Api>, t: &Target, q: &Query, shape: Shape) -> ApiResult<Response> {
    let rx = watch::start(api, t, q, shape)?;
    // Frames already queued go out together: one write (and TLS record) for a burst.
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let first = rx.recv().await?;
        let mut burst: Option<Vec<u8>> = None;
        while let Ok(more) = rx.try_recv() {
            let buf = burst.get_or_insert_with(|| first.to_vec());
            buf.extend_from_slice(&more);
            if buf.len() > 256 * 1024 {
                break;
            }
        }
        let chunk = burst.map(Bytes::from).unwrap_or(first);
        Some((Ok::<_, std::io::Error>(chunk), rx))
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| ApiError::internal("building watch response").into_response()))
}

async fn delete_collection(
    api: &Arc<Api>,
    t: &Target,
    q: &Query,
    body: &[u8],
) -> ApiResult<Response> {
    let res = t.resource;
    let opts = write::delete_options(q, body)?;
    let filter = read::Filter::from_query(res, q, None)?;
    api.sync().await;
    let (objects, _) = api.cache.list(&res.key_prefix(t.namespace.as_deref()));
    let mut items = Vec::new();
    for (_, obj) in objects.iter().filter(|(_, o)| filter.matches(o)) {
        let name = obj.name();
        let ns = Some(obj.namespace().to_string()).filter(|n| !n.is_empty());
        let it = Target {
            namespace: ns,
            name: Some(name.to_string()),
            ..t.clone()
        };
        match write::delete(api, &it, name, q, &opts).await {
            Ok(o) => items.push(o),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let list = serde_json::json!({"kind": res.list_kind(), "apiVersion": res.api_version(), "metadata": {}, "items": items});
    Ok(json_value(StatusCode::OK, &list))
}
