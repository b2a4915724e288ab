//! `edgecam demo`: the full pipeline with no camera and no broker.
//!
//! Starts an embedded MQTT broker and N synthetic H.264 cameras, runs the
//! same service `edgecam run` runs (decode → pool → pace → JPEG → MQTT),
//! subscribes to its own frames like a detector would, and prints a live
//! table; a few received JPEGs are written out to look at.

mod broker;
mod watch;

pub use broker::start_on as start_broker_on;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::service::Service;
use crate::stats::Counters;

pub struct DemoOptions {
    /// An external broker (`mqtt://host:port`) instead of the embedded one.
    pub broker: Option<String>,
    pub cameras: usize,
    pub seconds: u64,
    pub fps: f64,
    pub source: String,
    pub out: PathBuf,
}

pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=64).contains(&opts.cameras),
        "--cameras must be between 1 and 64"
    );
    let (host, port) = match &opts.broker {
        Some(url) => {
            let u = url::Url::parse(url).map_err(|e| anyhow::anyhow!("--broker {url}: {e}"))?;
            (
                u.host_str().unwrap_or("127.0.0.1").to_string(),
                u.port().unwrap_or(1883),
            )
        }
        None => ("127.0.0.1".to_string(), broker::start()?),
    };
    let mut text = format!(
        "[device]\nid = \"demo\"\n[mqtt]\nurl = \"mqtt://{host}:{port}\"\nstats_interval_s = 5\n[defaults]\nfps = {}\n",
        opts.fps
    );
    for i in 0..opts.cameras {
        text.push_str(&format!(
            "[[camera]]\nname = \"cam{i}\"\nsource = \"synthetic:{}\"\n",
            opts.source
        ));
    }
    let config = Config::parse(&text).map_err(|e| anyhow::anyhow!("demo settings: {e}"))?;
    let board = watch::watch(
        &host,
        port,
        "edgecam/demo/+/frame".into(),
        opts.out.clone(),
        3,
    )
    .await?;
    let started = Instant::now();
    let service = Service::start(config, None).await?;
    let cameras = service.cameras();
    println!(
        "edgecam demo: {} synthetic camera(s) {} -> {} fps JPEG, broker on {host}:{port}",
        opts.cameras, opts.source, opts.fps
    );
    println!(
        "subscribe yourself: mosquitto_sub -h {host} -p {port} -V mqttv5 -t 'edgecam/demo/#' -F '%t %l bytes'"
    );
    crate::health::process_usage();
    let mut last: Vec<Counters> = cameras.iter().map(|c| c.stats.counters()).collect();
    let mut last_received: Vec<u64> = vec![0; cameras.len()];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last_at = Instant::now();
    let mut first_frame_ms = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        let secs = last_at.elapsed().as_secs_f64();
        last_at = Instant::now();
        let usage = crate::health::process_usage();
        let board_now = board.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if first_frame_ms.is_none() {
            first_frame_ms = board_now
                .values()
                .filter_map(|r| r.first_at)
                .min()
                .map(|t| (t - started).as_millis());
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "\n{:<6} {:<8} {:>6} {:>7} {:>7} {:>6} {:>9} {:>9} {:>9}  size",
            "camera",
            "state",
            "fps in",
            "decoded",
            "fps out",
            "drops",
            "lat p50",
            "lat p99",
            "received"
        );
        for (i, cam) in cameras.iter().enumerate() {
            let now = cam.stats.counters();
            let r = board_now.get(&cam.name).cloned().unwrap_or_default();
            let dropped: u64 = now.dropped.iter().sum::<u64>()
                - now.dropped[crate::stats::DropReason::Paced as usize];
            let ms = |q| {
                r.latency
                    .quantile_ms(q)
                    .map_or("-".into(), |v: f64| format!("{v:.1} ms"))
            };
            let _ = writeln!(
                out,
                "{:<6} {:<8} {:>6.1} {:>7.1} {:>7.1} {:>6} {:>9} {:>9} {:>9}  {}x{}",
                cam.name,
                format!("{:?}", cam.status().state).to_lowercase(),
                crate::stats::rate(now.units_in, last[i].units_in, secs),
                crate::stats::rate(now.frames_decoded, last[i].frames_decoded, secs),
                crate::stats::rate(r.frames, last_received[i], secs),
                dropped + r.missing,
                ms(0.5),
                ms(0.99),
                r.frames,
                r.width,
                r.height,
            );
            last[i] = now;
            last_received[i] = r.frames;
        }
        let _ = writeln!(
            out,
            "process: CPU {:.1} % of one core, RSS {:.1} MB (peak {:.1} MB); first frame received after {} ms",
            usage.cpu_percent,
            usage.rss_bytes as f64 / 1e6,
            usage.peak_rss_bytes as f64 / 1e6,
            first_frame_ms.map_or("-".into(), |v| v.to_string())
        );
        if opts.seconds > 0 && started.elapsed() >= Duration::from_secs(opts.seconds) {
            break;
        }
    }
    service.shutdown().await;
    let board_now = board.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let saved: Vec<String> = board_now
        .values()
        .flat_map(|r| r.saved.iter().map(|p| p.display().to_string()))
        .collect();
    println!("\nJPEGs written: {}", saved.join(" "));
    let received: u64 = board_now.values().map(|r| r.frames).sum();
    anyhow::ensure!(received > 0, "no frame reached the subscriber");
    Ok(())
}
