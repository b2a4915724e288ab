//! V4L2 plumbing shared by USB capture ([`crate::source::v4l2`]) and the
//! M2M hardware decoder ([`crate::decode::v4l2m2m`]).
//!
//! Built on `v4l2r`'s ioctl layer rather than its queue objects: those
//! allocate on every queue and dequeue (a `Vec` of planes per `QBUF`, an
//! `Arc` per dequeued buffer), and both the capture loop and the decode
//! thread must not allocate per frame. [`buffers::MmapBuffers`] does the
//! same job with fixed storage.
//!
//! Every error names the device node and the ioctl that failed, because the
//! person reading it is looking at a box with several `/dev/video*` nodes.

pub mod buffers;
pub mod node;

use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use v4l2r::ioctl::{Capability, IntoErrno};

pub use v4l2r::{Format, PixelFormat, QueueType};

/// What went wrong on which device, in words for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4l2Error {
    pub device: String,
    /// The operation, e.g. `VIDIOC_S_FMT(OUTPUT, H264)`.
    pub what: String,
    pub detail: String,
    /// The errno of the failed call, 0 when the failure was not a syscall.
    pub errno: i32,
}

impl V4l2Error {
    /// The device went away (unplugged, driver unbound): `ENODEV` from any
    /// ioctl on an open node, `ENOENT` when opening a node that is gone.
    pub fn is_gone(&self) -> bool {
        matches!(self.errno, libc::ENODEV | libc::ENXIO | libc::ENOENT)
    }

    pub fn new(device: &str, what: impl Into<String>, detail: impl Into<String>) -> Self {
        V4l2Error {
            device: device.to_string(),
            what: what.into(),
            detail: detail.into(),
            errno: 0,
        }
    }
}

impl fmt::Display for V4l2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.device, self.what, self.detail)
    }
}

impl std::error::Error for V4l2Error {}

/// An open V4L2 node (non-blocking: every wait is an explicit poll with a
/// timeout, so nothing can hang on a device that stopped answering).
#[derive(Debug)]
pub struct Device {
    file: File,
    path: PathBuf,
    shown: String,
}

impl Device {
    pub fn open(path: &Path) -> Result<Device, V4l2Error> {
        let shown = path.display().to_string();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| V4l2Error {
                device: shown.clone(),
                what: "open".into(),
                detail: e.to_string(),
                errno: e.raw_os_error().unwrap_or(0),
            })?;
        Ok(Device {
            file,
            path: path.to_path_buf(),
            shown,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path as shown in logs and errors.
    pub fn name(&self) -> &str {
        &self.shown
    }

    /// Wraps a failed ioctl into an error naming this device.
    pub fn fail<E: fmt::Display + IntoErrno>(&self, what: impl Into<String>, e: E) -> V4l2Error {
        let detail = e.to_string();
        V4l2Error {
            device: self.shown.clone(),
            what: what.into(),
            detail,
            errno: e.into_errno(),
        }
    }

    pub fn error(&self, what: impl Into<String>, detail: impl Into<String>) -> V4l2Error {
        V4l2Error::new(&self.shown, what, detail)
    }

    /// `VIDIOC_S_FMT`: returns the format the driver settled on (it adjusts
    /// what it cannot do rather than failing).
    pub fn s_fmt(&self, queue: QueueType, format: &Format) -> Result<Format, V4l2Error> {
        let mut fd = self.file.as_raw_fd();
        v4l2r::ioctl::s_fmt(&mut fd, (queue, format)).map_err(|e| {
            self.fail(
                format!(
                    "VIDIOC_S_FMT({}, {})",
                    queue_name(queue),
                    describe_format(format)
                ),
                e,
            )
        })
    }

    pub fn querycap(&self) -> Result<Capability, V4l2Error> {
        v4l2r::ioctl::querycap(self).map_err(|e| self.fail("VIDIOC_QUERYCAP", e))
    }

    /// Waits up to `timeout` for any of `events`; returns what is ready
    /// (empty on timeout). `POLLERR`/`POLLHUP` are always reported.
    pub fn wait(&self, events: PollFlags, timeout: Duration) -> Result<PollFlags, V4l2Error> {
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(self.file.as_fd(), events)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => Ok(PollFlags::empty()),
            Ok(_) => Ok(fds[0].revents().unwrap_or(PollFlags::empty())),
            Err(nix::errno::Errno::EINTR) => Ok(PollFlags::empty()),
            Err(e) => Err(V4l2Error {
                device: self.shown.clone(),
                what: "poll".into(),
                detail: e.to_string(),
                errno: e as i32,
            }),
        }
    }
}

impl AsRawFd for Device {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl AsFd for Device {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// `b"NV12"` as a pixel format.
pub fn fourcc(code: &[u8; 4]) -> PixelFormat {
    PixelFormat::from(code)
}

/// A format as the operator knows it: `YUYV 640x480`.
pub fn describe_format(f: &Format) -> String {
    format!("{} {}x{}", f.pixelformat, f.width, f.height)
}

/// The CAPTURE/OUTPUT queue types of a node, single- or multi-planar.
pub fn queue_types(multiplanar: bool) -> (QueueType, QueueType) {
    if multiplanar {
        (QueueType::VideoCaptureMplane, QueueType::VideoOutputMplane)
    } else {
        (QueueType::VideoCapture, QueueType::VideoOutput)
    }
}

/// Short queue name for messages.
pub fn queue_name(q: QueueType) -> &'static str {
    match q {
        QueueType::VideoCapture => "CAPTURE",
        QueueType::VideoCaptureMplane => "CAPTURE_MPLANE",
        QueueType::VideoOutput => "OUTPUT",
        QueueType::VideoOutputMplane => "OUTPUT_MPLANE",
        _ => "other queue",
    }
}
