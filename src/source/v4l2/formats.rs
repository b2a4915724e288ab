//! What a camera offers, and which of it does the least work.
//!
//! A camera lists formats (YUYV, MJPEG, H.264, ...), the frame sizes of
//! each, and the frame intervals of each size. edgecam picks, in order:
//!
//! 1. a mode that can deliver the requested rate (a USB 2 camera often
//!    gives 1080p YUYV at 5 fps only, MJPEG at 30);
//! 2. the size closest to the output: exactly the output size, else the
//!    smallest that covers it (downscaling is cheap, upscaling loses
//!    detail); with no output size set, the largest up to 1920x1080;
//! 3. the format that costs least per frame for the output: MJPEG at the
//!    output size when the output is JPEG (published as is), then I420,
//!    NV12, YUYV (one conversion pass), H.264 (a hardware decoder, else
//!    software), and decoding MJPEG last;
//!
//! then asks for the slowest frame interval that still meets the rate, so
//! the camera sends (and the USB bus carries) no more frames than needed.

use v4l2r::bindings;
use v4l2r::ioctl::{self, FormatIterator, FrmIvalTypes, FrmSizeTypes};

use crate::config::OutputFormat;
use crate::decode::capture;
use crate::v4l2::{Device, QueueType};

/// Largest default capture size when the output size is not set.
pub const DEFAULT_MAX: (u32, u32) = (1920, 1080);

/// Frame interval as a fraction of a second (`numerator / denominator`).
pub type Interval = (u32, u32);

#[derive(Debug, Clone, PartialEq)]
pub enum Intervals {
    Discrete(Vec<Interval>),
    /// Anything between `min` and `max` (stepwise or continuous).
    Range {
        min: Interval,
        max: Interval,
    },
    /// The driver does not enumerate intervals.
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SizeOffer {
    pub width: u32,
    pub height: u32,
    pub intervals: Intervals,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub fourcc: [u8; 4],
    pub sizes: Vec<SizeOffer>,
}

/// What the camera's settings ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct Want {
    pub output: OutputFormat,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: f64,
    /// Forced by the source (`?format=`), else free.
    pub format: Option<[u8; 4]>,
    /// Forced by the source (`?size=`), else free.
    pub size: Option<(u32, u32)>,
    /// H.264 would be decoded in hardware.
    pub h264_hardware: bool,
}

/// The mode to ask the camera for.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub fourcc: [u8; 4],
    pub width: u32,
    pub height: u32,
    /// Frame interval to request with S_PARM, if the camera lists any.
    pub interval: Option<Interval>,
    /// Why, in words (logged).
    pub why: String,
}

pub fn fourcc_str(f: &[u8; 4]) -> String {
    String::from_utf8_lossy(f).trim_end().to_string()
}

/// Parses `yuyv`, `MJPG`, `mjpeg`, `i420`, ... into a V4L2 fourcc.
pub fn parse_fourcc(name: &str) -> Option<[u8; 4]> {
    let up = name.trim().to_ascii_uppercase();
    Some(match up.as_str() {
        "MJPEG" | "MJPG" => *b"MJPG",
        "JPEG" => *b"JPEG",
        "I420" | "YU12" | "YUV420" => *b"YU12",
        "YV12" => *b"YV12",
        "NV12" => *b"NV12",
        "YUYV" | "YUY2" => *b"YUYV",
        "UYVY" => *b"UYVY",
        "H264" | "H.264" => *b"H264",
        _ => return None,
    })
}

/// Reads formats, sizes and intervals from an open capture node.
pub fn enumerate(dev: &Device, queue: QueueType) -> Vec<Offer> {
    FormatIterator::new(dev, queue)
        .map(|d| {
            let fourcc: [u8; 4] = d.pixelformat.into();
            let sizes = sizes(dev, fourcc)
                .into_iter()
                .map(|(width, height)| SizeOffer {
                    width,
                    height,
                    intervals: intervals(dev, fourcc, width, height),
                })
                .collect();
            Offer { fourcc, sizes }
        })
        .collect()
}

/// Common sizes, to sample a stepwise range with.
const COMMON_SIZES: [(u32, u32); 10] = [
    (320, 240),
    (640, 360),
    (640, 480),
    (800, 600),
    (960, 540),
    (1024, 768),
    (1280, 720),
    (1280, 960),
    (1920, 1080),
    (2560, 1440),
];

