//! Volumes backed by host directories: emptyDir (optionally tmpfs), hostPath with its
//! type checks, and claims bound to hostPath/local PersistentVolumes.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, HostPathVolumeSource, PersistentVolume, PersistentVolumeClaim,
};
use kube::Api;

use crate::env::quantity::parse_nanos;
use crate::error::{Error, Result};

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(what, path, e)
}

/// Whether `path` is a mount point (its device differs from its parent's).
fn is_mount_point(path: &Path) -> bool {
    let (Ok(me), Some(Ok(parent))) = (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) else {
        return false;
    };
    me.dev() != parent.dev()
}

/// Creates the emptyDir at `dir` (world-writable, as upstream makes it); medium Memory
/// mounts a tmpfs there, sized by sizeLimit when given.
pub fn empty_dir(dir: &Path, source: &EmptyDirVolumeSource) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    match source.medium.as_deref().unwrap_or_default() {
        "" => {}
        "Memory" => {
            if !is_mount_point(dir) {
                let size = source
                    .size_limit
                    .as_ref()
                    .and_then(|q| parse_nanos(&q.0))
                    .map(|n| (n + 999_999_999) / 1_000_000_000)
                    .filter(|b| *b > 0);
                mount_tmpfs(dir, size)?;
            }
        }
        other => {
            return Err(Error::Spec(format!(
                "emptyDir medium {other:?} is not supported"
            )))
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
        .map_err(io("cannot chmod", dir))?;
    Ok(())
}

fn mount_tmpfs(dir: &Path, size_bytes: Option<i128>) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let target = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| Error::Spec(format!("path {} contains NUL", dir.display())))?;
    let options = match size_bytes {
        Some(b) => format!("mode=0777,size={b}"),
        None => "mode=0777".to_string(),
    };
    let options = std::ffi::CString::new(options).map_err(|e| Error::Other(e.to_string()))?;
    let fstype = c"tmpfs";
    // SAFETY: all pointers are valid NUL-terminated strings for the call's duration.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            options.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(Error::io(
            "cannot mount tmpfs on",
            dir,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Applies hostPath's `type` check (creating for the *OrCreate types) and returns the path.
pub fn host_path(source: &HostPathVolumeSource) -> Result<PathBuf> {
    let path = PathBuf::from(&source.path);
    let fail = |what: &str| {
        Err(Error::Spec(format!(
            "hostPath type check failed: {} is not a {what}",
            source.path
        )))
    };
    let meta = std::fs::metadata(&path);
    match source.type_.as_deref().unwrap_or_default() {
        "" => {}
        "DirectoryOrCreate" => match meta {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return fail("directory"),
            Err(_) => {
                std::fs::create_dir_all(&path).map_err(io("cannot create", &path))?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .map_err(io("cannot chmod", &path))?;
            }
        },
        "Directory" => match meta {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return fail("directory"),
            Err(_) => {
                return Err(Error::Spec(format!(
                    "hostPath type check failed: {} is not a directory",
                    source.path
                )))
            }
        },
        "FileOrCreate" => match meta {
            Ok(m) if m.is_file() => {}
            Ok(_) => return fail("file"),
            Err(_) => {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(io("cannot create", &path))?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                    .map_err(io("cannot chmod", &path))?;
            }
        },
        "File" => {
            if !meta.is_ok_and(|m| m.is_file()) {
                return fail("file");
            }
        }
        "Socket" => {
            if !meta.is_ok_and(|m| m.file_type().is_socket()) {
                return fail("socket file");
            }
        }
        "CharDevice" => {
            if !meta.is_ok_and(|m| m.file_type().is_char_device()) {
                return fail("character device");
            }
        }
        "BlockDevice" => {
            if !meta.is_ok_and(|m| m.file_type().is_block_device()) {
                return fail("block device");
            }
        }
        other => {
            return Err(Error::Spec(format!(
                "hostPath type {other:?} is not supported"
            )))
        }
    }
    Ok(path)
}

/// The host directory of a claim bound to a hostPath or local PersistentVolume.
pub async fn claim_path(client: &kube::Client, namespace: &str, claim: &str) -> Result<PathBuf> {
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let pvc = pvcs
        .get_opt(claim)
        .await?
        .ok_or_else(|| Error::Spec(format!("persistentvolumeclaim \"{claim}\" not found")))?;
    let volume = pvc
        .spec
        .and_then(|s| s.volume_name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Error::Spec(format!(
                "persistentvolumeclaim \"{claim}\" is not bound to a volume yet"
            ))
        })?;
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv = pvs
        .get_opt(&volume)
        .await?
        .ok_or_else(|| Error::Spec(format!("persistentvolume \"{volume}\" not found")))?;
    let spec = pv.spec.unwrap_or_default();
    if let Some(hp) = spec.host_path {
        return host_path(&HostPathVolumeSource {
            path: hp.path,
            type_: hp.type_,
        });
    }
    if let Some(local) = spec.local {
        return Ok(PathBuf::from(local.path));
    }
    Err(Error::Spec(format!(
        "persistentvolume \"{volume}\" is neither hostPath nor local, which this kubelet cannot mount"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(path: &Path, t: &str) -> HostPathVolumeSource {
        HostPathVolumeSource {
            path: path.display().to_string(),
            type_: Some(t.into()),
        }
    }

    #[test]
    fn host_path_types_are_checked_and_created() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        assert!(host_path(&hp(&dir, "Directory")).is_err());
        host_path(&hp(&dir, "DirectoryOrCreate")).unwrap();
        assert!(dir.is_dir());
        host_path(&hp(&dir, "Directory")).unwrap();
        let err = host_path(&hp(&dir, "File")).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "hostPath type check failed: {} is not a file",
                dir.display()
            )
        );
        let file = tmp.path().join("f");
        host_path(&hp(&file, "FileOrCreate")).unwrap();
        assert!(file.is_file());
        assert!(host_path(&hp(&file, "Socket")).is_err());
        assert!(host_path(&hp(&tmp.path().join("none"), "")).is_ok());
    }

    #[test]
    fn plain_empty_dir_is_world_writable() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        empty_dir(&dir, &EmptyDirVolumeSource::default()).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o777);
        assert!(!is_mount_point(&dir));
        let bad = EmptyDirVolumeSource {
            medium: Some("HugePages".into()),
            ..Default::default()
        };
        assert!(empty_dir(&dir, &bad).is_err());
    }
}
