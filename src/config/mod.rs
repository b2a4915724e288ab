//! The configuration file: schema, defaults and validation.
//!
//! Every error names the offending key (`camera[1].fps`) and the line it is
//! on, because the person reading it is editing a file on a box over SSH.
//! The schema is documented for users in `docs/config.md`.

mod locate;
mod usb;

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use locate::key_line;
pub use usb::{DecoderConfig, UsbConfig};

use crate::source::SourceSpec;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub device: DeviceConfig,
    pub mqtt: MqttConfig,
    #[serde(default)]
    pub defaults: CameraDefaults,
    #[serde(default)]
    pub pressure: crate::pressure::PressureConfig,
    #[serde(default, rename = "camera")]
    pub cameras: Vec<CameraConfig>,
    /// `[decoder]`: the hardware decoder device.
    #[serde(default)]
    pub decoder: DecoderConfig,
    /// `[usb]`: automatic USB cameras.
    #[serde(default)]
    pub usb: UsbConfig,
    /// Keys the file sets explicitly (`pressure.fps_ladder`), so a board
    /// profile fills in only what the user left out.
    #[serde(skip)]
    pub explicit: std::collections::BTreeSet<String>,
    /// The board profile in use, if any.
    #[serde(skip)]
    pub board: Option<crate::board::BoardProfile>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Identifies this box in every topic: `edgecam/<id>/...`.
    pub id: String,
    /// Board profile: `"auto"` (device tree / DMI), a profile name such as
    /// `"rpi4"`, or absent for built-in defaults.
    pub board: Option<String>,
    /// Where profiles live (default /usr/share/edgecam/boards).
    pub boards_dir: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:port` or `mqtts://host:port` (TLS).
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Read the password from this file (first line), for secrets kept out
    /// of the config.
    pub password_file: Option<String>,
    /// PEM bundle to trust for `mqtts://`; the system roots otherwise.
    pub ca_file: Option<String>,
    pub client_id: Option<String>,
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    #[serde(default = "default_keep_alive")]
    pub keep_alive_s: u64,
    /// How often `<prefix>/<device>/stats` is published.
    #[serde(default = "default_stats_interval")]
    pub stats_interval_s: f64,
    /// Largest packet edgecam sends or accepts (frames are big; rumqttc's
    /// own default of 10 KiB would refuse them).
    #[serde(default = "default_max_packet")]
    pub max_packet_bytes: usize,
    /// Publish requests that may wait for the network, over all cameras.
    /// When full, new frames are dropped and counted (`mqtt_backpressure`).
    #[serde(default = "default_queue")]
    pub queue_frames: usize,
}

/// Per-camera settings that a `[[camera]]` may leave out.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraDefaults {
    #[serde(default = "default_fps")]
    pub fps: f64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    #[serde(default)]
    pub format: OutputFormat,
    #[serde(default = "default_quality")]
    pub quality: u8,
    /// Output buffers per camera (frames that can be in flight to the broker).
    #[serde(default = "default_pool_frames")]
    pub pool_frames: usize,
    /// Seconds without any data from a camera before it is reconnected.
    #[serde(default = "default_stall_timeout")]
    pub stall_timeout_s: f64,
    /// Cap of the reconnect backoff.
    #[serde(default = "default_backoff_max")]
    pub backoff_max_s: f64,
    #[serde(default)]
    pub decoder: DecoderChoice,
    /// Under pressure, cameras of higher priority degrade later (0..10).
    #[serde(default)]
    pub priority: u8,
    /// Adaptation never lowers this camera below this rate.
    #[serde(default = "default_min_fps")]
    pub min_fps: f64,
}

impl Default for CameraDefaults {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize from an empty table")
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    pub name: String,
    /// `rtsp://[user:pass@]host[:port]/path`, or `synthetic:` for the
    /// built-in test camera.
    pub source: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    pub fps: Option<f64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: Option<OutputFormat>,
    pub quality: Option<u8>,
    pub pool_frames: Option<usize>,
    pub stall_timeout_s: Option<f64>,
    pub backoff_max_s: Option<f64>,
    pub decoder: Option<DecoderChoice>,
    pub priority: Option<u8>,
    pub min_fps: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    Jpeg,
    Nv12,
    I420,
}

impl OutputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Nv12 => "nv12",
            OutputFormat::I420 => "i420",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Nv12 => "video/x-raw; format=NV12",
            OutputFormat::I420 => "video/x-raw; format=I420",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DecoderChoice {
    /// Probe and prefer hardware.
    #[default]
    Auto,
    Software,
    V4l2m2m,
    Gstreamer,
}

/// A camera's settings with the defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraSettings {
    pub name: String,
    pub source: SourceSpec,
    pub enabled: bool,
    pub fps: f64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: OutputFormat,
    pub quality: u8,
    pub pool_frames: usize,
    pub stall_timeout_s: f64,
    pub backoff_max_s: f64,
    pub decoder: DecoderChoice,
    pub priority: u8,
    pub min_fps: f64,
}

pub const FPS_RANGE: (f64, f64) = (0.1, 60.0);
pub const MAX_DIMENSION: u32 = 7680;

