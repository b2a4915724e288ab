//! The hand-off from a camera's network task to its decode thread.
//!
//! A small, fixed ring of access-unit buffers: the source copies each unit it
//! wants decoded into a free slot, the decode thread takes slots in order and
//! gives them back. Capacity is a compile-time constant (heapless), buffers
//! keep their capacity across uses, so in steady state nothing allocates.
//!
//! When the decoder falls behind the ring fills; the source then drops the
//! unit and counts it `late`, and the pacer waits for the next keyframe —
//! ingest never blocks on decode, and memory never grows with backlog.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use heapless::Deque;

use crate::pace::FrameKind;

/// Access units waiting for the decoder: about a second at 15 fps, enough to
/// ride out a decoder thread descheduled on a busy box,
/// small enough that a stalled decoder costs little memory and latency.
pub const INGEST_DEPTH: usize = 16;

/// Initial capacity of each slot; grows (once, during warm-up) to the largest
/// access unit the stream has.
const SLOT_INITIAL_BYTES: usize = 64 * 1024;

/// What the decode thread needs to know about an access unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitInfo {
    pub kind: FrameKind,
    /// Stream time (from RTP timestamps), for pacing.
    pub stream_ns: i64,
    /// Wall-clock capture time, ns since the Unix epoch (published as `ts_ns`).
    pub capture_ns: i64,
    /// The pacer decided this picture is published.
    pub publish: bool,
    /// First unit after new parameter sets or a reconnect: reset the decoder.
    pub reset: bool,
}

/// An access unit in Annex B form with its info.
pub struct UnitSlot {
    pub data: Vec<u8>,
    pub info: UnitInfo,
}

struct Ring {
    free: heapless::Vec<UnitSlot, INGEST_DEPTH>,
    ready: Deque<UnitSlot, INGEST_DEPTH>,
    closed: bool,
}

/// The camera is stopping: no more units will come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

pub struct IngestQueue {
    ring: Mutex<Ring>,
    wake: Condvar,
}

impl Default for IngestQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl IngestQueue {
    pub fn new() -> Self {
        let mut free = heapless::Vec::new();
        for _ in 0..INGEST_DEPTH {
            let slot = UnitSlot {
                data: Vec::with_capacity(SLOT_INITIAL_BYTES),
                info: UnitInfo {
                    kind: FrameKind::Reference,
                    stream_ns: 0,
                    capture_ns: 0,
                    publish: false,
                    reset: false,
                },
            };
            if free.push(slot).is_err() {
                unreachable!("the ring has room for every slot");
            }
        }
        IngestQueue {
            ring: Mutex::new(Ring {
                free,
                ready: Deque::new(),
                closed: false,
            }),
            wake: Condvar::new(),
        }
    }

    /// Copies `parts` (concatenated) into a free slot and queues it. Returns
    /// false when every slot is waiting for the decoder (the unit is dropped).
    pub fn push(&self, parts: &[&[u8]], info: UnitInfo) -> bool {
        let mut slot = {
            let mut ring = self.lock();
            match ring.free.pop() {
                Some(slot) => slot,
                None => return false,
            }
        };
        // Copy outside the lock: the decoder may be taking the next unit.
        slot.data.clear();
        for part in parts {
            slot.data.extend_from_slice(part);
        }
        slot.info = info;
        let mut ring = self.lock();
        if ring.ready.push_back(slot).is_err() {
            unreachable!("ready and free together hold exactly INGEST_DEPTH slots");
        }
        drop(ring);
        self.wake.notify_one();
        true
    }

    /// Waits up to `timeout` for the next unit. `Err(Closed)` once closed
    /// and drained.
    pub fn pop(&self, timeout: Duration) -> Result<Option<UnitSlot>, Closed> {
        let mut ring = self.lock();
        loop {
            if let Some(slot) = ring.ready.pop_front() {
                return Ok(Some(slot));
            }
            if ring.closed {
                return Err(Closed);
            }
            let (guard, result) = self
                .wake
                .wait_timeout(ring, timeout)
                .unwrap_or_else(|e| e.into_inner());
            ring = guard;
            if result.timed_out() && ring.ready.is_empty() {
                return if ring.closed { Err(Closed) } else { Ok(None) };
            }
        }
    }

    /// Gives a slot back after decoding.
    pub fn recycle(&self, slot: UnitSlot) {
        let mut ring = self.lock();
        if ring.free.push(slot).is_err() {
            unreachable!("a recycled slot came from this ring");
        }
    }

    /// Drops every queued unit (after a reconnect, stale units are useless).
    pub fn flush(&self) {
        let mut ring = self.lock();
        while let Some(slot) = ring.ready.pop_front() {
            if ring.free.push(slot).is_err() {
                unreachable!("a flushed slot came from this ring");
            }
        }
    }

    /// Wakes the decode thread for good.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }

    pub fn queued(&self) -> usize {
        self.lock().ready.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(n: i64) -> UnitInfo {
        UnitInfo {
            kind: FrameKind::Reference,
            stream_ns: n,
            capture_ns: n,
            publish: false,
            reset: false,
        }
    }

    #[test]
    fn fifo_then_full_then_recycled() {
        let q = IngestQueue::new();
        for i in 0..INGEST_DEPTH as i64 {
            assert!(q.push(&[b"ab", b"c"], info(i)));
        }
        assert!(
            !q.push(&[b"x"], info(99)),
            "a full ring refuses instead of growing"
        );
        let first = q.pop(Duration::ZERO).unwrap().unwrap();
        assert_eq!(first.data, b"abc");
        assert_eq!(first.info.stream_ns, 0);
        q.recycle(first);
        assert!(q.push(&[b"y"], info(7)));
        q.flush();
        assert_eq!(q.queued(), 0);
        assert!(q.pop(Duration::from_millis(1)).unwrap().is_none());
        q.close();
        assert!(q.pop(Duration::from_millis(1)).is_err());
    }

    #[test]
    fn wakes_a_waiting_consumer() {
        let q = std::sync::Arc::new(IngestQueue::new());
        let q2 = q.clone();
        let t = std::thread::spawn(move || {
            q2.pop(Duration::from_secs(10))
                .unwrap()
                .map(|s| s.info.stream_ns)
        });
        std::thread::sleep(Duration::from_millis(20));
        q.push(&[b"z"], info(42));
        assert_eq!(t.join().unwrap(), Some(42));
    }
}
