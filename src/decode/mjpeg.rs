//! MJPEG frames from USB cameras: reading just enough of the header to know
//! the size and whether the frame is complete, and publishing it as is.
//!
//! UVC cameras may omit the Huffman tables (the "MJPEG" convention of using
//! the standard tables of ITU T.81 Annex K.3 implicitly). libjpeg-turbo
//! copes, but not every consumer does, so a frame without a DHT segment gets
//! the standard tables inserted while it is copied into the output buffer:
//! a few hundred bytes, no decoding.

use std::fmt;

/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegInfo {
    pub width: usize,
    pub height: usize,
    pub has_tables: bool,
    /// Offset of the SOS marker (where missing tables go).
    pub sos: usize,
    /// Length up to and including EOI (without padding after it).
    pub len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JpegError {
    NotJpeg,
    /// No EOI at the end: the camera delivered part of a frame.
    Truncated,
    /// No frame header (SOF) before the scan.
    NoFrameHeader,
    Malformed,
}

impl fmt::Display for JpegError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JpegError::NotJpeg => "not a JPEG frame (no SOI marker)",
            JpegError::Truncated => "truncated JPEG frame (no EOI marker)",
            JpegError::NoFrameHeader => "JPEG frame without a frame header (SOF)",
            JpegError::Malformed => "malformed JPEG marker segment",
        })
    }
}

/// Walks the marker segments up to the first scan.
pub fn inspect(data: &[u8]) -> Result<JpegInfo, JpegError> {
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err(JpegError::NotJpeg);
    }
    let len = data.len();
    let mut pos = 2;
    let mut size = None;
    let mut has_tables = false;
    loop {
        // Markers may be preceded by fill bytes (0xFF).
        while pos < len && data[pos] == 0xFF && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        if pos + 4 > len || data[pos] != 0xFF {
            return Err(JpegError::Malformed);
        }
        let marker = data[pos + 1];
        if marker == 0xDA {
            let (width, height) = size.ok_or(JpegError::NoFrameHeader)?;
            return Ok(JpegInfo {
                width,
                height,
                has_tables,
                sos: pos,
                len: end_of_image(data, pos)?,
            });
        }
        let seg = usize::from(u16::from_be_bytes([data[pos + 2], data[pos + 3]]));
        if seg < 2 || pos + 2 + seg > len {
            return Err(JpegError::Malformed);
        }
        match marker {
            // Baseline, extended, progressive, lossless (Huffman) frame headers.
            0xC0..=0xC3 => {
                if seg < 7 {
                    return Err(JpegError::Malformed);
                }
                let h = u16::from_be_bytes([data[pos + 5], data[pos + 6]]);
                let w = u16::from_be_bytes([data[pos + 7], data[pos + 8]]);
                size = Some((usize::from(w), usize::from(h)));
            }
            0xC4 => has_tables = true,
            _ => {}
        }
        pos += 2 + seg;
    }
}

/// Where the image ends: after the first EOI marker past the scan header.
/// Entropy-coded data cannot contain one (a 0xFF there is followed by 0x00
/// or a restart marker), so whatever a camera or a reused buffer leaves
/// behind it (zero padding, the tail of an older, longer frame) is not part
/// of the frame. No EOI means a frame cut short.
fn end_of_image(data: &[u8], sos: usize) -> Result<usize, JpegError> {
    let mut i = sos + 2;
    while i + 1 < data.len() {
        if data[i] == 0xFF && data[i + 1] == 0xD9 {
            return Ok(i + 2);
        }
        i += 1;
    }
    Err(JpegError::Truncated)
}

/// Bytes needed to publish `info`'s frame complete.
pub fn complete_len(info: &JpegInfo) -> usize {
    info.len + if info.has_tables { 0 } else { STD_DHT.len() }
}

/// Copies the frame into `out`, adding the standard Huffman tables if it
/// has none. Returns the bytes written, or `None` if `out` is too small.
pub fn copy_complete(data: &[u8], info: &JpegInfo, out: &mut [u8]) -> Option<usize> {
    let total = complete_len(info);
    let out = out.get_mut(..total)?;
    if info.has_tables {
        out.copy_from_slice(&data[..info.len]);
    } else {
        let (head, rest) = out.split_at_mut(info.sos);
        head.copy_from_slice(&data[..info.sos]);
        let (tables, scan) = rest.split_at_mut(STD_DHT.len());
        tables.copy_from_slice(&STD_DHT);
        scan.copy_from_slice(&data[info.sos..info.len]);
    }
    Some(total)
}

/// One DHT segment with the four tables of ITU T.81 Annex K.3 (luminance
/// and chrominance, DC and AC), the ones UVC MJPEG implies.
pub const STD_DHT: [u8; 420] = std_dht();

const DC_LUMA_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CHROMA_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMA_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
const AC_LUMA_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];
const AC_CHROMA_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const AC_CHROMA_VALUES: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

const fn std_dht() -> [u8; 420] {
    let mut out = [0u8; 420];
    out[0] = 0xFF;
    out[1] = 0xC4;
    // Segment length: everything after the marker.
    out[2] = ((420 - 2) >> 8) as u8;
    out[3] = ((420 - 2) & 0xFF) as u8;
    let mut pos = 4;
    pos = table(&mut out, pos, 0x00, &DC_LUMA_BITS, &DC_VALUES);
    pos = table(&mut out, pos, 0x10, &AC_LUMA_BITS, &AC_LUMA_VALUES);
    pos = table(&mut out, pos, 0x01, &DC_CHROMA_BITS, &DC_VALUES);
    pos = table(&mut out, pos, 0x11, &AC_CHROMA_BITS, &AC_CHROMA_VALUES);
    assert!(pos == 420);
    out
}

