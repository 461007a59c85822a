//! Framing RESP2 replies as their bytes come, with no I/O: bytes in, whole
//! replies out (smoltcp's and quinn-proto's shape; tested here with bytes
//! cut anywhere).
//!
//! - [`Framer`]: where one reply ends. It stops where the bytes run out and
//!   goes on from there once more have come, without reading again what it
//!   has framed; asked to, it passes over a bulk string as it comes instead
//!   of waiting for all of it.
//! - [`frame_end`]: the hot path's use of it — a pipeline of writes (or
//!   presence reads) whose small replies are framed in one kept buffer.
//! - [`Streamer`]: a pipeline of reads whose replies are handed out one by
//!   one as they come ([`Piece`]), so that the caller's buffer holds at most
//!   one of them: a reply (or, for `KEYS`, an element of one) longer than
//!   the limit is passed over as it comes and handed out as
//!   [`Piece::TooLong`], never held.
//! - [`bulk_strings`], [`bulk_string`]: the strings of a framed reply, in
//!   place (no copy).
//!
//! It decides nothing about what is read or why; errors are a broken stream
//! (the connection is dropped).

use std::io;

/// Bulk string and array lengths a read takes: anything that fits RESP's
/// own (Redis keeps them as signed 64-bit numbers).
pub(crate) const ANY_LENGTH: usize = i64::MAX as usize;

fn protocol(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("Redis protocol: {what}"))
}

/// The line starting at `buf[at]`: its type byte, the rest of the line and
/// where the next one starts; `None` until its CRLF has come.
fn line(buf: &[u8], at: usize) -> Option<(u8, &[u8], usize)> {
    let kind = *buf.get(at)?;
    let len = buf.get(at + 1..)?.windows(2).position(|w| w == b"\r\n")?;
    Some((kind, &buf[at + 1..at + 1 + len], at + 1 + len + 2))
}

/// A bulk or array length: `None` for -1 (nil), an error for anything that
/// is not a length up to `max`.
fn length(line: &[u8], max: usize) -> io::Result<Option<usize>> {
    if line == b"-1" {
        return Ok(None);
    }
    let len = std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n <= max && !line.starts_with(b"+"))
        .ok_or_else(|| protocol("bad length"))?;
    Ok(Some(len))
}

/// Where the framing of one reply stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Framer {
    /// Where the next element starts in the caller's buffer.
    at: usize,
    /// Elements still to frame (an array adds its own); 0 once whole.
    pending: usize,
    /// Bytes of a bulk string being passed over (its CRLF included) still
    /// to come.
    body_left: usize,
    /// The longest length taken (a longer one: a broken stream).
    max_len: usize,
}

impl Framer {
    /// The framing of a reply starting at `at`, taking lengths up to `max_len`.
    pub(crate) fn new(at: usize, max_len: usize) -> Self {
        Self { at, pending: 1, body_left: 0, max_len }
    }

    /// Frames on over `buf`, which holds the reply from where it started;
    /// `Ok(true)` once it is whole (it ends at [`end`](Self::end)). With
    /// `passing`, a bulk string that has not all come is passed over: the
    /// bytes before [`end`](Self::end) are no longer needed.
    pub(crate) fn frame(&mut self, buf: &[u8], passing: bool) -> io::Result<bool> {
        loop {
            if self.body_left > 0 {
                let n = self.body_left.min(buf.len().saturating_sub(self.at));
                self.at += n;
                self.body_left -= n;
                if self.body_left > 0 {
                    return Ok(false);
                }
            }
            if self.pending == 0 {
                return Ok(true);
            }
            let Some((kind, line, next)) = line(buf, self.at) else { return Ok(false) };
            match kind {
                b'+' | b'-' | b':' => {
                    self.at = next;
                    self.pending -= 1;
                }
                b'$' => match length(line, self.max_len)? {
                    None => {
                        self.at = next;
                        self.pending -= 1;
                    }
                    Some(len) => {
                        let end = next.checked_add(len).and_then(|e| e.checked_add(2));
                        let end = end.ok_or_else(|| protocol("length"))?;
                        if buf.len() >= end {
                            if &buf[end - 2..end] != b"\r\n" {
                                return Err(protocol("bulk string not ended by CRLF"));
                            }
                            self.at = end;
                        } else if passing {
                            // Its CRLF is passed over unchecked with the rest.
                            self.at = buf.len();
                            self.body_left = end - buf.len();
                        } else {
                            return Ok(false);
                        }
                        self.pending -= 1;
                    }
                },
                b'*' => {
                    let len = length(line, self.max_len)?.unwrap_or(0);
                    self.pending = (self.pending - 1).checked_add(len).ok_or_else(|| protocol("length"))?;
                    self.at = next;
                }
                other => return Err(protocol(&format!("unexpected reply type {:?}", char::from(other)))),
            }
        }
    }

