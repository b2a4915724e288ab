//! `edgecam subscribe`: a small MQTT 5 subscriber that understands edgecam's
//! frames, for boxes without mosquitto-clients (and for the VM tests).
//!
//! One line per message on stdout:
//! ```text
//! FRAME edgecam/box1/cam0/frame seq=12 bytes=48211 format=jpeg width=640 height=480 ts_ns=... jpeg=640x480
//! MSG edgecam/box1/cam0/status retained=true {"state":"online",...}
//! ```
//! JPEG payloads are decoded to check they are whole (`jpeg=WxH`, or
//! `jpeg=bad:<reason>`); raw payloads are checked against their size.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

pub struct SubscribeOptions {
    pub host: String,
    pub port: u16,
    pub topics: Vec<String>,
    /// Stop after this many frames (0: no limit).
    pub count: u64,
    /// Stop after this long (0: no limit).
    pub seconds: f64,
    /// Write each frame's payload here as `<camera>-<seq>.<ext>`.
    pub save: Option<PathBuf>,
}

pub async fn run(opts: SubscribeOptions) -> anyhow::Result<()> {
    if let Some(dir) = &opts.save {
        std::fs::create_dir_all(dir)?;
    }
    let id = format!("edgecam-subscribe-{}", std::process::id());
    let mut mqtt = MqttOptions::new(id, opts.host.clone(), opts.port);
    mqtt.set_max_packet_size(Some(64 * 1024 * 1024));
    mqtt.set_keep_alive(Duration::from_secs(15));
    let (client, mut eventloop) = AsyncClient::new(mqtt, 64);
    for t in &opts.topics {
        client.subscribe(t.clone(), QoS::AtMostOnce).await?;
    }
    let started = Instant::now();
    let deadline = (opts.seconds > 0.0).then(|| started + Duration::from_secs_f64(opts.seconds));
    let mut frames = 0u64;
    let mut bytes = 0u64;
    let mut out = std::io::stdout();
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            break;
        }
        let polled = match left {
            Some(l) => match tokio::time::timeout(l, eventloop.poll()).await {
                Ok(p) => p,
                Err(_) => break,
            },
            None => eventloop.poll().await,
        };
        match polled {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let line = describe(&p, opts.save.as_ref());
                if line.starts_with("FRAME") {
                    frames += 1;
                    bytes += p.payload.len() as u64;
                }
                writeln!(out, "{line}")?;
                out.flush()?;
                if opts.count > 0 && frames >= opts.count {
                    break;
                }
            }
            Ok(_) => {}
            // Broker not up yet, or gone: keep trying until the deadline.
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    writeln!(
        out,
        "SUMMARY frames={frames} bytes={bytes} seconds={:.1}",
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}

fn prop<'a>(p: &'a Publish, key: &str) -> Option<&'a str> {
    p.properties
        .as_ref()?
        .user_properties
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn describe(p: &Publish, save: Option<&PathBuf>) -> String {
    let topic = String::from_utf8_lossy(&p.topic).to_string();
    if !topic.ends_with("/frame") {
        let text = String::from_utf8_lossy(&p.payload);
        let text: String = text.chars().take(600).collect();
        return format!("MSG {topic} retained={} {text}", p.retain);
    }
    let get = |k: &str| prop(p, k).unwrap_or("?");
    let format = get("format");
    let check = match format {
        "jpeg" => match turbojpeg::decompress(&p.payload, turbojpeg::PixelFormat::GRAY) {
            Ok(img) => format!("jpeg={}x{}", img.width, img.height),
            Err(e) => format!("jpeg=bad:{}", e.to_string().replace(' ', "_")),
        },
        _ => {
            let w: usize = get("width").parse().unwrap_or(0);
            let h: usize = get("height").parse().unwrap_or(0);
            let want = crate::convert::frame_bytes(w, h);
            if p.payload.len() == want {
                format!("raw={w}x{h}")
            } else {
                format!("raw=bad:{}_bytes_for_{w}x{h}", p.payload.len())
            }
        }
    };
    if let Some(dir) = save {
        let camera = topic.rsplit('/').nth(1).unwrap_or("camera");
        let ext = if format == "jpeg" { "jpg" } else { format };
        let _ = std::fs::write(
            dir.join(format!("{camera}-{}.{ext}", get("seq"))),
            &p.payload,
        );
    }
    format!(
        "FRAME {topic} seq={} bytes={} format={format} width={} height={} ts_ns={} {check}",
        get("seq"),
        p.payload.len(),
        get("width"),
        get("height"),
        get("ts_ns"),
    )
}

/// Publishes one message (QoS 1) and waits for the broker to acknowledge
/// it: `edgecam publish`, for sending settings without mosquitto_pub.
pub async fn publish(host: &str, port: u16, topic: &str, payload: &str) -> anyhow::Result<()> {
    let id = format!("edgecam-publish-{}", std::process::id());
    let mut mqtt = MqttOptions::new(id, host, port);
    mqtt.set_keep_alive(Duration::from_secs(15));
    let (client, mut eventloop) = AsyncClient::new(mqtt, 8);
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
        .await?;
    let acked = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(anyhow::anyhow!("{host}:{port}: {e}")),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), acked)
        .await
        .map_err(|_| anyhow::anyhow!("{host}:{port}: no acknowledgement within 10 s"))??;
    let _ = client.disconnect().await;
    Ok(())
}
