//! edgecam: camera ingest for edge boxes.
//!
//! The crate reads top-down as the pipeline a frame travels:
//!
//! ```text
//! source ──► pace ──► ingest ──► decode ──► convert/encode ──► pool ──► publish
//! (rtsp,     (skip    (ring)     (openh264,   (scale, JPEG)     (bounded  (MQTT 5)
//!  v4l2,      before              v4l2m2m,                      buffers)
//!  synthetic) decode)             gstreamer)
//! ```
//! with `camera` tying one camera's source task and decode thread together,
//! `service` running all of them, and `health`/`stats` reporting beside.

// GStreamer's plugins are shared objects loaded at run time, which a static
// binary cannot do.
#[cfg(all(feature = "gstreamer", target_feature = "crt-static"))]
compile_error!(
    "the gstreamer feature needs a dynamically linked build: use `make gstreamer` \
     (scripts/build-gstreamer.sh), which turns crt-static off"
);

pub mod board;
pub mod camera;
pub mod clock;
pub mod config;
pub mod control;
pub mod convert;
pub mod decode;
pub mod demo;
pub mod health;
pub mod ingest;
pub mod pace;
pub mod pool;
pub mod pressure;
pub mod publish;
pub mod scale;
pub mod service;
pub mod source;
pub mod stats;
pub mod tools;
pub mod v4l2;
