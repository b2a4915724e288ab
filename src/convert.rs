//! Scaling and layout conversion of decoded pictures, done once, into the
//! buffer that is published (or the encoder's input).
//!
//! Scratch buffers are owned by the [`Converter`] and only change size when
//! the stream or the requested output size changes, so converting a frame in
//! steady state allocates nothing.

use crate::decode::{Picture, Planes};
use crate::scale::Resampler;

/// A 4:2:0 layout for output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    I420,
    Nv12,
}

/// Bytes of a tightly packed 4:2:0 frame.
pub fn frame_bytes(width: usize, height: usize) -> usize {
    width * height + 2 * chroma(width) * chroma(height)
}

fn chroma(n: usize) -> usize {
    n.div_ceil(2)
}

/// Output size for a source of `src` pixels when the user asked for
/// `width`/`height` (either, both or none). Keeps the aspect ratio when only
/// one is given; always even (4:2:0 needs it).
pub fn output_size(src: (usize, usize), width: Option<u32>, height: Option<u32>) -> (usize, usize) {
    let even = |v: f64| ((v / 2.0).round() as usize * 2).max(2);
    let (sw, sh) = (src.0.max(1) as f64, src.1.max(1) as f64);
    match (width, height) {
        (Some(w), Some(h)) => (w as usize, h as usize),
        (Some(w), None) => (w as usize, even(sh * w as f64 / sw)),
        (None, Some(h)) => (even(sw * h as f64 / sh), h as usize),
        (None, None) => (src.0 & !1, src.1 & !1),
    }
}

pub struct Converter {
    resampler: Resampler,
    /// Chroma scratch for layout changes (I420 <-> NV12 with scaling).
    chroma_tmp: Vec<u8>,
}

impl Default for Converter {
    fn default() -> Self {
        Self::new()
    }
}

impl Converter {
    pub fn new() -> Self {
        Converter {
            resampler: Resampler::default(),
            chroma_tmp: Vec::new(),
        }
    }

    /// Writes `pic` scaled to `out` (width, height) in `layout`, tightly
    /// packed, into `dst` (at least [`frame_bytes`] long). Returns the bytes
    /// written.
    pub fn convert(
        &mut self,
        pic: &Picture<'_>,
        out: (usize, usize),
        layout: Layout,
        dst: &mut [u8],
    ) -> usize {
        let (ow, oh) = out;
        let (cw, ch) = (chroma(ow), chroma(oh));
        let total = frame_bytes(ow, oh);
        let dst = &mut dst[..total];
        let (dst_y, dst_c) = dst.split_at_mut(ow * oh);
        let (sw, sh) = (pic.width, pic.height);
        let (scw, sch) = (chroma(sw), chroma(sh));
        match (pic.planes, layout) {
            (
                Planes::I420 {
                    y,
                    u,
                    v,
                    y_stride,
                    uv_stride,
                },
                Layout::I420,
            ) => {
                self.plane(y, sw, sh, y_stride, dst_y, ow, oh, 1);
                let (du, dv) = dst_c.split_at_mut(cw * ch);
                self.plane(u, scw, sch, uv_stride, du, cw, ch, 1);
                self.plane(v, scw, sch, uv_stride, dv, cw, ch, 1);
            }
            (
                Planes::I420 {
                    y,
                    u,
                    v,
                    y_stride,
                    uv_stride,
                },
                Layout::Nv12,
            ) => {
                self.plane(y, sw, sh, y_stride, dst_y, ow, oh, 1);
                let mut tmp = std::mem::take(&mut self.chroma_tmp);
                tmp.resize(2 * cw * ch, 0);
                let (tu, tv) = tmp.split_at_mut(cw * ch);
                self.plane(u, scw, sch, uv_stride, tu, cw, ch, 1);
                self.plane(v, scw, sch, uv_stride, tv, cw, ch, 1);
                interleave(tu, tv, dst_c);
                self.chroma_tmp = tmp;
            }
            (
                Planes::Nv12 {
                    y,
                    uv,
                    y_stride,
                    uv_stride,
                },
                Layout::Nv12,
            ) => {
                self.plane(y, sw, sh, y_stride, dst_y, ow, oh, 1);
                self.plane(uv, scw, sch, uv_stride, dst_c, cw, ch, 2);
            }
            (
                Planes::Nv12 {
                    y,
                    uv,
                    y_stride,
                    uv_stride,
                },
                Layout::I420,
            ) => {
                self.plane(y, sw, sh, y_stride, dst_y, ow, oh, 1);
                let mut tmp = std::mem::take(&mut self.chroma_tmp);
                tmp.resize(2 * cw * ch, 0);
                self.plane(uv, scw, sch, uv_stride, &mut tmp, cw, ch, 2);
                let (du, dv) = dst_c.split_at_mut(cw * ch);
                deinterleave(&tmp, du, dv);
                self.chroma_tmp = tmp;
            }
        }
        total
    }

