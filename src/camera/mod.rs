//! One camera: its source task, its decode thread, and the state they share.
//!
//! ```text
//!  source task (async)            decode thread (std)
//!  RTSP/synthetic -> pacer --ingest ring--> decoder -> convert/encode -> pool buf -> FrameSink
//! ```
//! The source decides what is worth decoding (see [`crate::pace`]) and never
//! waits for the decoder; the decoder never waits for the network. Each
//! camera has its own of both, so one camera failing or running slow cannot
//! delay another.

pub mod settings;
pub mod status;
pub mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, watch};

pub use settings::{Adaptation, Applied, Requested};
pub use status::{CameraState, StatusInfo};

use crate::config::{CameraSettings, OutputFormat};
use crate::decode::probe::DecoderFactory;
use crate::ingest::{IngestQueue, UnitInfo};
use crate::pace::{Admit, FrameKind, Pacer, SkipReason};
use crate::publish::FrameSink;
use crate::source::SourceSpec;
use crate::stats::{CameraStats, DropReason};

/// Where a snapshot's JPEG (or the reason there is none) goes.
pub type SnapshotReply = tokio::sync::oneshot::Sender<Result<Vec<u8>, String>>;

/// The output a camera produces; changeable at run time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputSettings {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: OutputFormat,
    pub quality: u8,
    pub pool_frames: usize,
}

/// State shared by a camera's source task, decode thread and the reporters.
pub struct CameraShared {
    pub name: String,
    /// The source as it may be shown (credentials redacted).
    pub source_display: String,
    pub frame_topic: String,
    pub stats: CameraStats,
    pub ingest: IngestQueue,
    pacer: Mutex<Pacer>,
    /// Effective output settings (requested, then capped by adaptation).
    output: Mutex<OutputSettings>,
    /// What the configuration or an operator asked for.
    requested: Mutex<Requested>,
    /// What the pressure controller currently imposes.
    adaptation: Mutex<Adaptation>,
    /// Set by a manual MQTT setting: the pressure controller leaves this
    /// camera alone until `{"auto":true}`.
    pinned: AtomicBool,
    settings_version: AtomicU64,
    /// Pending snapshot requests, answered with the next decoded picture.
    snapshots: Mutex<Vec<SnapshotReply>>,
    snapshot_wanted: AtomicBool,
    /// When the decode thread last went round its loop (ms on
    /// [`crate::clock::monotonic_ms`]), for the watchdog.
    heartbeat_ms: AtomicU64,
    status: Mutex<StatusInfo>,
    /// The output pool in use, for stats (the decode thread owns its use).
    pool: Mutex<Option<crate::pool::FramePool>>,
    status_version: AtomicU64,
    /// Wakes the state publisher when any camera's status changes.
    status_changed: Arc<Notify>,
    /// The stream restarted: the next unit queued tells the decoder to
    /// drop what it holds of the old stream (a hardware decoder's queues).
    reset_pending: AtomicBool,
}

impl CameraShared {
    pub fn new(
        settings: &CameraSettings,
        frame_topic: String,
        status_changed: Arc<Notify>,
    ) -> Self {
        CameraShared {
            name: settings.name.clone(),
            source_display: settings.source.display(),
            frame_topic,
            stats: CameraStats::default(),
            ingest: IngestQueue::new(),
            pacer: Mutex::new(Pacer::new(settings.fps)),
            output: Mutex::new(OutputSettings {
                width: settings.width,
                height: settings.height,
                format: settings.format,
                quality: settings.quality,
                pool_frames: settings.pool_frames,
            }),
            requested: Mutex::new(Requested::from_settings(settings)),
            adaptation: Mutex::new(Adaptation::default()),
            pinned: AtomicBool::new(false),
            settings_version: AtomicU64::new(1),
            snapshots: Mutex::new(Vec::new()),
            snapshot_wanted: AtomicBool::new(false),
            heartbeat_ms: AtomicU64::new(crate::clock::monotonic_ms()),
            status: Mutex::new(StatusInfo::new(settings.enabled)),
            pool: Mutex::new(None),
            status_version: AtomicU64::new(1),
            status_changed,
            reset_pending: AtomicBool::new(false),
        }
    }

    pub fn output(&self) -> OutputSettings {
        *lock(&self.output)
    }

    pub fn fps_target(&self) -> f64 {
        lock(&self.pacer).fps()
    }

    pub fn requested(&self) -> Requested {
        *lock(&self.requested)
    }

    pub fn adaptation(&self) -> Adaptation {
        lock(&self.adaptation).clone()
    }

