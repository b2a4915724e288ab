//! JPEG encoding with libjpeg-turbo, straight from 4:2:0 planes (no RGB
//! round trip) into a caller-provided buffer.

use turbojpeg::{Compressor, Subsamp, YuvPlanesImage};

use crate::decode::{Picture, Planes};

pub struct JpegEncoder {
    compressor: Compressor,
    quality: u8,
}

impl JpegEncoder {
    pub fn new(quality: u8) -> anyhow::Result<Self> {
        let mut compressor = Compressor::new()?;
        compressor.set_quality(i32::from(quality))?;
        compressor.set_subsamp(Subsamp::Sub2x2)?;
        Ok(JpegEncoder {
            compressor,
            quality,
        })
    }

    pub fn set_quality(&mut self, quality: u8) -> anyhow::Result<()> {
        if quality != self.quality {
            self.compressor.set_quality(i32::from(quality))?;
            self.quality = quality;
        }
        Ok(())
    }

    /// Worst-case JPEG size for a 4:2:0 picture, to size output buffers.
    pub fn max_len(width: usize, height: usize) -> usize {
        turbojpeg::compressed_buf_len(width, height, Subsamp::Sub2x2)
            .unwrap_or(width * height * 2 + 65536)
    }

    /// Encodes an I420 picture (strided planes) into `out`; returns the
    /// JPEG's length.
    pub fn encode_i420(&mut self, pic: &Picture<'_>, out: &mut [u8]) -> anyhow::Result<usize> {
        let Planes::I420 {
            y,
            u,
            v,
            y_stride,
            uv_stride,
        } = pic.planes
        else {
            anyhow::bail!("the JPEG encoder takes I420; convert NV12 first");
        };
        let ch = pic.height.div_ceil(2);
        let image = YuvPlanesImage {
            y_plane: &y[..y_stride * pic.height],
            u_plane: &u[..uv_stride * ch],
            v_plane: &v[..uv_stride * ch],
            width: pic.width,
            height: pic.height,
            y_stride,
            u_stride: uv_stride,
            v_stride: uv_stride,
            subsamp: Subsamp::Sub2x2,
        };
        Ok(self.compressor.compress_yuv_planes_to_slice(&image, out)?)
    }
}

/// A packed I420 buffer seen as a picture.
pub fn packed_i420(buf: &[u8], width: usize, height: usize) -> Picture<'_> {
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    let (y, rest) = buf.split_at(width * height);
    let (u, rest) = rest.split_at(cw * ch);
    let v = &rest[..cw * ch];
    Picture {
        width,
        height,
        planes: Planes::I420 {
            y,
            u,
            v,
            y_stride: width,
            uv_stride: cw,
        },
    }
}
