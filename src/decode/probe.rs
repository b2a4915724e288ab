//! Which decoders this box has, and which one each camera gets.
//!
//! Probing runs once at start-up; `edgecam probe` prints the same report so a
//! user can see on their own box what would be chosen and why. For H.264
//! (what cameras send), `decoder = "auto"` takes a stateful V4L2 M2M decoder
//! that accepts H.264 when there is one (hardware decode costs the CPU
//! almost nothing), and openh264 in software otherwise. Stateless decoders
//! are listed with the reason they are not used.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Decoder;
use super::capture::CaptureDecoder;
use super::fallback::{Opener, Preferred as PreferredDecoder, WithFallback};
use super::gstreamer_elements::{Found, H264_DECODERS, known};
use super::openh264::OpenH264;
use super::v4l2m2m::probe::{M2mNode, Role};
use super::v4l2m2m::{Codec, M2mDecoder, M2mError};
use crate::config::{CameraSettings, DecoderChoice};
use crate::source::SourceSpec;
use crate::v4l2::node::{self, NodeKind};

#[derive(Debug, Clone, Serialize)]
pub struct BackendReport {
    /// `software`, `v4l2m2m`, `gstreamer`.
    pub backend: &'static str,
    /// Device node or element, where there is one.
    pub device: Option<String>,
    /// Usable for the cameras' H.264.
    pub available: bool,
    /// Why it is or is not usable, in words for the operator.
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// For V4L2 M2M devices: stateful/stateless decoder, encoder, converter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Compressed formats it decodes (or encodes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub codecs: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub backends: Vec<BackendReport>,
    /// What `decoder = "auto"` resolves to for H.264.
    pub auto_choice: &'static str,
    /// The device it uses, for hardware.
    pub auto_device: Option<String>,
    pub auto_reason: String,
    /// Video device nodes seen, what they are (for diagnosis).
    pub video_nodes: Vec<VideoNode>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VideoNode {
    pub device: String,
    /// The kernel's name of the node (sysfs).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// capture, m2m, output, metadata, other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<NodeKind>,
    /// For capture nodes: what `source = "usb:<id>"` matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the configuration (or a board profile) says about decoding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecoderOptions {
    /// The V4L2 M2M decoder to use, instead of probing for one.
    pub device: Option<PathBuf>,
    /// The GStreamer decoder element to use, instead of the first found.
    pub gst_element: Option<String>,
}

impl DecoderOptions {
    /// `[decoder] device`, else the board profile's.
    pub fn from_config(config: &crate::config::Config) -> Self {
        let board = config.board.as_ref().map(|b| &b.decoder);
        let device = config
            .decoder
            .device
            .clone()
            .or_else(|| board.and_then(|d| d.device.clone()));
        let gst_element = config
            .decoder
            .gst_element
            .clone()
            .or_else(|| board.and_then(|d| d.gst_element.clone()));
        DecoderOptions {
            device: device.map(PathBuf::from),
            gst_element,
        }
    }
}

/// Opens decoders according to the probe.
#[derive(Debug, Clone)]
pub struct DecoderFactory {
    report: ProbeReport,
    /// The M2M device used for H.264: named, or the first that decodes it.
    h264_device: Option<PathBuf>,
    /// The device named by the configuration, even if the probe doubts it.
    named_device: Option<PathBuf>,
    /// The GStreamer element `decoder = "auto"` takes when there is no
    /// V4L2 M2M H.264 decoder (any of them beats openh264).
    gst_auto: Option<GstChoice>,
    /// The element `decoder = "gstreamer"` takes, or why there is none.
    gst_explicit: Result<GstChoice, String>,
}

#[derive(Debug, Clone, PartialEq)]
struct GstChoice {
    element: String,
    hardware: bool,
}

/// Why the static build has no GStreamer elements.
const GST_NOT_BUILT: &str = "GStreamer is not compiled in: this is the static build; the GStreamer variant is built with `make gstreamer` (see docs/hardware.md)";

/// The GStreamer registry's decoder elements, in this build.
fn probe_gstreamer() -> Result<Vec<Found>, String> {
    #[cfg(feature = "gstreamer")]
    {
        super::gstreamer::registry::probe()
    }
    #[cfg(not(feature = "gstreamer"))]
    {
        Err(GST_NOT_BUILT.into())
    }
}

impl DecoderFactory {
    pub fn probe() -> Self {
        Self::probe_with(&DecoderOptions::default())
    }

