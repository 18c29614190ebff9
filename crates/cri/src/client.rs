//! CRI v1 client over a unix socket: one wrapper for RuntimeService and
//! ImageService, with a deadline on every call.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as api;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::error::{CriError, Result};

/// The kubelet's default `--runtime-request-timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Pulls move whole images; the kubelet gives them far longer than other calls.
pub const DEFAULT_PULL_TIMEOUT: Duration = Duration::from_secs(600);

/// A CRI v1 client. Cloning is cheap and clones share one connection, which
/// reconnects by itself when the runtime restarts.
#[derive(Clone)]
pub(crate) struct Stubs {
    pub(crate) runtime: RuntimeServiceClient<Channel>,
    pub(crate) image: ImageServiceClient<Channel>,
}

#[derive(Clone)]
pub struct RuntimeClient {
    pub(crate) stubs: Stubs,
    socket: PathBuf,
    pub(crate) timeout: Duration,
    pub(crate) pull_timeout: Duration,
}

/// Parses a kubelet-style `--container-runtime-endpoint`: `unix:///path`
/// or a bare absolute path.
pub fn socket_from_endpoint(endpoint: &str) -> Result<PathBuf> {
    let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    if path.starts_with('/') {
        Ok(PathBuf::from(path))
    } else {
        Err(CriError::InvalidOption {
            name: "container-runtime-endpoint",
            message: format!("{endpoint:?} is not unix:///absolute/path"),
        })
    }
}

