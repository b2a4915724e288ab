//! The MQTT 5 client: connection options, the event loop task, and the
//! frame sink the cameras publish through.
//!
//! rumqttc has two traps for a video publisher, both handled here:
//! * its default maximum packet size is 10 KiB — frames are far larger, so
//!   the limit comes from `mqtt.max_packet_bytes`;
//! * publishing with `.await` from the task that polls the event loop
//!   deadlocks once the request channel is full. The event loop runs on its
//!   own task, and frames are offered with `try_publish`: a full channel
//!   becomes a counted `mqtt_backpressure` drop, never a stalled camera.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{LastWill, Packet, Publish, PublishProperties};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use tokio::sync::{Notify, mpsc};

use super::topics::Topics;
use super::{FrameMeta, FrameSink, Refused};
use crate::config::{MqttConfig, OutputFormat};
use crate::pool::PooledBuf;
use crate::source::backoff::Backoff;

/// Connection state shared with the status publisher and health checks.
#[derive(Default)]
pub struct LinkState {
    connected: AtomicBool,
    /// Completed connections (first connect included).
    pub connects: AtomicU64,
    /// Signalled on every (re)connection: retained state must be republished.
    pub on_connect: Notify,
    /// Set before a deliberate disconnect, so it is not logged as a failure.
    pub closing: AtomicBool,
}

impl LinkState {
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// For measuring the publish path without a broker.
    #[doc(hidden)]
    pub fn set_connected_for_test(&self) {
        self.connected.store(true, Ordering::Relaxed);
    }
}

/// Builds the client options. `password` is resolved by the caller (it may
/// come from a file).
pub fn options(
    cfg: &MqttConfig,
    device_id: &str,
    topics: &Topics,
    password: Option<String>,
) -> anyhow::Result<MqttOptions> {
    let url = url::Url::parse(&cfg.url)?;
    let tls = matches!(url.scheme(), "mqtts" | "ssl");
    let host = url
        .host_str()
        .unwrap_or("localhost")
        .trim_matches(['[', ']'])
        .to_string();
    let port = url.port().unwrap_or(if tls { 8883 } else { 1883 });
    let client_id = cfg
        .client_id
        .clone()
        .unwrap_or_else(|| format!("edgecam-{device_id}"));
    let mut opts = MqttOptions::new(client_id, host, port);
    opts.set_keep_alive(Duration::from_secs(cfg.keep_alive_s));
    opts.set_clean_start(true);
    opts.set_max_packet_size(Some(cfg.max_packet_bytes as u32));
    opts.set_request_channel_capacity(cfg.queue_frames);
    opts.set_connection_timeout(10);
    opts.set_last_will(LastWill::new(
        topics.device_status(),
        "offline",
        QoS::AtLeastOnce,
        true,
        None,
    ));
    if let Some(user) = &cfg.username {
        opts.set_credentials(user.clone(), password.unwrap_or_default());
    }
    if tls {
        let config = match &cfg.ca_file {
            Some(path) => TlsConfiguration::Simple {
                ca: std::fs::read(path).map_err(|e| anyhow::anyhow!("mqtt.ca_file {path}: {e}"))?,
                alpn: None,
                client_auth: None,
            },
            None => TlsConfiguration::default(),
        };
        opts.set_transport(Transport::tls_with_config(config));
    }
    Ok(opts)
}

/// Creates the client and its event loop (to be driven by [`drive`]).
pub fn client(opts: MqttOptions, queue: usize) -> (AsyncClient, EventLoop) {
    AsyncClient::new(opts, queue)
}

/// Polls the event loop forever: tracks the connection, reconnects with
/// backoff, and forwards incoming publishes (commands) to `incoming`.
pub async fn drive(
    mut eventloop: EventLoop,
    link: Arc<LinkState>,
    incoming: mpsc::Sender<Publish>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff.reset();
                link.connected.store(true, Ordering::Relaxed);
                link.connects.fetch_add(1, Ordering::Relaxed);
                tracing::info!("mqtt connected");
                // One consumer (the state publisher): a stored permit is
                // enough, even if it is busy right now.
                link.on_connect.notify_one();
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if incoming.try_send(p).is_err() {
                    tracing::warn!("command queue full; an incoming MQTT message was dropped");
                }
            }
            Ok(Event::Incoming(Packet::Disconnect(d))) => {
                link.connected.store(false, Ordering::Relaxed);
                tracing::warn!(reason = ?d.reason_code, "broker closed the MQTT session");
            }
            Ok(_) => {}
            Err(e) => {
                let was = link.connected.swap(false, Ordering::Relaxed);
                if link.closing.load(Ordering::Relaxed) {
                    return;
                }
                let delay = backoff.next_delay();
                if was || backoff.attempt() <= 1 {
                    tracing::warn!(error = %describe(&e), retry_in_ms = delay.as_millis() as u64, "mqtt connection lost");
                } else {
                    tracing::debug!(error = %describe(&e), retry_in_ms = delay.as_millis() as u64, "mqtt reconnect failed");
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn describe(e: &ConnectionError) -> String {
    crate::source::redact_url(&e.to_string())
}

/// The cameras' way out: non-blocking publishes with metadata as MQTT 5
/// properties.
pub struct MqttFrameSink {
    client: AsyncClient,
    link: Arc<LinkState>,
}

impl MqttFrameSink {
    pub fn new(client: AsyncClient, link: Arc<LinkState>) -> Self {
        MqttFrameSink { client, link }
    }
}

/// The properties of a frame message. The MQTT client needs owned strings,
/// so this allocates; it is measured per publish in tests/alloc_free.rs.
pub fn frame_properties(meta: &FrameMeta) -> PublishProperties {
    let mut user = vec![
        ("seq".to_string(), meta.seq.to_string()),
        ("ts_ns".to_string(), meta.capture_ns.to_string()),
        ("width".to_string(), meta.width.to_string()),
        ("height".to_string(), meta.height.to_string()),
        ("format".to_string(), meta.format.as_str().to_string()),
    ];
    if meta.format != OutputFormat::Jpeg {
        user.push(("stride".to_string(), meta.stride.to_string()));
    }
    PublishProperties {
        content_type: Some(meta.format.content_type().to_string()),
        user_properties: user,
        ..Default::default()
    }
}

impl FrameSink for MqttFrameSink {
    fn ready(&self) -> bool {
        self.link.is_connected()
    }

    fn publish_frame(
        &self,
        frame_topic: &str,
        payload: PooledBuf,
        meta: &FrameMeta,
    ) -> Result<(), Refused> {
        // The pooled buffer itself is the payload: no copy, and it returns to
        // its pool when the event loop has written it out.
        let payload = Bytes::from_owner(payload);
        self.client
            .try_publish_with_properties(
                frame_topic,
                QoS::AtMostOnce,
                false,
                payload,
                frame_properties(meta),
            )
            .map_err(|_| Refused::Backpressure)
    }
}
