//! End to end against real servers: GStreamer's RTSP server serving an
//! H.264 clip with a frame-number barcode, mosquitto, and the edgecam binary.

mod common;

use std::time::Duration;

use common::*;
use edgecam::source::synthetic::read_barcode;

const CLIP_FRAMES: i64 = 150; // 10 s at 15 fps

fn config(broker: u16, cameras: &str) -> String {
    format!(
        "[device]\nid = \"box1\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:{broker}\"\nstats_interval_s = 1\n[pressure]\nenabled = false\n\
         [defaults]\nbackoff_max_s = 4\nstall_timeout_s = 4\n{cameras}"
    )
}

/// Frames of one camera after warm-up, sorted by seq.
fn frames(sub: &Subscriber, camera: &str) -> Vec<Message> {
    let mut f = sub.on(&format!("edgecam/box1/{camera}/frame"));
    f.sort_by_key(|m| m.prop_i64("seq"));
    f
}

#[test]
fn two_cameras_deliver_paced_correct_frames_with_retained_state() {
    let broker = Mosquitto::start();
    let clip = clip(640, 360, 15, 10, 30);
    let open = RtspServer::start(&[("cam0", &clip)], &[]);
    let authed = RtspServer::start(
        &[("cam1", &clip)],
        &["--user", "admin", "--password", "s3cret-pw"],
    );
    let cam1_url = authed
        .url("cam1")
        .replace("rtsp://", "rtsp://admin:s3cret-pw@");
    let cfg = config(
        broker.port,
        &format!(
            "[[camera]]\nname = \"cam0\"\nsource = \"{}\"\nfps = 5\n\
             [[camera]]\nname = \"cam1\"\nsource = \"{cam1_url}\"\nfps = 3\nwidth = 320\n",
            open.url("cam0")
        ),
    );
    let sub = Subscriber::connect(broker.port, &["edgecam/#"]);
    let mut edgecam = Edgecam::run(&cfg);

    // Warm-up, then a measurement window of at least 6 s of stream time.
    sub.wait_for("edgecam/box1/cam0/frame", Duration::from_secs(30), |m| {
        m.len() >= 45
    });
    sub.wait_for("edgecam/box1/cam1/frame", Duration::from_secs(30), |m| {
        m.len() >= 27
    });

    for (camera, fps, size) in [("cam0", 5.0, (640, 360)), ("cam1", 3.0, (320, 180))] {
        let all = frames(&sub, camera);
        let window = &all[5..];
        // Rate on capture timestamps (immune to scheduling jitter here).
        let span_s =
            (window.last().unwrap().prop_i64("ts_ns") - window[0].prop_i64("ts_ns")) as f64 / 1e9;
        let rate = (window.len() - 1) as f64 / span_s;
        assert!(
            (rate - fps).abs() <= fps * 0.1,
            "{camera}: {rate:.2} fps, wanted {fps} ±10 %"
        );
        let step = (15.0 / fps).round() as i64;
        let mut last_index: Option<i64> = None;
        for m in window {
            assert_eq!(m.content_type.as_deref(), Some("image/jpeg"));
            assert_eq!(m.prop("format"), Some("jpeg"));
            assert_eq!(
                (m.prop_i64("width"), m.prop_i64("height")),
                (size.0, size.1)
            );
            let (w, h, luma) = jpeg_luma(&m.payload);
            assert_eq!((w as i64, h as i64), size, "{camera}: JPEG size");
            // Which source frame is it? Consecutive published frames are
            // `step` source frames apart (the clip loops every 150).
            let index = i64::from(read_barcode(&luma, w, h));
            assert!(
                index < CLIP_FRAMES,
                "{camera}: barcode {index} outside the clip"
            );
            if let Some(prev) = last_index {
                assert_eq!(
                    (index - prev).rem_euclid(CLIP_FRAMES),
                    step,
                    "{camera}: frame {prev} then {index}"
                );
            }
            last_index = Some(index);
            assert!(m.received_ns >= m.prop_i64("ts_ns"), "ts_ns in the future");
        }
    }

    // Retained state as a newcomer sees it.
    assert_eq!(
        retained(broker.port, "edgecam/box1/status").as_deref(),
        Some("online")
    );
    let status = json(&retained(broker.port, "edgecam/box1/cam1/status").unwrap());
    assert_eq!(status["state"], "online", "{status}");
    assert_eq!(status["width"], 320);
    assert_eq!(status["fps_target"], 3.0, "{status}");
    assert_eq!(status["decoder"], EXPECTED_DECODER);
    assert_eq!(
        status["source"],
        format!("rtsp://***@127.0.0.1:{}/cam1", authed.port)
    );

    // Stats: per camera counters and latency.
    let stats = sub.wait_for("edgecam/box1/stats", Duration::from_secs(5), |m| {
        !m.is_empty()
    });
    let s = json(&stats.last().unwrap().text());
    let cam0 = &s["cameras"]["cam0"];
    assert!(cam0["frames_published"].as_u64().unwrap() > 0, "{s}");
    assert!(cam0["dropped"]["paced"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(cam0["dropped"]["mqtt_backpressure"], 0, "{s}");
    assert!(cam0["latency_ms_p99"].as_f64().is_some(), "{s}");
    assert!(cam0["pool_slots"].as_u64().unwrap() >= 1, "{s}");

    // The password is nowhere: not in MQTT, not in the log.
    for m in sub.all() {
        if !m.topic.ends_with("/frame") {
            assert!(
                !m.text().contains("s3cret"),
                "password leaked on {}",
                m.topic
            );
        }
    }
    assert!(
        !edgecam.log_text().contains("s3cret"),
        "password leaked into the log"
    );

    // SIGTERM: out within 2 s, retained status replaced by `offline`.
    let took = edgecam.terminate();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    assert_eq!(
        retained(broker.port, "edgecam/box1/status").as_deref(),
        Some("offline")
    );
}

#[test]
fn last_will_marks_a_killed_service_offline() {
    let broker = Mosquitto::start();
    let cfg = config(
        broker.port,
        "[[camera]]\nname = \"syn\"\nsource = \"synthetic:320x180@10\"\nfps = 2\n",
    );
    let sub = Subscriber::connect(broker.port, &["edgecam/box1/status"]);
    let mut edgecam = Edgecam::run(&cfg);
    sub.wait_for("edgecam/box1/status", Duration::from_secs(20), |m| {
        m.iter().any(|m| m.text() == "online")
    });
    edgecam.signal(libc::SIGKILL);
    sub.wait_for("edgecam/box1/status", Duration::from_secs(60), |m| {
        m.last().is_some_and(|m| m.text() == "offline")
    });
    assert_eq!(
        retained(broker.port, "edgecam/box1/status").as_deref(),
        Some("offline")
    );
}

#[test]
fn a_failing_camera_recovers_while_the_other_never_stalls() {
    let broker = Mosquitto::start();
    let clip = clip(640, 360, 15, 10, 30);
    let mut flaky = RtspServer::start(&[("cam0", &clip)], &[]);
    let steady = RtspServer::start(&[("cam1", &clip)], &[]);
    let cfg = config(
        broker.port,
        &format!(
            "[[camera]]\nname = \"flaky\"\nsource = \"{}\"\nfps = 5\n[[camera]]\nname = \"steady\"\nsource = \"{}\"\nfps = 5\n",
            flaky.url("cam0"),
            steady.url("cam1")
        ),
    );
    let sub = Subscriber::connect(broker.port, &["edgecam/#"]);
    let mut edgecam = Edgecam::run(&cfg);
    sub.wait_for("edgecam/box1/flaky/frame", Duration::from_secs(30), |m| {
        m.len() >= 10
    });
    sub.wait_for("edgecam/box1/steady/frame", Duration::from_secs(30), |m| {
        m.len() >= 10
    });

    flaky.kill();
    sub.wait_for("edgecam/box1/flaky/status", Duration::from_secs(20), |m| {
        m.last()
            .is_some_and(|m| json(&m.text())["state"] == "error")
    });
    std::thread::sleep(Duration::from_secs(3));
    let outage_start = std::time::Instant::now();
    flaky.restart();
    let before = sub.on("edgecam/box1/flaky/frame").len();
    // Back within the backoff cap (4 s) plus connection set-up.
    sub.wait_for("edgecam/box1/flaky/frame", Duration::from_secs(20), |m| {
        m.len() >= before + 5
    });
    let recovered_in = outage_start.elapsed();
    assert!(
        recovered_in < Duration::from_secs(15),
        "recovery took {recovered_in:?}"
    );

    // The steady camera's frames kept coming throughout (no gap > 2 s).
    let steady = frames(&sub, "steady");
    let worst_gap = steady
        .windows(2)
        .map(|w| w[1].received - w[0].received)
        .max()
        .unwrap();
    assert!(
        worst_gap < Duration::from_secs(2),
        "steady camera stalled for {worst_gap:?}"
    );
    let status = json(&sub.on("edgecam/box1/flaky/status").last().unwrap().text());
    assert_eq!(status["state"], "online");
    assert!(edgecam.is_running());
}

#[test]
fn broker_restart_reconnects_and_republishes_state() {
    let mut broker = Mosquitto::start();
    let port = broker.port;
    let cfg = config(
        port,
        "[[camera]]\nname = \"syn\"\nsource = \"synthetic:320x180@15\"\nfps = 5\n",
    );
    let mut edgecam = Edgecam::run(&cfg);
    {
        let sub = Subscriber::connect(port, &["edgecam/#"]);
        sub.wait_for("edgecam/box1/syn/frame", Duration::from_secs(30), |m| {
            m.len() >= 5
        });
    }
    let rss_before = edgecam.rss_kib();
    broker.kill();
    std::thread::sleep(Duration::from_secs(4));
    // A fresh broker has no retained state: what we see was republished.
    let broker = Mosquitto::start_on(port);
    let sub = Subscriber::connect(port, &["edgecam/#"]);
    sub.wait_for("edgecam/box1/syn/frame", Duration::from_secs(40), |m| {
        m.len() >= 5
    });
    assert_eq!(
        retained(broker.port, "edgecam/box1/status").as_deref(),
        Some("online")
    );
    let status = json(&retained(broker.port, "edgecam/box1/syn/status").unwrap());
    assert_eq!(status["state"], "online");
    let rss_after = edgecam.rss_kib();
    assert!(
        rss_after < rss_before + 20 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB during the outage"
    );
    let stats = sub.wait_for("edgecam/box1/stats", Duration::from_secs(5), |m| {
        !m.is_empty()
    });
    let s = json(&stats.last().unwrap().text());
    assert!(
        s["cameras"]["syn"]["dropped"]["mqtt_backpressure"]
            .as_u64()
            .unwrap()
            > 0,
        "outage frames must be counted: {s}"
    );
    assert!(edgecam.is_running());
}

#[test]
fn corrupt_bitstream_is_counted_and_survived() {
    let broker = Mosquitto::start();
    let clip = clip(640, 360, 15, 10, 30);
    let server = RtspServer::start(&[("cam0", &clip)], &["--corrupt-every", "7"]);
    let cfg = config(
        broker.port,
        &format!(
            "[[camera]]\nname = \"bad\"\nsource = \"{}\"\nfps = 5\n",
            server.url("cam0")
        ),
    );
    let sub = Subscriber::connect(broker.port, &["edgecam/#"]);
    let mut edgecam = Edgecam::run(&cfg);
    let stats = sub.wait_for("edgecam/box1/stats", Duration::from_secs(40), |m| {
        m.last().is_some_and(|m| {
            let s = json(&m.text());
            s["cameras"]["bad"]["dropped"]["decode_error"]
                .as_u64()
                .unwrap_or(0)
                > 0
                && s["cameras"]["bad"]["frames_published"]
                    .as_u64()
                    .unwrap_or(0)
                    > 0
        })
    });
    assert!(!stats.is_empty());
    assert!(
        edgecam.is_running(),
        "a corrupt stream must not kill the process"
    );
}
