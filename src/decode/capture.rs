//! Pictures from what a V4L2 capture device (a USB camera) delivers.
//!
//! A camera sends raw frames (NV12, I420, YUYV, ...), MJPEG or H.264; the
//! format is only known once the source has opened the device, and may
//! change when it is replugged. So each unit carries a small header naming
//! its format ([`CaptureFormat`]), written by the source in front of the
//! payload, and [`CaptureDecoder`] does the least work the format allows:
//!
//! | capture | work per published frame |
//! | --- | --- |
//! | NV12, I420 (YU12), YV12 | none: the picture is a view of the captured bytes |
//! | YUYV, UYVY | one pass to I420 into a buffer kept across frames |
//! | MJPEG, output JPEG at the camera's size | none: published as is ([`Decoder::as_jpeg`]) |
//! | MJPEG otherwise | libjpeg-turbo decode into a buffer kept across frames |
//! | H.264 | the camera's H.264 decoder (hardware where the probe found one) |
//!
//! Buffers are sized when the format changes, never per frame.

use std::fmt;

use turbojpeg::{Decompressor, Subsamp, YuvImage};

use super::probe::DecoderFactory;
use super::{DecodeError, Decoder, JpegFrame, Picture, Planes, mjpeg};
use crate::config::DecoderChoice;
use crate::convert::{chroma_to_420, frame_bytes, packed422_to_i420};

/// Bytes of [`CaptureFormat::header`].
pub const HEADER_LEN: usize = 20;
const MAGIC: [u8; 4] = *b"ecV4";

/// The layout of a captured frame, as negotiated with the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureFormat {
    pub fourcc: [u8; 4],
    pub width: u32,
    pub height: u32,
    /// Bytes per line of the first plane (raw formats); 0 for compressed.
    pub stride: u32,
}

impl CaptureFormat {
    /// The header the source puts in front of each unit.
    pub fn header(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..4].copy_from_slice(&MAGIC);
        h[4..8].copy_from_slice(&self.fourcc);
        h[8..12].copy_from_slice(&self.width.to_le_bytes());
        h[12..16].copy_from_slice(&self.height.to_le_bytes());
        h[16..20].copy_from_slice(&self.stride.to_le_bytes());
        h
    }

    /// Splits a unit into its format and payload.
    pub fn split(unit: &[u8]) -> Option<(CaptureFormat, &[u8])> {
        let (h, payload) = unit.split_at_checked(HEADER_LEN)?;
        if h[..4] != MAGIC {
            return None;
        }
        let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let format = CaptureFormat {
            fourcc: [h[4], h[5], h[6], h[7]],
            width: word(8),
            height: word(12),
            stride: word(16),
        };
        Some((format, payload))
    }

    fn size(&self) -> (usize, usize) {
        (self.width as usize, self.height as usize)
    }

    fn fourcc_str(&self) -> &str {
        std::str::from_utf8(&self.fourcc).unwrap_or("????")
    }
}

impl fmt::Display for CaptureFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}x{}", self.fourcc_str(), self.width, self.height)
    }
}

/// How a capture format becomes a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// NV12 / I420 / YV12: a view of the captured bytes.
    View,
    /// YUYV (`true`) or UYVY (`false`) to I420.
    Packed422 {
        luma_first: bool,
    },
    Mjpeg,
    H264,
}

impl Path {
    fn of(fourcc: &[u8; 4]) -> Option<Path> {
        Some(match fourcc {
            b"NV12" | b"YU12" | b"YV12" => Path::View,
            b"YUYV" => Path::Packed422 { luma_first: true },
            b"UYVY" => Path::Packed422 { luma_first: false },
            b"MJPG" | b"JPEG" => Path::Mjpeg,
            b"H264" => Path::H264,
            _ => return None,
        })
    }
}

/// Whether edgecam can turn this capture format into pictures.
pub fn supported(fourcc: &[u8; 4]) -> bool {
    Path::of(fourcc).is_some()
}

pub struct CaptureDecoder {
    camera: String,
    factory: DecoderFactory,
    choice: DecoderChoice,
    format: Option<CaptureFormat>,
    path: Option<Path>,
    description: String,
    revision: u64,
    /// I420 output of the YUYV and MJPEG paths.
    i420: Vec<u8>,
    /// libjpeg-turbo's planar output in the JPEG's own subsampling.
    jpeg_yuv: Vec<u8>,
    decompressor: Option<Decompressor>,
    /// Opened on the first H.264 unit (hardware or software, per the probe).
    h264: Option<Box<dyn Decoder>>,
    h264_revision: u64,
}

