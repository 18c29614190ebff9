//! Exec and the streaming calls. ExecSync runs to completion inside the gRPC
//! call; Exec, Attach and PortForward only hand back a single-use URL on the
//! runtime's streaming server, which the kubelet then proxies.

use std::time::Duration;

use k8s_cri::v1 as api;

use crate::client::RuntimeClient;
use crate::error::{CriError, Result};

/// Extra time granted over an exec's own timeout so the runtime can report
/// the timeout itself rather than the client cutting it off.
const EXEC_MARGIN: Duration = Duration::from_secs(5);

impl RuntimeClient {
    /// Runs `cmd` in a container and collects its output. A zero `timeout`
    /// means no limit on the command (the call deadline is then the client's).
    pub async fn exec_sync(
        &self,
        id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<api::ExecSyncResponse> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::ExecSyncRequest {
            container_id: id.to_string(),
            cmd,
            timeout: timeout.as_secs() as i64,
        };
        let deadline = if timeout.is_zero() {
            self.timeout
        } else {
            timeout + EXEC_MARGIN
        };
        Self::call("ExecSync", deadline, async move { rt.exec_sync(req).await }).await
    }

    /// Prepares an interactive exec and returns the streaming URL.
    pub async fn exec(&self, req: api::ExecRequest) -> Result<String> {
        let mut rt = self.stubs.runtime.clone();
        let resp = Self::call("Exec", self.timeout, async move { rt.exec(req).await }).await?;
        non_empty("Exec", resp.url)
    }

    /// Prepares an attach and returns the streaming URL.
    pub async fn attach(&self, req: api::AttachRequest) -> Result<String> {
        let mut rt = self.stubs.runtime.clone();
        let resp = Self::call("Attach", self.timeout, async move { rt.attach(req).await }).await?;
        non_empty("Attach", resp.url)
    }

    /// Prepares port forwarding into a sandbox and returns the streaming URL.
    pub async fn port_forward(&self, pod_sandbox_id: &str, ports: Vec<i32>) -> Result<String> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::PortForwardRequest {
            pod_sandbox_id: pod_sandbox_id.to_string(),
            port: ports,
        };
        let resp = Self::call("PortForward", self.timeout, async move {
            rt.port_forward(req).await
        })
        .await?;
        non_empty("PortForward", resp.url)
    }
}

fn non_empty(call: &'static str, url: String) -> Result<String> {
    if url.is_empty() {
        Err(CriError::Missing { call, what: "url" })
    } else {
        Ok(url)
    }
}
