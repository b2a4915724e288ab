//! A camera's settings in three layers: what was requested (config or an
//! operator), what the pressure controller imposes, and the effective result
//! the pacer and the decode thread use.

use serde::Serialize;

use super::OutputSettings;
use crate::config::{CameraSettings, OutputFormat};

/// What the configuration or an operator asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Requested {
    pub enabled: bool,
    pub fps: f64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: OutputFormat,
    pub quality: u8,
    pub pool_frames: usize,
    pub priority: u8,
    pub min_fps: f64,
}

impl Requested {
    pub fn from_settings(s: &CameraSettings) -> Self {
        Requested {
            enabled: s.enabled,
            fps: s.fps,
            width: s.width,
            height: s.height,
            format: s.format,
            quality: s.quality,
            pool_frames: s.pool_frames,
            priority: s.priority,
            min_fps: s.min_fps,
        }
    }
}

/// Caps imposed under CPU or thermal pressure (none at level 0).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Adaptation {
    pub level: u8,
    pub fps_cap: Option<f64>,
    pub width_cap: Option<u32>,
    pub reason: Option<String>,
}

pub struct Effective {
    pub fps: f64,
    pub output: OutputSettings,
}

/// Applies the caps to the request. A width cap keeps the requested aspect
/// ratio (or the source's, when only the cap gives a size).
pub fn effective(req: &Requested, adapt: &Adaptation, source: Option<(usize, usize)>) -> Effective {
    let fps = adapt.fps_cap.map_or(req.fps, |cap| req.fps.min(cap));
    let (mut width, mut height) = (req.width, req.height);
    if let Some(cap) = adapt.width_cap {
        let current = req.width.or(source.map(|s| s.0 as u32));
        if current.is_none_or(|w| w > cap) {
            width = Some(cap);
            height = match (req.width, req.height) {
                (Some(w), Some(h)) => Some(even(u64::from(h) * u64::from(cap) / u64::from(w))),
                _ => None,
            };
        }
    }
    Effective {
        fps,
        output: OutputSettings {
            width,
            height,
            format: req.format,
            quality: req.quality,
            pool_frames: req.pool_frames,
        },
    }
}

fn even(v: u64) -> u32 {
    ((v / 2) * 2).max(2) as u32
}

/// The retained `<prefix>/<device>/<camera>/state` payload.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Applied {
    pub enabled: bool,
    /// Effective rate (after adaptation).
    pub fps: f64,
    /// Rate asked for by the config or an operator.
    pub requested_fps: f64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: &'static str,
    pub quality: u8,
    /// False while an operator's manual setting pins the camera.
    pub auto: bool,
    pub level: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(fps: f64, width: Option<u32>, height: Option<u32>) -> Requested {
        Requested {
            enabled: true,
            fps,
            width,
            height,
            format: OutputFormat::Jpeg,
            quality: 80,
            pool_frames: 4,
            priority: 0,
            min_fps: 0.2,
        }
    }

    #[test]
    fn caps_only_ever_lower() {
        let none = Adaptation::default();
        let e = effective(&req(5.0, None, None), &none, Some((1280, 720)));
        assert_eq!((e.fps, e.output.width), (5.0, None));
        let capped = Adaptation {
            level: 2,
            fps_cap: Some(2.0),
            width_cap: Some(640),
            reason: None,
        };
        let e = effective(&req(5.0, None, None), &capped, Some((1280, 720)));
        assert_eq!(
            (e.fps, e.output.width, e.output.height),
            (2.0, Some(640), None)
        );
        let e = effective(&req(1.0, Some(320), None), &capped, Some((1280, 720)));
        assert_eq!(
            (e.fps, e.output.width),
            (1.0, Some(320)),
            "already below the caps"
        );
        let e = effective(&req(5.0, Some(1280), Some(720)), &capped, None);
        assert_eq!((e.output.width, e.output.height), (Some(640), Some(360)));
    }
}
