//! One camera's GStreamer decode pipeline, driven from its decode thread.
//!
//! [`crate::decode::Decoder`] is synchronous: one unit in, at most one
//! picture out. A pipeline runs on its own streaming thread, so `submit`
//! pushes the unit and waits (bounded) for the decoder's answer: a picture
//! on the appsink, or a message on the bus (a decode error, a dropped
//! corrupt picture, a pipeline error). Both wake the decode thread through
//! one condition variable, so nothing polls. Decoders that hold pictures
//! back (frame threads, reordering, hardware queues) are detected: from
//! then on their pictures are handed out as they come, a unit late.
//!
//! The unit is copied once, into a buffer of a GStreamer buffer pool (the
//! ingest ring owns the original); pictures are mapped out of the
//! decoder's own buffers, never copied, and released at the next `submit`.
//! Both ends are bounded: a decoder that falls behind (a hardware queue
//! full) makes units wait in appsrc; past [`INPUT_DEPTH`] of them, new
//! units are dropped (counted as `late`, and the camera waits for the next
//! keyframe), never queued without end. Only GStreamer 1.14 API is used
//! (appsrc's own leaky queue needs 1.20; JetPack 5 has 1.16).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use crate::decode::fallback::{Failure, Preferred};
use crate::decode::gstreamer_elements::{known, package_of};
use crate::decode::{Picture, Planes};
use crate::source::backoff::Backoff;

/// Units waiting in appsrc before new ones are dropped.
const INPUT_DEPTH: u64 = 4;
/// Pictures queued in appsink before the oldest is dropped (the decode
/// thread takes each as it comes, so this only absorbs bursts).
const OUTPUT_DEPTH: u32 = 2;
/// Bitstream buffer size to start with; grows (once) for larger units.
const INITIAL_UNIT_BYTES: usize = 512 << 10;
/// The first picture: the pipeline negotiates and the decoder starts.
const FIRST_WAIT: Duration = Duration::from_secs(3);
/// Each later picture, while the decoder answers every unit.
const PICTURE_WAIT: Duration = Duration::from_millis(500);
/// ... once the decoder is known to hold pictures back.
const HELD_WAIT: Duration = Duration::from_millis(20);
/// Units in a row without any picture before the pipeline counts as stuck.
const STUCK_AFTER_UNITS: u32 = 30;
/// Pipeline failures in a row without a picture in between before the
/// camera gives up on GStreamer and decodes in software.
const FAILURES_BEFORE_GIVING_UP: u32 = 5;

/// Wakes the decode thread when the pipeline has something for it.
#[derive(Default)]
struct Wake {
    events: Mutex<u64>,
    cond: Condvar,
}

impl Wake {
    fn notify(&self) {
        *self.events.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.cond.notify_one();
    }

