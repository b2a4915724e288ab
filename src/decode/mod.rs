//! Turning compressed access units into pictures.
//!
//! Each backend implements [`Decoder`]; the camera's decode thread owns one
//! and feeds it the units the pacer admitted. Backends are chosen by
//! [`probe`]: hardware first where the board has it, software everywhere.
//!
//! * [`openh264`]: software H.264, everywhere.
//! * [`v4l2m2m`]: V4L2 stateful M2M hardware decoders, with
//!   [`fallback`] to software when one fails.
//! * `gstreamer` (the `gstreamer` build variant): a GStreamer decoder
//!   element (Jetson's `nvv4l2decoder`, `v4l2h264dec`, `v4l2slh264dec`,
//!   libavcodec's `avdec_h264`), with the same fallback.
//! * [`capture`]: what USB cameras deliver (raw YUYV/NV12/I420, MJPEG,
//!   H.264), turned into pictures with as little work as the format allows;
//!   MJPEG can skip decoding entirely ([`Decoder::as_jpeg`]).

pub mod capture;
pub mod fallback;
#[cfg(feature = "gstreamer")]
pub mod gstreamer;
pub mod gstreamer_elements;
pub mod mjpeg;
pub mod openh264;
pub mod probe;
pub mod v4l2m2m;

use std::fmt;

/// A decoded picture, borrowed from the decoder until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Picture<'a> {
    pub width: usize,
    pub height: usize,
    pub planes: Planes<'a>,
}

/// The memory layouts decoders hand out (4:2:0 only: cameras send 4:2:0).
#[derive(Debug, Clone, Copy)]
pub enum Planes<'a> {
    I420 {
        y: &'a [u8],
        u: &'a [u8],
        v: &'a [u8],
        y_stride: usize,
        uv_stride: usize,
    },
    Nv12 {
        y: &'a [u8],
        uv: &'a [u8],
        y_stride: usize,
        uv_stride: usize,
    },
}

#[derive(Debug)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// A frame that already is a complete JPEG (a USB camera's MJPEG): when the
/// output is JPEG at its size it is published as it is, with no decode and
/// no re-encode.
#[derive(Debug, Clone, Copy)]
pub struct JpegFrame<'a> {
    pub width: usize,
    pub height: usize,
    pub data: &'a [u8],
    /// The frame omits the Huffman tables (as the UVC MJPEG format allows):
    /// [`mjpeg::copy_complete`] adds the standard ones so that every viewer
    /// can open the published JPEG.
    pub needs_tables: bool,
}

/// One decoder instance for one camera's stream.
pub trait Decoder: Send {
    /// What it is, for status and logs, e.g. `openh264 (software)`.
    fn describe(&self) -> &str;

    /// Changes whenever [`Decoder::describe`] does (the stream's format
    /// became known, a hardware decoder fell back to software), so the
    /// camera's status can follow without comparing strings per frame.
    fn revision(&self) -> u64 {
        0
    }

    /// Decodes one access unit (Annex B, parameter sets in band). Returns the
    /// picture it completes, if any. The picture may borrow the decoder's
    /// buffers or, for raw captured frames, the unit itself.
    fn decode<'a>(&'a mut self, unit: &'a [u8]) -> Result<Option<Picture<'a>>, DecodeError>;

    /// The unit as a complete JPEG, if it is one. Asked before
    /// [`Decoder::decode`]; `None` for every codec but MJPEG.
    fn as_jpeg<'a>(&'a self, _unit: &'a [u8]) -> Option<JpegFrame<'a>> {
        None
    }

    /// Units the decoder dropped without a picture since the last call
    /// because it fell behind (a hardware queue that overflowed); counted as
    /// `late`.
    fn take_lost(&mut self) -> u64 {
        0
    }

    /// The stream restarted (reconnect, replug): forget queued bitstream and
    /// pictures of the old one. Software decoders resynchronise on the next
    /// keyframe by themselves.
    fn reset(&mut self) {}
}
