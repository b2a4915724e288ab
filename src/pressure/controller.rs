//! The adaptation ladder: pure logic, time passed in, so every transition is
//! tested deterministically.
//!
//! One global level says how hard the box is pushed. It rises one step when
//! pressure has stayed above an *enter* threshold for `enter_hold`, and falls
//! one step when every input has stayed below its *leave* threshold for
//! `leave_hold` — separate thresholds and hold times, so it never
//! oscillates. Each camera maps the global level to its own: a camera of
//! priority `p` starts degrading only at level `p + 1`, so important cameras
//! degrade last. A camera's ladder lowers its fps first (never below its
//! minimum), then its output width; the last fps steps are at or below the
//! keyframe rate of typical cameras, where the pacer decodes keyframes only.

use std::time::Duration;

use super::sensors::Reading;
use crate::camera::Adaptation;

#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub cpu_enter: f64,
    pub cpu_leave: f64,
    pub psi_enter: f64,
    pub psi_leave: f64,
    pub thermal_enter_c: f64,
    pub thermal_leave_c: f64,
    pub enter_hold: Duration,
    pub leave_hold: Duration,
}

/// Whether the readings say "shed load", "fine", or neither.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Over an enter threshold; the reason names the input and values.
    Hot(String),
    /// Under every leave threshold.
    Calm,
    /// In between: hold the current level.
    Steady,
}

pub fn assess(t: &Thresholds, r: &Reading) -> Verdict {
    if let Some(z) = r.zones.iter().find(|z| z.celsius >= t.thermal_enter_c) {
        return Verdict::Hot(format!(
            "thermal {} {:.1} C >= {:.0} C",
            z.name, z.celsius, t.thermal_enter_c
        ));
    }
    if let Some(psi) = r.psi_some.filter(|&p| p >= t.psi_enter) {
        return Verdict::Hot(format!(
            "cpu pressure (PSI some avg10) {psi:.1} % >= {:.0} %",
            t.psi_enter
        ));
    }
    if let Some(cpu) = r.cpu_busy.filter(|&c| c >= t.cpu_enter) {
        return Verdict::Hot(format!("cpu busy {cpu:.1} % >= {:.0} %", t.cpu_enter));
    }
    if r.late_drops > 0 {
        return Verdict::Hot(format!(
            "decoders falling behind ({} units dropped late)",
            r.late_drops
        ));
    }
    let calm = r.zones.iter().all(|z| z.celsius < t.thermal_leave_c)
        && r.psi_some.is_none_or(|p| p < t.psi_leave)
        && r.cpu_busy.is_none_or(|c| c < t.cpu_leave);
    if calm { Verdict::Calm } else { Verdict::Steady }
}

/// A level change, with the reason to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub level: u8,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Controller {
    thresholds: Thresholds,
    max_level: u8,
    level: u8,
    hot_since: Option<Duration>,
    calm_since: Option<Duration>,
    last_change: Option<Duration>,
    reason: Option<String>,
    pub changes: u64,
}

impl Controller {
    pub fn new(thresholds: Thresholds, max_level: u8) -> Self {
        Controller {
            thresholds,
            max_level,
            level: 0,
            hot_since: None,
            calm_since: None,
            last_change: None,
            reason: None,
            changes: 0,
        }
    }

    pub fn level(&self) -> u8 {
        self.level
    }

    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    pub fn set_max_level(&mut self, max: u8) {
        self.max_level = max;
        self.level = self.level.min(max);
    }

    /// Feeds one sample taken at `now` (any monotonic origin).
    pub fn update(&mut self, now: Duration, reading: &Reading) -> Option<Change> {
        let verdict = assess(&self.thresholds, reading);
        match verdict {
            Verdict::Hot(reason) => {
                self.calm_since = None;
                let since = *self.hot_since.get_or_insert(now);
                let held = now.saturating_sub(since) >= self.thresholds.enter_hold;
                let spaced = self
                    .last_change
                    .is_none_or(|t| now.saturating_sub(t) >= self.thresholds.enter_hold);
                if held && spaced && self.level < self.max_level {
                    return Some(self.step(now, self.level + 1, reason));
                }
                // Keep the reason current while it holds.
                if self.level > 0 {
                    self.reason = Some(reason);
                }
            }
            Verdict::Calm => {
                self.hot_since = None;
                let since = *self.calm_since.get_or_insert(now);
                let held = now.saturating_sub(since) >= self.thresholds.leave_hold;
                let spaced = self
                    .last_change
                    .is_none_or(|t| now.saturating_sub(t) >= self.thresholds.leave_hold);
                if held && spaced && self.level > 0 {
                    let reason = if self.level == 1 {
                        "pressure eased: back to requested settings".to_string()
                    } else {
                        "pressure eased: recovering one step".to_string()
                    };
                    return Some(self.step(now, self.level - 1, reason));
                }
            }
            Verdict::Steady => {
                self.hot_since = None;
                self.calm_since = None;
            }
        }
        None
    }

    fn step(&mut self, now: Duration, level: u8, reason: String) -> Change {
        self.level = level;
        self.last_change = Some(now);
        self.changes += 1;
        self.reason = (level > 0).then(|| reason.clone());
        Change { level, reason }
    }
}

/// The per-camera ladder.
#[derive(Debug, Clone, PartialEq)]
pub struct Ladder {
    pub fps: Vec<f64>,
    pub widths: Vec<u32>,
}

impl Ladder {
    /// Steps a camera can go down.
    pub fn steps(&self) -> u8 {
        (self.fps.len() + self.widths.len()) as u8
    }