    pub fn probe_with(options: &DecoderOptions) -> Self {
        let nodes = node::video_nodes();
        let m2m: Vec<M2mNode> = nodes
            .iter()
            .filter_map(|p| super::v4l2m2m::probe::probe_node(p).ok().flatten())
            .collect();
        Self::from_parts(options, describe_nodes(&nodes), m2m, probe_gstreamer())
    }

    /// A probe of a fake sysfs tree (tests): nodes are listed, not opened.
    pub fn probe_in(sysfs_v4l: &Path) -> Self {
        let nodes = node::video_nodes_in(sysfs_v4l)
            .into_iter()
            .map(|p| VideoNode {
                name: sysfs_name(sysfs_v4l, &p),
                device: p.display().to_string(),
                driver: None,
                kind: None,
                stable_id: None,
                error: None,
            })
            .collect();
        Self::from_parts(
            &DecoderOptions::default(),
            nodes,
            Vec::new(),
            Err(GST_NOT_BUILT.into()),
        )
    }

    /// No hardware at all: openh264 for everything.
    pub fn software_only() -> Self {
        Self::from_parts(
            &DecoderOptions::default(),
            Vec::new(),
            Vec::new(),
            Err(GST_NOT_BUILT.into()),
        )
    }

    /// The decision, from what was found.
    pub fn from_parts(
        options: &DecoderOptions,
        video_nodes: Vec<VideoNode>,
        m2m: Vec<M2mNode>,
        gstreamer: Result<Vec<Found>, String>,
    ) -> Self {
        let mut backends = vec![BackendReport {
            backend: "software",
            device: None,
            available: true,
            reason: "openh264, built in; runs on any CPU".into(),
            driver: None,
            role: None,
            codecs: vec!["H264".into()],
        }];
        for n in &m2m {
            let h264 = n.decodes(b"H264");
            let reason = match n.role {
                Role::StatefulDecoder if h264 => {
                    "stateful decoder that takes H.264: used for cameras".to_string()
                }
                Role::StatefulDecoder => format!(
                    "stateful decoder of {}; not H.264, so not used for cameras",
                    n.codecs.join(" ")
                ),
                Role::StatelessDecoder => format!(
                    "stateless decoder of {} (request API): not supported yet",
                    n.codecs.join(" ")
                ),
                Role::Encoder => format!("encoder ({}): not a decoder", n.codecs.join(" ")),
                Role::Converter => "scaler/converter (raw in, raw out): not a decoder".into(),
                Role::Unknown => "M2M device with no recognised formats".into(),
            };
            backends.push(BackendReport {
                backend: "v4l2m2m",
                device: Some(n.device.display().to_string()),
                available: h264,
                reason: format!("{} ({}): {reason}", n.card, n.driver),
                driver: Some(n.driver.clone()),
                role: Some(n.role),
                codecs: n.codecs.clone(),
            });
        }
        match &gstreamer {
            Ok(found) => backends.extend(found.iter().map(|f| BackendReport {
                backend: "gstreamer",
                device: Some(f.element.to_string()),
                available: f.available,
                reason: f.reason.clone(),
                driver: None,
                role: None,
                codecs: vec!["H264".into()],
            })),
            Err(why) => backends.push(BackendReport {
                backend: "gstreamer",
                device: None,
                available: false,
                reason: why.clone(),
                driver: None,
                role: None,
                codecs: Vec::new(),
            }),
        }
        let (gst_auto, gst_explicit) = gst_choices(options, &gstreamer);

        let first_h264 = m2m.iter().find(|n| n.decodes(b"H264"));
        let named = options.device.as_ref();
        let named_node = named.and_then(|d| m2m.iter().find(|n| &n.device == d));
        let (h264_device, auto_reason) = match (named, named_node) {
            (Some(d), Some(n)) if n.decodes(b"H264") => (
                Some(d.clone()),
                format!(
                    "hardware: {} ({}) as configured; it takes H.264",
                    d.display(),
                    n.driver
                ),
            ),
            (Some(d), found) => (
                None,
                format!(
                    "software: the configured decoder device {} {}; openh264 decodes instead",
                    d.display(),
                    match found {
                        Some(n) => format!(
                            "is a {} of {}, not an H.264 decoder",
                            n.role.describe(),
                            n.codecs.join(" ")
                        ),
                        None => "is not a V4L2 M2M device on this box".into(),
                    }
                ),
            ),
            (None, _) => match first_h264 {
                Some(n) => (
                    Some(n.device.clone()),
                    format!(
                        "hardware: {} ({} {}) decodes H.264 (stateful V4L2 M2M); preferred over software, which falls back in if it fails",
                        n.device.display(),
                        n.driver,
                        n.card
                    ),
                ),
                None => (None, no_hardware_reason(&m2m)),
            },
        };
        // Without a native hardware decoder, a GStreamer element beats
        // openh264 (hardware, or libavcodec at about half its CPU).
        let gst_auto = gst_auto.filter(|_| h264_device.is_none());
        let (auto_choice, auto_device, auto_reason) = match (&h264_device, &gst_auto) {
            (Some(d), _) => ("v4l2m2m", Some(d.display().to_string()), auto_reason),
            (None, Some(g)) => (
                "gstreamer",
                Some(g.element.clone()),
                format!(
                    "gstreamer: {} ({}); {}",
                    g.element,
                    known(&g.element).map_or("configured", |k| k.what),
                    auto_reason.replacen("software: ", "no native hardware decoder: ", 1)
                ),
            ),
            (None, None) => ("software", None, auto_reason),
        };
        let report = ProbeReport {
            backends,
            auto_choice,
            auto_device,
            auto_reason,
            video_nodes,
        };
        DecoderFactory {
            report,
            h264_device,
            named_device: options.device.clone(),
            gst_auto,
            gst_explicit,
        }
    }

