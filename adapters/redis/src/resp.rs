//! One connection to a Redis server, driven by this crate on the caller's
//! thread: a pipeline of commands is encoded into a buffer the connection
//! keeps, sent with one write, and its replies are framed in a second kept
//! buffer. The redis crate packs the rare commands (start-up) and decodes
//! their replies; the hot path (HSET, DEL, EVALSHA, EXISTS) is encoded here,
//! straight from the borrowed key parts, and its replies (integers, `+OK`,
//! errors) are only looked at.
//!
//! Two ways to wait for the replies:
//!
//! - [`Connection::exchange`] (writes, presence reads): every reply of the
//!   pipeline is framed in the receive buffer, then looked at. They are
//!   small (an integer each); more than [`MAX_REPLIES`] is a broken stream.
//! - [`Connection::stream`] (reads of CONFIG_DB and STATE_DB hashes, values
//!   and keys): each reply is handed to the caller, in place, as soon as it
//!   is whole, and its bytes are then dropped (`framing::Streamer`). A
//!   reply — or a key of a `KEYS` reply — longer than the caller's limit is
//!   passed over as it comes and handed over as too long, never held.
//!
//! # Memory bound
//!
//! While a pipeline of reads is answered, the receive buffer holds at most
//! the reply under way, up to the read limit, plus what one read of the
//! socket brings: `limit + 64 KiB` (64 MiB + 64 KiB with the adapter's
//! default `read_limit`), however many replies and bytes the pipeline has.
//! A start-up read of 1024 ports' CONFIG_DB hashes of 1 MiB each needs 1
//! MiB of it, not 1 GiB. The buffer is given back down to 64 KiB once the
//! read is over, and the send buffer down to 1 MiB after a pipeline larger
//! than that (the start's writes producing every port): what the
//! connections keep between reads is what the hot path uses. That is
//! acceptable on a switch: SONiC's own values are a few hundred bytes a
//! port, so the buffer stays at 64 KiB; only a value that really is tens of
//! MiB makes it grow, for the time of the read, by as much as Redis already
//! holds in memory for it; and a value beyond the limit costs reading it,
//! not holding it. Redis itself holds the replies it has not sent yet in
//! its output buffer for this client (SONiC's `client-output-buffer-limit`
//! for normal clients is Redis's default: none).
//!
//! Why not the redis crate's `MultiplexedConnection`: it runs a task of its
//! own per connection and hands every request to it through channels, so a
//! round trip costs two task wake-ups, allocations, and — unless the caller
//! runs on the executor's thread — two thread wake-ups. Measured in
//! `benches/README.md` ("Where our CPU goes"): that machinery, not Redis or
//! the kernel, was most of the daemon's user time in a storm.
//!
//! It decides nothing about what to send, retries nothing and keeps no
//! state across a failure: any transport or protocol error, and a reply
//! later than the response timeout, leaves the connection unusable (the
//! replies could no longer be matched to their commands); the caller drops
//! it and connects again.
//!
//! Only RESP2 is spoken (the server's default: no `HELLO 3` is sent).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use portsyncd_reactor::{Source, Timer};
use redis::{FromRedisValue, Value};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use smol::future;

use crate::config::RedisAddr;
use crate::framing::{self, Piece, Streamer, Unit};

/// The receive buffer a connection starts with; it grows to the largest
/// pipeline's replies (a few KiB on the hot path) and stays there.
const INITIAL_RECEIVE: usize = 4096;

/// The most an [`exchange`](Connection::exchange) takes: all the replies of
/// a pipeline of writes or presence reads (an integer each: a few KiB), and
/// any bulk length in them. More is taken as a broken stream.
const MAX_REPLIES: usize = 64 << 20;

/// What a streamed read's buffer holds beyond the read limit: one read of
/// the socket.
const READ_SLACK: usize = 64 << 10;

/// What the receive buffer is given back down to after a streamed read.
const KEPT_RECEIVE: usize = 64 << 10;

