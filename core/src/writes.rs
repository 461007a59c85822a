//! What portsyncd writes, as data, and the one mapping from it to SONiC's
//! tables, keys and fields.
//!
//! The driver decides *that* something is written and collects it as
//! [`WriteOp`]s; this module decides *how* each becomes a
//! [`Write`] — which database, table, key and fields,
//! byte for byte as the C++ daemon writes them. It also keeps the writes a
//! database refused ([`Refused`]), by target, so that they are written again
//! from the latest decided state once the database accepts writes.
//!
//! It does not send anything and does not decide when to retry.

use heapless::index_map::FnvIndexMap;
use heapless::index_set::FnvIndexSet;

use crate::backend::{Db, Field, Guard, Write};
use crate::engine::LinkState;
use crate::logger;
use crate::name::PortName;
use crate::schema::{self, Decimal, StatePortFields};
use crate::warm;

/// One write portsyncd decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// HSET STATE_DB `PORT_TABLE|<name>` with the four fields of `state`,
    /// if APPL_DB `PORT_TABLE:<name>` exists when it is carried out.
    SetStatePort {
        /// The port.
        name: PortName,
        /// What to publish.
        state: LinkState,
    },
    /// DEL STATE_DB `PORT_TABLE|<name>`.
    DelStatePort {
        /// The port.
        name: PortName,
    },
    /// Produce CONFIG_DB `PORT|<name>`'s fields, verbatim, to APPL_DB
    /// `PORT_TABLE:<name>` (the caller holds the fields it read).
    ProduceConfigPort {
        /// The port.
        name: PortName,
    },
    /// Produce APPL_DB `PORT_TABLE:PortConfigDone` `count`.
    PortConfigDone {
        /// Number of configured ports.
        count: u32,
    },
    /// Produce APPL_DB `PORT_TABLE:PortInitDone` `lanes` = `0`.
    PortInitDone,
    /// HSET CONFIG_DB `LOGGER|portsyncd` with the defaults of the missing
    /// fields, in one command (SONiC's `linkToDbNative` writes them together).
    LoggerDefaults {
        /// `LOGLEVEL` is missing.
        level: bool,
        /// `LOGOUTPUT` is missing.
        output: bool,
    },
    /// Partitioned instances: HSET STATE_DB `PORTSYNCD_INSTANCE|<id>` with
    /// what this instance owns and where it is (see [`crate::driver`]).
    InstanceState {
        /// This instance.
        id: u8,
        /// Instances in all.
        count: u8,
        /// Ports it owns.
        ports: u16,
        /// Their set digest.
        digest: u64,
        /// The leader: its run's token. A follower: the leader's token it is
        /// ready for (0: not ready).
        token: u64,
    },
    /// HSET STATE_DB `WARM_RESTART_TABLE|portsyncd` `restore_count`.
    RestoreCount {
        /// The value.
        count: u64,
    },
}

/// The formatted values of one [`WriteOp`] (numbers need room of their own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpText {
    /// No values of its own.
    None,
    /// A STATE_DB port hash.
    StatePort(StatePortFields),
    /// One number.
    Number(Decimal),
    /// An instance's state: count, ports, digest, token.
    Instance([Decimal; 4]),
}

/// Up to four fields of one write.
pub type FieldList<'a> = heapless::Vec<Field<'a>, 4>;

impl WriteOp {
    /// Formats the values this write carries.
    pub fn text(&self) -> OpText {
        match *self {
            WriteOp::SetStatePort { state, .. } => OpText::StatePort(state.fields()),
            WriteOp::PortConfigDone { count } => OpText::Number(Decimal::new(count)),
            WriteOp::RestoreCount { count } => OpText::Number(Decimal::new(count)),
            WriteOp::InstanceState { count, ports, digest, token, .. } => OpText::Instance([
                Decimal::new(count),
                Decimal::new(ports),
                Decimal::new(digest),
                Decimal::new(token),
            ]),
            _ => OpText::None,
        }
    }

