//! RTSP cameras, with retina (TCP interleaved, basic/digest auth).
//!
//! The loop: DESCRIBE → SETUP (TCP) → PLAY → frames, until the session
//! fails or stalls; then reconnect after an exponential, jittered, capped
//! backoff. A session that delivered frames resets the backoff.
//!
//! The stall watchdog counts *any* data from the camera (RTCP sender reports
//! included) and stretches itself to a multiple of the longest gap between
//! frames seen so far, so a sparse but healthy stream (a 0.2 fps "smart
//! codec" camera, say) is never reconnected in a loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use retina::client::{
    Credentials, PlayOptions, SessionGroup, SessionOptions, SetupOptions, TcpTransportOptions,
    Transport,
};
use retina::codec::{CodecItem, FrameFormat, VideoFrame};
use tokio::sync::watch;

use super::backoff::Backoff;
use super::redact_url;
use crate::camera::{CameraShared, CameraState};
use crate::clock::now_ns;
use crate::pace::FrameKind;

#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub stall_timeout: Duration,
    pub backoff_max: Duration,
}

/// How a session ended.
enum Ended {
    /// Failed; retry after backoff. `delivered` says whether frames flowed.
    Failed { error: String, delivered: bool },
    /// The stream is of a kind edgecam cannot decode: retry only rarely.
    Unsupported(String),
}