    /// Waits until something happened since `seen`; false at the deadline.
    fn wait(&self, seen: &mut u64, deadline: Instant) -> bool {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        while *events == *seen {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            events = self
                .cond
                .wait_timeout(events, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *seen = *events;
        true
    }
}

/// A built, playing pipeline.
struct Running {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: gst_app::AppSink,
    bus: gst::Bus,
    decoder: gst::Element,
    /// Bitstream buffers, reused: no allocation per unit once warm.
    pool: gst::BufferPool,
    unit_bytes: usize,
    wake: Arc<Wake>,
    seen: u64,
    /// Units pushed into appsrc, and units that left it for the parser.
    pushed: u64,
    left_appsrc: Arc<AtomicU64>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        let _ = self.pool.set_active(false);
    }
}

impl Running {
    fn build(element: &str) -> Result<Running, Failure> {
        super::init().map_err(Failure::fatal)?;
        let make = |name: &str| {
            gst::ElementFactory::make(name).build().map_err(|_| {
                Failure::fatal(format!(
                    "GStreamer element {name} is not installed (install {})",
                    package_of(name)
                ))
            })
        };
        let h264 = gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .build();
        let src = gst_app::AppSrc::builder()
            .caps(&h264)
            .format(gst::Format::Time)
            .is_live(true)
            .do_timestamp(false)
            .block(false)
            .build();
        // Bounded by INPUT_DEPTH units (counted below), not by bytes.
        src.set_max_bytes(u64::MAX);
        let left_appsrc = Arc::new(AtomicU64::new(0));
        let left = left_appsrc.clone();
        src.static_pad("src")
            .ok_or_else(|| Failure::fatal("appsrc has no src pad"))?
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                left.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        let parse = make("h264parse")?;
        let decoder = make(element)?;
        tune(&decoder, element);
        // NVIDIA's decoder writes NVMM (device) memory; nvvidconv copies it
        // to system memory as NV12, which the pipeline reads.
        let convert = if element == "nvv4l2decoder" {
            Some(make("nvvidconv")?)
        } else {
            None
        };
        let raw = gst::Caps::builder("video/x-raw")
            .field("format", gst::List::new(["I420", "NV12"]))
            .build();
        let sink = gst_app::AppSink::builder()
            .caps(&raw)
            .sync(false)
            .max_buffers(OUTPUT_DEPTH)
            .drop(true)
            .enable_last_sample(false)
            .build();
        // On the streaming thread: a unit entering the decoder starts a
        // clean count (errors of a unit that gave no picture are not the
        // next picture's); a picture reaching the appsink with decode
        // errors logged since is corrupt.
        decoder
            .static_pad("sink")
            .ok_or_else(|| Failure::fatal(format!("{element} has no sink pad")))?
            .add_probe(gst::PadProbeType::BUFFER, |_, _| {
                super::logs::take_decode_errors();
                gst::PadProbeReturn::Ok
            });
        sink.static_pad("sink")
            .ok_or_else(|| Failure::fatal("appsink has no sink pad"))?
            .add_probe(gst::PadProbeType::BUFFER, |_, info| {
                if super::logs::take_decode_errors() > 0
                    && let Some(gst::PadProbeData::Buffer(buffer)) = &mut info.data
                {
                    buffer.make_mut().set_flags(gst::BufferFlags::CORRUPTED);
                }
                gst::PadProbeReturn::Ok
            });
        let wake = Arc::new(Wake::default());
        let on_sample = wake.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |_| {
                    on_sample.notify();
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );

        let pipeline = gst::Pipeline::new();
        let mut chain: Vec<&gst::Element> = vec![src.upcast_ref(), &parse, &decoder];
        chain.extend(convert.as_ref());
        chain.push(sink.upcast_ref());
        pipeline
            .add_many(chain.iter().copied())
            .and_then(|_| gst::Element::link_many(chain.iter().copied()))
            .map_err(|e| Failure::fatal(format!("cannot link the {element} pipeline: {e}")))?;

        let bus = pipeline
            .bus()
            .ok_or_else(|| Failure::fatal("the pipeline has no bus"))?;
        // Only what the decode thread acts on is kept; the rest (state
        // changes, latency, stream-start) would pile up unread.
        let on_message = wake.clone();
        bus.set_sync_handler(move |_, message| {
            use gst::MessageView;
            match message.view() {
                MessageView::Error(_)
                | MessageView::Warning(_)
                | MessageView::Qos(_)
                | MessageView::Eos(_) => {
                    on_message.notify();
                    gst::BusSyncReply::Pass
                }
                _ => gst::BusSyncReply::Drop,
            }
        });

        let pool = bitstream_pool(INITIAL_UNIT_BYTES)?;
        let running = Running {
            pipeline,
            src,
            sink,
            bus,
            decoder,
            pool,
            unit_bytes: INITIAL_UNIT_BYTES,
            wake,
            seen: 0,
            pushed: 0,
            left_appsrc,
        };
        running
            .pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| {
                let why = running
                    .bus
                    .pop_filtered(&[gst::MessageType::Error])
                    .map(|m| describe_message(&m))
                    .unwrap_or_else(|| "no reason given".into());
                Failure::transient(format!("the {element} pipeline did not start: {why}"))
            })?;
        Ok(running)
    }