    /// The CONFIG_DB port whose fields this write produces, if it is one.
    pub fn config_port(&self) -> Option<&PortName> {
        match self {
            WriteOp::ProduceConfigPort { name } => Some(name),
            _ => None,
        }
    }

    /// The fields of this write, from its [`text`](Self::text). A
    /// [`WriteOp::ProduceConfigPort`] has none here: its fields are the
    /// CONFIG_DB port's, which the caller holds.
    pub fn fields<'a>(&self, text: &'a OpText) -> FieldList<'a> {
        let mut out = FieldList::new();
        let mut push = |f: Field<'a>| {
            // At most four per write: the capacity.
            let _ = out.push(f);
        };
        match (self, text) {
            (WriteOp::SetStatePort { .. }, OpText::StatePort(fields)) => {
                for (field, value) in fields.pairs() {
                    push((field.as_bytes(), value.as_bytes()));
                }
            }
            (WriteOp::PortConfigDone { .. }, OpText::Number(n)) => {
                push((schema::PORT_CONFIG_DONE_COUNT_FIELD.as_bytes(), n.as_str().as_bytes()))
            }
            (WriteOp::InstanceState { id, .. }, OpText::Instance([count, ports, digest, token])) => {
                push((schema::INSTANCE_COUNT_FIELD.as_bytes(), count.as_str().as_bytes()));
                push((schema::INSTANCE_PORTS_FIELD.as_bytes(), ports.as_str().as_bytes()));
                push((schema::INSTANCE_DIGEST_FIELD.as_bytes(), digest.as_str().as_bytes()));
                let field =
                    if *id == 0 { schema::INSTANCE_TOKEN_FIELD } else { schema::INSTANCE_READY_FIELD };
                push((field.as_bytes(), token.as_str().as_bytes()));
            }
            (WriteOp::RestoreCount { .. }, OpText::Number(n)) => {
                push((warm::RESTORE_COUNT_FIELD.as_bytes(), n.as_str().as_bytes()))
            }
            (WriteOp::PortInitDone, _) => push((
                schema::PORT_INIT_DONE_LANES_FIELD.as_bytes(),
                schema::PORT_INIT_DONE_LANES_VALUE.as_bytes(),
            )),
            (WriteOp::LoggerDefaults { level, output }, _) => {
                if *level {
                    push((logger::LOGLEVEL_FIELD.as_bytes(), logger::DEFAULT_LEVEL.as_bytes()));
                }
                if *output {
                    push((logger::LOGOUTPUT_FIELD.as_bytes(), logger::DEFAULT_OUTPUT.as_bytes()));
                }
            }
            _ => {}
        }
        out
    }

    /// The SONiC write this is, with `fields` (from [`fields`](Self::fields),
    /// or the CONFIG_DB port's for [`WriteOp::ProduceConfigPort`]).
    pub fn write<'a>(&'a self, fields: &'a [Field<'a>]) -> Write<'a> {
        match self {
            // Only while APPL_DB holds the port, checked as it is written.
            WriteOp::SetStatePort { name, .. } => Write::SetIfPresent {
                db: Db::State,
                table: schema::STATE_PORT_TABLE,
                key: name.as_str(),
                fields,
                guard: Guard { db: Db::Appl, table: schema::APP_PORT_TABLE, key: name.as_str() },
            },
            WriteOp::DelStatePort { name } => {
                Write::Del { db: Db::State, table: schema::STATE_PORT_TABLE, key: name.as_str() }
            }
            WriteOp::ProduceConfigPort { name } => {
                Write::Produce { db: Db::Appl, table: schema::APP_PORT_TABLE, key: name.as_str(), fields }
            }
            WriteOp::PortConfigDone { .. } => Write::Produce {
                db: Db::Appl,
                table: schema::APP_PORT_TABLE,
                key: schema::PORT_CONFIG_DONE,
                fields,
            },
            WriteOp::PortInitDone => Write::Produce {
                db: Db::Appl,
                table: schema::APP_PORT_TABLE,
                key: schema::PORT_INIT_DONE,
                fields,
            },
            WriteOp::LoggerDefaults { .. } => {
                Write::Set { db: Db::Config, table: logger::LOGGER_TABLE, key: schema::APP, fields }
            }
            WriteOp::InstanceState { id, .. } => Write::Set {
                db: Db::State,
                table: schema::INSTANCE_TABLE,
                key: schema::INSTANCE_KEYS.get(usize::from(*id)).copied().unwrap_or("0"),
                fields,
            },
            WriteOp::RestoreCount { .. } => {
                Write::Set { db: Db::State, table: warm::WARM_RESTART_TABLE, key: schema::APP, fields }
            }
        }
    }

    /// Whether this goes to APPL_DB through the producer table (whose order
    /// orchagent relies on).
    pub fn is_produce(&self) -> bool {
        matches!(
            self,
            WriteOp::ProduceConfigPort { .. } | WriteOp::PortConfigDone { .. } | WriteOp::PortInitDone
        )
    }
}

