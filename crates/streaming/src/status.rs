//! The `metav1.Status` documents kubectl expects on the error channel of exec/attach.

use serde::Serialize;

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// The process exited; `command` is used only in the message of a non-zero exit.
    Exited { code: i32, command: Vec<String> },
    /// Anything else (container not found, runtime error); kubectl prints the message.
    Failed(String),
}

impl ExitStatus {
    pub fn success() -> Self {
        ExitStatus::Exited {
            code: 0,
            command: Vec::new(),
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self, ExitStatus::Exited { code: 0, .. })
    }

    /// The message old (pre-v4) protocols carry as plain text; empty on success.
    pub fn message(&self) -> String {
        match self {
            ExitStatus::Exited { code: 0, .. } => String::new(),
            ExitStatus::Exited { code, command } => format!(
                "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
                command.join(" ")
            ),
            ExitStatus::Failed(m) => m.clone(),
        }
    }

    /// Reads the error-channel payload of a v4/v5 peer (e.g. a CRI streaming server): an
    /// empty payload or `Success` is exit 0, `NonZeroExitCode` carries the code in its
    /// `ExitCode` cause, anything else is a failure with the peer's message. `command` is
    /// kept for the message we later send on.
    pub fn from_status_json(payload: &[u8], command: Vec<String>) -> Self {
        #[derive(serde::Deserialize)]
        struct Cause {
            reason: Option<String>,
            message: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct Details {
            #[serde(default)]
            causes: Vec<Cause>,
        }
        #[derive(serde::Deserialize)]
        struct Status {
            status: Option<String>,
            message: Option<String>,
            reason: Option<String>,
            details: Option<Details>,
        }
        if payload.iter().all(u8::is_ascii_whitespace) {
            return ExitStatus::Exited { code: 0, command };
        }
        let Ok(s) = serde_json::from_slice::<Status>(payload) else {
            // Pre-v4 peers send plain text.
            return ExitStatus::Failed(String::from_utf8_lossy(payload).trim().to_string());
        };
        if s.status.as_deref() == Some("Success") {
            return ExitStatus::Exited { code: 0, command };
        }
        if s.reason.as_deref() == Some("NonZeroExitCode") {
            let code = s
                .details
                .iter()
                .flat_map(|d| d.causes.iter())
                .find(|c| c.reason.as_deref() == Some("ExitCode"))
                .and_then(|c| c.message.as_deref()?.trim().parse::<i32>().ok());
            if let Some(code) = code {
                return ExitStatus::Exited { code, command };
            }
        }
        ExitStatus::Failed(s.message.unwrap_or_else(|| "unknown error".into()))
    }

    /// The Status JSON of the v4/v5 protocols. Field order follows upstream's encoding.
    pub fn to_status_json(&self) -> String {
        #[derive(Serialize)]
        struct Cause {
            reason: &'static str,
            message: String,
        }
        #[derive(Serialize)]
        struct Details {
            causes: Vec<Cause>,
        }
        #[derive(Serialize)]
        struct Meta {}
        #[derive(Serialize)]
        struct Status {
            metadata: Meta,
            status: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            message: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            reason: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            details: Option<Details>,
        }
        let s = match self {
            ExitStatus::Exited { code: 0, .. } => Status {
                metadata: Meta {},
                status: "Success",
                message: None,
                reason: None,
                details: None,
            },
            ExitStatus::Exited { code, .. } => Status {
                metadata: Meta {},
                status: "Failure",
                message: Some(self.message()),
                reason: Some("NonZeroExitCode"),
                details: Some(Details {
                    causes: vec![Cause {
                        reason: "ExitCode",
                        message: code.to_string(),
                    }],
                }),
            },
            ExitStatus::Failed(m) => Status {
                metadata: Meta {},
                status: "Failure",
                message: Some(m.clone()),
                reason: None,
                details: None,
            },
        };
        serde_json::to_string(&s).unwrap_or_else(|_| r#"{"metadata":{},"status":"Failure"}"#.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_documents_match_kubectl_reference() {
        assert_eq!(
            ExitStatus::success().to_status_json(),
            r#"{"metadata":{},"status":"Success"}"#
        );
        let exit3 = ExitStatus::Exited {
            code: 3,
            command: vec!["sh".into(), "-c".into(), "exit 3".into()],
        };
        assert_eq!(
            exit3.to_status_json(),
            r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#
        );
        assert_eq!(
            ExitStatus::Failed("container not found (\"nope\")".into()).to_status_json(),
            r#"{"metadata":{},"status":"Failure","message":"container not found (\"nope\")"}"#
        );
        assert_eq!(ExitStatus::success().message(), "");
    }

    #[test]
    fn peer_status_documents_are_understood() {
        let cmd = vec!["sh".to_string()];
        let failure = br#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 7], exit code 7","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"7"}]}}"#;
        assert_eq!(
            ExitStatus::from_status_json(failure, cmd.clone()),
            ExitStatus::Exited {
                code: 7,
                command: cmd.clone()
            }
        );
        assert!(ExitStatus::from_status_json(
            br#"{"metadata":{},"status":"Success"}"#,
            cmd.clone()
        )
        .is_success());
        assert!(ExitStatus::from_status_json(b"", cmd.clone()).is_success());
        assert_eq!(
            ExitStatus::from_status_json(
                br#"{"status":"Failure","message":"container not running"}"#,
                cmd.clone()
            ),
            ExitStatus::Failed("container not running".into())
        );
        assert_eq!(
            ExitStatus::from_status_json(b"plain text error\n", cmd),
            ExitStatus::Failed("plain text error".into())
        );
    }
}
