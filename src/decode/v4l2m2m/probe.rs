//! Which memory-to-memory nodes are decoders, and of what.
//!
//! An M2M node's role follows from its two queues: compressed in (OUTPUT)
//! and raw out (CAPTURE) is a decoder; raw in and compressed out an
//! encoder; raw both ways a scaler/converter (vim2m, an ISP). A decoder
//! whose OUTPUT formats are the `*_SLICE`/`*_FRAME` kinds is stateless: it
//! needs the request API and a bitstream parser in user space, which
//! edgecam does not have yet, so it is reported and skipped.

use std::path::{Path, PathBuf};

use serde::Serialize;
use v4l2r::ioctl::{FmtDesc, FormatFlags, FormatIterator};

use crate::v4l2::node::{self, NodeKind};
use crate::v4l2::{Device, QueueType, V4l2Error, queue_types};

/// Bitstream formats of stateful decoders (the decoder parses the stream).
const STATEFUL_CODED: [&[u8; 4]; 9] = [
    b"H264", b"HEVC", b"MJPG", b"JPEG", b"FWHT", b"VP80", b"VP90", b"MPG2", b"AV01",
];
/// Formats of stateless decoders (user space parses, request API).
const STATELESS_CODED: [&[u8; 4]; 7] = [
    b"S264", b"S265", b"VP8F", b"VP9F", b"MG2S", b"SFWH", b"AV1F",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    StatefulDecoder,
    StatelessDecoder,
    Encoder,
    /// Raw in, raw out: a scaler, converter or ISP.
    Converter,
    Unknown,
}

impl Role {
    pub fn describe(self) -> &'static str {
        match self {
            Role::StatefulDecoder => "stateful decoder",
            Role::StatelessDecoder => "stateless decoder (request API)",
            Role::Encoder => "encoder",
            Role::Converter => "scaler/converter",
            Role::Unknown => "unknown M2M device",
        }
    }
}

/// One M2M node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct M2mNode {
    pub device: PathBuf,
    pub driver: String,
    pub card: String,
    pub role: Role,
    /// Compressed formats it takes (decoders) or writes (encoders).
    pub codecs: Vec<String>,
    /// Raw formats on its CAPTURE side (what decoded pictures look like).
    pub raw: Vec<String>,
}

impl M2mNode {
    pub fn decodes(&self, fourcc: &[u8; 4]) -> bool {
        self.role == Role::StatefulDecoder
            && self
                .codecs
                .iter()
                .any(|c| c.as_bytes() == fourcc.as_slice())
    }
}

/// Every M2M node on this box, in node order. Nodes that cannot be opened
/// are skipped (the general node list in the probe report shows them).
pub fn probe_all() -> Vec<M2mNode> {
    node::video_nodes()
        .iter()
        .filter_map(|p| match probe_node(p) {
            Ok(Some(n)) => Some(n),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!("{e}");
                None
            }
        })
        .collect()
}

/// The node's M2M role, or `None` if it is not an M2M node.
pub fn probe_node(path: &Path) -> Result<Option<M2mNode>, V4l2Error> {
    let dev = Device::open(path)?;
    let cap = dev.querycap()?;
    let info = node::describe(path, &cap);
    if info.kind != NodeKind::M2m {
        return Ok(None);
    }
    let (cap_q, out_q) = queue_types(info.multiplanar);
    let output = formats(&dev, out_q);
    let capture = formats(&dev, cap_q);
    let (role, codecs, raw) = classify(&output, &capture);
    Ok(Some(M2mNode {
        device: path.to_path_buf(),
        driver: cap.driver,
        card: cap.card,
        role,
        codecs,
        raw,
    }))
}

/// (fourcc, compressed?) of a queue's formats.
fn formats(dev: &Device, q: QueueType) -> Vec<([u8; 4], bool)> {
    FormatIterator::new(dev, q)
        .map(|d: FmtDesc| {
            let code: [u8; 4] = d.pixelformat.into();
            (code, d.flags.contains(FormatFlags::COMPRESSED))
        })
        .collect()
}