    /// Where the reply ends once whole; before, where framing goes on.
    pub(crate) fn end(&self) -> usize {
        self.at
    }

    /// The caller removed `n` bytes from the front of its buffer.
    fn shift(&mut self, n: usize) {
        self.at -= n;
    }
}

/// Where the reply starting at `buf[start..]` ends, or `None` when it has
/// not all come yet; lengths up to `max_len`.
pub(crate) fn frame_end(buf: &[u8], start: usize, max_len: usize) -> io::Result<Option<usize>> {
    let mut framer = Framer::new(start, max_len);
    Ok(framer.frame(buf, false)?.then_some(framer.end()))
}

/// How a streamed read hands out each command's reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Whole (HGETALL, HGET).
    Reply,
    /// An array reply element by element (KEYS: each key on its own); any
    /// other reply (an error) whole.
    Element,
}

/// One reply (or element) of a streamed read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Its bytes, as received.
    Whole(&'a [u8]),
    /// Longer than the limit: passed over as it came, never held. Its size.
    TooLong(u64),
}

/// Hands out the replies of a pipeline of reads one by one as their bytes
/// come, holding none: what the caller's buffer must keep is at most the
/// piece under way, and that only up to the limit.
#[derive(Debug)]
pub(crate) struct Streamer {
    limit: usize,
    unit: Unit,
    /// Replies still to come, and the index of the next.
    left: usize,
    index: usize,
    /// [`Unit::Element`]: elements of the array reply under way still to come.
    elements: usize,
    /// The piece under way, once its first byte is known.
    framer: Option<Framer>,
    /// The piece under way is longer than the limit: bytes passed over.
    passed: Option<u64>,
}

impl Streamer {
    /// For `replies` replies, handed out by `unit`, each piece up to `limit` bytes.
    pub(crate) fn new(replies: usize, unit: Unit, limit: usize) -> Self {
        Self { limit, unit, left: replies, index: 0, elements: 0, framer: None, passed: None }
    }

    /// Every reply was handed out.
    pub(crate) fn done(&self) -> bool {
        self.left == 0
    }

