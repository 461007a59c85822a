//! A throwaway `redis-server` for tests and benchmarks: its own temp dir, a
//! unix socket there (or a free loopback TCP port), no persistence unless
//! asked, stopped when dropped. Never a Redis the test did not start.

use std::io::{Read, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A redis-server this process started.
pub struct RedisServer {
    dir: tempfile::TempDir,
    tcp_port: Option<u16>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one listening on a unix socket only.
    pub fn start_unix() -> Self {
        Self::start(None)
    }

    /// Starts one listening on a free loopback TCP port (and its socket).
    pub fn start_tcp() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        Self::start(Some(port))
    }

    fn start(tcp_port: Option<u16>) -> Self {
        let dir = tempfile::Builder::new().prefix("portsyncd-redis-").tempdir().expect("temp dir");
        let mut server = Self { dir, tcp_port, child: None };
        server.spawn();
        server
    }

    /// The unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// The TCP port, if started with one.
    pub fn tcp_port(&self) -> Option<u16> {
        self.tcp_port
    }

    /// The temp dir (for other files of the test).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self) {
        let port = self.tcp_port.unwrap_or(0).to_string();
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--unixsocket"])
            .arg(self.socket())
            .args(["--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--loglevel", "warning", "--databases", "20", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server could not be started: is it installed? (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not answer on {}", self.socket().display());
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = UnixStream::connect(self.socket()) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// A `database_config.json` placing CONFIG_DB, APPL_DB and STATE_DB (and
    /// the rest of SONiC's defaults) on this server; TCP if `tcp`.
    pub fn write_db_config(&self, tcp: bool) -> PathBuf {
        let socket = if tcp { String::new() } else { self.socket().display().to_string() };
        let port = self.tcp_port.unwrap_or(6379);
        let text = format!(
            r#"{{
  "INSTANCES": {{ "redis": {{ "hostname": "127.0.0.1", "port": {port}, "unix_socket_path": "{socket}" }} }},
  "DATABASES": {{
    "APPL_DB": {{ "id": 0, "separator": ":", "instance": "redis" }},
    "ASIC_DB": {{ "id": 1, "separator": ":", "instance": "redis" }},
    "COUNTERS_DB": {{ "id": 2, "separator": ":", "instance": "redis" }},
    "CONFIG_DB": {{ "id": 4, "separator": "|", "instance": "redis" }},
    "STATE_DB": {{ "id": 6, "separator": "|", "instance": "redis" }}
  }},
  "VERSION": "1.0"
}}"#
        );
        let path =
            self.dir.path().join(if tcp { "database_config_tcp.json" } else { "database_config.json" });
        std::fs::write(&path, text).expect("write database_config.json");
        path
    }

    /// Stops the server, saving its data first (it comes back with it).
    pub fn shutdown_saving(&mut self) {
        if let Ok(mut s) = UnixStream::connect(self.socket()) {
            let _ = s.write_all(b"SHUTDOWN SAVE\r\n");
            let _ = s.read(&mut [0u8; 64]);
        }
        self.reap();
    }

    /// Kills the server; its data is lost.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
        }
        self.reap();
        let _ = std::fs::remove_file(self.dir.path().join("dump.rdb"));
    }

    fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same socket (and port), with whatever data was saved.
    pub fn start_again(&mut self) {
        self.reap();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
