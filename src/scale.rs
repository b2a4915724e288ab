//! Area-averaging resampler for 8-bit planes, allocation-free per frame.
//!
//! Each output pixel is the average of the source area it covers (a box
//! filter with fractional edges), which is the right filter for the
//! downscaling a camera pipeline does: every source pixel contributes, so
//! there is no aliasing, at two multiply-adds per tap. Weight tables and the
//! intermediate row buffer depend only on the geometry and are kept for the
//! few geometries in use (luma and chroma of one stream), so steady-state
//! frames allocate nothing. (General-purpose crates recompute coefficients
//! per call and allocate thousands of times per frame.)

/// Fixed-point weight scale: 14 bits keeps `255 * weight * taps` in u32.
const ONE: u32 = 1 << 14;

/// How one output coordinate is built from source samples.
#[derive(Debug, Clone)]
struct Axis {
    /// First source index per output index.
    start: Vec<u32>,
    /// Number of taps per output index.
    taps: Vec<u16>,
    /// Weights, `taps[i]` of them per output index, concatenated; each
    /// group sums to `ONE`.
    weights: Vec<u16>,
}

impl Axis {
    fn new(src: usize, dst: usize) -> Axis {
        let scale = src as f64 / dst as f64;
        let mut axis = Axis {
            start: Vec::with_capacity(dst),
            taps: Vec::with_capacity(dst),
            weights: Vec::new(),
        };
        for i in 0..dst {
            // Source interval covered by output pixel i (at least one pixel
            // wide, so upscaling becomes a linear blend of neighbours).
            let width = scale.max(1.0);
            let center = (i as f64 + 0.5) * scale;
            let lo = (center - width / 2.0).max(0.0);
            let hi = (center + width / 2.0).min(src as f64);
            let first = lo.floor() as usize;
            let last = (hi.ceil() as usize).clamp(first + 1, src);
            let mut ws: Vec<f64> = (first..last)
                .map(|s| (hi.min(s as f64 + 1.0) - lo.max(s as f64)).max(0.0))
                .collect();
            let total: f64 = ws.iter().sum::<f64>().max(f64::EPSILON);
            ws.iter_mut().for_each(|w| *w /= total);
            let mut fixed: Vec<u16> = ws
                .iter()
                .map(|w| (w * f64::from(ONE)).round() as u16)
                .collect();
            // Make the group sum exactly ONE so flat areas stay exact.
            let sum: i64 = fixed.iter().map(|&w| i64::from(w)).sum();
            let biggest = (0..fixed.len()).max_by_key(|&k| fixed[k]).unwrap_or(0);
            fixed[biggest] = (i64::from(fixed[biggest]) + i64::from(ONE) - sum) as u16;
            axis.start.push(first as u32);
            axis.taps.push(fixed.len() as u16);
            axis.weights.extend(fixed);
        }
        axis
    }
}

/// Geometry of one resampling job: (src w, src h, dst w, dst h, channels).
type Geometry = (usize, usize, usize, usize, usize);

struct Plan {
    geometry: Geometry,
    horizontal: Axis,
    vertical: Axis,
    /// Horizontally resampled rows: dst width x src height.
    rows: Vec<u8>,
}

/// Keeps plans for the geometries in use.
#[derive(Default)]
pub struct Resampler {
    plans: Vec<Plan>,
}

/// Plans kept; luma and chroma of a stream need two.
const MAX_PLANS: usize = 4;

impl Resampler {
    /// Resamples a strided plane of `channels` interleaved 8-bit samples
    /// (1 for Y/U/V, 2 for NV12's UV) of `sw`x`sh` pixels into a packed
    /// `dw`x`dh` destination.
    #[allow(clippy::too_many_arguments)]
    pub fn resample(
        &mut self,
        src: &[u8],
        stride: usize,
        sw: usize,
        sh: usize,
        dst: &mut [u8],
        dw: usize,
        dh: usize,
        channels: usize,
    ) {
        let geometry = (sw, sh, dw, dh, channels);
        let index = match self.plans.iter().position(|p| p.geometry == geometry) {
            Some(i) => i,
            None => {
                if self.plans.len() == MAX_PLANS {
                    self.plans.remove(0);
                }
                self.plans.push(Plan {
                    geometry,
                    horizontal: Axis::new(sw, dw),
                    vertical: Axis::new(sh, dh),
                    rows: vec![0; dw * channels * sh],
                });
                self.plans.len() - 1
            }
        };
        let plan = &mut self.plans[index];
        let row_out = dw * channels;
        for y in 0..sh {
            let line = &src[y * stride..y * stride + sw * channels];
            let out = &mut plan.rows[y * row_out..(y + 1) * row_out];
            horizontal(line, out, &plan.horizontal, channels);
        }
        vertical(
            &plan.rows,
            row_out,
            &mut dst[..dh * row_out],
            &plan.vertical,
        );
    }
}

