//! Real servers for integration tests: mosquitto, GStreamer's RTSP server
//! (tests/fixtures/rtsp_server.py), the edgecam binary itself, and an MQTT 5
//! subscriber. Everything listens on 127.0.0.1 with free ports and is killed
//! on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{Client, Event, MqttOptions};

/// What cameras decode with in these tests: openh264 in the static build;
/// the GStreamer build variant runs the same tests through its backend
/// (libavcodec's avdec_h264, from Debian's gstreamer1.0-libav).
pub const EXPECTED_DECODER: &str = if cfg!(feature = "gstreamer") {
    "gstreamer avdec_h264 (libavcodec H.264 (software))"
} else {
    "openh264 (software)"
};

/// The configuration as the test wrote it, switched to the GStreamer
/// backend in the GStreamer build variant (avdec_h264 named explicitly, so
/// the tests do not depend on which other plugins the host has).
pub fn with_test_decoder(config: &str) -> String {
    if !cfg!(feature = "gstreamer") {
        return config.to_string();
    }
    let defaults = "[defaults]\n";
    let config = match config.find(defaults) {
        Some(_) => config.replacen(defaults, "[defaults]\ndecoder = \"gstreamer\"\n", 1),
        None => format!("{config}\n[defaults]\ndecoder = \"gstreamer\"\n"),
    };
    format!("{config}\n[decoder]\ngst_element = \"avdec_h264\"\n")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// An H.264 test clip with the frame-index barcode (cached in target/).
pub fn clip(width: u32, height: u32, fps: u32, seconds: u32, gop: u32) -> PathBuf {
    let dir = repo().join("target/fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!(
        "clip-{width}x{height}-{fps}fps-{seconds}s-gop{gop}.h264"
    ));
    let status = Command::new("bash")
        .arg(repo().join("tests/fixtures/make_clip.sh"))
        .arg(&out)
        .args([width, height, fps, seconds, gop].map(|v| v.to_string()))
        .arg("1M")
        .stdout(Stdio::null())
        .status()
        .expect("run make_clip.sh");
    assert!(status.success(), "make_clip.sh failed");
    out
}

