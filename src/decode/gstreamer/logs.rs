//! GStreamer's log, routed into edgecam's, and the decode errors in it.
//!
//! libavcodec conceals most bitstream damage (a picture comes out, patched
//! from its neighbours) and says so only in its log ("error while decoding
//! MB", "concealing N errors"), which gst-libav forwards to GStreamer's
//! `libav` category. Those lines are counted per thread: with one decoder
//! thread, a unit enters the decoder, is decoded (errors logged) and its
//! picture handed to the appsink all on the pipeline's streaming thread,
//! where pad probes read [`take_decode_errors`] and mark the picture
//! corrupt. Concealed pictures are then counted and dropped like a software
//! decoder's errors.

use std::cell::Cell;

use gstreamer as gst;

thread_local! {
    static DECODE_ERRORS: Cell<u64> = const { Cell::new(0) };
}

/// Decode errors logged on this thread since the last call.
pub fn take_decode_errors() -> u64 {
    DECODE_ERRORS.with(|c| c.replace(0))
}

/// Replaces GStreamer's stderr logger with one into `tracing`, at levels
/// that cost nothing per frame: warnings and errors, and libav's errors
/// (per macroblock, so logged at debug, and counted).
pub fn install() {
    gst::log::remove_default_log_function();
    // A GST_DEBUG the operator set wins (it may be more verbose).
    if std::env::var_os("GST_DEBUG").is_none() {
        gst::log::set_default_threshold(gst::DebugLevel::Warning);
        gst::log::set_threshold_for_name("libav", gst::DebugLevel::Error);
    }
    gst::log::add_log_function(
        |category, level, _file, _function, _line, object, message| {
            let text = message.get();
            let text = text.as_deref().map_or("", |t| t.as_str()).trim_end();
            let from = object.map(|o| o.to_string()).unwrap_or_default();
            if category.name() == "libav" {
                if level <= gst::DebugLevel::Error {
                    DECODE_ERRORS.with(|c| c.set(c.get() + 1));
                }
                tracing::debug!(target: "gstreamer", "libav: {text}");
            } else if level <= gst::DebugLevel::Error {
                tracing::error!(target: "gstreamer", "{} {from}: {text}", category.name());
            } else if level <= gst::DebugLevel::Warning {
                tracing::warn!(target: "gstreamer", "{} {from}: {text}", category.name());
            } else {
                tracing::debug!(target: "gstreamer", "{} {from}: {text}", category.name());
            }
        },
    );
}