    /// One plane of `channels` interleaved 8-bit samples (1 for Y/U/V, 2
    /// for NV12's UV), strided source to packed destination.
    #[allow(clippy::too_many_arguments)]
    fn plane(
        &mut self,
        src: &[u8],
        sw: usize,
        sh: usize,
        stride: usize,
        dst: &mut [u8],
        dw: usize,
        dh: usize,
        channels: usize,
    ) {
        if (sw, sh) == (dw, dh) {
            copy_rows(src, stride, dst, dw, dh, channels);
        } else {
            self.resampler
                .resample(src, stride, sw, sh, dst, dw, dh, channels);
        }
    }
}

/// Packed 4:2:2 (YUYV, or UYVY with `luma_first == false`), as USB cameras
/// deliver it, to packed I420 in `dst` ([`frame_bytes`] long): luma taken as
/// is, chroma averaged over each pair of rows. One pass over the frame.
pub fn packed422_to_i420(
    src: &[u8],
    stride: usize,
    width: usize,
    height: usize,
    luma_first: bool,
    dst: &mut [u8],
) {
    let (cw, ch) = (chroma(width), chroma(height));
    let (dst_y, dst_c) = dst[..frame_bytes(width, height)].split_at_mut(width * height);
    let (dst_u, dst_v) = dst_c.split_at_mut(cw * ch);
    let (yo, uo, vo) = if luma_first { (0, 1, 3) } else { (1, 0, 2) };
    for (r, out) in dst_y.chunks_exact_mut(width).enumerate() {
        let row = &src[r * stride..r * stride + width * 2];
        for (px, pair) in out.iter_mut().zip(row.chunks_exact(2)) {
            *px = pair[yo];
        }
    }
    for cr in 0..ch {
        let r0 = 2 * cr;
        let r1 = (r0 + 1).min(height - 1);
        let a = &src[r0 * stride..r0 * stride + width * 2];
        let b = &src[r1 * stride..r1 * stride + width * 2];
        let (u_row, v_row) = (
            &mut dst_u[cr * cw..(cr + 1) * cw],
            &mut dst_v[cr * cw..(cr + 1) * cw],
        );
        for (i, (qa, qb)) in a.chunks_exact(4).zip(b.chunks_exact(4)).enumerate() {
            u_row[i] = (u16::from(qa[uo]) + u16::from(qb[uo])).div_ceil(2) as u8;
            v_row[i] = (u16::from(qa[vo]) + u16::from(qb[vo])).div_ceil(2) as u8;
        }
        if width % 2 == 1 {
            // The last pixel of an odd row has no pair: repeat the last chroma.
            let last = cw - 1;
            u_row[last] = u_row[last.saturating_sub(1)];
            v_row[last] = v_row[last.saturating_sub(1)];
        }
    }
}

/// Resamples one chroma plane of `src_w` x `src_h` (rows `stride` apart) to
/// `dst_w` x `dst_h` by taking the nearest sample: JPEG's 4:2:2, 4:4:4 and
/// 4:4:0 chroma to 4:2:0.
pub fn chroma_to_420(
    src: &[u8],
    stride: usize,
    (src_w, src_h): (usize, usize),
    dst: &mut [u8],
    (dst_w, dst_h): (usize, usize),
) {
    for (y, out) in dst.chunks_exact_mut(dst_w).take(dst_h).enumerate() {
        let sy = (y * src_h / dst_h.max(1)).min(src_h.saturating_sub(1));
        let row = &src[sy * stride..];
        for (x, px) in out.iter_mut().enumerate() {
            *px = row[(x * src_w / dst_w.max(1)).min(src_w.saturating_sub(1))];
        }
    }
}

fn copy_rows(src: &[u8], stride: usize, dst: &mut [u8], width: usize, height: usize, bpp: usize) {
    let row = width * bpp;
    for (r, out) in dst.chunks_exact_mut(row).take(height).enumerate() {
        out.copy_from_slice(&src[r * stride..r * stride + row]);
    }
}

fn interleave(u: &[u8], v: &[u8], uv: &mut [u8]) {
    for ((pair, &a), &b) in uv.chunks_exact_mut(2).zip(u).zip(v) {
        pair[0] = a;
        pair[1] = b;
    }
}

