//! `[usb] auto = true`: every camera plugged in becomes a camera.
//!
//! Wiring between [`super::hotplug::watch`] and the service's runtime
//! camera registry: a new capture device whose stable id no camera uses
//! yet is started as camera `<name from the id>` with source
//! `usb:<stable id>` and the `[usb]` template. Unplugging needs nothing
//! here: the camera's own task reports `offline` and waits for the same id,
//! so a replugged camera resumes under the same name (and a camera an
//! operator removed over MQTT comes back when it is plugged in again).

use std::sync::Arc;

use tokio::sync::mpsc;

use super::hotplug::{self, HotplugEvent};
use super::{DeviceRef, node_name};
use crate::service::Shared;
use crate::source::SourceSpec;

/// Runs until the service stops (the task is aborted).
pub async fn run(shared: Arc<Shared>) {
    let (tx, mut rx) = mpsc::channel(16);
    let watcher = tokio::spawn(async move {
        if let Err(e) = hotplug::watch(tx.clone(), true).await {
            tracing::warn!("[usb] auto: {e}; only cameras present at start are added");
            for n in hotplug::v4l2_capture_nodes() {
                if tx.send(HotplugEvent::added(&n)).await.is_err() {
                    break;
                }
            }
        }
    });
    while let Some(event) = rx.recv().await {
        match event {
            HotplugEvent::Added {
                stable_id,
                devnode,
                name,
            } => add(&shared, &stable_id, &devnode.display().to_string(), &name).await,
            HotplugEvent::Removed { name, .. } => {
                tracing::debug!(camera = %name, "[usb] auto: unplugged; the camera waits for it");
            }
        }
    }
    watcher.abort();
}

async fn add(shared: &Shared, stable_id: &str, devnode: &str, name: &str) {
    let config = shared
        .config
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if !config.usb.any_bus && !stable_id.starts_with("usb-") {
        tracing::debug!(
            device = devnode,
            stable_id,
            "[usb] auto: not a USB camera (set [usb] any_bus = true to include it)"
        );
        return;
    }
    if let Some(user) = claimed_by(&config, stable_id, devnode) {
        tracing::debug!(device = devnode, camera = %user, "[usb] auto: already configured");
        return;
    }
    if shared.camera(name).is_some() {
        // Already running: its own task follows the replug.
        return;
    }
    let settings = config.usb_camera(stable_id, name);
    tracing::info!(
        camera = name,
        device = devnode,
        stable_id,
        "[usb] auto: new camera"
    );
    if let Err(e) = shared.start_camera(settings).await {
        tracing::warn!(
            camera = name,
            device = devnode,
            "[usb] auto: cannot start it: {e}"
        );
    }
}

/// The configured camera that already uses this device, if any.
fn claimed_by(config: &crate::config::Config, stable_id: &str, devnode: &str) -> Option<String> {
    let node = node_name(std::path::Path::new(devnode));
    config.camera_settings().into_iter().find_map(|s| {
        let SourceSpec::V4l2(spec) = &s.source else {
            return None;
        };
        let same = match &spec.device {
            DeviceRef::Usb(id) => id == stable_id,
            DeviceRef::Path(p) => node.is_some() && node_name(p) == node,
        };
        same.then_some(s.name)
    })
}
