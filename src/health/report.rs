//! Publishes what an operator watches: retained device status, camera
//! status, camera settings and the camera list (on connect and on change),
//! and the stats message every interval.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::QoS;

use crate::camera::CameraShared;
use crate::camera::status::StatusReport;
use crate::service::Shared;
use crate::stats::{CameraReport, Counters, rate};

/// Per camera: what was last published and the previous counters.
#[derive(Default)]
struct Seen {
    status_version: u64,
    settings_version: u64,
    counters: Counters,
    fps_actual: f64,
}

pub async fn run(shared: Arc<Shared>, interval: Duration) {
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut last_tick = Instant::now();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut republish_list = true;
    loop {
        let mut stats_due = false;
        tokio::select! {
            _ = shared.link.on_connect.notified() => {
                subscribe_commands(&shared).await;
                let _ = shared.client.publish(shared.topics.device_status(), QoS::AtLeastOnce, true, "online").await;
                // A new session: everything retained is published again.
                seen.values_mut().for_each(|s| { s.status_version = 0; s.settings_version = 0; });
                republish_list = true;
            }
            _ = shared.status_changed.notified() => {}
            _ = shared.cameras_changed.notified() => republish_list = true,
            _ = ticker.tick() => stats_due = true,
        }
        let cameras = shared.cameras();
        seen.retain(|name, _| cameras.iter().any(|c| &c.name == name));
        if republish_list {
            republish_list = false;
            let names: Vec<&str> = cameras.iter().map(|c| c.name.as_str()).collect();
            let list = serde_json::to_string(&names).unwrap_or_default();
            let _ = shared
                .client
                .publish(shared.topics.cameras(), QoS::AtLeastOnce, true, list)
                .await;
        }
        let mut reports = serde_json::Map::new();
        let secs = last_tick.elapsed().as_secs_f64();
        if stats_due {
            last_tick = Instant::now();
        }
        for cam in &cameras {
            let s = seen.entry(cam.name.clone()).or_default();
            if stats_due {
                let report = camera_report(cam, s, secs);
                reports.insert(
                    cam.name.clone(),
                    serde_json::to_value(report).unwrap_or_default(),
                );
            }
            if s.status_version != cam.status_version() || stats_due {
                s.status_version = cam.status_version();
                let payload = status_json(cam, s.fps_actual);
                let _ = shared
                    .client
                    .publish(
                        shared.topics.camera_status(&cam.name),
                        QoS::AtLeastOnce,
                        true,
                        payload,
                    )
                    .await;
            }
            if s.settings_version != cam.settings_version() {
                s.settings_version = cam.settings_version();
                let payload = serde_json::to_string(&cam.applied()).unwrap_or_default();
                let _ = shared
                    .client
                    .publish(
                        shared.topics.camera_state(&cam.name),
                        QoS::AtLeastOnce,
                        true,
                        payload,
                    )
                    .await;
            }
        }
        if stats_due {
            let payload = serde_json::json!({
                "ts_ns": crate::clock::now_ns(),
                "cameras": reports,
                "process": crate::health::process_usage(),
                "pressure": shared.pressure.lock().map(|p| p.clone()).unwrap_or_default(),
            });
            let _ = shared
                .client
                .publish(
                    shared.topics.stats(),
                    QoS::AtMostOnce,
                    false,
                    payload.to_string(),
                )
                .await;
        }
    }
}

async fn subscribe_commands(shared: &Shared) {
    for filter in shared.topics.command_filters() {
        if let Err(e) = shared
            .client
            .subscribe(filter.clone(), QoS::AtLeastOnce)
            .await
        {
            tracing::warn!(%filter, "cannot subscribe to commands: {e}");
        }
    }
}

fn camera_report(cam: &CameraShared, seen: &mut Seen, secs: f64) -> CameraReport {
    let now = cam.stats.counters();
    let before = seen.counters;
    seen.fps_actual = rate(now.frames_published, before.frames_published, secs);
    seen.counters = now;
    let timings = cam.stats.take_timings();
    let pool = cam.pool_usage();
    let status = cam.status();
    CameraReport {
        state: status.state.as_str(),
        fps_in: rate(now.units_in, before.units_in, secs),
        fps_out: seen.fps_actual,
        fps_target: cam.fps_target(),
        frames_in: now.units_in,
        frames_decoded: now.frames_decoded,
        frames_published: now.frames_published,
        bytes_in: now.bytes_in,
        bytes_published: now.bytes_published,
        dropped: CameraReport::dropped_map(&now),
        decode_ms_p50: timings.decode.quantile_ms(0.5),
        decode_ms_p99: timings.decode.quantile_ms(0.99),
        latency_ms_p50: timings.latency.quantile_ms(0.5),
        latency_ms_p99: timings.latency.quantile_ms(0.99),
        pool_slots: pool.map_or(0, |p| p.slots),
        pool_in_use: pool.map_or(0, |p| p.in_use),
        pool_reserved_bytes: pool.map_or(0, |p| p.reserved_bytes),
        ingest_queued: cam.ingest.queued(),
        reconnects: now.reconnects,
        decoder: status.decoder,
    }
}

/// The JSON of `<prefix>/<device>/<camera>/status` (docs/mqtt.md).
pub fn status_json(cam: &CameraShared, fps_actual: f64) -> String {
    let status = cam.status();
    let output = cam.output();
    let report = StatusReport {
        state: status.state,
        fps_target: cam.fps_target(),
        fps_actual,
        width: status.output_size.map(|s| s.0),
        height: status.output_size.map(|s| s.1),
        source_width: status.source_size.map(|s| s.0),
        source_height: status.source_size.map(|s| s.1),
        format: output.format.as_str(),
        decoder: &status.decoder,
        source: &cam.source_display,
        last_error: status.last_error.as_deref(),
        since_ns: status.since_ns,
        level: status.level,
        reason: status.reason.as_deref(),
    };
    serde_json::to_string(&report).unwrap_or_default()
}
