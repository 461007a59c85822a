//! `portsyncd`: keeps SONiC's APPL_DB and STATE_DB port tables in step with
//! the kernel's links. See `portsyncd --help`.

#![forbid(unsafe_code)]

#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() -> std::process::ExitCode {
    linux::main()
}

/// Everything that needs rtnetlink.
#[cfg(target_os = "linux")]
mod linux {
    use std::future::Future;
    use std::process::ExitCode;

    use portsyncd::cli::{self, Backend, Command};
    use portsyncd::config::{Config, ConfigError};
    use portsyncd::ferry::{self, Clock, MonotonicClock, Parts};
    use portsyncd::instance::{self, Instance};
    use portsyncd::metrics::{self, MetricsBoard, MetricsPublisher, http::MetricsEndpoint};
    use portsyncd::signals::ProcessSignals;
    use portsyncd::state_dir::{self, StateDir};
    use portsyncd::supervisor::{self, Heartbeat, Supervisors, Systemd};
    use portsyncd::{log, logging};
    use portsyncd_core::backend::{Databases, Db};
    use portsyncd_core::driver::{DefaultDriver, Input};
    use portsyncd_mock::{MemoryDatabases, MockDatabases, Value};
    use portsyncd_netlink::{LinkControl, LinkMonitor};
    use portsyncd_redis::{DbConfig, DbConfigError, RedisConnections, RedisError, RedisOptions};
    use std::time::{Duration, Instant};

