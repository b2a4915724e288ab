//! The sd_notify protocol for real: edgecam runs with NOTIFY_SOCKET pointing
//! at a datagram socket this test owns, like systemd would set it.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::*;

struct FakeSystemd {
    socket: UnixDatagram,
    _dir: tempfile::TempDir,
    path: String,
}

impl FakeSystemd {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        FakeSystemd {
            socket,
            path: path.to_string_lossy().into(),
            _dir: dir,
        }
    }

    /// Messages received within `window`.
    fn collect(&self, window: Duration) -> Vec<String> {
        let end = Instant::now() + window;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = self.socket.recv(&mut buf) {
                out.push(String::from_utf8_lossy(&buf[..n]).to_string());
            }
        }
        out
    }
}

fn config(port: u16) -> String {
    format!(
        "[device]\nid = \"box1\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\n[pressure]\nenabled = false\n\
         [[camera]]\nname = \"syn\"\nsource = \"synthetic:320x180@15\"\nfps = 5\n"
    )
}

#[test]
fn ready_status_watchdog_and_stopping() {
    let broker = Mosquitto::start();
    let systemd = FakeSystemd::new();
    let mut edgecam = Edgecam::run_with_env(
        &config(broker.port),
        &[
            ("NOTIFY_SOCKET", &systemd.path),
            ("WATCHDOG_USEC", "600000"),
        ],
    );
    let msgs = systemd.collect(Duration::from_secs(4));
    assert!(
        msgs.first()
            .is_some_and(|m| m.starts_with("READY=1\nSTATUS=")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("STATUS=1/1 cameras online; mqtt connected")),
        "{msgs:?}"
    );
    let pings = msgs.iter().filter(|m| *m == "WATCHDOG=1").count();
    assert!(
        pings >= 5,
        "a ping every 200 ms expected, got {pings}: {msgs:?}"
    );
    edgecam.signal(libc::SIGTERM);
    let msgs = systemd.collect(Duration::from_secs(1));
    assert!(msgs.iter().any(|m| m.starts_with("STOPPING=1")), "{msgs:?}");
}

#[test]
fn watchdog_pings_stop_when_a_decoder_wedges() {
    let broker = Mosquitto::start();
    let systemd = FakeSystemd::new();
    let _edgecam = Edgecam::run_with_env(
        &config(broker.port),
        &[
            ("NOTIFY_SOCKET", &systemd.path),
            ("WATCHDOG_USEC", "600000"),
            ("EDGECAM_FAULT_WEDGE_DECODER", "syn"),
        ],
    );
    // Pings at first (the thread only just stopped looping)…
    let early = systemd.collect(Duration::from_secs(3));
    assert!(early.iter().any(|m| m == "WATCHDOG=1"), "{early:?}");
    // …then none once it has been stuck past the limit, and a status saying why.
    let later = systemd.collect(Duration::from_secs(12));
    let tail_start = later
        .iter()
        .rposition(|m| m == "WATCHDOG=1")
        .map_or(0, |i| i + 1);
    assert!(
        later[tail_start..]
            .iter()
            .any(|m| m.contains("decode stuck: syn")),
        "{later:?}"
    );
    let quiet = systemd.collect(Duration::from_secs(2));
    assert!(
        !quiet.iter().any(|m| m == "WATCHDOG=1"),
        "pings must stop: {quiet:?}"
    );
}