impl CaptureDecoder {
    pub fn new(camera: &str, factory: DecoderFactory, choice: DecoderChoice) -> Self {
        CaptureDecoder {
            camera: camera.to_string(),
            factory,
            choice,
            format: None,
            path: None,
            description: "v4l2 capture (format not negotiated yet)".into(),
            revision: 1,
            i420: Vec::new(),
            jpeg_yuv: Vec::new(),
            decompressor: None,
            h264: None,
            h264_revision: 0,
        }
    }

    /// Adopts a new capture format: sizes buffers, opens decoders. Runs once
    /// per stream (re)start, not per frame.
    fn configure(&mut self, format: CaptureFormat) -> Result<(), DecodeError> {
        let path = Path::of(&format.fourcc)
            .ok_or_else(|| DecodeError(format!("capture format {format} is not supported")))?;
        let (w, h) = format.size();
        match path {
            Path::View => {}
            Path::Packed422 { .. } => self.i420.resize(frame_bytes(w, h), 0),
            Path::Mjpeg => {
                if self.decompressor.is_none() {
                    self.decompressor =
                        Some(Decompressor::new().map_err(|e| {
                            DecodeError(format!("cannot start the JPEG decoder: {e}"))
                        })?);
                }
            }
            Path::H264 => {
                if self.h264.is_none() {
                    self.h264 = Some(
                        self.factory
                            .open_h264(self.choice, &self.camera)
                            .map_err(|e| DecodeError(format!("no H.264 decoder: {e}")))?,
                    );
                }
                if let Some(d) = &mut self.h264 {
                    d.reset();
                }
            }
        }
        self.format = Some(format);
        self.path = Some(path);
        self.describe_path();
        Ok(())
    }

    fn describe_path(&mut self) {
        let Some(format) = self.format else { return };
        self.description = match self.path {
            Some(Path::View) => format!("v4l2 capture {format} (raw, no conversion)"),
            Some(Path::Packed422 { .. }) => format!("v4l2 capture {format} -> I420"),
            Some(Path::Mjpeg) => {
                format!(
                    "v4l2 capture {format} (as is when the output is JPEG at this size, else libjpeg-turbo)"
                )
            }
            Some(Path::H264) => format!(
                "v4l2 capture {format}, decoded by {}",
                self.h264.as_ref().map_or("?", |d| d.describe())
            ),
            None => return,
        };
        self.revision += 1;
    }

    fn decode_mjpeg(&mut self, format: CaptureFormat, payload: &[u8]) -> Result<(), DecodeError> {
        let info = mjpeg::inspect(payload).map_err(|e| DecodeError(format!("{format}: {e}")))?;
        let decompressor = self
            .decompressor
            .as_mut()
            .ok_or_else(|| DecodeError("JPEG decoder not started".into()))?;
        let header = decompressor
            .read_header(payload)
            .map_err(|e| DecodeError(format!("{format}: {e}")))?;
        let (w, h) = (header.width, header.height);
        if (w, h) != format.size() || (info.width, info.height) != (w, h) {
            return Err(DecodeError(format!(
                "{format}: the camera sent a {w}x{h} JPEG"
            )));
        }
        let len = turbojpeg::yuv_pixels_len(w, 1, h, header.subsamp)
            .map_err(|e| DecodeError(format!("{format}: {e}")))?;
        if self.jpeg_yuv.len() < len {
            // Only on the first frame or a subsampling change.
            self.jpeg_yuv.resize(len, 0);
        }
        decompressor
            .decompress_to_yuv(
                payload,
                YuvImage {
                    pixels: &mut self.jpeg_yuv[..len],
                    width: w,
                    align: 1,
                    height: h,
                    subsamp: header.subsamp,
                },
            )
            .map_err(|e| DecodeError(format!("{format}: {e}")))?;
        // Lay the planes out as I420: luma as is, chroma resampled to 4:2:0.
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        if self.i420.len() < frame_bytes(w, h) {
            self.i420.resize(frame_bytes(w, h), 0);
        }
        let (dy, dc) = self.i420.split_at_mut(w * h);
        let (du, dv) = dc.split_at_mut(cw * ch);
        let (sy, sc) = self.jpeg_yuv[..len].split_at(w * h);
        dy.copy_from_slice(sy);
        let (scw, sch) = match header.subsamp {
            Subsamp::Sub2x2 => (cw, ch),
            Subsamp::Sub2x1 => (cw, h),
            Subsamp::None => (w, h),
            Subsamp::Sub1x2 => (w, ch),
            Subsamp::Gray => {
                du.fill(128);
                dv.fill(128);
                return Ok(());
            }
            other => {
                return Err(DecodeError(format!(
                    "{format}: JPEG chroma subsampling {other:?} is not supported"
                )));
            }
        };
        let (su, sv) = sc.split_at(scw * sch);
        chroma_to_420(su, scw, (scw, sch), du, (cw, ch));
        chroma_to_420(&sv[..scw * sch], scw, (scw, sch), dv, (cw, ch));
        Ok(())
    }
}

