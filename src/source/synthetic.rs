//! The built-in test camera: a moving pattern with the frame number painted
//! in as a barcode, H.264-encoded at start-up with openh264 and played in
//! real time. It exercises exactly the path an RTSP camera takes from the
//! pacer on, so `edgecam demo` runs the real pipeline with no camera at all.
//!
//! Barcode: the top tenth of the picture is split into 16 equal blocks;
//! block `i` is white when bit `i` of the frame number (within the clip) is
//! set. It survives scaling and JPEG, so tests can check that a published
//! picture is the frame it claims to be.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use openh264::OpenH264API;
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod};
use openh264::formats::YUVBuffer;
use tokio::sync::watch;

use crate::camera::{CameraShared, CameraState};
use crate::clock::now_ns;
use crate::pace::FrameKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyntheticSpec {
    pub width: usize,
    pub height: usize,
    pub fps: u32,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            width: 640,
            height: 360,
            fps: 15,
        }
    }
}

impl SyntheticSpec {
    /// `""` or `WxH@FPS` / `WxH`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut spec = SyntheticSpec::default();
        if text.is_empty() {
            return Ok(spec);
        }
        let bad = || {
            format!(
                "synthetic source {text:?}: expected synthetic:WIDTHxHEIGHT[@FPS], e.g. synthetic:640x360@15"
            )
        };
        let (size, fps) = match text.split_once('@') {
            Some((s, f)) => (s, Some(f)),
            None => (text, None),
        };
        let (w, h) = size.split_once('x').ok_or_else(bad)?;
        spec.width = w.parse().map_err(|_| bad())?;
        spec.height = h.parse().map_err(|_| bad())?;
        if let Some(f) = fps {
            spec.fps = f.parse().map_err(|_| bad())?;
        }
        let ok = (32..=3840).contains(&spec.width)
            && (32..=2160).contains(&spec.height)
            && spec.width % 16 == 0
            && spec.height % 2 == 0
            && (1..=60).contains(&spec.fps);
        if !ok {
            return Err(format!(
                "synthetic source {text:?}: width a multiple of 16 in 32..3840, even height in 32..2160, fps 1..60"
            ));
        }
        Ok(spec)
    }

    /// Keyframe every two seconds, like a typical IP camera.
    pub fn gop(&self) -> usize {
        self.fps as usize * 2
    }

    /// Frames in the loop: four GOPs.
    pub fn clip_frames(&self) -> usize {
        self.gop() * 4
    }
}

impl fmt::Display for SyntheticSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "synthetic:{}x{}@{}", self.width, self.height, self.fps)
    }
}

/// An encoded clip: access units (Annex B) and whether each is a keyframe.
pub struct Clip {
    pub units: Vec<(Vec<u8>, FrameKind)>,
}

/// Encodes (once per spec, shared by all cameras using it) the looping clip,
/// waiting for all of it.
pub fn clip(spec: SyntheticSpec) -> anyhow::Result<Arc<Clip>> {
    let growing = GrowingClip::start(spec);
    let mut units = Vec::with_capacity(growing.total);
    for n in 0..growing.total {
        units.push(growing.wait_unit(n).map_err(|e| anyhow::anyhow!(e))?);
    }
    Ok(Arc::new(Clip { units }))
}

/// A clip that is still being encoded: playback starts with its first unit
/// instead of waiting for the whole loop (the demo's first frame is out in
/// a fraction of a second even at 720p). Shared by every camera with the
/// same spec.
pub struct GrowingClip {
    units: Mutex<Vec<(Vec<u8>, FrameKind)>>,
    grown: std::sync::Condvar,
    failed: Mutex<Option<String>>,
    total: usize,
}

impl GrowingClip {
    /// The clip for `spec`, encoding it on a thread of its own the first time.
    pub fn start(spec: SyntheticSpec) -> Arc<GrowingClip> {
        static CLIPS: OnceLock<Mutex<HashMap<SyntheticSpec, Arc<GrowingClip>>>> = OnceLock::new();
        let mut cache = CLIPS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(&spec) {
            return Arc::clone(c);
        }
        let clip = Arc::new(GrowingClip {
            units: Mutex::new(Vec::with_capacity(spec.clip_frames())),
            grown: std::sync::Condvar::new(),
            failed: Mutex::new(None),
            total: spec.clip_frames(),
        });
        cache.insert(spec, Arc::clone(&clip));
        let filling = Arc::clone(&clip);
        let spawned = std::thread::Builder::new()
            .name("synthetic-encode".into())
            .spawn(move || {
                if let Err(e) = encode(spec, |unit| {
                    filling
                        .units
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(unit);
                    filling.grown.notify_all();
                }) {
                    *filling.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                    filling.grown.notify_all();
                }
            });
        if let Err(e) = spawned {
            *clip.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
        }
        clip
    }

    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Calls `f` with unit `n` if it is encoded yet; `Err` if encoding failed.
    pub fn try_with_unit<R>(
        &self,
        n: usize,
        f: impl FnOnce(&[u8], FrameKind) -> R,
    ) -> Result<Option<R>, String> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        let units = self.units.lock().unwrap_or_else(|e| e.into_inner());
        Ok(units.get(n).map(|(data, kind)| f(data, *kind)))
    }

    /// Why encoding failed, if it did.
    fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn wait_unit(&self, n: usize) -> Result<(Vec<u8>, FrameKind), String> {
        let mut units = self.units.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(u) = units.get(n) {
                return Ok(u.clone());
            }
            if let Some(e) = self.failure() {
                return Err(e);
            }
            units = self.grown.wait(units).unwrap_or_else(|e| e.into_inner());
        }
    }
}

