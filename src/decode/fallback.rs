//! A preferred decoder first, openh264 when it fails for good.
//!
//! Hardware decoders (V4L2 M2M) and GStreamer pipelines open lazily, on the
//! decode thread, at the camera's first unit. If opening fails, or the
//! decoder fails later in a way it cannot recover from (the device
//! vanished, it stopped producing pictures, the GStreamer element is not
//! installed), the camera switches to openh264 for good, logs why, and its
//! status shows the new decoder. Per-picture corruption is not a reason to
//! switch: software decoders see the same broken bitstream.

use std::fmt;

use super::openh264::OpenH264;
use super::{DecodeError, Decoder, Picture};

/// Why a preferred decoder could not decode a unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub message: String,
    /// The decoder cannot go on: fall back to software.
    pub fatal: bool,
}

impl Failure {
    pub fn fatal(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            fatal: true,
        }
    }

    pub fn transient(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            fatal: false,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A decoder that may fail for good. Two steps (queue a unit, then borrow
/// the picture) so that a failure can replace it without a borrow of it
/// outstanding.
pub trait Preferred: Send {
    fn describe(&self) -> &str;

    /// Queues one access unit; true when a picture is ready for
    /// [`Preferred::picture`].
    fn submit(&mut self, unit: &[u8]) -> Result<bool, Failure>;

    /// The picture the last successful `submit` made ready.
    fn picture(&self) -> Option<Picture<'_>>;

    /// A new stream follows: drop everything queued.
    fn flush(&mut self) -> Result<(), Failure>;

    /// Units it dropped (without a picture) since the last call, because
    /// it fell behind.
    fn take_lost(&mut self) -> u64 {
        0
    }
}

/// Opens the preferred decoder. A function so tests can stand in for it.
pub type Opener = Box<dyn Fn() -> Result<Box<dyn Preferred>, Failure> + Send>;

enum Backend {
    /// Not opened yet.
    Pending,
    Preferred(Box<dyn Preferred>),
    Software(OpenH264),
}

pub struct WithFallback {
    camera: String,
    /// What the preferred decoder is, e.g. `v4l2m2m /dev/video10`.
    label: String,
    open: Opener,
    backend: Backend,
    description: String,
    revision: u64,
    /// Why the preferred decoder is not used, once it is not.
    fallback_reason: Option<String>,
}

impl WithFallback {
    pub fn new(camera: &str, label: String, open: Opener) -> Self {
        WithFallback {
            camera: camera.to_string(),
            description: format!("{label} (H.264, opens at the first frame)"),
            label,
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
            "{} failed, switching to software (openh264): {reason}",
            self.label
        );
        self.backend = Backend::Software(OpenH264::new()?);
        self.description = format!("openh264 (software; {} failed: {reason})", self.label);
        self.fallback_reason = Some(reason);
        self.revision += 1;
        Ok(())
    }
}

impl Decoder for WithFallback {
    fn describe(&self) -> &str {
        &self.description
    }

    fn revision(&self) -> u64 {
        self.revision
    }

    fn decode<'a>(&'a mut self, unit: &'a [u8]) -> Result<Option<Picture<'a>>, DecodeError> {
        if matches!(self.backend, Backend::Pending) {
            match (self.open)() {
                Ok(preferred) => {
                    tracing::info!(camera = %self.camera, "decoding with {}", preferred.describe());
                    self.description = preferred.describe().to_string();
                    self.revision += 1;
                    self.backend = Backend::Preferred(preferred);
                }
                Err(e) => self.fall_back(format!("cannot open it: {e}"))?,
            }
        }
        if let Backend::Preferred(preferred) = &mut self.backend {
            match preferred.submit(unit) {
                Ok(false) => return Ok(None),
                Ok(true) => {
                    let Backend::Preferred(preferred) = &self.backend else {
                        unreachable!()
                    };
                    return Ok(preferred.picture());
                }
                Err(e) if e.fatal => {
                    self.fall_back(e.message)?;
                    // The software decoder needs a keyframe; this unit may
                    // not be one, in which case it reports an error and the
                    // pacer waits for the next keyframe.
                }
                Err(e) => return Err(DecodeError(e.message)),
            }
        }
        match &mut self.backend {
            Backend::Software(sw) => sw.decode(unit),
            _ => Err(DecodeError("no decoder".into())),
        }
    }

    fn take_lost(&mut self) -> u64 {
        match &mut self.backend {
            Backend::Preferred(preferred) => preferred.take_lost(),
            _ => 0,
        }
    }

    fn reset(&mut self) {
        if let Backend::Preferred(preferred) = &mut self.backend
            && let Err(e) = preferred.flush()
        {
            let _ = self.fall_back(format!("flush after a reconnect failed: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoder_that_cannot_open_falls_back_with_the_reason() {
        let mut d = WithFallback::new(
            "cam0",
            "v4l2m2m /dev/video10".into(),
            Box::new(|| {
                Err(Failure::fatal(
                    "/dev/video10: VIDIOC_S_FMT(OUTPUT, H264): vicodec does not decode H.264: it offered FWHT instead",
                ))
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
                .starts_with("openh264 (software; v4l2m2m /dev/video10 failed"),
            "{}",
            d.describe()
        );
        assert!(
            d.fallback_reason().unwrap().contains("offered FWHT"),
            "{:?}",
            d.fallback_reason()
        );
    }

    /// Stands in for a decoder that works, then fails for good.
    struct FailsAfter(u32);

    impl Preferred for FailsAfter {
        fn describe(&self) -> &str {
            "flaky"
        }
        fn submit(&mut self, _unit: &[u8]) -> Result<bool, Failure> {
            if self.0 == 0 {
                return Err(Failure::fatal("device vanished"));
            }
            self.0 -= 1;
            Err(Failure::transient("corrupt picture"))
        }
        fn picture(&self) -> Option<Picture<'_>> {
            None
        }
        fn flush(&mut self) -> Result<(), Failure> {
            Ok(())
        }
    }

    #[test]
    fn transient_errors_are_reported_and_a_fatal_one_switches_to_software() {
        let mut d = WithFallback::new(
            "cam0",
            "gstreamer flaky".into(),
            Box::new(|| Ok(Box::new(FailsAfter(2)) as Box<dyn Preferred>)),
        );
        let spec = crate::source::synthetic::SyntheticSpec::parse("160x96@10").unwrap();
        let clip = crate::source::synthetic::clip(spec).unwrap();
        let key = &clip.units[0].0;
        for _ in 0..2 {
            let e = d.decode(key).unwrap_err();
            assert_eq!(e.0, "corrupt picture");
        }
        assert_eq!(d.describe(), "flaky");
        let pic = d.decode(key).unwrap().unwrap();
        assert_eq!((pic.width, pic.height), (160, 96));
        assert_eq!(
            d.describe(),
            "openh264 (software; gstreamer flaky failed: device vanished)"
        );
    }
}