    /// Frames what `buf` holds, handing each piece that is complete to
    /// `each` with the index of its command; returns how many bytes at the
    /// front of `buf` are done with. The caller removes them before the next
    /// call, which takes the rest followed by what came since; what is left
    /// is never more than the limit plus what one read brought.
    pub(crate) fn feed(&mut self, buf: &[u8], each: &mut dyn FnMut(usize, Piece<'_>)) -> io::Result<usize> {
        let mut start = 0;
        while self.left > 0 {
            if self.unit == Unit::Element && self.elements == 0 && self.framer.is_none() {
                // The reply's own header, if it is an array.
                let Some((kind, header, next)) = line(buf, start) else { break };
                if kind == b'*' {
                    start = next;
                    match length(header, ANY_LENGTH)?.unwrap_or(0) {
                        0 => self.reply_done(),
                        n => self.elements = n,
                    }
                    continue;
                }
            }
            let framer = self.framer.get_or_insert(Framer::new(start, ANY_LENGTH));
            if framer.frame(buf, self.passed.is_some())? {
                let end = framer.end();
                self.framer = None;
                let piece = match self.passed.take() {
                    None if end - start <= self.limit => Piece::Whole(&buf[start..end]),
                    None => Piece::TooLong((end - start) as u64),
                    Some(passed) => Piece::TooLong(passed + (end - start) as u64),
                };
                each(self.index, piece);
                start = end;
                self.piece_done();
            } else if self.passed.is_none() && buf.len() - start > self.limit {
                self.passed = Some(0);
            } else {
                if let Some(passed) = self.passed.as_mut() {
                    *passed += (framer.end() - start) as u64;
                    start = framer.end();
                }
                framer.shift(start);
                return Ok(start);
            }
        }
        Ok(start)
    }

    fn piece_done(&mut self) {
        if self.elements > 0 {
            self.elements -= 1;
            if self.elements > 0 {
                return;
            }
        }
        self.reply_done();
    }

    fn reply_done(&mut self) {
        self.left -= 1;
        self.index += 1;
    }
}

/// The bulk strings of a whole array reply (`HGETALL`, `KEYS`), in place.
pub(crate) fn bulk_strings(reply: &[u8]) -> io::Result<impl Iterator<Item = io::Result<&[u8]>>> {
    let (count, mut at) = match line(reply, 0) {
        Some((b'*', len, next)) => (length(len, ANY_LENGTH)?.unwrap_or(0), next),
        _ => return Err(protocol("not an array")),
    };
    Ok((0..count).map(move |_| {
        let (value, next) = bulk_at(reply, at)?;
        at = next;
        value.ok_or_else(|| protocol("a nil string in an array"))
    }))
}

/// The bulk string a whole reply is (`HGET`); `None` for nil.
pub(crate) fn bulk_string(reply: &[u8]) -> io::Result<Option<&[u8]>> {
    bulk_at(reply, 0).map(|(value, _)| value)
}

/// The bulk string at `reply[at]` and where the next element starts.
fn bulk_at(reply: &[u8], at: usize) -> io::Result<(Option<&[u8]>, usize)> {
    match line(reply, at) {
        Some((b'$', len, next)) => match length(len, ANY_LENGTH)? {
            None => Ok((None, next)),
            Some(len) => {
                let value = reply.get(next..next + len).ok_or_else(|| protocol("bulk string cut"))?;
                Ok((Some(value), next + len + 2))
            }
        },
        _ => Err(protocol("not a bulk string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 64 << 20;

    #[test]
    fn frames_each_reply_type() {
        for reply in [
            &b"+OK\r\n"[..],
            b"-ERR wrong\r\n",
            b":42\r\n",
            b"$3\r\nfoo\r\n",
            b"$0\r\n\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"*0\r\n",
            b"*2\r\n$1\r\na\r\n*2\r\n:1\r\n$2\r\n\r\n\r\n",
        ] {
            assert_eq!(frame_end(reply, 0, MAX).unwrap(), Some(reply.len()), "{reply:?}");
            // Every proper prefix is incomplete, never an error.
            for cut in 0..reply.len() {
                assert_eq!(frame_end(&reply[..cut], 0, MAX).unwrap(), None, "{reply:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn frames_replies_one_after_another() {
        let buf = b":1\r\n$2\r\nab\r\n+OK\r\n";
        assert_eq!(frame_end(buf, 0, MAX).unwrap(), Some(4));
        assert_eq!(frame_end(buf, 4, MAX).unwrap(), Some(12));
        assert_eq!(frame_end(buf, 12, MAX).unwrap(), Some(17));
        assert_eq!(frame_end(buf, 17, MAX).unwrap(), None);
    }

    #[test]
    fn a_broken_stream_is_an_error() {
        for bad in [
            &b"?1\r\n"[..],
            b"$x\r\n",
            b"$-2\r\n",
            b"$+3\r\nabc\r\n",
            b"*18446744073709551615\r\n",
            b"$2\r\nabcd\r\n",
            b"%1\r\n",
        ] {
            assert!(frame_end(bad, 0, MAX).is_err(), "{bad:?}");
        }
        assert!(frame_end(b"$65\r\n", 0, 64).is_err(), "longer than the hot path takes");
    }

    /// Feeds `stream` to a streamer `chunk` bytes at a time as a connection
    /// does (removing what it is done with); the pieces, and the most the
    /// buffer held.
    fn stream(
        replies: usize,
        unit: Unit,
        limit: usize,
        stream: &[u8],
        chunk: usize,
    ) -> (Vec<(usize, String)>, usize) {
        let mut streamer = Streamer::new(replies, unit, limit);
        let mut buf = Vec::new();
        let mut pieces = Vec::new();
        let mut most = 0;
        for bytes in stream.chunks(chunk) {
            buf.extend_from_slice(bytes);
            most = most.max(buf.len());
            let done = streamer
                .feed(&buf, &mut |i, piece| {
                    pieces.push((
                        i,
                        match piece {
                            Piece::Whole(b) => String::from_utf8_lossy(b).into_owned(),
                            Piece::TooLong(n) => format!("too long: {n}"),
                        },
                    ))
                })
                .unwrap();
            buf.drain(..done);
        }
        assert!(streamer.done() && buf.is_empty(), "{buf:?} left");
        (pieces, most)
    }

    #[test]
    fn replies_come_out_whole_or_passed_over_however_the_bytes_are_cut() {
        let big = format!("*2\r\n$11\r\ndescription\r\n${}\r\n{}\r\n", 1000, "x".repeat(1000));
        let replies = format!("*2\r\n$3\r\nmtu\r\n$4\r\n9100\r\n{big}*0\r\n-WRONGTYPE no\r\n");
        for chunk in [1, 2, 3, 7, 64, 4096] {
            let (pieces, most) = stream(4, Unit::Reply, 100, replies.as_bytes(), chunk);
            let texts: Vec<_> = pieces.iter().map(|(i, p)| format!("{i} {p}")).collect();
            assert_eq!(
                texts,
                [
                    "0 *2\r\n$3\r\nmtu\r\n$4\r\n9100\r\n",
                    &format!("1 too long: {}", big.len()),
                    "2 *0\r\n",
                    "3 -WRONGTYPE no\r\n"
                ],
                "chunks of {chunk}"
            );
            // Held: the limit, what one chunk brings, and a header line.
            assert!(most <= 100 + chunk + 16, "held {most} with chunks of {chunk}");
        }
    }

    #[test]
    fn keys_come_out_one_by_one_and_a_long_one_is_passed_over() {
        let long = "k".repeat(500);
        let replies = format!("*3\r\n$9\r\nPORT|Eth0\r\n${}\r\n{long}\r\n$9\r\nPORT|Eth4\r\n", long.len());
        for chunk in [1, 5, 4096] {
            let (pieces, _) = stream(1, Unit::Element, 100, replies.as_bytes(), chunk);
            let texts: Vec<_> = pieces.iter().map(|(i, p)| format!("{i} {p}")).collect();
            assert_eq!(
                texts,
                ["0 $9\r\nPORT|Eth0\r\n", "0 too long: 508", "0 $9\r\nPORT|Eth4\r\n"],
                "chunks of {chunk}"
            );
        }
        // No keys, nil, or an error: whole.
        for (reply, want) in [("*0\r\n", vec![]), ("*-1\r\n", vec![]), ("-ERR no\r\n", vec!["0 -ERR no\r\n"])]
        {
            let (pieces, _) = stream(1, Unit::Element, 100, reply.as_bytes(), 2);
            let texts: Vec<_> = pieces.iter().map(|(i, p)| format!("{i} {p}")).collect();
            assert_eq!(texts, want);
        }
    }

    #[test]
    fn a_line_longer_than_the_limit_holds_the_buffer_not_forever() {
        // A header with no CRLF never completes: the caller sees what is
        // left grow past the limit and gives up (the connection's job).
        let mut streamer = Streamer::new(1, Unit::Reply, 8);
        assert_eq!(streamer.feed(b"+aaaaaaaaaaaaaaaaaaaa", &mut |_, _| panic!()).unwrap(), 0);
    }

    #[test]
    fn strings_are_read_in_place() {
        let reply = b"*4\r\n$3\r\nmtu\r\n$4\r\n9100\r\n$0\r\n\r\n$2\r\n\xff\x00\r\n";
        let strings: Vec<&[u8]> = bulk_strings(reply).unwrap().map(Result::unwrap).collect();
        assert_eq!(strings, [&b"mtu"[..], b"9100", b"", b"\xff\x00"]);
        assert_eq!(bulk_string(b"$2\r\nup\r\n").unwrap(), Some(&b"up"[..]));
        assert_eq!(bulk_string(b"$-1\r\n").unwrap(), None);
        assert!(bulk_string(b":1\r\n").is_err());
        assert!(bulk_strings(b"$2\r\nup\r\n").is_err());
        assert!(bulk_strings(b"*1\r\n$-1\r\n").unwrap().next().unwrap().is_err());
    }
}
