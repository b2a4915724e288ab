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

    /// Retained echo of a camera's applied settings.
    pub fn camera_state(&self, camera: &str) -> String {
        format!("{}/{camera}/state", self.base)
    }

    pub fn snapshot_result(&self, camera: &str) -> String {
        format!("{}/{camera}/snapshot/result", self.base)
    }

    /// Retained JSON list of the running cameras.
    pub fn cameras(&self) -> String {
        format!("{}/cameras", self.base)
    }

    /// Replies to commands that named no response topic.
    pub fn reply(&self) -> String {
        format!("{}/reply", self.base)
    }

    /// Errors of commands that named no response topic.
    pub fn error(&self) -> String {
        format!("{}/error", self.base)
    }

    /// What the control plane subscribes to.
    pub fn command_filters(&self) -> [String; 3] {
        [
            format!("{}/set", self.base),
            format!("{}/+/set", self.base),
            format!("{}/+/snapshot", self.base),
        ]
    }

    /// Classifies an incoming topic.
    pub fn parse_command<'a>(&self, topic: &'a str) -> Option<Command<'a>> {
        let rest = topic.strip_prefix(self.base.as_str())?.strip_prefix('/')?;
        match rest.split('/').collect::<Vec<_>>().as_slice() {
            ["set"] => Some(Command::DeviceSet),
            [camera, "set"] => Some(Command::CameraSet(camera)),
            [camera, "snapshot"] => Some(Command::Snapshot(camera)),
            _ => None,
        }
    }
}

/// The kinds of command topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    DeviceSet,
    CameraSet(&'a str),
    Snapshot(&'a str),
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
        assert_eq!(
            t.parse_command("edgecam/box1/set"),
            Some(super::Command::DeviceSet)
        );
        assert_eq!(
            t.parse_command("edgecam/box1/cam0/set"),
            Some(super::Command::CameraSet("cam0"))
        );
        assert_eq!(
            t.parse_command("edgecam/box1/cam0/snapshot"),
            Some(super::Command::Snapshot("cam0"))
        );
        assert_eq!(t.parse_command("edgecam/box2/cam0/set"), None);
        assert_eq!(t.parse_command("edgecam/box1/cam0/frame"), None);
    }
}
