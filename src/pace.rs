//! Deciding, before decoding, which access units are worth decoding.
//!
//! Decode is the dominant cost of a camera, so the pacer runs on compressed
//! access units and answers one question per unit: decode it (and publish the
//! picture or not), or skip it without spending a cycle on it.
//!
//! * Disposable frames (H.264 `nal_ref_idc == 0`) are decoded only when their
//!   picture is the one to publish: nothing else depends on them.
//! * When the target rate is at or below the keyframe rate, only keyframes are
//!   decoded, and only the ones that will be published.
//! * Otherwise every reference frame must be decoded to keep the decoder's
//!   reference chain intact; pictures are published at the target rate with
//!   even spacing on the stream's own timestamps.
//! * After a gap (lost or dropped units, a reconnect) nothing is decoded until
//!   the next keyframe, so a broken reference chain never reaches the output.
//!
//! All decisions use stream timestamps passed in by the caller; the pacer
//! reads no clock, so it is deterministic to test.

/// What the depacketiser knows about an access unit before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Random access point (IDR): decodable on its own.
    Keyframe,
    /// Other frames depend on this one.
    Reference,
    /// No other frame depends on this one (`nal_ref_idc == 0`).
    Disposable,
}

/// Why an access unit was not decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Not needed for the target rate.
    Paced,
    /// The reference chain is broken; waiting for a keyframe.
    AwaitingKeyframe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Decode it; `publish` says whether its picture goes out.
    Decode {
        publish: bool,
    },
    Skip(SkipReason),
}

/// Paces one camera. See the module docs.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// The target as requested (reported as is, not re-derived from the
    /// interval).
    fps: f64,
    interval_ns: i64,
    /// Stream time at which the next picture is due.
    next_due_ns: Option<i64>,
    /// Half a source frame interval: a picture this early still counts as due,
    /// so a 15 fps source paced to 5 fps yields exactly every third frame.
    tolerance_ns: i64,
    last_ts_ns: Option<i64>,
    last_keyframe_ns: Option<i64>,
    /// Smoothed distance between keyframes (the GOP duration).
    keyframe_interval_ns: Option<i64>,
    awaiting_keyframe: bool,
    keyframe_only: bool,
}

const MIN_FPS: f64 = 0.001;

impl Pacer {
    pub fn new(fps: f64) -> Self {
        Pacer {
            fps,
            interval_ns: interval_ns(fps),
            next_due_ns: None,
            tolerance_ns: 0,
            last_ts_ns: None,
            last_keyframe_ns: None,
            keyframe_interval_ns: None,
            awaiting_keyframe: true,
            keyframe_only: false,
        }
    }

    /// Changes the target rate; takes effect from the next access unit.
    pub fn set_fps(&mut self, fps: f64) {
        self.fps = fps;
        self.interval_ns = interval_ns(fps);
        if let (Some(due), Some(last)) = (self.next_due_ns, self.last_ts_ns) {
            // Never wait longer than one new interval for the next picture.
            self.next_due_ns = Some(due.min(last + self.interval_ns));
        }
    }

    pub fn fps(&self) -> f64 {
        self.fps
    }

    /// True while only keyframes are being decoded.
    pub fn keyframe_only(&self) -> bool {
        self.keyframe_only
    }

    /// The observed GOP duration, once two keyframes have been seen.
    pub fn keyframe_interval_ns(&self) -> Option<i64> {
        self.keyframe_interval_ns
    }

    /// The stream lost units (packet loss, a dropped unit, a reconnect): the
    /// reference chain is broken until the next keyframe.
    pub fn mark_discontinuity(&mut self) {
        self.awaiting_keyframe = true;
        self.last_ts_ns = None;
    }

