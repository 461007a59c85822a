//! Where the metrics endpoint listens, as `--metrics-addr` and
//! `[metrics] addr` spell it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// A TCP address or a unix socket path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricsAddr {
    /// TCP. A bare port means loopback: in a SONiC ASIC namespace the
    /// host's 127.0.0.1 is not this one, which is what the unix form is for.
    Tcp(SocketAddr),
    /// A unix stream socket at this path.
    Unix(PathBuf),
}

impl MetricsAddr {
    /// `9101` and `:9101` (loopback), `127.0.0.1:9101`, `[::1]:9101`,
    /// `0.0.0.0:9101` (every address: only when asked for), `unix:/run/x.sock`
    /// or an absolute path.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("metrics address {text:?}: {why}");
        if let Some(path) = text.strip_prefix("unix:").or_else(|| text.starts_with('/').then_some(text)) {
            if !path.starts_with('/') {
                return Err(bad("a unix socket path must be absolute"));
            }
            // sockaddr_un holds 108 bytes with the terminating NUL.
            if path.len() > 107 {
                return Err(bad("a unix socket path is at most 107 bytes"));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        let port_only = text.strip_prefix(':').unwrap_or(text);
        if let Ok(port) = port_only.parse::<u16>() {
            return Ok(Self::Tcp(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)));
        }
        text.parse::<SocketAddr>()
            .map(Self::Tcp)
            .map_err(|_| bad("expected PORT, HOST:PORT with an IP address, unix:PATH or an absolute path"))
    }
}

/// The mode and group of the endpoint's unix socket (`[metrics]
/// socket_mode`, `socket_group`), set on it explicitly, whatever the umask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketAccess {
    /// Permission bits (at most `0o777`).
    pub mode: u32,
    /// A group name (from /etc/group) or number; `None`: the daemon's.
    pub group: Option<String>,
}

impl fmt::Display for MetricsAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "{a}"),
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_and_its_meaning() {
        let tcp = |s: &str| MetricsAddr::Tcp(s.parse().unwrap());
        assert_eq!(MetricsAddr::parse("9101"), Ok(tcp("127.0.0.1:9101")));
        assert_eq!(MetricsAddr::parse(":9101"), Ok(tcp("127.0.0.1:9101")));
        assert_eq!(MetricsAddr::parse("0.0.0.0:9101"), Ok(tcp("0.0.0.0:9101")));
        assert_eq!(MetricsAddr::parse("[::1]:9101"), Ok(tcp("[::1]:9101")));
        assert_eq!(MetricsAddr::parse("unix:/run/p.sock"), Ok(MetricsAddr::Unix("/run/p.sock".into())));
        assert_eq!(MetricsAddr::parse("/run/p.sock"), Ok(MetricsAddr::Unix("/run/p.sock".into())));
        for bad in ["", "localhost:9101", "unix:run/p.sock", "99999", "1.2.3.4"] {
            assert!(MetricsAddr::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("unix:/{}", "x".repeat(107));
        assert!(MetricsAddr::parse(&long).unwrap_err().contains("107 bytes"));
        assert_eq!(MetricsAddr::parse("unix:/a").unwrap().to_string(), "unix:/a");
    }
}
