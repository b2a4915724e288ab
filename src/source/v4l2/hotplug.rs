//! Plug-and-play without udev: the kernel's own uevents.
//!
//! The kernel broadcasts every device add/remove on a `NETLINK_KOBJECT_UEVENT`
//! socket (multicast group 1) as `ACTION@DEVPATH\0KEY=VALUE\0...`. edgecam
//! listens there (works in a static binary, in an initramfs, in a container
//! with the host's network namespace) and reacts to `video4linux` nodes
//! only. Of those, only capture nodes are cameras: M2M codecs, UVC metadata
//! nodes and output nodes are told apart with `VIDIOC_QUERYCAP`'s
//! `device_caps` ([`crate::v4l2::node`]).
//!
//! Two consumers:
//! * camera tasks waiting for their device to come back watch
//!   [`changes`] (a counter bumped on every video4linux add/remove);
//! * the service's automatic USB cameras (`[usb] auto = true`) get
//!   [`HotplugEvent`]s from [`watch`], plus [`v4l2_capture_nodes`] at start.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, socket,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::{broadcast, mpsc, watch};

use crate::v4l2::node::{self, Identity, NodeInfo, NodeKind};

/// A camera (capture node) appeared or went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HotplugEvent {
    Added {
        stable_id: String,
        devnode: PathBuf,
        /// A camera name derived from the stable id.
        name: String,
    },
    Removed {
        stable_id: String,
        devnode: PathBuf,
        name: String,
    },
}

/// A capture node present now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureNode {
    pub devnode: PathBuf,
    pub identity: Identity,
    pub name: String,
    pub driver: String,
    pub card: String,
    pub bus_info: String,
}

impl CaptureNode {
    fn from_info(info: NodeInfo) -> Self {
        CaptureNode {
            name: info.identity.camera_name(),
            devnode: info.devnode,
            identity: info.identity,
            driver: info.driver,
            card: info.card,
            bus_info: info.bus_info,
        }
    }

    /// On USB (not a platform/PCI capture device or a virtual one).
    pub fn is_usb(&self) -> bool {
        self.identity.stable_id.starts_with("usb-")
    }
}

/// Every capture node (camera) on the box, for start-up enumeration. Nodes
/// that cannot be opened (busy elsewhere in exclusive mode, permissions)
/// are left out with a debug log.
pub fn v4l2_capture_nodes() -> Vec<CaptureNode> {
    node::video_nodes()
        .iter()
        .filter_map(|p| capture_node(p))
        .collect()
}

fn capture_node(devnode: &Path) -> Option<CaptureNode> {
    match node::inspect(devnode) {
        Ok(info) if info.kind == NodeKind::Capture => Some(CaptureNode::from_info(info)),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!("{e}");
            None
        }
    }
}

/// One video4linux uevent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uevent {
    pub add: bool,
    pub devnode: PathBuf,
}

/// Parses a kernel uevent datagram; `None` for anything but a video4linux
/// `add`/`remove` of a `videoN` node.
pub fn parse_uevent(msg: &[u8]) -> Option<Uevent> {
    let mut action = None;
    let mut subsystem = None;
    let mut devname = None;
    for field in msg.split(|&b| b == 0) {
        let field = std::str::from_utf8(field).ok()?;
        if let Some(v) = field.strip_prefix("ACTION=") {
            action = Some(v);
        } else if let Some(v) = field.strip_prefix("SUBSYSTEM=") {
            subsystem = Some(v);
        } else if let Some(v) = field.strip_prefix("DEVNAME=") {
            devname = Some(v);
        }
    }
    if subsystem? != "video4linux" {
        return None;
    }
    let devname = devname?;
    let leaf = devname.rsplit('/').next()?;
    if !leaf.starts_with("video") {
        return None;
    }
    let add = match action? {
        "add" => true,
        "remove" => false,
        _ => return None,
    };
    let devnode = if devname.starts_with('/') {
        PathBuf::from(devname)
    } else {
        Path::new("/dev").join(devname)
    };
    Some(Uevent { add, devnode })
}

/// The process-wide listener.
struct Monitor {
    generation: watch::Sender<u64>,
    events: broadcast::Sender<Uevent>,
}

static MONITOR: OnceLock<Option<Monitor>> = OnceLock::new();

/// Starts the listener on first use (from within the runtime). `None` when
/// the netlink socket cannot be opened: callers then rescan periodically.
fn monitor() -> Option<&'static Monitor> {
    MONITOR
        .get_or_init(|| match open_socket() {
            Ok(fd) => {
                let (generation, _) = watch::channel(0);
                let (events, _) = broadcast::channel(64);
                let (g, e) = (generation.clone(), events.clone());
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => {
                        rt.spawn(listen(fd, g, e));
                        Some(Monitor { generation, events })
                    }
                    Err(_) => None,
                }
            }
            Err(e) => {
                tracing::warn!("no hotplug events (netlink uevent socket: {e}); cameras are looked for every few seconds instead");
                None
            }
        })
        .as_ref()
}

/// A counter bumped on every video4linux add/remove, for camera tasks that
/// wait for their device. `None` without netlink.
pub fn changes() -> Option<watch::Receiver<u64>> {
    monitor().map(|m| m.generation.subscribe())
}

fn open_socket() -> nix::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        SockProtocol::NetlinkKObjectUEvent,
    )?;
    // Group 1: the kernel's own events (udev re-broadcasts on group 2).
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 1))?;
    Ok(fd)
}

