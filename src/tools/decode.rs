//! `edgecam decode`: runs a bitstream through one decoder backend, the way a
//! camera's decode thread would, and reports what came out.
//!
//! For checking a box: `edgecam decode --decoder v4l2m2m --input
//! synthetic:1280x720@15` tells whether the hardware decoder works and how
//! fast, with no camera. For tests: the VM decodes a vicodec FWHT stream
//! through the M2M backend and compares the pictures with the originals
//! (`--output` writes them as packed I420).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::config::DecoderChoice;
use crate::convert::{Converter, Layout, frame_bytes};
use crate::decode::probe::{DecoderFactory, DecoderOptions};
use crate::decode::v4l2m2m::probe::{Role, probe_all};
use crate::decode::v4l2m2m::{Codec, M2mDecoder};
use crate::decode::{Decoder, Picture};

pub struct DecodeOptions {
    /// A file (Annex B H.264, or concatenated FWHT frames) or
    /// `synthetic:WxH@FPS` (the built-in H.264 clip).
    pub input: String,
    pub codec: Codec,
    pub decoder: DecoderChoice,
    pub device: Option<PathBuf>,
    /// The GStreamer element, for `--decoder gstreamer`.
    pub gst_element: Option<String>,
    /// Packed I420 pictures, one after the other.
    pub output: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct DecodeReport {
    pub decoder: String,
    pub units: usize,
    pub pictures: usize,
    pub errors: usize,
    /// Picture sizes in order of appearance (changes only).
    pub sizes: Vec<(usize, usize)>,
    pub seconds: f64,
    pub pictures_per_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

pub fn run(opts: DecodeOptions) -> anyhow::Result<DecodeReport> {
    let units = read_units(&opts.input, opts.codec)?;
    let mut sink = PictureSink::new(opts.output.as_deref())?;
    let started = Instant::now();
    let mut report = DecodeReport {
        decoder: String::new(),
        units: units.len(),
        pictures: 0,
        errors: 0,
        sizes: Vec::new(),
        seconds: 0.0,
        pictures_per_second: 0.0,
        first_error: None,
    };
    if opts.codec == Codec::H264 {
        let options = DecoderOptions {
            device: opts.device.clone(),
            gst_element: opts.gst_element.clone(),
        };
        let factory = DecoderFactory::probe_with(&options);
        let mut decoder = factory.open_h264(opts.decoder, "decode")?;
        for unit in &units {
            match decoder.decode(unit) {
                Ok(Some(p)) => sink.picture(&p, &mut report)?,
                Ok(None) => {}
                Err(e) => note_error(&mut report, e.0),
            }
        }
        report.decoder = decoder.describe().to_string();
    } else {
        // Other codecs only exist in hardware: straight to the M2M decoder.
        anyhow::ensure!(
            opts.decoder != DecoderChoice::Software,
            "there is no software decoder for {}",
            opts.codec
        );
        let device = match &opts.device {
            Some(d) => d.clone(),
            None => find_decoder(opts.codec)?,
        };
        let mut decoder = M2mDecoder::open(&device, opts.codec)?;
        report.decoder = decoder.describe().to_string();
        for unit in &units {
            match decoder.submit(unit) {
                Ok(Some(index)) => match decoder.picture(index) {
                    Some(p) => sink.picture(&p, &mut report)?,
                    None => note_error(&mut report, "unreadable picture".into()),
                },
                Ok(None) => {}
                Err(e) => note_error(&mut report, e.to_string()),
            }
        }
        // Pictures the decoder still holds come out with the drain.
        let mut failed = None;
        let drained = decoder.drain(|p| {
            if let Err(e) = sink.picture(&p, &mut report) {
                failed.get_or_insert(e);
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        if let Err(e) = drained {
            note_error(&mut report, format!("drain: {e}"));
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.pictures_per_second = report.pictures as f64 / report.seconds.max(1e-9);
    Ok(report)
}

fn note_error(report: &mut DecodeReport, e: String) {
    report.errors += 1;
    report.first_error.get_or_insert(e);
}

/// The first stateful M2M decoder of `codec`.
fn find_decoder(codec: Codec) -> anyhow::Result<PathBuf> {
    let nodes = probe_all();
    nodes
        .iter()
        .find(|n| n.decodes(&codec.fourcc()))
        .map(|n| n.device.clone())
        .ok_or_else(|| {
            let seen: Vec<String> = nodes
                .iter()
                .filter(|n| n.role != Role::Unknown)
                .map(|n| {
                    format!(
                        "{} {} ({})",
                        n.device.display(),
                        n.role.describe(),
                        n.codecs.join(" ")
                    )
                })
                .collect();
            anyhow::anyhow!(
                "no stateful V4L2 decoder of {codec} on this box (M2M devices: {})",
                if seen.is_empty() {
                    "none".into()
                } else {
                    seen.join("; ")
                }
            )
        })
}

/// Writes pictures as packed I420 and keeps the report's counts.
struct PictureSink {
    out: Option<std::io::BufWriter<std::fs::File>>,
    converter: Converter,
    buf: Vec<u8>,
}

impl PictureSink {
    fn new(path: Option<&Path>) -> anyhow::Result<Self> {
        let out = match path {
            Some(p) => Some(std::io::BufWriter::new(
                std::fs::File::create(p)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?,
            )),
            None => None,
        };
        Ok(PictureSink {
            out,
            converter: Converter::new(),
            buf: Vec::new(),
        })
    }

    fn picture(&mut self, p: &Picture<'_>, report: &mut DecodeReport) -> anyhow::Result<()> {
        report.pictures += 1;
        let size = (p.width, p.height);
        if report.sizes.last() != Some(&size) {
            report.sizes.push(size);
        }
        if let Some(out) = &mut self.out {
            self.buf.resize(frame_bytes(p.width, p.height), 0);
            let n = self.converter.convert(p, size, Layout::I420, &mut self.buf);
            out.write_all(&self.buf[..n])?;
            out.flush()?;
        }
        Ok(())
    }
}

/// The input as access units.
fn read_units(input: &str, codec: Codec) -> anyhow::Result<Vec<Vec<u8>>> {
    if let Some(spec) = input.strip_prefix("synthetic:") {
        anyhow::ensure!(codec == Codec::H264, "the synthetic clip is H.264");
        let spec =
            crate::source::synthetic::SyntheticSpec::parse(spec).map_err(anyhow::Error::msg)?;
        let clip = crate::source::synthetic::clip(spec)?;
        return Ok(clip.units.iter().map(|(u, _)| u.clone()).collect());
    }
    let data = std::fs::read(input).map_err(|e| anyhow::anyhow!("cannot read {input}: {e}"))?;
    match codec {
        Codec::H264 | Codec::Hevc => Ok(split_annexb(&data)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect()),
        Codec::Fwht => split_fwht(&data),
        Codec::Mjpeg => Ok(split_jpeg(&data)),
    }
}

/// vicodec's frame header: magic 0x4f4f4f4f, 0xffffffff, then nine
/// big-endian words, the last one the payload size.
const FWHT_HEADER: usize = 44;

pub fn split_fwht(data: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut units = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let h = data
            .get(pos..pos + FWHT_HEADER)
            .ok_or_else(|| anyhow::anyhow!("truncated FWHT header at byte {pos}"))?;
        anyhow::ensure!(
            h[..8] == [0x4f, 0x4f, 0x4f, 0x4f, 0xff, 0xff, 0xff, 0xff],
            "no FWHT frame header at byte {pos}"
        );
        let size = u32::from_be_bytes([h[40], h[41], h[42], h[43]]) as usize;
        let end = pos + FWHT_HEADER + size;
        anyhow::ensure!(end <= data.len(), "truncated FWHT frame at byte {pos}");
        units.push(data[pos..end].to_vec());
        pos = end;
    }
    Ok(units)
}

/// Splits concatenated JPEGs at their SOI markers.
fn split_jpeg(data: &[u8]) -> Vec<Vec<u8>> {
    let mut starts: Vec<usize> = (0..data.len().saturating_sub(2))
        .filter(|&i| data[i] == 0xFF && data[i + 1] == 0xD8 && data[i + 2] == 0xFF)
        .collect();
    starts.push(data.len());
    starts
        .windows(2)
        .map(|w| data[w[0]..w[1]].to_vec())
        .collect()
}

/// Splits an Annex B byte stream into access units: a new unit starts at an
/// access unit delimiter, at parameter sets or SEI after a slice, or at a
/// slice whose `first_mb_in_slice` is 0 after a slice.
pub fn split_annexb(data: &[u8]) -> Vec<&[u8]> {
    let mut nals = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let start = if i > 0 && data[i - 1] == 0 { i - 1 } else { i };
            nals.push((start, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::new();
    let mut unit_start = None;
    let mut seen_slice = false;
    for &(start, payload) in &nals {
        let Some(&header) = data.get(payload) else {
            continue;
        };
        let kind = header & 0x1F;
        let is_slice = kind == 1 || kind == 5;
        // first_mb_in_slice is ue(v): 0 is coded as a single 1 bit.
        let first_mb_zero = data.get(payload + 1).is_some_and(|b| b & 0x80 != 0);
        let starts_unit = match kind {
            // SEI, SPS, PPS, access unit delimiter.
            6..=9 => seen_slice,
            _ if is_slice => seen_slice && first_mb_zero,
            _ => false,
        };
        if starts_unit && let Some(s) = unit_start {
            units.push(&data[s..start]);
            unit_start = None;
            seen_slice = false;
        }
        unit_start.get_or_insert(start);
        if is_slice {
            seen_slice = true;
        }
    }
    if let Some(s) = unit_start {
        units.push(&data[s..]);
    }
    units
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annexb_is_split_into_the_encoders_access_units() {
        let spec = crate::source::synthetic::SyntheticSpec::parse("160x96@10").unwrap();
        let clip = crate::source::synthetic::clip(spec).unwrap();
        let stream: Vec<u8> = clip.units.iter().flat_map(|(u, _)| u.clone()).collect();
        let units = split_annexb(&stream);
        assert_eq!(units.len(), clip.units.len());
        for (a, (b, _)) in units.iter().zip(&clip.units) {
            assert_eq!(*a, b.as_slice());
        }
    }

    #[test]
    fn fwht_frames_are_split_by_their_headers() {
        let frame = |size: u32, fill: u8| {
            let mut f = vec![0x4f, 0x4f, 0x4f, 0x4f, 0xff, 0xff, 0xff, 0xff];
            f.extend_from_slice(&[0; 32]);
            f.extend_from_slice(&size.to_be_bytes());
            f.extend(std::iter::repeat_n(fill, size as usize));
            f
        };
        let mut data = frame(10, 1);
        data.extend(frame(3, 2));
        let units = split_fwht(&data).unwrap();
        assert_eq!(units.len(), 2);
        assert_eq!((units[0].len(), units[1].len()), (54, 47));
        assert!(split_fwht(&data[..50]).is_err());
        assert!(split_fwht(b"not fwht at all, not fwht at all, not fwht at all").is_err());
    }

    #[test]
    fn software_decodes_the_synthetic_clip() {
        let report = run(DecodeOptions {
            input: "synthetic:160x96@10".into(),
            codec: Codec::H264,
            decoder: DecoderChoice::Software,
            device: None,
            gst_element: None,
            output: None,
        })
        .unwrap();
        assert_eq!((report.units, report.pictures, report.errors), (80, 80, 0));
        assert_eq!(report.sizes, vec![(160, 96)]);
        assert_eq!(report.decoder, "openh264 (software)");
    }
}
