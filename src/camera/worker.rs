//! The decode thread: access unit in, published frame out.
//!
//! [`FramePipeline::process`] is the whole per-frame path (decode → convert →
//! encode into a pooled buffer → sink). It allocates nothing in steady state:
//! buffers are sized on the first frame and when the output size changes, and
//! `tests/alloc_free.rs` holds it to that.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::CameraShared;
use crate::config::OutputFormat;
use crate::convert::{Converter, Layout, frame_bytes, output_size};
use crate::decode::{Decoder, Picture, Planes};
use crate::ingest::UnitInfo;
use crate::pool::FramePool;
use crate::publish::jpeg::{JpegEncoder, packed_i420};
use crate::publish::{FrameMeta, FrameSink, Refused};
use crate::stats::DropReason;

/// Consecutive decode errors after which the stream is treated as broken
/// (wait for the next keyframe).
const ERRORS_BEFORE_RESYNC: u32 = 1;

/// Runs until the camera's ingest queue is closed.
pub fn run(shared: Arc<CameraShared>, decoder: Box<dyn Decoder>, sink: Arc<dyn FrameSink>) {
    let mut pipeline = match FramePipeline::new(decoder, shared.output().quality) {
        Ok(p) => p,
        Err(e) => {
            shared.set_state(
                super::CameraState::Error,
                Some(format!("cannot start the encoder: {e}")),
            );
            return;
        }
    };
    // Fault injection for the watchdog test (docs/design.md): this camera's
    // decode thread hangs after its first unit.
    let wedge = std::env::var("EDGECAM_FAULT_WEDGE_DECODER").is_ok_and(|c| c == shared.name);
    loop {
        shared.heartbeat();
        let slot = match shared.ingest.pop(Duration::from_millis(500)) {
            Err(crate::ingest::Closed) => break,
            Ok(None) => continue,
            Ok(Some(slot)) => slot,
        };
        pipeline.process(&shared, &slot.data, &slot.info, sink.as_ref());
        shared.ingest.recycle(slot);
        if wedge {
            tracing::warn!(camera = %shared.name, "fault injection: decode thread wedged");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    }
}

/// Output buffers, sized for one output geometry.
struct SizedPool {
    pool: FramePool,
    size: (usize, usize),
    format: OutputFormat,
    slots: usize,
}

pub struct FramePipeline {
    decoder: Box<dyn Decoder>,
    converter: Converter,
    jpeg: JpegEncoder,
    /// Scaled I420 picture on its way to the JPEG encoder.
    scratch: Vec<u8>,
    pool: Option<SizedPool>,
    seq: u64,
    consecutive_errors: u32,
    last_error_log: Option<Instant>,
    errors_since_log: u64,
    /// The decoder description last put in the camera's status.
    decoder_revision: u64,
}

impl FramePipeline {
    pub fn new(decoder: Box<dyn Decoder>, quality: u8) -> anyhow::Result<Self> {
        Ok(FramePipeline {
            decoder,
            converter: Converter::new(),
            jpeg: JpegEncoder::new(quality)?,
            scratch: Vec::new(),
            pool: None,
            seq: 0,
            consecutive_errors: 0,
            last_error_log: None,
            errors_since_log: 0,
            decoder_revision: 0,
        })
    }

    /// Decodes one unit and, if the pacer chose it, publishes its picture.
    pub fn process(
        &mut self,
        shared: &CameraShared,
        unit: &[u8],
        info: &UnitInfo,
        sink: &dyn FrameSink,
    ) {
        let started = Instant::now();
        if info.reset {
            self.decoder.reset();
        }
        if self.decoder.revision() != self.decoder_revision {
            // The decoder changed what it is (a USB camera's format became
            // known, hardware fell back to software): show it.
            self.decoder_revision = self.decoder.revision();
            let now = self.decoder.describe().to_string();
            shared.update_status(|s| s.decoder = now);
        }
        if self.publish_as_is(shared, unit, info, sink) {
            return;
        }
        let Self {
            decoder,
            converter,
            jpeg,
            scratch,
            pool,
            seq,
            ..
        } = self;
        // Units a decoder dropped because it fell behind (counted a unit
        // late: the picture borrowed below keeps the decoder until then).
        // Pictures after a lost unit would carry the loss: skip to the next
        // keyframe.
        let lost = decoder.take_lost();
        if lost > 0 {
            for _ in 0..lost {
                shared.stats.dropped(DropReason::Late);
            }
            shared.note_loss();
        }
        let picture = match decoder.decode(unit) {
            Ok(Some(picture)) => picture,
            Ok(None) => return,
            Err(e) => {
                let message = e.0;
                self.decode_failed(shared, message);
                return;
            }
        };
        self.consecutive_errors = 0;
        shared.stats.frames_decoded.fetch_add(1, Ordering::Relaxed);
        shared
            .stats
            .record_decode_us(started.elapsed().as_micros() as u64);
        let source_size = (picture.width, picture.height);
        if shared.source_size() != Some(source_size) {
            shared.update_status(|s| s.source_size = Some(source_size));
        }
        if shared.snapshot_wanted() {
            let quality = shared.output().quality;
            let result = snapshot(converter, jpeg, scratch, &picture, quality);
            shared.answer_snapshots(result);
        }
        if !info.publish {
            // Decoded as a reference for later pictures, not published.
            shared.stats.dropped(DropReason::Paced);
            return;
        }
        *seq += 1;
        if !sink.ready() {
            shared.stats.dropped(DropReason::MqttBackpressure);
            return;
        }
        let out = shared.output();
        let size = output_size(source_size, out.width, out.height);
        let pool = ensure_pool(pool, shared, size, out.format, out.pool_frames);
        let Some(mut buf) = pool.try_take() else {
            shared.stats.dropped(DropReason::PoolExhausted);
            return;
        };
        let written = match out.format {
            OutputFormat::Jpeg => {
                if let Err(e) = jpeg.set_quality(out.quality) {
                    tracing::warn!(camera = %shared.name, "JPEG quality not applied: {e}");
                }
                encode_jpeg(converter, jpeg, scratch, &picture, size, buf.space())
            }
            OutputFormat::Nv12 => Ok(converter.convert(&picture, size, Layout::Nv12, buf.space())),
            OutputFormat::I420 => Ok(converter.convert(&picture, size, Layout::I420, buf.space())),
        };
        let len = match written {
            Ok(len) => len,
            Err(e) => {
                tracing::warn!(camera = %shared.name, "encoding failed: {e}");
                shared.stats.dropped(DropReason::DecodeError);
                return;
            }
        };
        buf.set_len(len);
        send(shared, sink, buf, *seq, info, size, out.format);
    }

    /// A USB camera's MJPEG frame when the output is JPEG at the camera's
    /// size: published as it came, with no decode and no re-encode (only
    /// the copy into the pooled buffer that is the MQTT payload). Returns
    /// false when the unit is not such a frame.
    fn publish_as_is(
        &mut self,
        shared: &CameraShared,
        unit: &[u8],
        info: &UnitInfo,
        sink: &dyn FrameSink,
    ) -> bool {
        let out = shared.output();
        if out.format != OutputFormat::Jpeg {
            return false;
        }
        let Self {
            decoder, pool, seq, ..
        } = self;
        let Some(frame) = decoder.as_jpeg(unit) else {
            return false;
        };
        let size = (frame.width, frame.height);
        if output_size(size, out.width, out.height) != size {
            return false;
        }
        let Ok(header) = crate::decode::mjpeg::inspect(frame.data) else {
            return false;
        };
        if shared.source_size() != Some(size) {
            shared.update_status(|s| s.source_size = Some(size));
        }
        if shared.snapshot_wanted() {
            let mut jpeg = vec![0u8; crate::decode::mjpeg::complete_len(&header)];
            let result = crate::decode::mjpeg::copy_complete(frame.data, &header, &mut jpeg)
                .map(|_| jpeg)
                .ok_or_else(|| "snapshot copy failed".to_string());
            shared.answer_snapshots(result);
        }
        if !info.publish {
            shared.stats.dropped(DropReason::Paced);
            return true;
        }
        *seq += 1;
        if !sink.ready() {
            shared.stats.dropped(DropReason::MqttBackpressure);
            return true;
        }
        let pool = ensure_pool(pool, shared, size, OutputFormat::Jpeg, out.pool_frames);
        let Some(mut buf) = pool.try_take() else {
            shared.stats.dropped(DropReason::PoolExhausted);
            return true;
        };
        let Some(len) = crate::decode::mjpeg::copy_complete(frame.data, &header, buf.space())
        else {
            tracing::warn!(camera = %shared.name, bytes = frame.data.len(), "an MJPEG frame larger than an output buffer; dropped");
            shared.stats.dropped(DropReason::DecodeError);
            return true;
        };
        buf.set_len(len);
        send(shared, sink, buf, *seq, info, size, OutputFormat::Jpeg);
        true
    }

    fn decode_failed(&mut self, shared: &CameraShared, message: String) {
        shared.stats.dropped(DropReason::DecodeError);
        self.consecutive_errors += 1;
        if self.consecutive_errors >= ERRORS_BEFORE_RESYNC {
            // Pictures after a broken one would carry its damage: skip to the
            // next keyframe.
            shared.note_loss();
        }
        // One log line per 10 s per camera, with the count in between.
        self.errors_since_log += 1;
        let due = self
            .last_error_log
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
        if due {
            tracing::warn!(camera = %shared.name, errors = self.errors_since_log, "decode error: {message}");
            self.last_error_log = Some(Instant::now());
            self.errors_since_log = 0;
            shared.update_status(|s| s.last_error = Some(format!("decode error: {message}")));
        }
    }
}

/// Hands a finished frame to the sink and accounts for it.
fn send(
    shared: &CameraShared,
    sink: &dyn FrameSink,
    buf: crate::pool::PooledBuf,
    seq: u64,
    info: &UnitInfo,
    size: (usize, usize),
    format: OutputFormat,
) {
    let len = buf.len();
    let meta = FrameMeta {
        seq,
        capture_ns: info.capture_ns,
        width: size.0 as u32,
        height: size.1 as u32,
        format,
        stride: size.0 as u32,
    };
    match sink.publish_frame(&shared.frame_topic, buf, &meta) {
        Ok(()) => {
            let stats = &shared.stats;
            stats.frames_published.fetch_add(1, Ordering::Relaxed);
            stats
                .bytes_published
                .fetch_add(len as u64, Ordering::Relaxed);
            let latency_ns = crate::clock::now_ns() - info.capture_ns;
            stats.record_latency_us((latency_ns.max(0) / 1000) as u64);
        }
        Err(Refused::Backpressure) => shared.stats.dropped(DropReason::MqttBackpressure),
    }
}

fn ensure_pool<'a>(
    pool: &'a mut Option<SizedPool>,
    shared: &CameraShared,
    size: (usize, usize),
    format: OutputFormat,
    slots: usize,
) -> &'a FramePool {
    let fits = pool
        .as_ref()
        .is_some_and(|p| p.size == size && p.format == format && p.slots == slots);
    if !fits {
        let slot_bytes = match format {
            OutputFormat::Jpeg => JpegEncoder::max_len(size.0, size.1),
            OutputFormat::Nv12 | OutputFormat::I420 => frame_bytes(size.0, size.1),
        };
        tracing::info!(
            camera = %shared.name,
            width = size.0,
            height = size.1,
            format = format.as_str(),
            slots,
            slot_bytes,
            "output buffers reserved"
        );
        shared.update_status(|s| s.output_size = Some(size));
        let fresh = FramePool::new(slots, slot_bytes);
        shared.set_pool(fresh.clone());
        *pool = Some(SizedPool {
            pool: fresh,
            size,
            format,
            slots,
        });
    }
    &pool.as_ref().expect("just ensured").pool
}

