//! Per-camera counters and latency histograms, read by the stats publisher.
//!
//! Counters are atomics bumped on the hot path; histograms are fixed arrays
//! (no allocation when recording) behind a mutex that only the camera's own
//! decode thread and the once-per-interval reader touch.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// Why a frame did not reach the broker. Named as in the stats payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Not needed for the target rate (skipped before decode where possible).
    Paced,
    /// Every output buffer was in flight to the broker.
    PoolExhausted,
    /// The MQTT client's request queue was full (slow or absent broker).
    MqttBackpressure,
    /// The decoder rejected the unit.
    DecodeError,
    /// The decoder fell behind: the unit was dropped at ingest.
    Late,
    /// Reference chain broken (loss, reconnect): waiting for a keyframe.
    AwaitingKeyframe,
}

const REASONS: usize = 6;

impl DropReason {
    pub const ALL: [DropReason; REASONS] = [
        DropReason::Paced,
        DropReason::PoolExhausted,
        DropReason::MqttBackpressure,
        DropReason::DecodeError,
        DropReason::Late,
        DropReason::AwaitingKeyframe,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Paced => "paced",
            DropReason::PoolExhausted => "pool_exhausted",
            DropReason::MqttBackpressure => "mqtt_backpressure",
            DropReason::DecodeError => "decode_error",
            DropReason::Late => "late",
            DropReason::AwaitingKeyframe => "awaiting_keyframe",
        }
    }
}

/// Log-linear histogram of microsecond durations: 8 sub-buckets per power of
/// two, 1 µs .. ~68 s, ±6 % resolution.
#[derive(Clone)]
pub struct Histogram {
    buckets: [u32; BUCKETS],
    count: u64,
    max_us: u64,
}

const SUB: usize = 8;
const OCTAVES: usize = 26;
const BUCKETS: usize = SUB * OCTAVES;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: [0; BUCKETS],
            count: 0,
            max_us: 0,
        }
    }
}

impl Histogram {
    pub fn record_us(&mut self, us: u64) {
        let idx = bucket_of(us).min(BUCKETS - 1);
        self.buckets[idx] = self.buckets[idx].saturating_add(1);
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The value below which `q` (0..1) of the samples fall, in ms; the
    /// bucket's upper bound, capped by the observed maximum.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                return Some(bucket_upper_us(i).min(self.max_us) as f64 / 1000.0);
            }
        }
        Some(self.max_us as f64 / 1000.0)
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a = a.saturating_add(*b);
        }
        self.count += other.count;
        self.max_us = self.max_us.max(other.max_us);
    }
}

fn bucket_of(us: u64) -> usize {
    if us < SUB as u64 {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros() as usize; // >= 3
    let shift = octave - 3;
    let sub = ((us >> shift) as usize) & (SUB - 1);
    (octave - 2) * SUB + sub
}

fn bucket_upper_us(idx: usize) -> u64 {
    if idx < SUB {
        return idx as u64;
    }
    let octave = idx / SUB + 2;
    let sub = (idx % SUB) as u64;
    let shift = octave - 3;
    ((SUB as u64 + sub + 1) << shift) - 1
}

/// Live counters of one camera.
#[derive(Default)]
pub struct CameraStats {
    pub units_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub frames_decoded: AtomicU64,
    pub frames_published: AtomicU64,
    pub bytes_published: AtomicU64,
    pub reconnects: AtomicU64,
    dropped: [AtomicU64; REASONS],
    timings: Mutex<Timings>,
}

#[derive(Default, Clone)]
pub struct Timings {
    pub decode: Histogram,
    pub latency: Histogram,
}

impl CameraStats {
    pub fn dropped(&self, reason: DropReason) {
        self.dropped[reason as usize].fetch_add(1, Relaxed);
    }

    pub fn dropped_count(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize].load(Relaxed)
    }

    pub fn record_decode_us(&self, us: u64) {
        self.lock_timings().decode.record_us(us);
    }

    pub fn record_latency_us(&self, us: u64) {
        self.lock_timings().latency.record_us(us);
    }

    /// Takes the histograms of the interval that just ended.
    pub fn take_timings(&self) -> Timings {
        std::mem::take(&mut *self.lock_timings())
    }

    fn lock_timings(&self) -> std::sync::MutexGuard<'_, Timings> {
        self.timings.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn counters(&self) -> Counters {
        Counters {
            units_in: self.units_in.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            frames_decoded: self.frames_decoded.load(Relaxed),
            frames_published: self.frames_published.load(Relaxed),
            bytes_published: self.bytes_published.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            dropped: DropReason::ALL.map(|r| self.dropped_count(r)),
        }
    }
}