    /// The unit in a pooled buffer, stamped with its index.
    fn buffer_for(&mut self, unit: &[u8], index: u64) -> Result<gst::Buffer, Failure> {
        if unit.len() > self.unit_bytes {
            let bytes = unit.len().next_power_of_two();
            let _ = self.pool.set_active(false);
            self.pool = bitstream_pool(bytes)?;
            self.unit_bytes = bytes;
        }
        let mut buffer = self
            .pool
            .acquire_buffer(None)
            .map_err(|e| Failure::transient(format!("no bitstream buffer: {e:?}")))?;
        let b = buffer
            .get_mut()
            .ok_or_else(|| Failure::transient("a pooled bitstream buffer is shared"))?;
        b.set_size(unit.len());
        b.map_writable()
            .map_err(|_| Failure::transient("cannot map a bitstream buffer"))?
            .copy_from_slice(unit);
        let stamp = unit_time(index);
        b.set_pts(stamp);
        b.set_dts(stamp);
        Ok(buffer)
    }
}

/// Bitstream buffers of `bytes`; the pool grows to what is in flight and
/// then stays there.
fn bitstream_pool(bytes: usize) -> Result<gst::BufferPool, Failure> {
    let pool = gst::BufferPool::new();
    let mut config = pool.config();
    config.set_params(None, bytes as u32, INPUT_DEPTH as u32, 0);
    pool.set_config(config)
        .and_then(|_| pool.set_active(true))
        .map_err(|e| Failure::fatal(format!("cannot set up bitstream buffers: {e}")))?;
    Ok(pool)
}

/// Units are stamped 1 ms apart by index, so a picture says which unit it
/// came from (decoders carry timestamps from input to output).
fn unit_time(index: u64) -> gst::ClockTime {
    gst::ClockTime::from_mseconds(index)
}

/// Element settings edgecam relies on, where the element has them.
fn tune(decoder: &gst::Element, element: &str) {
    let has = |p: &str| decoder.find_property(p).is_some();
    // Decode errors are counted per unit here (bus warnings); the decoder
    // must not turn a burst of them into a pipeline error.
    if has("max-errors") {
        decoder.set_property("max-errors", -1i32);
    }
    if element == "avdec_h264" {
        // One thread per camera, like every other backend: cameras scale
        // across cores, and frame threads would hold pictures back.
        decoder.set_property("max-threads", 1i32);
        // A picture libavcodec could only conceal is dropped (and counted),
        // as openh264 does, rather than published damaged.
        decoder.set_property("output-corrupt", false);
    }
}

fn describe_message(message: &gst::Message) -> String {
    use gst::MessageView;
    let from = message
        .src()
        .map(|s| s.name().to_string())
        .unwrap_or_default();
    match message.view() {
        MessageView::Error(e) => format!(
            "{from}: {}{}",
            e.error(),
            e.debug().map(|d| format!(" ({d})")).unwrap_or_default()
        ),
        MessageView::Warning(w) => format!("{from}: {}", w.error()),
        _ => format!("{from}: {:?}", message.type_()),
    }
}

/// A GStreamer decoder element in a pipeline of its own.
pub struct GstDecoder {
    element: String,
    description: String,
    running: Option<Running>,
    /// The picture lent to the pipeline until the next `submit`.
    frame: Option<gst_video::VideoFrame<gst_video::video_frame::Readable>>,
    /// The pictures' format, parsed once per caps.
    info: Option<(gst::Caps, gst_video::VideoInfo)>,
    next_unit: u64,
    seen_picture: bool,
    holds_pictures: bool,
    units_without_picture: u32,
    lost: u64,
    /// Restarts after pipeline errors.
    backoff: Backoff,
    retry_at: Option<Instant>,
    failures: u32,
    last_failure: String,
}

impl GstDecoder {
    /// Builds and starts the pipeline; an element that is not installed is
    /// a fatal error naming the package to install.
    pub fn open(element: &str) -> Result<GstDecoder, Failure> {
        let running = Running::build(element)?;
        let description = match known(element) {
            Some(k) => format!("gstreamer {element} ({})", k.what),
            None => format!("gstreamer {element}"),
        };
        Ok(GstDecoder {
            element: element.to_string(),
            description,
            running: Some(running),
            frame: None,
            info: None,
            next_unit: 0,
            seen_picture: false,
            holds_pictures: false,
            units_without_picture: 0,
            lost: 0,
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
            retry_at: None,
            failures: 0,
            last_failure: String::new(),
        })
    }