/// What the send buffer is given back down to after a larger request (the
/// adapter sends pipelines of at most 64 KiB; one write can be larger).
const KEPT_SEND: usize = 64 << 10;

/// The socket under a connection.
enum Stream {
    Unix(Source<UnixStream>),
    Tcp(Source<TcpStream>),
}

/// A non-blocking stream socket of `family`.
fn socket(family: AddressFamily) -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Connects to a unix socket without blocking: a listener whose backlog is
/// full (a server stopped long enough) is an error now, not a wait.
fn connect_unix(path: &Path) -> io::Result<Source<UnixStream>> {
    let fd = socket(AddressFamily::UNIX)?;
    rustix::net::connect(&fd, &SocketAddrUnix::new(path)?)?;
    Source::new(UnixStream::from(fd))
}

/// Connects over TCP without blocking the thread while the handshake runs.
async fn connect_tcp(addr: SocketAddr) -> io::Result<Source<TcpStream>> {
    let fd = socket(if addr.is_ipv4() { AddressFamily::INET } else { AddressFamily::INET6 })?;
    let pending = match rustix::net::connect(&fd, &addr) {
        Ok(()) => false,
        Err(rustix::io::Errno::INPROGRESS) => true,
        Err(e) => return Err(e.into()),
    };
    let source = Source::new(TcpStream::from(fd))?;
    if pending {
        source.next_writable().await?;
        if let Err(e) = rustix::net::sockopt::socket_error(source.get_ref().as_fd())? {
            return Err(e.into());
        }
    }
    // Each pipeline is one write followed by its reply; no point holding a
    // segment back.
    source.get_ref().set_nodelay(true)?;
    Ok(source)
}

/// A connection and its two buffers.
pub(crate) struct Connection {
    stream: Stream,
    /// Commands encoded and not sent yet.
    out: Vec<u8>,
    /// Commands in `out`.
    queued: usize,
    /// Received bytes; `filled` of them are valid.
    received: Vec<u8>,
    filled: usize,
    /// Where each reply of the last exchange ends in `received` (it starts
    /// where the one before ends).
    ends: Vec<usize>,
    response_timeout: Duration,
    /// An exchange started and did not finish (its future was dropped, or
    /// it failed): what the stream holds now is unknown.
    broken: bool,
}

fn timed_out(what: &str, after: Duration) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what}: no answer within {} ms", after.as_millis()))
}

/// `fut`, or a timeout error once `limit` has passed.
async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    future::or(fut, async {
        Timer::after(limit).await;
        Err(timed_out(what, limit))
    })
    .await
}

