//! One streaming session of a V4L2 capture device.
//!
//! Open → check it is a capture node → choose the mode ([`super::formats`])
//! → S_FMT → S_PARM (frame interval) → MMAP buffers → STREAMON → for each
//! frame: hand it to the pacer (which copies it into the ingest ring only if
//! it is to be decoded) and give the buffer straight back to the driver.
//!
//! Frames carry the driver's capture timestamp (CLOCK_MONOTONIC), mapped to
//! wall-clock time once per session, so `ts_ns` is when the sensor
//! delivered the frame, not when edgecam got round to it. MMAP rather than
//! DMABUF: the frame is copied once into the ingest ring either way (the
//! decode thread must not hold driver buffers while it works), so exporting
//! buffers would save nothing here.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;
use v4l2r::bindings;
use v4l2r::ioctl;

use super::formats::{self, Choice, Want};
use crate::camera::{CameraShared, CameraState};
use crate::decode::capture::CaptureFormat;
use crate::pace::FrameKind;
use crate::v4l2::buffers::{Dequeue, MmapBuffers};
use crate::v4l2::node::{self, NodeKind};
use crate::v4l2::{Device, Format, PixelFormat, QueueType, V4l2Error, queue_types};

const CAPTURE_BUFFERS: u32 = 4;

/// How a session ended.
#[derive(Debug)]
pub enum Ended {
    Stopped,
    /// The camera's settings changed so that another capture mode fits
    /// better (a higher rate than the camera was asked for, another output
    /// size or format): start again at once.
    Reconfigure(String),
    /// The device went away (unplugged, driver unbound).
    Gone(String),
    Failed {
        error: String,
        delivered: bool,
    },
    /// The device cannot be used as configured: retry rarely.
    Unsupported(String),
}

impl From<V4l2Error> for Ended {
    fn from(e: V4l2Error) -> Self {
        if e.is_gone() {
            Ended::Gone(format!("unplugged: {e}"))
        } else {
            Ended::Failed {
                error: e.to_string(),
                delivered: false,
            }
        }
    }
}

/// Streams `devnode` into the camera until stopped, unplugged or failed.
pub async fn stream(
    shared: &CameraShared,
    devnode: &Path,
    want: &impl Fn(&CameraShared) -> Want,
    stall: Duration,
    plugs: &mut Option<watch::Receiver<u64>>,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let wanted = want(shared);
    let mut session = match Session::open(devnode, &wanted) {
        Ok(s) => s,
        Err(e) => return e,
    };
    tracing::info!(camera = %shared.name, device = %devnode.display(), "capturing {}", session.choice.why);
    // SAFETY: the descriptor belongs to `session`, which outlives `fd`
    // (declared after it, so dropped, and deregistered, first).
    let fd = match unsafe {
        AsyncFd::register_with_interest(session.dev.as_raw_fd(), Interest::READABLE)
    } {
        Ok(fd) => fd,
        Err(e) => {
            return Ended::Failed {
                error: format!("{}: cannot watch the device: {e}", devnode.display()),
                delivered: false,
            };
        }
    };
    let node = super::node_name(devnode);
    let mut delivered = false;
    let mut last_frame = Instant::now();
    // Some drivers (v4l2loopback) only hook a poller into their wait queue
    // when nothing is ready at that moment, which epoll (registered once)
    // can miss: look every 100 ms as well, a syscall that costs nothing.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut settings_version = shared.settings_version();
    loop {
        // Settings changed (MQTT, pressure adaptation): does another mode fit?
        if shared.settings_version() != settings_version {
            settings_version = shared.settings_version();
            let now = want(shared);
            if now != wanted
                && let Some(why) = session.mode_change(&now)
            {
                return Ended::Reconfigure(why);
            }
        }
        let idle = stall.saturating_sub(last_frame.elapsed());
        let drained = tokio::select! {
            ready = fd.readable() => {
                let mut guard = match ready {
                    Ok(g) => g,
                    Err(e) => return Ended::Failed { error: format!("{}: {e}", devnode.display()), delivered },
                };
                let drained = session.drain(shared);
                guard.clear_ready();
                drained
            }
            _ = tick.tick() => session.drain(shared),
            _ = tokio::time::sleep(idle) => {
                // Silent for the stall timeout: gone, or stuck?
                if let Err(e) = session.dev.querycap() {
                    return ended_by(e, delivered);
                }
                return Ended::Failed {
                    error: format!("{}: no frame for {:.0} s; restarting the stream", devnode.display(), stall.as_secs_f64()),
                    delivered,
                };
            }
            _ = plug_event(plugs) => {
                // A node went away: was it ours? (Its sysfs entry is gone.)
                if let Some(n) = &node
                    && !Path::new("/sys/class/video4linux").join(n).exists()
                {
                    return Ended::Gone(format!("unplugged: {} was removed", devnode.display()));
                }
                Ok(0)
            }
            _ = stop.changed() => return Ended::Stopped,
        };
        match drained {
            Ok(0) => {}
            Ok(_) => {
                last_frame = Instant::now();
                if !delivered {
                    delivered = true;
                    shared.set_state(CameraState::Online, None);
                    tracing::info!(camera = %shared.name, device = %devnode.display(), "streaming");
                }
            }
            Err(e) => return ended_by(e, delivered),
        }
    }
}