    /// The pipeline failed: tear it down and restart it after a backoff,
    /// or give up (fatal) after too many failures in a row.
    fn fail(&mut self, why: String) -> Result<bool, Failure> {
        self.frame = None;
        self.running = None;
        self.failures += 1;
        self.last_failure = why;
        if self.failures >= FAILURES_BEFORE_GIVING_UP {
            return Err(Failure::fatal(format!(
                "{}: {} pipeline failures in a row without a picture; last: {}",
                self.element, self.failures, self.last_failure
            )));
        }
        let delay = self.backoff.next_delay();
        self.retry_at = Some(Instant::now() + delay);
        tracing::warn!(
            element = %self.element,
            failures = self.failures,
            "GStreamer pipeline failed, restarting in {:.1} s: {}",
            delay.as_secs_f64(),
            self.last_failure
        );
        Err(Failure::transient(format!(
            "{} pipeline failed (restart in {:.1} s): {}",
            self.element,
            delay.as_secs_f64(),
            self.last_failure
        )))
    }

    /// A pipeline to push into, restarting one after its backoff.
    fn ensure_running(&mut self) -> Result<(), Failure> {
        if self.running.is_some() {
            return Ok(());
        }
        if let Some(at) = self.retry_at {
            let now = Instant::now();
            if now < at {
                return Err(Failure::transient(format!(
                    "{} pipeline restarting in {:.1} s after: {}",
                    self.element,
                    (at - now).as_secs_f64(),
                    self.last_failure
                )));
            }
        }
        match Running::build(&self.element) {
            Ok(running) => {
                tracing::info!(element = %self.element, "GStreamer pipeline (re)started");
                self.running = Some(running);
                self.retry_at = None;
                self.seen_picture = false;
                self.holds_pictures = false;
                self.units_without_picture = 0;
                Ok(())
            }
            Err(e) if e.fatal => Err(e),
            Err(e) => self.fail(e.message).map(|_| ()),
        }
    }

    /// Waits for the decoder's answer to unit `index`.
    fn answer(&mut self, index: u64) -> Result<bool, Failure> {
        let wait = if !self.seen_picture {
            FIRST_WAIT
        } else if self.holds_pictures {
            HELD_WAIT
        } else {
            PICTURE_WAIT
        };
        let deadline = Instant::now() + wait;
        loop {
            let Some(running) = self.running.as_mut() else {
                return Ok(false);
            };
            // A broken pipeline first: its last pictures are not worth
            // waiting for.
            if let Some(message) = running
                .bus
                .pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos])
            {
                return self.fail(describe_message(&message));
            }
            if let Some(sample) = running.sink.try_pull_sample(gst::ClockTime::ZERO) {
                return self.take(sample, index);
            }
            while let Some(message) = running.bus.pop() {
                use gst::MessageView;
                match message.view() {
                    MessageView::Warning(_) => {
                        return Err(Failure::transient(describe_message(&message)));
                    }
                    MessageView::Qos(_)
                        if message.src() == Some(running.decoder.upcast_ref::<gst::Object>()) =>
                    {
                        return Err(Failure::transient(format!(
                            "{} dropped a picture it could not decode",
                            self.element
                        )));
                    }
                    _ => {}
                }
            }
            if !running.wake.wait(&mut running.seen, deadline) {
                break;
            }
        }
        if self.seen_picture && !self.holds_pictures {
            self.holds_pictures = true;
            tracing::info!(element = %self.element, "the decoder holds pictures back; they are handed out as they come");
        }
        self.units_without_picture += 1;
        if self.units_without_picture >= STUCK_AFTER_UNITS {
            let units = self.units_without_picture;
            return self.fail(format!("no picture for {units} access units"));
        }
        Ok(false)
    }

    /// Maps the sample's picture (no copy) and lends it until the next unit.
    fn take(&mut self, sample: gst::Sample, index: u64) -> Result<bool, Failure> {
        let (Some(buffer), Some(caps)) = (sample.buffer_owned(), sample.caps_owned()) else {
            return Err(Failure::transient("a picture without buffer or format"));
        };
        // Concealed damage (libav's log), or a decoder that flags it (the
        // V4L2 elements): counted and not published, as in software.
        if buffer.flags().contains(gst::BufferFlags::CORRUPTED) {
            self.seen_picture = true;
            return Err(Failure::transient(format!(
                "{}: picture decoded with errors (concealed), dropped",
                self.element
            )));
        }
        if buffer.pts().is_some_and(|t| t < unit_time(index)) && !self.holds_pictures {
            self.holds_pictures = true;
            tracing::info!(element = %self.element, "the decoder answers a unit late; pictures are handed out as they come");
        }
        if self.info.as_ref().is_none_or(|(c, _)| c != &caps) {
            let info = gst_video::VideoInfo::from_caps(&caps)
                .map_err(|e| Failure::fatal(format!("unusable picture format {caps}: {e}")))?;
            self.info = Some((caps, info));
        }
        let Some((_, info)) = &self.info else {
            unreachable!()
        };
        let frame = gst_video::VideoFrame::from_buffer_readable(buffer, info)
            .map_err(|_| Failure::transient("cannot map a decoded picture"))?;
        self.frame = Some(frame);
        self.seen_picture = true;
        self.units_without_picture = 0;
        self.failures = 0;
        self.backoff.reset();
        Ok(true)
    }
}