impl Connection {
    /// Connects to `addr` within `connect_timeout`.
    pub(crate) async fn connect(
        addr: &RedisAddr,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> io::Result<Self> {
        let stream = within(connect_timeout, "connect", async {
            match addr {
                RedisAddr::Unix(path) => Ok(Stream::Unix(connect_unix(path)?)),
                RedisAddr::Tcp(host, port) => {
                    // Resolved here, blocking: SONiC names an address (127.0.0.1),
                    // which needs no lookup.
                    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"));
                    for sockaddr in (host.as_str(), *port).to_socket_addrs()? {
                        match connect_tcp(sockaddr).await {
                            Ok(stream) => return Ok(Stream::Tcp(stream)),
                            Err(e) => last = e,
                        }
                    }
                    Err(last)
                }
            }
        })
        .await?;
        Ok(Self {
            stream,
            out: Vec::new(),
            queued: 0,
            received: vec![0; INITIAL_RECEIVE],
            filled: 0,
            ends: Vec::new(),
            response_timeout,
            broken: false,
        })
    }

    /// Queues a command the redis crate built.
    pub(crate) fn push(&mut self, cmd: &redis::Cmd) {
        cmd.write_packed_command(&mut self.out);
        self.queued += 1;
    }

    /// Queues a command of `args` arguments; each argument follows with
    /// [`Connection::arg`], all of them before the next command.
    pub(crate) fn command(&mut self, args: usize) -> &mut Self {
        self.header(b'*', args);
        self.queued += 1;
        self
    }

    /// `*N\r\n` or `$N\r\n` (no formatting machinery: this runs for every
    /// argument of every write).
    fn header(&mut self, kind: u8, n: usize) {
        let mut digits = [0; 20];
        self.out.push(kind);
        self.out.extend_from_slice(decimal(n as u64, &mut digits));
        self.out.extend_from_slice(b"\r\n");
    }

    /// One argument: the concatenation of `parts` (a key as table,
    /// separator and name, without building it first).
    pub(crate) fn arg(&mut self, parts: &[&[u8]]) -> &mut Self {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.header(b'$', len);
        for part in parts {
            self.out.extend_from_slice(part);
        }
        self.out.extend_from_slice(b"\r\n");
        self
    }

    /// Starts an exchange of the queued commands: how many replies to
    /// expect (`None`: nothing queued), or an error if an earlier exchange
    /// was left midway.
    fn begin(&mut self) -> io::Result<Option<usize>> {
        let expected = self.queued;
        self.queued = 0;
        self.filled = 0;
        self.ends.clear();
        if self.broken {
            self.out.clear();
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "Redis connection left mid-exchange"));
        }
        Ok((expected > 0).then_some(expected))
    }

    /// Sends the queued commands as one write and waits for all their
    /// replies (within the response timeout), which [`Connection::reply`]
    /// then gives. An error leaves the connection unusable.
    pub(crate) async fn exchange(&mut self) -> io::Result<()> {
        let Some(expected) = self.begin()? else { return Ok(()) };
        // Cleared only once every reply is in: a caller that stops waiting
        // (drops this future) leaves replies that no command would match.
        self.broken = true;
        let limit = self.response_timeout;
        let Self { stream, out, received, filled, ends, .. } = self;
        let result = within(limit, "Redis", async {
            match stream {
                Stream::Unix(s) => exchange(s, out, received, filled, ends, expected).await,
                Stream::Tcp(s) => exchange(s, out, received, filled, ends, expected).await,
            }
        })
        .await;
        clear_send(out);
        self.broken = result.is_err();
        result
    }

    /// Sends the queued commands (reads) as one write and hands each reply
    /// to `each` with its command's index as soon as it is whole (or, by
    /// [`Unit::Element`], each element of an array reply), then drops its
    /// bytes: the receive buffer holds at most the reply under way. One
    /// longer than `limit` is passed over as it comes and handed over as
    /// [`Piece::TooLong`]. The response timeout bounds each wait for bytes,
    /// not the whole answer: a large answer that keeps coming is never cut.
    /// An error leaves the connection unusable.
    pub(crate) async fn stream(
        &mut self,
        limit: usize,
        unit: Unit,
        each: &mut dyn FnMut(usize, Piece<'_>),
    ) -> io::Result<()> {
        let Some(expected) = self.begin()? else { return Ok(()) };
        self.broken = true;
        let idle = self.response_timeout;
        let streamer = Streamer::new(expected, unit, limit);
        let most = limit.saturating_add(READ_SLACK);
        let Self { stream, out, received, .. } = self;
        let result = match stream {
            Stream::Unix(s) => stream_replies(s, out, received, streamer, most, idle, each).await,
            Stream::Tcp(s) => stream_replies(s, out, received, streamer, most, idle, each).await,
        };
        clear_send(out);
        if received.len() > KEPT_RECEIVE {
            received.truncate(KEPT_RECEIVE);
            received.shrink_to_fit();
        }
        self.broken = result.is_err();
        result
    }

    /// Reply `i` of the last exchange, as received (RESP2).
    pub(crate) fn reply(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.received[start..self.ends[i]]
    }

    /// Reply `i` of the last exchange, decoded by the redis crate; an error
    /// reply is an `Err`.
    pub(crate) fn decode<T: FromRedisValue>(&self, i: usize) -> Result<T, redis::RedisError> {
        match redis::parse_redis_value(self.reply(i))? {
            Value::ServerError(e) => Err(e.into()),
            value => Ok(redis::from_redis_value(value)?),
        }
    }
}

