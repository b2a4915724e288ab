//! What a `/dev/videoN` node is, and a name for it that survives replugging.
//!
//! A USB camera typically registers two nodes (video capture and UVC
//! metadata); a codec registers an M2M node; v4l2loopback an output node
//! until someone writes to it. `VIDIOC_QUERYCAP`'s `device_caps` (the caps
//! of this node, not of the whole driver) tells them apart.
//!
//! Node numbers change with plug order, so cameras are matched by a stable
//! id built from sysfs (USB vendor/product/serial, or the USB port when the
//! camera has no serial; the driver's `bus_info` for everything else).
//! Without udev there is no `/dev/v4l/by-id`, so edgecam computes the ids
//! itself; where udev made those links their names are accepted too.

use std::path::{Path, PathBuf};

use serde::Serialize;
use v4l2r::ioctl::{Capabilities, Capability};

use super::{Device, V4l2Error};

const SYSFS_V4L: &str = "/sys/class/video4linux";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// Delivers pictures: a camera (or a loopback with a writer).
    Capture,
    /// Memory to memory: a codec or a scaler.
    M2m,
    /// Takes pictures (a display, a loopback without a writer).
    Output,
    /// UVC metadata and similar: no pictures.
    Metadata,
    Other,
}

impl NodeKind {
    pub fn of(caps: Capabilities) -> NodeKind {
        if caps.intersects(Capabilities::VIDEO_M2M | Capabilities::VIDEO_M2M_MPLANE) {
            NodeKind::M2m
        } else if caps.intersects(Capabilities::VIDEO_CAPTURE | Capabilities::VIDEO_CAPTURE_MPLANE)
        {
            NodeKind::Capture
        } else if caps.intersects(Capabilities::VIDEO_OUTPUT | Capabilities::VIDEO_OUTPUT_MPLANE) {
            NodeKind::Output
        } else if caps.intersects(Capabilities::META_CAPTURE) {
            NodeKind::Metadata
        } else {
            NodeKind::Other
        }
    }
}

/// One node, as QUERYCAP and sysfs describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub devnode: PathBuf,
    pub driver: String,
    pub card: String,
    pub bus_info: String,
    pub kind: NodeKind,
    /// Uses the multi-planar API (`*_MPLANE` queues).
    pub multiplanar: bool,
    pub identity: Identity,
}

/// `/dev/video*` nodes, in number order (`video2` before `video10`).
pub fn video_nodes() -> Vec<PathBuf> {
    video_nodes_in(Path::new(SYSFS_V4L))
}

pub fn video_nodes_in(sysfs_v4l: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(sysfs_v4l) else {
        return Vec::new();
    };
    let mut nodes: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let n = name.strip_prefix("video")?.parse().ok()?;
            Some((n, Path::new("/dev").join(name)))
        })
        .collect();
    nodes.sort();
    nodes.into_iter().map(|(_, p)| p).collect()
}

/// Opens `devnode` and describes it.
pub fn inspect(devnode: &Path) -> Result<NodeInfo, V4l2Error> {
    let dev = Device::open(devnode)?;
    let cap = dev.querycap()?;
    Ok(describe(devnode, &cap))
}

pub fn describe(devnode: &Path, cap: &Capability) -> NodeInfo {
    let caps = cap.device_caps();
    NodeInfo {
        devnode: devnode.to_path_buf(),
        driver: cap.driver.clone(),
        card: cap.card.clone(),
        bus_info: cap.bus_info.clone(),
        kind: NodeKind::of(caps),
        multiplanar: caps.intersects(
            Capabilities::VIDEO_CAPTURE_MPLANE
                | Capabilities::VIDEO_OUTPUT_MPLANE
                | Capabilities::VIDEO_M2M_MPLANE,
        ),
        identity: identity(devnode, &cap.bus_info),
    }
}

/// The names a node answers to in `usb:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Identity {
    /// The canonical id: `usb-VVVV-PPPP-SERIAL`, `usb-VVVV-PPPP-port1-2.3`,
    /// or the driver's bus info (`platform:vivid-000`).
    pub stable_id: String,
    /// Everything else that names this node: serial, bus info, USB port,
    /// udev's by-id/by-path link names.
    pub aliases: Vec<String>,
}

