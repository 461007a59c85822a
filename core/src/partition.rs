//! Partitioned instances: which of several portsyncd instances, sharing one
//! namespace and its databases, owns a configured port.
//!
//! A port's ownership key is its CONFIG_DB `index` field (SONiC's dense,
//! 0- or 1-based front-panel numbering, which splits ports evenly) when
//! every configured port has a decimal one, else the number its name ends
//! with (`Ethernet48` → 48: names step by lanes, 4 or 8, so `even` over
//! them can leave an instance with nothing — the start says how many each
//! owns). Every instance reads the same CONFIG_DB, so all of them decide
//! alike.
//!
//! This module decides ownership and the digest instances compare to find
//! gaps and overlaps; it does not coordinate them (the driver does, through
//! STATE_DB keys of its own: [`crate::driver`]).

use core::fmt;

/// The most instances.
pub const MAX_INSTANCES: u8 = 64;

/// Keys a `list` share can name: 0 to this.
pub const MAX_LISTED_KEY: u32 = 8191;

/// Which keys an instance owns.
// A list is a fixed bitmap (the core allocates nothing); the settings hold
// one share, so the size of the largest variant is paid once.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Share {
    /// Every port (a single instance).
    All,
    /// Keys whose remainder by the instance count is the instance's id.
    Even,
    /// Keys `first..=last`.
    Range {
        /// The first key owned.
        first: u32,
        /// The last key owned.
        last: u32,
    },
    /// The keys listed (a bitmap of keys up to [`MAX_LISTED_KEY`]).
    List(KeySet),
}

/// A set of keys 0..=[`MAX_LISTED_KEY`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeySet([u64; 128]);

impl KeySet {
    /// No key.
    pub const fn new() -> Self {
        Self([0; 128])
    }

    /// Adds `key`; `false` if it is beyond [`MAX_LISTED_KEY`].
    pub fn insert(&mut self, key: u32) -> bool {
        if key > MAX_LISTED_KEY {
            return false;
        }
        self.0[(key / 64) as usize] |= 1 << (key % 64);
        true
    }

    /// Whether `key` is in.
    pub fn contains(&self, key: u32) -> bool {
        key <= MAX_LISTED_KEY && self.0[(key / 64) as usize] & (1 << (key % 64)) != 0
    }
}

impl Default for KeySet {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries((0..=MAX_LISTED_KEY).filter(|&k| self.contains(k))).finish()
    }
}

/// This instance's place among the instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    id: u8,
    count: u8,
    share: Share,
}

/// A partition that cannot be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionError {
    /// `count` is 0 or above [`MAX_INSTANCES`].
    BadCount,
    /// `id` is not below `count`.
    BadId,
    /// A range whose first key is after its last.
    EmptyRange,
    /// A listed key beyond [`MAX_LISTED_KEY`].
    KeyTooLarge,
}

impl fmt::Display for PartitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadCount => write!(f, "the instance count must be 1 to {MAX_INSTANCES}"),
            Self::BadId => f.write_str("the instance id must be below the instance count"),
            Self::EmptyRange => f.write_str("a range's first key must not be after its last"),
            Self::KeyTooLarge => write!(f, "a listed key must be at most {MAX_LISTED_KEY}"),
        }
    }
}

impl core::error::Error for PartitionError {}

impl Partition {
    /// The only instance: it owns every port.
    pub const fn single() -> Self {
        Self { id: 0, count: 1, share: Share::All }
    }

    /// Instance `id` of `count`, owning `share`.
    pub fn new(id: u8, count: u8, share: Share) -> Result<Self, PartitionError> {
        if count == 0 || count > MAX_INSTANCES {
            return Err(PartitionError::BadCount);
        }
        if id >= count {
            return Err(PartitionError::BadId);
        }
        if let Share::Range { first, last } = share {
            if first > last {
                return Err(PartitionError::EmptyRange);
            }
        }
        let share = if count == 1 { Share::All } else { share };
        Ok(Self { id, count, share })
    }

    /// This instance's id.
    pub const fn id(&self) -> u8 {
        self.id
    }

