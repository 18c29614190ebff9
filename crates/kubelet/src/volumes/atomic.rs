//! Upstream's AtomicWriter layout for configMap, secret, downwardAPI and projected
//! volumes: files live in a timestamped `..<time>.<rand>` directory, `..data` points at
//! the current one, and each top-level name is a symlink through `..data`. An update
//! builds a new directory and swaps `..data` with one rename, so readers in the
//! container see either the old or the new set of files, never a mix.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use crate::error::{Error, Result};

const DATA_DIR: &str = "..data";
const DATA_DIR_TMP: &str = "..data_tmp";

/// One file of a volume: its bytes and permission bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// Relative path → contents.
pub type Payload = BTreeMap<String, FileProjection>;

/// Rejects absolute paths, `..` components and names starting with `..` (reserved for
/// the writer's own entries), as upstream validates item paths.
pub fn validate_path(path: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::Spec(format!(
            "invalid volume item path {path:?}: {why}"
        )))
    };
    if path.is_empty() {
        return bad("must not be empty");
    }
    if path.len() > 4096 {
        return bad("too long");
    }
    let p = Path::new(path);
    if p.is_absolute() {
        return bad("must be relative");
    }
    if path.starts_with("..") {
        return bad("must not start with '..'");
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return bad("must not contain '..'");
    }
    Ok(())
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::io(what, path, e)
}

/// What the current `..data` directory holds; None when there is none yet.
fn current_payload(dir: &Path) -> Option<Payload> {
    let data = dir.join(DATA_DIR);
    let target = std::fs::read_link(&data).ok()?;
    let mut out = Payload::new();
    collect(&dir.join(target), "", &mut out).ok()?;
    Some(out)
}

fn collect(base: &Path, prefix: &str, out: &mut Payload) -> std::io::Result<()> {
    for entry in std::fs::read_dir(base.join(prefix))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let meta = entry.metadata()?;
        if meta.is_dir() {
            collect(base, &rel, out)?;
        } else {
            let data = std::fs::read(entry.path())?;
            let mode = meta.permissions().mode() & 0o7777;
            out.insert(rel, FileProjection { data, mode });
        }
    }
    Ok(())
}

fn top_level(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

fn timestamped_name() -> String {
    format!(
        "..{}.{:08x}",
        chrono::Utc::now().format("%Y_%m_%d_%H_%M_%S"),
        rand::random::<u32>()
    )
}

/// Makes `dir` hold exactly `payload`; returns whether anything changed.
pub fn write(dir: &Path, payload: &Payload) -> Result<bool> {
    for path in payload.keys() {
        validate_path(path)?;
    }
    std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    let old_target = std::fs::read_link(dir.join(DATA_DIR)).ok();
    if old_target.is_some() && current_payload(dir).as_ref() == Some(payload) {
        return Ok(false);
    }
    let old_payload = current_payload(dir).unwrap_or_default();

    let ts_name = timestamped_name();
    let ts_dir = dir.join(&ts_name);
    std::fs::create_dir(&ts_dir).map_err(io("cannot create", &ts_dir))?;
    std::fs::set_permissions(&ts_dir, std::fs::Permissions::from_mode(0o755))
        .map_err(io("cannot chmod", &ts_dir))?;
    for (rel, file) in payload {
        let path = ts_dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
        }
        std::fs::write(&path, &file.data).map_err(io("cannot write", &path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file.mode))
            .map_err(io("cannot chmod", &path))?;
    }

    let tmp_link = dir.join(DATA_DIR_TMP);
    let _ = std::fs::remove_file(&tmp_link);
    std::os::unix::fs::symlink(&ts_name, &tmp_link).map_err(io("cannot link", &tmp_link))?;
    let data_link = dir.join(DATA_DIR);
    std::fs::rename(&tmp_link, &data_link).map_err(io("cannot rename", &data_link))?;

    // User-visible names point through ..data, so they follow the swap by themselves.
    let wanted: std::collections::BTreeSet<&str> = payload.keys().map(|p| top_level(p)).collect();
    for name in &wanted {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("{DATA_DIR}/{name}"), &link)
                .map_err(io("cannot link", &link))?;
        }
    }
    for old in old_payload.keys().map(|p| top_level(p)) {
        if !wanted.contains(old) {
            let _ = std::fs::remove_file(dir.join(old));
        }
    }
    if let Some(old) = old_target {
        let old_dir = dir.join(old);
        if old_dir != ts_dir {
            let _ = std::fs::remove_dir_all(old_dir);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(data: &str, mode: u32) -> FileProjection {
        FileProjection {
            data: data.as_bytes().to_vec(),
            mode,
        }
    }

    #[test]
    fn paths_are_validated() {
        assert!(validate_path("a/b.txt").is_ok());
        assert!(validate_path("/etc/passwd").is_err());
        assert!(validate_path("a/../../x").is_err());
        assert!(validate_path("..data").is_err());
        assert!(validate_path("").is_err());
    }

    #[test]
    fn writes_through_data_symlink_and_swaps_on_update() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        let mut payload = Payload::new();
        payload.insert("game.properties".into(), file("lives=3", 0o644));
        payload.insert("conf/ui.ini".into(), file("color=red", 0o400));
        assert!(write(&dir, &payload).unwrap());

        assert_eq!(
            std::fs::read_to_string(dir.join("game.properties")).unwrap(),
            "lives=3"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("conf/ui.ini")).unwrap(),
            "color=red"
        );
        assert_eq!(
            std::fs::read_link(dir.join("conf")).unwrap(),
            Path::new("..data/conf")
        );
        let mode = std::fs::metadata(dir.join("conf/ui.ini"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);
        let first_target = std::fs::read_link(dir.join(DATA_DIR)).unwrap();

        // Same payload: nothing happens.
        assert!(!write(&dir, &payload).unwrap());
        assert_eq!(
            std::fs::read_link(dir.join(DATA_DIR)).unwrap(),
            first_target
        );

        // Update: new contents visible, removed key gone, old directory removed.
        payload.remove("conf/ui.ini");
        payload.insert("game.properties".into(), file("lives=5", 0o644));
        assert!(write(&dir, &payload).unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.join("game.properties")).unwrap(),
            "lives=5"
        );
        assert!(std::fs::symlink_metadata(dir.join("conf")).is_err());
        assert!(!dir.join(&first_target).exists());
        let entries: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries.len(), 3, "{entries:?}");
    }
}