fn kill(child: &mut Child, signal: i32) {
    // SAFETY: kill(2) on a pid we own.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

pub struct Mosquitto {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Mosquitto {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (apt install mosquitto)");
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "mosquitto did not listen on {port}"
        );
        Mosquitto {
            port,
            child,
            _dir: dir,
        }
    }

    pub fn kill(&mut self) {
        kill(&mut self.child, libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct RtspServer {
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl RtspServer {
    /// `mounts`: (name, clip). `extra`: more rtsp_server.py arguments.
    pub fn start(mounts: &[(&str, &Path)], extra: &[&str]) -> RtspServer {
        let mut args = Vec::new();
        for (name, clip) in mounts {
            args.push("--mount".to_string());
            args.push(format!("{name}={}", clip.display()));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut s = RtspServer {
            port: free_port(),
            args,
            child: None,
        };
        s.restart();
        s
    }

    pub fn url(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{mount}", self.port)
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill(&mut c, libc::SIGKILL);
            let _ = c.wait();
        }
    }

    /// (Re)starts on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let mut child = Command::new("/usr/bin/python3")
            .arg(repo().join("tests/fixtures/rtsp_server.py"))
            .arg("--port")
            .arg(self.port.to_string())
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("rtsp_server.py (apt install python3-gi gir1.2-gst-rtsp-server-1.0)");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut line).unwrap();
        assert!(
            line.starts_with("READY"),
            "rtsp server did not start: {line:?}"
        );
        // Keep draining its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        self.child = Some(child);
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The edgecam binary running `run --config`.
pub struct Edgecam {
    pub child: Child,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Edgecam {
    pub fn run(config: &str) -> Edgecam {
        Self::run_with_env(config, &[])
    }

    pub fn run_with_env(config: &str, env: &[(&str, &str)]) -> Edgecam {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("edgecam.toml");
        std::fs::write(&conf, with_test_decoder(config)).unwrap();
        let log = dir.path().join("edgecam.log");
        let child = Command::new(env!("CARGO_BIN_EXE_edgecam"))
            .args(["run", "--config"])
            .arg(&conf)
            .env("EDGECAM_LOG", "debug,rumqttc=info,retina=info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Edgecam {
            child,
            log,
            _dir: dir,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self._dir.path().join("edgecam.toml")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    pub fn signal(&mut self, signal: i32) {
        kill(&mut self.child, signal);
    }

    /// SIGTERM and wait; returns how long the exit took.
    pub fn terminate(&mut self) -> Duration {
        let t = Instant::now();
        self.signal(libc::SIGTERM);
        let end = t + Duration::from_secs(10);
        while Instant::now() < end {
            if self.child.try_wait().unwrap().is_some() {
                return t.elapsed();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("edgecam did not exit within 10 s of SIGTERM");
    }
}

impl Drop for Edgecam {
    fn drop(&mut self) {
        kill(&mut self.child, libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// One message as a subscriber saw it.
#[derive(Clone, Debug)]
pub struct Message {
    pub topic: String,
    pub correlation: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub retain: bool,
    pub user: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub received: Instant,
    pub received_ns: i64,
}

impl Message {
    pub fn prop(&self, key: &str) -> Option<&str> {
        self.user
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn prop_i64(&self, key: &str) -> i64 {
        self.prop(key)
            .unwrap_or_else(|| panic!("no {key} property"))
            .parse()
            .unwrap()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).to_string()
    }
}

pub struct Subscriber {
    pub messages: Arc<Mutex<Vec<Message>>>,
    client: Client,
}

impl Subscriber {
    pub fn connect(port: u16, filters: &[&str]) -> Subscriber {
        let id = format!("test-sub-{}", free_port());
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        opts.set_max_packet_size(Some(32 * 1024 * 1024));
        opts.set_keep_alive(Duration::from_secs(30));
        let (client, mut connection) = Client::new(opts, 64);
        for f in filters {
            client.subscribe(*f, QoS::AtMostOnce).unwrap();
        }
        let messages: Arc<Mutex<Vec<Message>>> = Arc::default();
        let sink = Arc::clone(&messages);
        std::thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let props = p.properties.clone().unwrap_or_default();
                        sink.lock().unwrap().push(Message {
                            topic: String::from_utf8_lossy(&p.topic).to_string(),
                            correlation: props.correlation_data.as_ref().map(|c| c.to_vec()),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                            user: props.user_properties,
                            content_type: props.content_type,
                            received: Instant::now(),
                            received_ns: edgecam::clock::now_ns(),
                        });
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        Subscriber { messages, client }
    }

    pub fn on(&self, topic: &str) -> Vec<Message> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.topic == topic)
            .cloned()
            .collect()
    }

    /// Waits until `pred` holds for the messages on `topic`.
    pub fn wait_for(
        &self,
        topic: &str,
        timeout: Duration,
        pred: impl Fn(&[Message]) -> bool,
    ) -> Vec<Message> {
        let end = Instant::now() + timeout;
        loop {
            let msgs = self.on(topic);
            if pred(&msgs) {
                return msgs;
            }
            assert!(
                Instant::now() < end,
                "timed out waiting on {topic}: {} messages, last {:?}",
                msgs.len(),
                msgs.last()
                    .map(|m| m.text().chars().take(300).collect::<String>())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Publishes a command, optionally as an MQTT 5 request (response topic
    /// and correlation data).
    pub fn request(&self, topic: &str, payload: &[u8], response: Option<(&str, &[u8])>) {
        let props = rumqttc::v5::mqttbytes::v5::PublishProperties {
            response_topic: response.map(|r| r.0.to_string()),
            correlation_data: response.map(|r| bytes::Bytes::copy_from_slice(r.1)),
            ..Default::default()
        };
        self.client
            .publish_with_properties(topic, QoS::AtLeastOnce, false, payload.to_vec(), props)
            .unwrap();
    }

    pub fn all(&self) -> Vec<Message> {
        self.messages.lock().unwrap().clone()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
    }
}

/// Decodes a JPEG to its luma plane: (width, height, luma).
pub fn jpeg_luma(jpeg: &[u8]) -> (usize, usize, Vec<u8>) {
    let img = turbojpeg::decompress(jpeg, turbojpeg::PixelFormat::GRAY).expect("a valid JPEG");
    let luma = img
        .pixels
        .chunks(img.pitch)
        .take(img.height)
        .flat_map(|row| &row[..img.width])
        .copied()
        .collect();
    (img.width, img.height, luma)
}

/// Retained value of `topic` as a brand-new subscriber sees it.
pub fn retained(port: u16, topic: &str) -> Option<String> {
    let sub = Subscriber::connect(port, &[topic]);
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        if let Some(m) = sub.on(topic).into_iter().find(|m| m.retain) {
            return Some(m.text());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