fn ended_by(e: V4l2Error, delivered: bool) -> Ended {
    match Ended::from(e) {
        Ended::Failed { error, .. } => Ended::Failed { error, delivered },
        other => other,
    }
}

async fn plug_event(plugs: &mut Option<watch::Receiver<u64>>) {
    if let Some(rx) = plugs
        && rx.changed().await.is_ok()
    {
        return;
    }
    std::future::pending::<()>().await
}

/// An open, streaming capture device.
struct Session {
    /// What the camera offers (kept to re-choose when settings change).
    offers: Vec<formats::Offer>,
    choice: Choice,
    format: CaptureFormat,
    header: [u8; crate::decode::capture::HEADER_LEN],
    queue: QueueType,
    buffers: MmapBuffers,
    /// Wall clock minus CLOCK_MONOTONIC, ns, taken at STREAMON.
    mono_to_wall: i64,
    /// Declared last: unmapped before the descriptor closes.
    dev: Device,
}

impl Session {
    fn open(devnode: &Path, want: &Want) -> Result<Session, Ended> {
        let dev = Device::open(devnode)?;
        let cap = dev.querycap()?;
        let info = node::describe(devnode, &cap);
        if info.kind != NodeKind::Capture {
            return Err(Ended::Unsupported(format!(
                "{}: {} ({}) is not a video capture device (it is {:?})",
                devnode.display(),
                cap.card,
                cap.driver,
                info.kind
            )));
        }
        let (queue, _) = queue_types(info.multiplanar);
        let offers = formats::enumerate(&dev, queue);
        let mut choice = formats::choose(&offers, want)
            .map_err(|e| Ended::Unsupported(format!("{}: {e}", devnode.display())))?;
        let wanted = Format {
            width: choice.width,
            height: choice.height,
            pixelformat: PixelFormat::from(&choice.fourcc),
            plane_fmt: Vec::new(),
        };
        let what = format!(
            "VIDIOC_S_FMT(CAPTURE, {} {}x{})",
            formats::fourcc_str(&choice.fourcc),
            choice.width,
            choice.height
        );
        let got = dev.s_fmt(queue, &wanted)?;
        let fourcc: [u8; 4] = got.pixelformat.into();
        if fourcc != choice.fourcc || (got.width, got.height) != (choice.width, choice.height) {
            // Some devices (a loopback, a busy camera) keep their format.
            if !crate::decode::capture::supported(&fourcc) {
                return Err(Ended::Unsupported(format!(
                    "{}: {what}: the device kept {} {}x{}, which edgecam cannot read",
                    devnode.display(),
                    got.pixelformat,
                    got.width,
                    got.height
                )));
            }
            choice.why = format!(
                "{} {}x{} (the device kept it instead of {})",
                got.pixelformat, got.width, got.height, choice.why
            );
            choice.fourcc = fourcc;
            choice.width = got.width;
            choice.height = got.height;
        }
        if let Some(interval) = choice.interval {
            set_interval(&dev, queue, interval);
        }
        let format = CaptureFormat {
            fourcc,
            width: got.width,
            height: got.height,
            stride: got.plane_fmt.first().map_or(0, |p| p.bytesperline),
        };
        let mut buffers = MmapBuffers::allocate(&dev, queue, CAPTURE_BUFFERS)?;
        buffers.queue_all(&dev)?;
        ioctl::streamon(&dev, queue).map_err(|e| dev.fail("VIDIOC_STREAMON(CAPTURE)", e))?;
        Ok(Session {
            offers,
            choice,
            header: format.header(),
            format,
            queue,
            buffers,
            mono_to_wall: crate::clock::now_ns() - monotonic_ns(),
            dev,
        })
    }

    /// Why the camera should be reopened for `want`, if the mode it would
    /// get differs from the current one. A forced mode (the device kept its
    /// format) is left alone.
    fn mode_change(&self, want: &Want) -> Option<String> {
        let next = formats::choose(&self.offers, want).ok()?;
        let same = (next.fourcc, next.width, next.height, next.interval)
            == (
                self.choice.fourcc,
                self.choice.width,
                self.choice.height,
                self.choice.interval,
            );
        (!same).then(|| format!("settings changed: {} fits better", next.why))
    }

