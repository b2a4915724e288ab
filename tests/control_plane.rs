//! The MQTT control plane through a real broker: settings, snapshots,
//! runtime cameras, reload, and a corpus of malformed commands that must get
//! error replies while the service carries on unharmed.

mod common;

use std::time::Duration;

use common::*;

fn config(port: u16, cameras: &str) -> String {
    format!(
        "[device]\nid = \"box1\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\nstats_interval_s = 1\n[pressure]\nenabled = false\n{cameras}"
    )
}

const SYN: &str = "[[camera]]\nname = \"syn\"\nsource = \"synthetic:320x180@15\"\nfps = 5\n";

fn wait_frames(sub: &Subscriber, camera: &str, more: usize) {
    let topic = format!("edgecam/box1/{camera}/frame");
    let have = sub.on(&topic).len();
    sub.wait_for(&topic, Duration::from_secs(30), |m| m.len() >= have + more);
}

/// Sends a request and returns its reply (matched by correlation data).
fn ask(sub: &Subscriber, topic: &str, payload: &[u8], id: &str) -> serde_json::Value {
    sub.request(topic, payload, Some(("test/replies", id.as_bytes())));
    let replies = sub.wait_for("test/replies", Duration::from_secs(15), |m| {
        m.iter()
            .any(|m| m.correlation.as_deref() == Some(id.as_bytes()))
    });
    let reply = replies
        .iter()
        .find(|m| m.correlation.as_deref() == Some(id.as_bytes()))
        .unwrap();
    json(&reply.text())
}

