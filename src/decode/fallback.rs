//! Hardware first, software when the hardware fails.
//!
//! A camera with a hardware H.264 decoder opens it lazily, on the decode
//! thread, at its first unit. If opening fails, or the decoder fails later
//! in a way it cannot recover from (the device vanished, it stopped
//! producing pictures), the camera switches to openh264 for good, logs why
//! with the device, and its status shows the new decoder. Per-picture
//! corruption is not a reason to switch: software decoders see the same
//! broken bitstream.

use std::path::PathBuf;

use super::openh264::OpenH264;
use super::v4l2m2m::{Codec, M2mDecoder, M2mError};
use super::{DecodeError, Decoder, Picture};

/// Opens the hardware decoder. A function so tests can stand in for it.
pub type OpenHardware = Box<dyn Fn() -> Result<M2mDecoder, M2mError> + Send>;

enum Backend {
    /// Not opened yet.
    Pending,
    Hardware(Box<M2mDecoder>),
    Software(OpenH264),
}

pub struct HardwareFirst {
    camera: String,
    device: PathBuf,
    open: OpenHardware,
    backend: Backend,
    description: String,
    revision: u64,
    /// Why the hardware is not used, once it is not.
    fallback_reason: Option<String>,
}

impl HardwareFirst {
    /// An H.264 decoder on `device`, falling back to openh264.
    pub fn h264(camera: &str, device: PathBuf) -> Self {
        let path = device.clone();
        Self::with_opener(
            camera,
            device,
            Box::new(move || M2mDecoder::open(&path, Codec::H264).map_err(M2mError::Device)),
        )
    }

    pub fn with_opener(camera: &str, device: PathBuf, open: OpenHardware) -> Self {
        HardwareFirst {
            camera: camera.to_string(),
            description: format!(
                "v4l2m2m {} (H.264, opens at the first frame)",
                device.display()
            ),
            device,
            open,
            backend: Backend::Pending,
            revision: 1,
            fallback_reason: None,
        }
    }

    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    fn fall_back(&mut self, reason: String) -> Result<(), DecodeError> {
        tracing::warn!(
            camera = %self.camera,
            device = %self.device.display(),
            "hardware decoder failed, switching to software (openh264): {reason}"
        );
        self.backend = Backend::Software(OpenH264::new()?);
        self.description = format!(
            "openh264 (software; v4l2m2m {} failed: {reason})",
            self.device.display()
        );
        self.fallback_reason = Some(reason);
        self.revision += 1;
        Ok(())
    }
}

impl Decoder for HardwareFirst {
    fn describe(&self) -> &str {
        &self.description
    }

    fn revision(&self) -> u64 {
        self.revision
    }

    fn decode<'a>(&'a mut self, unit: &'a [u8]) -> Result<Option<Picture<'a>>, DecodeError> {
        if matches!(self.backend, Backend::Pending) {
            match (self.open)() {
                Ok(hw) => {
                    tracing::info!(camera = %self.camera, "decoding with {}", hw.describe());
                    self.description = hw.describe().to_string();
                    self.revision += 1;
                    self.backend = Backend::Hardware(Box::new(hw));
                }
                Err(e) => self.fall_back(format!("cannot open it: {e}"))?,
            }
        }
        // Two steps (submit, then borrow the picture) so that a failure can
        // replace the backend without a borrow of it outstanding.
        if let Backend::Hardware(hw) = &mut self.backend {
            match hw.submit(unit) {
                Ok(None) => return Ok(None),
                Ok(Some(index)) => {
                    let Backend::Hardware(hw) = &self.backend else {
                        unreachable!()
                    };
                    return Ok(hw.picture(index));
                }
                Err(e) if e.is_fatal() => {
                    self.fall_back(e.to_string())?;
                    // The software decoder needs a keyframe; this unit may
                    // not be one, in which case it reports an error and the
                    // pacer waits for the next keyframe.
                }
                Err(e) => return Err(DecodeError(e.to_string())),
            }
        }
        match &mut self.backend {
            Backend::Software(sw) => sw.decode(unit),
            _ => Err(DecodeError("no decoder".into())),
        }
    }

    fn reset(&mut self) {
        match &mut self.backend {
            Backend::Hardware(hw) => {
                if let Err(e) = hw.flush() {
                    let _ = self.fall_back(format!("flush after a reconnect failed: {e}"));
                }
            }
            Backend::Software(_) | Backend::Pending => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v4l2::V4l2Error;

    #[test]
    fn a_decoder_that_cannot_open_falls_back_with_the_reason() {
        let mut d = HardwareFirst::with_opener(
            "cam0",
            PathBuf::from("/dev/video10"),
            Box::new(|| {
                Err(M2mError::Device(V4l2Error::new(
                    "/dev/video10",
                    "VIDIOC_S_FMT(OUTPUT, H264)",
                    "vicodec does not decode H.264: it offered FWHT instead",
                )))
            }),
        );
        let before = d.revision();
        // Decode a real keyframe: the synthetic clip's first unit.
        let spec = crate::source::synthetic::SyntheticSpec::parse("160x96@10").unwrap();
        let clip = crate::source::synthetic::clip(spec).unwrap();
        let pic = d.decode(&clip.units[0].0).unwrap().unwrap();
        assert_eq!((pic.width, pic.height), (160, 96));
        assert!(d.revision() > before);
        assert!(
            d.describe()
                .starts_with("openh264 (software; v4l2m2m /dev/video10 failed")
        );
        assert!(
            d.fallback_reason().unwrap().contains("offered FWHT"),
            "{:?}",
            d.fallback_reason()
        );
    }
}
