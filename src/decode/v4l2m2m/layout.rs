//! Where the planes of a decoded picture sit in a CAPTURE buffer.
//!
//! Decoders write 4:2:0 in one of four layouts: NV12 or I420 in one memory
//! plane (chroma after `bytesperline x coded height` of luma: the coded
//! height, e.g. 1088 for 1080p H.264, not the visible one), or NV12M /
//! YUV420M with each plane in its own buffer. Knowing the offsets lets the
//! pipeline read the mapped buffer directly.

use crate::decode::{Picture, Planes};
use crate::v4l2::Format;

/// CAPTURE formats edgecam can use, best first (NV12 is what every
/// hardware decoder writes natively).
pub const PREFERRED: [[u8; 4]; 4] = [*b"NV12", *b"YU12", *b"NM12", *b"YM12"];

/// A plane's place: memory plane, byte offset, bytes per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneAt {
    pub mem: usize,
    pub offset: usize,
    pub stride: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroma {
    /// Interleaved UV (NV12).
    Interleaved(PlaneAt),
    /// Separate U and V (I420).
    Planar(PlaneAt, PlaneAt),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub fourcc: [u8; 4],
    /// The visible picture (the compose rectangle).
    pub width: usize,
    pub height: usize,
    pub luma: PlaneAt,
    pub chroma: Chroma,
}

impl Layout {
    /// The layout of `format` (from `G_FMT(CAPTURE)`), showing `visible`
    /// (width, height) of it. `None` for formats edgecam does not read.
    pub fn of(format: &Format, visible: (usize, usize)) -> Option<Layout> {
        let fourcc: [u8; 4] = format.pixelformat.into();
        let coded_h = format.height as usize;
        let stride = |p: usize| format.plane_fmt.get(p).map(|l| l.bytesperline as usize);
        let s0 = stride(0).filter(|s| *s > 0)?;
        let at = |mem, offset, stride| PlaneAt {
            mem,
            offset,
            stride,
        };
        let chroma = match &fourcc {
            b"NV12" => Chroma::Interleaved(at(0, s0 * coded_h, s0)),
            b"YU12" => {
                let u = s0 * coded_h;
                Chroma::Planar(
                    at(0, u, s0 / 2),
                    at(0, u + (s0 / 2) * coded_h.div_ceil(2), s0 / 2),
                )
            }
            b"NM12" => Chroma::Interleaved(at(1, 0, stride(1)?)),
            b"YM12" => Chroma::Planar(at(1, 0, stride(1)?), at(2, 0, stride(2)?)),
            _ => return None,
        };
        let (width, height) = visible;
        if width == 0 || height == 0 || width > s0 || height > coded_h {
            return None;
        }
        Some(Layout {
            fourcc,
            width,
            height,
            luma: at(0, 0, s0),
            chroma,
        })
    }

    /// Memory planes a buffer of this layout has.
    pub fn mem_planes(&self) -> usize {
        match self.chroma {
            Chroma::Interleaved(p) => p.mem + 1,
            Chroma::Planar(_, v) => v.mem + 1,
        }
    }

    /// The picture in a buffer whose memory planes are `mem` (each at least
    /// as long as the layout needs; checked, a short plane gives `None`).
    pub fn picture<'a>(&self, mem: &[&'a [u8]]) -> Option<Picture<'a>> {
        let (cw, ch) = (self.width.div_ceil(2), self.height.div_ceil(2));
        let plane = |p: PlaneAt, row_bytes: usize, rows: usize| -> Option<&'a [u8]> {
            let need = p.stride * (rows - 1) + row_bytes;
            mem.get(p.mem)?.get(p.offset..p.offset + need)
        };
        let y = plane(self.luma, self.width, self.height)?;
        let planes = match self.chroma {
            Chroma::Interleaved(uv) => Planes::Nv12 {
                y,
                uv: plane(uv, cw * 2, ch)?,
                y_stride: self.luma.stride,
                uv_stride: uv.stride,
            },
            Chroma::Planar(u, v) => Planes::I420 {
                y,
                u: plane(u, cw, ch)?,
                v: plane(v, cw, ch)?,
                y_stride: self.luma.stride,
                uv_stride: u.stride,
            },
        };
        Some(Picture {
            width: self.width,
            height: self.height,
            planes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use v4l2r::PlaneLayout;

    fn fmt(fourcc: &[u8; 4], w: u32, h: u32, strides: &[u32]) -> Format {
        Format {
            width: w,
            height: h,
            pixelformat: fourcc.into(),
            plane_fmt: strides
                .iter()
                .map(|&s| PlaneLayout {
                    sizeimage: s * h * 3 / 2,
                    bytesperline: s,
                })
                .collect(),
        }
    }

    #[test]
    fn nv12_chroma_follows_the_coded_height() {
        // 1080p H.264 is coded as 1088 rows.
        let l = Layout::of(&fmt(b"NV12", 1920, 1088, &[1920]), (1920, 1080)).unwrap();
        assert_eq!(
            l.chroma,
            Chroma::Interleaved(PlaneAt {
                mem: 0,
                offset: 1920 * 1088,
                stride: 1920
            })
        );
        let buf = vec![0u8; 1920 * 1088 * 3 / 2];
        let pic = l.picture(&[&buf]).unwrap();
        assert_eq!((pic.width, pic.height), (1920, 1080));
        // A buffer too short for the layout is refused.
        assert!(l.picture(&[&buf[..1920 * 1088]]).is_none());
    }

    #[test]
    fn i420_and_multiplanar_layouts() {
        let l = Layout::of(&fmt(b"YU12", 640, 480, &[640]), (640, 480)).unwrap();
        let Chroma::Planar(u, v) = l.chroma else {
            panic!()
        };
        assert_eq!(
            (u.offset, u.stride, v.offset),
            (640 * 480, 320, 640 * 480 + 320 * 240)
        );
        let l = Layout::of(&fmt(b"NM12", 640, 480, &[640, 640]), (640, 480)).unwrap();
        assert_eq!(l.mem_planes(), 2);
        let y = vec![1u8; 640 * 480];
        let uv = vec![2u8; 640 * 240];
        let Planes::Nv12 { uv: got, .. } = l.picture(&[&y, &uv]).unwrap().planes else {
            panic!()
        };
        assert_eq!(got[0], 2);
        assert!(Layout::of(&fmt(b"RGB3", 640, 480, &[1920]), (640, 480)).is_none());
    }
}