    pub fn is_pinned(&self) -> bool {
        self.pinned.load(Ordering::Relaxed)
    }

    pub fn set_pinned(&self, pinned: bool) {
        if self.pinned.swap(pinned, Ordering::Relaxed) != pinned {
            self.settings_version.fetch_add(1, Ordering::Relaxed);
            self.status_changed.notify_one();
        }
    }

    pub fn settings_version(&self) -> u64 {
        self.settings_version.load(Ordering::Relaxed)
    }

    /// Changes what is requested (config reload or an operator) and applies
    /// it, within the current adaptation.
    pub fn set_requested(&self, change: impl FnOnce(&mut Requested)) {
        change(&mut lock(&self.requested));
        self.apply();
    }

    /// The pressure controller's lever.
    pub fn set_adaptation(&self, adaptation: Adaptation) {
        let reason = adaptation.reason.clone();
        let level = adaptation.level;
        *lock(&self.adaptation) = adaptation;
        self.apply();
        self.update_status(|s| {
            s.level = level;
            s.reason = reason;
        });
    }

    /// Recomputes the effective settings and hands them to the pacer and the
    /// decode thread.
    fn apply(&self) {
        let requested = self.requested();
        let adaptation = self.adaptation();
        let source = self.source_size();
        let effective = settings::effective(&requested, &adaptation, source);
        lock(&self.pacer).set_fps(effective.fps);
        *lock(&self.output) = effective.output;
        self.settings_version.fetch_add(1, Ordering::Relaxed);
        self.status_changed.notify_one();
    }

    /// The retained `…/state` echo.
    pub fn applied(&self) -> Applied {
        let requested = self.requested();
        let output = self.output();
        Applied {
            enabled: requested.enabled,
            fps: self.fps_target(),
            requested_fps: requested.fps,
            width: output.width,
            height: output.height,
            format: output.format.as_str(),
            quality: output.quality,
            auto: !self.is_pinned(),
            level: self.adaptation().level,
        }
    }