impl Preferred for GstDecoder {
    fn describe(&self) -> &str {
        &self.description
    }

    fn submit(&mut self, unit: &[u8]) -> Result<bool, Failure> {
        // The previous picture goes back to the decoder's pool.
        self.frame = None;
        self.ensure_running()?;
        let index = self.next_unit;
        self.next_unit += 1;
        let running = self.running.as_mut().expect("ensure_running");
        let waiting = running.pushed - running.left_appsrc.load(Ordering::Relaxed);
        if waiting >= INPUT_DEPTH {
            // The decoder is behind: drop this unit rather than queue it.
            self.lost += 1;
            return Ok(false);
        }
        running.pushed += 1;
        let buffer = running.buffer_for(unit, index)?;
        if let Err(flow) = running.src.push_buffer(buffer) {
            return self.fail(format!("pushing a unit into the pipeline failed: {flow:?}"));
        }
        self.answer(index)
    }

    fn picture(&self) -> Option<Picture<'_>> {
        let frame = self.frame.as_ref()?;
        let stride = |p: usize| frame.plane_stride()[p] as usize;
        let planes = match frame.format() {
            gst_video::VideoFormat::I420 => Planes::I420 {
                y: frame.plane_data(0).ok()?,
                u: frame.plane_data(1).ok()?,
                v: frame.plane_data(2).ok()?,
                y_stride: stride(0),
                uv_stride: stride(1),
            },
            gst_video::VideoFormat::Nv12 => Planes::Nv12 {
                y: frame.plane_data(0).ok()?,
                uv: frame.plane_data(1).ok()?,
                y_stride: stride(0),
                uv_stride: stride(1),
            },
            _ => return None,
        };
        Some(Picture {
            width: frame.width() as usize,
            height: frame.height() as usize,
            planes,
        })
    }

    /// A new stream: a fresh pipeline at the next unit (no backoff; nothing
    /// failed), so no picture or state of the old stream leaks into it.
    fn flush(&mut self) -> Result<(), Failure> {
        self.frame = None;
        self.running = None;
        self.retry_at = None;
        Ok(())
    }

    fn take_lost(&mut self) -> u64 {
        std::mem::take(&mut self.lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::synthetic::{SyntheticSpec, clip, read_barcode};

    /// The tight Y plane and the barcode painted into it.
    fn barcode(p: &Picture<'_>) -> u16 {
        let (y, stride) = match p.planes {
            Planes::I420 { y, y_stride, .. } | Planes::Nv12 { y, y_stride, .. } => (y, y_stride),
        };
        let tight: Vec<u8> = (0..p.height)
            .flat_map(|r| &y[r * stride..r * stride + p.width])
            .copied()
            .collect();
        read_barcode(&tight, p.width, p.height)
    }

    fn units() -> Vec<Vec<u8>> {
        let spec = SyntheticSpec::parse("160x96@10").unwrap();
        clip(spec)
            .unwrap()
            .units
            .iter()
            .map(|u| u.0.clone())
            .collect()
    }

    #[test]
    fn avdec_h264_decodes_every_unit_in_order() {
        let units = units();
        let mut d = GstDecoder::open("avdec_h264").unwrap();
        assert_eq!(
            d.describe(),
            "gstreamer avdec_h264 (libavcodec H.264 (software))"
        );
        for (i, unit) in units.iter().enumerate() {
            assert!(d.submit(unit).unwrap(), "unit {i}: no picture");
            let p = d.picture().unwrap();
            assert_eq!((p.width, p.height), (160, 96));
            assert_eq!(usize::from(barcode(&p)), i, "unit {i}");
        }
        assert_eq!(d.take_lost(), 0);
    }

    #[test]
    fn a_missing_element_is_fatal_and_names_the_package() {
        let e = GstDecoder::open("nvv4l2decoder").err().unwrap();
        assert!(e.fatal);
        assert!(
            e.message
                .contains("nvv4l2decoder is not installed (install nvidia-l4t-gstreamer"),
            "{}",
            e.message
        );
    }

    #[test]
    fn garbage_is_an_error_for_that_unit_and_decoding_goes_on() {
        let units = units();
        let mut d = GstDecoder::open("avdec_h264").unwrap();
        assert!(d.submit(&units[0]).unwrap());
        let started = Instant::now();
        let mut garbage = units[1].clone();
        let half = garbage.len() / 2;
        for b in &mut garbage[6..half] {
            *b ^= 0x5a;
        }
        // libavcodec conceals the damage and logs it: the picture is
        // reported as an error (counted, not published), promptly and not
        // fatally.
        let answer = d.submit(&garbage);
        assert!(
            matches!(&answer, Err(e) if !e.fatal && e.message.contains("concealed")),
            "{answer:?}"
        );
        assert!(started.elapsed() < PICTURE_WAIT * 2);
        let nothing = d.submit(&[0, 0, 0, 1, 0x65, 0xff, 0xff, 0xff]);
        assert!(!matches!(&nothing, Err(e) if e.fatal), "{nothing:?}");
        // The next keyframe decodes again.
        let gop = SyntheticSpec::parse("160x96@10").unwrap().gop();
        assert!(d.submit(&units[gop]).unwrap());
        assert_eq!(usize::from(barcode(&d.picture().unwrap())), gop);
    }

    #[test]
    fn a_pipeline_error_restarts_the_pipeline_after_a_backoff() {
        let units = units();
        let mut d = GstDecoder::open("avdec_h264").unwrap();
        assert!(d.submit(&units[0]).unwrap());
        let inject = |d: &GstDecoder| {
            let running = d.running.as_ref().unwrap();
            let message = gst::message::Error::builder(gst::CoreError::Failed, "injected")
                .src(&running.decoder)
                .build();
            running.decoder.post_message(message).unwrap();
        };
        inject(&d);
        let e = d.submit(&units[1]).unwrap_err();
        assert!(!e.fatal && e.message.contains("injected"), "{e:?}");
        // Within the backoff: refused without building a pipeline.
        let e = d.submit(&units[2]).unwrap_err();
        assert!(e.message.contains("restarting in"), "{e:?}");
        assert!(d.running.is_none());
        std::thread::sleep(Duration::from_millis(600));
        assert!(d.submit(&units[0]).unwrap());
        assert_eq!(barcode(&d.picture().unwrap()), 0);

        // Failures in a row with no picture in between: give up (fatal),
        // and the camera's fallback takes over in software.
        let mut last = None;
        for _ in 0..FAILURES_BEFORE_GIVING_UP {
            while d.running.is_none() {
                std::thread::sleep(Duration::from_millis(100));
                let _ = d.ensure_running();
            }
            inject(&d);
            last = Some(d.submit(&units[1]).unwrap_err());
        }
        let last = last.unwrap();
        assert!(last.fatal, "{last:?}");
        assert!(
            last.message.contains("5 pipeline failures in a row"),
            "{last:?}"
        );
    }

    #[test]
    fn flush_starts_a_fresh_pipeline_that_decodes_from_a_keyframe() {
        let units = units();
        let mut d = GstDecoder::open("avdec_h264").unwrap();
        for unit in &units[..3] {
            assert!(d.submit(unit).unwrap());
        }
        d.flush().unwrap();
        assert!(d.running.is_none());
        assert!(d.submit(&units[0]).unwrap());
        assert_eq!(barcode(&d.picture().unwrap()), 0);
    }
}
