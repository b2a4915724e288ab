//! The stateful decoding sequence, driven from the camera's decode thread.
//!
//! ```text
//! open      S_FMT(OUTPUT, codec) → SUBSCRIBE(SOURCE_CHANGE, EOS) → REQBUFS(OUTPUT) → STREAMON(OUTPUT)
//! submit    QBUF(OUTPUT, unit, tag) → poll → [SOURCE_CHANGE → G_FMT/S_FMT(CAPTURE) → REQBUFS → STREAMON]
//!           → DQBUF(CAPTURE) = picture (lent to the pipeline until the next submit, then re-queued)
//! resize    SOURCE_CHANGE while streaming → DQBUF until LAST → STREAMOFF/REQBUFS(0) → CAPTURE setup again
//! drain     DEC_CMD_STOP → DQBUF until LAST
//! reset     STREAMOFF/STREAMON both queues (a reconnected camera starts a new stream)
//! ```
//!
//! [`crate::decode::Decoder`] is synchronous: one unit in, at most one
//! picture out. A stateful decoder is asynchronous, so `submit` waits for
//! the picture of the unit it queued (bounded). Decoders that hold pictures
//! back (reordering) are detected: from then on pictures are handed out as
//! they come, a unit late, without waiting. Nothing here allocates per unit:
//! buffers are mapped once per format, and the `v4l2_buffer`s are built on
//! the stack (see [`crate::v4l2::buffers`]).

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::PollFlags;
use v4l2r::PlaneLayout;
use v4l2r::bindings;
use v4l2r::ioctl::{
    self, DecoderCmd, DqEventError, EventType, SelectionTarget, SelectionType, SubscribeEventFlags,
};

use super::Codec;
use super::layout::{Layout, PREFERRED};
use crate::decode::fallback::{Failure, Preferred};
use crate::decode::{DecodeError, Decoder, Picture};
use crate::v4l2::buffers::{Dequeue, Dequeued, MmapBuffers};
use crate::v4l2::node::{self, NodeKind};
use crate::v4l2::{
    Device, Format, PixelFormat, QueueType, V4l2Error, describe_format, queue_types,
};

/// Bitstream buffers: enough to keep the decoder busy while one is filled.
const OUTPUT_BUFFERS: u32 = 4;
/// Bitstream buffer size asked for (drivers may give more or less): a
/// 1080p H.264 keyframe of a camera is 100-500 kB.
const OUTPUT_BUFFER_BYTES: u32 = 1 << 20;
/// Decoded pictures in flight beyond the decoder's own minimum: one lent
/// to the pipeline, one being decoded into.
const EXTRA_CAPTURE_BUFFERS: u32 = 2;
/// How long `submit` waits for the picture of the unit it queued.
const PICTURE_WAIT: Duration = Duration::from_millis(1000);
/// ... once the decoder is known to hold pictures back.
const HELD_WAIT: Duration = Duration::from_millis(20);
/// How long to wait for a free bitstream buffer.
const OUTPUT_WAIT: Duration = Duration::from_millis(2000);
/// Units in a row without any picture before the decoder is declared stuck.
const STUCK_AFTER_UNITS: u32 = 30;
/// Pictures in a row flagged corrupt before the decoder is declared unable
/// to decode this stream (a profile it does not support, say).
const STUCK_AFTER_CORRUPT: u32 = 10;

/// Why decoding failed, and whether the decoder is still usable.
#[derive(Debug, Clone, PartialEq)]
pub enum M2mError {
    /// An ioctl failed (the device is gone, refused a format, ...): the
    /// decoder is unusable.
    Device(V4l2Error),
    /// The decoder stopped producing pictures.
    Stuck(String),
    /// The decoder flagged one picture as corrupt (bad bitstream): counted
    /// and skipped, like a software decoder's error.
    Corrupt(String),
    /// An access unit larger than the bitstream buffers.
    TooLarge { len: usize, capacity: usize },
}

