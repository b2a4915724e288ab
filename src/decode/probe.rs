//! Which decoders this box has, and which one each camera gets.
//!
//! Probing runs once at start-up; `edgecam probe` prints the same report so a
//! user can see on their own box what would be chosen and why.

use std::path::Path;

use serde::Serialize;

use super::Decoder;
use super::openh264::OpenH264;
use crate::config::DecoderChoice;

#[derive(Debug, Clone, Serialize)]
pub struct BackendReport {
    /// `software`, `v4l2m2m`, `gstreamer`.
    pub backend: &'static str,
    /// Device node or element, where there is one.
    pub device: Option<String>,
    pub available: bool,
    /// Why it is or is not usable, in words for the operator.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub backends: Vec<BackendReport>,
    /// What `decoder = "auto"` resolves to.
    pub auto_choice: &'static str,
    pub auto_reason: String,
    /// Video device nodes seen, with their driver names (for diagnosis).
    pub video_nodes: Vec<VideoNode>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VideoNode {
    pub device: String,
    pub name: String,
}

/// Opens decoders according to the probe.
#[derive(Debug, Clone)]
pub struct DecoderFactory {
    report: ProbeReport,
}

impl DecoderFactory {
    pub fn probe() -> Self {
        Self::probe_in(Path::new("/sys/class/video4linux"))
    }

    pub fn probe_in(sysfs_v4l: &Path) -> Self {
        let video_nodes = list_video_nodes(sysfs_v4l);
        let software = BackendReport {
            backend: "software",
            device: None,
            available: true,
            reason: "openh264, built in; runs on any CPU".into(),
        };
        let v4l2 = BackendReport {
            backend: "v4l2m2m",
            device: None,
            available: false,
            reason: "the V4L2 M2M backend is not part of this build".into(),
        };
        let gst = BackendReport {
            backend: "gstreamer",
            device: None,
            available: false,
            reason: "not compiled in (build with --features gstreamer)".into(),
        };
        let report = ProbeReport {
            backends: vec![software, v4l2, gst],
            auto_choice: "software",
            auto_reason: "no hardware decoder backend is usable; openh264 decodes in software"
                .into(),
            video_nodes,
        };
        DecoderFactory { report }
    }

    pub fn report(&self) -> &ProbeReport {
        &self.report
    }

    /// A decoder for a camera that asked for `choice`. A hardware choice that
    /// is not available falls back to software with a warning (a camera that
    /// streams beats one that does not).
    pub fn open(&self, choice: DecoderChoice) -> anyhow::Result<Box<dyn Decoder>> {
        let wanted = match choice {
            DecoderChoice::Auto => self.report.auto_choice,
            DecoderChoice::Software => "software",
            DecoderChoice::V4l2m2m => "v4l2m2m",
            DecoderChoice::Gstreamer => "gstreamer",
        };
        if wanted != "software"
            && let Some(b) = self.report.backends.iter().find(|b| b.backend == wanted)
        {
            tracing::warn!(backend = wanted, reason = %b.reason, "requested decoder unavailable; using software");
        }
        Ok(Box::new(OpenH264::new()?))
    }
}

fn list_video_nodes(sysfs_v4l: &Path) -> Vec<VideoNode> {
    let Ok(entries) = std::fs::read_dir(sysfs_v4l) else {
        return Vec::new();
    };
    let mut nodes: Vec<VideoNode> = entries
        .flatten()
        .filter_map(|e| {
            let dev = e.file_name().to_string_lossy().to_string();
            dev.starts_with("video").then(|| VideoNode {
                name: std::fs::read_to_string(e.path().join("name"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default(),
                device: format!("/dev/{dev}"),
            })
        })
        .collect();
    nodes.sort_by(|a, b| a.device.cmp(&b.device));
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_is_always_available_and_chosen_without_hardware() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("video0");
        std::fs::create_dir(&node).unwrap();
        std::fs::write(node.join("name"), "vivid-000-vid-cap\n").unwrap();
        let f = DecoderFactory::probe_in(dir.path());
        assert_eq!(f.report().auto_choice, "software");
        assert!(
            f.report()
                .backends
                .iter()
                .any(|b| b.backend == "software" && b.available)
        );
        assert_eq!(f.report().video_nodes[0].name, "vivid-000-vid-cap");
        assert_eq!(
            f.open(DecoderChoice::Auto).unwrap().describe(),
            "openh264 (software)"
        );
    }
}
