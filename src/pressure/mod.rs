//! Adapting to CPU and thermal pressure: sample the kernel's pressure
//! inputs, run the controller, and hand each camera its caps. Every change is
//! logged and published (camera status carries `level` and `reason`; stats
//! carry the global level, its reason and the number of changes).

pub mod controller;
pub mod sensors;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use self::controller::{Controller, Ladder, Thresholds};
use self::sensors::Sensors;
use crate::service::Shared;
use crate::stats::DropReason;

/// `[pressure]` in the configuration (docs/config.md).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PressureConfig {
    pub enabled: bool,
    /// Seconds between samples.
    pub interval_s: f64,
    pub proc_root: PathBuf,
    pub sysfs_root: PathBuf,
    /// Thermal zone types that matter (`/sys/class/thermal/*/type`); empty
    /// watches every zone.
    pub thermal_zones: Vec<String>,
    pub thermal_enter_c: f64,
    pub thermal_leave_c: f64,
    /// All-CPU busy %, used where PSI is missing.
    pub cpu_enter_percent: f64,
    pub cpu_leave_percent: f64,
    /// `some avg10` of /proc/pressure/cpu.
    pub psi_enter_percent: f64,
    pub psi_leave_percent: f64,
    /// Pressure must last this long before each step down…
    pub enter_hold_s: f64,
    /// …and calm this long before each step back up.
    pub leave_hold_s: f64,
    /// fps caps, tried in order, then output widths.
    pub fps_ladder: Vec<f64>,
    pub width_ladder: Vec<u32>,
}

impl Default for PressureConfig {
    fn default() -> Self {
        PressureConfig {
            enabled: true,
            interval_s: 2.0,
            proc_root: "/proc".into(),
            sysfs_root: "/sys".into(),
            thermal_zones: Vec::new(),
            thermal_enter_c: 80.0,
            thermal_leave_c: 72.0,
            cpu_enter_percent: 92.0,
            cpu_leave_percent: 75.0,
            psi_enter_percent: 50.0,
            psi_leave_percent: 20.0,
            enter_hold_s: 6.0,
            leave_hold_s: 30.0,
            fps_ladder: vec![3.0, 2.0, 1.0, 0.5],
            width_ladder: vec![960, 640],
        }
    }
}

impl PressureConfig {
    /// Range checks; returns the key and message of the first problem.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let positive = |k: &'static str, v: f64, max: f64| {
            if (0.1..=max).contains(&v) {
                Ok(())
            } else {
                Err((k, format!("{k} must be between 0.1 and {max}, got {v}")))
            }
        };
        positive("interval_s", self.interval_s, 3600.0)?;
        positive("enter_hold_s", self.enter_hold_s, 3600.0)?;
        positive("leave_hold_s", self.leave_hold_s, 3600.0)?;
        for (enter_key, enter, leave) in [
            (
                "thermal_leave_c",
                self.thermal_enter_c,
                self.thermal_leave_c,
            ),
            (
                "cpu_leave_percent",
                self.cpu_enter_percent,
                self.cpu_leave_percent,
            ),
            (
                "psi_leave_percent",
                self.psi_enter_percent,
                self.psi_leave_percent,
            ),
        ] {
            if leave >= enter {
                return Err((
                    enter_key,
                    format!(
                        "{enter_key} ({leave}) must be below its enter threshold ({enter}) for hysteresis"
                    ),
                ));
            }
        }
        if self.fps_ladder.iter().any(|f| !(0.01..=60.0).contains(f))
            || self.fps_ladder.windows(2).any(|w| w[1] >= w[0])
        {
            return Err((
                "fps_ladder",
                "fps_ladder must be decreasing values between 0.01 and 60".into(),
            ));
        }
        if self.width_ladder.iter().any(|w| *w < 16 || w % 2 != 0)
            || self.width_ladder.windows(2).any(|w| w[1] >= w[0])
        {
            return Err((
                "width_ladder",
                "width_ladder must be decreasing even widths of at least 16".into(),
            ));
        }
        Ok(())
    }

    fn thresholds(&self) -> Thresholds {
        Thresholds {
            cpu_enter: self.cpu_enter_percent,
            cpu_leave: self.cpu_leave_percent,
            psi_enter: self.psi_enter_percent,
            psi_leave: self.psi_leave_percent,
            thermal_enter_c: self.thermal_enter_c,
            thermal_leave_c: self.thermal_leave_c,
            enter_hold: Duration::from_secs_f64(self.enter_hold_s),
            leave_hold: Duration::from_secs_f64(self.leave_hold_s),
        }
    }
}

/// The global state, for the stats message.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PressureReport {
    pub level: u8,
    pub reason: Option<String>,
    pub changes: u64,
    pub cpu_busy_percent: Option<f64>,
    pub psi_some_avg10: Option<f64>,
    pub thermal_c: serde_json::Map<String, serde_json::Value>,
}

pub async fn run(shared: Arc<Shared>, cfg: PressureConfig) {
    let mut sensors = Sensors::new(&cfg.proc_root, &cfg.sysfs_root, &cfg.thermal_zones);
    let ladder = Ladder {
        fps: cfg.fps_ladder.clone(),
        widths: cfg.width_ladder.clone(),
    };
    let mut controller = Controller::new(cfg.thresholds(), ladder.steps());
    let start = Instant::now();
    let mut late_before: u64 = 0;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(cfg.interval_s));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let cameras = shared.cameras();
        let mut reading = sensors.read();
        let late: u64 = cameras
            .iter()
            .map(|c| c.stats.dropped_count(DropReason::Late))
            .sum();
        reading.late_drops = late.saturating_sub(late_before);
        late_before = late;
        let max_priority = cameras
            .iter()
            .map(|c| c.requested().priority)
            .max()
            .unwrap_or(0);
        controller.set_max_level(ladder.steps().saturating_add(max_priority));
        if let Some(change) = controller.update(start.elapsed(), &reading) {
            tracing::info!(level = change.level, reason = %change.reason, "adaptation level changed");
        }
        for cam in &cameras {
            if cam.is_pinned() {
                continue;
            }
            let r = cam.requested();
            let caps = ladder.caps(
                controller.level(),
                r.priority,
                r.min_fps,
                controller.reason(),
            );
            if caps != cam.adaptation() {
                cam.set_adaptation(caps);
            }
        }
        let report = PressureReport {
            level: controller.level(),
            reason: controller.reason().map(str::to_string),
            changes: controller.changes,
            cpu_busy_percent: reading.cpu_busy.map(|v| (v * 10.0).round() / 10.0),
            psi_some_avg10: reading.psi_some,
            thermal_c: reading
                .zones
                .iter()
                .map(|z| (z.name.clone(), z.celsius.into()))
                .collect(),
        };
        *shared.pressure.lock().unwrap_or_else(|e| e.into_inner()) = report;
    }
}
