//! Turning H.264 access units into pictures.
//!
//! Each backend implements [`Decoder`]; the camera's decode thread owns one
//! and feeds it the units the pacer admitted. Backends are chosen by
//! [`probe`]: hardware first where the board has it, software everywhere.

pub mod openh264;
pub mod probe;

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

/// One decoder instance for one camera's stream.
pub trait Decoder: Send {
    /// What it is, for status and logs, e.g. `openh264 (software)`.
    fn describe(&self) -> &str;

    /// Decodes one access unit (Annex B, parameter sets in band). Returns the
    /// picture it completes, if any.
    fn decode(&mut self, unit: &[u8]) -> Result<Option<Picture<'_>>, DecodeError>;
}