/// An integer reply (`:N`) read in place; anything else is what the redis
/// crate makes of it (an error reply is an `Err`). EXISTS answers come back
/// one per port, and the crate's parser sets up an 8 KiB reader for each
/// (measured: 1,024 allocations at a 512-port start).
pub(crate) fn integer(reply: &[u8]) -> Result<i64, redis::RedisError> {
    let digits = reply.strip_prefix(b":").and_then(|r| r.strip_suffix(b"\r\n"));
    let parsed = digits.and_then(|d| std::str::from_utf8(d).ok()).and_then(|d| d.parse::<i64>().ok());
    match parsed {
        Some(n) => Ok(n),
        None => match redis::parse_redis_value(reply)? {
            Value::ServerError(e) => Err(e.into()),
            value => Ok(redis::from_redis_value(value)?),
        },
    }
}

/// `n` in decimal, written at the end of `digits`.
pub(crate) fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        // A digit: n % 10 < 10.
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[at..];
        }
    }
}

/// Whether a reply is an error reply (`-CODE message`).
pub(crate) fn is_error(reply: &[u8]) -> bool {
    reply.first() == Some(&b'-')
}

/// The error an error reply carries (anything else: a protocol error).
pub(crate) fn error_of(reply: &[u8]) -> redis::RedisError {
    match redis::parse_redis_value(reply) {
        Ok(Value::ServerError(e)) => e.into(),
        Ok(_) => io::Error::new(io::ErrorKind::InvalidData, "not an error reply").into(),
        Err(e) => e,
    }
}

/// Whether an error reply's code is `code` (`-NOSCRIPT No matching …`).
pub(crate) fn error_code_is(reply: &[u8], code: &[u8]) -> bool {
    reply.get(1..).is_some_and(|r| r.starts_with(code) && matches!(r.get(code.len()), Some(b' ' | b'\r')))
}

/// Empties the send buffer, giving back what a large pipeline grew.
fn clear_send(out: &mut Vec<u8>) {
    out.clear();
    if out.capacity() > KEPT_SEND {
        out.shrink_to(KEPT_SEND);
    }
}

/// Writes all of `out`, waiting at most `idle` each time the socket takes nothing.
async fn write_all<S>(stream: &Source<S>, out: &[u8], idle: Duration) -> io::Result<()>
where
    S: AsFd,
    for<'a> &'a S: Write,
{
    let mut written = 0;
    while written < out.len() {
        match within(idle, "Redis", stream.write_with(|mut s| s.write(&out[written..]))).await? {
            0 => return Err(io::Error::new(io::ErrorKind::WriteZero, "Redis took no bytes")),
            n => written += n,
        }
    }
    Ok(())
}

/// Sends `out` and hands the replies out through `streamer` as they come,
/// in `received`, which grows up to `most` bytes.
async fn stream_replies<S>(
    stream: &Source<S>,
    out: &[u8],
    received: &mut Vec<u8>,
    mut streamer: Streamer,
    most: usize,
    idle: Duration,
    each: &mut dyn FnMut(usize, Piece<'_>),
) -> io::Result<()>
where
    S: AsFd,
    for<'a> &'a S: Read + Write,
{
    write_all(stream, out, idle).await?;
    let mut filled = 0;
    loop {
        let done = streamer.feed(&received[..filled], each)?;
        if done > 0 {
            received.copy_within(done..filled, 0);
            filled -= done;
        }
        if streamer.done() {
            break;
        }
        if filled == received.len() {
            if received.len() >= most {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "Redis protocol: a line never ends"));
            }
            received.resize(received.len().saturating_mul(2).min(most), 0);
        }
        let read = stream.read_with(|mut s| s.read(&mut received[filled..]));
        match within(idle, "Redis", read).await? {
            0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "Redis closed the connection")),
            n => filled += n,
        }
    }
    if filled != 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "Redis sent more replies than commands"));
    }
    stream.consumed();
    Ok(())
}

