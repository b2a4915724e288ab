//! The topic layout, in one place (documented in docs/mqtt.md).

#[derive(Debug, Clone)]
pub struct Topics {
    base: String,
}

impl Topics {
    pub fn new(prefix: &str, device: &str) -> Self {
        Topics {
            base: format!("{prefix}/{device}"),
        }
    }

    /// Retained `online`/`offline`; `offline` is also the last will.
    pub fn device_status(&self) -> String {
        format!("{}/status", self.base)
    }

    pub fn stats(&self) -> String {
        format!("{}/stats", self.base)
    }

    pub fn camera_frame(&self, camera: &str) -> String {
        format!("{}/{camera}/frame", self.base)
    }

    pub fn camera_status(&self, camera: &str) -> String {
        format!("{}/{camera}/status", self.base)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout() {
        let t = super::Topics::new("edgecam", "box1");
        assert_eq!(t.device_status(), "edgecam/box1/status");
        assert_eq!(t.stats(), "edgecam/box1/stats");
        assert_eq!(t.camera_frame("cam0"), "edgecam/box1/cam0/frame");
        assert_eq!(t.camera_status("cam0"), "edgecam/box1/cam0/status");
    }
}