fn is_coded(f: &([u8; 4], bool)) -> bool {
    f.1 || STATEFUL_CODED.contains(&&f.0) || STATELESS_CODED.contains(&&f.0)
}

fn name(f: &[u8; 4]) -> String {
    String::from_utf8_lossy(f).trim_end().to_string()
}

/// Role from the formats of the OUTPUT and CAPTURE queues.
pub fn classify(
    output: &[([u8; 4], bool)],
    capture: &[([u8; 4], bool)],
) -> (Role, Vec<String>, Vec<String>) {
    let coded_in: Vec<_> = output.iter().filter(|f| is_coded(f)).collect();
    let coded_out: Vec<_> = capture.iter().filter(|f| is_coded(f)).collect();
    let raw_out: Vec<String> = capture
        .iter()
        .filter(|f| !is_coded(f))
        .map(|f| name(&f.0))
        .collect();
    if !coded_in.is_empty() {
        let stateless = coded_in.iter().any(|f| STATELESS_CODED.contains(&&f.0));
        let role = if stateless {
            Role::StatelessDecoder
        } else {
            Role::StatefulDecoder
        };
        let codecs = coded_in.iter().map(|f| name(&f.0)).collect();
        return (role, codecs, raw_out);
    }
    if !coded_out.is_empty() {
        let codecs = coded_out.iter().map(|f| name(&f.0)).collect();
        return (Role::Encoder, codecs, Vec::new());
    }
    if !output.is_empty() && !capture.is_empty() {
        return (Role::Converter, Vec::new(), raw_out);
    }
    (Role::Unknown, Vec::new(), raw_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(code: &[u8; 4], compressed: bool) -> ([u8; 4], bool) {
        (*code, compressed)
    }

    #[test]
    fn roles_from_queue_formats() {
        // vicodec's stateful decoder: FWHT in, raw out.
        let (role, codecs, raw) =
            classify(&[f(b"FWHT", true)], &[f(b"YU12", false), f(b"NV12", false)]);
        assert_eq!(role, Role::StatefulDecoder);
        assert_eq!(
            (codecs, raw),
            (
                vec!["FWHT".to_string()],
                vec!["YU12".to_string(), "NV12".to_string()]
            )
        );
        // vicodec's stateless decoder.
        assert_eq!(
            classify(&[f(b"SFWH", true)], &[f(b"YU12", false)]).0,
            Role::StatelessDecoder
        );
        // Rockchip hantro: H.264 slices.
        assert_eq!(
            classify(&[f(b"S264", true)], &[f(b"NV12", false)]).0,
            Role::StatelessDecoder
        );
        // vicodec's encoder.
        assert_eq!(
            classify(&[f(b"YU12", false)], &[f(b"FWHT", true)]).0,
            Role::Encoder
        );
        // vim2m: raw both ways.
        assert_eq!(
            classify(
                &[f(b"RGBP", false)],
                &[f(b"RGBP", false), f(b"YUYV", false)]
            )
            .0,
            Role::Converter
        );
        // bcm2835-codec decode: H.264 (and more) in.
        let (role, codecs, _) = classify(
            &[f(b"H264", true), f(b"MJPG", true), f(b"MPG2", true)],
            &[f(b"YU12", false), f(b"NV12", false)],
        );
        assert_eq!(role, Role::StatefulDecoder);
        assert_eq!(codecs, vec!["H264", "MJPG", "MPG2"]);
    }

    #[test]
    fn decodes_needs_a_stateful_decoder_of_that_codec() {
        let node = M2mNode {
            device: "/dev/video10".into(),
            driver: "bcm2835-codec".into(),
            card: "bcm2835-codec-decode".into(),
            role: Role::StatefulDecoder,
            codecs: vec!["H264".into()],
            raw: vec!["NV12".into()],
        };
        assert!(node.decodes(b"H264"));
        assert!(!node.decodes(b"HEVC"));
        let stateless = M2mNode {
            role: Role::StatelessDecoder,
            codecs: vec!["S264".into()],
            ..node
        };
        assert!(!stateless.decodes(b"S264"));
    }
}
