//! Reading pressure from the kernel: CPU pressure stall information
//! (`/proc/pressure/cpu`), CPU utilisation (`/proc/stat`, where PSI is
//! missing), and thermal zones (`/sys/class/thermal`). Roots are
//! configurable so tests and odd boards can point them elsewhere.

use std::path::{Path, PathBuf};

/// One thermal zone's reading.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneReading {
    /// The zone's `type` (e.g. `cpu-thermal`, `x86_pkg_temp`).
    pub name: String,
    pub celsius: f64,
}

/// Everything the controller looks at, sampled once per interval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// `some avg10` of /proc/pressure/cpu: % of time some task waited for CPU.
    pub psi_some: Option<f64>,
    /// Busy % of all CPUs since the previous sample.
    pub cpu_busy: Option<f64>,
    pub zones: Vec<ZoneReading>,
    /// Units dropped because a decoder fell behind, since the last sample.
    pub late_drops: u64,
}

pub struct Sensors {
    proc_root: PathBuf,
    sysfs_root: PathBuf,
    /// Zone types to watch; empty watches all.
    zones: Vec<String>,
    last_stat: Option<(u64, u64)>,
}

impl Sensors {
    pub fn new(proc_root: &Path, sysfs_root: &Path, zones: &[String]) -> Self {
        Sensors {
            proc_root: proc_root.to_path_buf(),
            sysfs_root: sysfs_root.to_path_buf(),
            zones: zones.to_vec(),
            last_stat: None,
        }
    }

    pub fn read(&mut self) -> Reading {
        Reading {
            psi_some: read_psi(&self.proc_root.join("pressure/cpu")),
            cpu_busy: self.cpu_busy(),
            zones: read_zones(&self.sysfs_root.join("class/thermal"), &self.zones),
            late_drops: 0,
        }
    }

    fn cpu_busy(&mut self) -> Option<f64> {
        let text = std::fs::read_to_string(self.proc_root.join("stat")).ok()?;
        let (busy, total) = parse_stat(&text)?;
        let pct = self.last_stat.and_then(|(b0, t0)| {
            let dt = total.checked_sub(t0)?;
            (dt > 0).then(|| (busy.saturating_sub(b0)) as f64 * 100.0 / dt as f64)
        });
        self.last_stat = Some((busy, total));
        pct
    }
}

/// `some avg10=12.34 ...` → 12.34.
pub fn read_psi(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("some"))?;
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("avg10="))
        .and_then(|v| v.parse().ok())
}

/// Busy and total jiffies from the aggregate `cpu` line.
pub fn parse_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    let total: u64 = v.iter().take(8).sum();
    // idle and iowait are not busy; steal (field 8) is time the hypervisor
    // gave to other guests: not this box's load either.
    let idle = v[3] + v.get(4).copied().unwrap_or(0) + v.get(7).copied().unwrap_or(0);
    Some((total - idle, total))
}

fn read_zones(dir: &Path, wanted: &[String]) -> Vec<ZoneReading> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut zones: Vec<ZoneReading> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
        .filter_map(|e| {
            let name = std::fs::read_to_string(e.path().join("type"))
                .ok()?
                .trim()
                .to_string();
            if !wanted.is_empty() && !wanted.contains(&name) {
                return None;
            }
            let milli: f64 = std::fs::read_to_string(e.path().join("temp"))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            Some(ZoneReading {
                name,
                celsius: milli / 1000.0,
            })
        })
        .collect();
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    zones
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fake_tree() {
        let root = tempfile::tempdir().unwrap();
        let proc = root.path().join("proc");
        let sys = root.path().join("sys");
        std::fs::create_dir_all(proc.join("pressure")).unwrap();
        std::fs::write(proc.join("pressure/cpu"), "some avg10=42.50 avg60=1.00 avg300=0.50 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").unwrap();
        std::fs::write(
            proc.join("stat"),
            "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n",
        )
        .unwrap();
        for (i, (ty, t)) in [("cpu-thermal", "81500"), ("gpu-thermal", "40000")]
            .iter()
            .enumerate()
        {
            let z = sys.join(format!("class/thermal/thermal_zone{i}"));
            std::fs::create_dir_all(&z).unwrap();
            std::fs::write(z.join("type"), format!("{ty}\n")).unwrap();
            std::fs::write(z.join("temp"), format!("{t}\n")).unwrap();
        }
        let mut s = Sensors::new(&proc, &sys, &["cpu-thermal".to_string()]);
        let r = s.read();
        assert_eq!(r.psi_some, Some(42.5));
        assert_eq!(r.cpu_busy, None, "needs two samples");
        assert_eq!(
            r.zones,
            vec![ZoneReading {
                name: "cpu-thermal".into(),
                celsius: 81.5
            }]
        );
        std::fs::write(proc.join("stat"), "cpu  250 0 150 900 0 0 0 0 0 0\n").unwrap();
        let r = s.read();
        // busy +200, total +300.
        assert!((r.cpu_busy.unwrap() - 66.666).abs() < 0.01);
        let all = Sensors::new(&proc, &sys, &[]).read();
        assert_eq!(all.zones.len(), 2);
    }

    #[test]
    fn missing_inputs_are_none_not_errors() {
        let mut s = Sensors::new(Path::new("/nonexistent"), Path::new("/nonexistent"), &[]);
        assert_eq!(s.read(), Reading::default());
    }
}
