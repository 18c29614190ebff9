use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::spdy::frame::{self as sf, Frame, FLAG_FIN};
use crate::spdy::{HeaderCompressor, HeaderDecompressor, Headers, SpdyConnection};
use crate::ws::frame::{self as wf, OpCode};

/// A hand-driven masked WebSocket client speaking raw frames.
struct RawWs {
    io: DuplexStream,
    buf: BytesMut,
}

impl RawWs {
    async fn send(&mut self, op: OpCode, payload: &[u8]) {
        let mut out = BytesMut::new();
        wf::encode(&mut out, true, op, payload, Some([9, 8, 7, 6]));
        self.io.write_all(&out).await.unwrap();
    }

    async fn next(&mut self) -> wf::Frame {
        loop {
            if let Some(f) = wf::decode(&mut self.buf, 1 << 20).unwrap() {
                assert!(!f.masked, "server frames must not be masked");
                return f;
            }
            let n = self.io.read_buf(&mut self.buf).await.unwrap();
            assert!(n > 0, "server hung up early");
        }
    }
}

#[test]
fn options_from_query() {
    let o = ExecOptions::from_query("command=bash&container=c&stdin=true&stdout=true&tty=true");
    assert!(o.stdin && o.stdout && o.tty && !o.stderr);
    let o = ExecOptions::from_query("command=env&stderr=true&stdout=1");
    assert!(o.stdout && o.wants_stderr() && !o.stdin);
}

#[test]
fn resize_decoder_handles_split_documents() {
    let mut d = ResizeDecoder::default();
    assert!(d.push(br#"{"Width":80,"He"#).is_empty());
    let sizes = d.push(b"ight\":24}\n{\"Width\":0,\"Height\":0}\n");
    assert_eq!(
        sizes,
        vec![
            TerminalSize {
                width: 80,
                height: 24
            },
            TerminalSize {
                width: 0,
                height: 0
            }
        ]
    );
    assert!(d.push(b"garbage").is_empty());
    assert_eq!(d.push(b"{\"Width\":1,\"Height\":2}").len(), 1);
}

#[tokio::test]
async fn websocket_v5_session_with_ping_resize_stdin_and_exit_code() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let opts = ExecOptions::from_query("stdin=true&stdout=true&tty=true");
    let mut streams = serve_exec_websocket(server, Some("v5.channel.k8s.io"), opts)
        .await
        .unwrap();
    assert!(streams.stderr.is_none());
    let mut c = RawWs {
        io: client,
        buf: BytesMut::new(),
    };

    c.send(OpCode::Ping, b"").await;
    let pong = c.next().await;
    assert_eq!((pong.opcode, pong.payload.len()), (OpCode::Pong, 0));

    c.send(OpCode::Binary, b"\x04{\"Width\":120,\"Height\":40}\n")
        .await;
    let size = streams.resize.as_mut().unwrap().recv().await.unwrap();
    assert_eq!(
        size,
        TerminalSize {
            width: 120,
            height: 40
        }
    );

    c.send(OpCode::Binary, b"\x00ls\r").await;
    c.send(OpCode::Binary, &[255, 0]).await;
    let mut stdin = streams.stdin.take().unwrap();
    assert_eq!(stdin.recv().await.unwrap(), Bytes::from_static(b"ls\r"));
    assert!(stdin.recv().await.is_none(), "FF 00 ends stdin");

    let stdout = streams.stdout.take().unwrap();
    stdout.send(Bytes::from_static(b"file\r\n")).await.unwrap();
    let fin = tokio::spawn(streams.finish(ExitStatus::Exited {
        code: 1,
        command: vec!["false".into()],
    }));
    let f = c.next().await;
    assert_eq!(f.opcode, OpCode::Binary);
    assert_eq!(&f.payload[..], b"\x01file\r\n");
    let f = c.next().await;
    assert_eq!(f.payload[0], 3);
    let status: serde_json::Value = serde_json::from_slice(&f.payload[1..]).unwrap();
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "1");
    let close = c.next().await;
    assert_eq!(close.opcode, OpCode::Close);
    assert_eq!(&close.payload[..], &[0x03, 0xe8]);
    fin.await.unwrap().unwrap();
    assert!(stdout.send(Bytes::from_static(b"late")).await.is_err());
}

#[tokio::test]
async fn websocket_v1_base64_reports_failure_as_text() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let opts = ExecOptions::from_query("stdout=true&stderr=true");
    let streams = serve_exec_websocket(server, Some("base64.channel.k8s.io"), opts)
        .await
        .unwrap();
    let mut c = RawWs {
        io: client,
        buf: BytesMut::new(),
    };
    let err = streams.stderr.clone().unwrap();
    err.send(Bytes::from_static(b"oops\n")).await.unwrap();
    streams
        .finish(ExitStatus::Failed("container not found".into()))
        .await
        .unwrap();
    let f = c.next().await;
    assert_eq!(
        (f.opcode, &f.payload[..]),
        (OpCode::Text, &b"2b29wcwo="[..])
    );
    let f = c.next().await;
    assert_eq!(&f.payload[..], b"3Y29udGFpbmVyIG5vdCBmb3VuZA==");
    assert_eq!(c.next().await.opcode, OpCode::Close);
}

