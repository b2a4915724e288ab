//! Keeping credentials out of everything a user or a log collector sees.

/// Replaces the `user:password@` part of any URL in `text` with `***@`.
///
/// Works on free text (error messages from libraries may embed a URL), not
/// only on a bare URL.
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        // The authority ends at the first '/', whitespace or quote.
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'' || c == '>')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_every_url_in_text() {
        assert_eq!(
            redact_url("connect rtsp://admin:pw@cam/a failed; retry rtsp://u:p@x:554/b"),
            "connect rtsp://***@cam/a failed; retry rtsp://***@x:554/b"
        );
        assert_eq!(redact_url("rtsp://cam/a"), "rtsp://cam/a");
        assert_eq!(redact_url("rtsp://user:p@ss@cam"), "rtsp://***@cam");
        assert_eq!(redact_url("no url here"), "no url here");
    }
}
