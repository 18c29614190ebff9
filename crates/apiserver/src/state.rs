//! What every handler shares.

use crate::alloc::Ranges;
use crate::auth::TokenFile;
use crate::cache::WatchCache;
use crate::cached::CachedObject;
use crate::status::{ApiError, ApiResult};
use rkube_api::ResourceInfo;
use rkube_store::Store;
use serde_json::Value;
use std::sync::Arc;

pub struct Api {
    pub store: Arc<dyn Store>,
    pub cache: Arc<WatchCache>,
    /// Built on first use: most of its memory is schemas only apply/explain need.
    pub openapi: std::sync::OnceLock<rkube_openapi::OpenApi>,
    pub openapi_endpoints: Vec<rkube_openapi::ResourceEndpoint>,
    pub ranges: Ranges,
    pub tokens: TokenFile,
    /// Signs and checks service-account tokens.
    pub signer: crate::tokens::TokenSigner,
    /// How the API server reaches kubelets (logs, exec, port-forward, node proxy).
    pub kubelet: crate::proxy::KubeletClient,
    /// Serialises service writes so two creates cannot take the same IP or port.
    pub service_lock: tokio::sync::Mutex<()>,
    /// Serialises creates checked against a ResourceQuota.
    pub quota_lock: tokio::sync::Mutex<()>,
}

impl Api {
    pub fn openapi(&self) -> &rkube_openapi::OpenApi {
        self.openapi
            .get_or_init(|| rkube_openapi::OpenApi::new(&self.openapi_endpoints))
    }

    /// Waits until the cache reflects every write acknowledged so far, so a client
    /// reads its own writes.
    pub async fn sync(&self) {
        let rev = self.store.current_revision();
        if self.cache.revision() < rev && !self.cache.wait_for(rev).await {
            tracing::warn!(rev, "watch cache lagging behind the store");
        }
    }

    pub async fn current(&self, key: &str) -> Option<Arc<CachedObject>> {
        self.sync().await;
        self.cache.get(key)
    }

    /// The current object at `key` as `res` serves it.
    pub async fn current_value(&self, res: &ResourceInfo, key: &str) -> Option<Value> {
        let obj = self.current(key).await?;
        Some(crate::convert::to_view(res, obj.value()))
    }

    /// The object's revision from its resourceVersion.
    pub fn revision_of(obj: &Value) -> ApiResult<i64> {
        obj.pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ApiError::internal("cached object without resourceVersion"))
    }
}
