//! ImageService calls.

use k8s_cri::v1 as api;

use crate::client::RuntimeClient;
use crate::error::Result;

impl RuntimeClient {
    pub async fn list_images(&self, filter: Option<api::ImageFilter>) -> Result<Vec<api::Image>> {
        let mut img = self.stubs.image.clone();
        let req = api::ListImagesRequest { filter };
        let resp = Self::call("ListImages", self.timeout, async move {
            img.list_images(req).await
        })
        .await?;
        Ok(resp.images)
    }

    /// The image known under `image` (a reference or id), or None when the
    /// runtime doesn't have it.
    pub async fn image_status(&self, image: &str) -> Result<Option<api::Image>> {
        let mut img = self.stubs.image.clone();
        let req = api::ImageStatusRequest {
            image: Some(image_spec(image)),
            verbose: false,
        };
        let resp = Self::call("ImageStatus", self.timeout, async move {
            img.image_status(req).await
        })
        .await?;
        Ok(resp.image)
    }

    /// Pulls an image and returns the reference the runtime stored it under
    /// (an id or digest, what the kubelet reports as imageID's source).
    pub async fn pull_image(
        &self,
        image: &str,
        auth: Option<api::AuthConfig>,
        sandbox_config: Option<api::PodSandboxConfig>,
    ) -> Result<String> {
        let mut img = self.stubs.image.clone();
        let req = api::PullImageRequest {
            image: Some(image_spec(image)),
            auth,
            sandbox_config,
        };
        let resp = Self::call("PullImage", self.pull_timeout, async move {
            img.pull_image(req).await
        })
        .await?;
        Ok(resp.image_ref)
    }

    pub async fn remove_image(&self, image: &str) -> Result<()> {
        let mut img = self.stubs.image.clone();
        let req = api::RemoveImageRequest {
            image: Some(image_spec(image)),
        };
        Self::call("RemoveImage", self.timeout, async move {
            img.remove_image(req).await
        })
        .await?;
        Ok(())
    }

    /// Usage of the filesystems holding images (for the DiskPressure condition).
    pub async fn image_fs_info(&self) -> Result<api::ImageFsInfoResponse> {
        let mut img = self.stubs.image.clone();
        Self::call("ImageFsInfo", self.timeout, async move {
            img.image_fs_info(api::ImageFsInfoRequest {}).await
        })
        .await
    }
}

fn image_spec(image: &str) -> api::ImageSpec {
    api::ImageSpec {
        image: image.to_string(),
        ..Default::default()
    }
}
