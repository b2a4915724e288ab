//! A stream with non-reference B frames, end to end (real RTSP server,
//! mosquitto, the edgecam binary): the asked rate arrives, every picture is a
//! real source frame, nothing fails to decode, and the B frames are skipped
//! before decoding (edgecam's own counters). Before the openh264 wrapper
//! stopped flushing reordering streams after every unit, this clip came out
//! at 2 fps instead of 5 with most units failing to decode.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use edgecam::source::synthetic::read_barcode;

const CLIP_FRAMES: i64 = 150; // 10 s at 15 fps

/// 640x360 15 fps GOP 30, `I P B B P B B ...`, every B frame non-reference.
fn nonref_clip() -> PathBuf {
    let dir = repo().join("target/fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("clip-640x360-15fps-10s-gop30-nonref.h264");
    let status = Command::new("bash")
        .arg(repo().join("tests/fixtures/make_clip.sh"))
        .arg(&out)
        .args(["640", "360", "15", "10", "30", "1M"])
        .env("NONREF", "1")
        .stdout(Stdio::null())
        .status()
        .expect("run make_clip.sh");
    assert!(status.success(), "make_clip.sh failed");
    out
}

#[test]
fn b_frame_stream_is_paced_without_decoding_the_b_frames() {
    let broker = Mosquitto::start();
    let clip = nonref_clip();
    let server = RtspServer::start(&[("cam0", &clip)], &[]);
    let cfg = format!(
        "[device]\nid = \"box1\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\nstats_interval_s = 1\n\
         [pressure]\nenabled = false\n\
         [[camera]]\nname = \"cam0\"\nsource = \"{}\"\nfps = 5\n",
        broker.port,
        server.url("cam0")
    );
    let sub = Subscriber::connect(broker.port, &["edgecam/#"]);
    let mut edgecam = Edgecam::run(&cfg);

    let mut frames = sub.wait_for("edgecam/box1/cam0/frame", Duration::from_secs(30), |m| {
        m.len() >= 35
    });
    frames.sort_by_key(|m| m.prop_i64("seq"));
    let window = &frames[5..];
    let span_s =
        (window.last().unwrap().prop_i64("ts_ns") - window[0].prop_i64("ts_ns")) as f64 / 1e9;
    let rate = (window.len() - 1) as f64 / span_s;
    assert!((rate - 5.0).abs() <= 0.5, "{rate:.2} fps, wanted 5 ±10 %");
    let mut last: Option<i64> = None;
    for m in window {
        let (w, h, luma) = jpeg_luma(&m.payload);
        assert_eq!((w, h), (640, 360));
        let index = i64::from(read_barcode(&luma, w, h));
        assert!(index < CLIP_FRAMES, "barcode {index} outside the clip");
        if let Some(prev) = last {
            // Display order, evenly paced: every third source frame.
            assert_eq!(
                (index - prev).rem_euclid(CLIP_FRAMES),
                3,
                "frame {prev} then {index}"
            );
        }
        last = Some(index);
    }

    let stats = sub.wait_for("edgecam/box1/stats", Duration::from_secs(5), |m| {
        m.len() >= 2
    });
    let s = json(&stats.last().unwrap().text());
    let cam = &s["cameras"]["cam0"];
    let frames_in = cam["frames_in"].as_u64().unwrap();
    let decoded = cam["frames_decoded"].as_u64().unwrap();
    assert_eq!(cam["dropped"]["decode_error"], 0, "{s}");
    // 1 in 3 units is a reference frame (I or P); B frames are skipped
    // before decode (a little slack for the start at the first keyframe).
    assert!(
        frames_in > 60 && (decoded as f64) < frames_in as f64 * 0.4,
        "decoded {decoded} of {frames_in} units: {s}"
    );
    assert!(
        edgecam
            .log_text()
            .contains("pic_order_cnt_type 0: pictures may be reordered"),
        "{}",
        edgecam.log_text()
    );
    edgecam.terminate();
}
