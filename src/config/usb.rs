//! `[decoder]` (the box's hardware decoder) and `[usb]` (cameras that
//! appear by themselves when plugged in). Documented in docs/config.md.

use serde::{Deserialize, Serialize};

use super::{CameraConfig, CameraSettings, Config, OutputFormat, validate_values};
use crate::source::v4l2::V4l2Spec;

/// `[decoder]`: which hardware decoder to use.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderConfig {
    /// The V4L2 M2M decoder node (e.g. `/dev/video10`) instead of probing
    /// for one; a board profile's `[decoder] device` fills it in otherwise.
    pub device: Option<String>,
    /// The GStreamer decoder element (e.g. `nvv4l2decoder`, `avdec_h264`)
    /// for the GStreamer build variant, instead of the first one found; a
    /// board profile's `[decoder] gst_element` fills it in otherwise.
    pub gst_element: Option<String>,
}

impl DecoderConfig {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Some(d) = &self.device
            && !d.starts_with("/dev/")
        {
            return Err((
                "device",
                format!("{d:?} is not a device node: expected /dev/videoN"),
            ));
        }
        if let Some(e) = &self.gst_element
            && (e.is_empty()
                || !e
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        {
            return Err((
                "gst_element",
                format!("{e:?} is not a GStreamer element name (letters, digits, _ and -)"),
            ));
        }
        Ok(())
    }
}

/// `[usb]`: every camera plugged in becomes a camera, named from its stable
/// id, with these settings (unset ones come from `[defaults]`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UsbConfig {
    #[serde(default)]
    pub auto: bool,
    /// Also capture devices that are not on USB (PCI capture cards, the
    /// kernel's vivid test driver).
    #[serde(default)]
    pub any_bus: bool,
    pub fps: Option<f64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub format: Option<OutputFormat>,
    pub quality: Option<u8>,
    /// Capture preferences, as after `?` in a `usb:` source:
    /// `"format=mjpeg&size=1280x720"`.
    pub capture: Option<String>,
}

impl UsbConfig {
    pub(super) fn validate(
        &self,
        defaults: &super::CameraDefaults,
    ) -> Result<(), (&'static str, String)> {
        validate_values(
            self.fps.unwrap_or(defaults.fps),
            self.width.or(defaults.width),
            self.height.or(defaults.height),
            self.quality.unwrap_or(defaults.quality),
            defaults.pool_frames,
        )?;
        if let Some(c) = &self.capture {
            V4l2Spec::parse(&format!("x?{c}"), true).map_err(|e| ("capture", e))?;
        }
        Ok(())
    }
}

impl Config {
    /// The settings of an automatic USB camera: source `usb:<stable_id>`,
    /// the `[usb]` template over `[defaults]`.
    pub fn usb_camera(&self, stable_id: &str, name: &str) -> CameraSettings {
        let usb = &self.usb;
        let source = match &usb.capture {
            Some(c) => format!("usb:{stable_id}?{c}"),
            None => format!("usb:{stable_id}"),
        };
        // Through TOML so that every other field takes its default.
        let mut camera: CameraConfig = toml::from_str(&format!(
            "name = {}\nsource = {}\n",
            toml::Value::from(name),
            toml::Value::from(source)
        ))
        .expect("a name and a source make a camera table");
        camera.fps = usb.fps;
        camera.width = usb.width;
        camera.height = usb.height;
        camera.format = usb.format;
        camera.quality = usb.quality;
        self.camera_settings_unchecked(&camera)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, OutputFormat};
    use crate::source::SourceSpec;

    const BASE: &str = "[device]\nid = \"box\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n";

    #[test]
    fn usb_template_fills_automatic_cameras() {
        let c = Config::parse(&format!(
            "{BASE}[defaults]\nquality = 70\n[usb]\nauto = true\nfps = 2\nwidth = 640\ncapture = \"format=mjpeg\"\n[decoder]\ndevice = \"/dev/video10\"\n"
        ))
        .unwrap();
        assert!(c.usb.auto);
        assert_eq!(c.decoder.device.as_deref(), Some("/dev/video10"));
        let s = c.usb_camera("usb-046d-082d-ABC", "usb-046d-082d-ABC");
        assert_eq!((s.fps, s.width, s.quality), (2.0, Some(640), 70));
        assert_eq!(s.format, OutputFormat::Jpeg);
        let SourceSpec::V4l2(spec) = &s.source else {
            panic!("{:?}", s.source)
        };
        assert_eq!(spec.to_string(), "usb:usb-046d-082d-ABC?format=mjpg");
    }

    #[test]
    fn usb_and_decoder_errors_name_key_and_line() {
        let e = Config::parse(&format!("{BASE}[usb]\nauto = true\nfps = 100\n")).unwrap_err();
        assert_eq!((e.key.as_str(), e.line), ("usb.fps", Some(7)));
        let e = Config::parse(&format!("{BASE}[usb]\ncapture = \"format=rgb\"\n")).unwrap_err();
        assert_eq!(e.key, "usb.capture");
        assert!(e.message.contains("rgb"), "{}", e.message);
        let e = Config::parse(&format!("{BASE}[decoder]\ndevice = \"video10\"\n")).unwrap_err();
        assert_eq!((e.key.as_str(), e.line), ("decoder.device", Some(6)));
        let e = Config::parse(&format!("{BASE}[usb]\nautomatic = true\n")).unwrap_err();
        assert!(e.to_string().contains("automatic"), "{e}");
    }

    #[test]
    fn v4l2_sources_are_accepted_in_cameras() {
        let c = Config::parse(&format!(
            "{BASE}[[camera]]\nname = \"desk\"\nsource = \"v4l2:/dev/video0?format=yuyv\"\n"
        ))
        .unwrap();
        assert!(matches!(c.camera_settings()[0].source, SourceSpec::V4l2(_)));
        let e = Config::parse(&format!(
            "{BASE}[[camera]]\nname = \"desk\"\nsource = \"v4l2:video0\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.key, "camera[0].source");
    }
}
