//! The metrics endpoint: a small HTTP/1.x server on a thread of its own
//! ([`MetricsEndpoint::spawn`]: smol's `block_on` and a local executor
//! there), which never touches the hot loop's wait: it reads the board the
//! loop publishes on.
//!
//! Connections are served concurrently, up to [`MAX_CONNECTIONS`] at once,
//! each a task of the endpoint thread's executor (no thread of its own):
//! beyond that, new connections wait in the kernel's backlog until one
//! ends. A client has [`HEAD_DEADLINE`] to send its request head (at most
//! [`MAX_REQUEST`] bytes, parsed by `httparse`: a head that is not HTTP/1.x
//! is answered 400, one too large 431, one too slow 408) and the whole
//! exchange [`EXCHANGE_TIME_LIMIT`]; then the connection is closed. So idle
//! or slow clients cost a task each, for two seconds, and never delay a
//! scrape. `GET /metrics` (and `HEAD`; the target in origin or absolute
//! form) is the exposition, in the format `Accept` prefers
//! ([`Format::from_accept`]); `/` says where it is; anything else is 404 or
//! 405.
//!
//! The unix-socket form ([`MetricsEndpoint::bind`]) makes the socket's
//! directory if it is missing (0755), takes over a socket file only when
//! nobody answers on it (stale), and sets the socket's mode and group
//! before it listens: it is never reachable with a mode from the umask.
//!
//! It decides nothing about the metrics themselves ([`super::exposition`]).

use std::io;
use std::os::unix::fs::{DirBuilderExt as _, FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use smol::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use smol::net::TcpListener;
use smol::net::unix::UnixListener;

use super::exposition::{self, Format};
use super::process::ProcessStats;
use super::{MetricsAddr, MetricsBoard, MetricsSnapshot, SocketAccess};
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

/// The most connections served at once.
pub const MAX_CONNECTIONS: usize = 128;

/// The largest request head read (request line and headers).
pub const MAX_REQUEST: usize = 8 * 1024;

/// The most header lines a request head may have.
pub const MAX_HEADERS: usize = 32;

/// How long a client has, from accept, to send its whole request head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(2);

/// The longest one exchange may take, from accept to the last byte written.
pub const EXCHANGE_TIME_LIMIT: Duration = Duration::from_secs(5);

/// The unix socket's directory, when it has to be made.
const DIR_MODE: u32 = 0o755;

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
    /// ends the start with that error). A unix socket: its directory made
    /// if missing (0755); a socket file already at the path is replaced only
    /// if nobody answers on it (a live one is another process's: an error);
    /// any other file at the path is an error; the socket's mode and group
    /// are `access`'s, set before it listens.
    pub fn bind(addr: &MetricsAddr, access: &SocketAccess, board: MetricsBoard) -> io::Result<Self> {
        let with = |e: io::Error| io::Error::new(e.kind(), format!("metrics endpoint {addr}: {e}"));
        let listener = match addr {
            MetricsAddr::Tcp(a) => Listener::Tcp(
                TcpListener::try_from(std::net::TcpListener::bind(a).map_err(with)?).map_err(with)?,
            ),
            MetricsAddr::Unix(path) => {
                let std_listener = bind_unix(path, access).map_err(with)?;
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

    /// Serves until dropped (cancelled): every connection a task of a local
    /// executor, at most [`MAX_CONNECTIONS`] at once (dropping this future
    /// drops them all).
    pub async fn serve(self) {
        let slots = smol::lock::Semaphore::new(MAX_CONNECTIONS);
        let executor = smol::LocalExecutor::new();
        executor
            .run(async {
                loop {
                    let slot = slots.acquire().await;
                    let accepted = match &self.listener {
                        Listener::Tcp(l) => l.accept().await.map(|(s, _)| Conn::Tcp(s)),
                        Listener::Unix(l, _) => l.accept().await.map(|(s, _)| Conn::Unix(s)),
                    };
                    let board = &self.board;
                    match accepted {
                        Ok(Conn::Tcp(s)) => executor
                            .spawn(async move {
                                exchange(s, board).await;
                                drop(slot);
                            })
                            .detach(),
                        Ok(Conn::Unix(s)) => executor
                            .spawn(async move {
                                exchange(s, board).await;
                                drop(slot);
                            })
                            .detach(),
                        Err(e) => {
                            // EMFILE and the like: wait rather than spin.
                            log!(Warn, "metrics endpoint: accept: {e}");
                            smol::Timer::after(Duration::from_millis(100)).await;
                        }
                    }
                }
            })
            .await
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

/// A unix stream socket at `path`, listening, with `access`'s mode and group
/// (see [`MetricsEndpoint::bind`]).
fn bind_unix(path: &Path, access: &SocketAccess) -> io::Result<std::os::unix::net::UnixListener> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let gid = access.group.as_deref().map(group_id).transpose()?;
    if let Some(parent) = path.parent() {
        make_dirs(parent)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "in use: another process answers on this socket (left alone)",
                ));
            }
            // Nobody listens: left by a run that ended without removing it.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)?,
            Err(e) => return Err(e),
        },
        Ok(_) => return Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a socket")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // Bound, then its mode and group set, then listening: until it listens
    // a connect is refused, so no client ever finds the umask's mode.
    // Close-on-exec from the start where the kernel can (Linux); set
    // right after elsewhere (the build for macOS, which only checks).
    #[cfg(target_os = "linux")]
    let socket =
        rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    #[cfg(not(target_os = "linux"))]
    let socket = {
        let socket =
            rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::empty(), None)?;
        rustix::io::fcntl_setfd(&socket, rustix::io::FdFlags::CLOEXEC)?;
        socket
    };
    rustix::net::bind(&socket, &SocketAddrUnix::new(path)?)?;
    let made = (|| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(access.mode))?;
        if gid.is_some() {
            std::os::unix::fs::chown(path, None, gid)?;
        }
        rustix::net::listen(&socket, 128)?;
        Ok(())
    })();
    if let Err(e) = made {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(std::os::unix::net::UnixListener::from(socket))
}

