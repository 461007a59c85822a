//! Replays captured rtnetlink datagrams through the core and prints what
//! portsyncd decides: each message's fate, the end of the initial dump, and
//! every write to APPL_DB and STATE_DB and every link it brings down.
//!
//! ```text
//! cargo run -p portsyncd-core --example replay -- [--ports P1,P2,...] [--warm] [--dump-seq N] DIR
//! ```
//!
//! `DIR` holds one file per datagram, replayed in name order (as written by
//! `core/tests/fixtures/capture.py`). The run is a cold start (or `--warm`)
//! of a switch with the given CONFIG_DB ports; orchagent is taken to pop
//! every produced port at once, so a configured port counts as present in
//! APPL_DB from `PortConfigDone` on. Nothing is written anywhere: this shows
//! the decisions, the daemon carries them out.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use portsyncd_core::engine::{Action, DefaultLinkSync, Disposition, StartKind, SwitchType, SyncConfig};
use portsyncd_core::netlink::{LinkOp, Message, messages};
use portsyncd_core::{EoiuDetector, Instant, PortName, schema};

struct Args {
    ports: Vec<String>,
    warm: bool,
    dump_seq: u32,
    dir: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { ports: Vec::new(), warm: false, dump_seq: 0x5eed_0001, dir: PathBuf::new() };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--ports" => {
                let list = it.next().ok_or("--ports needs a list")?;
                args.ports = list.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect();
            }
            "--warm" => args.warm = true,
            "--dump-seq" => {
                let v = it.next().ok_or("--dump-seq needs a number")?;
                let v = v.trim_start_matches("0x");
                args.dump_seq = u32::from_str_radix(v, 16).map_err(|e| format!("--dump-seq: {e}"))?;
            }
            dir if !dir.starts_with('-') => args.dir = PathBuf::from(dir),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.dir.as_os_str().is_empty() {
        return Err("usage: replay [--ports P1,P2] [--warm] [--dump-seq HEX] DIR".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replay: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let start = if args.warm { StartKind::Warm } else { StartKind::Cold };
    let mut engine = Box::new(DefaultLinkSync::new(SyncConfig { start, switch_type: SwitchType::Switch }));
    for port in &args.ports {
        engine.add_config_port(port.as_bytes()).map_err(|e| format!("CONFIG_DB PORT|{port}: {e}"))?;
    }
    engine.begin_initial_dump().map_err(|e| e.to_string())?;
    // APPL_DB PORT_TABLE as orchagent has popped it; warm: it survived.
    let mut appl: BTreeSet<String> =
        if args.warm { args.ports.iter().cloned().collect() } else { BTreeSet::new() };
    let mut eoiu = EoiuDetector::new();
    eoiu.start(Instant::from_millis(0), args.dump_seq, Duration::from_secs(5));

    let mut files: Vec<_> = std::fs::read_dir(&args.dir)
        .map_err(|e| format!("{}: {e}", args.dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    println!("cold/warm: {start:?}; CONFIG_DB ports: {}", args.ports.join(", "));
    for file in files {
        let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        println!("\n{} ({} bytes)", file.file_name().unwrap_or_default().to_string_lossy(), bytes.len());
        let mut ended = None;
        for message in messages(&bytes) {
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    println!("  skipped: {e}");
                    continue;
                }
            };
            if let Some(outcome) = eoiu.observe(&message) {
                ended = Some(outcome);
            }
            let link = match message {
                Message::Link(link) => link,
                Message::Done { header, status } => {
                    println!("  NLMSG_DONE (seq 0x{:x}, status {status})", header.seq);
                    continue;
                }
                Message::Error { header, errno } => {
                    println!("  NLMSG_ERROR errno {errno} for request seq 0x{:x}", header.seq);
                    continue;
                }
                other => {
                    println!("  message type {} ignored", other.header().kind);
                    continue;
                }
            };
            let op = if link.op == LinkOp::New { "NEWLINK" } else { "DELLINK" };
            let name = String::from_utf8_lossy(link.name.unwrap_or_default());
            let what = match engine.handle_link(&link).map_err(|e| e.to_string())? {
                Disposition::Queued(_) => "queued".to_string(),
                Disposition::MarkedStale { .. } => "stale: existed before this cold start".to_string(),
                Disposition::Ignored(reason) => format!("ignored: {reason}"),
                Disposition::Rejected(error) => format!("REJECTED: {error}"),
            };
            println!(
                "  {op} {name} (ifindex {}, flags 0x{:x}, seq 0x{:x}): {what}",
                link.index, link.flags, link.header.seq
            );
        }
        let questions: Vec<PortName> = engine.pending_presence().copied().collect();
        for name in questions {
            engine.set_presence(&name, appl.contains(name.as_str())).map_err(|e| e.to_string())?;
        }
        engine.commit_batch().map_err(|e| e.to_string())?;
        print_actions(&mut engine, &mut appl);
        if let Some(outcome) = ended {
            println!("  EOIU: {outcome:?}");
            engine.end_initial_dump(true).map_err(|e| e.to_string())?;
            print_actions(&mut engine, &mut appl);
            if start == StartKind::Cold {
                // Nothing popped yet at prune time: no admin_status anywhere.
                let candidates: Vec<PortName> = engine.prune_candidates().copied().collect();
                for name in candidates {
                    engine.prune(&name, false).map_err(|e| e.to_string())?;
                }
                engine.end_prune().map_err(|e| e.to_string())?;
                print_actions(&mut engine, &mut appl);
            }
        }
    }
    let awaiting: Vec<_> = engine.awaiting_ports().map(PortName::as_str).collect();
    println!("\nstill awaiting host interfaces: {awaiting:?}; counters: {:?}", engine.counters());
    Ok(())
}

fn print_actions(engine: &mut DefaultLinkSync, appl: &mut BTreeSet<String>) {
    while let Some(action) = engine.poll_action() {
        match action {
            Action::BringLinkDown { ifindex, name } => {
                println!("  -> kernel: RTM_SETLINK ifindex {ifindex} ({name}) admin down")
            }
            Action::ProduceAppPort { name } => {
                println!(
                    "  -> APPL_DB  produce {}:{name} <- CONFIG_DB PORT|{name} fields",
                    schema::APP_PORT_TABLE
                );
                appl.insert(name.to_string());
            }
            Action::PortConfigDone { count } => println!(
                "  -> APPL_DB  produce {}:{} count={count}",
                schema::APP_PORT_TABLE,
                schema::PORT_CONFIG_DONE
            ),
            Action::SetStatePort { name, state } => {
                let fields: Vec<String> =
                    state.fields().pairs().iter().map(|(f, v)| format!("{f}={v}")).collect();
                println!("  -> STATE_DB HSET {}|{name} {}", schema::STATE_PORT_TABLE, fields.join(" "));
            }
            Action::DelStatePort { name } => {
                println!("  -> STATE_DB DEL {}|{name}", schema::STATE_PORT_TABLE)
            }
            Action::PortNotInAppDb { name } => {
                println!("  .. {name}: not in APPL_DB PORT_TABLE, nothing written")
            }
            Action::PortInitDone => println!(
                "  -> APPL_DB  produce {}:{} lanes=0",
                schema::APP_PORT_TABLE,
                schema::PORT_INIT_DONE
            ),
        }
    }
}
