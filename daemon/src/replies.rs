//! A read's answer as the ferry collects it: every part's bytes in one kept
//! buffer, handed to the driver as a view ([`Replies`]) once the read is
//! done, so that an answer of any size costs no allocation per part, and
//! none at all once the buffer has grown to the usual size.
//!
//! It only stores; what the parts mean is the driver's.

use std::ops::Range;

use portsyncd_core::backend::TooLarge;
use portsyncd_core::driver::{Replies, Reply};

/// Capacity kept between reads: a start-up read of every port's STATE_DB
/// hash grows the buffer, which is given back down to this afterwards.
const KEPT_BYTES: usize = 16 << 10;
const KEPT_PARTS: usize = 1024;

/// The parts of one read's answer.
#[derive(Debug, Default)]
pub struct ReplyBuffer {
    bytes: Vec<u8>,
    parts: Vec<Part>,
}

#[derive(Clone, Debug)]
enum Part {
    Field { index: usize, field: Range<usize>, value: Range<usize> },
    Value(Range<usize>),
    Key(Range<usize>),
    Flag { index: usize, present: bool },
    TooLarge { index: usize, size: TooLarge },
}

impl ReplyBuffer {
    fn keep(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    /// A field of the hash of key `index`.
    pub fn field(&mut self, index: usize, field: &[u8], value: &[u8]) {
        let (field, value) = (self.keep(field), self.keep(value));
        self.parts.push(Part::Field { index, field, value });
    }

    /// A field of the hash of key `index`, or [`TooLarge`] in place of the hash.
    pub fn hash_field(&mut self, index: usize, field: Result<(&[u8], &[u8]), TooLarge>) {
        match field {
            Ok((field, value)) => self.field(index, field, value),
            Err(size) => self.too_large(index, size),
        }
    }

    /// The value of a one-field read, or [`TooLarge`] in its place.
    pub fn value(&mut self, value: Result<&[u8], TooLarge>) {
        match value {
            Ok(value) => {
                let value = self.keep(value);
                self.parts.push(Part::Value(value));
            }
            Err(size) => self.too_large(0, size),
        }
    }

    /// A key of a key listing, or [`TooLarge`] in its place.
    pub fn key(&mut self, key: Result<&[u8], TooLarge>) {
        match key {
            Ok(key) => {
                let key = self.keep(key);
                self.parts.push(Part::Key(key));
            }
            Err(size) => self.too_large(0, size),
        }
    }

    /// Whether key `index` holds.
    pub fn flag(&mut self, index: usize, present: bool) {
        self.parts.push(Part::Flag { index, present });
    }

    /// In place of key `index`'s hash (or of the value, or of a key): too
    /// large to read.
    pub fn too_large(&mut self, index: usize, size: TooLarge) {
        self.parts.push(Part::TooLarge { index, size });
    }

    /// Empties it for the next read, giving back what a large one grew.
    pub fn release(&mut self) {
        self.bytes.clear();
        self.parts.clear();
        self.bytes.shrink_to(KEPT_BYTES);
        self.parts.shrink_to(KEPT_PARTS);
    }
}

impl Replies for ReplyBuffer {
    fn each(&self, part: &mut dyn FnMut(Reply<'_>)) {
        let at = |r: &Range<usize>| self.bytes.get(r.clone()).unwrap_or_default();
        for p in &self.parts {
            part(match p {
                Part::Field { index, field, value } => {
                    Reply::Field { index: *index, field: at(field), value: at(value) }
                }
                Part::Value(value) => Reply::Value(at(value)),
                Part::Key(key) => Reply::Key(at(key)),
                Part::Flag { index, present } => Reply::Flag { index: *index, present: *present },
                Part::TooLarge { index, size } => Reply::TooLarge { index: *index, size: *size },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_come_back_in_order_and_release_empties_it() {
        let mut buf = ReplyBuffer::default();
        buf.field(2, b"mtu", b"9100");
        buf.key(Ok(b"Ethernet0"));
        buf.flag(1, true);
        buf.value(Ok(b"\xff"));
        let size = TooLarge { bytes: 100, limit: 10 };
        buf.hash_field(3, Err(size));
        let mut seen = Vec::new();
        buf.each(&mut |r| seen.push(format!("{r:?}")));
        assert_eq!(
            seen,
            [
                format!("{:?}", Reply::Field { index: 2, field: b"mtu", value: b"9100" }),
                format!("{:?}", Reply::Key(b"Ethernet0")),
                format!("{:?}", Reply::Flag { index: 1, present: true }),
                format!("{:?}", Reply::Value(b"\xff")),
                format!("{:?}", Reply::TooLarge { index: 3, size }),
            ]
        );
        buf.release();
        buf.each(&mut |_| panic!("empty"));
    }
}
