//! Software decode with Cisco's openh264 (built from source, with its
//! assembly when nasm is present). Runs everywhere; the fallback of last
//! resort and the default on boards without a usable hardware decoder.

use openh264::OpenH264API;
use openh264::decoder::{DecodeOptions, DecodedYUV, Decoder as H264Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;

use super::{DecodeError, Decoder, Picture, Planes};

pub struct OpenH264 {
    inner: H264Decoder,
    /// The SPS allows reordering (`pic_order_cnt_type` 0 or 1): pictures
    /// other than IDRs may be held back, so only IDRs are flushed.
    reordering: bool,
}

impl OpenH264 {
    pub fn new() -> Result<Self, DecodeError> {
        // Flushed after each unit unless pictures may be reordered, see
        // `options`.
        let config = DecoderConfig::new().flush_after_decode(Flush::Flush);
        let inner = H264Decoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| DecodeError(format!("openh264 init failed: {e}")))?;
        Ok(OpenH264 {
            inner,
            reordering: false,
        })
    }

    /// A flush after a unit hands its picture out at once; without it
    /// openh264 holds every picture back by one unit, a frame of latency.
    /// But flushing a stream that may reorder breaks it (`edgecam decode`
    /// on an I P B B clip with a flush per unit: 110 errors in 150 units),
    /// even when the pacer keeps its B frames from the decoder. So: flush
    /// every unit when the SPS rules out reordering (`pic_order_cnt_type`
    /// 2, what cameras without B frames usually send), and otherwise only
    /// IDRs, which come first in display order by definition; keyframe-only
    /// decoding then stays free of latency whatever the camera.
    fn flush_after(&mut self, unit: &[u8]) -> bool {
        let head = unit_head(unit);
        if let Some(poc_type) = head.poc_type {
            let reordering = poc_type != 2;
            if reordering != self.reordering {
                tracing::info!(
                    "openh264: pic_order_cnt_type {poc_type}: {}",
                    if reordering {
                        "pictures may be reordered, flush at IDRs only"
                    } else {
                        "no reordering, flush per unit"
                    }
                );
                self.reordering = reordering;
            }
        }
        !self.reordering || head.idr
    }
}

/// What the head of an access unit says: the SPS's `pic_order_cnt_type`
/// (cameras repeat SPS/PPS before every IDR) and whether it is an IDR.
#[derive(Debug, Default, PartialEq)]
struct UnitHead {
    poc_type: Option<u32>,
    idr: bool,
}