impl Decoder for CaptureDecoder {
    fn describe(&self) -> &str {
        &self.description
    }

    fn revision(&self) -> u64 {
        self.revision + self.h264.as_ref().map_or(0, |d| d.revision())
    }

    fn decode<'a>(&'a mut self, unit: &'a [u8]) -> Result<Option<Picture<'a>>, DecodeError> {
        let (format, payload) = CaptureFormat::split(unit)
            .ok_or_else(|| DecodeError("a V4L2 capture unit without its format header".into()))?;
        if self.format != Some(format) {
            self.configure(format)?;
        }
        if let Some(h264) = &self.h264
            && h264.revision() != self.h264_revision
        {
            self.h264_revision = h264.revision();
            self.describe_path();
        }
        let (w, h) = format.size();
        let stride = format.stride as usize;
        let path = self
            .path
            .ok_or_else(|| DecodeError("no capture path".into()))?;
        let short = |need: usize| {
            DecodeError(format!(
                "{format}: short frame, {} bytes of {need}",
                payload.len()
            ))
        };
        match path {
            Path::View => {
                let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
                let planes = if &format.fourcc == b"NV12" {
                    let need = stride * h + stride * (ch - 1) + cw * 2;
                    if payload.len() < need {
                        return Err(short(need));
                    }
                    let (y, uv) = payload.split_at(stride * h);
                    Planes::Nv12 {
                        y,
                        uv,
                        y_stride: stride,
                        uv_stride: stride,
                    }
                } else {
                    let cstride = stride / 2;
                    let need = stride * h + 2 * cstride * ch;
                    if payload.len() < need || cstride < cw {
                        return Err(short(need));
                    }
                    let (y, c) = payload.split_at(stride * h);
                    let (a, b) = c.split_at(cstride * ch);
                    let (u, v) = if &format.fourcc == b"YV12" {
                        (b, a)
                    } else {
                        (a, b)
                    };
                    Planes::I420 {
                        y,
                        u,
                        v,
                        y_stride: stride,
                        uv_stride: cstride,
                    }
                };
                Ok(Some(Picture {
                    width: w,
                    height: h,
                    planes,
                }))
            }
            Path::Packed422 { luma_first } => {
                let need = stride * (h - 1) + w * 2;
                if payload.len() < need || stride < w * 2 {
                    return Err(short(need));
                }
                packed422_to_i420(payload, stride, w, h, luma_first, &mut self.i420);
                Ok(Some(i420_picture(&self.i420, w, h)))
            }
            Path::Mjpeg => {
                self.decode_mjpeg(format, payload)?;
                Ok(Some(i420_picture(&self.i420, w, h)))
            }
            Path::H264 => match &mut self.h264 {
                Some(d) => d.decode(payload),
                None => Err(DecodeError("no H.264 decoder".into())),
            },
        }
    }

    fn as_jpeg<'a>(&'a self, unit: &'a [u8]) -> Option<JpegFrame<'a>> {
        let (format, payload) = CaptureFormat::split(unit)?;
        if !matches!(&format.fourcc, b"MJPG" | b"JPEG") {
            return None;
        }
        // An incomplete frame goes the decode path, which reports why.
        let info = mjpeg::inspect(payload).ok()?;
        Some(JpegFrame {
            width: info.width,
            height: info.height,
            data: &payload[..info.len],
            needs_tables: !info.has_tables,
        })
    }

    fn take_lost(&mut self) -> u64 {
        self.h264.as_mut().map_or(0, |d| d.take_lost())
    }

