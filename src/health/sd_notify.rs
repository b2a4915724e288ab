//! systemd's notify protocol (sd_notify(3)), spoken directly: one datagram
//! per message to `$NOTIFY_SOCKET`. No libsystemd, so the binary stays
//! static. Without `$NOTIFY_SOCKET` (not under systemd) every call is a no-op.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

enum Target {
    Path(PathBuf),
    /// Linux abstract namespace (`@name`).
    Abstract(Vec<u8>),
}

pub struct Notifier {
    socket: UnixDatagram,
    target: Target,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From the environment systemd sets for `Type=notify` services.
    pub fn from_env() -> Option<Notifier> {
        let raw = std::env::var_os("NOTIFY_SOCKET")?;
        let raw = raw.to_string_lossy().to_string();
        let target = match raw.strip_prefix('@') {
            Some(name) => Target::Abstract(name.as_bytes().to_vec()),
            None => Target::Path(PathBuf::from(raw)),
        };
        let socket = UnixDatagram::unbound().ok()?;
        // WATCHDOG_PID, when set, names the process the watchdog is for.
        let for_us =
            std::env::var("WATCHDOG_PID").map_or(true, |pid| pid == std::process::id().to_string());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&us| us > 0 && for_us)
            .map(Duration::from_micros);
        Some(Notifier {
            socket,
            target,
            watchdog,
        })
    }

    /// The watchdog period systemd expects pings within, if enabled.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    pub fn send(&self, message: &str) {
        let result = match &self.target {
            Target::Path(p) => self.socket.send_to(message.as_bytes(), p),
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name)
                    .and_then(|addr| self.socket.send_to_addr(message.as_bytes(), &addr))
            }
        };
        if let Err(e) = result {
            tracing::debug!("sd_notify {message:?} failed: {e}");
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}"));
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }
}