fn sizes(dev: &Device, fourcc: [u8; 4]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for index in 0..256 {
        let Ok(e) =
            ioctl::enum_frame_sizes::<bindings::v4l2_frmsizeenum>(dev, index, (&fourcc).into())
        else {
            break;
        };
        match e.size() {
            Some(FrmSizeTypes::Discrete(d)) => out.push((d.width, d.height)),
            Some(FrmSizeTypes::StepWise(s)) => {
                let fits = |w: u32, h: u32| {
                    (s.min_width..=s.max_width).contains(&w)
                        && (s.min_height..=s.max_height).contains(&h)
                        && (w - s.min_width).is_multiple_of(s.step_width.max(1))
                        && (h - s.min_height).is_multiple_of(s.step_height.max(1))
                };
                out.extend(COMMON_SIZES.iter().copied().filter(|&(w, h)| fits(w, h)));
                out.push((s.max_width, s.max_height));
                break;
            }
            None => break,
        }
    }
    out.sort();
    out.dedup();
    out
}

fn intervals(dev: &Device, fourcc: [u8; 4], width: u32, height: u32) -> Intervals {
    let mut discrete = Vec::new();
    for index in 0..64 {
        let Ok(e) = ioctl::enum_frame_intervals::<bindings::v4l2_frmivalenum>(
            dev,
            index,
            (&fourcc).into(),
            width,
            height,
        ) else {
            break;
        };
        match e.intervals() {
            Some(FrmIvalTypes::Discrete(f)) => discrete.push((f.numerator, f.denominator)),
            Some(FrmIvalTypes::StepWise(s)) => {
                return Intervals::Range {
                    min: (s.min.numerator, s.min.denominator),
                    max: (s.max.numerator, s.max.denominator),
                };
            }
            None => break,
        }
    }
    if discrete.is_empty() {
        Intervals::Unknown
    } else {
        Intervals::Discrete(discrete)
    }
}

fn fps_of(i: Interval) -> f64 {
    if i.0 == 0 {
        0.0
    } else {
        f64::from(i.1) / f64::from(i.0)
    }
}

impl Intervals {
    /// Fastest rate the camera offers at this size, if it says.
    pub fn max_fps(&self) -> Option<f64> {
        match self {
            Intervals::Discrete(v) => v.iter().map(|&i| fps_of(i)).reduce(f64::max),
            Intervals::Range { min, .. } => Some(fps_of(*min)),
            Intervals::Unknown => None,
        }
    }

    /// The slowest interval that still delivers `fps` (or the fastest if
    /// none does).
    pub fn pick(&self, fps: f64) -> Option<Interval> {
        match self {
            Intervals::Discrete(v) => {
                let meeting = v
                    .iter()
                    .filter(|&&i| fps_of(i) + 1e-6 >= fps)
                    .min_by(|a, b| fps_of(**a).total_cmp(&fps_of(**b)));
                meeting
                    .or_else(|| v.iter().max_by(|a, b| fps_of(**a).total_cmp(&fps_of(**b))))
                    .copied()
            }
            Intervals::Range { min, max } => {
                let want = fps.clamp(fps_of(*max).max(0.001), fps_of(*min).max(0.001));
                // As a fraction with a millisecond-ish resolution.
                let den = 1000u32;
                let num = ((f64::from(den) / want).round() as u32).max(1);
                Some((num, den))
            }
            Intervals::Unknown => None,
        }
    }
}

/// Relative CPU cost per captured pixel of turning a frame of `fourcc` into
/// the output (the JPEG encode or raw copy every path pays is left out).
fn work(fourcc: &[u8; 4], want: &Want, as_is: bool) -> f64 {
    match fourcc {
        b"MJPG" | b"JPEG" if as_is => 0.0,
        b"YU12" | b"YV12" => 0.05,
        b"NV12" => 0.1,
        b"YUYV" | b"UYVY" => 0.3,
        b"H264" if want.h264_hardware => 0.2,
        b"H264" => 4.0,
        b"MJPG" | b"JPEG" => 2.5,
        _ => f64::INFINITY,
    }
}

