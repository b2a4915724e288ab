//! Parsing MQTT commands: from untrusted bytes to a checked request, or an
//! error message fit to send back. Pure, so every malformed input is tested
//! without a broker.

use serde::Deserialize;

use crate::config::{self, CameraConfig, OutputFormat};

/// Commands larger than this are refused unread.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// `<prefix>/<device>/<camera>/set`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSet {
    pub fps: Option<f64>,
    pub enabled: Option<bool>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: Option<OutputFormat>,
    pub quality: Option<u8>,
    /// `true` releases a manual pin: the pressure controller may adapt the
    /// camera again. `false` pins it as it is.
    pub auto: Option<bool>,
}

/// `<prefix>/<device>/set`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum DeviceSet {
    /// Same schema as a `[[camera]]` table.
    AddCamera(Box<CameraConfig>),
    RemoveCamera(String),
    /// Re-read the configuration file and apply the differences.
    Reload(bool),
}

/// Parses a JSON object from a payload, with messages a person can act on.
fn parse<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, String> {
    if payload.len() > MAX_COMMAND_BYTES {
        return Err(format!(
            "command too large: {} bytes (limit {MAX_COMMAND_BYTES})",
            payload.len()
        ));
    }
    let text =
        std::str::from_utf8(payload).map_err(|e| format!("command is not valid UTF-8: {e}"))?;
    if text.trim().is_empty() {
        return Err("empty command: expected a JSON object".into());
    }
    serde_json::from_str(text).map_err(|e| format!("invalid command: {e}"))
}

pub fn parse_camera_set(payload: &[u8]) -> Result<CameraSet, String> {
    let set: CameraSet = parse(payload)?;
    if set == CameraSet::default() {
        return Err("empty command: give at least one of fps, enabled, width, height, format, quality, auto".into());
    }
    if let Some(fps) = set.fps {
        config::validate_values(fps, None, None, 80, 1).map_err(|(_, m)| m)?;
    }
    config::validate_values(
        config::FPS_RANGE.0,
        set.width,
        set.height,
        set.quality.unwrap_or(80),
        1,
    )
    .map_err(|(_, m)| m)?;
    Ok(set)
}

pub fn parse_device_set(payload: &[u8]) -> Result<DeviceSet, String> {
    let set: DeviceSet = parse(payload)?;
    if set == DeviceSet::Reload(false) {
        return Err("reload must be true".into());
    }
    Ok(set)
}

/// A snapshot request carries no body, but a non-empty one must be `{}`.
pub fn parse_snapshot(payload: &[u8]) -> Result<(), String> {
    if payload.is_empty() {
        return Ok(());
    }
    let _: serde_json::Map<String, serde_json::Value> = parse(payload)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_commands() {
        assert_eq!(parse_camera_set(br#"{"fps":2}"#).unwrap().fps, Some(2.0));
        assert_eq!(
            parse_camera_set(br#"{"enabled":false}"#).unwrap().enabled,
            Some(false)
        );
        let s = parse_camera_set(br#"{"width":640,"height":360}"#).unwrap();
        assert_eq!((s.width, s.height), (Some(640), Some(360)));
        let s = parse_camera_set(br#"{"format":"jpeg","quality":70}"#).unwrap();
        assert_eq!((s.format, s.quality), (Some(OutputFormat::Jpeg), Some(70)));
        assert_eq!(
            parse_camera_set(br#"{"auto":true}"#).unwrap().auto,
            Some(true)
        );
        assert!(matches!(
            parse_device_set(br#"{"add_camera":{"name":"c9","source":"synthetic:"}}"#),
            Ok(DeviceSet::AddCamera(_))
        ));
        assert_eq!(
            parse_device_set(br#"{"remove_camera":"c9"}"#),
            Ok(DeviceSet::RemoveCamera("c9".into()))
        );
        assert_eq!(
            parse_device_set(br#"{"reload":true}"#),
            Ok(DeviceSet::Reload(true))
        );
        assert!(parse_snapshot(b"").is_ok() && parse_snapshot(b"{}").is_ok());
    }

    /// The malformed-command corpus (the same one goes through a real broker
    /// in tests/control_plane.rs).
    pub const MALFORMED: &[(&[u8], &str)] = &[
        (br#"{"fps":0}"#, "fps must be between 0.1 and 60"),
        (br#"{"fps":61}"#, "fps must be between 0.1 and 60"),
        (br#"{"fps":"fast"}"#, "invalid type"),
        (br#"{"fps":null}"#, "empty command"),
        (br#"{"fsp":2}"#, "unknown field `fsp`"),
        (br#"{"width":641}"#, "width must be an even number"),
        (br#"{"height":-2}"#, "invalid value"),
        (br#"{"quality":101}"#, "quality must be between 1 and 100"),
        (br#"{"format":"png"}"#, "unknown variant `png`"),
        (br#"{"enabled":"no"}"#, "invalid type"),
        (br#"{}"#, "empty command"),
        (b"", "empty command"),
        (b"fps=2", "invalid command"),
        (br#"{"fps":2"#, "invalid command"),
        (br#"[{"fps":2}]"#, "invalid type"),
        (b"\xff\xfe{}", "not valid UTF-8"),
    ];

    #[test]
    fn malformed_commands_get_clear_errors() {
        for (payload, expected) in MALFORMED {
            let err = parse_camera_set(payload).expect_err(&String::from_utf8_lossy(payload));
            assert!(
                err.contains(expected),
                "{:?}: {err}",
                String::from_utf8_lossy(payload)
            );
        }
        let big = vec![b' '; MAX_COMMAND_BYTES + 1];
        assert!(parse_camera_set(&big).unwrap_err().contains("too large"));
        assert!(parse_device_set(br#"{"reload":false}"#).is_err());
        assert!(
            parse_device_set(br#"{"add_camera":{"name":"x"}}"#)
                .unwrap_err()
                .contains("missing field `source`")
        );
        assert!(
            parse_device_set(br#"{"explode":true}"#)
                .unwrap_err()
                .contains("unknown variant")
        );
        assert!(parse_snapshot(b"[1]").is_err());
    }
}
