//! The command line as a user meets it: bad configs are refused with the key
//! and line named, `probe` tells what it found.

use std::process::Command;

fn edgecam(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edgecam"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn write(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

const GOOD: &str = "[device]\nid = \"box1\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[[camera]]\nname = \"cam0\"\nsource = \"rtsp://u:topsecret@127.0.0.1:8554/cam0\"\nfps = 5\n";

#[test]
fn check_config_accepts_the_minimal_config_and_the_example() {
    let f = write(GOOD);
    let (code, out, _) = edgecam(&["check-config", f.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("OK (1 camera)"), "{out}");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/edgecam.example.toml");
    assert_eq!(edgecam(&["check-config", example]).0, 0);
}

#[test]
fn bad_configs_exit_non_zero_naming_key_and_line() {
    let cases = [
        (
            GOOD.replace("fps = 5", "fps = 0"),
            "line 8: camera[0].fps: fps must be between 0.1 and 60",
        ),
        (GOOD.replace("fps = 5", "fsp = 5"), "line 8: camera[0]"),
        (
            GOOD.replace("mqtt://127.0.0.1:1883", "mqtt//oops"),
            "line 4: mqtt.url",
        ),
        (
            GOOD.replace("name = \"cam0\"", "name = \"cam 0\""),
            "line 6: camera[0].name",
        ),
        (
            GOOD.replace("[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n", ""),
            "mqtt",
        ),
        (
            GOOD.replace("fps = 5", "fps = 5\nformat = \"png\""),
            "line 9: camera[0].format",
        ),
        ("[device\nid=1".to_string(), "line 1"),
    ];
    for (text, expected) in cases {
        let f = write(&text);
        for command in [
            ["check-config", f.path().to_str().unwrap()],
            ["run", "--config"],
        ] {
            let mut args = command.to_vec();
            if command[0] == "run" {
                args.push(f.path().to_str().unwrap());
            }
            let (code, _, err) = edgecam(&args);
            assert_eq!(code, 78, "{args:?} on {text:?}: {err} (EX_CONFIG)");
            assert!(
                err.contains(expected),
                "{args:?}: expected {expected:?} in: {err}"
            );
            assert!(!err.contains("topsecret"), "password echoed: {err}");
        }
    }
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let (code, _, err) = edgecam(&["run", "--config", "/nonexistent/edgecam.toml"]);
    assert_eq!(code, 78);
    assert!(
        err.contains("cannot read config /nonexistent/edgecam.toml"),
        "{err}"
    );
}

#[test]
fn probe_reports_software_decode_in_json() {
    let (code, out, _) = edgecam(&["probe", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["backends"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["backend"] == "software" && b["available"] == true)
    );
    assert!(v["auto_choice"].is_string());
}