/// Scans an Annex-B access unit up to its first slice (parameter sets
/// precede the slices, so the scan stays within the first few dozen bytes).
fn unit_head(unit: &[u8]) -> UnitHead {
    let mut head = UnitHead::default();
    let mut i = 0;
    while i + 3 < unit.len() {
        if unit[i] == 0 && unit[i + 1] == 0 && unit[i + 2] == 1 {
            let nal = &unit[i + 3..];
            match nal[0] & 0x1f {
                7 => head.poc_type = parse_poc_type(&nal[1..]),
                1..=5 => {
                    head.idr = nal[0] & 0x1f == 5;
                    return head;
                }
                _ => {}
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    head
}

/// `pic_order_cnt_type` of the SPS at the head of an access unit.
#[cfg(test)]
fn sps_poc_type(unit: &[u8]) -> Option<u32> {
    unit_head(unit).poc_type
}

/// Up to 64 bytes of RBSP (emulation prevention bytes removed), on the
/// stack: enough for the header fields read here.
fn rbsp_head(nal: &[u8]) -> ([u8; 64], usize) {
    let mut rbsp = [0u8; 64];
    let (mut n, mut zeros) = (0, 0);
    for &b in nal {
        if n == rbsp.len() {
            break;
        }
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        rbsp[n] = b;
        n += 1;
    }
    (rbsp, n)
}

fn parse_poc_type(sps: &[u8]) -> Option<u32> {
    // The fields up to pic_order_cnt_type fit in the first bytes, unless
    // scaling matrices are present.
    let (rbsp, n) = rbsp_head(sps);
    let mut r = Bits {
        buf: &rbsp[..n],
        pos: 0,
    };
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        let chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            r.bits(1)?; // separate_colour_plane_flag
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bits(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.bits(1)? == 1 {
            // seq_scaling_matrix_present_flag
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for k in 0..lists {
                if r.bits(1)? == 1 {
                    skip_scaling_list(&mut r, if k < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    r.ue()
}

fn skip_scaling_list(r: &mut Bits<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

struct Bits<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0;
        for _ in 0..n {
            let byte = *self.buf.get(self.pos / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Some(v)
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bits(1)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k & 1 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

impl Decoder for OpenH264 {
    fn describe(&self) -> &str {
        "openh264 (software)"
    }

    fn decode<'a>(&'a mut self, unit: &'a [u8]) -> Result<Option<Picture<'a>>, DecodeError> {
        let flush = if self.flush_after(unit) {
            Flush::Flush
        } else {
            Flush::NoFlush
        };
        let options = DecodeOptions::new().flush_after_decode(flush);
        match self.inner.decode_with_options(unit, options) {
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

#[cfg(test)]
mod tests {
    use super::{sps_poc_type, unit_head};

    /// The SPS of the first unit of an Annex-B file.
    fn first_sps_poc(path: &str) -> Option<u32> {
        let data = std::fs::read(path).ok()?;
        sps_poc_type(&data[..data.len().min(4096)])
    }

    #[test]
    fn reads_pic_order_cnt_type() {
        // Baseline SPS 66/level 30, sps_id 0 ("1"), log2_max_frame_num-4 = 0
        // ("1"), poc type 2 ("011"), then padding.
        assert_eq!(
            sps_poc_type(&[0, 0, 0, 1, 0x67, 66, 0, 30, 0b1101_1000]),
            Some(2)
        );
        // poc type 0 ("1").
        assert_eq!(
            sps_poc_type(&[0, 0, 1, 0x67, 66, 0, 30, 0b1110_0000]),
            Some(0)
        );
        // High profile: chroma_format_idc 1 ("010"), bit depths 0 0 ("1" "1"),
        // qpprime 0, no scaling matrix 0, log2 frame num ("1"), poc 2 ("011").
        assert_eq!(
            sps_poc_type(&[0, 0, 1, 0x67, 100, 0, 31, 0b1010_1100, 0b1011_0000]),
            Some(2)
        );
        assert_eq!(sps_poc_type(&[0, 0, 1, 0x41, 0x9a]), None);
        // The bench clips, when made (bench/bench.py, make_clip.sh).
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/fixtures/");
        if let Some(p) = first_sps_poc(&format!("{dir}clip-1280x720-15fps-10s-gop30-3M.h264")) {
            assert_eq!(p, 2);
        }
        if let Some(p) = first_sps_poc(&format!(
            "{dir}clip-1280x720-15fps-10s-gop30-3M-nonref.h264"
        )) {
            assert_eq!(p, 0);
        }
    }

    #[test]
    fn flushes_every_unit_without_reordering_and_only_idrs_with_it() {
        let mut d = super::OpenH264::new().unwrap();
        let flushes = |d: &mut super::OpenH264, unit: &[u8]| d.flush_after(unit);
        let idr_poc0 = [
            0,
            0,
            1,
            0x67,
            66,
            0,
            30,
            0b1110_0000,
            0,
            0,
            1,
            0x65,
            0b1000_1000,
        ];
        let idr_poc2 = [
            0,
            0,
            1,
            0x67,
            66,
            0,
            30,
            0b1101_1000,
            0,
            0,
            1,
            0x65,
            0b1000_1000,
        ];
        let p_slice = [0, 0, 1, 0x41, 0b1100_0000];
        assert_eq!(
            unit_head(&idr_poc0),
            super::UnitHead {
                poc_type: Some(0),
                idr: true
            }
        );
        assert!(flushes(&mut d, &idr_poc2));
        assert!(flushes(&mut d, &p_slice));
        assert!(flushes(&mut d, &idr_poc0));
        assert!(!flushes(&mut d, &p_slice));
    }
}
