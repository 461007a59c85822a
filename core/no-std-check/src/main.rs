//! Links portsyncd-core into a binary without std.
//!
//! If anything in the core's dependency graph pulled in std, std's own
//! `panic_impl` would collide with the handler below and the link would fail.
//! The binary runs the parser, the filter, the engine and the EOIU detector
//! once so that none of them is optimised away unseen; it exits 0 on success.

#![no_std]
#![no_main]

use core::panic::PanicInfo;
use core::time::Duration;

use portsyncd_core::engine::{Action, LinkSync, StartKind, SwitchType, SyncConfig};
use portsyncd_core::netlink::{Message, messages};
use portsyncd_core::{EoiuDetector, Instant};

/// An RTM_NEWLINK for "Ethernet0" (ifindex 2, IFF_UP|IFF_RUNNING), then the
/// NLMSG_DONE of dump 7.
const BATCH: [u8; 68] = [
    48, 0, 0, 0, 16, 0, 2, 0, 7, 0, 0, 0, 0, 0, 0, 0, // nlmsghdr, NLM_F_MULTI
    0, 0, 1, 0, 2, 0, 0, 0, 0x41, 0, 0, 0, 0, 0, 0, 0, // ifinfomsg
    14, 0, 3, 0, b'E', b't', b'h', b'e', b'r', b'n', b'e', b't', b'0', 0, 0, 0, // IFLA_IFNAME
    20, 0, 0, 0, 3, 0, 2, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // NLMSG_DONE
];

fn run() -> bool {
    let mut engine: LinkSync<4, 4> =
        LinkSync::new(SyncConfig { start: StartKind::Warm, switch_type: SwitchType::Switch });
    let mut eoiu = EoiuDetector::new();
    if engine.add_config_port(b"Ethernet0").is_err() || engine.begin_initial_dump().is_err() {
        return false;
    }
    eoiu.start(Instant::from_millis(0), 7, Duration::from_secs(1));
    let mut ended = false;
    for message in messages(&BATCH) {
        match message {
            Ok(Message::Link(link)) => {
                if engine.handle_link(&link).is_err() {
                    return false;
                }
            }
            Ok(other) => ended |= eoiu.observe(&other).is_some(),
            Err(_) => return false,
        }
    }
    let Some(&name) = engine.pending_presence().next() else { return false };
    if engine.set_presence(&name, true).is_err() || engine.commit_batch().is_err() {
        return false;
    }
    let wrote = matches!(engine.poll_action(), Some(Action::SetStatePort { .. }));
    while engine.poll_action().is_some() {}
    if engine.end_initial_dump(true).is_err() {
        return false;
    }
    let init_done = engine.poll_action() == Some(Action::PortInitDone);
    ended && wrote && init_done
}

// SAFETY: `main` is the C entry point the platform's start files call; the
// name must not be mangled for them to find it. It takes no pointers it
// dereferences and has no other unsafe precondition.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    if run() { 0 } else { 1 }
}

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    loop {}
}

// SAFETY: the precompiled `core` references this symbol from its unwind
// tables even under `panic = "abort"`; with abort nothing ever unwinds, so it
// is never called. It has to be unmangled for the linker to resolve it, and
// it touches no memory.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}
