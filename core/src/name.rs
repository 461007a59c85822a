//! Port names that are safe to put into a Redis key.
//!
//! This module decides which link names may become part of a SONiC key such
//! as `PORT_TABLE|<name>`. It does not decide which links are ports at all
//! (that is [`crate::filter`]).
//!
//! The rule is deliberately stricter than the kernel's: a name must be 1 to 15
//! printable ASCII bytes (no space, no control or non-ASCII byte) and must not
//! contain a SONiC key separator (`|` or `:`), so that the key it forms can be
//! split back unambiguously by every consumer. The C++ daemon would write any
//! name; we skip such a link with a counted, logged reason instead.

use core::fmt;
use core::hash::{Hash, Hasher};

/// The longest interface name Linux allows (`IFNAMSIZ - 1`).
pub const PORT_NAME_MAX: usize = 15;

/// Why a name cannot be a port name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// Longer than [`PORT_NAME_MAX`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Contains `|` or `:`, which separate table and key in SONiC's databases.
    Separator {
        /// The separator found.
        byte: u8,
    },
    /// Contains a space, a control character or a non-ASCII byte.
    NotPrintable {
        /// The offending byte.
        byte: u8,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NameError::Empty => f.write_str("empty name"),
            NameError::TooLong { len } => {
                write!(f, "name of {len} bytes, longer than {PORT_NAME_MAX}")
            }
            NameError::Separator { byte } => {
                write!(f, "name contains the key separator '{}'", byte as char)
            }
            NameError::NotPrintable { byte } => {
                write!(f, "name contains the non-printable byte 0x{byte:02x}")
            }
        }
    }
}

impl core::error::Error for NameError {}

/// A validated port name: 1–15 printable ASCII bytes without `|` or `:`.
///
/// Sixteen bytes, `Copy`, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortName {
    len: u8,
    // Bytes past `len` are always zero, so the derived comparisons are exact.
    bytes: [u8; PORT_NAME_MAX],
}

impl PortName {
    /// Validates `name`.
    pub fn new(name: &[u8]) -> Result<Self, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.len() > PORT_NAME_MAX {
            return Err(NameError::TooLong { len: name.len() });
        }
        let mut bytes = [0u8; PORT_NAME_MAX];
        for (slot, &byte) in bytes.iter_mut().zip(name) {
            match byte {
                b'|' | b':' => return Err(NameError::Separator { byte }),
                0x21..=0x7e => *slot = byte,
                _ => return Err(NameError::NotPrintable { byte }),
            }
        }
        Ok(Self { len: name.len() as u8, bytes })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Validated ASCII is always UTF-8; the fallback cannot be taken.
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether the name starts with `prefix`.
    pub fn starts_with(&self, prefix: &str) -> bool {
        self.as_bytes().starts_with(prefix.as_bytes())
    }
}

impl Hash for PortName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
    }
}

impl fmt::Display for PortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl serde::Serialize for PortName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for PortName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PortName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PortName, E> {
                PortName::try_from(v).map_err(|e| E::custom(e))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl TryFrom<&str> for PortName {
    type Error = NameError;
    fn try_from(name: &str) -> Result<Self, NameError> {
        Self::new(name.as_bytes())
    }
}

/// A kernel interface name kept only to be logged: any bytes, at most 15.
///
/// Used for links portsyncd acts on by ifindex (stale links it brings down),
/// whose names need not be valid port names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LinkLabel {
    len: u8,
    bytes: [u8; PORT_NAME_MAX],
}

impl LinkLabel {
    /// Keeps the first 15 bytes of `name`.
    pub fn new(name: &[u8]) -> Self {
        let len = name.len().min(PORT_NAME_MAX);
        let mut bytes = [0u8; PORT_NAME_MAX];
        bytes[..len].copy_from_slice(&name[..len]);
        Self { len: len as u8, bytes }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Display for LinkLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.as_bytes().utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    fmt::Write::write_char(f, c)?;
                }
            }
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for LinkLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// How many of the first ports a [`FewNames`] names.
pub const FEW: usize = 3;