    pub fn report(&self) -> &ProbeReport {
        &self.report
    }

    /// The decoder for a camera: capture-format aware for V4L2 sources,
    /// H.264 otherwise.
    pub fn open_for(&self, settings: &CameraSettings) -> anyhow::Result<Box<dyn Decoder>> {
        match settings.source {
            SourceSpec::V4l2(_) => Ok(Box::new(CaptureDecoder::new(
                &settings.name,
                self.clone(),
                settings.decoder,
            ))),
            _ => self.open_h264(settings.decoder, &settings.name),
        }
    }

    /// Whether a camera asking for `choice` decodes H.264 in hardware
    /// (USB cameras that offer H.264 then prefer it over MJPEG).
    pub fn h264_hardware(&self, choice: DecoderChoice) -> bool {
        match choice {
            DecoderChoice::Auto => {
                self.h264_device.is_some() || self.gst_auto.as_ref().is_some_and(|g| g.hardware)
            }
            DecoderChoice::V4l2m2m => self.named_device.is_some() || self.h264_device.is_some(),
            DecoderChoice::Gstreamer => self.gst_explicit.as_ref().is_ok_and(|g| g.hardware),
            DecoderChoice::Software => false,
        }
    }

    /// An H.264 decoder for a camera that asked for `choice`.
    pub fn open(&self, choice: DecoderChoice) -> anyhow::Result<Box<dyn Decoder>> {
        self.open_h264(choice, "")
    }