    fn reset(&mut self) {
        if let Some(d) = &mut self.h264 {
            d.reset();
        }
    }
}

fn i420_picture(buf: &[u8], w: usize, h: usize) -> Picture<'_> {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (y, c) = buf[..frame_bytes(w, h)].split_at(w * h);
    let (u, v) = c.split_at(cw * ch);
    Picture {
        width: w,
        height: h,
        planes: Planes::I420 {
            y,
            u,
            v,
            y_stride: w,
            uv_stride: cw,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoder() -> CaptureDecoder {
        CaptureDecoder::new("cam", DecoderFactory::software_only(), DecoderChoice::Auto)
    }

    fn unit(format: CaptureFormat, payload: &[u8]) -> Vec<u8> {
        let mut u = format.header().to_vec();
        u.extend_from_slice(payload);
        u
    }

    #[test]
    fn header_round_trips() {
        let f = CaptureFormat {
            fourcc: *b"YUYV",
            width: 640,
            height: 480,
            stride: 1280,
        };
        let u = unit(f, &[1, 2, 3]);
        assert_eq!(CaptureFormat::split(&u), Some((f, &[1u8, 2, 3][..])));
        assert_eq!(CaptureFormat::split(&u[1..]), None);
        assert_eq!(f.to_string(), "YUYV 640x480");
    }

    #[test]
    fn nv12_with_padded_stride_is_viewed_in_place() {
        let f = CaptureFormat {
            fourcc: *b"NV12",
            width: 4,
            height: 2,
            stride: 8,
        };
        let payload: Vec<u8> = (0..24).collect();
        let mut d = decoder();
        let u = unit(f, &payload);
        let pic = d.decode(&u).unwrap().unwrap();
        let Planes::Nv12 {
            y, uv, y_stride, ..
        } = pic.planes
        else {
            panic!()
        };
        assert_eq!((pic.width, pic.height, y_stride), (4, 2, 8));
        assert_eq!(y.as_ptr(), u[HEADER_LEN..].as_ptr(), "no copy");
        assert_eq!(&uv[..4], &[16, 17, 18, 19]);
        assert!(d.describe().contains("NV12 4x2"));
    }

    #[test]
    fn yuyv_is_converted_once_and_short_frames_are_errors() {
        let f = CaptureFormat {
            fourcc: *b"YUYV",
            width: 2,
            height: 2,
            stride: 4,
        };
        let mut d = decoder();
        let u = unit(f, &[10, 100, 20, 200, 30, 110, 40, 210]);
        let pic = d.decode(&u).unwrap().unwrap();
        let Planes::I420 { y, u, v, .. } = pic.planes else {
            panic!()
        };
        assert_eq!((&y[..4], u[0], v[0]), (&[10, 20, 30, 40][..], 105, 205));
        let err = d.decode(&unit(f, &[1, 2, 3])).unwrap_err();
        assert!(err.0.contains("short frame"), "{err}");
        assert!(d.decode(b"garbage").is_err());
    }

    #[test]
    fn mjpeg_is_offered_as_is_and_decodes_otherwise() {
        let (w, h) = (64, 48);
        let mut yuv = vec![128u8; w * h * 3 / 2];
        yuv[..w * h].fill(200);
        let mut enc = crate::publish::jpeg::JpegEncoder::new(90).unwrap();
        let mut jpeg = vec![0u8; crate::publish::jpeg::JpegEncoder::max_len(w, h)];
        let n = enc
            .encode_i420(&crate::publish::jpeg::packed_i420(&yuv, w, h), &mut jpeg)
            .unwrap();
        let f = CaptureFormat {
            fourcc: *b"MJPG",
            width: w as u32,
            height: h as u32,
            stride: 0,
        };
        let u = unit(f, &jpeg[..n]);
        let mut d = decoder();
        let frame = d.as_jpeg(&u).unwrap();
        assert_eq!((frame.width, frame.height, frame.data.len()), (w, h, n));
        assert!(!frame.needs_tables);
        let pic = d.decode(&u).unwrap().unwrap();
        let Planes::I420 { y, .. } = pic.planes else {
            panic!()
        };
        assert!(y[..w * h].iter().all(|&p| p.abs_diff(200) <= 2));
        // Raw units are not JPEG.
        let raw = CaptureFormat {
            fourcc: *b"NV12",
            ..f
        };
        assert!(d.as_jpeg(&unit(raw, &jpeg[..n])).is_none());
    }
}
