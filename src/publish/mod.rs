//! Getting frames and state to the detector: MQTT topics, payload encoding,
//! and the client that carries them.

pub mod jpeg;
pub mod mqtt;
pub mod topics;

use crate::config::OutputFormat;
use crate::pool::PooledBuf;

/// What travels with a frame as MQTT 5 properties (see docs/mqtt.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameMeta {
    /// Per-camera sequence number of published frames; gaps are drops.
    pub seq: u64,
    /// Capture wall-clock time, ns since the Unix epoch.
    pub capture_ns: i64,
    pub width: u32,
    pub height: u32,
    pub format: OutputFormat,
    /// Bytes per luma row for raw formats (packed: equal to width).
    pub stride: u32,
}

/// Why a frame was not accepted for publishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The client's queue is full (slow or absent broker).
    Backpressure,
}

/// Where a camera's finished frames go. Never blocks: a sink that cannot
/// take a frame right now refuses it and the frame is counted as dropped.
pub trait FrameSink: Send + Sync {
    /// False while frames would only be refused (e.g. the broker is away):
    /// the camera then skips converting and encoding them altogether.
    fn ready(&self) -> bool {
        true
    }

    fn publish_frame(
        &self,
        frame_topic: &str,
        payload: PooledBuf,
        meta: &FrameMeta,
    ) -> Result<(), Refused>;
}
