//! Saving and loading the snapshot: round trips, every way a file can be
//! wrong, and a writer killed with SIGKILL hundreds of times mid-save.

use std::process::{Command, Stdio};
use std::time::Duration;

use portsyncd_core::PortName;
use portsyncd_core::engine::{LinkState, SnapshotPort};
use portsyncd_state_file::{LoadError, LoadedSnapshot, Snapshot, StateFile, checksum, encode};

type Snap = Snapshot<1024>;

/// A snapshot whose every port carries `generation`, so that a mix of two
/// saves would be visible.
fn snapshot(generation: u32) -> Snap {
    let mut s = Snapshot { port_init_done: generation.is_multiple_of(2), ports: heapless::Vec::new() };
    let ports = 1 + generation % 200;
    for i in 0..ports {
        let name = PortName::try_from(format!("Ethernet{}", i * 4).as_str()).unwrap();
        let state = LinkState { ifindex: 100 + i, admin_up: true, oper_up: i % 3 != 0, mtu: generation };
        s.ports.push(SnapshotPort { name, state }).unwrap();
    }
    s
}

/// `generation`'s snapshot as it is read back.
fn loaded(generation: u32) -> LoadedSnapshot {
    LoadedSnapshot::from(&snapshot(generation))
}

fn consistent(s: &LoadedSnapshot) -> Option<u32> {
    let generation = s.ports.first()?.state.mtu;
    let ok = s.ports.len() as u32 == 1 + generation % 200
        && s.port_init_done == (generation.is_multiple_of(2))
        && s.ports
            .iter()
            .enumerate()
            .all(|(i, p)| p.state.mtu == generation && p.state.ifindex == 100 + i as u32);
    ok.then_some(generation)
}

#[test]
fn round_trip_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = StateFile::new(dir.path().join("sub"));
    assert!(file.load::<1024>().unwrap().is_none(), "missing = none");
    let size = file.save(&snapshot(7)).unwrap();
    assert!(size > 20);
    assert_eq!(file.load::<1024>().unwrap(), Some(loaded(7)));
    file.save(&snapshot(8)).unwrap();
    assert_eq!(file.load::<1024>().unwrap(), Some(loaded(8)));
}

#[test]
fn every_bad_file_is_rejected_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = StateFile::new(dir.path());
    let good = encode(&snapshot(41)).unwrap();
    let write = |bytes: &[u8]| std::fs::write(file.path(), bytes).unwrap();
    let load = || file.load::<1024>().unwrap_err();

    // Truncated at every length.
    for len in 0..good.len() {
        write(&good[..len]);
        let err = load();
        assert!(matches!(err, LoadError::Truncated { .. }), "len {len}: {err}");
    }
    // Any single flipped bit is caught.
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x10;
        write(&bad);
        match file.load::<1024>() {
            Err(_) => {}
            Ok(s) => panic!("byte {i} flipped and still loaded: {s:?}"),
        }
    }
    // Trailing garbage.
    let mut long = good.clone();
    long.push(0);
    write(&long);
    assert!(matches!(load(), LoadError::Checksum { .. }));
    // Not ours.
    write(b"{\"ports\": []}\n and then some more bytes");
    assert!(matches!(load(), LoadError::NotASnapshot { .. }), "{}", load());
    // A newer version.
    let mut newer = good.clone();
    newer[8] = 0xff;
    write(&newer);
    let err = load();
    assert!(matches!(err, LoadError::NewerVersion { found: 255, .. }), "{err}");
    assert!(err.to_string().contains("this portsyncd reads up to 1"), "{err}");
    // A valid checksum over an undecodable payload (an invalid port name).
    let mut forged = good.clone();
    let pos = forged.windows(9).position(|w| w == b"Ethernet0").unwrap();
    forged[pos + 8] = b'|';
    let crc = checksum(&forged[8..16], &forged[20..]);
    forged[16..20].copy_from_slice(&crc.to_le_bytes());
    write(&forged);
    let err = load();
    assert!(matches!(err, LoadError::Undecodable { .. }), "{err}");
    // More ports than the reader's capacity.
    write(&good);
    let err = file.load::<8>().unwrap_err();
    assert!(matches!(err, LoadError::Undecodable { .. }));
    assert!(err.to_string().ends_with("is corrupt: 42 ports, more than the 8 this build holds"), "{err}");
}

/// The child side of the crash test: saves generation after generation until killed.
#[test]
fn save_loop_child() {
    let Ok(dir) = std::env::var("PORTSYNCD_SAVE_LOOP_DIR") else { return };
    let file = StateFile::new(dir);
    for generation in 0.. {
        file.save(&snapshot(generation)).unwrap();
    }
}

#[test]
fn sigkill_in_the_middle_of_saving_never_leaves_a_half_applied_state() {
    let dir = tempfile::tempdir().unwrap();
    let file = StateFile::new(dir.path());
    let me = std::env::current_exe().unwrap();
    let (mut loaded, mut none, mut mid_save) = (0, 0, 0);
    let temp = dir.path().join("portsyncd.snapshot.tmp");
    let mut last = None;
    let kills = 300;
    for round in 0..kills {
        let mut child = Command::new(&me)
            .args(["--exact", "save_loop_child", "--test-threads=1"])
            .env("PORTSYNCD_SAVE_LOOP_DIR", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill at varying points: during start-up, mid-write, mid-rename.
        std::thread::sleep(Duration::from_micros(2_000 + (round * 7919 % 13) as u64 * 1_000));
        child.kill().unwrap();
        child.wait().unwrap();
        // A temp file left behind: this kill landed between create and rename.
        if std::fs::remove_file(&temp).is_ok() {
            mid_save += 1;
        }
        match file.load::<1024>() {
            Ok(Some(s)) => {
                let generation =
                    consistent(&s).unwrap_or_else(|| panic!("round {round}: half-applied snapshot {s:?}"));
                last = Some(generation);
                loaded += 1;
            }
            Ok(None) => none += 1,
            Err(e) => panic!("round {round}: a killed save left a bad file: {e}"),
        }
    }
    eprintln!(
        "{kills} kills: {mid_save} mid-save (temp file left), {loaded} files loaded whole (last generation \
         {last:?}), {none} before any save, 0 rejected"
    );
    assert!(loaded > kills / 2, "the writer hardly ever got to save: {loaded}");
    assert!(mid_save > 0, "no kill landed during a save");
}
