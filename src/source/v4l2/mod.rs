//! USB (and other V4L2) cameras: `v4l2:/dev/video0`, `usb:<stable-id>`.
//!
//! * [`formats`]: what the camera offers and which mode does the least work.
//! * [`capture`]: one streaming session (MMAP buffers, buffer timestamps),
//!   handing frames to the pacer with their format in front.
//! * [`hotplug`]: kernel uevents (netlink, no libudev), plug-and-play.
//! * [`auto`]: `[usb] auto = true`, cameras that add themselves.
//!
//! The camera task here keeps a camera alive across unplugging: a node
//! that disappears while streaming ends the session (`offline`, with the
//! reason), the task waits for the same device to come back (same path for
//! `v4l2:`, same stable id for `usb:`, whatever its new node number) and
//! resumes under the same camera name.

pub mod auto;
pub mod capture;
pub mod formats;
pub mod hotplug;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::backoff::Backoff;
use crate::camera::{CameraShared, CameraState};
use crate::config::CameraSettings;
use capture::Ended;

/// Which device a V4L2 source means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceRef {
    /// A node path (`/dev/video0`, or a udev link like `/dev/v4l/by-id/...`).
    Path(PathBuf),
    /// A stable id (see [`crate::v4l2::node::Identity`]).
    Usb(String),
}

/// A parsed `v4l2:` or `usb:` source, with optional capture preferences:
/// `v4l2:/dev/video0?format=yuyv&size=640x480`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4l2Spec {
    pub device: DeviceRef,
    /// Capture format to use instead of choosing one.
    pub format: Option<[u8; 4]>,
    /// Capture size to use instead of choosing one.
    pub size: Option<(u32, u32)>,
}

impl V4l2Spec {
    /// `rest` is what follows `v4l2:` (`usb == false`) or `usb:`.
    pub fn parse(rest: &str, usb: bool) -> Result<V4l2Spec, String> {
        let scheme = if usb { "usb" } else { "v4l2" };
        let (target, query) = match rest.split_once('?') {
            Some((t, q)) => (t, Some(q)),
            None => (rest, None),
        };
        let target = target.trim();
        let device = if usb {
            if target.is_empty() {
                return Err(
                    "usb: needs a camera id, e.g. usb:usb-046d-082d-A1B2C3D4 (edgecam probe lists them)"
                        .into(),
                );
            }
            DeviceRef::Usb(target.to_string())
        } else {
            if !target.starts_with('/') {
                return Err(format!(
                    "v4l2: needs a device path, e.g. v4l2:/dev/video0 (got {target:?})"
                ));
            }
            DeviceRef::Path(PathBuf::from(target))
        };
        let mut spec = V4l2Spec {
            device,
            format: None,
            size: None,
        };
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("{scheme}: option {pair:?} is not key=value"))?;
            match k {
                "format" => {
                    spec.format = Some(formats::parse_fourcc(v).ok_or_else(|| {
                        format!(
                            "{scheme}: format {v:?} is not one edgecam reads (mjpeg, h264, nv12, i420, yv12, yuyv, uyvy)"
                        )
                    })?);
                }
                "size" => {
                    let bad = || format!("{scheme}: size {v:?} is not WIDTHxHEIGHT");
                    let (w, h) = v.split_once('x').ok_or_else(bad)?;
                    let (w, h): (u32, u32) =
                        (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
                    if !(16..=7680).contains(&w) || !(16..=4320).contains(&h) {
                        return Err(bad());
                    }
                    spec.size = Some((w, h));
                }
                other => {
                    return Err(format!(
                        "{scheme}: unknown option {other:?} (options: format, size)"
                    ));
                }
            }
        }
        Ok(spec)
    }
}

impl fmt::Display for V4l2Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.device {
            DeviceRef::Path(p) => write!(f, "v4l2:{}", p.display())?,
            DeviceRef::Usb(id) => write!(f, "usb:{id}")?,
        }
        let mut sep = '?';
        if let Some(fourcc) = self.format {
            write!(
                f,
                "{sep}format={}",
                formats::fourcc_str(&fourcc).to_ascii_lowercase()
            )?;
            sep = '&';
        }
        if let Some((w, h)) = self.size {
            write!(f, "{sep}size={w}x{h}")?;
        }
        Ok(())
    }
}

/// How often a waiting camera looks for its device even without a uevent
/// (netlink may be unavailable, e.g. in some containers).
const RESCAN: Duration = Duration::from_secs(5);

