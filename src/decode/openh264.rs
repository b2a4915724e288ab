//! Software decode with Cisco's openh264 (built from source, with its
//! assembly when nasm is present). Runs everywhere; the fallback of last
//! resort and the default on boards without a usable hardware decoder.

use openh264::OpenH264API;
use openh264::decoder::{DecodedYUV, Decoder as H264Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;

use super::{DecodeError, Decoder, Picture, Planes};

pub struct OpenH264 {
    inner: H264Decoder,
}

impl OpenH264 {
    pub fn new() -> Result<Self, DecodeError> {
        // Flush after each unit: camera streams have no reordering to wait
        // for in the common case, and a picture per unit keeps latency at one
        // frame. (Streams with B frames still decode; pictures come out in
        // decode order one unit late at worst.)
        let config = DecoderConfig::new().flush_after_decode(Flush::Flush);
        let inner = H264Decoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| DecodeError(format!("openh264 init failed: {e}")))?;
        Ok(OpenH264 { inner })
    }
}

impl Decoder for OpenH264 {
    fn describe(&self) -> &str {
        "openh264 (software)"
    }

    fn decode<'a>(&'a mut self, unit: &'a [u8]) -> Result<Option<Picture<'a>>, DecodeError> {
        match self.inner.decode(unit) {
            Ok(Some(yuv)) => Ok(Some(picture(yuv))),
            Ok(None) => Ok(None),
            Err(e) => Err(DecodeError(format!("openh264: {e}"))),
        }
    }
}

fn picture(yuv: DecodedYUV<'_>) -> Picture<'_> {
    let (width, height) = yuv.dimensions();
    let (y_stride, uv_stride, _) = yuv.strides();
    Picture {
        width,
        height,
        planes: Planes::I420 {
            y: extend(yuv.y()),
            u: extend(yuv.u()),
            v: extend(yuv.v()),
            y_stride,
            uv_stride,
        },
    }
}

/// `DecodedYUV<'a>` holds `&'a [u8]` planes into the decoder's buffers but
/// its accessors hand them out with the lifetime of `&self`. Re-borrow them
/// for `'a`.
fn extend<'a>(plane: &[u8]) -> &'a [u8] {
    // SAFETY: the plane points into the decoder's picture buffers, which
    // stay valid and unchanged for the decoder borrow `'a` (the next decode
    // needs `&mut` on the decoder, which `Picture<'a>` prevents). The
    // DecodedYUV wrapper owns none of it and has no Drop.
    unsafe { std::slice::from_raw_parts(plane.as_ptr(), plane.len()) }
}