#[test]
fn settings_snapshot_and_runtime_cameras() {
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port, &["edgecam/#", "test/#"]);
    let mut edgecam = Edgecam::run(&config(broker.port, SYN));
    wait_frames(&sub, "syn", 5);

    // fps: applied, echoed retained, and the stream follows.
    let r = ask(&sub, "edgecam/box1/syn/set", br#"{"fps":2}"#, "fps");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["state"]["fps"], 2.0);
    assert_eq!(
        r["state"]["auto"], false,
        "a manual setting pins the camera"
    );
    let state = json(&retained(broker.port, "edgecam/box1/syn/state").unwrap());
    assert_eq!(state["fps"], 2.0, "{state}");
    wait_frames(&sub, "syn", 8);
    let frames = sub.on("edgecam/box1/syn/frame");
    let last: Vec<i64> = frames[frames.len() - 5..]
        .iter()
        .map(|m| m.prop_i64("ts_ns"))
        .collect();
    for w in last.windows(2) {
        let gap_ms = (w[1] - w[0]) / 1_000_000;
        assert!(
            (400..=600).contains(&gap_ms),
            "frames {gap_ms} ms apart at 2 fps"
        );
    }

    // Size and quality.
    let r = ask(
        &sub,
        "edgecam/box1/syn/set",
        br#"{"width":160,"height":90,"quality":60}"#,
        "size",
    );
    assert_eq!(r["ok"], true, "{r}");
    wait_frames(&sub, "syn", 3);
    let m = sub.on("edgecam/box1/syn/frame").pop().unwrap();
    assert_eq!(jpeg_luma(&m.payload).0, 160);

    // Release the pin.
    let r = ask(&sub, "edgecam/box1/syn/set", br#"{"auto":true}"#, "auto");
    assert_eq!(r["state"]["auto"], true, "{r}");

    // Snapshot: full resolution, answered on the response topic with the
    // correlation data.
    sub.request(
        "edgecam/box1/syn/snapshot",
        b"",
        Some(("test/snap", b"snap-1")),
    );
    let snap = sub.wait_for("test/snap", Duration::from_secs(15), |m| !m.is_empty());
    assert_eq!(snap[0].correlation.as_deref(), Some(&b"snap-1"[..]));
    assert_eq!(snap[0].content_type.as_deref(), Some("image/jpeg"));
    let (w, h, _) = jpeg_luma(&snap[0].payload);
    assert_eq!((w, h), (320, 180), "snapshots are full resolution");
    // Without a response topic it lands on …/snapshot/result.
    sub.request("edgecam/box1/syn/snapshot", b"{}", None);
    sub.wait_for(
        "edgecam/box1/syn/snapshot/result",
        Duration::from_secs(15),
        |m| !m.is_empty(),
    );

    // Disable, then enable.
    let r = ask(&sub, "edgecam/box1/syn/set", br#"{"enabled":false}"#, "off");
    assert_eq!(r["ok"], true, "{r}");
    sub.wait_for("edgecam/box1/syn/status", Duration::from_secs(10), |m| {
        m.last()
            .is_some_and(|m| json(&m.text())["state"] == "offline")
    });
    let r = ask(&sub, "edgecam/box1/syn/set", br#"{"enabled":true}"#, "on");
    assert_eq!(r["ok"], true, "{r}");
    wait_frames(&sub, "syn", 3);

    // Add a camera at run time, see it in the retained list, remove it.
    let r = ask(
        &sub,
        "edgecam/box1/set",
        br#"{"add_camera":{"name":"extra","source":"synthetic:160x96@10","fps":2}}"#,
        "add",
    );
    assert_eq!(r["ok"], true, "{r}");
    wait_frames(&sub, "extra", 3);
    assert_eq!(
        retained(broker.port, "edgecam/box1/cameras").as_deref(),
        Some(r#"["extra","syn"]"#)
    );
    let r = ask(
        &sub,
        "edgecam/box1/set",
        br#"{"add_camera":{"name":"extra","source":"synthetic:"}}"#,
        "dup",
    );
    assert_eq!(r["ok"], false);
    assert!(
        r["error"].as_str().unwrap().contains("already exists"),
        "{r}"
    );
    let r = ask(
        &sub,
        "edgecam/box1/set",
        br#"{"add_camera":{"name":"bad","source":"synthetic:","fps":99}}"#,
        "badfps",
    );
    assert!(
        r["error"].as_str().unwrap().contains("add_camera.fps"),
        "{r}"
    );
    let r = ask(
        &sub,
        "edgecam/box1/set",
        br#"{"remove_camera":"extra"}"#,
        "rm",
    );
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        retained(broker.port, "edgecam/box1/cameras").as_deref(),
        Some(r#"["syn"]"#)
    );
    assert!(edgecam.is_running());
}

#[test]
fn malformed_commands_get_error_replies_and_harm_nothing() {
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port, &["edgecam/#", "test/#"]);
    let mut edgecam = Edgecam::run(&config(broker.port, SYN));
    wait_frames(&sub, "syn", 3);
    let corpus: &[(&str, &[u8], &str)] = &[
        (
            "edgecam/box1/syn/set",
            br#"{"fps":0}"#,
            "fps must be between 0.1 and 60",
        ),
        ("edgecam/box1/syn/set", br#"{"fps":"fast"}"#, "invalid type"),
        ("edgecam/box1/syn/set", br#"{"fsp":2}"#, "unknown field"),
        ("edgecam/box1/syn/set", br#"{"width":641}"#, "even number"),
        ("edgecam/box1/syn/set", br#"{"quality":0}"#, "quality"),
        (
            "edgecam/box1/syn/set",
            br#"{"format":"png"}"#,
            "unknown variant",
        ),
        ("edgecam/box1/syn/set", b"{not json", "invalid command"),
        ("edgecam/box1/syn/set", b"\xff\xfe", "not valid UTF-8"),
        ("edgecam/box1/syn/set", b"", "empty command"),
        ("edgecam/box1/nope/set", br#"{"fps":2}"#, "no camera named"),
        (
            "edgecam/box1/set",
            br#"{"explode":true}"#,
            "unknown variant",
        ),
        (
            "edgecam/box1/set",
            br#"{"remove_camera":"ghost"}"#,
            "no camera named",
        ),
        (
            "edgecam/box1/set",
            br#"{"reload":false}"#,
            "reload must be true",
        ),
    ];
    for (i, (topic, payload, expected)) in corpus.iter().enumerate() {
        let r = ask(&sub, topic, payload, &format!("bad-{i}"));
        assert_eq!(
            r["ok"],
            false,
            "{topic} {:?}: {r}",
            String::from_utf8_lossy(payload)
        );
        assert!(
            r["error"].as_str().unwrap().contains(expected),
            "{:?}: {r}",
            String::from_utf8_lossy(payload)
        );
    }
    // Over 64 KiB.
    let big = format!("{{\"fps\":2,\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
    let r = ask(&sub, "edgecam/box1/syn/set", big.as_bytes(), "big");
    assert!(r["error"].as_str().unwrap().contains("too large"), "{r}");
    // Without a response topic, errors go to …/error.
    sub.request("edgecam/box1/syn/set", br#"{"fps":1000}"#, None);
    sub.wait_for("edgecam/box1/error", Duration::from_secs(10), |m| {
        !m.is_empty()
    });

    // Unharmed: still streaming at the configured rate, settings untouched.
    wait_frames(&sub, "syn", 5);
    let state = json(&retained(broker.port, "edgecam/box1/syn/state").unwrap());
    assert_eq!(state["fps"], 5.0, "{state}");
    assert!(edgecam.is_running());
}

#[test]
fn reload_applies_config_file_changes() {
    let broker = Mosquitto::start();
    let sub = Subscriber::connect(broker.port, &["edgecam/#", "test/#"]);
    let mut edgecam = Edgecam::run(&config(broker.port, SYN));
    wait_frames(&sub, "syn", 3);
    let conf = edgecam.config_path();
    let two = format!(
        "{}[[camera]]\nname = \"more\"\nsource = \"synthetic:160x96@10\"\nfps = 1\n",
        config(broker.port, &SYN.replace("fps = 5", "fps = 3"))
    );
    std::fs::write(&conf, two).unwrap();
    let r = ask(&sub, "edgecam/box1/set", br#"{"reload":true}"#, "reload");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["added"], serde_json::json!(["more"]));
    assert_eq!(r["restarted"], serde_json::json!(["syn"]));
    wait_frames(&sub, "more", 2);
    // A broken file is refused and nothing changes.
    std::fs::write(&conf, "[device]\nid = 3\n").unwrap();
    let r = ask(
        &sub,
        "edgecam/box1/set",
        br#"{"reload":true}"#,
        "reload-bad",
    );
    assert_eq!(r["ok"], false);
    assert!(r["error"].as_str().unwrap().contains("device.id"), "{r}");
    wait_frames(&sub, "more", 1);
    assert!(edgecam.is_running());
}