/// Makes `dir` and its missing parents, each 0755 whatever the umask.
fn make_dirs(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || std::fs::symlink_metadata(dir).is_ok() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        make_dirs(parent)?;
    }
    match std::fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io::Error::new(e.kind(), format!("cannot make {}: {e}", dir.display()))),
    }
}

/// A group's number: `group` itself if it is one, else its line in
/// /etc/group (the only group database read: no NSS).
fn group_id(group: &str) -> io::Result<u32> {
    if let Ok(gid) = group.parse() {
        return Ok(gid);
    }
    let groups = std::fs::read_to_string("/etc/group")?;
    groups
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            (fields.next() == Some(group)).then(|| fields.nth(1)?.parse().ok())?
        })
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("group {group:?} is not in /etc/group"))
        })
}

/// One exchange: the head read within [`HEAD_DEADLINE`], the whole within
/// [`EXCHANGE_TIME_LIMIT`].
async fn exchange(stream: impl AsyncRead + AsyncWrite + Unpin, board: &MetricsBoard) {
    let limit = async {
        smol::Timer::after(EXCHANGE_TIME_LIMIT).await;
    };
    smol::future::or(async { answer(stream, board).await.unwrap_or(()) }, limit).await;
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
struct Request<'a> {
    method: &'a str,
    /// The target's path (no query; an absolute-form target's path).
    path: &'a str,
    /// The `Accept` headers, joined with commas.
    accept: Option<String>,
}

/// What reading a head came to.
#[derive(Debug, PartialEq, Eq)]
enum Head<'a> {
    /// A whole head.
    Complete(Request<'a>),
    /// More bytes are needed.
    Partial,
    /// Not an HTTP/1.x request head (400).
    Bad,
    /// Too many header lines (431).
    TooMany,
}

/// Parses the bytes read so far (`\r\n` or bare `\n` line ends).
fn parse(bytes: &[u8]) -> Head<'_> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(httparse::Error::TooManyHeaders) => return Head::TooMany,
        Err(_) => return Head::Bad,
    }
    let (Some(method), Some(target)) = (request.method, request.path) else {
        return Head::Bad;
    };
    let mut accept: Option<String> = None;
    for h in request.headers.iter().filter(|h| h.name.eq_ignore_ascii_case("accept")) {
        let Ok(value) = std::str::from_utf8(h.value) else {
            return Head::Bad;
        };
        match &mut accept {
            Some(all) => {
                all.push(',');
                all.push_str(value);
            }
            None => accept = Some(value.to_owned()),
        }
    }
    Head::Complete(Request { method, path: path_of(target), accept })
}

/// The path of a request target in origin form (`/metrics?x`) or absolute
/// form (`http://host:port/metrics?x`), without query or fragment.
fn path_of(target: &str) -> &str {
    let scheme_end = ["http://", "https://"].iter().find_map(|scheme| {
        target.get(..scheme.len()).filter(|s| s.eq_ignore_ascii_case(scheme)).map(|_| scheme.len())
    });
    let path = match scheme_end {
        Some(end) => target[end..].find('/').map_or("/", |i| &target[end + i..]),
        None => target,
    };
    path.split(['?', '#']).next().unwrap_or(path)
}

