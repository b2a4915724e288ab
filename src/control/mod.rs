//! The MQTT control plane: per-camera settings, snapshots, adding and
//! removing cameras, reloading the configuration.
//!
//! Every command gets a reply — `{"ok":true,...}` or
//! `{"ok":false,"error":"..."}` — on the request's MQTT 5 response topic
//! (with its correlation data), or else on `<prefix>/<device>/reply` (and
//! errors also on `<prefix>/<device>/error`). A bad command never touches
//! the service: it is parsed and checked completely before anything is
//! applied. Topics and payloads: docs/mqtt.md.

pub mod command;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Publish, PublishProperties};
use serde_json::json;
use tokio::sync::mpsc;

use self::command::{CameraSet, DeviceSet};
use crate::config::{CameraConfig, Config};
use crate::publish::topics::Command;
use crate::service::Shared;

/// How long a snapshot waits for the next decoded picture.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a reply goes.
#[derive(Clone)]
struct ReplyTo {
    topic: Option<String>,
    correlation: Option<Bytes>,
}

pub async fn run(shared: Arc<Shared>, mut incoming: mpsc::Receiver<Publish>) {
    while let Some(publish) = incoming.recv().await {
        let topic = String::from_utf8_lossy(&publish.topic).to_string();
        let Some(command) = shared.topics.parse_command(&topic) else {
            continue;
        };
        // Retained commands would be replayed on every reconnect.
        if publish.retain {
            reply(
                &shared,
                &reply_to(&publish),
                Err("retained commands are ignored: publish without the retain flag".into()),
            )
            .await;
            continue;
        }
        let to = reply_to(&publish);
        let result = match command {
            Command::CameraSet(camera) => camera_set(&shared, camera, &publish.payload).await,
            Command::DeviceSet => device_set(&shared, &publish.payload).await,
            Command::Snapshot(camera) => {
                // Waits for a picture: answered from its own task so other
                // commands are not held up.
                let shared = Arc::clone(&shared);
                let camera = camera.to_string();
                let payload = publish.payload.clone();
                tokio::spawn(async move { snapshot(&shared, &camera, &payload, to).await });
                continue;
            }
        };
        if let Err(e) = &result {
            tracing::warn!(topic = %topic, "command refused: {e}");
        }
        reply(&shared, &to, result).await;
    }
}

fn reply_to(publish: &Publish) -> ReplyTo {
    let props = publish.properties.as_ref();
    ReplyTo {
        topic: props.and_then(|p| p.response_topic.clone()),
        correlation: props.and_then(|p| p.correlation_data.clone()),
    }
}

async fn reply(shared: &Shared, to: &ReplyTo, result: Result<serde_json::Value, String>) {
    let (body, failed) = match result {
        Ok(mut v) => {
            v["ok"] = json!(true);
            (v, false)
        }
        Err(e) => (json!({"ok": false, "error": e}), true),
    };
    let properties = PublishProperties {
        correlation_data: to.correlation.clone(),
        content_type: Some("application/json".into()),
        ..Default::default()
    };
    let text = body.to_string();
    let topic = to.topic.clone().unwrap_or_else(|| shared.topics.reply());
    let _ = shared
        .client
        .publish_with_properties(topic, QoS::AtLeastOnce, false, text.clone(), properties)
        .await;
    if failed && to.topic.is_none() {
        let _ = shared
            .client
            .publish(shared.topics.error(), QoS::AtLeastOnce, false, text)
            .await;
    }
}

async fn camera_set(
    shared: &Shared,
    camera: &str,
    payload: &[u8],
) -> Result<serde_json::Value, String> {
    let set = command::parse_camera_set(payload)?;
    let cam = shared
        .camera(camera)
        .ok_or_else(|| format!("no camera named {camera:?}"))?;
    let CameraSet {
        fps,
        enabled,
        width,
        height,
        format,
        quality,
        auto,
    } = set;
    let manual = fps.is_some()
        || width.is_some()
        || height.is_some()
        || format.is_some()
        || quality.is_some();
    cam.set_requested(|r| {
        if let Some(v) = fps {
            r.fps = v;
        }
        if width.is_some() || height.is_some() {
            r.width = width;
            r.height = height;
        }
        if let Some(v) = format {
            r.format = v;
        }
        if let Some(v) = quality {
            r.quality = v;
        }
    });
    if manual {
        // An operator's setting applies exactly, and stays until released.
        cam.set_pinned(true);
        cam.set_adaptation(crate::camera::Adaptation::default());
    }
    if let Some(auto) = auto {
        cam.set_pinned(!auto);
    }
    if let Some(enabled) = enabled
        && enabled != cam.requested().enabled
    {
        // Enabling or disabling restarts the camera's source with the
        // current settings.
        let mut settings = shared
            .camera_settings(camera)
            .await
            .ok_or_else(|| format!("no camera named {camera:?}"))?;
        let r = cam.requested();
        settings.enabled = enabled;
        settings.fps = r.fps;
        settings.width = r.width;
        settings.height = r.height;
        settings.format = r.format;
        settings.quality = r.quality;
        shared
            .start_camera(settings)
            .await
            .map_err(|e| e.to_string())?;
        let cam = shared
            .camera(camera)
            .ok_or("camera vanished while restarting")?;
        cam.set_pinned(!auto.unwrap_or(!manual));
        return Ok(json!({"camera": camera, "state": cam.applied()}));
    }
    Ok(json!({"camera": camera, "state": cam.applied()}))
}

