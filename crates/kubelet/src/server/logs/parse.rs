//! The CRI log file format and the request options applied to it. A file line is
//! `<RFC3339Nano time> <stdout|stderr> <F|P> <message>`; `P` marks a piece of a line the
//! runtime split (too long, or no newline yet), continued by the next line of that stream.

use chrono::{DateTime, FixedOffset, Utc};

use crate::server::route::Query;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One line of a CRI log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriLine<'a> {
    pub time: DateTime<FixedOffset>,
    pub stream: LogStream,
    pub partial: bool,
    pub message: &'a [u8],
}

/// Parses one file line (without its trailing newline).
pub fn parse_line(line: &[u8]) -> Result<CriLine<'_>, String> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let mut next = |what: &str| {
        parts
            .next()
            .ok_or_else(|| format!("log line without {what}"))
    };
    let time = next("time")?;
    let stream = next("stream")?;
    let tag = next("tag")?;
    // An empty message may lack the separator after the tag.
    let message = parts.next().unwrap_or_default();
    let time = std::str::from_utf8(time)
        .ok()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| format!("bad time {:?}", String::from_utf8_lossy(time)))?;
    let stream = match stream {
        b"stdout" => LogStream::Stdout,
        b"stderr" => LogStream::Stderr,
        other => return Err(format!("bad stream {:?}", String::from_utf8_lossy(other))),
    };
    // Tags may carry more flags after the first, separated by ':'.
    let partial = match tag.split(|b| *b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return Err(format!("bad tag {:?}", String::from_utf8_lossy(tag))),
    };
    Ok(CriLine {
        time,
        stream,
        partial,
        message,
    })
}

/// One logical log line: partial pieces joined, stamped with the first piece's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub time: DateTime<FixedOffset>,
    pub stream: LogStream,
    /// The bytes to output, ending in `\n` unless the line was never completed.
    pub content: Vec<u8>,
}

/// Joins partial pieces per stream (stdout and stderr pieces may interleave).
#[derive(Debug, Default)]
pub struct Joiner {
    pending: [Option<Entry>; 2],
}

impl Joiner {
    /// Feeds one file line; returns the entry it completes, if any. Malformed lines are
    /// skipped, as upstream's kubelet does.
    pub fn push(&mut self, line: &[u8]) -> Option<Entry> {
        let l = match parse_line(line) {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "skipping malformed CRI log line");
                return None;
            }
        };
        let slot = &mut self.pending[l.stream as usize];
        let mut entry = slot.take().unwrap_or_else(|| Entry {
            time: l.time,
            stream: l.stream,
            content: Vec::new(),
        });
        entry.content.extend_from_slice(l.message);
        if l.partial {
            *slot = Some(entry);
            None
        } else {
            entry.content.push(b'\n');
            Some(entry)
        }
    }

    /// Lines never completed (the file ended mid-line), oldest first.
    pub fn flush(&mut self) -> Vec<Entry> {
        let mut out: Vec<Entry> = self.pending.iter_mut().filter_map(Option::take).collect();
        out.sort_by_key(|e| e.time);
        out
    }
}

/// Takes the complete lines (without `\n`) off the front of `buf`, leaving an unfinished
/// last line in it.
pub fn take_lines(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let Some(last_nl) = buf.iter().rposition(|b| *b == b'\n') else {
        return Vec::new();
    };
    let rest = buf.split_off(last_nl + 1);
    let done = std::mem::replace(buf, rest);
    done[..done.len() - 1]
        .split(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// `containerLogs` query options (upstream's PodLogOptions as the kubelet reads them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<usize>,
    pub since: Option<DateTime<Utc>>,
    pub limit_bytes: Option<u64>,
    /// `None` = both streams.
    pub stream: Option<LogStream>,
}

impl LogOptions {
    pub fn from_query(q: &Query, now: DateTime<Utc>) -> Result<Self, String> {
        let int = |key: &str| -> Result<Option<i64>, String> {
            q.get(key)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| format!("invalid value {v:?} for {key}: not an integer"))
                })
                .transpose()
        };
        let mut o = LogOptions {
            follow: q.flag("follow")?,
            previous: q.flag("previous")?,
            timestamps: q.flag("timestamps")?,
            ..Default::default()
        };
        // A negative count means "everything", as upstream's reader treats -1.
        o.tail_lines = int("tailLines")?.and_then(|n| usize::try_from(n).ok());
        if let Some(n) = int("limitBytes")? {
            if n < 1 {
                return Err(format!("limitBytes must be greater than 0, got {n}"));
            }
            o.limit_bytes = Some(n as u64);
        }
        if let Some(t) = q.get("sinceTime").filter(|v| !v.is_empty()) {
            let t = DateTime::parse_from_rfc3339(t)
                .map_err(|e| format!("invalid sinceTime {t:?}: {e}"))?;
            o.since = Some(t.with_timezone(&Utc));
        } else if let Some(s) = int("sinceSeconds")? {
            if s < 1 {
                return Err(format!("sinceSeconds must be greater than 0, got {s}"));
            }
            o.since = Some(now - chrono::Duration::seconds(s));
        }
        o.stream = match q.get("stream").unwrap_or("") {
            "" | "All" => None,
            "Stdout" => Some(LogStream::Stdout),
            "Stderr" => Some(LogStream::Stderr),
            other => return Err(format!("invalid stream type {other:?}")),
        };
        Ok(o)
    }
}