impl Identity {
    /// Whether `wanted` (as written after `usb:`) names this node.
    pub fn matches(&self, wanted: &str) -> bool {
        let wanted = wanted
            .trim()
            .trim_start_matches("/dev/v4l/by-id/")
            .trim_start_matches("/dev/v4l/by-path/")
            .trim_start_matches("/dev/edgecam/by-serial/")
            .trim_start_matches("/dev/edgecam/by-path/");
        !wanted.is_empty()
            && std::iter::once(&self.stable_id)
                .chain(&self.aliases)
                .any(|id| id.eq_ignore_ascii_case(wanted))
    }

    /// A camera name (an MQTT topic level) derived from the stable id.
    pub fn camera_name(&self) -> String {
        let mut name: String = self
            .stable_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if name.is_empty() {
            name.push_str("camera");
        }
        if name.len() > 64 {
            // Keep the end: serial numbers and ports are what tell cameras apart.
            name = name[name.len() - 64..].to_string();
        }
        name
    }
}

/// Builds the identity of `devnode` from sysfs and the bus info.
pub fn identity(devnode: &Path, bus_info: &str) -> Identity {
    identity_in(Path::new(SYSFS_V4L), Path::new("/dev"), devnode, bus_info)
}

pub fn identity_in(sysfs_v4l: &Path, dev_root: &Path, devnode: &Path, bus_info: &str) -> Identity {
    let node_name = devnode
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let class_dir = sysfs_v4l.join(&node_name);
    let index: u32 = read_attr(&class_dir.join("index"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let suffix = if index > 0 {
        format!("-video-index{index}")
    } else {
        String::new()
    };
    let mut aliases = Vec::new();
    if !bus_info.is_empty() {
        aliases.push(format!("{bus_info}{suffix}"));
    }
    let stable_id = match usb_device_dir(&class_dir.join("device")) {
        Some(usb) => {
            let vid = read_attr(&usb.join("idVendor")).unwrap_or_default();
            let pid = read_attr(&usb.join("idProduct")).unwrap_or_default();
            let serial = read_attr(&usb.join("serial")).filter(|s| !s.is_empty());
            let port = usb
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            aliases.push(port.clone());
            if let Some(serial) = &serial {
                aliases.push(serial.clone());
                // What udev's 60-persistent-v4l.rules would name it.
                let vendor = read_attr(&usb.join("manufacturer")).unwrap_or(vid.clone());
                let model = read_attr(&usb.join("product")).unwrap_or(pid.clone());
                aliases.push(format!(
                    "usb-{}_{}_{}-video-index{index}",
                    udev_safe(&vendor),
                    udev_safe(&model),
                    udev_safe(serial)
                ));
            }
            match serial {
                Some(serial) => format!("usb-{vid}-{pid}-{}{suffix}", udev_safe(&serial)),
                None => format!("usb-{vid}-{pid}-port{port}{suffix}"),
            }
        }
        None if !bus_info.is_empty() => format!("{bus_info}{suffix}"),
        None => node_name.clone(),
    };
    // Links udev made, when it runs: exact names a user may have copied.
    for dir in [
        "v4l/by-id",
        "v4l/by-path",
        "edgecam/by-serial",
        "edgecam/by-path",
    ] {
        let Ok(entries) = std::fs::read_dir(dev_root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let target = std::fs::canonicalize(e.path()).ok();
            if target.as_deref().and_then(Path::file_name) == devnode.file_name() {
                aliases.push(e.file_name().to_string_lossy().to_string());
            }
        }
    }
    aliases.retain(|a| *a != stable_id);
    aliases.dedup();
    Identity { stable_id, aliases }
}

/// The USB device directory above a node's `device` link (the interface's
/// parent, which carries `idVendor`), if the node is on USB.
fn usb_device_dir(device_link: &Path) -> Option<PathBuf> {
    let mut dir = std::fs::canonicalize(device_link).ok()?;
    for _ in 0..4 {
        if dir.join("idVendor").is_file() {
            return Some(dir);
        }
        dir = dir.parent()?.to_path_buf();
    }
    None
}

fn read_attr(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// udev's `replace_whitespace` + `replace_chars`: spaces become `_`, and
/// anything outside a safe set too.
fn udev_safe(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_device_caps() {
        let m2m = Capabilities::VIDEO_M2M | Capabilities::STREAMING;
        assert_eq!(NodeKind::of(m2m), NodeKind::M2m);
        assert_eq!(
            NodeKind::of(Capabilities::VIDEO_CAPTURE | Capabilities::STREAMING),
            NodeKind::Capture
        );
        assert_eq!(
            NodeKind::of(Capabilities::META_CAPTURE | Capabilities::STREAMING),
            NodeKind::Metadata
        );
        assert_eq!(NodeKind::of(Capabilities::VIDEO_OUTPUT), NodeKind::Output);
        // An M2M device also has capture and output queues: it is not a camera.
        assert_eq!(
            NodeKind::of(Capabilities::VIDEO_M2M_MPLANE | Capabilities::VIDEO_CAPTURE_MPLANE),
            NodeKind::M2m
        );
    }

    /// A fake sysfs: a UVC camera on port 1-2 with a serial number.
    fn fake_usb(serial: Option<&str>) -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let usb = root.path().join("devices/pci0000:00/0000:00:14.0/usb1/1-2");
        let intf = usb.join("1-2:1.0");
        std::fs::create_dir_all(&intf).unwrap();
        std::fs::write(usb.join("idVendor"), "046d\n").unwrap();
        std::fs::write(usb.join("idProduct"), "082d\n").unwrap();
        std::fs::write(usb.join("manufacturer"), "Logitech\n").unwrap();
        std::fs::write(usb.join("product"), "HD Pro Webcam C920\n").unwrap();
        if let Some(s) = serial {
            std::fs::write(usb.join("serial"), format!("{s}\n")).unwrap();
        }
        let class = root.path().join("class/video4linux/video3");
        std::fs::create_dir_all(&class).unwrap();
        std::fs::write(class.join("index"), "0\n").unwrap();
        std::os::unix::fs::symlink(&intf, class.join("device")).unwrap();
        (root, class.parent().unwrap().to_path_buf())
    }

    #[test]
    fn usb_camera_with_serial() {
        let (root, sysfs) = fake_usb(Some("ABC123"));
        let id = identity_in(
            &sysfs,
            &root.path().join("dev"),
            Path::new("/dev/video3"),
            "usb-0000:00:14.0-2",
        );
        assert_eq!(id.stable_id, "usb-046d-082d-ABC123");
        assert!(id.matches("usb-046d-082d-abc123"));
        assert!(id.matches("ABC123"));
        assert!(id.matches("1-2"));
        assert!(id.matches("usb-0000:00:14.0-2"));
        assert!(id.matches("/dev/v4l/by-id/usb-Logitech_HD_Pro_Webcam_C920_ABC123-video-index0"));
        assert!(!id.matches("usb-046d-082d-OTHER"));
        assert!(!id.matches(""));
        assert_eq!(id.camera_name(), "usb-046d-082d-ABC123");
    }

    #[test]
    fn usb_camera_without_serial_is_named_by_port() {
        let (root, sysfs) = fake_usb(None);
        let id = identity_in(
            &sysfs,
            &root.path().join("dev"),
            Path::new("/dev/video3"),
            "",
        );
        assert_eq!(id.stable_id, "usb-046d-082d-port1-2");
    }

    #[test]
    fn other_buses_use_the_bus_info() {
        let root = tempfile::tempdir().unwrap();
        let id = identity_in(
            root.path(),
            root.path(),
            Path::new("/dev/video0"),
            "platform:vivid-000",
        );
        assert_eq!(id.stable_id, "platform:vivid-000");
        assert_eq!(id.camera_name(), "platform_vivid-000");
        assert!(id.matches("platform:vivid-000"));
    }

    #[test]
    fn udev_links_are_aliases() {
        let (root, sysfs) = fake_usb(Some("ABC123"));
        let by_path = root.path().join("dev/v4l/by-path");
        std::fs::create_dir_all(&by_path).unwrap();
        let node = root.path().join("dev/video3");
        std::fs::write(&node, "").unwrap();
        std::os::unix::fs::symlink(
            &node,
            by_path.join("pci-0000:00:14.0-usb-0:2:1.0-video-index0"),
        )
        .unwrap();
        let id = identity_in(&sysfs, &root.path().join("dev"), &node, "");
        assert!(id.matches("/dev/v4l/by-path/pci-0000:00:14.0-usb-0:2:1.0-video-index0"));
    }
}