async fn device_set(shared: &Shared, payload: &[u8]) -> Result<serde_json::Value, String> {
    match command::parse_device_set(payload)? {
        DeviceSet::AddCamera(camera) => {
            let name = camera.name.clone();
            let config = with_camera(shared, *camera)?;
            let settings = config
                .camera_settings()
                .into_iter()
                .find(|c| c.name == name)
                .ok_or("camera missing after validation")?;
            shared
                .start_camera(settings)
                .await
                .map_err(|e| e.to_string())?;
            *shared.config.lock().unwrap_or_else(|e| e.into_inner()) = config;
            tracing::info!(camera = %name, "camera added over MQTT");
            Ok(json!({"added": name}))
        }
        DeviceSet::RemoveCamera(name) => {
            if !shared.remove_camera(&name).await {
                return Err(format!("no camera named {name:?}"));
            }
            shared
                .config
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .cameras
                .retain(|c| c.name != name);
            tracing::info!(camera = %name, "camera removed over MQTT");
            Ok(json!({"removed": name}))
        }
        DeviceSet::Reload(_) => reload(shared).await,
    }
}

/// The current configuration plus `camera`, validated as a whole (names
/// unique, values in range) with errors phrased for a command.
fn with_camera(shared: &Shared, camera: CameraConfig) -> Result<Config, String> {
    let mut config = shared
        .config
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if config.cameras.iter().any(|c| c.name == camera.name) {
        return Err(format!("a camera named {:?} already exists", camera.name));
    }
    config.cameras.push(camera);
    let text = toml::to_string(&config).map_err(|e| format!("cannot check the camera: {e}"))?;
    Config::parse(&text).map_err(|e| {
        let index = config.cameras.len() - 1;
        e.key
            .strip_prefix(&format!("camera[{index}]."))
            .map(|k| format!("add_camera.{k}: {}", e.message))
            .unwrap_or_else(|| format!("{}: {}", e.key, e.message))
    })
}

/// Re-reads the configuration file and applies what changed: removed
/// cameras stop, new ones start, changed ones restart. Device and MQTT
/// settings need a restart of the service and are reported as such.
async fn reload(shared: &Shared) -> Result<serde_json::Value, String> {
    let path = shared
        .config_path
        .clone()
        .ok_or("this service was not started from a file")?;
    let new = Config::load(&path).map_err(|e| format!("{e:#}"))?;
    let old = shared
        .config
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let old_settings = old.camera_settings();
    let new_settings = new.camera_settings();
    let mut removed = Vec::new();
    let mut added = Vec::new();
    let mut restarted = Vec::new();
    for o in &old_settings {
        if !new_settings.iter().any(|n| n.name == o.name) {
            shared.remove_camera(&o.name).await;
            removed.push(o.name.clone());
        }
    }
    for n in new_settings {
        match old_settings.iter().find(|o| o.name == n.name) {
            Some(o) if *o == n => {}
            Some(_) => {
                restarted.push(n.name.clone());
                shared.start_camera(n).await.map_err(|e| e.to_string())?;
            }
            None => {
                added.push(n.name.clone());
                shared.start_camera(n).await.map_err(|e| e.to_string())?;
            }
        }
    }
    let needs_restart = toml::to_string(&old.mqtt).ok() != toml::to_string(&new.mqtt).ok()
        || old.device.id != new.device.id;
    *shared.config.lock().unwrap_or_else(|e| e.into_inner()) = new;
    tracing::info!(?added, ?removed, ?restarted, "configuration reloaded");
    Ok(json!({
        "reloaded": path.display().to_string(),
        "added": added,
        "removed": removed,
        "restarted": restarted,
        "restart_required": needs_restart,
    }))
}

async fn snapshot(shared: &Shared, camera: &str, payload: &[u8], to: ReplyTo) {
    let result = async {
        command::parse_snapshot(payload)?;
        let cam = shared
            .camera(camera)
            .ok_or_else(|| format!("no camera named {camera:?}"))?;
        let pending = cam.request_snapshot();
        match tokio::time::timeout(SNAPSHOT_TIMEOUT, pending).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the camera stopped before a picture was decoded".to_string()),
            Err(_) => Err(format!(
                "no picture decoded within {} s",
                SNAPSHOT_TIMEOUT.as_secs()
            )),
        }
    }
    .await;
    match result {
        Ok(jpeg) => {
            let properties = PublishProperties {
                correlation_data: to.correlation.clone(),
                content_type: Some("image/jpeg".into()),
                ..Default::default()
            };
            let topic = to
                .topic
                .clone()
                .unwrap_or_else(|| shared.topics.snapshot_result(camera));
            let _ = shared
                .client
                .publish_with_properties(topic, QoS::AtMostOnce, false, jpeg, properties)
                .await;
        }
        Err(e) => reply(shared, &to, Err(e)).await,
    }
}