fn encode(spec: SyntheticSpec, mut emit: impl FnMut((Vec<u8>, FrameKind))) -> anyhow::Result<()> {
    let config = EncoderConfig::new()
        .bitrate(BitRate::from_bps(
            (spec.width * spec.height * spec.fps as usize / 8) as u32,
        ))
        .max_frame_rate(FrameRate::from_hz(spec.fps as f32))
        .intra_frame_period(IntraFramePeriod::from_num_frames(spec.gop() as u32));
    let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), config)?;
    let mut yuv = vec![0u8; spec.width * spec.height * 3 / 2];
    for n in 0..spec.clip_frames() {
        paint(&mut yuv, spec.width, spec.height, n);
        if n > 0 && n % spec.gop() == 0 {
            encoder.force_intra_frame();
        }
        let frame = YUVBuffer::from_vec(yuv.clone(), spec.width, spec.height);
        let bitstream = encoder.encode(&frame)?;
        let kind = match bitstream.frame_type() {
            FrameType::IDR | FrameType::I => FrameKind::Keyframe,
            _ => FrameKind::Reference,
        };
        emit((bitstream.to_vec(), kind));
    }
    Ok(())
}

/// Paints frame `n`: a diagonal gradient moving 4 px per frame, the
/// barcode of `n` on top, neutral chroma with a slow colour wash.
pub fn paint(yuv: &mut [u8], width: usize, height: usize, n: usize) {
    let (luma, chroma) = yuv.split_at_mut(width * height);
    let band = height / 10;
    for y in 0..height {
        let row = &mut luma[y * width..(y + 1) * width];
        if y < band {
            for (x, px) in row.iter_mut().enumerate() {
                let bit = x * 16 / width;
                *px = if (n >> bit) & 1 == 1 { 235 } else { 16 };
            }
        } else {
            for (x, px) in row.iter_mut().enumerate() {
                *px = (((x + y + n * 4) % 256) as u8 / 2).saturating_add(48);
            }
        }
    }
    let (cw, ch) = (width / 2, height / 2);
    let (u, v) = chroma.split_at_mut(cw * ch);
    for y in 0..ch {
        for x in 0..cw {
            let i = y * cw + x;
            let in_band = y * 2 < band;
            u[i] = if in_band {
                128
            } else {
                (96 + (x + n) % 64) as u8
            };
            v[i] = if in_band {
                128
            } else {
                (96 + (y + n) % 64) as u8
            };
        }
    }
}

/// Reads the barcode of a decoded (possibly scaled, JPEG'd) luma plane.
pub fn read_barcode(luma: &[u8], width: usize, height: usize) -> u16 {
    let band = (height / 10).max(1);
    let y = band / 2;
    let mut n = 0u16;
    for bit in 0..16 {
        let x0 = bit * width / 16;
        let x1 = (bit + 1) * width / 16;
        let (a, b) = (x0 + (x1 - x0) / 4, x1 - (x1 - x0) / 4);
        let sum: u32 = luma[y * width + a..y * width + b]
            .iter()
            .map(|&p| u32::from(p))
            .sum();
        if sum / (b - a) as u32 > 128 {
            n |= 1 << bit;
        }
    }
    n
}

/// Plays the clip in a loop in real time, from its first encoded unit on.
pub async fn run(shared: Arc<CameraShared>, spec: SyntheticSpec, mut stop: watch::Receiver<bool>) {
    let clip = GrowingClip::start(spec);
    shared.set_state(CameraState::Online, None);
    let frame_ns = 1_000_000_000 / i64::from(spec.fps);
    let mut ticker = tokio::time::interval(Duration::from_nanos(frame_ns as u64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let start_ns = now_ns();
    for n in 0u64.. {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let stream_ns = n as i64 * frame_ns;
        let offer =
            |data: &[u8], kind| shared.offer_unit(&[data], kind, stream_ns, start_ns + stream_ns);
        loop {
            // Encoding runs far ahead of real time; only the first units may
            // need a moment.
            match clip.try_with_unit((n as usize) % clip.len(), offer) {
                Ok(Some(())) => break,
                Ok(None) => tokio::time::sleep(Duration::from_millis(2)).await,
                Err(e) => {
                    return shared
                        .set_state(CameraState::Error, Some(format!("synthetic clip: {e}")));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barcode_round_trips_through_paint() {
        let (w, h) = (320, 180);
        let mut yuv = vec![0u8; w * h * 3 / 2];
        for n in [0usize, 1, 5, 255, 1000, 40000] {
            paint(&mut yuv, w, h, n);
            assert_eq!(read_barcode(&yuv[..w * h], w, h), n as u16);
        }
    }

    #[test]
    fn spec_parsing() {
        assert_eq!(SyntheticSpec::parse("").unwrap(), SyntheticSpec::default());
        let s = SyntheticSpec::parse("1280x720@30").unwrap();
        assert_eq!((s.width, s.height, s.fps, s.gop()), (1280, 720, 30, 60));
        assert!(SyntheticSpec::parse("1281x720").is_err());
        assert!(SyntheticSpec::parse("640x360@0").is_err());
    }

    #[test]
    fn clip_has_a_keyframe_per_gop() {
        let spec = SyntheticSpec::parse("160x96@10").unwrap();
        let clip = clip(spec).unwrap();
        assert_eq!(clip.units.len(), spec.clip_frames());
        let keys: Vec<_> = clip
            .units
            .iter()
            .enumerate()
            .filter(|(_, u)| u.1 == FrameKind::Keyframe)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(keys, vec![0, 20, 40, 60]);
    }
}