/// What reading a request head came to.
enum HeadRead {
    /// A whole head is in the buffer.
    Whole,
    /// The client closed first.
    Closed,
    /// Not an HTTP/1.x request head (400).
    Bad,
    /// More than [`MAX_REQUEST`] bytes or [`MAX_HEADERS`] lines (431).
    TooLarge,
    /// Not whole within [`HEAD_DEADLINE`] (408).
    TooSlow,
}

async fn answer(mut stream: impl AsyncRead + AsyncWrite + Unpin, board: &MetricsBoard) -> io::Result<()> {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    let read_head = async {
        loop {
            match parse(&buf[..len]) {
                Head::Complete(_) => return Ok(HeadRead::Whole),
                Head::Bad => return Ok(HeadRead::Bad),
                Head::TooMany => return Ok(HeadRead::TooLarge),
                Head::Partial if len == buf.len() => return Ok(HeadRead::TooLarge),
                Head::Partial => {}
            }
            let n = stream.read(&mut buf[len..]).await?;
            if n == 0 {
                return Ok(HeadRead::Closed);
            }
            len += n;
        }
    };
    let too_slow = async {
        smol::Timer::after(HEAD_DEADLINE).await;
        Ok::<_, io::Error>(HeadRead::TooSlow)
    };
    let request = match smol::future::or(read_head, too_slow).await? {
        HeadRead::Whole => match parse(&buf[..len]) {
            Head::Complete(request) => request,
            _ => return Ok(()),
        },
        HeadRead::Closed => return Ok(()),
        HeadRead::TooSlow => {
            return respond(
                &mut stream,
                "408 Request Timeout",
                "text/plain",
                b"request head too slow\n",
                false,
            )
            .await;
        }
        HeadRead::Bad => {
            return respond(&mut stream, "400 Bad Request", "text/plain", b"bad request\n", false).await;
        }
        HeadRead::TooLarge => {
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
    };
    let head_only = request.method == "HEAD";
    if request.method != "GET" && !head_only {
        return respond(&mut stream, "405 Method Not Allowed", "text/plain", b"GET or HEAD only\n", false)
            .await;
    }
    match request.path {
        "/metrics" => {
            let format = Format::from_accept(request.accept.as_deref());
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

    fn complete(head: &str) -> Request<'_> {
        match parse(head.as_bytes()) {
            Head::Complete(r) => r,
            other => panic!("{head:?}: {other:?}"),
        }
    }

    #[test]
    fn request_heads_parse_or_are_refused() {
        assert_eq!(
            complete(
                "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\naccept: application/openmetrics-text;version=1.0.0\r\n\r\n"
            ),
            Request {
                method: "GET",
                path: "/metrics",
                accept: Some("application/openmetrics-text;version=1.0.0".into())
            }
        );
        assert_eq!(complete("HEAD / HTTP/1.0\r\n\r\n"), Request { method: "HEAD", path: "/", accept: None });
        // Bare line feeds.
        assert_eq!(complete("GET /metrics HTTP/1.1\nHost: a\n\n").path, "/metrics");
        // Absolute form.
        assert_eq!(complete("GET http://a:9101/metrics?x HTTP/1.1\r\n\r\n").path, "/metrics");
        assert_eq!(complete("GET HTTP://a HTTP/1.1\r\n\r\n").path, "/");
        // Two Accept lines are one list.
        assert_eq!(
            complete("GET / HTTP/1.1\r\nAccept: a/b\r\nAccept: c/d;q=0\r\n\r\n").accept.as_deref(),
            Some("a/b,c/d;q=0")
        );
        for partial in ["", "GET /metrics", "GET /metrics HTTP/1.1\r\nHost: a\r\n"] {
            assert_eq!(parse(partial.as_bytes()), Head::Partial, "{partial:?}");
        }
        for bad in [
            "GET /metrics HTTP/2\r\n\r\n",
            "GET  /metrics HTTP/1.1\r\n\r\n",
            "GET /a b HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nno colon\r\n\r\n",
            "nonsense\r\n\r\n",
        ] {
            assert_eq!(parse(bad.as_bytes()), Head::Bad, "{bad:?}");
        }
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(MAX_HEADERS + 1));
        assert_eq!(parse(many.as_bytes()), Head::TooMany);
    }

    #[test]
    fn a_group_is_a_number_or_a_name_in_etc_group() {
        assert_eq!(group_id("4242").unwrap(), 4242);
        assert_eq!(group_id("root").unwrap(), 0);
        assert!(group_id("no-such-group-here").unwrap_err().to_string().contains("not in /etc/group"));
    }
}