pub async fn run(
    shared: Arc<CameraShared>,
    url: url::Url,
    username: Option<String>,
    password: Option<String>,
    timing: Timing,
    mut stop: watch::Receiver<bool>,
) {
    let creds = username.map(|username| Credentials {
        username,
        password: password.unwrap_or_default(),
    });
    let group = Arc::new(SessionGroup::default());
    let mut backoff = Backoff::new(Duration::from_millis(500), timing.backoff_max);
    let mut first = true;
    loop {
        shared.begin_attempt(!first);
        first = false;
        let ended = tokio::select! {
            ended = session(&shared, &url, creds.clone(), &group, timing.stall_timeout) => ended,
            _ = stop.changed() => break,
        };
        shared.restart_stream();
        let delay = match ended {
            Ended::Failed { error, delivered } => {
                if delivered {
                    backoff.reset();
                }
                let delay = backoff.next_delay();
                tracing::warn!(camera = %shared.name, source = %shared.source_display, retry_in_ms = delay.as_millis() as u64, "{error}");
                shared.set_state(CameraState::Error, Some(error));
                delay
            }
            Ended::Unsupported(error) => {
                tracing::error!(camera = %shared.name, source = %shared.source_display, "{error}");
                shared.set_state(CameraState::Error, Some(error));
                timing.backoff_max
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => break,
        }
    }
    // Give retina a moment to send TEARDOWN so the camera frees the session.
    let _ = tokio::time::timeout(Duration::from_secs(1), group.await_teardown()).await;
}

async fn session(
    shared: &CameraShared,
    url: &url::Url,
    creds: Option<Credentials>,
    group: &Arc<SessionGroup>,
    stall_timeout: Duration,
) -> Ended {
    let failed = |what: &str, e: &dyn std::fmt::Display| Ended::Failed {
        error: redact_url(&format!("{what}: {e}")),
        delivered: false,
    };
    let options = SessionOptions::default()
        .creds(creds)
        .session_group(Arc::clone(group))
        .user_agent(format!("edgecam/{}", env!("CARGO_PKG_VERSION")));
    let connect = async {
        let mut session = retina::client::Session::describe(url.clone(), options)
            .await
            .map_err(|e| failed("DESCRIBE failed", &e))?;
        let Some(index) = session.streams().iter().position(|s| s.media() == "video") else {
            return Err(Ended::Unsupported(
                "the camera offers no video stream".into(),
            ));
        };
        let encoding = session.streams()[index]
            .encoding_name()
            .to_ascii_lowercase();
        match encoding.as_str() {
            "h264" => {}
            "h265" => {
                return Err(Ended::Unsupported(
                    "the camera sends H.265, which this build cannot decode yet; set the camera's stream to H.264".into(),
                ));
            }
            "jpeg" => {
                return Err(Ended::Unsupported(
                    "the camera sends MJPEG over RTSP, which is not supported yet; set the camera's stream to H.264".into(),
                ));
            }
            other => {
                return Err(Ended::Unsupported(format!(
                    "unsupported video encoding {other:?}; edgecam decodes H.264"
                )));
            }
        }
        let clock_rate = session.streams()[index].clock_rate_hz();
        session
            .setup(
                index,
                SetupOptions::default()
                    .transport(Transport::Tcp(TcpTransportOptions::default()))
                    .frame_format(FrameFormat::SIMPLE),
            )
            .await
            .map_err(|e| failed("SETUP failed", &e))?;
        let playing = session
            .play(PlayOptions::default())
            .await
            .map_err(|e| failed("PLAY failed", &e))?;
        let demuxed = playing.demuxed().map_err(|e| failed("cannot demux", &e))?;
        Ok((demuxed, clock_rate))
    };
    let (mut demuxed, _clock_rate) =
        match tokio::time::timeout(Duration::from_secs(15), connect).await {
            Ok(Ok(v)) => v,
            Ok(Err(ended)) => return ended,
            Err(_) => {
                return Ended::Failed {
                    error: "connecting timed out after 15 s".into(),
                    delivered: false,
                };
            }
        };

    let mut clock = CaptureClock::default();
    let mut delivered = false;
    let mut last_frame = Instant::now();
    let mut longest_gap = Duration::ZERO;
    loop {
        // Sparse streams stretch the watchdog: 3x the longest gap seen.
        let watchdog = stall_timeout.max(longest_gap * 3);
        let item = match tokio::time::timeout(watchdog, demuxed.next()).await {
            Err(_) => {
                return Ended::Failed {
                    error: format!(
                        "no data for {:.0} s (stalled); reconnecting",
                        watchdog.as_secs_f64()
                    ),
                    delivered,
                };
            }
            Ok(None) => {
                return Ended::Failed {
                    error: "the camera ended the stream".into(),
                    delivered,
                };
            }
            Ok(Some(Err(e))) => {
                return Ended::Failed {
                    error: redact_url(&format!("stream error: {e}")),
                    delivered,
                };
            }
            Ok(Some(Ok(item))) => item,
        };
        if let CodecItem::VideoFrame(frame) = item {
            let now = Instant::now();
            if delivered {
                longest_gap = longest_gap.max(now - last_frame);
            } else {
                delivered = true;
                shared.set_state(CameraState::Online, None);
                tracing::info!(camera = %shared.name, source = %shared.source_display, "streaming");
            }
            last_frame = now;
            offer(shared, &frame, &mut clock);
        }
    }
}

fn offer(shared: &CameraShared, frame: &VideoFrame, clock: &mut CaptureClock) {
    let kind = if frame.is_random_access_point() {
        FrameKind::Keyframe
    } else if frame.is_disposable() {
        FrameKind::Disposable
    } else {
        FrameKind::Reference
    };
    if frame.loss() > 0 && kind != FrameKind::Keyframe {
        shared.note_loss();
    }
    let ts = frame.timestamp();
    let stream_ns =
        (i128::from(ts.elapsed()) * 1_000_000_000 / i128::from(ts.clock_rate().get())) as i64;
    let capture_ns = clock.capture_ns(stream_ns, now_ns());
    shared.offer_unit(&[frame.data()], kind, stream_ns, capture_ns);
}

/// Maps stream time (RTP) to wall-clock capture time.
///
/// The first frame is anchored at its arrival time; later frames are placed
/// by their RTP timestamps, so network jitter does not leak into `ts_ns`. A
/// frame can never be stamped in the future, and if the camera's clock drifts
/// more than a second behind, the anchor moves.
#[derive(Debug, Default)]
pub struct CaptureClock {
    anchor_ns: Option<i64>,
}

impl CaptureClock {
    pub fn capture_ns(&mut self, stream_ns: i64, arrival_ns: i64) -> i64 {
        let anchor = *self.anchor_ns.get_or_insert(arrival_ns - stream_ns);
        let mut at = anchor + stream_ns;
        if at > arrival_ns || arrival_ns - at > 1_000_000_000 {
            self.anchor_ns = Some(arrival_ns - stream_ns);
            at = arrival_ns;
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::CaptureClock;

    #[test]
    fn capture_times_follow_rtp_not_arrival_jitter() {
        let mut c = CaptureClock::default();
        let base = 1_700_000_000_000_000_000;
        assert_eq!(c.capture_ns(0, base), base);
        // Arrives 30 ms late: still stamped at its RTP time.
        assert_eq!(
            c.capture_ns(66_000_000, base + 96_000_000),
            base + 66_000_000
        );
        // Never in the future.
        assert_eq!(
            c.capture_ns(200_000_000, base + 150_000_000),
            base + 150_000_000
        );
        // Re-anchored: later frames follow from the new anchor.
        assert_eq!(
            c.capture_ns(266_000_000, base + 230_000_000),
            base + 216_000_000
        );
    }
}