/// Distinct keys portsyncd writes for each port: STATE_DB `PORT_TABLE|<port>`
/// and APPL_DB `PORT_TABLE:<port>` (produced).
pub const KEYS_PER_PORT: usize = 2;

/// Distinct keys portsyncd writes whatever the ports: APPL_DB
/// `PORT_TABLE:PortConfigDone` and `PORT_TABLE:PortInitDone` (produced),
/// CONFIG_DB `LOGGER|portsyncd` and STATE_DB `WARM_RESTART_TABLE|portsyncd`.
pub const KEYS_BESIDE_PORTS: usize = 4;

/// The distinct keys the [`WriteOp`]s of a run write for `ports` configured
/// ports: what a buffer of writes kept through an outage needs for them.
/// Not a hard bound: a DELLINK of any `Ethernet*`/`PortChannel*` link (a
/// sub-interface, say) deletes its STATE_DB key too; a buffer full of those
/// refuses the batch, which the driver keeps and writes again.
pub const fn max_keys_written(ports: usize) -> usize {
    KEYS_PER_PORT.saturating_mul(ports).saturating_add(KEYS_BESIDE_PORTS)
}

/// Writes a database refused, kept by target until it accepts them: STATE_DB
/// ports (written again from the latest decided state, whatever it is by
/// then), produced ports, PortConfigDone and PortInitDone. Room for `P`
/// ports of each kind; a full table is counted by the caller, never a panic.
#[derive(Clone, Debug, Default)]
pub struct Refused<const P: usize> {
    /// `true`: a delete was among them (it clears fields other daemons
    /// wrote), so the port is deleted before it is written again.
    state_ports: FnvIndexMap<PortName, bool, P>,
    produced_ports: FnvIndexSet<PortName, P>,
    config_done: Option<u32>,
    init_done: bool,
}

/// [`Refused`] had no room for a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusedFull;

impl<const P: usize> Refused<P> {
    /// Nothing kept.
    pub const fn new() -> Self {
        Self {
            state_ports: FnvIndexMap::new(),
            produced_ports: FnvIndexSet::new(),
            config_done: None,
            init_done: false,
        }
    }

    /// Keeps `op` for a later attempt.
    pub fn keep(&mut self, op: &WriteOp) -> Result<(), RefusedFull> {
        match *op {
            WriteOp::SetStatePort { name, .. } | WriteOp::DelStatePort { name } => {
                let delete = matches!(op, WriteOp::DelStatePort { .. })
                    || self.state_ports.get(&name).copied().unwrap_or(false);
                self.state_ports.insert(name, delete).map(drop).map_err(|_| RefusedFull)
            }
            WriteOp::ProduceConfigPort { name } => {
                self.produced_ports.insert(name).map(drop).map_err(|_| RefusedFull)
            }
            WriteOp::PortConfigDone { count } => {
                self.config_done = Some(count);
                Ok(())
            }
            WriteOp::PortInitDone => {
                self.init_done = true;
                Ok(())
            }
            // Start-up writes: a refusal there ends the start-up instead.
            WriteOp::LoggerDefaults { .. } | WriteOp::RestoreCount { .. } | WriteOp::InstanceState { .. } => {
                Ok(())
            }
        }
    }

