//! edgecam: camera ingest for edge boxes.
//!
//! The crate reads top-down as the pipeline a frame travels:
//!
//! ```text
//! source ──► pace ──► ingest ──► decode ──► convert/encode ──► pool ──► publish
//! (rtsp,     (skip    (ring)     (openh264,  (scale, JPEG)     (bounded  (MQTT 5)
//!  synthetic) before                hw later)                   buffers)
//!             decode)
//! ```
//! with `camera` tying one camera's source task and decode thread together,
//! `service` running all of them, and `health`/`stats` reporting beside.

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