impl M2mError {
    /// The hardware decoder cannot go on; fall back to software. (A unit
    /// too large for the bitstream buffers would recur with every
    /// keyframe.)
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            M2mError::Device(_) | M2mError::Stuck(_) | M2mError::TooLarge { .. }
        )
    }
}

impl fmt::Display for M2mError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            M2mError::Device(e) => write!(f, "{e}"),
            M2mError::Stuck(s) | M2mError::Corrupt(s) => f.write_str(s),
            M2mError::TooLarge { len, capacity } => write!(
                f,
                "an access unit of {len} bytes does not fit the decoder's {capacity}-byte bitstream buffers"
            ),
        }
    }
}

impl From<V4l2Error> for M2mError {
    fn from(e: V4l2Error) -> Self {
        M2mError::Device(e)
    }
}

/// CAPTURE side, set up on the first SOURCE_CHANGE.
struct CaptureSide {
    buffers: MmapBuffers,
    layout: Layout,
}

pub struct M2mDecoder {
    codec: Codec,
    description: String,
    out_q: QueueType,
    cap_q: QueueType,
    output: MmapBuffers,
    capture: Option<CaptureSide>,
    /// Decoded pictures not handed out yet, oldest first.
    ready: heapless::Deque<Dequeued, 32>,
    /// The CAPTURE buffer behind the last picture handed out.
    lent: Option<usize>,
    /// Tag (as the OUTPUT timestamp, in µs) of the next unit queued.
    next_tag: i64,
    /// SOURCE_CHANGE arrived while CAPTURE streams: reconfigure at LAST.
    resolution_change: bool,
    /// The LAST buffer of a drain came back.
    drained: bool,
    /// Seen to hand out pictures later than the unit that completes them.
    holds_pictures: bool,
    units_without_picture: u32,
    corrupt: u32,
    corrupt_streak: u32,
    /// Declared last: the mappings above go before the descriptor closes.
    dev: Device,
}

