//! Adaptation end to end: a fake thermal zone heats up and cools down, and
//! the published frames follow, with every change published with its reason.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

fn set_temp(zone: &Path, celsius: f64) {
    std::fs::write(
        zone.join("temp"),
        format!("{}\n", (celsius * 1000.0) as i64),
    )
    .unwrap();
}

fn status(sub: &Subscriber, camera: &str) -> Option<serde_json::Value> {
    sub.on(&format!("edgecam/box1/{camera}/status"))
        .last()
        .map(|m| json(&m.text()))
}

#[test]
fn thermal_pressure_lowers_fps_then_width_and_recovers() {
    let root = tempfile::tempdir().unwrap();
    let zone = root.path().join("sys/class/thermal/thermal_zone0");
    std::fs::create_dir_all(&zone).unwrap();
    std::fs::write(zone.join("type"), "cpu-thermal\n").unwrap();
    set_temp(&zone, 45.0);
    let broker = Mosquitto::start();
    let cfg = format!(
        "[device]\nid = \"box1\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\nstats_interval_s = 1\n\
         [pressure]\ninterval_s = 0.2\nproc_root = \"{root}/proc\"\nsysfs_root = \"{root}/sys\"\n\
         thermal_zones = [\"cpu-thermal\"]\nthermal_enter_c = 80\nthermal_leave_c = 72\n\
         enter_hold_s = 0.6\nleave_hold_s = 1.0\nfps_ladder = [2.0, 1.0]\nwidth_ladder = [160]\n\
         [[camera]]\nname = \"syn\"\nsource = \"synthetic:320x180@15\"\nfps = 5\n\
         [[camera]]\nname = \"vip\"\nsource = \"synthetic:320x180@15\"\nfps = 5\npriority = 10\n",
        broker.port,
        root = root.path().display()
    );
    let sub = Subscriber::connect(broker.port, &["edgecam/#"]);
    let mut edgecam = Edgecam::run(&cfg);
    sub.wait_for("edgecam/box1/syn/frame", Duration::from_secs(30), |m| {
        m.len() >= 5
    });
    assert_eq!(status(&sub, "syn").unwrap()["level"], 0);

    set_temp(&zone, 85.0);
    // Level 1: fps capped to 2, with the reason.
    sub.wait_for("edgecam/box1/syn/status", Duration::from_secs(20), |m| {
        m.last().is_some_and(|m| json(&m.text())["level"] == 1)
    });
    let s = status(&sub, "syn").unwrap();
    assert_eq!(s["fps_target"], 2.0, "{s}");
    assert_eq!(s["reason"], "thermal cpu-thermal 85.0 C >= 80 C", "{s}");
    // Level 3: fps 1 and width 160.
    sub.wait_for("edgecam/box1/syn/status", Duration::from_secs(20), |m| {
        m.last().is_some_and(|m| json(&m.text())["level"] == 3)
    });
    let s = status(&sub, "syn").unwrap();
    assert_eq!(s["fps_target"], 1.0, "{s}");
    let state = json(&retained(broker.port, "edgecam/box1/syn/state").unwrap());
    assert_eq!(
        (state["width"].as_u64(), state["requested_fps"].as_f64()),
        (Some(160), Some(5.0)),
        "{state}"
    );
    let have = sub.on("edgecam/box1/syn/frame").len();
    let frames = sub.wait_for("edgecam/box1/syn/frame", Duration::from_secs(20), |m| {
        m.len() >= have + 3
    });
    assert_eq!(frames.last().unwrap().prop_i64("width"), 160);
    // The important camera has not been touched.
    let vip = status(&sub, "vip").unwrap();
    assert_eq!(
        (vip["level"].as_u64(), vip["fps_target"].as_f64()),
        (Some(0), Some(5.0)),
        "{vip}"
    );
    // Stats carry the global state.
    let stats = sub.wait_for("edgecam/box1/stats", Duration::from_secs(5), |m| {
        m.last()
            .is_some_and(|m| json(&m.text())["pressure"]["level"].as_u64() >= Some(3))
    });
    let p = &json(&stats.last().unwrap().text())["pressure"];
    assert_eq!(p["thermal_c"]["cpu-thermal"], 85.0, "{p}");

    // Cool down: step by step back to what was asked.
    set_temp(&zone, 50.0);
    sub.wait_for("edgecam/box1/syn/status", Duration::from_secs(30), |m| {
        m.last().is_some_and(|m| json(&m.text())["level"] == 0)
    });
    let s = status(&sub, "syn").unwrap();
    assert_eq!(s["fps_target"], 5.0, "{s}");
    let levels: Vec<u64> = sub
        .on("edgecam/box1/syn/status")
        .iter()
        .filter_map(|m| json(&m.text())["level"].as_u64())
        .collect();
    let mut steps: Vec<u64> = levels.clone();
    steps.dedup();
    assert_eq!(
        steps,
        vec![0, 1, 2, 3, 2, 1, 0],
        "one step at a time, no oscillation: {levels:?}"
    );
    let have = sub.on("edgecam/box1/syn/frame").len();
    let frames = sub.wait_for("edgecam/box1/syn/frame", Duration::from_secs(20), |m| {
        m.len() >= have + 3
    });
    assert_eq!(frames.last().unwrap().prop_i64("width"), 320);
    assert!(edgecam.is_running());
}
