//! Reading a CRI log file into a response: the whole file once, or following it as the
//! runtime appends (polling, as the file may be rotated and reopened under us).

use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use super::parse::{self, Joiner, LogOptions, Renderer};

/// How often a followed file is checked for new lines.
pub const POLL: Duration = Duration::from_millis(150);
/// Idle polls between checks that the container still runs (about 0.6 s).
const ALIVE_EVERY: u32 = 4;

struct LogFile {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    ino: u64,
    offset: u64,
}

impl LogFile {
    /// Appends what was written since the last read; a missing file reads as empty.
    async fn read_new(&mut self, buf: &mut Vec<u8>) -> usize {
        if self.file.is_none() {
            let Ok(f) = tokio::fs::File::open(&self.path).await else {
                return 0;
            };
            self.ino = f.metadata().await.map(|m| m.ino()).unwrap_or(0);
            self.offset = 0;
            self.file = Some(f);
        }
        let Some(f) = self.file.as_mut() else {
            return 0;
        };
        let n = f.read_to_end(buf).await.unwrap_or(0);
        self.offset += n as u64;
        n
    }

    /// After a drained read: reopen when the path now names another file (rotation) or
    /// the file shrank (truncation). Returns true when the caller should read again.
    async fn check_rotated(&mut self) -> bool {
        let Ok(meta) = tokio::fs::metadata(&self.path).await else {
            // Renamed away and not yet recreated: keep the old handle until it is.
            return false;
        };
        if self.file.is_none() {
            return true;
        }
        if meta.ino() != self.ino {
            self.file = None;
            return true;
        }
        if meta.len() < self.offset {
            if let Some(f) = self.file.as_mut() {
                if f.seek(std::io::SeekFrom::Start(0)).await.is_ok() {
                    self.offset = 0;
                    return true;
                }
            }
            self.file = None;
            return true;
        }
        false
    }
}

/// Streams the log at `path` to `tx` with `opts`. With `follow`, keeps reading until
/// `alive()` says the container stopped and the file is drained, the byte limit is
/// reached, or the receiver went away.
pub async fn stream_log<F, Fut>(
    path: PathBuf,
    opts: LogOptions,
    follow: bool,
    alive: F,
    tx: mpsc::Sender<Bytes>,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut file = LogFile {
        path,
        file: None,
        ino: 0,
        offset: 0,
    };
    let tail_lines = opts.tail_lines;
    let mut render = Renderer::new(opts);
    let mut joiner = Joiner::default();
    let mut buf = Vec::new();

    // The first read is the backlog, where tailLines applies.
    file.read_new(&mut buf).await;
    let mut backlog: Vec<_> = parse::take_lines(&mut buf)
        .iter()
        .filter_map(|l| joiner.push(l))
        .collect();
    if !follow {
        // A line still being written when we read counts as it stands.
        if !buf.is_empty() {
            backlog.extend(joiner.push(&std::mem::take(&mut buf)));
        }
        backlog.extend(joiner.flush());
    }
    let out: Vec<u8> = parse::tail(backlog, tail_lines)
        .iter()
        .flat_map(|e| render.render(e))
        .collect();
    if !send(&tx, out).await || !follow {
        return;
    }

    let mut idle = 0u32;
    let mut exiting = false;
    loop {
        if render.done() || tx.is_closed() {
            return;
        }
        let n = file.read_new(&mut buf).await;
        let out: Vec<u8> = parse::take_lines(&mut buf)
            .iter()
            .filter_map(|l| joiner.push(l))
            .flat_map(|e| render.render(&e))
            .collect();
        if !send(&tx, out).await {
            return;
        }
        if n > 0 {
            idle = 0;
            continue;
        }
        if file.check_rotated().await {
            continue;
        }
        if exiting {
            // The container is gone and its file drained: end the response.
            let out: Vec<u8> = joiner
                .flush()
                .iter()
                .flat_map(|e| render.render(e))
                .collect();
            send(&tx, out).await;
            return;
        }
        idle += 1;
        if idle.is_multiple_of(ALIVE_EVERY) && !alive().await {
            // One more read picks up what was written just before the exit.
            exiting = true;
            continue;
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn send(tx: &mpsc::Sender<Bytes>, out: Vec<u8>) -> bool {
    out.is_empty() || tx.send(Bytes::from(out)).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    async fn collect(mut rx: mpsc::Receiver<Bytes>) -> String {
        let mut out = Vec::new();
        let all = async {
            while let Some(b) = rx.recv().await {
                out.extend_from_slice(&b);
            }
        };
        tokio::time::timeout(Duration::from_secs(10), all)
            .await
            .expect("the log stream did not end");
        String::from_utf8(out).unwrap()
    }

    async fn recv(rx: &mut mpsc::Receiver<Bytes>) -> Bytes {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("no log output in time")
            .expect("log stream ended early")
    }

    fn append(path: &std::path::Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[tokio::test]
    async fn whole_file_with_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        append(
            &path,
            "2024-01-01T00:00:00Z stdout F a\n2024-01-01T00:00:01Z stdout F b\n2024-01-01T00:00:02Z stdout P c",
        );
        let (tx, rx) = mpsc::channel(4);
        let opts = LogOptions {
            tail_lines: Some(2),
            ..Default::default()
        };
        stream_log(path, opts, false, || async { true }, tx).await;
        // The unfinished last piece counts as a line of its own.
        assert_eq!(collect(rx).await, "b\nc");
    }

    #[tokio::test]
    async fn follow_sees_appends_rotation_and_ends_after_exit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        append(&path, "2024-01-01T00:00:00Z stdout F first\n");
        let running = Arc::new(AtomicBool::new(true));
        let (tx, mut rx) = mpsc::channel(16);
        let r = running.clone();
        let opts = LogOptions {
            tail_lines: Some(1),
            ..Default::default()
        };
        let task = tokio::spawn(stream_log(
            path.clone(),
            opts,
            true,
            move || {
                let r = r.clone();
                async move { r.load(Ordering::SeqCst) }
            },
            tx,
        ));
        assert_eq!(recv(&mut rx).await, Bytes::from_static(b"first\n"));
        // A line written in two pieces arrives once it is complete.
        append(&path, "2024-01-01T00:00:01Z stdout P sec");
        append(&path, "ond\n2024-01-01T00:00:01Z stdout F  half\n");
        let mut got = Vec::new();
        while got.len() < b"second half\n".len() {
            got.extend_from_slice(&recv(&mut rx).await);
        }
        assert_eq!(got, b"second half\n");
        // Rotation: the file is renamed and a new one takes its place.
        std::fs::rename(&path, dir.path().join("0.log.1")).unwrap();
        append(&path, "2024-01-01T00:00:02Z stderr F after rotation\n");
        assert_eq!(recv(&mut rx).await, Bytes::from_static(b"after rotation\n"));
        // Lines written just before the exit are still delivered, then the body ends.
        append(&path, "2024-01-01T00:00:03Z stdout F last words\n");
        running.store(false, Ordering::SeqCst);
        assert_eq!(collect(rx).await, "last words\n");
        task.await.unwrap();
    }

    #[tokio::test]
    async fn follow_stops_at_limit_and_waits_for_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let (tx, rx) = mpsc::channel(16);
        let opts = LogOptions {
            limit_bytes: Some(4),
            ..Default::default()
        };
        let task = tokio::spawn(stream_log(path.clone(), opts, true, || async { true }, tx));
        tokio::time::sleep(POLL * 2).await;
        append(&path, "2024-01-01T00:00:00Z stdout F abcdef\n");
        assert_eq!(collect(rx).await, "abcd");
        task.await.unwrap();
    }
}
