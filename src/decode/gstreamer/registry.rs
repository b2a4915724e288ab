//! Which GStreamer decoder elements are installed, and the choice.

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::decode::gstreamer_elements::{Found, H264_DECODERS, package_of};

/// Looks up every known H.264 decoder, and the parser the pipeline needs.
pub fn probe() -> Result<Vec<Found>, String> {
    super::init()?;
    let parser = gst::ElementFactory::find("h264parse").is_some();
    Ok(H264_DECODERS
        .iter()
        .map(|d| {
            let factory = gst::ElementFactory::find(d.name);
            let reason = match (&factory, parser) {
                (Some(f), true) => format!(
                    "{} ({}, plugin {})",
                    d.what,
                    f.metadata(gst::ELEMENT_METADATA_LONGNAME)
                        .unwrap_or(d.name),
                    f.plugin_name().as_deref().unwrap_or("?"),
                ),
                (Some(_), false) => format!(
                    "{}; but h264parse is missing (install {})",
                    d.what,
                    package_of("h264parse")
                ),
                (None, _) if d.hardware => format!(
                    "{}: not in the GStreamer registry (package {}; its plugin lists it only where the hardware is)",
                    d.what, d.package
                ),
                (None, _) => format!("{}: not installed (package {})", d.what, d.package),
            };
            Found {
                element: d.name,
                available: factory.is_some() && parser,
                hardware: d.hardware,
                reason,
            }
        })
        .collect())
}