/// Upstream's fixed-width RFC 3339 with nanoseconds (`2006-01-02T15:04:05.000000000Z07:00`).
pub fn format_time(t: &DateTime<FixedOffset>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
    if t.offset().local_minus_utc() == 0 {
        base + "Z"
    } else {
        base + &t.format("%:z").to_string()
    }
}

/// Keeps the last `n` entries (tailLines), `None` = all.
pub fn tail(mut entries: Vec<Entry>, n: Option<usize>) -> Vec<Entry> {
    if let Some(n) = n {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    entries
}

/// Applies the per-entry options (stream, since, timestamps) and the byte limit across
/// the whole response.
#[derive(Debug)]
pub struct Renderer {
    opts: LogOptions,
    left: Option<u64>,
}

impl Renderer {
    pub fn new(opts: LogOptions) -> Self {
        Self {
            left: opts.limit_bytes,
            opts,
        }
    }

    /// The bytes to send for `e` (empty when filtered out or the limit is used up).
    pub fn render(&mut self, e: &Entry) -> Vec<u8> {
        if self.done()
            || self.opts.stream.is_some_and(|s| s != e.stream)
            || self.opts.since.is_some_and(|s| e.time < s)
        {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(e.content.len() + 36);
        if self.opts.timestamps {
            out.extend_from_slice(format_time(&e.time).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&e.content);
        if let Some(left) = &mut self.left {
            out.truncate((*left).min(out.len() as u64) as usize);
            *left -= out.len() as u64;
        }
        out
    }

    /// True once limitBytes bytes were produced; nothing more will be.
    pub fn done(&self) -> bool {
        self.left == Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    const FILE: &str = "\
2024-05-01T10:00:00.1Z stdout F one
2024-05-01T10:00:01.000000002Z stderr F two err
2024-05-01T10:00:02Z stdout P thr
2024-05-01T10:00:02.5Z stderr F interleaved
2024-05-01T10:00:03Z stdout P e
2024-05-01T10:00:03.5Z stdout F e!
garbage line
2024-05-01T12:00:04+02:00 stdout F four
";

    fn entries(text: &str) -> Vec<Entry> {
        let mut buf = text.as_bytes().to_vec();
        let mut j = Joiner::default();
        let mut out: Vec<Entry> = take_lines(&mut buf)
            .iter()
            .filter_map(|l| j.push(l))
            .collect();
        out.extend(j.flush());
        out
    }

    #[test]
    fn parses_cri_lines() {
        let l = parse_line(b"2016-10-06T00:17:09.669794202Z stdout P log content 1").unwrap();
        assert_eq!(l.time, t("2016-10-06T00:17:09.669794202Z"));
        assert_eq!(l.stream, LogStream::Stdout);
        assert!(l.partial);
        assert_eq!(l.message, b"log content 1");
        let l = parse_line(b"2016-10-06T00:17:09Z stderr F").unwrap();
        assert_eq!(
            (l.stream, l.partial, l.message),
            (LogStream::Stderr, false, &b""[..])
        );
        assert!(parse_line(b"2016-10-06T00:17:09Z stdin F x").is_err());
        assert!(parse_line(b"yesterday stdout F x").is_err());
        assert!(parse_line(b"2016-10-06T00:17:09Z stdout Q x").is_err());
        assert!(parse_line(b"").is_err());
        // Spaces inside the message are kept.
        let l = parse_line(b"2016-10-06T00:17:09Z stdout F  a  b ").unwrap();
        assert_eq!(l.message, b" a  b ");
    }

    #[test]
    fn joins_partials_per_stream_and_skips_garbage() {
        let e = entries(FILE);
        let text: Vec<String> = e
            .iter()
            .map(|e| String::from_utf8_lossy(&e.content).into_owned())
            .collect();
        assert_eq!(
            text,
            ["one\n", "two err\n", "interleaved\n", "three!\n", "four\n"]
        );
        // The joined line keeps its first piece's time.
        assert_eq!(e[3].time, t("2024-05-01T10:00:02Z"));
        assert_eq!(e[1].stream, LogStream::Stderr);
    }

    #[test]
    fn unfinished_line_is_kept_for_later() {
        let mut buf = b"2024-05-01T10:00:00Z stdout F a\n2024-05-01T10:00:01Z std".to_vec();
        let lines = take_lines(&mut buf);
        assert_eq!(lines, vec![b"2024-05-01T10:00:00Z stdout F a".to_vec()]);
        assert_eq!(buf, b"2024-05-01T10:00:01Z std");
        assert!(take_lines(&mut buf).is_empty());
        // A partial piece with no continuation yet is flushed without a newline.
        let e = entries("2024-05-01T10:00:00Z stdout P no newline\n");
        assert_eq!(e[0].content, b"no newline");
    }

    #[test]
    fn timestamps_are_fixed_width_and_keep_offsets() {
        assert_eq!(
            format_time(&t("2024-05-01T10:00:00.1Z")),
            "2024-05-01T10:00:00.100000000Z"
        );
        assert_eq!(
            format_time(&t("2024-05-01T12:00:04+02:00")),
            "2024-05-01T12:00:04.000000000+02:00"
        );
    }

    fn render_all(opts: LogOptions) -> String {
        let tail_n = opts.tail_lines;
        let mut r = Renderer::new(opts);
        let out: Vec<u8> = tail(entries(FILE), tail_n)
            .iter()
            .flat_map(|e| r.render(e))
            .collect();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn options_tail_since_limit_stream_and_timestamps() {
        assert_eq!(
            render_all(LogOptions::default()),
            "one\ntwo err\ninterleaved\nthree!\nfour\n"
        );
        let tail2 = LogOptions {
            tail_lines: Some(2),
            ..Default::default()
        };
        assert_eq!(render_all(tail2), "three!\nfour\n");
        let tail0 = LogOptions {
            tail_lines: Some(0),
            ..Default::default()
        };
        assert_eq!(render_all(tail0), "");
        let since = LogOptions {
            since: Some(t("2024-05-01T10:00:02Z").with_timezone(&Utc)),
            ..Default::default()
        };
        // 12:00:04+02:00 is 10:00:04Z, so it is after the cut-off.
        assert_eq!(render_all(since), "interleaved\nthree!\nfour\n");
        let limit = LogOptions {
            limit_bytes: Some(10),
            ..Default::default()
        };
        assert_eq!(render_all(limit), "one\ntwo er");
        let stderr = LogOptions {
            stream: Some(LogStream::Stderr),
            ..Default::default()
        };
        assert_eq!(render_all(stderr), "two err\ninterleaved\n");
        let ts = LogOptions {
            timestamps: true,
            tail_lines: Some(1),
            ..Default::default()
        };
        assert_eq!(render_all(ts), "2024-05-01T12:00:04.000000000+02:00 four\n");
    }

    #[test]
    fn options_from_query() {
        let now = t("2024-05-01T10:00:00Z").with_timezone(&Utc);
        let q = Query::parse(Some(
            "follow=true&tailLines=5&timestamps=1&sinceSeconds=60&limitBytes=100&previous=false",
        ));
        let o = LogOptions::from_query(&q, now).unwrap();
        assert!(o.follow && o.timestamps && !o.previous);
        assert_eq!(o.tail_lines, Some(5));
        assert_eq!(o.limit_bytes, Some(100));
        assert_eq!(o.since, Some(t("2024-05-01T09:59:00Z").with_timezone(&Utc)));
        let q = Query::parse(Some("sinceTime=2024-04-30T00:00:00Z&sinceSeconds=5"));
        assert_eq!(
            LogOptions::from_query(&q, now).unwrap().since,
            Some(t("2024-04-30T00:00:00Z").with_timezone(&Utc))
        );
        let q = Query::parse(Some("tailLines=-1&stream=Stderr"));
        let o = LogOptions::from_query(&q, now).unwrap();
        assert_eq!((o.tail_lines, o.stream), (None, Some(LogStream::Stderr)));
        for bad in [
            "tailLines=x",
            "limitBytes=0",
            "sinceSeconds=0",
            "sinceTime=yesterday",
            "follow=maybe",
            "stream=Both",
        ] {
            assert!(
                LogOptions::from_query(&Query::parse(Some(bad)), now).is_err(),
                "{bad}"
            );
        }
    }
}