/// A hand-driven SPDY client with its own compression contexts.
pub(crate) struct RawSpdy {
    pub io: DuplexStream,
    pub buf: BytesMut,
    pub comp: HeaderCompressor,
    pub decomp: HeaderDecompressor,
}

impl RawSpdy {
    pub fn new(io: DuplexStream) -> Self {
        Self {
            io,
            buf: BytesMut::new(),
            comp: HeaderCompressor::new().unwrap(),
            decomp: HeaderDecompressor::new(),
        }
    }

    pub async fn send(&mut self, f: Frame) {
        let mut out = BytesMut::new();
        sf::encode(&f, &mut self.comp, &mut out).unwrap();
        self.io.write_all(&out).await.unwrap();
    }

    pub async fn syn(&mut self, id: u32, headers: Headers) {
        self.send(Frame::SynStream {
            stream_id: id,
            associated_id: 0,
            priority: 0,
            flags: 0,
            headers,
        })
        .await;
    }

    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = sf::decode(&mut self.buf, &mut self.decomp, 1 << 20).unwrap() {
                return Some(f);
            }
            if self.io.read_buf(&mut self.buf).await.unwrap() == 0 {
                return None;
            }
        }
    }
}

#[tokio::test]
async fn spdy_exec_session_like_kubectl() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let conn = SpdyConnection::server(server);
    let opts = ExecOptions::from_query("command=env&stdin=true&stdout=true&stderr=true");
    let session = tokio::spawn(serve_exec_spdy(conn, "v4.channel.k8s.io", opts));
    let mut c = RawSpdy::new(client);
    for (id, kind) in [(1, "error"), (3, "stdin"), (5, "stdout"), (7, "stderr")] {
        c.syn(id, Headers::new().with("streamtype", kind)).await;
        match c.next().await.unwrap() {
            Frame::SynReply { stream_id, .. } => assert_eq!(stream_id, id),
            other => panic!("expected SYN_REPLY, got {other:?}"),
        }
    }
    let mut streams = session.await.unwrap().unwrap();
    assert_eq!(streams.protocol, "v4.channel.k8s.io");

    c.send(Frame::Ping { id: 1 }).await;
    assert_eq!(c.next().await.unwrap(), Frame::Ping { id: 1 });

    c.send(Frame::Data {
        stream_id: 3,
        flags: FLAG_FIN,
        data: Bytes::from_static(b"input"),
    })
    .await;
    let mut stdin = streams.stdin.take().unwrap();
    assert_eq!(stdin.recv().await.unwrap(), Bytes::from_static(b"input"));
    assert!(stdin.recv().await.is_none());

    streams
        .stdout
        .as_ref()
        .unwrap()
        .send(Bytes::from_static(b"PATH=/bin\n"))
        .await
        .unwrap();
    streams
        .stderr
        .as_ref()
        .unwrap()
        .send(Bytes::from_static(b"warn\n"))
        .await
        .unwrap();
    let fin = tokio::spawn(streams.finish(ExitStatus::Exited {
        code: 2,
        command: vec!["env".into()],
    }));
    let mut frames = Vec::new();
    while frames.len() < 5 {
        frames.push(c.next().await.unwrap());
    }
    let data = |id: u32, flags: u8, d: &'static [u8]| Frame::Data {
        stream_id: id,
        flags,
        data: Bytes::from_static(d),
    };
    assert_eq!(frames[0], data(5, 0, b"PATH=/bin\n"));
    assert_eq!(frames[1], data(7, 0, b"warn\n"));
    assert_eq!(frames[2], data(5, FLAG_FIN, b""));
    assert_eq!(frames[3], data(7, FLAG_FIN, b""));
    let Frame::Data {
        stream_id: 1,
        flags: FLAG_FIN,
        data,
    } = &frames[4]
    else {
        panic!("expected status on the error stream, got {:?}", frames[4]);
    };
    let status: serde_json::Value = serde_json::from_slice(data).unwrap();
    assert_eq!(status["details"]["causes"][0]["message"], "2");
    fin.await.unwrap().unwrap();

    // kubectl then cancels its streams and says goodbye; the server goes away too.
    c.send(Frame::RstStream {
        stream_id: 5,
        status: sf::rst::CANCEL,
    })
    .await;
    c.send(Frame::GoAway {
        last_good_stream_id: 0,
        status: 0,
    })
    .await;
    let mut saw_goaway = false;
    while let Some(f) = c.next().await {
        saw_goaway |= matches!(f, Frame::GoAway { .. });
    }
    assert!(saw_goaway);
}

#[tokio::test]
async fn spdy_exec_times_out_without_streams() {
    tokio::time::pause();
    let (_client, server) = tokio::io::duplex(1024);
    let conn = SpdyConnection::server(server);
    let res = serve_exec_spdy(
        conn,
        "v4.channel.k8s.io",
        ExecOptions::from_query("stdout=true"),
    )
    .await;
    assert!(matches!(res, Err(Error::Spdy(_))));
}
