//! The GStreamer elements the `gstreamer` build variant uses, in order of
//! preference, with the Debian/JetPack package that provides each. Part of
//! every build so that `edgecam probe` and error messages can name them.

/// One H.264 decoder element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderElement {
    pub name: &'static str,
    /// What it drives, for the operator.
    pub what: &'static str,
    pub hardware: bool,
    pub package: &'static str,
}

/// H.264 decoders, most preferred first: NVIDIA's NVDEC (Jetson: the only
/// way to its hardware), the kernel's stateful and stateless V4L2 decoders,
/// VA-API (Intel/AMD PCs), then libavcodec in software (about twice as fast
/// as openh264).
pub const H264_DECODERS: [DecoderElement; 5] = [
    DecoderElement {
        name: "nvv4l2decoder",
        what: "NVIDIA NVDEC (Jetson)",
        hardware: true,
        package: "nvidia-l4t-gstreamer (JetPack)",
    },
    DecoderElement {
        name: "v4l2h264dec",
        what: "stateful V4L2 M2M decoder (Pi 4 bcm2835-codec, venus, amphion)",
        hardware: true,
        package: "gstreamer1.0-plugins-good",
    },
    DecoderElement {
        name: "v4l2slh264dec",
        what: "stateless V4L2 decoder (Rockchip rkvdec/hantro, Allwinner cedrus)",
        hardware: true,
        package: "gstreamer1.0-plugins-bad",
    },
    DecoderElement {
        name: "vah264dec",
        what: "VA-API (Intel, AMD GPUs)",
        hardware: true,
        package: "gstreamer1.0-plugins-bad and a VA driver (intel-media-va-driver, mesa-va-drivers)",
    },
    DecoderElement {
        name: "avdec_h264",
        what: "libavcodec H.264 (software)",
        hardware: false,
        package: "gstreamer1.0-libav",
    },
];

/// One known element as found (or not) in this box's GStreamer registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub element: &'static str,
    pub available: bool,
    pub hardware: bool,
    /// Why it is or is not usable, in words for the operator.
    pub reason: String,
}

/// The package to install for an element, for error messages.
pub fn package_of(element: &str) -> &'static str {
    match element {
        "appsrc" | "appsink" | "videoconvert" => "gstreamer1.0-plugins-base",
        "h264parse" => "gstreamer1.0-plugins-bad",
        "nvvidconv" => "nvidia-l4t-gstreamer (JetPack)",
        _ => H264_DECODERS
            .iter()
            .find(|d| d.name == element)
            .map_or("the GStreamer plugin that provides it", |d| d.package),
    }
}

/// An element's entry in the table, if edgecam knows it.
pub fn known(element: &str) -> Option<&'static DecoderElement> {
    H264_DECODERS.iter().find(|d| d.name == element)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_element_names_its_package() {
        assert_eq!(package_of("avdec_h264"), "gstreamer1.0-libav");
        assert_eq!(package_of("h264parse"), "gstreamer1.0-plugins-bad");
        assert!(package_of("nvv4l2decoder").contains("JetPack"));
        assert!(package_of("someotherdec").contains("plugin"));
        assert_eq!(H264_DECODERS[0].name, "nvv4l2decoder");
        assert!(!known("avdec_h264").unwrap().hardware);
    }
}
