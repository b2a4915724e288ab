//! Board profiles (`boards/*.toml`): per board family, the decoder to use,
//! the thermal zones and temperatures that matter, and the adaptation
//! ladder. `board = "auto"` picks one from the device tree or DMI; the
//! schema and the detection rules are in boards/README.md.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::DecoderChoice;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardProfile {
    pub board: BoardInfo,
    pub decoder: DecoderSection,
    pub pool: PoolSection,
    pub thermal: ThermalSection,
    pub ladder: LadderSection,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardInfo {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub compatible: Vec<String>,
    /// `FIELD=GLOB` entries over /sys/class/dmi/id, all must match; empty
    /// matches any machine with DMI (the generic fallback).
    pub dmi: Option<Vec<String>>,
    pub hardware_decode: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderSection {
    pub backend: DecoderChoice,
    pub device: Option<String>,
    pub gst_element: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSection {
    pub frames_per_camera: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThermalSection {
    pub zones: Vec<String>,
    pub enter_c: f64,
    pub leave_c: f64,
    pub critical_c: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LadderSection {
    pub fps: Vec<f64>,
    pub widths: Vec<u32>,
}

/// Where profiles are looked for, first existing wins.
pub fn default_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/usr/share/edgecam/boards")];
    if let Ok(exe) = std::env::current_exe()
        && let Some(prefix) = exe.parent().and_then(Path::parent)
    {
        dirs.push(prefix.join("share/edgecam/boards"));
    }
    dirs.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/boards"
    )));
    dirs
}

/// Loads every `*.toml` profile in `dir`, checking that each is named after
/// its file.
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<BoardProfile>> {
    let mut profiles = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path)?;
        let profile: BoardProfile =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        anyhow::ensure!(
            profile.board.name == stem,
            "{}: board.name {:?} must equal the file name",
            path.display(),
            profile.board.name
        );
        let t = &profile.thermal;
        anyhow::ensure!(
            t.leave_c < t.enter_c && t.enter_c < t.critical_c,
            "{}: thermal needs leave_c < enter_c < critical_c",
            path.display()
        );
        profiles.push(profile);
    }
    Ok(profiles)
}

/// Picks the profile for this machine: device-tree compatible strings in
/// order (most specific first), else DMI.
pub fn detect<'a>(
    profiles: &'a [BoardProfile],
    dt_compatible: &Path,
    dmi_dir: &Path,
) -> Option<&'a BoardProfile> {
    if let Ok(raw) = std::fs::read(dt_compatible) {
        let entries = raw
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(String::from_utf8_lossy);
        for entry in entries {
            if let Some(p) = profiles
                .iter()
                .find(|p| p.board.compatible.iter().any(|c| *c == entry))
            {
                return Some(p);
            }
        }
        return None;
    }
    if !dmi_dir.exists() {
        return None;
    }
    let field = |name: &str| {
        std::fs::read_to_string(dmi_dir.join(name))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let specific = profiles.iter().find(|p| {
        p.board.dmi.as_ref().is_some_and(|rules| {
            !rules.is_empty()
                && rules.iter().all(|rule| {
                    rule.split_once('=')
                        .is_some_and(|(k, pattern)| glob_match(pattern, &field(k)))
                })
        })
    });
    specific.or_else(|| {
        profiles
            .iter()
            .find(|p| p.board.dmi.as_ref().is_some_and(Vec::is_empty))
    })
}

/// `*` matches any run of characters; everything else literally.
fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| glob_match(rest, &text[head.len() + i..]))
        }
    }
}

/// Resolves `[device] board`: `"auto"`, a profile name, or none.
pub fn resolve(board: &str, dir: Option<&Path>) -> anyhow::Result<Option<BoardProfile>> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => default_dirs()
            .into_iter()
            .find(|d| d.is_dir())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no board profile directory found (looked in /usr/share/edgecam/boards)"
                )
            })?,
    };
    let profiles = load_dir(&dir)?;
    if board == "auto" {
        let found = detect(
            &profiles,
            Path::new("/proc/device-tree/compatible"),
            Path::new("/sys/class/dmi/id"),
        );
        if found.is_none() {
            tracing::info!("no board profile matches this machine; using built-in defaults");
        }
        return Ok(found.cloned());
    }
    profiles
        .into_iter()
        .find(|p| p.board.name == board)
        .map(Some)
        .ok_or_else(|| anyhow::anyhow!("no profile named {board:?} in {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_profiles() -> Vec<BoardProfile> {
        load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("boards")).unwrap()
    }

    #[test]
    fn every_shipped_profile_loads() {
        let profiles = repo_profiles();
        let names: Vec<_> = profiles.iter().map(|p| p.board.name.as_str()).collect();
        for wanted in ["jetson-orin-nano", "rk3588", "rpi4", "rpi5", "x86-generic"] {
            assert!(names.contains(&wanted), "missing {wanted}: {names:?}");
        }
        for p in &profiles {
            assert!(!p.board.hardware_decode.is_empty());
            assert!(
                !p.ladder.fps.is_empty() && p.ladder.fps.windows(2).all(|w| w[1] < w[0]),
                "{}",
                p.board.name
            );
            assert!((1..=64).contains(&p.pool.frames_per_camera));
        }
        let rpi5 = profiles.iter().find(|p| p.board.name == "rpi5").unwrap();
        assert_eq!(
            rpi5.decoder.backend,
            DecoderChoice::Software,
            "the Pi 5 has no H.264 decoder"
        );
    }

    #[test]
    fn detection_by_device_tree_and_dmi() {
        let profiles = repo_profiles();
        let dir = tempfile::tempdir().unwrap();
        let dt = dir.path().join("compatible");
        let none = dir.path().join("no-dmi");
        std::fs::write(&dt, b"raspberrypi,4-model-b\0brcm,bcm2711\0").unwrap();
        assert_eq!(detect(&profiles, &dt, &none).unwrap().board.name, "rpi4");
        std::fs::write(&dt, b"raspberrypi,5-model-b\0brcm,bcm2712\0").unwrap();
        assert_eq!(detect(&profiles, &dt, &none).unwrap().board.name, "rpi5");
        std::fs::write(&dt, b"acme,unknown\0").unwrap();
        assert!(detect(&profiles, &dt, &none).is_none());
        // No device tree, DMI present: the generic x86 profile.
        let dmi = dir.path().join("dmi");
        std::fs::create_dir(&dmi).unwrap();
        std::fs::write(dmi.join("sys_vendor"), "QEMU\n").unwrap();
        let missing_dt = dir.path().join("nope");
        assert_eq!(
            detect(&profiles, &missing_dt, &dmi).unwrap().board.name,
            "x86-generic"
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match("NUC*", "NUC11TNHi5"));
        assert!(glob_match("*Intel*", "Genuine Intel Corp"));
        assert!(!glob_match("NUC*", "Mini PC"));
        assert!(glob_match("exact", "exact"));
    }
}
