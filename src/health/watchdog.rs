//! systemd integration while running: `STATUS=` lines an operator sees in
//! `systemctl status`, and watchdog pings sent only while the pipeline is
//! healthy — every camera's decode thread has looped recently. A wedged
//! decoder stops the pings and systemd restarts the service; a camera or
//! broker being away does not (that is handled inside, with backoff, and
//! must not become a restart loop).

use std::sync::Arc;
use std::time::Duration;

use super::sd_notify::Notifier;
use crate::camera::CameraState;
use crate::service::Shared;

/// A decode thread that has not looped for this long is wedged (it wakes at
/// least every 500 ms even with nothing to do).
pub const WEDGED_AFTER: Duration = Duration::from_secs(10);

pub async fn run(shared: Arc<Shared>, notifier: Arc<Notifier>) {
    let period = notifier
        .watchdog_interval()
        .map_or(Duration::from_secs(5), |w| {
            (w / 3).max(Duration::from_millis(100))
        });
    let mut last_status = String::new();
    let mut reported_wedge = false;
    loop {
        tokio::time::sleep(period).await;
        let cameras = shared.cameras();
        let online = cameras
            .iter()
            .filter(|c| c.status().state == CameraState::Online)
            .count();
        let status = format!(
            "{online}/{} cameras online; mqtt {}",
            cameras.len(),
            if shared.link.is_connected() {
                "connected"
            } else {
                "disconnected"
            }
        );
        if status != last_status {
            notifier.status(&status);
            last_status = status;
        }
        let wedged: Vec<String> = cameras
            .iter()
            .filter(|c| c.heartbeat_age() > WEDGED_AFTER)
            .map(|c| c.name.clone())
            .collect();
        if wedged.is_empty() {
            notifier.watchdog();
            reported_wedge = false;
        } else if !reported_wedge {
            tracing::error!(cameras = ?wedged, "decode thread stuck; withholding watchdog pings so systemd restarts edgecam");
            notifier.status(&format!("decode stuck: {}", wedged.join(", ")));
            reported_wedge = true;
        }
    }
}