/// Runs a V4L2 camera until `stop`.
pub async fn run(
    shared: Arc<CameraShared>,
    spec: V4l2Spec,
    settings: CameraSettings,
    h264_hardware: bool,
    mut stop: watch::Receiver<bool>,
) {
    let stall = Duration::from_secs_f64(settings.stall_timeout_s);
    let mut backoff = Backoff::new(
        Duration::from_millis(500),
        Duration::from_secs_f64(settings.backoff_max_s),
    );
    let mut plugs = hotplug::changes();
    let mut first = true;
    let mut waiting_logged = false;
    // Why the camera last went away, kept in its status while it is gone.
    let mut unplugged: Option<String> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        let Some(devnode) = resolve(&spec.device) else {
            let what = match &spec.device {
                DeviceRef::Path(p) => format!("{} is not there", p.display()),
                DeviceRef::Usb(id) => format!("no camera with id {id} is plugged in"),
            };
            if !waiting_logged {
                tracing::warn!(camera = %shared.name, source = %shared.source_display, "{what}; waiting for it");
                waiting_logged = true;
            }
            let status = match &unplugged {
                Some(reason) => format!("{reason}; waiting for it to come back"),
                None => format!("{what} (waiting for it)"),
            };
            shared.set_state(CameraState::Offline, Some(status));
            if wait_for_change(&mut plugs, RESCAN, &mut stop).await {
                break;
            }
            continue;
        };
        waiting_logged = false;
        unplugged = None;
        shared.begin_attempt(!first);
        first = false;
        let want = |shared: &CameraShared| {
            let output = shared.output();
            formats::Want {
                output: output.format,
                width: output.width,
                height: output.height,
                fps: shared.fps_target(),
                format: spec.format,
                size: spec.size,
                h264_hardware,
            }
        };
        let ended = capture::stream(&shared, &devnode, &want, stall, &mut plugs, &mut stop).await;
        shared.restart_stream();
        match ended {
            Ended::Stopped => break,
            Ended::Reconfigure(why) => {
                tracing::info!(camera = %shared.name, device = %devnode.display(), "{why}; choosing the capture mode again");
                // Not a reconnect.
                first = true;
            }
            Ended::Gone(reason) => {
                // Unplugged: not an error of the camera; wait for it to return.
                tracing::warn!(camera = %shared.name, device = %devnode.display(), "{reason}");
                shared.set_state(CameraState::Offline, Some(reason.clone()));
                unplugged = Some(reason);
                backoff.reset();
                continue;
            }
            Ended::Failed { error, delivered } => {
                if delivered {
                    backoff.reset();
                }
                let delay = backoff.next_delay();
                tracing::warn!(camera = %shared.name, device = %devnode.display(), retry_in_ms = delay.as_millis() as u64, "{error}");
                shared.set_state(CameraState::Error, Some(error));
                if wait_for_change(&mut plugs, delay, &mut stop).await {
                    break;
                }
            }
            Ended::Unsupported(error) => {
                tracing::error!(camera = %shared.name, device = %devnode.display(), "{error}");
                shared.set_state(CameraState::Error, Some(error));
                let delay = Duration::from_secs_f64(settings.backoff_max_s);
                if wait_for_change(&mut plugs, delay, &mut stop).await {
                    break;
                }
            }
        }
    }
}

/// Waits for a hotplug event, `timeout`, or stop (returns true on stop).
async fn wait_for_change(
    plugs: &mut Option<watch::Receiver<u64>>,
    timeout: Duration,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let plugged = async {
        match plugs {
            Some(rx) => {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                // Let udev (if any) finish with the new node's permissions.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = plugged => false,
        _ = tokio::time::sleep(timeout) => false,
        _ = stop.changed() => true,
    }
}

/// The current node of a device, if it is plugged in and is a camera.
pub fn resolve(device: &DeviceRef) -> Option<PathBuf> {
    match device {
        DeviceRef::Path(p) => p.exists().then(|| p.clone()),
        DeviceRef::Usb(id) => hotplug::v4l2_capture_nodes()
            .into_iter()
            .find(|n| n.identity.matches(id))
            .map(|n| n.devnode),
    }
}

/// The node name (`video3`) of a path, following udev links.
pub fn node_name(path: &Path) -> Option<String> {
    let real = std::fs::canonicalize(path).ok()?;
    Some(real.file_name()?.to_string_lossy().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_display() {
        let s = V4l2Spec::parse("/dev/video0", false).unwrap();
        assert_eq!(s.device, DeviceRef::Path("/dev/video0".into()));
        assert_eq!(s.to_string(), "v4l2:/dev/video0");
        let s = V4l2Spec::parse("/dev/video2?format=YUYV&size=640x480", false).unwrap();
        assert_eq!((s.format, s.size), (Some(*b"YUYV"), Some((640, 480))));
        assert_eq!(s.to_string(), "v4l2:/dev/video2?format=yuyv&size=640x480");
        let s = V4l2Spec::parse("platform:vivid-000?format=mjpeg", true).unwrap();
        assert_eq!(s.device, DeviceRef::Usb("platform:vivid-000".into()));
        assert_eq!(s.format, Some(*b"MJPG"));
        assert!(
            V4l2Spec::parse("video0", false)
                .unwrap_err()
                .contains("device path")
        );
        assert!(V4l2Spec::parse("", true).unwrap_err().contains("camera id"));
        assert!(
            V4l2Spec::parse("/dev/video0?format=rgb", false)
                .unwrap_err()
                .contains("rgb")
        );
        assert!(V4l2Spec::parse("/dev/video0?size=big", false).is_err());
        assert!(
            V4l2Spec::parse("/dev/video0?fps=5", false)
                .unwrap_err()
                .contains("unknown option")
        );
    }
}
