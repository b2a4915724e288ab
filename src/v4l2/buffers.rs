//! MMAP buffers of one V4L2 queue, queued and dequeued without allocating.
//!
//! `REQBUFS` + `QUERYBUF` + `mmap` of every plane happen once (when a stream
//! starts or its format changes); after that, [`MmapBuffers::queue`] and
//! [`MmapBuffers::dequeue`] build the `v4l2_buffer` on the stack. Each buffer
//! is tracked as ours or the driver's so that a mapping is only read while
//! the driver is not writing it.

use v4l2r::bindings;
use v4l2r::ioctl::{
    self, BufferFlags, DqBufIoctlError, IoctlConvertError, MemoryConsistency, QueryBuffer,
    UncheckedV4l2Buffer, V4l2Buffer,
};
use v4l2r::memory::MemoryType;

use super::{Device, QueueType, V4l2Error, queue_name};

/// At most this many planes per buffer (NV12M and YUV420M use 2 and 3).
pub const MAX_PLANES: usize = 3;

/// A buffer that came back from the driver.
#[derive(Debug, Clone, Copy)]
pub struct Dequeued {
    pub index: usize,
    /// Bytes of payload per plane (`bytesused`), planes beyond `planes` are 0.
    pub bytesused: [usize; MAX_PLANES],
    pub planes: usize,
    pub flags: BufferFlags,
    /// Buffer timestamp in ns (capture: when the frame was taken, on the
    /// clock the driver reports; M2M: copied from the OUTPUT buffer).
    pub timestamp_ns: i64,
    pub sequence: u32,
}

impl Dequeued {
    pub fn is_last(&self) -> bool {
        self.flags.contains(BufferFlags::LAST)
    }

    pub fn has_error(&self) -> bool {
        self.flags.contains(BufferFlags::ERROR)
    }

    /// The capture clock is CLOCK_MONOTONIC (not every driver says so;
    /// UVC, vivid and the M2M drivers do).
    pub fn monotonic(&self) -> bool {
        self.flags.contains(BufferFlags::TIMESTAMP_MONOTONIC)
    }
}

/// Result of a non-blocking dequeue.
#[derive(Debug, Clone, Copy)]
pub enum Dequeue {
    Buffer(Dequeued),
    /// Nothing ready (`EAGAIN`).
    NotReady,
    /// `EPIPE`: a decoder already returned its last buffer (drain done or a
    /// resolution change pending).
    AfterLast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Us,
    Driver,
}

pub struct MmapBuffers {
    queue: QueueType,
    /// Per buffer, per plane.
    maps: Vec<heapless::Vec<ioctl::PlaneMapping, MAX_PLANES>>,
    owner: Vec<Owner>,
}

impl MmapBuffers {
    /// `REQBUFS(count)` and maps every plane of every buffer. The driver may
    /// grant more or fewer than `count`; all granted buffers start as ours.
    pub fn allocate(dev: &Device, queue: QueueType, count: u32) -> Result<Self, V4l2Error> {
        let q = queue_name(queue);
        let granted: usize = ioctl::reqbufs(
            dev,
            queue,
            MemoryType::Mmap,
            count,
            MemoryConsistency::empty(),
        )
        .map_err(|e| dev.fail(format!("VIDIOC_REQBUFS({q}, {count} MMAP)"), e))?;
        if granted == 0 {
            return Err(dev.error(
                format!("VIDIOC_REQBUFS({q}, {count} MMAP)"),
                "the driver granted no buffers",
            ));
        }
        let mut maps = Vec::with_capacity(granted);
        for index in 0..granted {
            let info: QueryBuffer = ioctl::querybuf(dev, queue, index)
                .map_err(|e| dev.fail(format!("VIDIOC_QUERYBUF({q}, {index})"), e))?;
            let mut planes = heapless::Vec::new();
            for (p, plane) in info.planes.iter().enumerate() {
                let map = ioctl::mmap(dev, plane.mem_offset, plane.length)
                    .map_err(|e| dev.fail(format!("mmap of {q} buffer {index} plane {p}"), e))?;
                if planes.push(map).is_err() {
                    return Err(dev.error(
                        format!("VIDIOC_QUERYBUF({q}, {index})"),
                        format!("more than {MAX_PLANES} planes per buffer"),
                    ));
                }
            }
            maps.push(planes);
        }
        Ok(MmapBuffers {
            queue,
            owner: vec![Owner::Us; granted],
            maps,
        })
    }