async fn exchange<S>(
    stream: &Source<S>,
    out: &[u8],
    received: &mut Vec<u8>,
    filled: &mut usize,
    ends: &mut Vec<usize>,
    expected: usize,
) -> io::Result<()>
where
    S: AsFd,
    for<'a> &'a S: Read + Write,
{
    let mut written = 0;
    while written < out.len() {
        match stream.write_with(|mut s| s.write(&out[written..])).await? {
            0 => return Err(io::Error::new(io::ErrorKind::WriteZero, "Redis took no bytes")),
            n => written += n,
        }
    }
    let mut scanned = 0;
    loop {
        // Frame what is here before reading more.
        while ends.len() < expected {
            match framing::frame_end(&received[..*filled], scanned, MAX_REPLIES)? {
                Some(end) => {
                    ends.push(end);
                    scanned = end;
                }
                None => break,
            }
        }
        if ends.len() == expected {
            break;
        }
        if *filled == received.len() {
            if received.len() >= MAX_REPLIES {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "Redis reply too long"));
            }
            received.resize(received.len() * 2, 0);
        }
        let n = stream.read_with(|mut s| s.read(&mut received[*filled..])).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "Redis closed the connection"));
        }
        *filled += n;
    }
    if *filled != scanned {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "Redis sent more replies than commands"));
    }
    // Every reply is in and nothing follows them: the next exchange's first
    // read waits for its replies instead of finding "nothing yet".
    stream.consumed();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes() {
        assert!(is_error(b"-NOSCRIPT No matching script\r\n"));
        assert!(error_code_is(b"-NOSCRIPT No matching script\r\n", b"NOSCRIPT"));
        assert!(error_code_is(b"-NOSCRIPT\r\n", b"NOSCRIPT"));
        assert!(!error_code_is(b"-NOSCRIPTS x\r\n", b"NOSCRIPT"));
        assert!(!error_code_is(b"-OOM command not allowed\r\n", b"NOSCRIPT"));
        assert!(!is_error(b":1\r\n"));
        let e = error_of(b"-OOM command not allowed when used memory > 'maxmemory'.\r\n");
        assert_eq!(e.code(), Some("OOM"));
    }

    #[test]
    fn integer_replies_in_place() {
        assert_eq!(integer(b":1\r\n").unwrap(), 1);
        assert_eq!(integer(b":0\r\n").unwrap(), 0);
        assert_eq!(integer(b":-12\r\n").unwrap(), -12);
        // Not an integer: an error reply is its error, anything else a type error.
        assert_eq!(integer(b"-WRONGTYPE Operation against a key\r\n").unwrap_err().code(), Some("WRONGTYPE"));
        assert!(integer(b"$1\r\nx\r\n").is_err());
        assert!(integer(b":12x\r\n").is_err());
        assert!(integer(b"").is_err());
    }

    #[test]
    fn encodes_commands_as_arrays_of_bulk_strings() {
        portsyncd_reactor::block_on(async {
            let (a, _b) = UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            let mut conn = Connection {
                stream: Stream::Unix(Source::new(a).unwrap()),
                out: Vec::new(),
                queued: 0,
                received: vec![0; INITIAL_RECEIVE],
                filled: 0,
                ends: Vec::new(),
                response_timeout: Duration::from_secs(1),
                broken: false,
            };
            conn.command(3).arg(&[b"HSET"]).arg(&[b"PORT_TABLE", b"|", b"Ethernet0"]).arg(&[b"9", b"100"]);
            conn.push(redis::cmd("DEL").arg("k"));
            assert_eq!(conn.queued, 2);
            assert_eq!(
                conn.out,
                b"*3\r\n$4\r\nHSET\r\n$20\r\nPORT_TABLE|Ethernet0\r\n$4\r\n9100\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n"
            );
            let mut digits = [0; 20];
            assert_eq!(decimal(0, &mut digits), b"0");
            assert_eq!(decimal(u64::MAX, &mut digits), b"18446744073709551615");
        })
        .unwrap();
    }
}
