//! The metrics endpoint: a small HTTP/1.x server on a thread of its own
//! ([`MetricsEndpoint::spawn`], smol's `block_on` there), which never
//! touches the hot loop's wait: it reads the board the loop publishes on.
//!
//! One connection at a time, each with a size limit on the request
//! ([`MAX_REQUEST`]) and a time limit on the whole exchange
//! ([`EXCHANGE_TIME_LIMIT`]), then closed: a scraper that stalls holds the
//! endpoint no longer than that, and a flood of connections costs a queue
//! in the kernel's backlog, not memory here. `GET /metrics` (and `HEAD`) is
//! the exposition; `/` says where it is; anything else is 404 or 405.
//!
//! It decides nothing about the metrics themselves ([`super::exposition`]).

use std::io;
use std::os::unix::fs::FileTypeExt as _;
use std::path::PathBuf;
use std::time::Duration;

use smol::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use smol::net::TcpListener;
use smol::net::unix::UnixListener;

use super::exposition::{self, Format};
use super::process::ProcessStats;
use super::{MetricsAddr, MetricsBoard, MetricsSnapshot};
use crate::log;

/// The endpoint's thread: stopped, and waited for, when dropped (so the
/// endpoint, and its unix socket file, is gone before the process exits).
#[derive(Debug)]
pub struct EndpointThread {
    stop: Option<smol::channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for EndpointThread {
    fn drop(&mut self) {
        // Closing the channel ends the thread's wait.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The largest request head read (request line and headers).
pub const MAX_REQUEST: usize = 8 * 1024;

/// The longest one exchange may take, from accept to the last byte written.
pub const EXCHANGE_TIME_LIMIT: Duration = Duration::from_secs(5);

/// A bound listening socket.
#[derive(Debug)]
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

/// The endpoint, bound and ready to serve.
#[derive(Debug)]
pub struct MetricsEndpoint {
    listener: Listener,
    board: MetricsBoard,
}

impl MetricsEndpoint {
    /// Binds `addr` (at start, before anything is written: a port in use
    /// ends the start with that error). A unix socket left by an earlier run
    /// is replaced (the instance lock says no other daemon of this state
    /// directory runs); any other file at the path is an error.
    pub fn bind(addr: &MetricsAddr, board: MetricsBoard) -> io::Result<Self> {
        let with = |e: io::Error| io::Error::new(e.kind(), format!("metrics endpoint {addr}: {e}"));
        let listener = match addr {
            MetricsAddr::Tcp(a) => Listener::Tcp(
                TcpListener::try_from(std::net::TcpListener::bind(a).map_err(with)?).map_err(with)?,
            ),
            MetricsAddr::Unix(path) => {
                match std::fs::symlink_metadata(path) {
                    Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path).map_err(with)?,
                    Ok(_) => {
                        return Err(with(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "exists and is not a socket",
                        )));
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(with(e)),
                }
                let std_listener = std::os::unix::net::UnixListener::bind(path).map_err(with)?;
                Listener::Unix(UnixListener::try_from(std_listener).map_err(with)?, path.clone())
            }
        };
        Ok(Self { listener, board })
    }

    /// The address bound (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> io::Result<MetricsAddr> {
        match &self.listener {
            Listener::Tcp(l) => l.local_addr().map(MetricsAddr::Tcp),
            Listener::Unix(_, path) => Ok(MetricsAddr::Unix(path.clone())),
        }
    }

    /// Serves on a thread of its own until the returned handle is stopped
    /// (or dropped).
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn(self) -> io::Result<EndpointThread> {
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let thread = std::thread::Builder::new().name("portsyncd-metrics".into()).spawn(move || {
            // The endpoint (and a unix socket file) is dropped before the
            // thread ends.
            smol::block_on(smol::future::or(self.serve(), async {
                let _ = stopped.recv().await;
            }));
        })?;
        Ok(EndpointThread { stop: Some(stop), thread: Some(thread) })
    }

    /// Serves until dropped (cancelled).
    pub async fn serve(self) {
        loop {
            let accepted = match &self.listener {
                Listener::Tcp(l) => l.accept().await.map(|(s, _)| Conn::Tcp(s)),
                Listener::Unix(l, _) => l.accept().await.map(|(s, _)| Conn::Unix(s)),
            };
            match accepted {
                Ok(Conn::Tcp(s)) => self.exchange(s).await,
                Ok(Conn::Unix(s)) => self.exchange(s).await,
                Err(e) => {
                    // EMFILE and the like: wait rather than spin.
                    log!(Warn, "metrics endpoint: accept: {e}");
                    smol::Timer::after(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn exchange(&self, stream: impl AsyncRead + AsyncWrite + Unpin) {
        let limit = async {
            smol::Timer::after(EXCHANGE_TIME_LIMIT).await;
        };
        smol::future::or(async { answer(stream, &self.board).await.unwrap_or(()) }, limit).await;
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = &self.listener {
            let _ = std::fs::remove_file(path);
        }
    }
}

enum Conn {
    Tcp(smol::net::TcpStream),
    Unix(smol::net::unix::UnixStream),
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    accept: Option<&'a str>,
}

/// Parses a request head (everything before the blank line).
fn parse(head: &str) -> Option<Request<'_>> {
    let mut lines = head.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return None;
    }
    let path = target.split('?').next().unwrap_or(target);
    let accept = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim().eq_ignore_ascii_case("accept").then(|| value.trim())
    });
    Some(Request { method, path, accept })
}

async fn answer(mut stream: impl AsyncRead + AsyncWrite + Unpin, board: &MetricsBoard) -> io::Result<()> {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    let head_len = loop {
        if let Some(end) = buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if len == buf.len() {
            respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"request too large\n",
                false,
            )
            .await?;
            // What the client is still sending is read and dropped before
            // closing: closing on unread bytes would reset the connection,
            // and the client would lose the answer.
            return discard(&mut stream).await;
        }
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            return Ok(());
        }
        len += n;
    };
    let Some(request) = std::str::from_utf8(&buf[..head_len]).ok().and_then(parse) else {
        return respond(&mut stream, "400 Bad Request", "text/plain", b"bad request\n", false).await;
    };
    let head_only = request.method == "HEAD";
    if request.method != "GET" && !head_only {
        return respond(&mut stream, "405 Method Not Allowed", "text/plain", b"GET or HEAD only\n", false)
            .await;
    }
    match request.path {
        "/metrics" => {
            let format = Format::from_accept(request.accept);
            let mut snapshot = MetricsSnapshot::default();
            board.copy_to(&mut snapshot);
            let body = exposition::encode(snapshot, ProcessStats::read(), format);
            respond(&mut stream, "200 OK", format.content_type(), body.as_bytes(), head_only).await
        }
        "/" => {
            respond(&mut stream, "200 OK", "text/plain", b"portsyncd: metrics at /metrics\n", head_only).await
        }
        _ => {
            respond(&mut stream, "404 Not Found", "text/plain", b"not found: try /metrics\n", head_only).await
        }
    }
}

/// Reads and drops what the client still sends (up to 64 KiB), until it
/// closes; the exchange's time limit bounds the wait.
async fn discard(stream: &mut (impl AsyncRead + Unpin)) -> io::Result<()> {
    let mut sink = [0u8; 4096];
    let mut total = 0;
    while total < 64 * 1024 {
        match stream.read(&mut sink).await? {
            0 => break,
            n => total += n,
        }
    }
    Ok(())
}

async fn respond(
    stream: &mut (impl AsyncWrite + Unpin),
    status: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        stream.write_all(body).await?;
    }
    stream.flush().await?;
    stream.close().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads_parse_or_are_refused() {
        assert_eq!(
            parse(
                "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\naccept: application/openmetrics-text;version=1.0.0"
            ),
            Some(Request {
                method: "GET",
                path: "/metrics",
                accept: Some("application/openmetrics-text;version=1.0.0")
            })
        );
        assert_eq!(parse("HEAD / HTTP/1.0"), Some(Request { method: "HEAD", path: "/", accept: None }));
        for bad in ["", "GET /metrics", "GET /metrics HTTP/2", "GET  /metrics HTTP/1.1", "GET /a b HTTP/1.1"]
        {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
