//! Response bodies and the Kubernetes `Status` errors the node API answers with.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::mpsc;

/// A whole body, or one streamed from a channel (followed logs). The stream ends when the
/// sender is dropped; the sender sees the receiver gone once hyper drops the body.
#[derive(Debug)]
pub enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body {
    pub fn empty() -> Self {
        Body::Full(None)
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Stream(_) => SizeHint::default(),
        }
    }
}

fn reason(code: StatusCode) -> &'static str {
    match code.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        _ => "InternalError",
    }
}

/// The `metav1.Status` document for an error answer.
pub fn status_json(code: StatusCode, message: &str) -> String {
    serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason(code),
        "code": code.as_u16(),
    })
    .to_string()
}

fn build(code: StatusCode, content_type: &str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = code;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

pub fn error(code: StatusCode, message: impl AsRef<str>) -> Response<Body> {
    let body = status_json(code, message.as_ref());
    build(
        code,
        "application/json",
        Body::Full(Some(Bytes::from(body))),
    )
}

/// The answer to a SPDY upgrade we cannot accept: the error's status, with the headers
/// that tell the client which protocols we do speak.
pub fn upgrade_refused(e: &rkube_streaming::spdy::upgrade::UpgradeError) -> Response<Body> {
    let code = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = error(code, e.to_string());
    r.headers_mut().extend(e.response_headers());
    r
}

pub fn text(code: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    build(
        code,
        "text/plain; charset=utf-8",
        Body::Full(Some(body.into())),
    )
}

pub fn json(body: String) -> Response<Body> {
    build(
        StatusCode::OK,
        "application/json",
        Body::Full(Some(Bytes::from(body))),
    )
}

pub fn stream(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    build(StatusCode::OK, "text/plain", Body::Stream(rx))
}

/// `101 Switching Protocols` with the negotiated headers.
pub fn switching(headers: HeaderMap) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *r.headers_mut() = headers;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util_lite::collect;

    mod http_body_util_lite {
        use super::*;
        pub async fn collect(mut b: Body) -> Vec<u8> {
            let mut out = Vec::new();
            while let Some(f) = std::future::poll_fn(|cx| Pin::new(&mut b).poll_frame(cx)).await {
                if let Ok(d) = f.unwrap().into_data() {
                    out.extend_from_slice(&d);
                }
            }
            out
        }
    }

    #[test]
    fn status_has_kind_reason_and_code() {
        let v: serde_json::Value =
            serde_json::from_str(&status_json(StatusCode::NOT_FOUND, "pod does not exist"))
                .unwrap();
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["reason"], "NotFound");
        assert_eq!(v["code"], 404);
        assert_eq!(v["message"], "pod does not exist");
        let r = error(StatusCode::BAD_REQUEST, "x");
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()["content-type"], "application/json");
    }

    #[tokio::test]
    async fn streamed_body_ends_with_sender() {
        let (tx, rx) = mpsc::channel(4);
        tx.send(Bytes::from_static(b"a\n")).await.unwrap();
        tx.send(Bytes::from_static(b"b\n")).await.unwrap();
        drop(tx);
        assert_eq!(collect(Body::Stream(rx)).await, b"a\nb\n");
        assert_eq!(
            collect(Body::Full(Some(Bytes::from_static(b"ok")))).await,
            b"ok"
        );
    }
}