    /// How many instances there are.
    pub const fn count(&self) -> u8 {
        self.count
    }

    /// What it owns.
    pub const fn share(&self) -> Share {
        self.share
    }

    /// Whether it is the only instance.
    pub const fn is_single(&self) -> bool {
        self.count == 1
    }

    /// Whether it is the leader (id 0): it produces the configuration to
    /// APPL_DB, PortConfigDone with every instance's ports counted, and
    /// PortInitDone once every instance has its ports; it also takes the
    /// kernel links that are no configured port.
    pub const fn is_leader(&self) -> bool {
        self.id == 0
    }

    /// Whether the port of ownership key `key` is this instance's.
    pub fn owns(&self, key: u32) -> bool {
        match self.share {
            Share::All => true,
            Share::Even => key % u32::from(self.count) == u32::from(self.id),
            Share::Range { first, last } => (first..=last).contains(&key),
            Share::List(keys) => keys.contains(key),
        }
    }
}

impl Default for Partition {
    fn default() -> Self {
        Self::single()
    }
}

/// The number a port name ends with (`Ethernet48` → 48).
pub fn name_number(name: &[u8]) -> Option<u32> {
    let digits = name.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    crate::schema::parse_decimal(&name[name.len() - digits..])
}

/// A port name's share of a set digest: instances add up (wrapping) those
/// of the ports they own, and the sum over instances equals the sum over
/// every configured port exactly when no port is owned twice or by none
/// (but for a 64-bit coincidence).
pub fn name_digest(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// What the leader found wrong with the instances' keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// An instance was configured with another instance count.
    Count,
    /// The instances' ports do not add up to the configured ports: some
    /// are owned twice, or by none.
    Ports {
        /// Ports the instances own, added up.
        owned: usize,
        /// Ports configured.
        configured: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::{KeySet, Partition, PartitionError, Share, name_digest, name_number};

    #[test]
    fn shares_own_what_they_say() {
        let even = |id| Partition::new(id, 4, Share::Even).unwrap();
        assert!(even(1).owns(5) && !even(1).owns(4) && even(0).owns(0));
        let range = Partition::new(1, 2, Share::Range { first: 10, last: 19 }).unwrap();
        assert!(range.owns(10) && range.owns(19) && !range.owns(20) && !range.owns(9));
        let mut keys = KeySet::new();
        assert!(keys.insert(3) && keys.insert(8191) && !keys.insert(8192));
        let list = Partition::new(2, 3, Share::List(keys)).unwrap();
        assert!(list.owns(3) && list.owns(8191) && !list.owns(4));
        let single = Partition::single();
        assert!(single.owns(12345) && single.is_single() && single.is_leader());
        // One instance owns everything, whatever its share says.
        assert_eq!(Partition::new(0, 1, Share::Even).unwrap(), Partition::single());
    }

    #[test]
    fn impossible_partitions_are_refused() {
        assert_eq!(Partition::new(0, 0, Share::Even), Err(PartitionError::BadCount));
        assert_eq!(Partition::new(0, 65, Share::Even), Err(PartitionError::BadCount));
        assert_eq!(Partition::new(4, 4, Share::Even), Err(PartitionError::BadId));
        assert_eq!(Partition::new(0, 2, Share::Range { first: 2, last: 1 }), Err(PartitionError::EmptyRange));
    }

    #[test]
    fn keys_and_digests() {
        assert_eq!(name_number(b"Ethernet48"), Some(48));
        assert_eq!(name_number(b"Ethernet"), None);
        use crate::schema::parse_decimal;
        assert_eq!(parse_decimal::<u32>(b"12"), Some(12));
        assert_eq!(parse_decimal::<u32>(b"1x"), None);
        assert_eq!(parse_decimal::<u32>(b""), None);
        assert_eq!(parse_decimal::<u32>(b"9999999999"), None);
        let (a, b) = (name_digest(b"Ethernet0"), name_digest(b"Ethernet4"));
        assert_ne!(a, b);
        // A port owned twice and another by none do not add up to the whole.
        let whole = a.wrapping_add(b);
        assert_ne!(a.wrapping_add(a), whole);
    }
}