/// A snapshot of the counters, for rates between two snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    pub units_in: u64,
    pub bytes_in: u64,
    pub frames_decoded: u64,
    pub frames_published: u64,
    pub bytes_published: u64,
    pub reconnects: u64,
    pub dropped: [u64; REASONS],
}

/// The per-camera object in the stats payload (documented in docs/mqtt.md).
#[derive(Debug, Clone, Serialize)]
pub struct CameraReport {
    pub state: &'static str,
    pub fps_in: f64,
    pub fps_out: f64,
    pub fps_target: f64,
    pub frames_in: u64,
    pub frames_decoded: u64,
    pub frames_published: u64,
    pub bytes_in: u64,
    pub bytes_published: u64,
    pub dropped: serde_json::Map<String, serde_json::Value>,
    pub decode_ms_p50: Option<f64>,
    pub decode_ms_p99: Option<f64>,
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p99: Option<f64>,
    pub pool_slots: usize,
    pub pool_in_use: usize,
    pub pool_reserved_bytes: usize,
    pub ingest_queued: usize,
    pub reconnects: u64,
    pub decoder: String,
}

impl CameraReport {
    pub fn dropped_map(counters: &Counters) -> serde_json::Map<String, serde_json::Value> {
        DropReason::ALL
            .iter()
            .map(|r| (r.as_str().to_string(), counters.dropped[*r as usize].into()))
            .collect()
    }
}

/// Rate of a counter between two snapshots.
pub fn rate(now: u64, before: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        return 0.0;
    }
    let r = now.saturating_sub(before) as f64 / seconds;
    (r * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds_are_monotonic_and_contain_their_values() {
        let mut last = 0;
        for us in [
            0u64, 1, 7, 8, 9, 15, 16, 100, 1000, 12_345, 1_000_000, 30_000_000,
        ] {
            let b = bucket_of(us);
            assert!(b >= last);
            last = b;
            assert!(
                bucket_upper_us(b) >= us,
                "{us} above its bucket bound {}",
                bucket_upper_us(b)
            );
            if b > 0 {
                assert!(
                    bucket_upper_us(b - 1) < us,
                    "{us} belongs to an earlier bucket"
                );
            }
        }
    }

    #[test]
    fn quantiles_within_resolution() {
        let mut h = Histogram::default();
        for ms in 1..=100u64 {
            h.record_us(ms * 1000);
        }
        let p50 = h.quantile_ms(0.5).unwrap();
        let p99 = h.quantile_ms(0.99).unwrap();
        assert!((50.0..=54.0).contains(&p50), "p50 {p50}");
        assert!((99.0..=100.0).contains(&p99), "p99 {p99}");
        assert_eq!(Histogram::default().quantile_ms(0.5), None);
    }

    #[test]
    fn counters_by_reason() {
        let s = CameraStats::default();
        s.dropped(DropReason::Late);
        s.dropped(DropReason::Late);
        s.dropped(DropReason::Paced);
        let c = s.counters();
        let m = CameraReport::dropped_map(&c);
        assert_eq!(m["late"], 2);
        assert_eq!(m["paced"], 1);
        assert_eq!(m["mqtt_backpressure"], 0);
        assert_eq!(rate(30, 10, 4.0), 5.0);
    }
}
