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
}
