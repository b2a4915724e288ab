//! `edgecam run`: the cameras, the MQTT link, and the state they report,
//! started from a [`Config`] and stopped cleanly on SIGTERM.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::v5::AsyncClient;
use rumqttc::v5::mqttbytes::QoS;
use tokio::sync::{Notify, mpsc};

use crate::camera::Camera;
use crate::camera::status::StatusReport;
use crate::config::Config;
use crate::decode::probe::DecoderFactory;
use crate::publish::mqtt::{self, LinkState, MqttFrameSink};
use crate::publish::topics::Topics;
use crate::stats::{CameraReport, Counters, rate};

/// A running service.
pub struct Service {
    pub config: Config,
    pub topics: Topics,
    pub client: AsyncClient,
    pub link: Arc<LinkState>,
    pub cameras: Vec<Camera>,
    pub decoders: DecoderFactory,
    status_changed: Arc<Notify>,
    reporter: tokio::task::JoinHandle<()>,
    driver: tokio::task::JoinHandle<()>,
}

impl Service {
    /// Connects (in the background) and starts every camera.
    pub async fn start(config: Config) -> anyhow::Result<Service> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let topics = Topics::new(&config.mqtt.topic_prefix, &config.device.id);
        let password = resolve_password(&config)?;
        let opts = mqtt::options(&config.mqtt, &config.device.id, &topics, password)?;
        let (client, eventloop) = mqtt::client(opts, config.mqtt.queue_frames);
        let link = Arc::new(LinkState::default());
        let (incoming_tx, mut incoming_rx) = mpsc::channel(64);
        let driver = tokio::spawn(mqtt::drive(eventloop, Arc::clone(&link), incoming_tx));
        // Commands arrive with the control plane; until then, drain.
        tokio::spawn(async move { while incoming_rx.recv().await.is_some() {} });

        let decoders = DecoderFactory::probe();
        let report = decoders.report();
        tracing::info!(decoder = report.auto_choice, reason = %report.auto_reason, "decoder chosen for decoder = \"auto\"");

        let sink: Arc<dyn crate::publish::FrameSink> =
            Arc::new(MqttFrameSink::new(client.clone(), Arc::clone(&link)));
        let status_changed = Arc::new(Notify::new());
        let mut cameras = Vec::new();
        for settings in config.camera_settings() {
            let topic = topics.camera_frame(&settings.name);
            let name = settings.name.clone();
            let camera = Camera::start(
                settings,
                topic,
                Arc::clone(&sink),
                &decoders,
                Arc::clone(&status_changed),
            )
            .map_err(|e| anyhow::anyhow!("camera {name}: {e}"))?;
            cameras.push(camera);
        }
        let reporter = tokio::spawn(report_state(
            client.clone(),
            topics.clone(),
            Arc::clone(&link),
            cameras.iter().map(|c| Arc::clone(&c.shared)).collect(),
            Arc::clone(&status_changed),
            Duration::from_secs_f64(config.mqtt.stats_interval_s),
        ));
        Ok(Service {
            config,
            topics,
            client,
            link,
            cameras,
            decoders,
            status_changed,
            reporter,
            driver,
        })
    }

    /// Stops cameras, replaces the last will with a retained `offline`, and
    /// disconnects; bounded to about two seconds in all.
    pub async fn shutdown(self) {
        let deadline = Instant::now() + Duration::from_millis(1800);
        self.reporter.abort();
        let stops = self.cameras.into_iter().map(|c| c.stop());
        let _ = tokio::time::timeout(
            Duration::from_millis(1000),
            futures::future::join_all(stops),
        )
        .await;
        let _ = self.status_changed;
        if self.link.is_connected() {
            let _ = self.client.try_publish(
                self.topics.device_status(),
                QoS::AtLeastOnce,
                true,
                "offline",
            );
            self.link
                .closing
                .store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = self.client.try_disconnect();
            // Let the event loop flush the offline message and DISCONNECT.
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = tokio::time::timeout(left, async {
                while self.link.is_connected() && !self.driver.is_finished() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
        }
        self.driver.abort();
    }
}

fn resolve_password(config: &Config) -> anyhow::Result<Option<String>> {
    if let Some(p) = &config.mqtt.password {
        return Ok(Some(p.clone()));
    }
    match &config.mqtt.password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("mqtt.password_file {path}: {e}"))?;
            Ok(Some(text.lines().next().unwrap_or_default().to_string()))
        }
        None => Ok(None),
    }
}

/// Publishes retained device and camera status (on connect and on change)
/// and the stats message every interval.
async fn report_state(
    client: AsyncClient,
    topics: Topics,
    link: Arc<LinkState>,
    cameras: Vec<Arc<crate::camera::CameraShared>>,
    status_changed: Arc<Notify>,
    interval: Duration,
) {
    let mut published_versions = vec![0u64; cameras.len()];
    let mut last_counters: Vec<Counters> = cameras.iter().map(|c| c.stats.counters()).collect();
    let mut fps_actual = vec![0.0f64; cameras.len()];
    let mut last_tick = Instant::now();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        let mut stats_due = false;
        let mut republish_all = false;
        tokio::select! {
            _ = link.on_connect.notified() => republish_all = true,
            _ = status_changed.notified() => {}
            _ = ticker.tick() => stats_due = true,
        }
        if republish_all {
            let _ = client
                .publish(topics.device_status(), QoS::AtLeastOnce, true, "online")
                .await;
            published_versions.iter_mut().for_each(|v| *v = 0);
        }
        let mut reports = serde_json::Map::new();
        if stats_due {
            let secs = last_tick.elapsed().as_secs_f64();
            last_tick = Instant::now();
            for (i, cam) in cameras.iter().enumerate() {
                let now = cam.stats.counters();
                let before = last_counters[i];
                fps_actual[i] = rate(now.frames_published, before.frames_published, secs);
                let timings = cam.stats.take_timings();
                let pool = cam.pool_usage();
                let report = CameraReport {
                    state: state_name(cam.status().state),
                    fps_in: rate(now.units_in, before.units_in, secs),
                    fps_out: fps_actual[i],
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
                    decoder: cam.status().decoder,
                };
                last_counters[i] = now;
                reports.insert(
                    cam.name.clone(),
                    serde_json::to_value(report).unwrap_or_default(),
                );
            }
        }
        for (i, cam) in cameras.iter().enumerate() {
            let version = cam.status_version();
            if version == published_versions[i] && !stats_due {
                continue;
            }
            published_versions[i] = version;
            let payload = status_json(cam, fps_actual[i]);
            let _ = client
                .publish(
                    topics.camera_status(&cam.name),
                    QoS::AtLeastOnce,
                    true,
                    payload,
                )
                .await;
        }
        if stats_due {
            let payload = serde_json::json!({
                "ts_ns": crate::clock::now_ns(),
                "cameras": reports,
                "process": crate::health::process_usage(),
            });
            let _ = client
                .publish(topics.stats(), QoS::AtMostOnce, false, payload.to_string())
                .await;
        }
    }
}

fn state_name(state: crate::camera::CameraState) -> &'static str {
    match state {
        crate::camera::CameraState::Connecting => "connecting",
        crate::camera::CameraState::Online => "online",
        crate::camera::CameraState::Offline => "offline",
        crate::camera::CameraState::Error => "error",
    }
}

pub fn status_json(cam: &crate::camera::CameraShared, fps_actual: f64) -> String {
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
    };
    serde_json::to_string(&report).unwrap_or_default()
}
