//! Health reporting: retained status, periodic stats, and the process's own
//! footprint.

pub mod report;
pub mod sd_notify;
pub mod watchdog;

use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct ProcessUsage {
    /// CPU used since the previous sample, in % of one core.
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub peak_rss_bytes: u64,
    pub threads: u64,
}

/// CPU seconds (user + system) this process has used, to the microsecond.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Samples usage; CPU % is over the time since the previous call.
pub fn process_usage() -> ProcessUsage {
    static LAST: Mutex<Option<(Instant, f64)>> = Mutex::new(None);
    let now = Instant::now();
    let cpu = cpu_seconds();
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let cpu_percent = match *last {
        Some((t, c)) if now > t => ((cpu - c) / (now - t).as_secs_f64() * 1000.0).round() / 10.0,
        _ => 0.0,
    };
    *last = Some((now, cpu));
    ProcessUsage {
        cpu_percent,
        rss_bytes: status_kib("VmRSS:") * 1024,
        peak_rss_bytes: status_kib("VmHWM:") * 1024,
        threads: status_kib("Threads:"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_usage() {
        let u = super::process_usage();
        assert!(u.rss_bytes > 0 && u.peak_rss_bytes >= u.rss_bytes / 2);
        assert!(u.threads >= 1);
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(super::cpu_seconds() > 0.0);
    }
}
