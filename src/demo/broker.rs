//! An MQTT 5 broker inside the process (rumqttd), so `edgecam demo` needs
//! nothing installed. Bounded: its commit log is capped at a few segments.

#[cfg(feature = "demo-broker")]
use std::net::{SocketAddr, TcpListener};

/// Starts the broker on 127.0.0.1 on a free port; returns the port.
#[cfg(feature = "demo-broker")]
pub fn start() -> anyhow::Result<u16> {
    let port = free_port()?;
    start_on(port)?;
    Ok(port)
}

/// Starts the broker on 127.0.0.1:`port` (`edgecam broker`, VM tests).
#[cfg(feature = "demo-broker")]
pub fn start_on(port: u16) -> anyhow::Result<()> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let config_text = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 64
max_outgoing_packet_count = 200
max_segment_size = 8388608
max_segment_count = 4

[v5.1]
name = "demo-v5"
listen = "{addr}"
next_connection_delay_ms = 1
[v5.1.connections]
connection_timeout_ms = 60000
max_payload_size = 8388608
max_inflight_count = 100
"#
    );
    let config: rumqttd::Config = toml::from_str(&config_text)?;
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new()
        .name("demo-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!("embedded broker stopped: {e}");
            }
        })?;
    // Wait until it accepts connections.
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    anyhow::bail!("the embedded broker did not start listening on {addr}")
}

#[cfg(not(feature = "demo-broker"))]
const NO_BROKER: &str = "this edgecam was built without the embedded demo broker (feature demo-broker, which \
     `make demo` and the VM tests turn on); run `edgecam demo --broker mqtt://127.0.0.1:1883` against a broker you have";

/// This build has no embedded broker.
#[cfg(not(feature = "demo-broker"))]
pub fn start() -> anyhow::Result<u16> {
    anyhow::bail!(NO_BROKER)
}

/// This build has no embedded broker.
#[cfg(not(feature = "demo-broker"))]
pub fn start_on(_port: u16) -> anyhow::Result<()> {
    anyhow::bail!(NO_BROKER)
}

#[cfg(feature = "demo-broker")]
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}