async fn listen(fd: OwnedFd, generation: watch::Sender<u64>, events: broadcast::Sender<Uevent>) {
    // SAFETY: the AsyncFd owns the descriptor.
    let fd = match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
        Ok(fd) => fd,
        Err(e) => {
            tracing::warn!("hotplug events unavailable: {e}");
            return;
        }
    };
    // Uevents are small (a few hundred bytes); 8 KiB is the kernel's limit.
    let mut buf = vec![0u8; 8192];
    loop {
        let mut guard = match fd.readable().await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!("hotplug events stopped: {e}");
                return;
            }
        };
        loop {
            match recv(fd.get_ref().as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(n) => {
                    if let Some(ev) = parse_uevent(&buf[..n]) {
                        tracing::debug!(add = ev.add, devnode = %ev.devnode.display(), "video4linux uevent");
                        generation.send_modify(|g| *g += 1);
                        let _ = events.send(ev);
                    }
                }
                Err(nix::errno::Errno::EAGAIN) => {
                    guard.clear_ready();
                    break;
                }
                // Overrun: events were lost; a bump makes waiters rescan.
                Err(nix::errno::Errno::ENOBUFS) => generation.send_modify(|g| *g += 1),
                Err(e) => {
                    tracing::warn!("hotplug events stopped: {e}");
                    return;
                }
            }
        }
    }
}

/// Sends [`HotplugEvent`]s for capture nodes as they come and go, until
/// `tx` is closed. With `include_present`, cameras already plugged in are
/// reported first (after the socket is listening, so none is missed).
/// Errors when there is no uevent socket.
pub async fn watch(tx: mpsc::Sender<HotplugEvent>, include_present: bool) -> Result<(), String> {
    let monitor = monitor().ok_or("no netlink uevent socket")?;
    let mut rx = monitor.events.subscribe();
    let mut known: HashMap<PathBuf, CaptureNode> = HashMap::new();
    if include_present {
        for n in v4l2_capture_nodes() {
            if tx.send(added(&n)).await.is_err() {
                return Ok(());
            }
            known.insert(n.devnode.clone(), n);
        }
    }
    loop {
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            _ = tx.closed() => return Ok(()),
        };
        match ev {
            Ok(Uevent { add: true, devnode }) => {
                if let Some(n) = open_new_node(&devnode).await
                    && !known.contains_key(&devnode)
                {
                    if tx.send(added(&n)).await.is_err() {
                        return Ok(());
                    }
                    known.insert(devnode, n);
                }
            }
            Ok(Uevent {
                add: false,
                devnode,
            }) => {
                if let Some(n) = known.remove(&devnode)
                    && tx
                        .send(HotplugEvent::Removed {
                            stable_id: n.identity.stable_id,
                            devnode,
                            name: n.name,
                        })
                        .await
                        .is_err()
                {
                    return Ok(());
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                // Missed events: resynchronise with what is there now.
                let now: HashMap<PathBuf, CaptureNode> = v4l2_capture_nodes()
                    .into_iter()
                    .map(|n| (n.devnode.clone(), n))
                    .collect();
                for (path, n) in &known {
                    if !now.contains_key(path) {
                        let _ = tx
                            .send(HotplugEvent::Removed {
                                stable_id: n.identity.stable_id.clone(),
                                devnode: path.clone(),
                                name: n.name.clone(),
                            })
                            .await;
                    }
                }
                for (path, n) in &now {
                    if !known.contains_key(path) {
                        let _ = tx.send(added(n)).await;
                    }
                }
                known = now;
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        }
    }
}

fn added(n: &CaptureNode) -> HotplugEvent {
    HotplugEvent::added(n)
}

impl HotplugEvent {
    pub fn added(n: &CaptureNode) -> HotplugEvent {
        HotplugEvent::Added {
            stable_id: n.identity.stable_id.clone(),
            devnode: n.devnode.clone(),
            name: n.name.clone(),
        }
    }
}

/// A node just announced: udev may still be setting its permissions, so
/// opening is retried for a moment.
async fn open_new_node(devnode: &Path) -> Option<CaptureNode> {
    for _ in 0..20 {
        match node::inspect(devnode) {
            Ok(info) if info.kind == NodeKind::Capture => {
                return Some(CaptureNode::from_info(info));
            }
            Ok(_) => return None,
            Err(e) if e.errno == libc::EACCES || e.errno == libc::ENOENT => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => {
                tracing::debug!("{e}");
                return None;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_video4linux_adds_and_removes_only() {
        let add = b"add@/devices/platform/vivid.0/video4linux/video0\0ACTION=add\0DEVPATH=/devices/platform/vivid.0/video4linux/video0\0SUBSYSTEM=video4linux\0MAJOR=81\0MINOR=0\0DEVNAME=video0\0SEQNUM=1234\0";
        assert_eq!(
            parse_uevent(add),
            Some(Uevent {
                add: true,
                devnode: "/dev/video0".into()
            })
        );
        let remove = b"remove@/devices/x/video4linux/video3\0ACTION=remove\0SUBSYSTEM=video4linux\0DEVNAME=video3\0";
        assert_eq!(parse_uevent(remove).map(|e| e.add), Some(false));
        // Not video4linux, or not a video node (v4l-subdev, radio), or a change.
        assert_eq!(
            parse_uevent(b"add@/x\0ACTION=add\0SUBSYSTEM=usb\0DEVNAME=bus/usb/001/004\0"),
            None
        );
        assert_eq!(
            parse_uevent(b"add@/x\0ACTION=add\0SUBSYSTEM=video4linux\0DEVNAME=v4l-subdev0\0"),
            None
        );
        assert_eq!(
            parse_uevent(b"change@/x\0ACTION=change\0SUBSYSTEM=video4linux\0DEVNAME=video0\0"),
            None
        );
        // udev's re-broadcast format starts with "libudev": not parsed as a
        // kernel event (no NUL-separated ACTION first), and ignored.
        assert_eq!(parse_uevent(b"libudev\0\xfe\xed"), None);
    }
}