    /// An H.264 decoder. A hardware choice that is not available falls back
    /// to software with a warning (a camera that streams beats one that does
    /// not); a hardware decoder that fails later does the same.
    pub fn open_h264(
        &self,
        choice: DecoderChoice,
        camera: &str,
    ) -> anyhow::Result<Box<dyn Decoder>> {
        let preferred = match choice {
            DecoderChoice::Software => None,
            DecoderChoice::Auto => match (&self.h264_device, &self.gst_auto) {
                (Some(device), _) => Some(Preferred::M2m(device.clone())),
                (None, Some(g)) => Some(Preferred::Gst(g.element.clone())),
                (None, None) => None,
            },
            DecoderChoice::V4l2m2m => {
                let device = self
                    .named_device
                    .clone()
                    .or_else(|| self.h264_device.clone());
                if device.is_none() {
                    tracing::warn!(camera, reason = %self.report.auto_reason, "decoder = \"v4l2m2m\" but no V4L2 M2M H.264 decoder was found; using software");
                }
                device.map(Preferred::M2m)
            }
            DecoderChoice::Gstreamer => match &self.gst_explicit {
                Ok(g) => Some(Preferred::Gst(g.element.clone())),
                Err(why) => {
                    tracing::warn!(camera, "decoder = \"gstreamer\" but {why}; using software");
                    None
                }
            },
        };
        Ok(match preferred {
            Some(p) => Box::new(p.open(camera)),
            None => Box::new(OpenH264::new()?),
        })
    }
}

/// The decoder a camera prefers over openh264.
enum Preferred {
    M2m(PathBuf),
    Gst(String),
}

impl Preferred {
    fn open(self, camera: &str) -> WithFallback {
        match self {
            Preferred::M2m(device) => {
                let label = format!("v4l2m2m {}", device.display());
                WithFallback::new(
                    camera,
                    label,
                    Box::new(move || {
                        let d = M2mDecoder::open(&device, Codec::H264).map_err(M2mError::Device)?;
                        Ok(Box::new(d) as Box<dyn PreferredDecoder>)
                    }),
                )
            }
            Preferred::Gst(element) => {
                let label = format!("gstreamer {element}");
                WithFallback::new(camera, label, gst_opener(element))
            }
        }
    }
}

#[cfg(feature = "gstreamer")]
fn gst_opener(element: String) -> Opener {
    Box::new(move || {
        let d = super::gstreamer::pipeline::GstDecoder::open(&element)?;
        Ok(Box::new(d) as Box<dyn PreferredDecoder>)
    })
}

#[cfg(not(feature = "gstreamer"))]
fn gst_opener(element: String) -> Opener {
    Box::new(move || {
        Err(super::fallback::Failure::fatal(format!(
            "{element}: {GST_NOT_BUILT}"
        )))
    })
}

/// What `auto` and `decoder = "gstreamer"` would take from the registry.
fn gst_choices(
    options: &DecoderOptions,
    found: &Result<Vec<Found>, String>,
) -> (Option<GstChoice>, Result<GstChoice, String>) {
    let found = match found {
        Ok(found) => found,
        Err(why) => return (None, Err(why.clone())),
    };
    let choice = |f: &Found| GstChoice {
        element: f.element.to_string(),
        hardware: f.hardware,
    };
    let configured = options.gst_element.as_deref();
    let available = |name: &str| found.iter().find(|f| f.available && f.element == name);
    let first = found.iter().find(|f| f.available);
    // auto: the configured element if it is here, else the best one here.
    let auto = configured.and_then(available).or(first).map(choice);
    // decoder = "gstreamer": the configured element even if it is missing
    // (the camera then says which package to install, and decodes in
    // software).
    let explicit = match (configured, first) {
        (Some(name), _) => Ok(available(name).map(choice).unwrap_or_else(|| GstChoice {
            element: name.to_string(),
            hardware: known(name).is_none_or(|k| k.hardware),
        })),
        (None, Some(f)) => Ok(choice(f)),
        (None, None) => Err(format!(
            "no GStreamer H.264 decoder is installed ({})",
            H264_DECODERS
                .iter()
                .map(|d| format!("{}: {}", d.name, d.package))
                .collect::<Vec<_>>()
                .join("; ")
        )),
    };
    (auto, explicit)
}

fn no_hardware_reason(m2m: &[M2mNode]) -> String {
    if m2m.is_empty() {
        return "software: no V4L2 M2M device on this box; openh264 decodes in software".into();
    }
    let seen: Vec<String> = m2m
        .iter()
        .map(|n| {
            format!(
                "{} {} ({})",
                n.device.display(),
                n.role.describe(),
                if n.codecs.is_empty() {
                    n.driver.clone()
                } else {
                    n.codecs.join(" ")
                }
            )
        })
        .collect();
    format!(
        "software: no V4L2 M2M device takes H.264 (found: {}); openh264 decodes in software",
        seen.join("; ")
    )
}

fn sysfs_name(sysfs_v4l: &Path, devnode: &Path) -> String {
    devnode
        .file_name()
        .and_then(|n| std::fs::read_to_string(sysfs_v4l.join(n).join("name")).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Opens each node for QUERYCAP: what it is, and its stable id if a camera.
fn describe_nodes(nodes: &[PathBuf]) -> Vec<VideoNode> {
    let sysfs = Path::new("/sys/class/video4linux");
    nodes
        .iter()
        .map(|p| {
            let name = sysfs_name(sysfs, p);
            match node::inspect(p) {
                Ok(info) => VideoNode {
                    device: p.display().to_string(),
                    name,
                    driver: Some(info.driver),
                    kind: Some(info.kind),
                    stable_id: (info.kind == NodeKind::Capture).then_some(info.identity.stable_id),
                    error: None,
                },
                Err(e) => VideoNode {
                    device: p.display().to_string(),
                    name,
                    driver: None,
                    kind: None,
                    stable_id: None,
                    error: Some(e.to_string()),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(device: &str, driver: &str, role: Role, codecs: &[&str]) -> M2mNode {
        M2mNode {
            device: device.into(),
            driver: driver.into(),
            card: driver.into(),
            role,
            codecs: codecs.iter().map(|c| c.to_string()).collect(),
            raw: vec!["NV12".into()],
        }
    }

    #[test]
    fn software_is_always_available_and_chosen_without_hardware() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("video0");
        std::fs::create_dir(&node).unwrap();
        std::fs::write(node.join("name"), "vivid-000-vid-cap\n").unwrap();
        let f = DecoderFactory::probe_in(dir.path());
        assert_eq!(f.report().auto_choice, "software");
        assert!(
            f.report()
                .backends
                .iter()
                .any(|b| b.backend == "software" && b.available)
        );
        assert_eq!(f.report().video_nodes[0].name, "vivid-000-vid-cap");
        assert_eq!(
            f.open(DecoderChoice::Auto).unwrap().describe(),
            "openh264 (software)"
        );
    }

    #[test]
    fn auto_prefers_a_stateful_h264_decoder_and_says_why() {
        let m2m = vec![
            node("/dev/video2", "vicodec", Role::StatefulDecoder, &["FWHT"]),
            node("/dev/video3", "vicodec", Role::StatelessDecoder, &["SFWH"]),
            node(
                "/dev/video10",
                "bcm2835-codec",
                Role::StatefulDecoder,
                &["H264", "MJPG"],
            ),
        ];
        let f = DecoderFactory::from_parts(
            &DecoderOptions::default(),
            Vec::new(),
            m2m,
            Err(GST_NOT_BUILT.into()),
        );
        let r = f.report();
        assert_eq!(
            (r.auto_choice, r.auto_device.as_deref()),
            ("v4l2m2m", Some("/dev/video10"))
        );
        assert!(r.auto_reason.contains("bcm2835-codec"), "{}", r.auto_reason);
        let by_dev = |d: &str| {
            r.backends
                .iter()
                .find(|b| b.device.as_deref() == Some(d))
                .unwrap()
        };
        assert!(!by_dev("/dev/video2").available);
        assert!(by_dev("/dev/video3").reason.contains("not supported yet"));
        assert!(by_dev("/dev/video10").available);
        // The camera gets the hardware decoder, opened lazily.
        let d = f.open(DecoderChoice::Auto).unwrap();
        assert!(
            d.describe().starts_with("v4l2m2m /dev/video10"),
            "{}",
            d.describe()
        );
        assert_eq!(
            f.open(DecoderChoice::Software).unwrap().describe(),
            "openh264 (software)"
        );
    }

    #[test]
    fn without_an_h264_decoder_auto_is_software_and_lists_what_was_seen() {
        let m2m = vec![
            node("/dev/video2", "vicodec", Role::StatefulDecoder, &["FWHT"]),
            node("/dev/video4", "vim2m", Role::Converter, &[]),
        ];
        let f = DecoderFactory::from_parts(
            &DecoderOptions::default(),
            Vec::new(),
            m2m,
            Err(GST_NOT_BUILT.into()),
        );
        let r = f.report();
        assert_eq!(r.auto_choice, "software");
        assert!(
            r.auto_reason
                .contains("/dev/video2 stateful decoder (FWHT)"),
            "{}",
            r.auto_reason
        );
        assert!(
            r.auto_reason.contains("/dev/video4 scaler/converter"),
            "{}",
            r.auto_reason
        );
    }

    #[test]
    fn a_named_device_is_used_when_asked_even_if_doubtful() {
        let m2m = vec![node(
            "/dev/video2",
            "vicodec",
            Role::StatefulDecoder,
            &["FWHT"],
        )];
        let opts = DecoderOptions {
            device: Some("/dev/video2".into()),
            gst_element: None,
        };
        let f = DecoderFactory::from_parts(&opts, Vec::new(), m2m, Err(GST_NOT_BUILT.into()));
        // auto will not use it for H.264 ...
        assert_eq!(f.report().auto_choice, "software");
        assert!(f.report().auto_reason.contains("not an H.264 decoder"));
        // ... but decoder = "v4l2m2m" tries it (and falls back if it fails).
        let d = f.open(DecoderChoice::V4l2m2m).unwrap();
        assert!(
            d.describe().starts_with("v4l2m2m /dev/video2"),
            "{}",
            d.describe()
        );
    }

    fn registry(available: &[&str]) -> Result<Vec<Found>, String> {
        Ok(H264_DECODERS
            .iter()
            .map(|d| Found {
                element: d.name,
                available: available.contains(&d.name),
                hardware: d.hardware,
                reason: d.what.into(),
            })
            .collect())
    }

    #[test]
    fn auto_takes_a_gstreamer_element_only_without_a_native_hardware_decoder() {
        let opts = DecoderOptions::default();
        let f =
            DecoderFactory::from_parts(&opts, Vec::new(), Vec::new(), registry(&["avdec_h264"]));
        let r = f.report();
        assert_eq!(
            (r.auto_choice, r.auto_device.as_deref()),
            ("gstreamer", Some("avdec_h264"))
        );
        assert!(r.auto_reason.contains("libavcodec"), "{}", r.auto_reason);
        assert!(!f.h264_hardware(DecoderChoice::Auto));
        let gst: Vec<_> = r
            .backends
            .iter()
            .filter(|b| b.backend == "gstreamer")
            .collect();
        assert_eq!(gst.len(), H264_DECODERS.len());

        // A stateful M2M decoder is driven natively, GStreamer or not.
        let m2m = vec![node(
            "/dev/video10",
            "bcm2835-codec",
            Role::StatefulDecoder,
            &["H264"],
        )];
        let f = DecoderFactory::from_parts(
            &opts,
            Vec::new(),
            m2m,
            registry(&["avdec_h264", "v4l2h264dec"]),
        );
        assert_eq!(f.report().auto_choice, "v4l2m2m");

        // Hardware elements come first.
        let f = DecoderFactory::from_parts(
            &opts,
            Vec::new(),
            Vec::new(),
            registry(&["avdec_h264", "nvv4l2decoder"]),
        );
        assert_eq!(f.report().auto_device.as_deref(), Some("nvv4l2decoder"));
        assert!(f.h264_hardware(DecoderChoice::Auto));
    }

    #[test]
    fn a_configured_element_is_tried_even_when_missing_and_named_in_the_failure() {
        let opts = DecoderOptions {
            device: None,
            gst_element: Some("nvv4l2decoder".into()),
        };
        let f =
            DecoderFactory::from_parts(&opts, Vec::new(), Vec::new(), registry(&["avdec_h264"]));
        // auto passes over the missing element ...
        assert_eq!(f.report().auto_device.as_deref(), Some("avdec_h264"));
        // ... decoder = "gstreamer" tries it, and the camera says why it
        // decodes in software instead.
        let d = f.open(DecoderChoice::Gstreamer).unwrap();
        assert_eq!(
            d.describe(),
            "gstreamer nvv4l2decoder (H.264, opens at the first frame)"
        );
        // Without any element installed, decoder = "gstreamer" is software
        // at once, and the static build says it has no GStreamer.
        let f = DecoderFactory::from_parts(
            &DecoderOptions::default(),
            Vec::new(),
            Vec::new(),
            registry(&[]),
        );
        assert_eq!(f.report().auto_choice, "software");
        assert_eq!(
            f.open(DecoderChoice::Gstreamer).unwrap().describe(),
            "openh264 (software)"
        );
        let f = DecoderFactory::software_only();
        let g = f
            .report()
            .backends
            .iter()
            .find(|b| b.backend == "gstreamer")
            .unwrap();
        assert!(
            !g.available && g.reason.contains("not compiled in"),
            "{}",
            g.reason
        );
    }
}
