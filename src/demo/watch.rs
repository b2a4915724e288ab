//! The demo's own detector stand-in: subscribes to the frames like a real
//! consumer would, measures what arrives, and keeps a few JPEGs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

use crate::stats::Histogram;

#[derive(Default, Clone)]
pub struct Received {
    /// When the first frame arrived.
    pub first_at: Option<std::time::Instant>,
    pub frames: u64,
    pub bytes: u64,
    /// Gaps in `seq`: frames that were lost between edgecam and here.
    pub missing: u64,
    pub last_seq: Option<u64>,
    pub latency: Histogram,
    pub width: u32,
    pub height: u32,
    pub saved: Vec<PathBuf>,
}

pub type Board = Arc<Mutex<BTreeMap<String, Received>>>;

/// Subscribes to `<prefix>/<device>/+/frame` and records into the board.
pub async fn watch(
    host: &str,
    port: u16,
    filter: String,
    out: PathBuf,
    keep_per_camera: usize,
) -> anyhow::Result<Board> {
    std::fs::create_dir_all(&out)?;
    let mut opts = MqttOptions::new("edgecam-demo-watcher", host, port);
    opts.set_max_packet_size(Some(16 * 1024 * 1024));
    opts.set_keep_alive(Duration::from_secs(15));
    let (client, mut eventloop) = AsyncClient::new(opts, 16);
    client.subscribe(filter, QoS::AtMostOnce).await?;
    let board: Board = Arc::default();
    let board2 = Arc::clone(&board);
    tokio::spawn(async move {
        let _client = client;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    record(&board2, &p, &out, keep_per_camera)
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    Ok(board)
}

fn record(
    board: &Board,
    p: &rumqttc::v5::mqttbytes::v5::Publish,
    out: &std::path::Path,
    keep: usize,
) {
    let topic = String::from_utf8_lossy(&p.topic);
    let mut levels = topic.rsplit('/');
    let (_frame, camera) = (levels.next(), levels.next().unwrap_or("?").to_string());
    let prop = |k: &str| {
        p.properties
            .as_ref()
            .and_then(|props| props.user_properties.iter().find(|(key, _)| key == k))
            .and_then(|(_, v)| v.parse::<i64>().ok())
    };
    let now = crate::clock::now_ns();
    let mut board = board.lock().unwrap_or_else(|e| e.into_inner());
    let r = board.entry(camera.clone()).or_default();
    r.frames += 1;
    r.first_at.get_or_insert_with(std::time::Instant::now);
    r.bytes += p.payload.len() as u64;
    if let Some(ts) = prop("ts_ns") {
        r.latency.record_us(((now - ts).max(0) / 1000) as u64);
    }
    if let Some(seq) = prop("seq") {
        let seq = seq as u64;
        if let Some(last) = r.last_seq
            && seq > last + 1
        {
            r.missing += seq - last - 1;
        }
        r.last_seq = Some(seq);
    }
    r.width = prop("width").unwrap_or(0) as u32;
    r.height = prop("height").unwrap_or(0) as u32;
    if r.saved.len() < keep {
        let path = out.join(format!("{camera}-{:04}.jpg", r.frames));
        if std::fs::write(&path, &p.payload).is_ok() {
            r.saved.push(path);
        }
    }
}
