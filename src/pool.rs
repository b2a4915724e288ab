//! Preallocated frame buffers.
//!
//! Every camera owns one [`FramePool`]: a fixed number of byte buffers reserved
//! when the camera starts. A published frame (JPEG or raw) is written into a
//! [`PooledBuf`] taken from the pool and handed to the MQTT client as the
//! payload itself; when the client has written it to the socket and drops it,
//! the buffer goes back to the pool. So memory is bounded by configuration, no
//! frame allocates in steady state, and a slow broker shows up as
//! `pool_exhausted` drops instead of a growing queue.

use std::sync::{Arc, Mutex};

/// A fixed set of equally sized buffers shared by one camera's pipeline and
/// its in-flight MQTT payloads.
#[derive(Clone)]
pub struct FramePool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    /// Free buffers. Its capacity is reserved for every slot up front, so
    /// returning a buffer never allocates.
    free: Mutex<Vec<Vec<u8>>>,
    slots: usize,
    slot_bytes: usize,
}

/// Point-in-time view of a pool for stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PoolUsage {
    pub slots: usize,
    pub in_use: usize,
    pub slot_bytes: usize,
    pub reserved_bytes: usize,
}

impl FramePool {
    /// Reserves `slots` buffers of `slot_bytes` each.
    ///
    /// The buffers are zeroed by the allocator lazily: the kernel commits a
    /// page when a frame first writes it, so resident memory follows the
    /// largest frames actually produced while the reservation stays the bound.
    pub fn new(slots: usize, slot_bytes: usize) -> Self {
        assert!(slots > 0, "a frame pool needs at least one slot");
        let mut free = Vec::with_capacity(slots);
        for _ in 0..slots {
            free.push(vec![0u8; slot_bytes]);
        }
        FramePool {
            inner: Arc::new(PoolInner {
                free: Mutex::new(free),
                slots,
                slot_bytes,
            }),
        }
    }

    /// Takes a free buffer, or `None` when every slot is in flight (the
    /// caller drops the frame and counts `pool_exhausted`).
    pub fn try_take(&self) -> Option<PooledBuf> {
        let buf = self
            .inner
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()?;
        Some(PooledBuf {
            buf: Some(buf),
            len: 0,
            pool: Arc::clone(&self.inner),
        })
    }

    pub fn slot_bytes(&self) -> usize {
        self.inner.slot_bytes
    }

    pub fn usage(&self) -> PoolUsage {
        let free = self
            .inner
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        PoolUsage {
            slots: self.inner.slots,
            in_use: self.inner.slots - free,
            slot_bytes: self.inner.slot_bytes,
            reserved_bytes: self.inner.slots * self.inner.slot_bytes,
        }
    }
}

/// A buffer on loan from a [`FramePool`]; it returns itself on drop.
///
/// The full slot is writable through [`PooledBuf::space`]; after writing,
/// [`PooledBuf::set_len`] marks how many bytes are the frame.
pub struct PooledBuf {
    buf: Option<Vec<u8>>,
    len: usize,
    pool: Arc<PoolInner>,
}

impl PooledBuf {
    /// The whole slot, for an encoder or converter to write into.
    pub fn space(&mut self) -> &mut [u8] {
        self.buf.as_mut().expect("buffer present until drop")
    }

    pub fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.pool.slot_bytes,
            "frame larger than its pool slot"
        );
        self.len = len;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf.as_ref().expect("buffer present until drop")[..self.len]
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            // The free list has capacity for every slot, so this push never
            // reallocates.
            self.pool
                .free
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhausts_then_recovers_when_buffers_return() {
        let pool = FramePool::new(2, 16);
        let a = pool.try_take().unwrap();
        let mut b = pool.try_take().unwrap();
        assert!(
            pool.try_take().is_none(),
            "third take must fail: only two slots"
        );
        assert_eq!(pool.usage().in_use, 2);
        b.space()[..3].copy_from_slice(b"abc");
        b.set_len(3);
        assert_eq!(b.as_ref(), b"abc");
        drop(a);
        assert_eq!(pool.usage().in_use, 1);
        let c = pool.try_take().expect("a returned slot is reusable");
        assert_eq!(c.space_len(), 16);
        drop((b, c));
        assert_eq!(pool.usage().in_use, 0);
        assert_eq!(pool.usage().reserved_bytes, 32);
    }

    #[test]
    fn buffer_returns_when_dropped_on_another_thread() {
        let pool = FramePool::new(1, 8);
        let buf = pool.try_take().unwrap();
        std::thread::spawn(move || drop(buf)).join().unwrap();
        assert!(pool.try_take().is_some());
    }

    impl PooledBuf {
        fn space_len(&self) -> usize {
            self.buf.as_ref().unwrap().len()
        }
    }
}
