//! Where compressed video comes from.
//!
//! A source runs as a task on the async runtime, turns its input into H.264
//! access units (Annex B), asks the camera's pacer whether each one is worth
//! decoding, and copies the ones that are into the camera's ingest ring. It
//! owns reconnecting: backoff with jitter, a stall watchdog, and reporting the
//! camera's state. One source failing never touches another camera.

pub mod backoff;
pub mod redact;
pub mod rtsp;
pub mod synthetic;
pub mod v4l2;

use std::fmt;

pub use redact::redact_url;

/// A parsed `source = "..."` value.
#[derive(Clone, PartialEq)]
pub enum SourceSpec {
    /// An RTSP camera. Credentials are held apart from the URL so that the
    /// URL can be logged and shown as is.
    Rtsp {
        url: url::Url,
        username: Option<String>,
        password: Option<String>,
    },
    /// The built-in test camera: H.264 encoded at start-up, played in real
    /// time. `synthetic:` or `synthetic:640x360@15`.
    Synthetic(synthetic::SyntheticSpec),
    /// A V4L2 capture device (USB camera): `v4l2:/dev/video0` or
    /// `usb:<stable-id>`, optionally `?format=yuyv&size=640x480`.
    V4l2(v4l2::V4l2Spec),
}

impl SourceSpec {
    pub fn parse(text: &str) -> Result<SourceSpec, String> {
        let scheme = text
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match scheme.as_str() {
            "rtsp" | "rtsps" => {
                let mut url = url::Url::parse(text)
                    .map_err(|e| format!("not a valid RTSP URL ({e}): {}", redact_url(text)))?;
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(format!("the RTSP URL has no host: {}", redact_url(text)));
                }
                let username = (!url.username().is_empty()).then(|| percent_decode(url.username()));
                let password = url.password().map(percent_decode);
                let _ = url.set_username("");
                let _ = url.set_password(None);
                Ok(SourceSpec::Rtsp {
                    url,
                    username,
                    password,
                })
            }
            "synthetic" => Ok(SourceSpec::Synthetic(synthetic::SyntheticSpec::parse(
                text.trim_start_matches("synthetic").trim_start_matches(':'),
            )?)),
            "v4l2" | "usb" => Ok(SourceSpec::V4l2(v4l2::V4l2Spec::parse(
                &text[scheme.len() + 1..],
                scheme == "usb",
            )?)),
            _ => Err(format!(
                "unknown source {:?}: expected rtsp://host/path, v4l2:/dev/videoN, usb:<camera id> or synthetic:",
                redact_url(text)
            )),
        }
    }

    /// The source as it may appear in logs, status and stats: never with a
    /// password.
    pub fn display(&self) -> String {
        match self {
            SourceSpec::Rtsp {
                url,
                username,
                password,
            } => {
                let mut shown = url.clone();
                if username.is_some() || password.is_some() {
                    let _ = shown.set_username("***");
                }
                shown.to_string()
            }
            SourceSpec::Synthetic(spec) => spec.to_string(),
            SourceSpec::V4l2(spec) => spec.to_string(),
        }
    }
}

impl fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtsp_credentials_are_split_off_and_never_displayed() {
        let spec = SourceSpec::parse("rtsp://admin:s3cr%40t@10.0.0.5:554/stream1").unwrap();
        let SourceSpec::Rtsp {
            url,
            username,
            password,
        } = &spec
        else {
            panic!()
        };
        assert_eq!(url.as_str(), "rtsp://10.0.0.5:554/stream1");
        assert_eq!(username.as_deref(), Some("admin"));
        assert_eq!(password.as_deref(), Some("s3cr@t"));
        let shown = spec.display();
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(!format!("{spec:?}").contains("s3cr"));
        assert_eq!(shown, "rtsp://***@10.0.0.5:554/stream1");
    }

    #[test]
    fn errors_do_not_echo_passwords() {
        let err = SourceSpec::parse("rtsp://u:hunter2@").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let err = SourceSpec::parse("http://u:hunter2@x/").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn synthetic_defaults_and_parameters() {
        assert!(matches!(
            SourceSpec::parse("synthetic:"),
            Ok(SourceSpec::Synthetic(_))
        ));
        let SourceSpec::Synthetic(s) = SourceSpec::parse("synthetic:320x240@10").unwrap() else {
            panic!()
        };
        assert_eq!((s.width, s.height, s.fps), (320, 240, 10));
        assert!(SourceSpec::parse("synthetic:abc").is_err());
    }
}
