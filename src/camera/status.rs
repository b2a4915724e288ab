//! A camera's retained status: what an operator looks at first.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraState {
    /// Connecting or reconnecting to the source.
    Connecting,
    /// Receiving frames.
    Online,
    /// Stopped, disabled or unplugged.
    Offline,
    /// The source failed; retrying with backoff.
    Error,
}

impl CameraState {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Connecting => "connecting",
            CameraState::Online => "online",
            CameraState::Offline => "offline",
            CameraState::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusInfo {
    pub state: CameraState,
    pub last_error: Option<String>,
    pub decoder: String,
    /// Source picture size, once known.
    pub source_size: Option<(usize, usize)>,
    /// Output picture size, once known.
    pub output_size: Option<(usize, usize)>,
    /// Wall clock of the last state change, ns since the epoch.
    pub since_ns: i64,
    /// Adaptation level (0: as requested) and why.
    pub level: u8,
    pub reason: Option<String>,
}

impl StatusInfo {
    pub fn new(enabled: bool) -> Self {
        StatusInfo {
            state: if enabled {
                CameraState::Connecting
            } else {
                CameraState::Offline
            },
            last_error: (!enabled).then(|| "disabled".to_string()),
            decoder: String::new(),
            source_size: None,
            output_size: None,
            since_ns: crate::clock::now_ns(),
            level: 0,
            reason: None,
        }
    }

    pub fn set_state(&mut self, state: CameraState, error: Option<String>) {
        if self.state != state {
            self.state = state;
            self.since_ns = crate::clock::now_ns();
        }
        if error.is_some() {
            self.last_error = error;
        }
    }
}

/// The JSON of `<prefix>/<device>/<camera>/status` (docs/mqtt.md).
#[derive(Debug, Serialize)]
pub struct StatusReport<'a> {
    pub state: CameraState,
    pub fps_target: f64,
    pub fps_actual: f64,
    pub width: Option<usize>,
    pub height: Option<usize>,
    pub source_width: Option<usize>,
    pub source_height: Option<usize>,
    pub format: &'static str,
    pub decoder: &'a str,
    pub source: &'a str,
    pub last_error: Option<&'a str>,
    pub since_ns: i64,
    /// Adaptation level under pressure (0: none) and the reason for it.
    pub level: u8,
    pub reason: Option<&'a str>,
}