    pub fn len(&self) -> usize {
        self.maps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    pub fn queue_type(&self) -> QueueType {
        self.queue
    }

    /// Size of plane `plane` of buffer `index`.
    pub fn plane_len(&self, index: usize, plane: usize) -> usize {
        self.maps[index].get(plane).map_or(0, |m| m.size())
    }

    pub fn planes(&self, index: usize) -> usize {
        self.maps[index].len()
    }

    /// Plane data of a buffer we own (dequeued or never queued).
    pub fn plane(&self, index: usize, plane: usize) -> &[u8] {
        debug_assert_eq!(self.owner[index], Owner::Us, "reading a queued buffer");
        &self.maps[index][plane]
    }

    pub fn plane_mut(&mut self, index: usize, plane: usize) -> &mut [u8] {
        debug_assert_eq!(self.owner[index], Owner::Us, "writing a queued buffer");
        &mut self.maps[index][plane]
    }

    /// A buffer that is ours, if any.
    pub fn free_index(&self) -> Option<usize> {
        self.owner.iter().position(|o| *o == Owner::Us)
    }

    pub fn is_ours(&self, index: usize) -> bool {
        self.owner[index] == Owner::Us
    }

    pub fn queued(&self) -> usize {
        self.owner.iter().filter(|o| **o == Owner::Driver).count()
    }

    /// Hands buffer `index` to the driver. `bytesused` per plane matters for
    /// OUTPUT queues (0 for CAPTURE); the timestamp travels with an OUTPUT
    /// buffer to the CAPTURE buffer decoded from it.
    pub fn queue(
        &mut self,
        dev: &Device,
        index: usize,
        bytesused: &[usize],
        timestamp_ns: i64,
    ) -> Result<(), V4l2Error> {
        let mut buf = UncheckedV4l2Buffer::new_for_querybuf(self.queue, Some(index as u32));
        buf.0.memory = MemoryType::Mmap as u32;
        buf.0.timestamp.tv_sec = timestamp_ns.div_euclid(1_000_000_000) as _;
        buf.0.timestamp.tv_usec = (timestamp_ns.rem_euclid(1_000_000_000) / 1000) as _;
        let planes = self.maps[index].len();
        match &mut buf.1 {
            Some(v4l2_planes) => {
                buf.0.length = planes as u32;
                for (p, plane) in v4l2_planes.iter_mut().take(planes).enumerate() {
                    *plane = bindings::v4l2_plane {
                        bytesused: bytesused.get(p).copied().unwrap_or(0) as u32,
                        length: self.maps[index][p].size() as u32,
                        ..Default::default()
                    };
                }
            }
            None => {
                buf.0.bytesused = bytesused.first().copied().unwrap_or(0) as u32;
                buf.0.length = self.maps[index][0].size() as u32;
            }
        }
        ioctl::qbuf::<_, ()>(dev, buf).map_err(|e| {
            dev.fail(
                format!("VIDIOC_QBUF({}, {index})", queue_name(self.queue)),
                e,
            )
        })?;
        self.owner[index] = Owner::Driver;
        Ok(())
    }

    /// Queues every buffer that is ours (CAPTURE queues at stream start).
    pub fn queue_all(&mut self, dev: &Device) -> Result<(), V4l2Error> {
        for index in 0..self.len() {
            if self.owner[index] == Owner::Us {
                self.queue(dev, index, &[], 0)?;
            }
        }
        Ok(())
    }

    /// Takes back one finished buffer, if the driver has one.
    pub fn dequeue(&mut self, dev: &Device) -> Result<Dequeue, V4l2Error> {
        let buf: V4l2Buffer = match ioctl::dqbuf(dev, self.queue) {
            Ok(b) => b,
            Err(IoctlConvertError::IoctlError(DqBufIoctlError::NotReady)) => {
                return Ok(Dequeue::NotReady);
            }
            Err(IoctlConvertError::IoctlError(DqBufIoctlError::Eos)) => {
                return Ok(Dequeue::AfterLast);
            }
            Err(e) => {
                return Err(dev.fail(format!("VIDIOC_DQBUF({})", queue_name(self.queue)), e));
            }
        };
        let index = buf.index() as usize;
        if index >= self.len() {
            return Err(dev.error(
                format!("VIDIOC_DQBUF({})", queue_name(self.queue)),
                format!("the driver returned buffer {index} of {}", self.len()),
            ));
        }
        self.owner[index] = Owner::Us;
        let mut bytesused = [0usize; MAX_PLANES];
        let mut planes = 0;
        for (p, plane) in buf.planes_iter().take(MAX_PLANES).enumerate() {
            // A driver may report more than the mapping; never trust it past
            // the end of our mapping.
            bytesused[p] = (*plane.bytesused as usize).min(self.plane_len(index, p));
            planes = p + 1;
        }
        let ts = buf.timestamp();
        Ok(Dequeue::Buffer(Dequeued {
            index,
            bytesused,
            planes,
            flags: buf.flags(),
            timestamp_ns: ts.tv_sec as i64 * 1_000_000_000 + ts.tv_usec as i64 * 1000,
            sequence: buf.sequence(),
        }))
    }

    /// After `STREAMOFF` the driver gives every buffer back.
    pub fn reclaim_all(&mut self) {
        self.owner.iter_mut().for_each(|o| *o = Owner::Us);
    }

    /// Unmaps everything and frees the driver's buffers (`REQBUFS(0)`, which
    /// drivers refuse while mappings exist).
    pub fn release(self, dev: &Device) -> Result<(), V4l2Error> {
        let queue = self.queue;
        drop(self);
        ioctl::reqbufs::<()>(dev, queue, MemoryType::Mmap, 0, MemoryConsistency::empty())
            .map_err(|e| dev.fail(format!("VIDIOC_REQBUFS({}, 0)", queue_name(queue)), e))
    }
}