fn deinterleave(uv: &[u8], u: &mut [u8], v: &mut [u8]) {
    for ((pair, a), b) in uv.chunks_exact(2).zip(u.iter_mut()).zip(v.iter_mut()) {
        *a = pair[0];
        *b = pair[1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4x4 I420 picture with distinct values, stride 6 (padded).
    fn sample() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let y: Vec<u8> = (0..24)
            .map(|i| if i % 6 < 4 { (i * 10) as u8 } else { 255 })
            .collect();
        let u = vec![1, 2, 0, 3, 4, 0];
        let v = vec![5, 6, 0, 7, 8, 0];
        (y, u, v)
    }

    fn pic<'a>(y: &'a [u8], u: &'a [u8], v: &'a [u8]) -> Picture<'a> {
        Picture {
            width: 4,
            height: 4,
            planes: Planes::I420 {
                y,
                u,
                v,
                y_stride: 6,
                uv_stride: 3,
            },
        }
    }

    #[test]
    fn same_size_copies_and_relayouts_exactly() {
        let (y, u, v) = sample();
        let mut c = Converter::new();
        let mut out = vec![0u8; frame_bytes(4, 4)];
        assert_eq!(
            c.convert(&pic(&y, &u, &v), (4, 4), Layout::I420, &mut out),
            24
        );
        assert_eq!(&out[..4], &[0, 10, 20, 30]);
        assert_eq!(&out[16..], &[1, 2, 3, 4, 5, 6, 7, 8]);
        c.convert(&pic(&y, &u, &v), (4, 4), Layout::Nv12, &mut out);
        assert_eq!(&out[16..], &[1, 5, 2, 6, 3, 7, 4, 8]);

        // And back: NV12 in, I420 out.
        let nv12 = out.clone();
        let p = Picture {
            width: 4,
            height: 4,
            planes: Planes::Nv12 {
                y: &nv12[..16],
                uv: &nv12[16..],
                y_stride: 4,
                uv_stride: 4,
            },
        };
        let mut back = vec![0u8; 24];
        c.convert(&p, (4, 4), Layout::I420, &mut back);
        assert_eq!(&back[16..], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn downscale_averages_flat_areas_exactly() {
        let y = vec![100u8; 64 * 48];
        let u = vec![50u8; 32 * 24];
        let v = vec![200u8; 32 * 24];
        let p = Picture {
            width: 64,
            height: 48,
            planes: Planes::I420 {
                y: &y,
                u: &u,
                v: &v,
                y_stride: 64,
                uv_stride: 32,
            },
        };
        let mut c = Converter::new();
        let mut out = vec![0u8; frame_bytes(32, 24)];
        for layout in [Layout::I420, Layout::Nv12] {
            let n = c.convert(&p, (32, 24), layout, &mut out);
            assert_eq!(n, 32 * 24 * 3 / 2);
            assert!(out[..32 * 24].iter().all(|&b| b == 100));
        }
        assert!(out[32 * 24..].chunks(2).all(|p| p == [50, 200]));
    }

    #[test]
    fn yuyv_and_uyvy_become_i420() {
        // 4x2 YUYV: Y = 10,20,30,40 / 50,60,70,80; U/V per pair and row.
        let yuyv = [
            10, 100, 20, 200, 30, 102, 40, 202, // row 0
            50, 110, 60, 210, 70, 112, 80, 212, // row 1
        ];
        let mut out = vec![0u8; frame_bytes(4, 2)];
        packed422_to_i420(&yuyv, 8, 4, 2, true, &mut out);
        assert_eq!(&out[..8], &[10, 20, 30, 40, 50, 60, 70, 80]);
        assert_eq!(&out[8..], &[105, 107, 205, 207]);
        let uyvy: Vec<u8> = yuyv
            .chunks(2)
            .flat_map(|p| [p[1], p[0]])
            .collect::<Vec<_>>();
        let mut out2 = vec![0u8; frame_bytes(4, 2)];
        packed422_to_i420(&uyvy, 8, 4, 2, false, &mut out2);
        assert_eq!(out, out2);
    }

    #[test]
    fn chroma_resampling_to_420() {
        // 4:2:2 chroma (2 wide, 4 high) -> 4:2:0 (2 wide, 2 high): every other row.
        let src = [1, 2, 3, 4, 5, 6, 7, 8];
        let mut dst = [0u8; 4];
        chroma_to_420(&src, 2, (2, 4), &mut dst, (2, 2));
        assert_eq!(dst, [1, 2, 5, 6]);
        // 4:4:4 (4x2) -> 2x1.
        let src = [1, 2, 3, 4, 5, 6, 7, 8];
        let mut dst = [0u8; 2];
        chroma_to_420(&src, 4, (4, 2), &mut dst, (2, 1));
        assert_eq!(dst, [1, 3]);
    }

    #[test]
    fn output_size_keeps_aspect_and_parity() {
        assert_eq!(output_size((1280, 720), None, None), (1280, 720));
        assert_eq!(output_size((1280, 720), Some(640), None), (640, 360));
        assert_eq!(output_size((1280, 720), None, Some(240)), (426, 240));
        assert_eq!(output_size((1281, 721), None, None), (1280, 720));
        assert_eq!(output_size((1280, 720), Some(320), Some(320)), (320, 320));
    }
}
