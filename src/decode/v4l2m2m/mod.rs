//! V4L2 memory-to-memory **stateful** hardware decoders (Raspberry Pi 4's
//! `bcm2835-codec`, Qualcomm `venus`, Amlogic, MediaTek, i.MX8 `amphion`;
//! the kernel's `vicodec` in tests).
//!
//! * [`probe`]: which `/dev/video*` nodes are decoders, of what, and which
//!   are stateless (request API: detected, reported, not driven).
//! * [`decoder`]: the stateful decoding sequence of the kernel's
//!   "Memory-to-Memory Stateful Video Decoder Interface": OUTPUT format,
//!   bitstream queueing, `V4L2_EVENT_SOURCE_CHANGE`, CAPTURE format and
//!   buffers, mid-stream resolution change, drain with `V4L2_DEC_CMD_STOP`
//!   and the LAST flag, flush on reconnect.
//! * [`layout`]: where the planes of a decoded picture are in the CAPTURE
//!   buffers, so pictures go to the pipeline without a copy.

pub mod decoder;
pub mod layout;
pub mod probe;

use std::fmt;

pub use decoder::{M2mDecoder, M2mError};

/// Bitstream formats edgecam feeds to a stateful decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    H264,
    Hevc,
    Mjpeg,
    /// vicodec's "fast Walsh-Hadamard transform" codec: only for tests, no
    /// camera sends it.
    Fwht,
}

impl Codec {
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            Codec::H264 => *b"H264",
            Codec::Hevc => *b"HEVC",
            Codec::Mjpeg => *b"MJPG",
            Codec::Fwht => *b"FWHT",
        }
    }

    pub fn from_fourcc(fourcc: &[u8; 4]) -> Option<Codec> {
        Some(match fourcc {
            b"H264" => Codec::H264,
            b"HEVC" => Codec::Hevc,
            b"MJPG" | b"JPEG" => Codec::Mjpeg,
            b"FWHT" => Codec::Fwht,
            _ => return None,
        })
    }

    pub fn parse(name: &str) -> Option<Codec> {
        Some(match name.to_ascii_lowercase().as_str() {
            "h264" | "h.264" | "avc" => Codec::H264,
            "hevc" | "h265" | "h.265" => Codec::Hevc,
            "mjpeg" | "mjpg" | "jpeg" => Codec::Mjpeg,
            "fwht" => Codec::Fwht,
            _ => return None,
        })
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Codec::H264 => "H.264",
            Codec::Hevc => "HEVC",
            Codec::Mjpeg => "MJPEG",
            Codec::Fwht => "FWHT",
        })
    }
}
