//! `edgecam demo` end to end (against mosquitto here; `make demo` builds the
//! embedded broker in and is exercised by hand and in the aarch64 check).

mod common;

use std::process::Command;

use common::*;

#[test]
fn demo_streams_synthetic_cameras_and_writes_jpegs() {
    let broker = Mosquitto::start();
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_edgecam"))
        .args([
            "demo",
            "--cameras",
            "2",
            "--seconds",
            "4",
            "--source",
            "320x180@15",
        ])
        .arg("--broker")
        .arg(format!("mqtt://127.0.0.1:{}", broker.port))
        .arg("--out")
        .arg(out.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("first frame received after"), "{stdout}");
    for cam in ["cam0", "cam1"] {
        let line = stdout.lines().rev().find(|l| l.starts_with(cam)).unwrap();
        assert!(
            line.contains("online") && line.ends_with("320x180"),
            "{line}"
        );
    }
    let jpegs: Vec<_> = std::fs::read_dir(out.path()).unwrap().flatten().collect();
    assert_eq!(jpegs.len(), 6, "three JPEGs per camera");
    let (w, h, _) = jpeg_luma(&std::fs::read(jpegs[0].path()).unwrap());
    assert_eq!((w, h), (320, 180));
}