impl RuntimeClient {
    /// Creates a client for the runtime listening on `socket`. Nothing is
    /// dialled until the first call, so this succeeds before the runtime is up.
    pub fn connect(socket: impl AsRef<Path>) -> Result<Self> {
        let socket = socket.as_ref().to_path_buf();
        // The URI is required by tonic but never dialled: the connector ignores it.
        let endpoint = Endpoint::try_from("http://cri.sock").map_err(|e| CriError::Connect {
            endpoint: socket.display().to_string(),
            message: e.to_string(),
        })?;
        let path = socket.clone();
        let channel =
            endpoint
                .connect_timeout(Duration::from_secs(5))
                .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                }));
        Ok(RuntimeClient {
            stubs: Stubs {
                runtime: RuntimeServiceClient::new(channel.clone()),
                image: ImageServiceClient::new(channel),
            },
            socket,
            timeout: DEFAULT_TIMEOUT,
            pull_timeout: DEFAULT_PULL_TIMEOUT,
        })
    }

    /// Sets the deadline of every call except image pulls and exec_sync.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn with_pull_timeout(mut self, timeout: Duration) -> Self {
        self.pull_timeout = timeout;
        self
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub(crate) async fn call<T>(
        call: &'static str,
        timeout: Duration,
        fut: impl Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T> {
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(CriError::Status {
                call,
                status: Box::new(status),
            }),
            Err(_) => Err(CriError::Timeout { call, timeout }),
        }
    }

    pub async fn version(&self) -> Result<api::VersionResponse> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::VersionRequest {
            version: "v1".to_string(),
        };
        Self::call(
            "Version",
            self.timeout,
            async move { rt.version(req).await },
        )
        .await
    }

    pub async fn status(&self, verbose: bool) -> Result<api::StatusResponse> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::StatusRequest { verbose };
        Self::call("Status", self.timeout, async move { rt.status(req).await }).await
    }

    /// Starts a sandbox and returns its id.
    pub async fn run_pod_sandbox(
        &self,
        config: api::PodSandboxConfig,
        runtime_handler: &str,
    ) -> Result<String> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: runtime_handler.to_string(),
        };
        let resp = Self::call("RunPodSandbox", self.timeout, async move {
            rt.run_pod_sandbox(req).await
        })
        .await?;
        Ok(resp.pod_sandbox_id)
    }

    pub async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::StopPodSandboxRequest {
            pod_sandbox_id: id.to_string(),
        };
        Self::call("StopPodSandbox", self.timeout, async move {
            rt.stop_pod_sandbox(req).await
        })
        .await?;
        Ok(())
    }

    pub async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::RemovePodSandboxRequest {
            pod_sandbox_id: id.to_string(),
        };
        Self::call("RemovePodSandbox", self.timeout, async move {
            rt.remove_pod_sandbox(req).await
        })
        .await?;
        Ok(())
    }

    pub async fn pod_sandbox_status(
        &self,
        id: &str,
        verbose: bool,
    ) -> Result<api::PodSandboxStatusResponse> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::PodSandboxStatusRequest {
            pod_sandbox_id: id.to_string(),
            verbose,
        };
        Self::call("PodSandboxStatus", self.timeout, async move {
            rt.pod_sandbox_status(req).await
        })
        .await
    }

    pub async fn list_pod_sandbox(
        &self,
        filter: Option<api::PodSandboxFilter>,
    ) -> Result<Vec<api::PodSandbox>> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::ListPodSandboxRequest { filter };
        let resp = Self::call("ListPodSandbox", self.timeout, async move {
            rt.list_pod_sandbox(req).await
        })
        .await?;
        Ok(resp.items)
    }

    /// Creates a container in a sandbox and returns its id. CRI wants the
    /// sandbox's config again (containerd reads labels and DNS from it).
    pub async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: api::ContainerConfig,
        sandbox_config: api::PodSandboxConfig,
    ) -> Result<String> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::CreateContainerRequest {
            pod_sandbox_id: pod_sandbox_id.to_string(),
            config: Some(config),
            sandbox_config: Some(sandbox_config),
        };
        let resp = Self::call("CreateContainer", self.timeout, async move {
            rt.create_container(req).await
        })
        .await?;
        Ok(resp.container_id)
    }

    pub async fn start_container(&self, id: &str) -> Result<()> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::StartContainerRequest {
            container_id: id.to_string(),
        };
        Self::call("StartContainer", self.timeout, async move {
            rt.start_container(req).await
        })
        .await?;
        Ok(())
    }

    /// Stops a container: SIGTERM (or the image's stop signal), then SIGKILL
    /// after `grace`. The call's own deadline is extended by the grace period.
    pub async fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::StopContainerRequest {
            container_id: id.to_string(),
            timeout: grace.as_secs() as i64,
        };
        Self::call("StopContainer", self.timeout + grace, async move {
            rt.stop_container(req).await
        })
        .await?;
        Ok(())
    }

    pub async fn remove_container(&self, id: &str) -> Result<()> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::RemoveContainerRequest {
            container_id: id.to_string(),
        };
        Self::call("RemoveContainer", self.timeout, async move {
            rt.remove_container(req).await
        })
        .await?;
        Ok(())
    }

    pub async fn container_status(
        &self,
        id: &str,
        verbose: bool,
    ) -> Result<api::ContainerStatusResponse> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::ContainerStatusRequest {
            container_id: id.to_string(),
            verbose,
        };
        Self::call("ContainerStatus", self.timeout, async move {
            rt.container_status(req).await
        })
        .await
    }

    pub async fn list_containers(
        &self,
        filter: Option<api::ContainerFilter>,
    ) -> Result<Vec<api::Container>> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::ListContainersRequest { filter };
        let resp = Self::call("ListContainers", self.timeout, async move {
            rt.list_containers(req).await
        })
        .await?;
        Ok(resp.containers)
    }

    /// Asks the runtime to reopen a container's log file after the kubelet
    /// rotated it.
    pub async fn reopen_container_log(&self, id: &str) -> Result<()> {
        let mut rt = self.stubs.runtime.clone();
        let req = api::ReopenContainerLogRequest {
            container_id: id.to_string(),
        };
        Self::call("ReopenContainerLog", self.timeout, async move {
            rt.reopen_container_log(req).await
        })
        .await?;
        Ok(())
    }
}