const fn table(
    out: &mut [u8; 420],
    mut pos: usize,
    class_id: u8,
    bits: &[u8; 16],
    values: &[u8],
) -> usize {
    out[pos] = class_id;
    pos += 1;
    let mut i = 0;
    while i < 16 {
        out[pos] = bits[i];
        pos += 1;
        i += 1;
    }
    let mut i = 0;
    while i < values.len() {
        out[pos] = values[i];
        pos += 1;
        i += 1;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::jpeg::{JpegEncoder, packed_i420};

    /// A real JPEG (libjpeg-turbo, standard tables) of a gradient.
    fn sample_jpeg(w: usize, h: usize) -> Vec<u8> {
        let mut yuv = vec![128u8; w * h * 3 / 2];
        for (i, p) in yuv[..w * h].iter_mut().enumerate() {
            *p = ((i % w) * 255 / w) as u8;
        }
        let mut enc = JpegEncoder::new(85).unwrap();
        let mut out = vec![0u8; JpegEncoder::max_len(w, h)];
        let n = enc.encode_i420(&packed_i420(&yuv, w, h), &mut out).unwrap();
        out.truncate(n);
        out
    }

    /// The frame without its DHT segments, as a UVC camera may send it.
    fn strip_tables(jpeg: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        let mut pos = 2;
        while jpeg[pos + 1] != 0xDA {
            let seg = usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
            if jpeg[pos + 1] != 0xC4 {
                out.extend_from_slice(&jpeg[pos..pos + 2 + seg]);
            }
            pos += 2 + seg;
        }
        out.extend_from_slice(&jpeg[pos..]);
        out
    }

    fn decode_luma(jpeg: &[u8]) -> Vec<u8> {
        let img = turbojpeg::decompress(jpeg, turbojpeg::PixelFormat::GRAY).unwrap();
        img.pixels
    }

    #[test]
    fn reads_size_and_tables() {
        let jpeg = sample_jpeg(96, 64);
        let info = inspect(&jpeg).unwrap();
        assert_eq!((info.width, info.height, info.has_tables), (96, 64, true));
        let bare = strip_tables(&jpeg);
        let info = inspect(&bare).unwrap();
        assert!(!info.has_tables);
        assert_eq!(&bare[info.sos..info.sos + 2], &[0xFF, 0xDA]);
    }

    #[test]
    fn standard_tables_are_the_ones_libjpeg_writes() {
        // libjpeg-turbo without optimize_coding writes exactly the Annex K
        // tables: collect its DHT payloads and compare with ours.
        let jpeg = sample_jpeg(64, 64);
        let mut theirs = Vec::new();
        let mut pos = 2;
        while jpeg[pos + 1] != 0xDA {
            let seg = usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
            if jpeg[pos + 1] == 0xC4 {
                theirs.extend_from_slice(&jpeg[pos + 4..pos + 2 + seg]);
            }
            pos += 2 + seg;
        }
        let ours = STD_DHT[4..].to_vec();
        // Same four tables, possibly in another order: compare as sets of
        // (class/id, table) chunks.
        let split = |mut d: &[u8]| {
            let mut tables = Vec::new();
            while !d.is_empty() {
                let n: usize = d[1..17].iter().map(|&b| usize::from(b)).sum();
                tables.push(d[..17 + n].to_vec());
                d = &d[17 + n..];
            }
            tables.sort();
            tables
        };
        assert_eq!(split(&theirs), split(&ours));
    }

    #[test]
    fn a_frame_without_tables_is_completed_and_decodes_the_same() {
        let jpeg = sample_jpeg(128, 96);
        let bare = strip_tables(&jpeg);
        let info = inspect(&bare).unwrap();
        let mut out = vec![0u8; complete_len(&info)];
        let n = copy_complete(&bare, &info, &mut out).unwrap();
        assert_eq!(n, bare.len() + STD_DHT.len());
        assert_eq!(decode_luma(&out[..n]), decode_luma(&jpeg));
        // Too small an output is refused, not overrun.
        assert_eq!(copy_complete(&bare, &info, &mut out[..n - 1]), None);
    }

    #[test]
    fn padding_is_dropped_and_truncation_detected() {
        let mut jpeg = sample_jpeg(64, 32);
        let n = jpeg.len();
        jpeg.extend_from_slice(&[0; 100]);
        let info = inspect(&jpeg).unwrap();
        assert_eq!(info.len, n);
        // The tail of an older frame left in a reused buffer.
        let older = sample_jpeg(128, 96);
        let mut reused = jpeg[..n].to_vec();
        reused.extend_from_slice(&older[n..]);
        assert_eq!(inspect(&reused).unwrap().len, n);
        let mut out = vec![0u8; n];
        assert_eq!(copy_complete(&jpeg, &info, &mut out), Some(n));
        assert_eq!(inspect(&jpeg[..n - 10]), Err(JpegError::Truncated));
        assert_eq!(inspect(b"not a jpeg"), Err(JpegError::NotJpeg));
    }
}
