//! The offline images (images/): build.sh must produce OCI tarballs that
//! check.sh accepts, and check.sh must reject tarballs whose names or blobs
//! are wrong, so a broken image cannot pass unnoticed.
//!
//! Needs what images/install-deps.sh installs (gcc with static glibc,
//! busybox-static, bash-static, python3, curl).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn images_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../images")
}

fn run(script: &str, out_dir: &Path) -> Output {
    Command::new("bash")
        .arg(images_dir().join(script))
        .arg(out_dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"))
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Replaces the one occurrence of `from` in `file` with `to` (same length, so
/// the tar stays readable and only the content's meaning changes).
fn patch_bytes(file: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let mut data = std::fs::read(file).unwrap();
    let hits: Vec<usize> = data
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from.as_bytes())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "expected one {from:?} in {}", file.display());
    data[hits[0]..hits[0] + to.len()].copy_from_slice(to.as_bytes());
    std::fs::write(file, data).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn expect_rejected(good: &Path, tarball: &str, from: &str, to: &str, reason: &str) {
    let bad = tempfile::tempdir().unwrap();
    copy_dir(good, bad.path());
    patch_bytes(&bad.path().join(tarball), from, to);
    let out = run("check.sh", bad.path());
    let text = describe(&out);
    assert!(
        !out.status.success(),
        "check.sh accepted a tampered {tarball}:\n{text}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(reason),
        "check.sh rejected {tarball} for another reason than {reason:?}:\n{text}"
    );
}

#[test]
fn images_build_pass_checks_and_tampering_is_caught() {
    let out_dir = tempfile::tempdir().unwrap();
    let built = run("build.sh", out_dir.path());
    assert!(
        built.status.success(),
        "images/build.sh failed (images/install-deps.sh installs its needs):\n{}",
        describe(&built)
    );
    for name in [
        "pause-3.9.tar",
        "bootcamp-v1.tar",
        "bootcamp-v2.tar",
        "tools-1.tar",
    ] {
        assert!(
            out_dir.path().join(name).is_file(),
            "build.sh did not write {name}"
        );
    }

    let checked = run("check.sh", out_dir.path());
    let text = describe(&checked);
    assert!(checked.status.success(), "images/check.sh failed:\n{text}");
    assert!(text.contains("all image checks passed"), "{text}");

    // Rebuilding must give byte-identical tarballs (stable digests for import).
    let again = tempfile::tempdir().unwrap();
    let rebuilt = run("build.sh", again.path());
    assert!(
        rebuilt.status.success(),
        "second build failed:\n{}",
        describe(&rebuilt)
    );
    for name in ["pause-3.9.tar", "bootcamp-v1.tar"] {
        let a = std::fs::read(out_dir.path().join(name)).unwrap();
        let b = std::fs::read(again.path().join(name)).unwrap();
        assert!(a == b, "{name} differs between two builds");
    }

    // The checker must catch a wrong tag annotation and a blob whose content
    // no longer matches its digest.
    expect_rejected(
        out_dir.path(),
        "bootcamp-v1.tar",
        r#""org.opencontainers.image.ref.name":"v1""#,
        r#""org.opencontainers.image.ref.name":"v9""#,
        "org.opencontainers.image.ref.name",
    );
    expect_rejected(
        out_dir.path(),
        "tools-1.tar",
        r#""architecture":"amd64","config""#,
        r#""architecture":"arm64","config""#,
        "has content digest",
    );
}