    /// Asks the decode thread for a full-resolution JPEG of its next picture.
    pub fn request_snapshot(&self) -> tokio::sync::oneshot::Receiver<Result<Vec<u8>, String>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        lock(&self.snapshots).push(tx);
        self.snapshot_wanted.store(true, Ordering::Release);
        rx
    }

    /// The decode thread is alive and looping.
    pub fn heartbeat(&self) {
        self.heartbeat_ms
            .store(crate::clock::monotonic_ms(), Ordering::Relaxed);
    }

    pub fn heartbeat_age(&self) -> Duration {
        Duration::from_millis(
            crate::clock::monotonic_ms().saturating_sub(self.heartbeat_ms.load(Ordering::Relaxed)),
        )
    }

    /// Checked per frame by the decode thread; an atomic, so no lock.
    pub fn snapshot_wanted(&self) -> bool {
        self.snapshot_wanted.load(Ordering::Acquire)
    }

    /// Answers every pending snapshot request.
    pub fn answer_snapshots(&self, result: Result<Vec<u8>, String>) {
        self.snapshot_wanted.store(false, Ordering::Release);
        for tx in lock(&self.snapshots).drain(..) {
            let _ = tx.send(result.clone());
        }
    }

    pub fn pacer(&self) -> MutexGuard<'_, Pacer> {
        lock(&self.pacer)
    }

    pub fn status(&self) -> StatusInfo {
        lock(&self.status).clone()
    }

    /// The decoded picture size, without cloning the whole status (this is
    /// read per frame).
    pub fn source_size(&self) -> Option<(usize, usize)> {
        lock(&self.status).source_size
    }

    pub fn set_pool(&self, pool: crate::pool::FramePool) {
        *lock(&self.pool) = Some(pool);
    }

    pub fn pool_usage(&self) -> Option<crate::pool::PoolUsage> {
        lock(&self.pool).as_ref().map(|p| p.usage())
    }

    pub fn status_version(&self) -> u64 {
        self.status_version.load(Ordering::Relaxed)
    }

    /// Applies `change` to the status and, if it changed, wakes the
    /// publisher.
    pub fn update_status(&self, change: impl FnOnce(&mut StatusInfo)) {
        let mut status = lock(&self.status);
        let before = status.clone();
        change(&mut status);
        if *status != before {
            drop(status);
            self.status_version.fetch_add(1, Ordering::Relaxed);
            self.status_changed.notify_one();
        }
    }

    /// A source starts (re)connecting; a retry counts as a reconnect.
    pub fn begin_attempt(&self, retry: bool) {
        if retry {
            self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        self.set_state(CameraState::Connecting, None);
    }

    pub fn set_state(&self, state: CameraState, error: Option<String>) {
        self.update_status(|s| s.set_state(state, error));
    }

    /// A source hands over one access unit (Annex B, in `parts` to be
    /// concatenated). Pacing happens here, before any decoding.
    pub fn offer_unit(&self, parts: &[&[u8]], kind: FrameKind, stream_ns: i64, capture_ns: i64) {
        self.stats.units_in.fetch_add(1, Ordering::Relaxed);
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.stats.bytes_in.fetch_add(len as u64, Ordering::Relaxed);
        let admit = self.pacer().admit(stream_ns, kind);
        let publish = match admit {
            Admit::Skip(SkipReason::Paced) => return self.stats.dropped(DropReason::Paced),
            Admit::Skip(SkipReason::AwaitingKeyframe) => {
                return self.stats.dropped(DropReason::AwaitingKeyframe);
            }
            Admit::Decode { publish } => publish,
        };
        let reset = self.reset_pending.swap(false, Ordering::Relaxed);
        let info = UnitInfo {
            kind,
            stream_ns,
            capture_ns,
            publish,
            reset,
        };
        if !self.ingest.push(parts, info) {
            if reset {
                self.reset_pending.store(true, Ordering::Relaxed);
            }
            self.stats.dropped(DropReason::Late);
            if kind != FrameKind::Disposable {
                // The decoder will miss a reference: resume at a keyframe.
                self.pacer().mark_discontinuity();
            }
        }
    }

    /// The stream was lost or restarted: queued units are stale and the
    /// reference chain is broken.
    pub fn restart_stream(&self) {
        self.ingest.flush();
        self.pacer().mark_discontinuity();
        self.reset_pending.store(true, Ordering::Relaxed);
    }

    pub fn note_loss(&self) {
        self.pacer().mark_discontinuity();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running camera. Dropping it does not stop it; call [`Camera::stop`].
pub struct Camera {
    pub shared: Arc<CameraShared>,
    /// The settings it was started with (kept for restarts and reloads).
    pub settings: CameraSettings,
    stop: watch::Sender<bool>,
    source_task: tokio::task::JoinHandle<()>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Camera {
    /// Starts the camera's decode thread and source task on the current
    /// runtime.
    pub fn start(
        settings: CameraSettings,
        frame_topic: String,
        sink: Arc<dyn FrameSink>,
        decoders: &DecoderFactory,
        status_changed: Arc<Notify>,
    ) -> anyhow::Result<Camera> {
        let shared = Arc::new(CameraShared::new(&settings, frame_topic, status_changed));
        let decoder = decoders.open_for(&settings)?;
        let h264_hardware = decoders.h264_hardware(settings.decoder);
        shared.update_status(|s| s.decoder = decoder.describe().to_string());
        let worker = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("decode-{}", settings.name))
                .spawn(move || worker::run(shared, decoder, sink))?
        };
        let (stop, stop_rx) = watch::channel(false);
        let source_task = {
            let shared = Arc::clone(&shared);
            tokio::spawn(run_source(shared, settings.clone(), h264_hardware, stop_rx))
        };
        Ok(Camera {
            shared,
            settings,
            stop,
            source_task,
            worker: Some(worker),
        })
    }

    /// Stops the source, drains the decode thread, and marks the camera
    /// offline.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.source_task).await;
        self.source_task.abort();
        self.shared.ingest.close();
        if let Some(worker) = self.worker.take() {
            let _ = tokio::task::spawn_blocking(move || worker.join()).await;
        }
        self.shared.set_state(CameraState::Offline, None);
    }
}

async fn run_source(
    shared: Arc<CameraShared>,
    settings: CameraSettings,
    h264_hardware: bool,
    stop: watch::Receiver<bool>,
) {
    if !settings.enabled {
        shared.set_state(CameraState::Offline, Some("disabled".into()));
        return;
    }
    let timing = crate::source::rtsp::Timing {
        stall_timeout: Duration::from_secs_f64(settings.stall_timeout_s),
        backoff_max: Duration::from_secs_f64(settings.backoff_max_s),
    };
    match settings.source {
        SourceSpec::Rtsp {
            url,
            username,
            password,
        } => crate::source::rtsp::run(shared, url, username, password, timing, stop).await,
        SourceSpec::Synthetic(spec) => crate::source::synthetic::run(shared, spec, stop).await,
        SourceSpec::V4l2(ref spec) => {
            let spec = spec.clone();
            crate::source::v4l2::run(shared, spec, settings, h264_hardware, stop).await
        }
    }
}
