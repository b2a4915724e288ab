//! The `edgecam` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "edgecam",
    version,
    about = "Camera ingest for edge boxes: cameras in, paced frames out over MQTT"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service with a configuration file.
    Run {
        #[arg(long, short, default_value = "/etc/edgecam/edgecam.toml")]
        config: PathBuf,
    },
    /// Run the whole pipeline with built-in synthetic cameras and an embedded
    /// MQTT broker, and show what it does. Needs no camera and no broker.
    Demo {
        #[arg(long, default_value_t = 2)]
        cameras: usize,
        /// Stop after this many seconds (0: run until Ctrl-C).
        #[arg(long, default_value_t = 0)]
        seconds: u64,
        /// Frames per second delivered per camera.
        #[arg(long, default_value_t = 5.0)]
        fps: f64,
        /// Synthetic camera size and rate, WIDTHxHEIGHT@FPS.
        #[arg(long, default_value = "1280x720@15")]
        source: String,
        /// Where to write a few received JPEGs.
        #[arg(long, default_value = "demo-frames")]
        out: PathBuf,
        /// Use this MQTT broker (mqtt://host:port) instead of the embedded one.
        #[arg(long)]
        broker: Option<String>,
    },
    /// Validate a configuration file; exit non-zero with the offending key
    /// and line.
    CheckConfig { file: PathBuf },
    /// List the decoders found on this box and which one would be used.
    Probe {
        #[arg(long)]
        json: bool,
    },
    /// Decode a bitstream with one decoder backend and report what came
    /// out: checks a hardware decoder without a camera.
    Decode {
        /// A file (Annex B H.264, concatenated FWHT frames) or
        /// synthetic:WIDTHxHEIGHT@FPS (the built-in H.264 clip).
        #[arg(long, default_value = "synthetic:1280x720@15")]
        input: String,
        /// h264, hevc, mjpeg or fwht.
        #[arg(long, default_value = "h264")]
        codec: String,
        /// auto, software, v4l2m2m or gstreamer.
        #[arg(long, default_value = "auto")]
        decoder: String,
        /// The V4L2 M2M device (default: probed).
        #[arg(long)]
        device: Option<PathBuf>,
        /// The GStreamer decoder element (default: the first found).
        #[arg(long)]
        gst_element: Option<String>,
        /// Write the pictures here, packed I420, one after the other.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Subscribe to a broker and print one line per message, checking
    /// frames (JPEG decodes, raw sizes).
    Subscribe {
        #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
        url: String,
        #[arg(long, short, default_value = "edgecam/#")]
        topic: Vec<String>,
        /// Stop after this many frames (0: no limit).
        #[arg(long, default_value_t = 0)]
        count: u64,
        /// Stop after this many seconds (0: no limit).
        #[arg(long, default_value_t = 0.0)]
        seconds: f64,
        /// Write each frame's payload into this directory.
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// Publish one message (QoS 1), e.g. camera settings to
    /// edgecam/<device>/<camera>/set.
    Publish {
        #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
        url: String,
        #[arg(long, short)]
        topic: String,
        #[arg(long, short)]
        message: String,
    },
    /// Run the embedded MQTT broker on 127.0.0.1 (for tests).
    #[command(hide = true)]
    Broker {
        #[arg(long, default_value_t = 1883)]
        port: u16,
    },
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => run(config),
        Command::Demo {
            cameras,
            seconds,
            fps,
            source,
            out,
            broker,
        } => runtime().and_then(|rt| {
            rt.block_on(edgecam::demo::run(edgecam::demo::DemoOptions {
                cameras,
                seconds,
                fps,
                source,
                out,
                broker,
            }))
        }),
        Command::CheckConfig { file } => edgecam::config::Config::load(&file)
            .map_err(|e| ConfigInvalid(e).into())
            .map(|c| {
                println!(
                    "{}: OK ({} camera{})",
                    file.display(),
                    c.cameras.len(),
                    if c.cameras.len() == 1 { "" } else { "s" }
                );
            }),
        Command::Probe { json } => {
            probe(json);
            Ok(())
        }
        Command::Decode {
            input,
            codec,
            decoder,
            device,
            gst_element,
            output,
        } => decode(input, &codec, &decoder, device, gst_element, output),
        Command::Subscribe {
            url,
            topic,
            count,
            seconds,
            save,
        } => subscribe(&url, topic, count, seconds, save),
        Command::Publish {
            url,
            topic,
            message,
        } => publish(&url, &topic, &message),
        Command::Broker { port } => edgecam::tools::broker(port),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgecam: {e:#}");
            if e.is::<ConfigInvalid>() {
                ExitCode::from(78)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn init_logging() {
    use tracing_subscriber::filter::Targets;
    // `EDGECAM_LOG=debug` or `info,edgecam::source=debug`. The demo's
    // embedded broker logs every client connect and disconnect: off.
    let filter: Targets = std::env::var("EDGECAM_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| "info,rumqttd=off".parse().expect("a valid default filter"));
    // Under systemd, journald adds its own timestamps.
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    if under_journald {
        builder
            .without_time()
            .with_ansi(false)
            .finish()
            .with(filter)
            .init();
    } else {
        builder.finish().with(filter).init();
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("edgecam-io")
        .enable_all()
        .build()?)
}

fn run(config_path: PathBuf) -> anyhow::Result<()> {
    let config = edgecam::config::Config::load(&config_path).map_err(ConfigInvalid)?;
    let rt = runtime()?;
    rt.block_on(async {
        let service = edgecam::service::Service::start(config, Some(config_path.clone())).await?;
        let cameras = service.cameras().len();
        tracing::info!(cameras, "edgecam running");
        // Ready once cameras are started; the broker and cameras connect in
        // the background (waiting for them would turn an outage into a
        // failed start and a restart loop).
        let notifier = edgecam::health::sd_notify::Notifier::from_env().map(std::sync::Arc::new);
        if let Some(n) = &notifier {
            n.ready(&format!("{cameras} cameras starting"));
            tokio::spawn(edgecam::health::watchdog::run(
                service.shared.clone(),
                n.clone(),
            ));
        }
        wait_for_shutdown_signal().await;
        tracing::info!("shutting down");
        if let Some(n) = &notifier {
            n.stopping();
        }
        service.shutdown().await;
        Ok(())
    })
}

/// A configuration that does not validate: exit 78 (EX_CONFIG), which the
/// systemd unit does not restart on.
#[derive(Debug)]
struct ConfigInvalid(anyhow::Error);

impl std::fmt::Display for ConfigInvalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for ConfigInvalid {}

async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn decode(
    input: String,
    codec: &str,
    decoder: &str,
    device: Option<PathBuf>,
    gst_element: Option<String>,
    output: Option<PathBuf>,
) -> anyhow::Result<()> {
    use edgecam::config::DecoderChoice;
    let codec = edgecam::decode::v4l2m2m::Codec::parse(codec)
        .ok_or_else(|| anyhow::anyhow!("--codec {codec:?}: expected h264, hevc, mjpeg or fwht"))?;
    let decoder = match decoder {
        "auto" => DecoderChoice::Auto,
        "software" => DecoderChoice::Software,
        "v4l2m2m" => DecoderChoice::V4l2m2m,
        "gstreamer" => DecoderChoice::Gstreamer,
        other => {
            anyhow::bail!("--decoder {other:?}: expected auto, software, v4l2m2m or gstreamer")
        }
    };
    let report = edgecam::tools::decode::run(edgecam::tools::decode::DecodeOptions {
        input,
        codec,
        decoder,
        device,
        gst_element,
        output,
    })?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    anyhow::ensure!(report.pictures > 0, "no picture decoded");
    Ok(())
}

/// host and port of an `mqtt://` URL.
fn mqtt_endpoint(url: &str) -> anyhow::Result<(String, u16)> {
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("--url {url}: {e}"))?;
    anyhow::ensure!(
        parsed.scheme() == "mqtt",
        "--url: only mqtt:// is supported here"
    );
    Ok((
        parsed.host_str().unwrap_or("127.0.0.1").to_string(),
        parsed.port().unwrap_or(1883),
    ))
}

fn publish(url: &str, topic: &str, message: &str) -> anyhow::Result<()> {
    let (host, port) = mqtt_endpoint(url)?;
    runtime()?.block_on(edgecam::tools::subscribe::publish(
        &host, port, topic, message,
    ))
}

fn subscribe(
    url: &str,
    topics: Vec<String>,
    count: u64,
    seconds: f64,
    save: Option<PathBuf>,
) -> anyhow::Result<()> {
    let (host, port) = mqtt_endpoint(url)?;
    let opts = edgecam::tools::subscribe::SubscribeOptions {
        host,
        port,
        topics,
        count,
        seconds,
        save,
    };
    runtime()?.block_on(edgecam::tools::subscribe::run(opts))
}

fn probe(json: bool) {
    let factory = edgecam::decode::probe::DecoderFactory::probe();
    let report = factory.report();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
        return;
    }
    println!("decoder backends:");
    for b in &report.backends {
        let mark = if b.available { "yes" } else { "no " };
        let dev = b
            .device
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        println!("  {mark} {}{dev}: {}", b.backend, b.reason);
    }
    println!(
        "decoder = \"auto\" uses: {} ({})",
        report.auto_choice, report.auto_reason
    );
    if !report.video_nodes.is_empty() {
        println!("video nodes:");
        for n in &report.video_nodes {
            let kind = n
                .kind
                .map(|k| format!("{k:?}").to_lowercase())
                .unwrap_or_else(|| n.error.clone().unwrap_or_default());
            let id = n
                .stable_id
                .as_deref()
                .map(|id| format!(" (source = \"usb:{id}\")"))
                .unwrap_or_default();
            println!("  {} {}: {kind}{id}", n.device, n.name);
        }
    }
}
