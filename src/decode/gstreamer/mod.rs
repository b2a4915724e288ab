//! The GStreamer decode backend (the `gstreamer` build variant).
//!
//! ```text
//! appsrc (H.264 access units, bounded, leaky) → h264parse → <decoder> [→ nvvidconv] → appsink (I420/NV12, 2 deep, leaky)
//! ```
//!
//! * [`registry`]: which decoder elements this box has, and which one a
//!   camera gets (configured, else the first of
//!   [`H264_DECODERS`](super::gstreamer_elements::H264_DECODERS) found).
//! * [`pipeline`]: one pipeline per camera, driven synchronously from the
//!   camera's decode thread like every other [`super::Decoder`]; pictures
//!   are mapped out of the decoder's buffers without a copy and converted
//!   straight into the camera's pool buffers. A pipeline error restarts
//!   that camera's pipeline with backoff; a missing element or repeated
//!   failures hand the camera to openh264 ([`super::fallback`]).

pub mod logs;
pub mod pipeline;
pub mod registry;

use std::sync::OnceLock;

/// `gst_init` once per process; the error (no GStreamer libraries, a broken
/// registry) is kept and repeated to every caller.
pub fn init() -> Result<(), String> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        gstreamer::init().map_err(|e| format!("GStreamer cannot start: {e}"))?;
        logs::install();
        Ok(())
    })
    .clone()
}