    /// Hands every finished frame to the pacer; returns how many.
    fn drain(&mut self, shared: &CameraShared) -> Result<usize, V4l2Error> {
        let mut frames = 0;
        loop {
            let d = match self.buffers.dequeue(&self.dev)? {
                Dequeue::Buffer(d) => d,
                Dequeue::NotReady | Dequeue::AfterLast => return Ok(frames),
            };
            let used = d.bytesused[0];
            if !d.has_error() && used > 0 {
                let data = &self.buffers.plane(d.index, 0)[..used];
                let (stream_ns, capture_ns) = self.times(d.timestamp_ns, d.monotonic());
                let kind = if &self.format.fourcc == b"H264" {
                    h264_kind(data)
                } else {
                    // Raw and MJPEG frames stand alone.
                    FrameKind::Keyframe
                };
                shared.offer_unit(&[&self.header, data], kind, stream_ns, capture_ns);
                frames += 1;
            } else if d.has_error() {
                // A corrupted transfer (USB bandwidth): skip the frame.
                shared.stats.dropped(crate::stats::DropReason::DecodeError);
            }
            self.buffers.queue(&self.dev, d.index, &[], 0)?;
        }
    }

    /// (stream time for the pacer, wall-clock capture time).
    fn times(&self, ts_ns: i64, monotonic: bool) -> (i64, i64) {
        let now_mono = monotonic_ns();
        // A driver that stamps with another clock (or not at all): use the
        // arrival time instead.
        if !monotonic || ts_ns <= 0 || (now_mono - ts_ns).abs() > 5_000_000_000 {
            return (now_mono, now_mono + self.mono_to_wall);
        }
        (ts_ns, ts_ns + self.mono_to_wall)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Stop the device before its buffers are unmapped (best effort: an
        // unplugged device answers ENODEV, and closing frees it anyway).
        let _ = ioctl::streamoff(&self.dev, self.queue);
    }
}

fn monotonic_ns() -> i64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(t) => t.tv_sec() * 1_000_000_000 + t.tv_nsec(),
        Err(_) => 0,
    }
}

/// Asks the camera for one frame per `interval` (VIDIOC_S_PARM): the
/// cheapest way to lower the rate is not to capture the frames at all.
fn set_interval(dev: &Device, queue: QueueType, (num, den): (u32, u32)) {
    let mut parm: bindings::v4l2_streamparm = match ioctl::g_parm(dev, queue) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(device = %dev.name(), "VIDIOC_G_PARM: {e}");
            return;
        }
    };
    // SAFETY: `capture` is the union member of a capture queue's parm.
    let capture = unsafe { &mut parm.parm.capture };
    if capture.capability & bindings::V4L2_CAP_TIMEPERFRAME == 0 {
        tracing::debug!(device = %dev.name(), "the camera has a fixed frame rate");
        return;
    }
    capture.timeperframe.numerator = num;
    capture.timeperframe.denominator = den;
    match ioctl::s_parm::<_, bindings::v4l2_streamparm>(dev, parm) {
        Ok(set) => {
            // SAFETY: as above.
            let t = unsafe { set.parm.capture.timeperframe };
            tracing::debug!(device = %dev.name(), "frame interval {}/{} s", t.numerator, t.denominator);
        }
        Err(e) => tracing::warn!(device = %dev.name(), "VIDIOC_S_PARM({num}/{den} s): {e}"),
    }
}

/// Keyframe if the access unit has an IDR slice; disposable if none of its
/// slices is a reference (`nal_ref_idc == 0`).
pub fn h264_kind(au: &[u8]) -> FrameKind {
    let mut idr = false;
    let mut reference = false;
    let mut i = 0;
    while i + 3 < au.len() {
        // Start code 00 00 01 (a 4-byte one ends the same way).
        if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
            let header = au[i + 3];
            match header & 0x1F {
                5 => idr = true,
                1 if header & 0x60 != 0 => reference = true,
                _ => {}
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    if idr {
        FrameKind::Keyframe
    } else if reference {
        FrameKind::Reference
    } else {
        FrameKind::Disposable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_units_are_classified_from_their_nal_headers() {
        let idr = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 0x88,
        ];
        assert_eq!(h264_kind(&idr), FrameKind::Keyframe);
        let p = [0, 0, 0, 1, 0x41, 0x9a];
        assert_eq!(h264_kind(&p), FrameKind::Reference);
        let b = [0, 0, 1, 0x01, 0x9e];
        assert_eq!(h264_kind(&b), FrameKind::Disposable);
    }
}
