//! `edgecam run`: the cameras, the MQTT link, the control plane and the
//! state they report, started from a [`Config`] and stopped cleanly on
//! SIGTERM.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rumqttc::v5::AsyncClient;
use rumqttc::v5::mqttbytes::QoS;
use tokio::sync::{Notify, mpsc};

use crate::camera::{Camera, CameraShared};
use crate::config::{CameraSettings, Config};
use crate::decode::probe::DecoderFactory;
use crate::publish::FrameSink;
use crate::publish::mqtt::{self, LinkState, MqttFrameSink};
use crate::publish::topics::Topics;

/// What every task of a running service shares.
pub struct Shared {
    pub topics: Topics,
    pub client: AsyncClient,
    pub link: Arc<LinkState>,
    pub decoders: DecoderFactory,
    /// The configuration file, for `reload`; `None` when built in code.
    pub config_path: Option<PathBuf>,
    /// The configuration as currently applied (runtime additions included).
    pub config: Mutex<Config>,
    sink: Arc<dyn FrameSink>,
    pub status_changed: Arc<Notify>,
    /// Running cameras by name; changed only by the control task.
    cameras: tokio::sync::Mutex<BTreeMap<String, Camera>>,
    /// The same cameras' shared state, for synchronous readers.
    registry: RwLock<Vec<Arc<CameraShared>>>,
    /// Wakes the reporter to republish the retained camera list.
    pub cameras_changed: Notify,
    /// The pressure controller's latest state, for stats.
    pub pressure: Mutex<crate::pressure::PressureReport>,
}

impl Shared {
    /// The running cameras' shared state, in name order.
    pub fn cameras(&self) -> Vec<Arc<CameraShared>> {
        self.registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn camera(&self, name: &str) -> Option<Arc<CameraShared>> {
        self.cameras().into_iter().find(|c| c.name == name)
    }

    /// Starts a camera (replacing one of the same name).
    pub async fn start_camera(&self, settings: CameraSettings) -> anyhow::Result<()> {
        let name = settings.name.clone();
        let topic = self.topics.camera_frame(&name);
        let camera = Camera::start(
            settings,
            topic,
            Arc::clone(&self.sink),
            &self.decoders,
            Arc::clone(&self.status_changed),
        )
        .map_err(|e| anyhow::anyhow!("camera {name}: {e}"))?;
        let old = self.cameras.lock().await.insert(name, camera);
        if let Some(old) = old {
            old.stop().await;
        }
        self.sync_registry().await;
        Ok(())
    }

    /// Stops and forgets a camera; false if there was none.
    pub async fn remove_camera(&self, name: &str) -> bool {
        let removed = self.cameras.lock().await.remove(name);
        let found = removed.is_some();
        if let Some(camera) = removed {
            camera.stop().await;
            // Clear its retained topics: the camera is gone, not offline.
            for topic in [
                self.topics.camera_status(name),
                self.topics.camera_state(name),
            ] {
                let _ = self
                    .client
                    .publish(topic, QoS::AtLeastOnce, true, Vec::<u8>::new())
                    .await;
            }
        }
        self.sync_registry().await;
        found
    }

    /// Settings a camera was started with.
    pub async fn camera_settings(&self, name: &str) -> Option<CameraSettings> {
        self.cameras
            .lock()
            .await
            .get(name)
            .map(|c| c.settings.clone())
    }

    async fn sync_registry(&self) {
        let list: Vec<_> = self
            .cameras
            .lock()
            .await
            .values()
            .map(|c| Arc::clone(&c.shared))
            .collect();
        *self.registry.write().unwrap_or_else(|e| e.into_inner()) = list;
        self.cameras_changed.notify_one();
        self.status_changed.notify_one();
    }

    async fn stop_all(&self) {
        let cameras = std::mem::take(&mut *self.cameras.lock().await);
        let stops = cameras.into_values().map(|c| c.stop());
        let _ = tokio::time::timeout(
            Duration::from_millis(1000),
            futures::future::join_all(stops),
        )
        .await;
    }
}

/// A running service.
pub struct Service {
    pub shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Service {
    /// Connects (in the background) and starts every camera.
    pub async fn start(config: Config, config_path: Option<PathBuf>) -> anyhow::Result<Service> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let topics = Topics::new(&config.mqtt.topic_prefix, &config.device.id);
        let password = resolve_password(&config)?;
        let opts = mqtt::options(&config.mqtt, &config.device.id, &topics, password)?;
        let (client, eventloop) = mqtt::client(opts, config.mqtt.queue_frames);
        let link = Arc::new(LinkState::default());
        let (incoming_tx, incoming_rx) = mpsc::channel(64);
        let driver = tokio::spawn(mqtt::drive(eventloop, Arc::clone(&link), incoming_tx));

        let decoders =
            DecoderFactory::probe_with(&crate::decode::probe::DecoderOptions::from_config(&config));
        let report = decoders.report();
        tracing::info!(decoder = report.auto_choice, reason = %report.auto_reason, "decoder chosen for decoder = \"auto\"");

        let sink: Arc<dyn FrameSink> =
            Arc::new(MqttFrameSink::new(client.clone(), Arc::clone(&link)));
        let settings = config.camera_settings();
        let interval = Duration::from_secs_f64(config.mqtt.stats_interval_s);
        let pressure = config.pressure.clone();
        let usb_auto = config.usb.auto;
        let shared = Arc::new(Shared {
            topics,
            client,
            link,
            decoders,
            config_path,
            config: Mutex::new(config),
            sink,
            status_changed: Arc::new(Notify::new()),
            cameras: tokio::sync::Mutex::default(),
            registry: RwLock::default(),
            cameras_changed: Notify::new(),
            pressure: Mutex::default(),
        });
        for s in settings {
            shared.start_camera(s).await?;
        }
        let mut tasks = vec![
            tokio::spawn(crate::health::report::run(Arc::clone(&shared), interval)),
            tokio::spawn(crate::control::run(Arc::clone(&shared), incoming_rx)),
        ];
        if usb_auto {
            tasks.push(tokio::spawn(crate::source::v4l2::auto::run(Arc::clone(
                &shared,
            ))));
        }
        if pressure.enabled {
            tasks.push(tokio::spawn(crate::pressure::run(
                Arc::clone(&shared),
                pressure,
            )));
        }
        Ok(Service {
            shared,
            tasks,
            driver,
        })
    }

    pub fn cameras(&self) -> Vec<Arc<CameraShared>> {
        self.shared.cameras()
    }

    /// Stops cameras, replaces the last will with a retained `offline`, and
    /// disconnects; bounded to about two seconds in all.
    pub async fn shutdown(self) {
        let deadline = Instant::now() + Duration::from_millis(1800);
        for task in &self.tasks {
            task.abort();
        }
        self.shared.stop_all().await;
        let shared = &self.shared;
        if shared.link.is_connected() {
            let _ = shared.client.try_publish(
                shared.topics.device_status(),
                QoS::AtLeastOnce,
                true,
                "offline",
            );
            shared
                .link
                .closing
                .store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = shared.client.try_disconnect();
            // Let the event loop flush the offline message and DISCONNECT.
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = tokio::time::timeout(left, async {
                while shared.link.is_connected() && !self.driver.is_finished() {
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