    /// Nothing kept.
    pub fn is_empty(&self) -> bool {
        self.state_ports.is_empty() && !self.has_produce()
    }

    /// A produced write is kept: later ones must queue behind it.
    pub fn has_produce(&self) -> bool {
        !self.produced_ports.is_empty() || self.config_done.is_some() || self.init_done
    }

    /// Ports kept.
    pub fn len(&self) -> usize {
        self.state_ports.len()
            + self.produced_ports.len()
            + usize::from(self.config_done.is_some())
            + usize::from(self.init_done)
    }

    /// Moves up to `room` kept writes into `out`, in the order orchagent
    /// expects (ports, PortConfigDone, PortInitDone; STATE_DB ports between),
    /// `state_of` giving each STATE_DB port's latest decided state (`None`:
    /// deleted).
    pub fn take_into<const N: usize>(
        &mut self,
        out: &mut heapless::Vec<WriteOp, N>,
        state_of: impl Fn(&PortName) -> Option<LinkState>,
    ) {
        while out.len() < N {
            // From the back: removing the last entry moves nothing.
            let op = if let Some(&name) = self.produced_ports.last() {
                self.produced_ports.remove(&name);
                WriteOp::ProduceConfigPort { name }
            } else if let Some(count) = self.config_done.take() {
                WriteOp::PortConfigDone { count }
            } else if let Some((&name, &delete)) = self.state_ports.last() {
                let state = state_of(&name);
                if delete && state.is_some() && out.len() + 2 > N {
                    return;
                }
                self.state_ports.swap_remove(&name);
                match state {
                    Some(state) => {
                        if delete {
                            // Checked: room for two.
                            let _ = out.push(WriteOp::DelStatePort { name });
                        }
                        WriteOp::SetStatePort { name, state }
                    }
                    None => WriteOp::DelStatePort { name },
                }
            } else if core::mem::take(&mut self.init_done) {
                WriteOp::PortInitDone
            } else {
                return;
            };
            // Checked: out.len() < N.
            let _ = out.push(op);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Db, Guard, LinkState, PortName, Refused, Write, WriteOp, max_keys_written};

    fn port(n: &str) -> PortName {
        PortName::try_from(n).unwrap()
    }

    #[test]
    fn the_mapping_is_the_cpp_daemons() {
        let state = LinkState { ifindex: 3, admin_up: true, oper_up: false, mtu: 9100 };
        let op = WriteOp::SetStatePort { name: port("Ethernet0"), state };
        let text = op.text();
        let fields = op.fields(&text);
        assert_eq!(
            op.write(&fields),
            Write::SetIfPresent {
                db: Db::State,
                table: "PORT_TABLE",
                key: "Ethernet0",
                fields: &[
                    (b"state", b"ok"),
                    (b"netdev_oper_status", b"down"),
                    (b"admin_status", b"up"),
                    (b"mtu", b"9100")
                ],
                guard: Guard { db: Db::Appl, table: "PORT_TABLE", key: "Ethernet0" },
            }
        );
        let op = WriteOp::PortConfigDone { count: 32 };
        let text = op.text();
        let fields = op.fields(&text);
        assert_eq!(
            op.write(&fields),
            Write::Produce {
                db: Db::Appl,
                table: "PORT_TABLE",
                key: "PortConfigDone",
                fields: &[(b"count", b"32")]
            }
        );
        let op = WriteOp::RestoreCount { count: 0 };
        let text = op.text();
        let fields = op.fields(&text);
        assert_eq!(
            op.write(&fields),
            Write::Set {
                db: Db::State,
                table: "WARM_RESTART_TABLE",
                key: "portsyncd",
                fields: &[(b"restore_count", b"0")]
            }
        );
    }

    #[test]
    fn max_keys_written_counts_every_key_of_every_kind_of_write() {
        use std::collections::BTreeSet;
        use std::string::String;
        use std::vec::Vec;
        let state = LinkState { ifindex: 3, admin_up: true, oper_up: true, mtu: 9100 };
        let mut ops = Vec::new();
        for p in ["Ethernet0", "Ethernet4"] {
            ops.push(WriteOp::SetStatePort { name: port(p), state });
            ops.push(WriteOp::DelStatePort { name: port(p) });
            ops.push(WriteOp::ProduceConfigPort { name: port(p) });
        }
        ops.push(WriteOp::PortConfigDone { count: 2 });
        ops.push(WriteOp::PortInitDone);
        ops.push(WriteOp::LoggerDefaults { level: true, output: false });
        ops.push(WriteOp::RestoreCount { count: 1 });
        // A new kind of write does not compile here until it is counted above.
        for op in &ops {
            match op {
                WriteOp::SetStatePort { .. }
                | WriteOp::DelStatePort { .. }
                | WriteOp::ProduceConfigPort { .. }
                | WriteOp::PortConfigDone { .. }
                | WriteOp::PortInitDone
                | WriteOp::LoggerDefaults { .. }
                | WriteOp::RestoreCount { .. }
                | WriteOp::InstanceState { .. } => {}
            }
        }
        let keys: BTreeSet<_> = ops
            .iter()
            .map(|op| {
                let text = op.text();
                let fields = op.fields(&text);
                let w = op.write(&fields);
                let (table, key) = w.target();
                (w.db(), w.is_produce(), String::from(table), String::from(key))
            })
            .collect();
        assert_eq!(keys.len(), max_keys_written(2), "{keys:?}");
        assert_eq!(max_keys_written(1024), 2052);
    }

    #[test]
    fn refused_writes_come_back_in_order_from_the_latest_state() {
        let mut r = Refused::<8>::new();
        let state = LinkState { ifindex: 3, admin_up: true, oper_up: true, mtu: 9100 };
        r.keep(&WriteOp::PortInitDone).unwrap();
        r.keep(&WriteOp::SetStatePort { name: port("Ethernet0"), state }).unwrap();
        r.keep(&WriteOp::DelStatePort { name: port("Ethernet4") }).unwrap();
        r.keep(&WriteOp::ProduceConfigPort { name: port("Ethernet0") }).unwrap();
        r.keep(&WriteOp::PortConfigDone { count: 1 }).unwrap();
        assert_eq!(r.len(), 5);
        let newer = LinkState { oper_up: false, ..state };
        let mut out = heapless::Vec::<WriteOp, 8>::new();
        r.take_into(&mut out, |n| (n.as_str() == "Ethernet0").then_some(newer));
        assert_eq!(
            out.as_slice(),
            [
                WriteOp::ProduceConfigPort { name: port("Ethernet0") },
                WriteOp::PortConfigDone { count: 1 },
                WriteOp::DelStatePort { name: port("Ethernet4") },
                WriteOp::SetStatePort { name: port("Ethernet0"), state: newer },
                WriteOp::PortInitDone,
            ]
        );
        assert!(r.is_empty());
    }

    #[test]
    fn a_refused_delete_then_write_is_both_again() {
        let mut r = Refused::<8>::new();
        let state = LinkState { ifindex: 3, admin_up: true, oper_up: true, mtu: 9100 };
        r.keep(&WriteOp::DelStatePort { name: port("Ethernet0") }).unwrap();
        r.keep(&WriteOp::SetStatePort { name: port("Ethernet0"), state }).unwrap();
        let mut out = heapless::Vec::<WriteOp, 8>::new();
        r.take_into(&mut out, |_| Some(state));
        assert_eq!(
            out.as_slice(),
            [
                WriteOp::DelStatePort { name: port("Ethernet0") },
                WriteOp::SetStatePort { name: port("Ethernet0"), state }
            ]
        );
    }
}