fn default_topic_prefix() -> String {
    "edgecam".into()
}
fn default_keep_alive() -> u64 {
    15
}
fn default_stats_interval() -> f64 {
    10.0
}
fn default_max_packet() -> usize {
    16 * 1024 * 1024
}
fn default_queue() -> usize {
    64
}
fn default_fps() -> f64 {
    5.0
}
fn default_quality() -> u8 {
    80
}
fn default_pool_frames() -> usize {
    4
}
fn default_stall_timeout() -> f64 {
    20.0
}
fn default_backoff_max() -> f64 {
    30.0
}
fn default_min_fps() -> f64 {
    0.2
}
fn default_true() -> bool {
    true
}

/// A configuration problem, located for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// Dotted path of the key, e.g. `camera[1].fps`.
    pub key: String,
    /// 1-based line in the file, when the key is present in it.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
        let mut config =
            Config::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if let Some(board) = config.device.board.clone() {
            let dir = config
                .device
                .boards_dir
                .as_ref()
                .map(std::path::PathBuf::from);
            let line = key_line(&text, &["device".into(), "board".into()])
                .map_or(String::new(), |l| format!("line {l}: "));
            let profile = crate::board::resolve(&board, dir.as_deref())
                .map_err(|e| anyhow::anyhow!("{}: {line}device.board: {e}", path.display()))?;
            if let Some(profile) = profile {
                config.apply_board(profile);
            }
        }
        Ok(config)
    }

    /// Takes the profile's decoder, pool, thermal and ladder settings for
    /// every key the file did not set itself.
    pub fn apply_board(&mut self, profile: crate::board::BoardProfile) {
        let unset = |key: &str| !self.explicit.contains(key);
        let (p, d) = (&profile, &mut self.defaults);
        if unset("defaults.decoder") {
            d.decoder = p.decoder.backend;
        }
        if unset("defaults.pool_frames") {
            d.pool_frames = p.pool.frames_per_camera;
        }
        let pressure = &mut self.pressure;
        if unset("pressure.thermal_zones") {
            pressure.thermal_zones = p.thermal.zones.clone();
        }
        if unset("pressure.thermal_enter_c") {
            pressure.thermal_enter_c = p.thermal.enter_c;
        }
        if unset("pressure.thermal_leave_c") {
            pressure.thermal_leave_c = p.thermal.leave_c;
        }
        if unset("pressure.fps_ladder") {
            pressure.fps_ladder = p.ladder.fps.clone();
        }
        if unset("pressure.width_ladder") {
            pressure.width_ladder = p.ladder.widths.clone();
        }
        tracing::info!(board = %p.board.name, decode = %p.board.hardware_decode, "board profile applied");
        self.board = Some(profile);
    }

    /// Parses and validates a whole file.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut config: Config =
            toml::from_str(text).map_err(|e| locate::from_toml_error(text, &e))?;
        config.explicit = locate::section_keys(text, &["defaults", "pressure"]);
        config.validate().map_err(|(path, message)| ConfigError {
            line: key_line(text, &path),
            key: locate::display_path(&path),
            message,
        })?;
        Ok(config)
    }

    /// Checks values serde cannot: ranges, names, URLs. Returns the key path
    /// and message of the first problem.
    fn validate(&self) -> Result<(), (Vec<String>, String)> {
        let at = |parts: &[&str]| parts.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        check_name(&self.device.id).map_err(|m| (at(&["device", "id"]), m))?;
        validate_mqtt(&self.mqtt).map_err(|(k, m)| (at(&["mqtt", k]), m))?;
        validate_values(
            self.defaults.fps,
            self.defaults.width,
            self.defaults.height,
            self.defaults.quality,
            self.defaults.pool_frames,
        )
        .map_err(|(k, m)| (at(&["defaults", k]), m))?;
        self.decoder
            .validate()
            .map_err(|(k, m)| (at(&["decoder", k]), m))?;
        self.usb
            .validate(&self.defaults)
            .map_err(|(k, m)| (at(&["usb", k]), m))?;
        check_priority(self.defaults.priority, self.defaults.min_fps)
            .map_err(|(k, m)| (at(&["defaults", k]), m))?;
        self.pressure
            .validate()
            .map_err(|(k, m)| (at(&["pressure", k]), m))?;
        let mut seen = std::collections::HashSet::new();
        for (i, cam) in self.cameras.iter().enumerate() {
            let idx = i.to_string();
            let key = |k: &str| at(&["camera", &idx, k]);
            check_name(&cam.name).map_err(|m| (key("name"), m))?;
            if !seen.insert(cam.name.as_str()) {
                return Err((key("name"), format!("duplicate camera name {:?}", cam.name)));
            }
            SourceSpec::parse(&cam.source).map_err(|m| (key("source"), m))?;
            let s = self.camera_settings_unchecked(cam);
            validate_values(s.fps, s.width, s.height, s.quality, s.pool_frames)
                .map_err(|(k, m)| (key(k), m))?;
            for (k, v) in [
                ("stall_timeout_s", s.stall_timeout_s),
                ("backoff_max_s", s.backoff_max_s),
            ] {
                if !(1.0..=3600.0).contains(&v) {
                    return Err((
                        key(k),
                        format!("{k} must be between 1 and 3600 seconds, got {v}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Settings of every configured camera, defaults applied.
    pub fn camera_settings(&self) -> Vec<CameraSettings> {
        self.cameras
            .iter()
            .map(|c| self.camera_settings_unchecked(c))
            .collect()
    }

    fn camera_settings_unchecked(&self, c: &CameraConfig) -> CameraSettings {
        let d = &self.defaults;
        CameraSettings {
            name: c.name.clone(),
            source: SourceSpec::parse(&c.source)
                .expect("sources are validated before settings are built"),
            enabled: c.enabled,
            fps: c.fps.unwrap_or(d.fps),
            width: c.width.or(d.width),
            height: c.height.or(d.height),
            format: c.format.unwrap_or(d.format),
            quality: c.quality.unwrap_or(d.quality),
            pool_frames: c.pool_frames.unwrap_or(d.pool_frames),
            stall_timeout_s: c.stall_timeout_s.unwrap_or(d.stall_timeout_s),
            backoff_max_s: c.backoff_max_s.unwrap_or(d.backoff_max_s),
            decoder: c.decoder.unwrap_or(d.decoder),
            priority: c.priority.unwrap_or(d.priority),
            min_fps: c.min_fps.unwrap_or(d.min_fps),
        }
    }
}

/// Camera and device names become MQTT topic levels and file names.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid name: use 1-64 characters from A-Z a-z 0-9 - _ (it becomes an MQTT topic level)"
        ))
    }
}

fn validate_mqtt(m: &MqttConfig) -> Result<(), (&'static str, String)> {
    let url = url::Url::parse(&m.url)
        .map_err(|e| ("url", format!("not a URL ({e}): expected mqtt://host:port")))?;
    if !matches!(url.scheme(), "mqtt" | "mqtts" | "tcp" | "ssl") {
        return Err((
            "url",
            format!(
                "scheme {:?} is not supported: use mqtt:// or mqtts://",
                url.scheme()
            ),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(("url", "the URL has no host".into()));
    }
    if m.password.is_some() && m.password_file.is_some() {
        return Err((
            "password_file",
            "set either password or password_file, not both".into(),
        ));
    }
    if m.topic_prefix.is_empty()
        || m.topic_prefix.contains(['+', '#'])
        || m.topic_prefix.ends_with('/')
    {
        return Err((
            "topic_prefix",
            "must be non-empty, without wildcards (+ #) or a trailing /".into(),
        ));
    }
    if !(0.5..=3600.0).contains(&m.stats_interval_s) {
        return Err((
            "stats_interval_s",
            "must be between 0.5 and 3600 seconds".into(),
        ));
    }
    if !(5..=3600).contains(&m.keep_alive_s) {
        return Err(("keep_alive_s", "must be between 5 and 3600 seconds".into()));
    }
    if !(64 * 1024..=256 * 1024 * 1024).contains(&m.max_packet_bytes) {
        return Err((
            "max_packet_bytes",
            "must be between 65536 and 268435456".into(),
        ));
    }
    if !(1..=100_000).contains(&m.queue_frames) {
        return Err(("queue_frames", "must be between 1 and 100000".into()));
    }
    Ok(())
}

fn check_priority(priority: u8, min_fps: f64) -> Result<(), (&'static str, String)> {
    if priority > 10 {
        return Err((
            "priority",
            format!("priority must be between 0 and 10, got {priority}"),
        ));
    }
    if !(0.01..=FPS_RANGE.1).contains(&min_fps) {
        return Err((
            "min_fps",
            format!(
                "min_fps must be between 0.01 and {}, got {min_fps}",
                FPS_RANGE.1
            ),
        ));
    }
    Ok(())
}

/// Range checks shared by `[defaults]`, `[[camera]]` and MQTT commands.
pub fn validate_values(
    fps: f64,
    width: Option<u32>,
    height: Option<u32>,
    quality: u8,
    pool_frames: usize,
) -> Result<(), (&'static str, String)> {
    if !(FPS_RANGE.0..=FPS_RANGE.1).contains(&fps) {
        return Err((
            "fps",
            format!(
                "fps must be between {} and {}, got {fps}",
                FPS_RANGE.0, FPS_RANGE.1
            ),
        ));
    }
    for (k, v) in [("width", width), ("height", height)] {
        if let Some(v) = v
            && (!(16..=MAX_DIMENSION).contains(&v) || v % 2 != 0)
        {
            return Err((
                k,
                format!("{k} must be an even number between 16 and {MAX_DIMENSION}, got {v}"),
            ));
        }
    }
    if !(1..=100).contains(&quality) {
        return Err((
            "quality",
            format!("quality must be between 1 and 100, got {quality}"),
        ));
    }
    if !(1..=64).contains(&pool_frames) {
        return Err((
            "pool_frames",
            format!("pool_frames must be between 1 and 64, got {pool_frames}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