/// A full-resolution JPEG of `picture`, for `…/snapshot`. Rare, so it may
/// allocate its own buffer.
fn snapshot(
    converter: &mut Converter,
    jpeg: &mut JpegEncoder,
    scratch: &mut Vec<u8>,
    picture: &Picture<'_>,
    quality: u8,
) -> Result<Vec<u8>, String> {
    let size = (picture.width & !1, picture.height & !1);
    let mut out = vec![0u8; JpegEncoder::max_len(size.0, size.1)];
    let _ = jpeg.set_quality(quality);
    let len = encode_jpeg(converter, jpeg, scratch, picture, size, &mut out)
        .map_err(|e| format!("snapshot encoding failed: {e}"))?;
    out.truncate(len);
    Ok(out)
}

fn encode_jpeg(
    converter: &mut Converter,
    jpeg: &mut JpegEncoder,
    scratch: &mut Vec<u8>,
    picture: &Picture<'_>,
    size: (usize, usize),
    out: &mut [u8],
) -> anyhow::Result<usize> {
    let direct =
        size == (picture.width, picture.height) && matches!(picture.planes, Planes::I420 { .. });
    if direct {
        // Same size and layout: encode straight from the decoder's planes.
        return jpeg.encode_i420(picture, out);
    }
    let need = frame_bytes(size.0, size.1);
    if scratch.len() < need {
        scratch.resize(need, 0);
    }
    converter.convert(picture, size, Layout::I420, scratch);
    jpeg.encode_i420(&packed_i420(scratch, size.0, size.1), out)
}
