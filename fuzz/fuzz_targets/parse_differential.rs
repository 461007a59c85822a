//! Differential: wherever netlink-packet-route decodes a message, ours must
//! decode the same type, index, flags, change, name, mtu, master, kind,
//! operstate and address (modulo the libnl rules documented in
//! `core/tests/reference/mod.rs`), and ours must not reject what it accepts.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../core/tests/reference/mod.rs"]
mod reference;

fuzz_target!(|data: &[u8]| {
    if let Err(finding) = reference::compare(data) {
        panic!("{finding}");
    }
});