    /// Caps for a camera of `priority` and `min_fps` at global `level`.
    pub fn caps(&self, level: u8, priority: u8, min_fps: f64, reason: Option<&str>) -> Adaptation {
        let own = level.saturating_sub(priority).min(self.steps()) as usize;
        if own == 0 {
            return Adaptation::default();
        }
        let fps_step = own.min(self.fps.len());
        let fps_cap = (fps_step > 0).then(|| self.fps[fps_step - 1].max(min_fps));
        let width_step = own.saturating_sub(self.fps.len());
        let width_cap = (width_step > 0).then(|| self.widths[width_step - 1]);
        Adaptation {
            level: own as u8,
            fps_cap,
            width_cap,
            reason: reason.map(str::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pressure::sensors::ZoneReading;

    fn thresholds() -> Thresholds {
        Thresholds {
            cpu_enter: 90.0,
            cpu_leave: 70.0,
            psi_enter: 40.0,
            psi_leave: 15.0,
            thermal_enter_c: 80.0,
            thermal_leave_c: 72.0,
            enter_hold: Duration::from_secs(6),
            leave_hold: Duration::from_secs(30),
        }
    }

    fn temp(c: f64) -> Reading {
        Reading {
            zones: vec![ZoneReading {
                name: "cpu-thermal".into(),
                celsius: c,
            }],
            ..Default::default()
        }
    }

    /// Drives the controller with one reading per second; returns the level
    /// after each second.
    fn drive(c: &mut Controller, start: u64, readings: &[Reading]) -> Vec<u8> {
        readings
            .iter()
            .enumerate()
            .map(|(i, r)| {
                c.update(Duration::from_secs(start + i as u64), r);
                c.level()
            })
            .collect()
    }

    #[test]
    fn rises_after_the_hold_one_step_at_a_time_and_recovers_slowly() {
        let mut c = Controller::new(thresholds(), 5);
        let hot = vec![temp(82.1); 20];
        let levels = drive(&mut c, 0, &hot);
        // Step at 6 s, 12 s, 18 s.
        assert_eq!(levels[5], 0);
        assert_eq!(levels[6], 1);
        assert_eq!(levels[12], 2);
        assert_eq!(levels[18], 3);
        assert_eq!(c.reason(), Some("thermal cpu-thermal 82.1 C >= 80 C"));
        // Between thresholds: hold.
        let levels = drive(&mut c, 20, &vec![temp(75.0); 60]);
        assert!(levels.iter().all(|&l| l == 3));
        // Calm: down one step per 30 s.
        let levels = drive(&mut c, 80, &vec![temp(60.0); 100]);
        assert_eq!(levels[29], 3);
        assert_eq!(levels[30], 2);
        assert_eq!(levels[60], 1);
        assert_eq!(levels[90], 0);
        assert_eq!(c.reason(), None);
        assert_eq!(c.changes, 6);
    }

    #[test]
    fn flapping_input_never_oscillates() {
        let mut c = Controller::new(thresholds(), 5);
        // Alternates hot and calm every 2 s: neither hold is ever met.
        let readings: Vec<Reading> = (0..200)
            .map(|i| {
                if (i / 2) % 2 == 0 {
                    temp(85.0)
                } else {
                    temp(50.0)
                }
            })
            .collect();
        let levels = drive(&mut c, 0, &readings);
        assert!(levels.iter().all(|&l| l == 0), "{levels:?}");
    }

    #[test]
    fn each_input_can_trigger() {
        let t = thresholds();
        let cpu = Reading {
            cpu_busy: Some(95.0),
            ..Default::default()
        };
        assert!(matches!(assess(&t, &cpu), Verdict::Hot(r) if r.starts_with("cpu busy 95.0 %")));
        let psi = Reading {
            psi_some: Some(55.0),
            ..Default::default()
        };
        assert!(matches!(assess(&t, &psi), Verdict::Hot(r) if r.contains("PSI")));
        let lag = Reading {
            late_drops: 3,
            ..Default::default()
        };
        assert!(matches!(assess(&t, &lag), Verdict::Hot(r) if r.contains("falling behind")));
        assert_eq!(
            assess(
                &t,
                &Reading {
                    cpu_busy: Some(80.0),
                    ..Default::default()
                }
            ),
            Verdict::Steady
        );
        assert_eq!(assess(&t, &Reading::default()), Verdict::Calm);
    }

    #[test]
    fn max_level_caps_the_climb() {
        let mut c = Controller::new(thresholds(), 2);
        drive(&mut c, 0, &vec![temp(90.0); 60]);
        assert_eq!(c.level(), 2);
    }

    #[test]
    fn ladder_lowers_fps_then_width_and_respects_priority_and_minimum() {
        let ladder = Ladder {
            fps: vec![3.0, 2.0, 1.0, 0.5],
            widths: vec![960, 640],
        };
        assert_eq!(ladder.caps(0, 0, 0.1, None), Adaptation::default());
        let a = ladder.caps(2, 0, 0.1, Some("hot"));
        assert_eq!((a.level, a.fps_cap, a.width_cap), (2, Some(2.0), None));
        assert_eq!(a.reason.as_deref(), Some("hot"));
        let a = ladder.caps(6, 0, 0.1, None);
        assert_eq!((a.fps_cap, a.width_cap), (Some(0.5), Some(640)));
        // Priority 2 starts degrading at level 3.
        assert_eq!(ladder.caps(2, 2, 0.1, None), Adaptation::default());
        assert_eq!(ladder.caps(3, 2, 0.1, None).fps_cap, Some(3.0));
        // Never below the camera's minimum.
        assert_eq!(ladder.caps(4, 0, 1.5, None).fps_cap, Some(1.5));
        // Beyond the ladder: stays at the last step.
        assert_eq!(ladder.caps(50, 0, 0.1, None).level, 6);
    }
}
