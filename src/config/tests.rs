use super::*;

const MINIMAL: &str = r#"[device]
id = "box1"
[mqtt]
url = "mqtt://127.0.0.1:1883"     # mqtts:// for TLS; username/password or password_file
[[camera]]
name = "cam0"
source = "rtsp://user:pass@127.0.0.1:8554/cam0"
fps = 5                            # frames per second delivered to the detector
"#;

#[test]
fn the_minimal_config_from_the_readme_works_as_written() {
    let c = Config::parse(MINIMAL).unwrap();
    assert_eq!(c.device.id, "box1");
    assert_eq!(c.mqtt.topic_prefix, "edgecam");
    let cams = c.camera_settings();
    assert_eq!(cams.len(), 1);
    assert_eq!(cams[0].fps, 5.0);
    assert_eq!(cams[0].format, OutputFormat::Jpeg);
    assert_eq!(cams[0].quality, 80);
    assert_eq!(cams[0].source.display(), "rtsp://***@127.0.0.1:8554/cam0");
}

fn err(text: &str) -> ConfigError {
    Config::parse(text).expect_err("config must be rejected")
}

#[test]
fn out_of_range_value_names_key_and_line() {
    let e = err(&MINIMAL.replace("fps = 5 ", "fps = 500 "));
    assert_eq!(e.key, "camera[0].fps");
    assert_eq!(e.line, Some(8));
    assert!(e.message.contains("between 0.1 and 60"), "{e}");
    assert!(e.to_string().starts_with("line 8: camera[0].fps:"), "{e}");
}

#[test]
fn unknown_key_is_named() {
    let e = err(&MINIMAL.replace("fps = 5 ", "fsp = 5 "));
    assert!(e.message.contains("unknown field `fsp`"), "{e}");
    assert_eq!(e.line, Some(8));
    assert!(e.key.starts_with("camera[0]"), "{e}");
}

#[test]
fn wrong_type_is_named() {
    let e = err(&MINIMAL.replace("fps = 5 ", "fps = \"fast\" "));
    assert_eq!(e.key, "camera[0].fps", "{e}");
    assert_eq!(e.line, Some(8));
}

#[test]
fn missing_section_is_named() {
    let e = err("[device]\nid = \"x\"\n");
    assert!(e.message.contains("mqtt"), "{e}");
}

#[test]
fn second_camera_errors_point_at_the_second_camera() {
    let text =
        format!("{MINIMAL}[[camera]]\nname = \"cam1\"\nsource = \"rtsp://h/x\"\nwidth = 641\n");
    let e = err(&text);
    assert_eq!(e.key, "camera[1].width");
    assert_eq!(e.line, Some(12));
}

#[test]
fn duplicate_names_and_bad_sources_are_rejected_without_leaking_passwords() {
    let dup = format!("{MINIMAL}[[camera]]\nname = \"cam0\"\nsource = \"rtsp://h/x\"\n");
    assert_eq!(err(&dup).key, "camera[1].name");
    let bad = MINIMAL.replace(
        "rtsp://user:pass@127.0.0.1:8554/cam0",
        "ftp://user:pass@host/x",
    );
    let e = err(&bad);
    assert_eq!(e.key, "camera[0].source");
    assert!(!e.to_string().contains("pass@"), "{e}");
}

#[test]
fn mqtt_url_and_device_id_are_checked() {
    assert_eq!(
        err(&MINIMAL.replace("mqtt://127.0.0.1:1883", "http://x")).key,
        "mqtt.url"
    );
    assert_eq!(
        err(&MINIMAL.replace("id = \"box1\"", "id = \"box/1\"")).key,
        "device.id"
    );
}

#[test]
fn defaults_apply_and_cameras_override() {
    let text = MINIMAL.replace(
        "[[camera]]",
        "[defaults]\nfps = 2\nwidth = 640\nformat = \"nv12\"\n[[camera]]",
    );
    let c = Config::parse(&text).unwrap();
    let s = &c.camera_settings()[0];
    assert_eq!(
        (s.fps, s.width, s.format),
        (5.0, Some(640), OutputFormat::Nv12)
    );
}

#[test]
fn example_config_in_the_repo_is_valid() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/edgecam.example.toml"))
            .unwrap();
    Config::parse(&text).unwrap();
}

#[test]
fn a_board_profile_fills_only_what_the_file_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edgecam.toml");
    let boards = concat!(env!("CARGO_MANIFEST_DIR"), "/boards");
    let text = MINIMAL.replace(
        "id = \"box1\"",
        &format!("id = \"box1\"\nboard = \"rpi4\"\nboards_dir = \"{boards}\"\n[pressure]\nthermal_enter_c = 77"),
    );
    std::fs::write(&file, &text).unwrap();
    let c = Config::load(&file).unwrap();
    assert_eq!(c.board.as_ref().unwrap().board.name, "rpi4");
    assert_eq!(c.defaults.decoder, DecoderChoice::V4l2m2m);
    assert_eq!(c.pressure.thermal_zones, vec!["cpu-thermal".to_string()]);
    assert_eq!(c.pressure.thermal_leave_c, 70.0);
    assert_eq!(c.pressure.thermal_enter_c, 77.0, "explicit keys win");
    std::fs::write(&file, text.replace("\"rpi4\"", "\"rpi9\"")).unwrap();
    let err = Config::load(&file).unwrap_err().to_string();
    assert!(
        err.contains("line 3: device.board: no profile named \"rpi9\""),
        "{err}"
    );
}
