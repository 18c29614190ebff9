//! Which node-API endpoint a request path names, and the query string as the handlers read
//! it. Path layout follows upstream's kubelet server (`/exec/{ns}/{pod}[/{uid}]/{container}`).

use percent_decode::decode;

/// A pod addressed by a request; `uid` is the optional path segment upstream also accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Healthz,
    Pods,
    ContainerLogs { pod: PodRef, container: String },
    Exec { pod: PodRef, container: String },
    Attach { pod: PodRef, container: String },
    PortForward { pod: PodRef },
    NotFound,
}

impl Route {
    pub fn parse(path: &str) -> Route {
        let segs: Vec<String> = path
            .trim_start_matches('/')
            .trim_end_matches('/')
            .split('/')
            .map(decode)
            .collect();
        let pod = |ns: &str, name: &str, uid: Option<&str>| PodRef {
            namespace: ns.to_string(),
            name: name.to_string(),
            uid: uid.map(str::to_string),
        };
        let s: Vec<&str> = segs.iter().map(String::as_str).collect();
        if s.iter().skip(1).any(|p| p.is_empty()) {
            return Route::NotFound;
        }
        match s.as_slice() {
            ["healthz"] => Route::Healthz,
            ["pods"] => Route::Pods,
            ["containerLogs", ns, name, c] => Route::ContainerLogs {
                pod: pod(ns, name, None),
                container: c.to_string(),
            },
            ["exec", ns, name, c] => Route::Exec {
                pod: pod(ns, name, None),
                container: c.to_string(),
            },
            ["exec", ns, name, uid, c] => Route::Exec {
                pod: pod(ns, name, Some(uid)),
                container: c.to_string(),
            },
            ["attach", ns, name, c] => Route::Attach {
                pod: pod(ns, name, None),
                container: c.to_string(),
            },
            ["attach", ns, name, uid, c] => Route::Attach {
                pod: pod(ns, name, Some(uid)),
                container: c.to_string(),
            },
            ["portForward", ns, name] => Route::PortForward {
                pod: pod(ns, name, None),
            },
            ["portForward", ns, name, uid] => Route::PortForward {
                pod: pod(ns, name, Some(uid)),
            },
            _ => Route::NotFound,
        }
    }
}

/// Decoded query parameters in request order (repeated keys such as `command` kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key` (Go's `url.Values.Get`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Go's `strconv.ParseBool` spellings; absent or empty is false.
    pub fn flag(&self, key: &str) -> Result<bool, String> {
        match self.get(key).unwrap_or("") {
            "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            other => Err(format!("invalid value {other:?} for {key}: not a boolean")),
        }
    }

    /// The raw query string rebuilt (for handing to the streaming crate's flag parsers).
    pub fn encoded(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.0.iter())
            .finish()
    }
}

mod percent_decode {
    /// Percent-decodes one path segment (invalid escapes are kept literally).
    pub fn decode(seg: &str) -> String {
        let b = seg.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, name: &str, uid: Option<&str>) -> PodRef {
        PodRef {
            namespace: ns.into(),
            name: name.into(),
            uid: uid.map(Into::into),
        }
    }

    #[test]
    fn routes_follow_upstream_paths() {
        assert_eq!(Route::parse("/healthz"), Route::Healthz);
        assert_eq!(Route::parse("/pods/"), Route::Pods);
        assert_eq!(
            Route::parse("/containerLogs/default/web-1/app"),
            Route::ContainerLogs {
                pod: pod("default", "web-1", None),
                container: "app".into()
            }
        );
        assert_eq!(
            Route::parse("/exec/kube-system/p/c"),
            Route::Exec {
                pod: pod("kube-system", "p", None),
                container: "c".into()
            }
        );
        assert_eq!(
            Route::parse("/attach/ns/p/u-1/c"),
            Route::Attach {
                pod: pod("ns", "p", Some("u-1")),
                container: "c".into()
            }
        );
        assert_eq!(
            Route::parse("/portForward/ns/p"),
            Route::PortForward {
                pod: pod("ns", "p", None)
            }
        );
        assert_eq!(
            Route::parse("/portForward/ns/p/uid"),
            Route::PortForward {
                pod: pod("ns", "p", Some("uid"))
            }
        );
        assert_eq!(
            Route::parse("/exec/ns/p%2Dx/c"),
            Route::Exec {
                pod: pod("ns", "p-x", None),
                container: "c".into()
            }
        );
        for bad in [
            "/",
            "/exec/ns/p",
            "/containerLogs/ns/p",
            "/containerLogs/ns//c",
            "/portforward/ns/p",
            "/exec/a/b/c/d/e",
            "/metrics",
        ] {
            assert_eq!(Route::parse(bad), Route::NotFound, "{bad}");
        }
    }

    #[test]
    fn query_keeps_repeats_and_decodes() {
        let q = Query::parse(Some(
            "command=sh&command=-c&command=echo%20hi%3Bexit+3&tty=true&stdin=1&x=maybe",
        ));
        assert_eq!(q.all("command"), vec!["sh", "-c", "echo hi;exit 3"]);
        assert_eq!(q.flag("tty"), Ok(true));
        assert_eq!(q.flag("stdin"), Ok(true));
        assert_eq!(q.flag("stdout"), Ok(false));
        assert!(q.flag("x").is_err());
        assert_eq!(q.get("missing"), None);
        assert_eq!(Query::parse(None), Query::default());
        assert!(q.encoded().starts_with("command=sh&command=-c&"));
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode::decode("a%41b"), "aAb");
        assert_eq!(percent_decode::decode("a%4"), "a%4");
        assert_eq!(percent_decode::decode("%zz%"), "%zz%");
    }
}
