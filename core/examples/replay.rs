//! Replays captured rtnetlink datagrams through the core's driver and prints
//! what portsyncd decides: each message's fate (the driver's events, at
//! DEBUG), the end of the initial dump, and every write to APPL_DB and
//! STATE_DB (through the one mapping the daemon uses) and every link it
//! brings down.
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

use portsyncd_core::backend::Write;
use portsyncd_core::driver::canned::{self, Facts};
use portsyncd_core::driver::{DefaultDriver, DriverConfig};
use portsyncd_core::event::Event;
use portsyncd_core::name::LinkLabel;
use portsyncd_core::writes::WriteOp;
use portsyncd_core::{Instant, PortName};

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

/// The world of the replay: CONFIG_DB as given, orchagent popping every
/// produced port at once, every decision printed.
struct Printed {
    ports: Vec<String>,
    warm: bool,
    appl: BTreeSet<PortName>,
    dump_seq: u32,
}

impl Facts for Printed {
    fn config_ports(&self, key: &mut dyn FnMut(&[u8])) {
        self.ports.iter().for_each(|p| key(p.as_bytes()));
    }
    fn log_level(&self) -> Option<&[u8]> {
        Some(b"DEBUG")
    }
    fn warm(&self) -> bool {
        self.warm
    }
    fn in_appl(&self, name: &PortName) -> bool {
        self.appl.contains(name)
    }
    fn dump(&mut self) -> Option<u32> {
        Some(self.dump_seq)
    }
    fn written(&mut self, op: &WriteOp) {
        if let WriteOp::ProduceConfigPort { name } = op {
            self.appl.insert(*name);
        }
        let text = op.text();
        let fields = op.fields(&text);
        let write = op.write(&fields);
        let (table, key) = write.target();
        let shown: Vec<String> =
            fields.iter().map(|(f, v)| format!("{}={}", f.escape_ascii(), v.escape_ascii())).collect();
        let what = match write {
            Write::Set { .. } => "HSET",
            Write::SetIfPresent { .. } => "HSET (APPL_DB holds the port)",
            Write::Del { .. } => "DEL",
            Write::Produce { .. } => "produce",
            Write::ProduceDel { .. } => "produce del",
        };
        let from_config = if op.config_port().is_some() { " <- CONFIG_DB PORT fields" } else { "" };
        println!("  -> {} {what} {table}|{key} {}{from_config}", write.db(), shown.join(" "));
    }
    fn bring_down(&mut self, ifindex: u32, _name: &LinkLabel) {
        println!("  -> kernel: RTM_SETLINK ifindex {ifindex} admin down");
    }
    fn event(&mut self, event: &Event) {
        println!("  {:<6} {event}", event.level().name());
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let appl = if args.warm {
        args.ports.iter().filter_map(|p| PortName::try_from(p.as_str()).ok()).collect()
    } else {
        BTreeSet::new()
    };
    let mut world = Printed { ports: args.ports.clone(), warm: args.warm, appl, dump_seq: args.dump_seq };
    let mut files: Vec<_> = std::fs::read_dir(&args.dir)
        .map_err(|e| format!("{}: {e}", args.dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    println!("{}; CONFIG_DB ports: {}", if args.warm { "warm" } else { "cold" }, args.ports.join(", "));
    let mut driver = Box::new(DefaultDriver::new(Instant::from_millis(0), DriverConfig::default()));
    let mut now = Instant::from_millis(0);
    if let Some(exit) = canned::answer_all(&mut driver, now, &mut world) {
        return Err(format!("the driver exited: {exit:?}"));
    }
    for file in files {
        let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        println!("\n{} ({} bytes)", file.file_name().unwrap_or_default().to_string_lossy(), bytes.len());
        now = now.saturating_add(Duration::from_millis(100));
        canned::feed(&mut driver, now, &bytes, &mut world);
        canned::end_batch(&mut driver, now);
        canned::answer_all(&mut driver, now, &mut world);
    }
    let awaiting: Vec<_> = driver.engine().awaiting_ports().map(PortName::as_str).collect();
    println!("\nstill awaiting host interfaces: {awaiting:?}");
    println!("driver: {:?}\nengine: {:?}", driver.counters(), driver.engine().counters());
    Ok(())
}