fn horizontal(line: &[u8], out: &mut [u8], axis: &Axis, channels: usize) {
    let mut w = 0;
    for (x, (&start, &taps)) in axis.start.iter().zip(&axis.taps).enumerate() {
        let weights = &axis.weights[w..w + taps as usize];
        w += taps as usize;
        for c in 0..channels {
            let mut acc = ONE / 2;
            for (k, &wt) in weights.iter().enumerate() {
                acc += u32::from(line[(start as usize + k) * channels + c]) * u32::from(wt);
            }
            out[x * channels + c] = (acc >> 14) as u8;
        }
    }
}

fn vertical(rows: &[u8], row_len: usize, dst: &mut [u8], axis: &Axis) {
    let mut w = 0;
    for (y, (&start, &taps)) in axis.start.iter().zip(&axis.taps).enumerate() {
        let weights = &axis.weights[w..w + taps as usize];
        w += taps as usize;
        let out = &mut dst[y * row_len..(y + 1) * row_len];
        // Accumulate row by row: a contiguous inner loop the compiler
        // vectorises.
        let row =
            |k: usize| &rows[(start as usize + k) * row_len..(start as usize + k + 1) * row_len];
        match taps {
            1 => out.copy_from_slice(row(0)),
            // The common 2:1 and fractional cases: a contiguous loop the
            // compiler vectorises.
            2 => {
                let (w0, w1) = (u32::from(weights[0]), u32::from(weights[1]));
                for ((o, &a), &b) in out.iter_mut().zip(row(0)).zip(row(1)) {
                    *o = ((u32::from(a) * w0 + u32::from(b) * w1 + ONE / 2) >> 14) as u8;
                }
            }
            _ => {
                for (i, o) in out.iter_mut().enumerate() {
                    let mut acc = ONE / 2;
                    for (k, &wt) in weights.iter().enumerate() {
                        acc += u32::from(row(k)[i]) * u32::from(wt);
                    }
                    *o = (acc >> 14) as u8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_for_every_ratio() {
        for (s, d) in [
            (1280, 640),
            (1280, 426),
            (720, 360),
            (100, 33),
            (10, 20),
            (7, 7),
            (1920, 320),
        ] {
            let a = Axis::new(s, d);
            let mut w = 0;
            for &t in &a.taps {
                let sum: u32 = a.weights[w..w + t as usize]
                    .iter()
                    .map(|&v| u32::from(v))
                    .sum();
                assert_eq!(sum, ONE, "{s}->{d}");
                w += t as usize;
            }
            assert!(
                a.start
                    .iter()
                    .zip(&a.taps)
                    .all(|(&st, &t)| st as usize + t as usize <= s)
            );
        }
    }

    #[test]
    fn halving_averages_pairs() {
        let src = [0u8, 100, 200, 50, 10, 30, 0, 0];
        let mut out = [0u8; 2];
        Resampler::default().resample(&src, 4, 4, 2, &mut out, 2, 1, 1);
        // (0+100+10+30)/4 = 35, (200+50+0+0)/4 = 62.5
        assert_eq!(out, [35, 63]);
    }

    #[test]
    fn interleaved_channels_stay_apart() {
        // Two UV pairs per row: U = 10, 30; V = 200, 100.
        let src = [10u8, 200, 30, 100];
        let mut out = [0u8; 2];
        Resampler::default().resample(&src, 4, 2, 1, &mut out, 1, 1, 2);
        assert_eq!(out, [20, 150]);
    }

    #[test]
    fn flat_planes_stay_exact_at_odd_ratios() {
        let src = vec![77u8; 1280 * 720];
        let mut out = vec![0u8; 426 * 240];
        let mut r = Resampler::default();
        r.resample(&src, 1280, 1280, 720, &mut out, 426, 240, 1);
        assert!(out.iter().all(|&v| v == 77));
    }
}