    /// Decides what to do with the access unit at stream time `ts_ns`.
    pub fn admit(&mut self, ts_ns: i64, kind: FrameKind) -> Admit {
        self.observe(ts_ns, kind);
        if kind == FrameKind::Keyframe {
            self.awaiting_keyframe = false;
        } else if self.awaiting_keyframe {
            return Admit::Skip(SkipReason::AwaitingKeyframe);
        }
        let due = self.is_due(ts_ns);
        let decode = match kind {
            FrameKind::Keyframe if self.keyframe_only => due,
            FrameKind::Keyframe => true,
            FrameKind::Reference => !self.keyframe_only,
            FrameKind::Disposable => due && !self.keyframe_only,
        };
        if !decode {
            return Admit::Skip(SkipReason::Paced);
        }
        if due {
            self.advance_due(ts_ns);
        }
        Admit::Decode { publish: due }
    }

    fn observe(&mut self, ts_ns: i64, kind: FrameKind) {
        if let Some(last) = self.last_ts_ns {
            let delta = ts_ns - last;
            if delta > 0 && delta < 2_000_000_000 {
                // Half of a smoothed frame interval (EMA, 1/8 weight).
                let half = delta / 2;
                self.tolerance_ns = if self.tolerance_ns == 0 {
                    half
                } else {
                    self.tolerance_ns + (half - self.tolerance_ns) / 8
                };
            }
        }
        self.last_ts_ns = Some(ts_ns);
        if kind == FrameKind::Keyframe {
            if let Some(prev) = self.last_keyframe_ns {
                let gop = ts_ns - prev;
                if gop > 0 {
                    self.keyframe_interval_ns = Some(match self.keyframe_interval_ns {
                        None => gop,
                        Some(old) => old + (gop - old) / 4,
                    });
                }
            }
            self.last_keyframe_ns = Some(ts_ns);
        }
        let was = self.keyframe_only;
        // At or below the keyframe rate (5 % slack for timestamp jitter).
        self.keyframe_only = self
            .keyframe_interval_ns
            .is_some_and(|gop| self.interval_ns * 20 >= gop * 19);
        if was && !self.keyframe_only {
            // P frames were skipped: their successors cannot decode until the
            // next keyframe.
            self.awaiting_keyframe = true;
        }
    }

    fn is_due(&self, ts_ns: i64) -> bool {
        match self.next_due_ns {
            None => true,
            Some(due) => ts_ns >= due - self.tolerance_ns,
        }
    }

    fn advance_due(&mut self, ts_ns: i64) {
        self.next_due_ns = Some(match self.next_due_ns {
            // Far behind (a stall, a timestamp jump): restart the cadence
            // here instead of bursting to catch up.
            Some(due) if ts_ns - due <= self.interval_ns && ts_ns >= due - self.interval_ns => {
                due + self.interval_ns
            }
            _ => ts_ns + self.interval_ns,
        });
    }
}