/// Picks the mode (see the module docs). Errors say what the camera offers.
pub fn choose(offers: &[Offer], want: &Want) -> Result<Choice, String> {
    let usable: Vec<&Offer> = offers
        .iter()
        .filter(|o| capture::supported(&o.fourcc))
        .filter(|o| {
            want.format
                .is_none_or(|f| f == o.fourcc || same_format(f, o.fourcc))
        })
        .collect();
    let listing = || {
        offers
            .iter()
            .map(|o| fourcc_str(&o.fourcc))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if usable.is_empty() {
        return Err(match want.format {
            Some(f) => format!(
                "the camera does not offer {} (it offers: {})",
                fourcc_str(&f),
                listing()
            ),
            None => format!(
                "the camera offers no format edgecam can use (it offers: {}; edgecam reads MJPEG, H.264, NV12, I420, YV12, YUYV, UYVY)",
                listing()
            ),
        });
    }
    let candidates: Vec<(&Offer, &SizeOffer)> = usable
        .iter()
        .flat_map(|o| o.sizes.iter().map(move |s| (*o, s)))
        .filter(|(_, s)| want.size.is_none_or(|(w, h)| (s.width, s.height) == (w, h)))
        .collect();
    if candidates.is_empty() {
        let (w, h) = want.size.unwrap_or_default();
        return Err(format!(
            "the camera offers no {w}x{h} frames in a usable format"
        ));
    }
    // The size to aim for.
    let target = match (want.width, want.height) {
        (None, None) => {
            let (mw, mh) = DEFAULT_MAX;
            let best = candidates
                .iter()
                .filter(|(_, s)| s.width <= mw && s.height <= mh)
                .map(|(_, s)| (s.width, s.height))
                .max_by_key(|&(w, h)| u64::from(w) * u64::from(h))
                .or_else(|| {
                    candidates
                        .iter()
                        .map(|(_, s)| (s.width, s.height))
                        .min_by_key(|&(w, h)| u64::from(w) * u64::from(h))
                });
            (best.map(|b| b.0), best.map(|b| b.1))
        }
        (w, h) => (w, h),
    };
    let score = |(o, s): &(&Offer, &SizeOffer)| {
        let fast_enough = s
            .intervals
            .max_fps()
            .is_none_or(|f| f + 1e-6 >= want.fps * 0.95);
        let exact = target.0.is_none_or(|w| w == s.width) && target.1.is_none_or(|h| h == s.height);
        let covers =
            target.0.is_none_or(|w| s.width >= w) && target.1.is_none_or(|h| s.height >= h);
        let tier = if exact {
            0
        } else if covers {
            1
        } else {
            2
        };
        let as_is = exact && want.output == OutputFormat::Jpeg;
        let pixels = f64::from(s.width) * f64::from(s.height);
        let scaling = if exact { 0.0 } else { 0.2 };
        let cost = (work(&o.fourcc, want, as_is) + scaling) * pixels;
        // Among sizes that do not cover the output, prefer the largest.
        let area = if tier == 2 { -pixels } else { pixels };
        (!fast_enough, tier, cost, area)
    };
    let best = candidates
        .iter()
        .min_by(|a, b| {
            let (sa, sb) = (score(a), score(b));
            sa.0.cmp(&sb.0)
                .then(sa.1.cmp(&sb.1))
                .then(sa.2.total_cmp(&sb.2))
                .then(sa.3.total_cmp(&sb.3))
        })
        .expect("candidates is not empty");
    let (o, s) = *best;
    let (slow, tier, _, _) = score(best);
    let as_is =
        tier == 0 && want.output == OutputFormat::Jpeg && matches!(&o.fourcc, b"MJPG" | b"JPEG");
    let interval = s.intervals.pick(want.fps);
    let mut why = format!(
        "{} {}x{}: {}",
        fourcc_str(&o.fourcc),
        s.width,
        s.height,
        match (&o.fourcc, as_is) {
            (b"MJPG" | b"JPEG", true) => "published as is (no decode, no re-encode)",
            (b"MJPG" | b"JPEG", false) => "decoded with libjpeg-turbo",
            (b"H264", _) if want.h264_hardware => "decoded in hardware",
            (b"H264", _) => "decoded in software",
            (b"YUYV" | b"UYVY", _) => "converted once to I420",
            _ => "used as captured",
        }
    );
    if tier == 1 {
        why.push_str(", scaled down to the output size");
    } else if tier == 2 {
        why.push_str(", scaled UP: the camera has nothing as large as the output");
    }
    if slow {
        why.push_str(&format!(
            "; the camera cannot deliver {} fps in any usable mode (at most {:.1})",
            want.fps,
            s.intervals.max_fps().unwrap_or(0.0)
        ));
    }
    if let Some(i) = interval {
        why.push_str(&format!("; camera set to {:.2} fps", fps_of(i)));
    }
    Ok(Choice {
        fourcc: o.fourcc,
        width: s.width,
        height: s.height,
        interval,
        why,
    })
}

/// `MJPG` and `JPEG` are the same thing to edgecam.
fn same_format(a: [u8; 4], b: [u8; 4]) -> bool {
    matches!((&a, &b), (b"MJPG", b"JPEG") | (b"JPEG", b"MJPG"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(w: u32, h: u32, fps: &[u32]) -> SizeOffer {
        SizeOffer {
            width: w,
            height: h,
            intervals: Intervals::Discrete(fps.iter().map(|&f| (1, f)).collect()),
        }
    }

    /// A typical UVC webcam: YUYV only slowly at high resolutions, MJPEG fast.
    fn webcam() -> Vec<Offer> {
        vec![
            Offer {
                fourcc: *b"YUYV",
                sizes: vec![
                    size(640, 480, &[30, 15, 5]),
                    size(1280, 720, &[10, 5]),
                    size(1920, 1080, &[5]),
                ],
            },
            Offer {
                fourcc: *b"MJPG",
                sizes: vec![
                    size(640, 480, &[30, 15]),
                    size(1280, 720, &[30, 15]),
                    size(1920, 1080, &[30, 15]),
                ],
            },
        ]
    }

    fn want(output: OutputFormat, width: Option<u32>, height: Option<u32>, fps: f64) -> Want {
        Want {
            output,
            width,
            height,
            fps,
            format: None,
            size: None,
            h264_hardware: false,
        }
    }

    #[test]
    fn jpeg_at_a_camera_size_is_mjpeg_as_is() {
        let c = choose(
            &webcam(),
            &want(OutputFormat::Jpeg, Some(1280), Some(720), 5.0),
        )
        .unwrap();
        assert_eq!((&c.fourcc, c.width, c.height), (b"MJPG", 1280, 720));
        assert!(c.why.contains("as is"), "{}", c.why);
        // Slowest interval that still gives 5 fps: 15 fps.
        assert_eq!(c.interval, Some((1, 15)));
    }

    #[test]
    fn raw_output_prefers_raw_capture_when_fast_enough() {
        let c = choose(
            &webcam(),
            &want(OutputFormat::Nv12, Some(640), Some(480), 5.0),
        )
        .unwrap();
        assert_eq!((&c.fourcc, c.width), (b"YUYV", 640));
        assert_eq!(c.interval, Some((1, 5)));
        // 15 fps at 1080p: YUYV cannot (5 fps max), MJPEG can.
        let c = choose(
            &webcam(),
            &want(OutputFormat::Nv12, Some(1920), Some(1080), 15.0),
        )
        .unwrap();
        assert_eq!(&c.fourcc, b"MJPG");
        assert!(c.why.contains("libjpeg-turbo"));
    }

    #[test]
    fn no_output_size_takes_the_largest_up_to_1080p() {
        let c = choose(&webcam(), &want(OutputFormat::Jpeg, None, None, 5.0)).unwrap();
        assert_eq!((&c.fourcc, c.width, c.height), (b"MJPG", 1920, 1080));
    }

    #[test]
    fn a_smaller_output_takes_the_smallest_covering_size() {
        let c = choose(&webcam(), &want(OutputFormat::Jpeg, Some(800), None, 5.0)).unwrap();
        assert_eq!((c.width, c.height), (1280, 720));
        assert!(c.why.contains("scaled down"), "{}", c.why);
    }

    #[test]
    fn forced_format_and_size_and_helpful_errors() {
        let mut w = want(OutputFormat::Jpeg, None, None, 5.0);
        w.format = Some(*b"YUYV");
        w.size = Some((1280, 720));
        let c = choose(&webcam(), &w).unwrap();
        assert_eq!((&c.fourcc, c.width), (b"YUYV", 1280));
        w.format = Some(*b"NV12");
        let e = choose(&webcam(), &w).unwrap_err();
        assert!(
            e.contains("does not offer NV12") && e.contains("YUYV MJPG"),
            "{e}"
        );
        let odd = vec![Offer {
            fourcc: *b"RGB3",
            sizes: vec![size(640, 480, &[30])],
        }];
        let e = choose(&odd, &want(OutputFormat::Jpeg, None, None, 5.0)).unwrap_err();
        assert!(e.contains("no format edgecam can use"), "{e}");
    }

    #[test]
    fn h264_cameras_prefer_hardware_decode_over_mjpeg_decode() {
        let offers = vec![
            Offer {
                fourcc: *b"H264",
                sizes: vec![size(1920, 1080, &[30])],
            },
            Offer {
                fourcc: *b"MJPG",
                sizes: vec![size(1920, 1080, &[30])],
            },
        ];
        let mut w = want(OutputFormat::Nv12, Some(1920), Some(1080), 5.0);
        w.h264_hardware = true;
        assert_eq!(&choose(&offers, &w).unwrap().fourcc, b"H264");
        w.h264_hardware = false;
        assert_eq!(&choose(&offers, &w).unwrap().fourcc, b"MJPG");
    }

    #[test]
    fn intervals_pick_the_slowest_meeting_the_rate() {
        let d = Intervals::Discrete(vec![(1, 30), (1, 15), (1, 5)]);
        assert_eq!(d.pick(5.0), Some((1, 5)));
        assert_eq!(d.pick(6.0), Some((1, 15)));
        assert_eq!(d.pick(60.0), Some((1, 30)));
        let r = Intervals::Range {
            min: (1, 30),
            max: (1, 1),
        };
        assert_eq!(r.pick(5.0), Some((200, 1000)));
        assert_eq!(r.pick(100.0), Some((33, 1000)));
        assert_eq!(Intervals::Unknown.pick(5.0), None);
    }
}