    pub fn main() -> ExitCode {
        #[cfg(feature = "dhat-heap")]
        let _profiler = dhat::Profiler::new_heap();
        match try_main() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                // One line (the usage after it for a bad command line), on
                // stderr only (the journal keeps it under systemd).
                eprintln!("portsyncd: {e}");
                e.exit_code()
            }
        }
    }

    /// Why the daemon stops before or instead of its run, or why its run
    /// ended: the message printed after `portsyncd: `, and the exit status.
    #[derive(Debug, thiserror::Error)]
    enum Failure {
        /// The command line (exit 2): the usage follows.
        #[error("{0}\n\n{usage}", usage = cli::USAGE)]
        Usage(String),
        /// `database_config.json` or `database_global.json`.
        #[error(transparent)]
        DbConfig(#[from] DbConfigError),
        /// The settings file.
        #[error(transparent)]
        Config(#[from] ConfigError),
        /// The signal handlers.
        #[error("signals: {0}")]
        Signals(std::io::Error),
        /// The metrics endpoint (its error names the address).
        #[error(transparent)]
        Metrics(std::io::Error),
        /// Anything else before the run, in its own words: the network
        /// namespace, the namespace served, the instance lock, the driver's
        /// settings; for `--check-config`, the state dir too.
        #[error("{0}")]
        Start(String),
        /// The run: it could not start its loop, or its loop ended in
        /// error.
        #[error("{0}")]
        Run(String),
    }

    impl Failure {
        fn exit_code(&self) -> ExitCode {
            match self {
                Self::Usage(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }

    fn try_main() -> Result<(), Failure> {
        let mut args = match cli::parse(std::env::args_os().skip(1)).map_err(Failure::Usage)? {
            Command::Help => {
                print!("{}", cli::USAGE);
                return Ok(());
            }
            Command::Version => {
                println!("portsyncd {}", env!("CARGO_PKG_VERSION"));
                return Ok(());
            }
            Command::Run(args) => args,
        };
        // First, while this is the only thread: every thread and socket from
        // here on (netlink, the instance lock, metrics, Redis over TCP) is
        // in the namespace whose links this daemon watches. (--check-config
        // only checks that it is there.)
        if let Some(netns) = &args.netns {
            let entered =
                if args.check_config { instance::netns_exists(netns) } else { instance::enter_netns(netns) };
            entered.map_err(Failure::Start)?;
        }
        // The multi-ASIC namespace served (-n, or the container's
        // environment): it labels lines and metrics and has its own state
        // dir and instance lock.
        let namespace = args.namespace_name(|var| std::env::var(var).ok()).map_err(Failure::Start)?;
        logging::set_namespace(namespace.clone());
        args.apply_namespace(namespace.as_deref());
        // -n: the namespace's database_config.json, through the global file
        // (checked here, so a wrong namespace stops before anything opens).
        if let (Some(ns), Backend::Redis) = (&args.namespace, args.backend) {
            args.db_config = DbConfig::load_namespace(&args.db_global_config, ns)?.path().to_owned();
        }
        let config = Config::load(&args.config, args.config_given)?;
        if args.check_config {
            return check_config(&args, namespace.as_deref(), &config);
        }
        // At once: from here no signal ends the process unsaid (one that
        // comes during start-up waits in the handler's pipe for the loop).
        let signals = ProcessSignals::register(args.config.clone(), args.config_given, config.clone())
            .map_err(Failure::Signals)?;
        // Before any socket or connection: a second daemon stops here having
        // changed nothing. A state dir that cannot be used does not: the
        // snapshot is a cache (the driver is told, below). Partitioned
        // instances: each its own state dir and lock (a second instance with
        // the same id is refused here).
        args.apply_instance(&config.partition);
        let lock_label = instance::instance_label(namespace.as_deref(), &config.partition);
        let (_instance, state_dir) =
            Instance::claim(&args.state_dir, lock_label.as_deref()).map_err(Failure::Start)?;
        // Bound before anything is written: an address in use stops the start.
        let metrics = match args.metrics_addr.clone().or_else(|| config.metrics_addr.clone()) {
            None => None,
            Some(addr) => {
                let board = metrics::board_for(namespace.as_deref());
                Some((
                    MetricsEndpoint::bind(&addr, &config.metrics_socket, board.clone())
                        .map_err(Failure::Metrics)?,
                    board,
                ))
            }
        };
        logging::set_output(config.log_output.unwrap_or(logging::Output::Syslog));
        logging::set_repeat_window(config.log_repeat_window);
        // supervisord's heartbeat: as the settings say, else on when
        // supervisord runs us (SONiC's swss container).
        let supervised = supervisor::under_supervisord(|var| std::env::var_os(var));
        let heartbeat = supervisor::heartbeat_interval(config.supervisor_heartbeat, supervised);
        let supervisors = Supervisors {
            systemd: Systemd::from_env().unwrap_or_else(|e| {
                log!(Warn, "NOTIFY_SOCKET is set but cannot be reached ({e}); systemd is not told anything");
                None
            }),
            heartbeat: heartbeat.map(|_| Heartbeat::new(supervised)),
        };
        let watchdog = supervisors.systemd.as_ref().and_then(Systemd::watchdog);
        let liveness = portsyncd_core::driver::liveness_interval(watchdog, heartbeat);
        // The loop runs on this thread, which also waits in the reactor: the
        // Redis adapter drives its sockets from the loop itself (no task of
        // its own), so a round trip wakes no other thread (measured: cross-
        // thread wake-ups were most of the daemon's CPU time).
        let (clock, driver) = start(&config, liveness).map_err(Failure::Start)?;
        if let Some(problem) = state_dir.problem() {
            // The why here; what it costs is the driver's line (WARN).
            log!(Info, "{problem}");
            let _ = driver.handle(clock.now(), Input::SnapshotStoreFailed(problem.fault));
        }
        let client_name = instance::client_name(namespace.as_deref(), &config.partition);
        let run = Run { args, config, clock, driver, signals, supervisors, metrics, state_dir, client_name };
        match run.args.backend {
            Backend::Redis => on_reactor(run_redis(run)),
            Backend::Memory => on_reactor(run_memory(run)),
        }
        .map_err(Failure::Run)
    }

    /// Runs the daemon's loop on the reactor its sockets and timers wait on.
    fn on_reactor(run: impl Future<Output = Result<(), String>>) -> Result<(), String> {
        portsyncd_reactor::block_on(run).map_err(|e| format!("cannot start the event loop: {e}"))?
    }

    /// `--check-config`: the database configuration read and its three
    /// databases resolved (nothing connects), then everything in effect
    /// printed. Exit 0, or 1 with the one line that says what is wrong.
    fn check_config(args: &cli::Args, namespace: Option<&str>, config: &Config) -> Result<(), Failure> {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(format!("portsyncd {}: the settings are valid", env!("CARGO_PKG_VERSION")));
        let file = if args.config.exists() { "" } else { " (absent: defaults)" };
        line(format!("settings file: {}{file}", args.config.display()));
        line(format!("namespace: {}", namespace.unwrap_or("none")));
        line(format!("network namespace: {}", args.netns.as_deref().unwrap_or("this process's")));
        line(format!("state dir: {}", args.state_dir.display()));
        // The run goes on without snapshots; asked to validate, say so.
        state_dir::check(&args.state_dir).map_err(Failure::Start)?;
        match args.backend {
            Backend::Memory => line("databases: in memory (--db memory)".into()),
            Backend::Redis => {
                let db = DbConfig::load(&args.db_config)?;
                line(format!("database_config.json: {}", db.path().display()));
                for name in ["CONFIG_DB", "APPL_DB", "STATE_DB"] {
                    let e = db.resolve(name)?;
                    line(format!("  {name}: id {} at {} (separator {:?})", e.id, e.addr, e.separator));
                }
            }
        }
        // --metrics-addr wins over the file, in what is in effect too (said
        // once: as metrics.addr, below).
        let mut in_effect = config.clone();
        in_effect.metrics_addr = args.metrics_addr.clone().or(in_effect.metrics_addr);
        line("settings in effect:".into());
        for (key, value) in in_effect.effective() {
            line(format!("  {key} = {value}"));
        }
        print!("{out}");
        Ok(())
    }

    /// The kernel sockets (checked first: nothing is written if they fail: a
    /// daemon without the privilege to bring stale links down stops here).
    async fn prelude(config: &Config) -> Result<(LinkMonitor, LinkControl), String> {
        let mut control = LinkControl::open().map_err(|e| e.to_string())?;
        control.check_permission().await.map_err(|e| e.to_string())?;
        let monitor = LinkMonitor::open(config.netlink_receive_buffer).map_err(|e| e.to_string())?;
        Ok((monitor, control))
    }

    /// Everything a run needs but its databases.
    struct Run {
        args: cli::Args,
        config: Config,
        clock: MonotonicClock,
        driver: DriverSlot,
        signals: ProcessSignals,
        supervisors: Supervisors,
        /// The metrics endpoint, bound, and the board it reads.
        metrics: Option<(MetricsEndpoint, MetricsBoard)>,
        /// Where the snapshot is kept, locked.
        state_dir: StateDir,
        /// What each Redis connection calls itself (`CLIENT SETNAME`).
        client_name: String,
    }

    /// Runs the driver over `db` until it exits.
    /// (`None`: stopped by a signal before the databases were there.)
    async fn drive<D: Databases>(
        connect: impl AsyncFnOnce(&ProcessSignals, &mut Supervisors) -> Result<Option<D>, String>,
        run: Run,
    ) -> Result<Option<Parts<D, LinkMonitor, LinkControl, StateDir, Supervisors>>, String> {
        let Run { config, clock, driver, signals, mut supervisors, metrics, state_dir, .. } = run;
        let (links, control) = prelude(&config).await?;
        let Some(db) = connect(&signals, &mut supervisors).await? else { return Ok(None) };
        // Served from here on, on its own thread; stopped when the run ends.
        let (server, publisher) = match metrics {
            Some((endpoint, board)) => {
                let addr = endpoint.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string());
                let server = endpoint.spawn().map_err(|e| format!("metrics endpoint: {e}"))?;
                log!(Notice, "metrics at {addr}/metrics");
                (Some(server), Some(MetricsPublisher::new(board)))
            }
            None => (None, None),
        };

        let mut parts = Parts {
            db,
            links,
            control,
            snapshots: state_dir,
            saving: None,
            supervisor: supervisors,
            config_fields: Default::default(),
            replies: Default::default(),
            metrics: publisher,
        };
        let ran = ferry::run(driver, &mut parts, &clock, signals).await;
        // Stopped and waited for: the endpoint (and its unix socket file)
        // is gone before the process exits.
        drop(server);
        ran.map_err(|e| e.to_string())?;
        log!(
            Notice,
            "stopped: {}; {}; {}",
            driver.milestones(),
            driver.counters(),
            driver.engine().counters()
        );
        Ok(Some(parts))
    }

    /// The process's one driver (a few hundred KiB), built at compile time
    /// into the binary's data: only the pages it writes ever become the
    /// process's own memory. Built at run time, it went through a stack
    /// first (`Box::default()` made a 232 KiB frame, every page of it touched
    /// by the stack probe and kept for the life of the process) and every
    /// page of its heap block was written by the copy.
    static DRIVER: portsyncd_sync::TakeOnce<DefaultDriver> =
        portsyncd_sync::TakeOnce::new(DefaultDriver::BLANK);

    /// The driver, the run's for good.
    type DriverSlot = &'static mut DefaultDriver;

    /// The clock and the driver.
    type Start = (MonotonicClock, DriverSlot);

    fn start(config: &Config, liveness_interval: Option<std::time::Duration>) -> Result<Start, String> {
        let clock = MonotonicClock::default();
        let driver =
            DRIVER.take().ok_or_else(|| "the driver is already running in this process".to_owned())?;
        let settings =
            portsyncd_core::driver::DriverConfig { liveness_interval, ..ferry::driver_config(config) };
        driver.configure(clock.now(), settings).map_err(|e| e.to_string())?;
        ferry::apply_alerting(driver, clock.now(), &config.alerts);
        Ok((clock, driver))
    }

    async fn run_redis(run: Run) -> Result<(), String> {
        let options = RedisOptions {
            response_timeout: run.config.redis_response_timeout,
            backoff_max: run.config.redis_reconnect_max,
            journal_capacity: run.config.redis_journal_keys,
            client_name: Some(run.client_name.clone()),
            ..RedisOptions::default()
        };
        let db_config = run.args.db_config.clone();
        let (wait, backoff_max) = (run.config.redis_connect_wait, run.config.redis_reconnect_max);
        let connect = async |signals: &ProcessSignals, supervisors: &mut Supervisors| {
            let config = DbConfig::load(&db_config).map_err(|e| e.to_string())?;
            wait_for_redis(&config, options, wait, backoff_max, signals, supervisors).await
        };
        if let Some(parts) = drive(connect, run).await? {
            log!(Notice, "redis: {}", parts.db.counters());
        }
        Ok(())
    }

    /// Connects to the databases, waiting while Redis is not there (SONiC:
    /// swss started before the database container is up; under supervisord
    /// an exit would restart the whole swss container): attempts 100 ms
    /// apart, then twice as far each time up to `backoff_max`; a WARN at
    /// the first failure and each minute after; systemd told why
    /// (`STATUS=`) and to wait longer for READY (`EXTEND_TIMEOUT_USEC=`).
    /// `wait` (zero: forever) bounds it: then the error, saying so. SIGTERM
    /// or SIGINT ends it (`Ok(None)`). Only "cannot connect" is waited for:
    /// anything else is an error at once.
    async fn wait_for_redis(
        config: &DbConfig,
        options: RedisOptions,
        wait: Duration,
        backoff_max: Duration,
        signals: &ProcessSignals,
        supervisors: &mut Supervisors,
    ) -> Result<Option<portsyncd_redis::RedisDatabases>, String> {
        const FIRST: Duration = Duration::from_millis(100);
        const SLICE: Duration = Duration::from_millis(100);
        const REMIND: Duration = Duration::from_secs(60);
        let started = Instant::now();
        let mut delay = FIRST.min(backoff_max);
        let mut said: Option<Instant> = None;
        loop {
            let e = match RedisConnections::journaled(config, options.clone()).await {
                Ok(db) => {
                    if said.is_some() {
                        log!(Notice, "Redis reachable after {:.1} s", started.elapsed().as_secs_f64());
                    }
                    return Ok(Some(db));
                }
                Err(e @ RedisError::Connect { .. }) => e,
                Err(e) => return Err(e.to_string()),
            };
            let waited = started.elapsed();
            if !wait.is_zero() && waited >= wait {
                return Err(format!(
                    "Redis not reachable within {} ms ([redis] connect_wait_ms): {e}",
                    wait.as_millis()
                ));
            }
            let RedisError::Connect { db, addr, source } = &e else { return Err(e.to_string()) };
            let status = format!("waiting for Redis at {addr} ({db}; health degraded): {source}");
            if said.is_none_or(|t| t.elapsed() >= REMIND) {
                let bound = if wait.is_zero() {
                    "as long as it takes".to_owned()
                } else {
                    format!("up to {} ms", wait.as_millis())
                };
                log!(
                    Warn,
                    "{status}; {:.1} s so far, {bound} ([redis] connect_wait_ms)",
                    waited.as_secs_f64()
                );
                said = Some(Instant::now());
            }
            let pause = if wait.is_zero() { delay } else { delay.min(wait.saturating_sub(waited)) };
            supervisors.waiting(&status, pause + options.connect_timeout * 3 + Duration::from_secs(5));
            let until = Instant::now() + pause;
            loop {
                if signals.terminate_raised() {
                    log!(Notice, "stopped while waiting for Redis");
                    return Ok(None);
                }
                let Some(left) = until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                    break;
                };
                portsyncd_reactor::Timer::after(left.min(SLICE)).await;
            }
            delay = (delay * 2).min(backoff_max);
        }
    }

    async fn run_memory(run: Run) -> Result<(), String> {
        let db = MemoryDatabases::journaled();
        db.consume_produced_at_once();
        for (i, port) in run.config.memory_ports.iter().enumerate() {
            let index = i.to_string();
            db.hset(
                Db::Config,
                &format!("PORT|{port}"),
                &[("admin_status", "up"), ("index", &index), ("mtu", "9100")],
            );
        }
        if let Some(parts) = drive(async |_: &ProcessSignals, _: &mut Supervisors| Ok(Some(db)), run).await? {
            print_tables(&parts.db);
        }
        Ok(())
    }

    /// `--db memory`: what the run left in each database.
    fn print_tables(db: &MockDatabases) {
        for which in Db::ALL {
            println!("== {which}");
            for (key, value) in db.dump(which) {
                match value {
                    Value::Hash(h) => {
                        let fields: Vec<String> = h
                            .iter()
                            .map(|(f, v)| format!("{}={}", f.escape_ascii(), v.escape_ascii()))
                            .collect();
                        println!("{key}  {}", fields.join(" "));
                    }
                    Value::Set(s) => println!("{key}  {{{}}}", s.into_iter().collect::<Vec<_>>().join(", ")),
                }
            }
        }
    }
}

/// Elsewhere the library, the in-memory adapters and their tests build (and
/// run), but there is no kernel to watch.
#[cfg(not(target_os = "linux"))]
mod linux {
    pub fn main() -> std::process::ExitCode {
        eprintln!("portsyncd: rtnetlink needs Linux");
        std::process::ExitCode::FAILURE
    }
}