/// How many ports, and the first [`FEW`] of them by name: for a log line or
/// a health reason that must say which ports, in bounded space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FewNames {
    count: usize,
    first: [Option<PortName>; FEW],
}

impl FewNames {
    /// No ports.
    pub const NONE: FewNames = FewNames { count: 0, first: [None; FEW] };

    /// Counts `names`, keeping the first [`FEW`].
    pub fn of<'a>(names: impl IntoIterator<Item = &'a PortName>) -> Self {
        let mut few = Self::default();
        for name in names {
            if let Some(slot) = few.first.get_mut(few.count) {
                *slot = Some(*name);
            }
            few.count += 1;
        }
        few
    }

    /// `count` ports, of which the first [`FEW`] of `names` are named
    /// (`names` is read no further: cheap when the count is known).
    pub fn first_of<'a>(count: usize, names: impl IntoIterator<Item = &'a PortName>) -> Self {
        let mut few = Self { count, first: [None; FEW] };
        for (slot, name) in few.first.iter_mut().zip(names.into_iter().take(count)) {
            *slot = Some(*name);
        }
        few
    }

    /// How many ports.
    pub const fn count(&self) -> usize {
        self.count
    }

    /// The ports named.
    pub fn names(&self) -> impl Iterator<Item = &PortName> {
        self.first.iter().flatten()
    }
}

/// The names, then how many more: `Ethernet0, Ethernet4 and 5 more`.
impl fmt::Display for FewNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}")?;
        }
        match self.count.saturating_sub(FEW) {
            0 => Ok(()),
            more => write!(f, " and {more} more"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FewNames, NameError, PortName};

    #[test]
    fn few_names_name_the_first_and_count_the_rest() {
        let names: std::vec::Vec<PortName> =
            (0..5).map(|i| PortName::try_from(std::format!("Ethernet{}", i * 4).as_str()).unwrap()).collect();
        assert_eq!(std::format!("{}", FewNames::of(&names[..2])), "Ethernet0, Ethernet4");
        let five = FewNames::of(&names);
        assert_eq!(five.count(), 5);
        assert_eq!(std::format!("{five}"), "Ethernet0, Ethernet4, Ethernet8 and 2 more");
        assert_eq!(std::format!("{}", FewNames::default()), "");
    }

    #[test]
    fn accepts_sonic_names() {
        for name in ["Ethernet0", "Ethernet508", "PortChannel0001", "Ethernet-BP0", "Ethernet0.10"] {
            assert_eq!(PortName::try_from(name).unwrap().as_str(), name);
        }
        assert_eq!(PortName::try_from("Ethernet1234567").unwrap().as_bytes().len(), 15);
    }

    #[test]
    fn rejects_names_that_would_break_a_key() {
        assert_eq!(PortName::new(b""), Err(NameError::Empty));
        assert_eq!(PortName::new(b"Ethernet12345678"), Err(NameError::TooLong { len: 16 }));
        assert_eq!(PortName::new(b"Ethernet|0"), Err(NameError::Separator { byte: b'|' }));
        assert_eq!(PortName::new(b"Ethernet:0"), Err(NameError::Separator { byte: b':' }));
        assert_eq!(PortName::new(b"Ether net"), Err(NameError::NotPrintable { byte: b' ' }));
        assert_eq!(PortName::new(b"Eth\xff"), Err(NameError::NotPrintable { byte: 0xff }));
        assert_eq!(PortName::new(b"Eth\n"), Err(NameError::NotPrintable { byte: b'\n' }));
    }

    #[test]
    fn equal_names_are_equal_whatever_their_history() {
        let a = PortName::try_from("Ethernet4").unwrap();
        let b = PortName::new(b"Ethernet4").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, PortName::try_from("Ethernet40").unwrap());
    }
}
