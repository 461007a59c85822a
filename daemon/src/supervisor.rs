//! Telling systemd (`Type=notify` units) what the driver says: READY with a
//! status line, STOPPING. Without `NOTIFY_SOCKET` nothing is sent.
//!
//! It decides nothing: when to say what is the driver's.

use portsyncd_core::driver::Notify;

use crate::ferry::Supervisor;
use crate::log;

/// systemd's notification socket.
#[derive(Debug, Default)]
pub struct Systemd;

impl Supervisor for Systemd {
    fn notify(&mut self, notify: Notify) {
        let result = match notify {
            Notify::Ready(status) => {
                let status = status.to_string();
                sd_notify::notify(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status(&status)])
            }
            Notify::Stopping => sd_notify::notify(&[sd_notify::NotifyState::Stopping]),
        };
        if let Err(e) = result {
            log!(Warn, "sd_notify: {e}");
        }
    }
}