fn interval_ns(fps: f64) -> i64 {
    (1e9 / fps.max(MIN_FPS)).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    /// Feeds a synthetic stream and returns (decoded, published) counts.
    fn run(
        pacer: &mut Pacer,
        src_fps: i64,
        gop: i64,
        frames: i64,
        disposable_every: i64,
    ) -> (usize, Vec<i64>) {
        let frame_ns = 1_000 * MS / src_fps;
        let mut decoded = 0;
        let mut published = Vec::new();
        for i in 0..frames {
            let kind = if i % gop == 0 {
                FrameKind::Keyframe
            } else if disposable_every > 0 && i % disposable_every == 0 {
                FrameKind::Disposable
            } else {
                FrameKind::Reference
            };
            if let Admit::Decode { publish } = pacer.admit(i * frame_ns, kind) {
                decoded += 1;
                if publish {
                    published.push(i);
                }
            }
        }
        (decoded, published)
    }

    #[test]
    fn even_spacing_at_a_third_of_the_source_rate() {
        let mut p = Pacer::new(5.0);
        let (decoded, published) = run(&mut p, 15, 30, 150, 0);
        assert_eq!(decoded, 150, "all reference frames must be decoded");
        assert_eq!(published.len(), 50);
        assert!(
            published.windows(2).all(|w| w[1] - w[0] == 3),
            "{published:?}"
        );
    }

    #[test]
    fn uneven_ratio_keeps_the_average_rate() {
        let mut p = Pacer::new(4.0);
        let (_, published) = run(&mut p, 15, 30, 300, 0);
        // 20 s of stream at 4 fps.
        assert!((79..=81).contains(&published.len()), "{}", published.len());
        assert!(
            published
                .windows(2)
                .all(|w| (3..=5).contains(&(w[1] - w[0]))),
            "{published:?}"
        );
    }

    #[test]
    fn keyframe_only_at_or_below_the_keyframe_rate() {
        // 15 fps, GOP 30 => 0.5 keyframes/s; ask for 0.5 fps.
        let mut p = Pacer::new(0.5);
        let (decoded, published) = run(&mut p, 15, 30, 300, 0);
        assert!(p.keyframe_only());
        // Until the GOP is known (second keyframe) P frames are decoded; after
        // that only keyframes.
        assert!(decoded <= 30 + 10, "decoded {decoded}");
        assert_eq!(published, (0..10).map(|k| k * 30).collect::<Vec<_>>());
    }

    #[test]
    fn keyframes_are_skipped_too_below_the_keyframe_rate() {
        let mut p = Pacer::new(0.25);
        let (decoded, published) = run(&mut p, 15, 30, 600, 0);
        assert_eq!(published, (0..10).map(|k| k * 60).collect::<Vec<_>>());
        assert!(decoded < 40, "decoded {decoded}");
    }

    #[test]
    fn disposable_frames_are_decoded_only_when_published() {
        let mut p = Pacer::new(5.0);
        // Every odd frame disposable (like IPB without pyramid).
        let (decoded, published) = run(&mut p, 15, 30, 150, 2);
        let disposable_total = (0..150).filter(|i| i % 30 != 0 && i % 2 == 0).count();
        let disposable_published = published
            .iter()
            .filter(|i| *i % 30 != 0 && *i % 2 == 0)
            .count();
        assert_eq!(decoded, 150 - disposable_total + disposable_published);
        assert_eq!(published.len(), 50);
    }

    #[test]
    fn waits_for_a_keyframe_after_a_discontinuity() {
        let mut p = Pacer::new(30.0);
        assert_eq!(
            p.admit(0, FrameKind::Reference),
            Admit::Skip(SkipReason::AwaitingKeyframe)
        );
        assert!(matches!(
            p.admit(33 * MS, FrameKind::Keyframe),
            Admit::Decode { .. }
        ));
        assert!(matches!(
            p.admit(66 * MS, FrameKind::Reference),
            Admit::Decode { .. }
        ));
        p.mark_discontinuity();
        assert_eq!(
            p.admit(99 * MS, FrameKind::Reference),
            Admit::Skip(SkipReason::AwaitingKeyframe)
        );
        assert!(matches!(
            p.admit(132 * MS, FrameKind::Keyframe),
            Admit::Decode { publish: true }
        ));
    }

    #[test]
    fn raising_the_rate_out_of_keyframe_only_waits_for_a_keyframe() {
        let mut p = Pacer::new(0.5);
        run(&mut p, 15, 30, 90, 0);
        assert!(p.keyframe_only());
        p.set_fps(5.0);
        // Frame 91 is a P frame whose references were skipped.
        assert_eq!(
            p.admit(91 * 1000 * MS / 15, FrameKind::Reference),
            Admit::Skip(SkipReason::AwaitingKeyframe)
        );
        assert!(matches!(
            p.admit(120 * 1000 * MS / 15, FrameKind::Keyframe),
            Admit::Decode { publish: true }
        ));
    }

    #[test]
    fn a_stall_restarts_the_cadence_instead_of_bursting() {
        let mut p = Pacer::new(5.0);
        run(&mut p, 15, 30, 30, 0);
        // 10 s gap, then the stream resumes with a keyframe.
        let base = 10_000 * MS;
        let mut published = 0;
        for i in 0..15 {
            let kind = if i == 0 {
                FrameKind::Keyframe
            } else {
                FrameKind::Reference
            };
            if let Admit::Decode { publish: true } = p.admit(base + i * 1000 * MS / 15, kind) {
                published += 1;
            }
        }
        assert_eq!(published, 5);
    }
}