impl M2mDecoder {
    /// Opens `path` as a stateful decoder of `codec` and starts its OUTPUT
    /// (bitstream) queue. The CAPTURE side follows once the decoder has
    /// parsed the stream's headers.
    pub fn open(path: &Path, codec: Codec) -> Result<M2mDecoder, V4l2Error> {
        let dev = Device::open(path)?;
        let cap = dev.querycap()?;
        let info = node::describe(path, &cap);
        if info.kind != NodeKind::M2m {
            return Err(dev.error(
                "VIDIOC_QUERYCAP",
                format!("not a memory-to-memory device (it is {:?})", info.kind),
            ));
        }
        let (cap_q, out_q) = queue_types(info.multiplanar);
        let wanted = PixelFormat::from(&codec.fourcc());
        let want = Format {
            width: 0,
            height: 0,
            pixelformat: wanted,
            plane_fmt: vec![PlaneLayout {
                sizeimage: OUTPUT_BUFFER_BYTES,
                bytesperline: 0,
            }],
        };
        let got = dev.s_fmt(out_q, &want)?;
        if got.pixelformat != wanted {
            // Drivers replace a format they do not take with one they do.
            return Err(dev.error(
                format!("VIDIOC_S_FMT(OUTPUT, {wanted})"),
                format!(
                    "{} ({}) does not decode {codec}: it offered {} instead",
                    cap.card, cap.driver, got.pixelformat
                ),
            ));
        }
        ioctl::subscribe_event(
            &dev,
            EventType::SourceChange(0),
            SubscribeEventFlags::empty(),
        )
        .map_err(|e| dev.fail("VIDIOC_SUBSCRIBE_EVENT(SOURCE_CHANGE)", e))?;
        // EOS is optional (the LAST flag is what ends a drain).
        let _ = ioctl::subscribe_event(&dev, EventType::Eos, SubscribeEventFlags::empty());
        let output = MmapBuffers::allocate(&dev, out_q, OUTPUT_BUFFERS)?;
        ioctl::streamon(&dev, out_q).map_err(|e| dev.fail("VIDIOC_STREAMON(OUTPUT)", e))?;
        let description = format!(
            "v4l2m2m {} ({} {}, {codec})",
            path.display(),
            cap.driver,
            cap.card
        );
        tracing::debug!(device = %path.display(), "{codec} decoder open: OUTPUT {}", describe_format(&got));
        Ok(M2mDecoder {
            codec,
            description,
            out_q,
            cap_q,
            output,
            capture: None,
            ready: heapless::Deque::new(),
            lent: None,
            next_tag: 1,
            resolution_change: false,
            drained: false,
            holds_pictures: false,
            units_without_picture: 0,
            corrupt: 0,
            corrupt_streak: 0,
            dev,
        })
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    pub fn device(&self) -> &Path {
        self.dev.path()
    }

    /// Size of the decoded pictures, once known.
    pub fn picture_size(&self) -> Option<(usize, usize)> {
        self.capture
            .as_ref()
            .map(|c| (c.layout.width, c.layout.height))
    }

    /// Queues one access unit and waits (bounded) for a picture. Returns the
    /// CAPTURE buffer holding it; [`M2mDecoder::picture`] reads it. The
    /// buffer stays lent until the next call.
    pub fn submit(&mut self, unit: &[u8]) -> Result<Option<usize>, M2mError> {
        self.give_back()?;
        let capacity = self.output.plane_len(0, 0);
        if unit.len() > capacity {
            return Err(M2mError::TooLarge {
                len: unit.len(),
                capacity,
            });
        }
        let index = self.free_output()?;
        self.output.plane_mut(index, 0)[..unit.len()].copy_from_slice(unit);
        let tag = self.next_tag;
        self.next_tag += 1;
        self.output
            .queue(&self.dev, index, &[unit.len()], tag * 1000)?;
        let wait = if self.holds_pictures {
            HELD_WAIT
        } else {
            PICTURE_WAIT
        };
        let deadline = Instant::now() + wait;
        loop {
            self.service()?;
            if let Some(picture) = self.ready.pop_front() {
                self.lent = Some(picture.index);
                self.units_without_picture = 0;
                self.corrupt_streak = 0;
                let own = picture.timestamp_ns / 1000 == tag;
                if own && self.holds_pictures && self.ready.is_empty() {
                    self.holds_pictures = false;
                }
                return Ok(Some(picture.index));
            }
            if self.corrupt > 0 {
                self.corrupt_streak += self.corrupt;
                self.corrupt = 0;
                if self.corrupt_streak >= STUCK_AFTER_CORRUPT {
                    return Err(M2mError::Stuck(format!(
                        "{}: {} pictures in a row flagged corrupt",
                        self.dev.name(),
                        self.corrupt_streak
                    )));
                }
                return Err(M2mError::Corrupt(format!(
                    "{}: the decoder flagged a picture as corrupt",
                    self.dev.name()
                )));
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.wait(deadline - now)?;
        }
        if !self.holds_pictures && self.capture.is_some() {
            self.holds_pictures = true;
            tracing::info!(device = %self.dev.name(), "the decoder holds pictures back; they are handed out as they come");
        }
        self.units_without_picture += 1;
        if self.units_without_picture >= STUCK_AFTER_UNITS {
            return Err(M2mError::Stuck(format!(
                "{}: no picture for {} access units{}",
                self.dev.name(),
                self.units_without_picture,
                if self.capture.is_none() {
                    " (the decoder never reported the stream's format)"
                } else {
                    ""
                }
            )));
        }
        Ok(None)
    }

    /// The picture in CAPTURE buffer `index` (as returned by `submit`).
    pub fn picture(&self, index: usize) -> Option<Picture<'_>> {
        let capture = self.capture.as_ref()?;
        let planes = capture.buffers.planes(index);
        let mut mem: [&[u8]; 3] = [&[], &[], &[]];
        for (p, slot) in mem.iter_mut().enumerate().take(planes) {
            *slot = capture.buffers.plane(index, p);
        }
        capture.layout.picture(&mem[..planes])
    }

    /// End of stream: `V4L2_DEC_CMD_STOP`, then every remaining picture to
    /// `each` until the buffer flagged LAST.
    pub fn drain(&mut self, mut each: impl FnMut(Picture<'_>)) -> Result<usize, M2mError> {
        self.give_back()?;
        let mut count = 0;
        if self.capture.is_none() {
            return Ok(0);
        }
        self.drained = false;
        ioctl::decoder_cmd::<_, ()>(&self.dev, DecoderCmd::stop())
            .map_err(|e| self.dev.fail("VIDIOC_DECODER_CMD(STOP)", e))?;
        let deadline = Instant::now() + OUTPUT_WAIT;
        loop {
            self.service()?;
            while let Some(p) = self.ready.pop_front() {
                if let Some(pic) = self.picture(p.index) {
                    each(pic);
                    count += 1;
                }
                self.requeue_capture(p.index)?;
            }
            if self.drained {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(M2mError::Stuck(format!(
                    "{}: no LAST buffer after DEC_CMD_STOP",
                    self.dev.name()
                )));
            }
            self.wait(deadline - now)?;
        }
        // Ready to decode again: START clears the drained state.
        ioctl::decoder_cmd::<_, ()>(&self.dev, DecoderCmd::start())
            .map_err(|e| self.dev.fail("VIDIOC_DECODER_CMD(START)", e))?;
        if let Some(c) = &mut self.capture {
            c.buffers.queue_all(&self.dev)?;
        }
        Ok(count)
    }

    /// Drops everything queued and decoded (a new stream follows): STREAMOFF
    /// and STREAMON on both queues. The decoder keeps its CAPTURE format;
    /// a different stream announces itself with SOURCE_CHANGE.
    pub fn flush(&mut self) -> Result<(), M2mError> {
        self.lent = None;
        self.ready.clear();
        self.resolution_change = false;
        self.units_without_picture = 0;
        let dev = &self.dev;
        ioctl::streamoff(dev, self.out_q).map_err(|e| dev.fail("VIDIOC_STREAMOFF(OUTPUT)", e))?;
        self.output.reclaim_all();
        ioctl::streamon(dev, self.out_q).map_err(|e| dev.fail("VIDIOC_STREAMON(OUTPUT)", e))?;
        if let Some(c) = &mut self.capture {
            ioctl::streamoff(dev, self.cap_q)
                .map_err(|e| dev.fail("VIDIOC_STREAMOFF(CAPTURE)", e))?;
            c.buffers.reclaim_all();
            c.buffers.queue_all(dev)?;
            ioctl::streamon(dev, self.cap_q)
                .map_err(|e| dev.fail("VIDIOC_STREAMON(CAPTURE)", e))?;
        }
        Ok(())
    }

    /// Re-queues the buffer lent with the last picture.
    fn give_back(&mut self) -> Result<(), M2mError> {
        if let Some(index) = self.lent.take() {
            self.requeue_capture(index)?;
        }
        Ok(())
    }

    fn requeue_capture(&mut self, index: usize) -> Result<(), M2mError> {
        if let Some(c) = &mut self.capture
            && index < c.buffers.len()
            && c.buffers.is_ours(index)
        {
            c.buffers.queue(&self.dev, index, &[], 0)?;
        }
        Ok(())
    }

    /// A free bitstream buffer, waiting for the decoder to return one.
    fn free_output(&mut self) -> Result<usize, M2mError> {
        let deadline = Instant::now() + OUTPUT_WAIT;
        loop {
            self.service()?;
            if let Some(i) = self.output.free_index() {
                return Ok(i);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(M2mError::Stuck(format!(
                    "{}: the decoder took no bitstream for {} ms",
                    self.dev.name(),
                    OUTPUT_WAIT.as_millis()
                )));
            }
            // Pictures waiting in `ready` stall the decoder once every
            // CAPTURE buffer is full: drop the oldest (a late picture is
            // worth less than the unit queued now).
            if self
                .capture
                .as_ref()
                .is_some_and(|c| c.buffers.queued() == 0)
                && let Some(old) = self.ready.pop_front()
            {
                self.requeue_capture(old.index)?;
            }
            self.wait(deadline - now)?;
        }
    }

    fn wait(&self, timeout: Duration) -> Result<(), M2mError> {
        let ready = self.dev.wait(
            PollFlags::POLLIN | PollFlags::POLLOUT | PollFlags::POLLPRI,
            timeout.min(Duration::from_millis(100)),
        )?;
        if ready.contains(PollFlags::POLLERR) && !ready.contains(PollFlags::POLLPRI) {
            // M2M poll reports POLLERR while neither queue has work (e.g.
            // CAPTURE not streaming yet): nothing to wait for, don't spin.
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// Everything the driver has for us, without blocking: events, finished
    /// bitstream buffers, decoded pictures.
    fn service(&mut self) -> Result<(), M2mError> {
        self.events()?;
        while let Dequeue::Buffer(_) = self.output.dequeue(&self.dev)? {}
        let Some(capture) = &mut self.capture else {
            return Ok(());
        };
        loop {
            match capture.buffers.dequeue(&self.dev)? {
                Dequeue::NotReady => break,
                Dequeue::AfterLast => {
                    if self.resolution_change {
                        return self.reconfigure();
                    }
                    self.drained = true;
                    break;
                }
                Dequeue::Buffer(d) => {
                    let last = d.is_last();
                    if d.has_error() {
                        self.corrupt += 1;
                        capture.buffers.queue(&self.dev, d.index, &[], 0)?;
                    } else if d.bytesused[0] == 0 || last && self.resolution_change {
                        // Empty (a LAST marker), or an old-size picture at a
                        // resolution change: not shown.
                        if !last {
                            capture.buffers.queue(&self.dev, d.index, &[], 0)?;
                        }
                    } else if let Err(d) = self.ready.push_back(d) {
                        capture.buffers.queue(&self.dev, d.index, &[], 0)?;
                    }
                    if last {
                        if self.resolution_change {
                            return self.reconfigure();
                        }
                        self.drained = true;
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn events(&mut self) -> Result<(), M2mError> {
        loop {
            let event: bindings::v4l2_event = match ioctl::dqevent(&self.dev) {
                Ok(e) => e,
                Err(DqEventError::NotReady) => return Ok(()),
                Err(e) => return Err(self.dev.fail("VIDIOC_DQEVENT", e).into()),
            };
            if event.type_ == bindings::V4L2_EVENT_SOURCE_CHANGE {
                // SAFETY: the union member for SOURCE_CHANGE events.
                let changes = unsafe { event.u.src_change.changes };
                tracing::debug!(device = %self.dev.name(), changes, "V4L2_EVENT_SOURCE_CHANGE");
                if self.capture.is_none() {
                    self.setup_capture()?;
                } else {
                    // Pictures of the old size come first, then LAST.
                    self.resolution_change = true;
                }
            }
        }
    }

    /// After LAST of a resolution change: free the old CAPTURE buffers and
    /// set up new ones for the new format.
    fn reconfigure(&mut self) -> Result<(), M2mError> {
        let dropped = self.ready.len();
        self.ready.clear();
        self.lent = None;
        self.resolution_change = false;
        let dev = &self.dev;
        ioctl::streamoff(dev, self.cap_q).map_err(|e| dev.fail("VIDIOC_STREAMOFF(CAPTURE)", e))?;
        if let Some(old) = self.capture.take() {
            old.buffers.release(dev)?;
        }
        self.setup_capture()?;
        tracing::info!(
            device = %self.dev.name(),
            size = ?self.picture_size(),
            dropped,
            "decoder resolution change"
        );
        Ok(())
    }

    /// CAPTURE format (NV12 preferred), buffers, STREAMON.
    fn setup_capture(&mut self) -> Result<(), M2mError> {
        let dev = &self.dev;
        let cap_q = self.cap_q;
        let mut format: Format =
            ioctl::g_fmt(dev, cap_q).map_err(|e| dev.fail("VIDIOC_G_FMT(CAPTURE)", e))?;
        let offered: Vec<[u8; 4]> = ioctl::FormatIterator::new(dev, cap_q)
            .map(|d| d.pixelformat.into())
            .collect();
        let current: [u8; 4] = format.pixelformat.into();
        let choice = PREFERRED
            .iter()
            .find(|f| offered.contains(f) || **f == current)
            .copied();
        let Some(choice) = choice else {
            return Err(dev
                .error(
                    "VIDIOC_ENUM_FMT(CAPTURE)",
                    format!(
                        "the decoder writes none of NV12, YU12, NM12, YM12 (it offers {})",
                        offered
                            .iter()
                            .map(|f| String::from_utf8_lossy(f).into_owned())
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                )
                .into());
        };
        if choice != current {
            let want = Format {
                pixelformat: PixelFormat::from(&choice),
                plane_fmt: Vec::new(),
                ..format
            };
            format = dev.s_fmt(cap_q, &want)?;
        }
        let visible = ioctl::g_selection::<v4l2r::Rect>(
            dev,
            SelectionType::Capture,
            SelectionTarget::Compose,
        )
        .ok()
        .filter(|r| r.width > 0 && r.height > 0)
        .map_or((format.width as usize, format.height as usize), |r| {
            (r.width as usize, r.height as usize)
        });
        let layout = Layout::of(&format, visible).ok_or_else(|| {
            dev.error(
                "VIDIOC_G_FMT(CAPTURE)",
                format!("cannot read pictures of {}", describe_format(&format)),
            )
        })?;
        let min = ioctl::g_ctrl(dev, bindings::V4L2_CID_MIN_BUFFERS_FOR_CAPTURE)
            .map_or(0, |v| v.max(0) as u32);
        let count = (min + EXTRA_CAPTURE_BUFFERS).max(4);
        let mut buffers = MmapBuffers::allocate(dev, cap_q, count)?;
        if buffers.planes(0) < layout.mem_planes() {
            return Err(dev
                .error(
                    "VIDIOC_QUERYBUF(CAPTURE)",
                    format!(
                        "{} needs {} memory planes, the buffers have {}",
                        describe_format(&format),
                        layout.mem_planes(),
                        buffers.planes(0)
                    ),
                )
                .into());
        }
        buffers.queue_all(dev)?;
        ioctl::streamon(dev, cap_q).map_err(|e| dev.fail("VIDIOC_STREAMON(CAPTURE)", e))?;
        tracing::info!(
            device = %dev.name(),
            format = %describe_format(&format),
            visible = ?visible,
            buffers = buffers.len(),
            "decoder CAPTURE side ready"
        );
        self.capture = Some(CaptureSide { buffers, layout });
        Ok(())
    }
}

impl Decoder for M2mDecoder {
    fn describe(&self) -> &str {
        &self.description
    }

    fn decode<'a>(&'a mut self, unit: &'a [u8]) -> Result<Option<Picture<'a>>, DecodeError> {
        match self.submit(unit) {
            Ok(Some(index)) => Ok(self.picture(index)),
            Ok(None) => Ok(None),
            Err(e) => Err(DecodeError(e.to_string())),
        }
    }

    fn reset(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(device = %self.dev.name(), "decoder flush failed: {e}");
        }
    }
}

impl From<M2mError> for Failure {
    fn from(e: M2mError) -> Self {
        Failure {
            fatal: e.is_fatal(),
            message: e.to_string(),
        }
    }
}

/// The hardware decoder under [`crate::decode::fallback::WithFallback`].
impl Preferred for M2mDecoder {
    fn describe(&self) -> &str {
        &self.description
    }

    fn submit(&mut self, unit: &[u8]) -> Result<bool, Failure> {
        Ok(M2mDecoder::submit(self, unit)?.is_some())
    }

    fn picture(&self) -> Option<Picture<'_>> {
        self.lent.and_then(|index| M2mDecoder::picture(self, index))
    }

    fn flush(&mut self) -> Result<(), Failure> {
        Ok(M2mDecoder::flush(self)?)
    }
}
